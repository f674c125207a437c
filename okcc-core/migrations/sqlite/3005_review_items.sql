-- okcc-core: content review items (SQLite). The item is JSON (version,
-- content source or preview, hash, submitter, decider, reason); a voice
-- file's bytes are in `voice`. id, owner, state and revision are columns
-- for listing and version-checked saves.
CREATE TABLE core_review_items (
    id       TEXT    NOT NULL PRIMARY KEY,
    owner    TEXT    NOT NULL,            -- 'platform' or 'tenant:<id>'
    state    TEXT    NOT NULL,            -- draft, pending, approved, rejected, revoked
    revision INTEGER NOT NULL,
    item     TEXT    NOT NULL,
    voice    BLOB
);
CREATE INDEX core_review_items_owner ON core_review_items (owner, id);
CREATE INDEX core_review_items_owner_state ON core_review_items (owner, state, id);
