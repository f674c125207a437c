-- okcc-server's directory: tenants, web users (with TOTP state) and which
-- scope owns which SIP extension. Secrets live in the credential store.
-- `scope` is '' for the platform, else the tenant id.
CREATE TABLE okcc_dir_tenants (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL
);

CREATE TABLE okcc_dir_users (
    id                   TEXT PRIMARY KEY NOT NULL,
    scope                TEXT NOT NULL,
    display_name         TEXT NOT NULL,
    disabled             BOOLEAN NOT NULL,
    must_change_password BOOLEAN NOT NULL,
    totp_secret          BYTEA,
    totp_pending         BYTEA,
    totp_last_step       BIGINT,
    recovery_hashes      BYTEA NOT NULL
);
CREATE INDEX okcc_dir_users_scope ON okcc_dir_users (scope, id);

CREATE TABLE okcc_dir_extensions (
    name         TEXT PRIMARY KEY NOT NULL,
    scope        TEXT NOT NULL,
    display_name TEXT NOT NULL
);
CREATE INDEX okcc_dir_extensions_scope ON okcc_dir_extensions (scope, name);
