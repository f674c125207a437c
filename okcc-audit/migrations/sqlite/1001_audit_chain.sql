-- okcc-audit: the hash-chained operation log (SQLite).
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY,          -- chain position, from 1, no gaps
    id        BLOB    NOT NULL UNIQUE,      -- event id (16 bytes)
    time_ns   INTEGER NOT NULL,             -- unix time in ns (clamped to i64)
    tenant    TEXT,                         -- AuditEvent::tenant, NULL = platform
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL,
    body      BLOB    NOT NULL              -- canonical encoding (okcc_audit::encoding)
);
CREATE INDEX audit_events_time ON audit_events (time_ns);
CREATE INDEX audit_events_tenant ON audit_events (tenant, seq);

CREATE TABLE audit_anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB    NOT NULL
);
INSERT INTO audit_anchor (id, seq, hash) VALUES (1, 0, zeroblob(32));

CREATE TABLE audit_checkpoints (
    seq  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    mac  BLOB NOT NULL
);
