-- The audit trail of policy changes (issue 14). Listed newest first by (at, id).
CREATE TABLE IF NOT EXISTS audit (
    id   TEXT    PRIMARY KEY,
    at   INTEGER NOT NULL,
    body TEXT    NOT NULL -- the entry as JSON
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at, id);
