-- Default list order is (created, rowid). This index is append-only (created never changes), so it
-- costs little on insert and nothing on PATCH, and a deep page (startIndex=99001) skips index
-- entries rather than whole rows.
CREATE INDEX users_created ON users (created);

-- externalId lookups only ever ask for a value: NULLs need no index entries.
DROP INDEX users_external_id;
CREATE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;
