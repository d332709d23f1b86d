-- Browser sessions of the pages (issue 14): the key is a hash of the cookie value.
CREATE TABLE IF NOT EXISTS sessions (
    key        TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    body       TEXT    NOT NULL -- the session as JSON
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
