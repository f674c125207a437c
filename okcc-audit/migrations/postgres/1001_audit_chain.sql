-- okcc-audit: the hash-chained operation log (PostgreSQL).
CREATE TABLE audit_events (
    seq       BIGINT PRIMARY KEY,           -- chain position, from 1, no gaps
    id        BYTEA  NOT NULL UNIQUE,       -- event id (16 bytes)
    time_ns   BIGINT NOT NULL,              -- unix time in ns (clamped to i64)
    tenant    TEXT,                         -- AuditEvent::tenant, NULL = platform
    prev_hash BYTEA  NOT NULL,
    hash      BYTEA  NOT NULL,
    body      BYTEA  NOT NULL               -- canonical encoding (okcc_audit::encoding)
);
CREATE INDEX audit_events_time ON audit_events (time_ns);
CREATE INDEX audit_events_tenant ON audit_events (tenant, seq);

CREATE TABLE audit_anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA  NOT NULL
);
INSERT INTO audit_anchor (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE audit_checkpoints (
    seq  BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL,
    mac  BYTEA NOT NULL
);
