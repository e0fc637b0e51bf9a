-- A user's writes in the request log are found through an index that only ever grows at its end
-- (by row id, with the resource id beside it), not one ordered by resource id: a batch of logged
-- writes to many users changed as many of the old index's pages, the log's largest cost
-- (docs/audit.md). A user's history now reads the index of writes from the newest back, some
-- 100 ms a million logged writes.
DROP INDEX requests_resource;
CREATE INDEX requests_writes ON requests (id, resource_id) WHERE resource_id IS NOT NULL AND method <> 'GET';
