-- A third token scope, `metrics`: it opens `GET /metrics` and nothing else, so Prometheus never
-- holds a credential that can change users. SQLite cannot alter a CHECK, so the table is rebuilt
-- (nothing references it; sessions join it by name).
CREATE TABLE tokens_new (
    name          TEXT PRIMARY KEY NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,                      -- lower-case hex
    created       TEXT NOT NULL,
    last_used     TEXT,
    revoked_at    TEXT,
    scope         TEXT NOT NULL DEFAULT 'scim' CHECK (scope IN ('scim', 'admin', 'metrics'))
);
INSERT INTO tokens_new (name, secret_sha256, created, last_used, revoked_at, scope)
    SELECT name, secret_sha256, created, last_used, revoked_at, scope FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
