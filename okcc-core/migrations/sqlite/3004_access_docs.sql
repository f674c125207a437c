-- okcc-core: access rule sets and blocklist feeds (SQLite). A deleted
-- document stays as a tombstone (text NULL) so changes_since reports it;
-- seq is the number of the document's latest write, from the counter below.
CREATE TABLE core_access_docs (
    kind    TEXT    NOT NULL,            -- 'rules' or 'feed'
    name    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    seq     INTEGER NOT NULL UNIQUE,
    bytes   INTEGER NOT NULL,
    text    TEXT,                        -- NULL = deleted
    PRIMARY KEY (kind, name)
);

CREATE TABLE core_access_seq (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO core_access_seq (id, seq) VALUES (1, 0);
