-- Tokens can be rotated (a new secret under the same name while the old one keeps working through a
-- grace period), can expire, and a revoked name can be used again: the name is no longer the key.
-- One current token a name: the one neither revoked nor replaced.
ALTER TABLE tokens DROP CONSTRAINT tokens_pkey;
ALTER TABLE tokens ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE tokens ADD COLUMN expires_at TEXT COLLATE "C";
ALTER TABLE tokens ADD COLUMN replaced_at TEXT COLLATE "C";
CREATE UNIQUE INDEX tokens_current_name ON tokens (name) WHERE revoked_at IS NULL AND replaced_at IS NULL;
