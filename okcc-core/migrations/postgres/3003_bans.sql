-- okcc-core: bans shared by the nodes, and their change log (PostgreSQL).
CREATE TABLE core_bans (
    source   TEXT    NOT NULL PRIMARY KEY,  -- canonical IP address
    kind     TEXT    NOT NULL,              -- BanKind as JSON
    until_ns BIGINT  NOT NULL,              -- wall-clock end, unix ns
    offences BIGINT  NOT NULL
);
CREATE INDEX core_bans_until ON core_bans (until_ns);

-- One row per ban or unban (kind NULL), numbered without gaps by the
-- counter below; the oldest are pruned.
CREATE TABLE core_ban_changes (
    seq      BIGINT  NOT NULL PRIMARY KEY,
    source   TEXT    NOT NULL,
    kind     TEXT,
    until_ns BIGINT,
    offences BIGINT
);

CREATE TABLE core_ban_seq (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT  NOT NULL
);
INSERT INTO core_ban_seq (id, seq) VALUES (1, 0);
