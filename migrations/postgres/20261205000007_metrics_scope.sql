-- A third token scope, `metrics`: it opens `GET /metrics` and nothing else, so Prometheus never
-- holds a credential that can change users.
ALTER TABLE tokens DROP CONSTRAINT tokens_scope_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_scope_check CHECK (scope IN ('scim', 'admin', 'metrics'));
