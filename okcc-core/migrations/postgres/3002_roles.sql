-- okcc-core: roles, role assignments and the tenant-role ceiling (PostgreSQL).
-- scope is "platform" or "tenant:<id>".
CREATE TABLE core_roles (
    scope    TEXT COLLATE "C" NOT NULL,
    id       TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    role     TEXT   NOT NULL,             -- Role as JSON
    PRIMARY KEY (scope, id)
);

CREATE TABLE core_role_assignments (
    scope   TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    role_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (scope, user_id, role_id),
    FOREIGN KEY (scope, role_id) REFERENCES core_roles (scope, id) ON DELETE CASCADE
);
CREATE INDEX core_role_assignments_role ON core_role_assignments (scope, role_id);

CREATE TABLE core_tenant_ceiling (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    permissions TEXT    NOT NULL          -- PermissionSet as JSON
);
