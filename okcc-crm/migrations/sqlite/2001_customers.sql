-- okcc-crm: customers and their recycle bin (SQLite).
CREATE TABLE crm_customers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused
    tenant     TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    fields     TEXT    NOT NULL,                   -- CustomerFields as JSON
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL,
    deletion   TEXT,                               -- Deletion as JSON; NULL = live
    deleted_ns INTEGER
);
CREATE INDEX crm_customers_live ON crm_customers (tenant, id) WHERE deletion IS NULL;
CREATE INDEX crm_customers_binned ON crm_customers (tenant, deleted_ns) WHERE deletion IS NOT NULL;

-- Phone-number keys of live customers: unique per tenant, and the index
-- behind search by number.
CREATE TABLE crm_phone_keys (
    tenant      TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES crm_customers (id) ON DELETE CASCADE,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX crm_phone_keys_customer ON crm_phone_keys (customer_id);
