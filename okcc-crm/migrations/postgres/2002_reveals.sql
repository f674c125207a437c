-- okcc-crm: reveal requests and grants (postgres). Ids are never reused (the
-- audit log names them). state: pending (decided_* and expires_ns NULL),
-- approved (decided_by NULL when the policy approved it; expires_ns set)
-- or denied. Times are nanoseconds since the Unix epoch.
CREATE TABLE crm_reveals (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant       TEXT    NOT NULL,
    customer     BIGINT NOT NULL,
    requester    TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    requested_ns BIGINT NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
    decided_by   TEXT,
    decided_ns   BIGINT,
    expires_ns   BIGINT,
    version      BIGINT NOT NULL
);
CREATE INDEX crm_reveals_requester ON crm_reveals (tenant, requester, state);
CREATE INDEX crm_reveals_grant ON crm_reveals (tenant, customer, requester);
CREATE INDEX crm_reveals_pending ON crm_reveals (tenant, state, id);
