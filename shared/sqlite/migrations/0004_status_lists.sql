-- Published status list credentials (issue 12): signed on revocation and issuance, read as
-- stored by the public routes. version is the compare-and-swap counter of PutStatusList.
CREATE TABLE IF NOT EXISTS status_lists (
    number  INTEGER PRIMARY KEY,
    version INTEGER NOT NULL,
    body    TEXT    NOT NULL -- the credbatch.StatusList as JSON
);
