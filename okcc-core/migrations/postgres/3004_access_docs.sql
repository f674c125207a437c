-- okcc-core: access rule sets and blocklist feeds (PostgreSQL). A deleted
-- document stays as a tombstone (text NULL) so changes_since reports it;
-- seq is the number of the document's latest write, from the counter below.
CREATE TABLE core_access_docs (
    kind    TEXT COLLATE "C" NOT NULL,   -- 'rules' or 'feed'
    name    TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    seq     BIGINT NOT NULL UNIQUE,
    bytes   BIGINT NOT NULL,
    text    TEXT,                        -- NULL = deleted
    PRIMARY KEY (kind, name)
);

CREATE TABLE core_access_seq (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT  NOT NULL
);
INSERT INTO core_access_seq (id, seq) VALUES (1, 0);
