-- okcc-core: roles, role assignments and the tenant-role ceiling (SQLite).
-- scope is "platform" or "tenant:<id>".
CREATE TABLE core_roles (
    scope    TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    revision INTEGER NOT NULL,
    role     TEXT    NOT NULL,            -- Role as JSON
    PRIMARY KEY (scope, id)
);

CREATE TABLE core_role_assignments (
    scope   TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role_id TEXT NOT NULL,
    PRIMARY KEY (scope, user_id, role_id),
    FOREIGN KEY (scope, role_id) REFERENCES core_roles (scope, id) ON DELETE CASCADE
);
CREATE INDEX core_role_assignments_role ON core_role_assignments (scope, role_id);

CREATE TABLE core_tenant_ceiling (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    permissions TEXT    NOT NULL          -- PermissionSet as JSON
);
