-- As on SQLite (migrations/sqlite/20261206000021_requests_writes_index.sql): a user's writes in
-- the request log are found through an index that only grows at its end, by row id with the
-- resource id beside it, rather than one a batch of logged writes touches in as many places as
-- it has users.
DROP INDEX requests_resource;
CREATE INDEX requests_writes ON requests (id, resource_id) WHERE resource_id IS NOT NULL AND method <> 'GET';
