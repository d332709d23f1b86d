-- Initial schema. Times are INTEGER Unix nanoseconds (0 = not set); nested data is JSON text.

CREATE TABLE definitions (
    id         TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    archived   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    body       TEXT    NOT NULL, -- the definition as JSON
    PRIMARY KEY (id, version)
) WITHOUT ROWID;

CREATE TABLE batches (
    id                TEXT    PRIMARY KEY,
    label             TEXT    NOT NULL DEFAULT '',
    label_fold        TEXT    NOT NULL DEFAULT '', -- lower-cased label for prefix search
    status            TEXT    NOT NULL,
    source            TEXT    NOT NULL DEFAULT '{}',
    uploader          TEXT    NOT NULL DEFAULT '',
    format            TEXT    NOT NULL DEFAULT '',
    options           TEXT    NOT NULL DEFAULT '{}',
    columns           TEXT    NOT NULL DEFAULT '[]',
    definitions       TEXT    NOT NULL DEFAULT '{}',
    approval_required INTEGER NOT NULL DEFAULT 0,
    four_eyes         INTEGER NOT NULL DEFAULT 0,
    skip_invalid      INTEGER NOT NULL DEFAULT 0,
    counts            TEXT    NOT NULL DEFAULT '{}',
    findings          TEXT    NOT NULL DEFAULT '[]',
    report_key        TEXT    NOT NULL DEFAULT '',
    task_token        TEXT    NOT NULL DEFAULT '',
    execution_id      TEXT    NOT NULL DEFAULT '',
    approved_by       TEXT    NOT NULL DEFAULT '',
    reason            TEXT    NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX batches_created ON batches (created_at DESC, id DESC);
CREATE INDEX batches_status ON batches (status, created_at DESC, id DESC);

CREATE TABLE rows (
    batch_id TEXT    NOT NULL,
    number   INTEGER NOT NULL,
    status   TEXT    NOT NULL,
    codes    TEXT    NOT NULL DEFAULT ' ', -- ' code1 code2 ' of every finding, for filtering
    body     TEXT    NOT NULL,             -- the row as JSON
    PRIMARY KEY (batch_id, number)
) WITHOUT ROWID;
CREATE INDEX rows_status ON rows (batch_id, status, number);

CREATE TABLE credentials (
    id                 TEXT    PRIMARY KEY,
    batch_id           TEXT    NOT NULL,
    row_number         INTEGER NOT NULL,
    definition_id      TEXT    NOT NULL,
    definition_version INTEGER NOT NULL DEFAULT 0,
    email              TEXT    NOT NULL, -- lower-cased
    name               TEXT    NOT NULL DEFAULT '',
    issue_date         TEXT    NOT NULL DEFAULT '',
    expiry_date        TEXT    NOT NULL DEFAULT '',
    attributes         TEXT    NOT NULL DEFAULT '{}',
    jwt                TEXT    NOT NULL DEFAULT '',
    status_list_index  INTEGER NOT NULL DEFAULT 0,
    status             TEXT    NOT NULL,
    revoked_reason     TEXT    NOT NULL DEFAULT '',
    revoked_at         INTEGER NOT NULL DEFAULT 0,
    email_status       TEXT    NOT NULL,
    message_id         TEXT    NOT NULL DEFAULT '',
    last_error         TEXT    NOT NULL DEFAULT '',
    bounce_type        TEXT    NOT NULL DEFAULT '',
    sent_at            INTEGER NOT NULL DEFAULT 0,
    issued_at          INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX credentials_email ON credentials (email, issued_at DESC, id DESC);
CREATE INDEX credentials_batch ON credentials (batch_id, row_number, id);
CREATE INDEX credentials_message ON credentials (message_id) WHERE message_id <> '';
CREATE INDEX credentials_active ON credentials (definition_id, email, status, issued_at DESC);
CREATE INDEX credentials_revoked ON credentials (id) WHERE status = 'revoked';

CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id          TEXT    PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    body        TEXT    NOT NULL -- the event as JSON
);
CREATE INDEX deliveries_recorded ON deliveries (recorded_at, id);

CREATE TABLE suppressions (
    email      TEXT    PRIMARY KEY, -- lower-cased
    reason     TEXT    NOT NULL DEFAULT '',
    message_id TEXT    NOT NULL DEFAULT '',
    at         INTEGER NOT NULL
);

CREATE TABLE marks (
    name TEXT    PRIMARY KEY,
    at   INTEGER NOT NULL
);
