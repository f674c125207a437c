-- okcc-crm: reveal requests and grants (sqlite). Ids are never reused (the
-- audit log names them). state: pending (decided_* and expires_ns NULL),
-- approved (decided_by NULL when the policy approved it; expires_ns set)
-- or denied. Times are nanoseconds since the Unix epoch.
CREATE TABLE crm_reveals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT    NOT NULL,
    customer     INTEGER NOT NULL,
    requester    TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    requested_ns INTEGER NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
    decided_by   TEXT,
    decided_ns   INTEGER,
    expires_ns   INTEGER,
    version      INTEGER NOT NULL
);
CREATE INDEX crm_reveals_requester ON crm_reveals (tenant, requester, state);
CREATE INDEX crm_reveals_grant ON crm_reveals (tenant, customer, requester);
CREATE INDEX crm_reveals_pending ON crm_reveals (tenant, state, id);
