-- Users: the SCIM document is stored whole (canonical names, no id/meta, never a password);
-- the columns beside it exist for indexes and for operators reading the file.
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,                 -- uuid v4, the SCIM id
    user_name     TEXT NOT NULL COLLATE NOCASE,              -- RFC 7643 §4.1.1: caseExact false
    external_id   TEXT,                                      -- caseExact true
    doc           TEXT NOT NULL,                             -- JSON document
    version       INTEGER NOT NULL DEFAULT 1,                -- meta.version / ETag W/"n"
    created       TEXT NOT NULL,                             -- RFC 3339, UTC, millisecond precision
    last_modified TEXT NOT NULL
);
-- userName is unique case-insensitively (uniqueness: server); the index also serves `userName eq`.
CREATE UNIQUE INDEX users_user_name ON users (user_name);
CREATE INDEX users_external_id ON users (external_id);
CREATE INDEX users_last_modified ON users (last_modified);

-- One row per e-mail value, so `emails.value eq "…"` is an index lookup rather than a scan of JSON.
CREATE TABLE user_emails (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    value   TEXT NOT NULL COLLATE NOCASE
);
CREATE INDEX user_emails_value ON user_emails (value);
CREATE INDEX user_emails_user ON user_emails (user_id);

-- Inbound bearer tokens: only the SHA-256 of the secret is kept.
CREATE TABLE tokens (
    name          TEXT PRIMARY KEY NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,                      -- lower-case hex
    created       TEXT NOT NULL,
    last_used     TEXT,
    revoked_at    TEXT
);
