-- Tokens can be rotated (a new secret under the same name while the old one keeps working through a
-- grace period), can expire, and a revoked name can be used again: the name is no longer the key.
-- One current token a name: the one neither revoked nor replaced. SQLite cannot drop a primary key,
-- so the table is rebuilt (nothing references it; sessions join it by name).
CREATE TABLE tokens_new (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,                      -- lower-case hex
    created       TEXT NOT NULL,
    last_used     TEXT,
    revoked_at    TEXT,
    expires_at    TEXT,                                      -- NULL: never
    replaced_at   TEXT,                                      -- `token rotate` gave the name a new secret
    scope         TEXT NOT NULL DEFAULT 'scim' CHECK (scope IN ('scim', 'admin', 'metrics'))
);
INSERT INTO tokens_new (name, secret_sha256, created, last_used, revoked_at, scope)
    SELECT name, secret_sha256, created, last_used, revoked_at, scope FROM tokens ORDER BY created, name;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE UNIQUE INDEX tokens_current_name ON tokens (name) WHERE revoked_at IS NULL AND replaced_at IS NULL;
