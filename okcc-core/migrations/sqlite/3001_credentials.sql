-- okcc-core: web-login hashes and SIP digest credentials (SQLite).
CREATE TABLE core_web_logins (
    user_id TEXT NOT NULL PRIMARY KEY,
    phc     TEXT NOT NULL                 -- argon2id PHC string
);

-- One row per (realm, user): the HA1 of each digest algorithm, lower-case hex.
CREATE TABLE core_sip_credentials (
    realm      TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    md5        TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    sha512_256 TEXT NOT NULL,
    PRIMARY KEY (realm, user_name)
);
