-- The audit trail (docs/audit.md): events say what was done to whom, and every SCIM request is logged.
--
-- Events gain the step's outcome, the vendor's id, the fields changed, the SCIM request that caused
-- the reconcile, and the user's userName and primary e-mail as they were then, so a deleted user's
-- history is still found by name. `action` now names the step (`create`, `update`, `deactivate` …);
-- older rows keep `reconcile` and `guard`.
ALTER TABLE events ADD COLUMN outcome TEXT;
ALTER TABLE events ADD COLUMN remote_id TEXT;
ALTER TABLE events ADD COLUMN changes TEXT;
ALTER TABLE events ADD COLUMN request_id TEXT;
ALTER TABLE events ADD COLUMN user_name TEXT COLLATE NOCASE;
ALTER TABLE events ADD COLUMN email TEXT COLLATE NOCASE;
CREATE INDEX events_user_name ON events (user_name, id) WHERE user_name IS NOT NULL;
CREATE INDEX events_email ON events (email, id) WHERE email IS NOT NULL;
CREATE INDEX events_request ON events (request_id) WHERE request_id IS NOT NULL;

-- The SCIM request that last queued the row: its events name it.
ALTER TABLE sync_queue ADD COLUMN cause TEXT;

-- Every SCIM request: who asked what, and what they were answered. Written off the request path,
-- in batches; pruned with events (`audit.retain_days`).
CREATE TABLE requests (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    traceparent   TEXT,
    token         TEXT,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        INTEGER NOT NULL,
    scim_type     TEXT,
    detail        TEXT,
    latency_ms    REAL NOT NULL,
    resource_type TEXT,
    resource_id   TEXT,
    user_name     TEXT COLLATE NOCASE,
    request_body  TEXT,
    response_body TEXT
);
-- Few indexes, so that logging costs the request path little (bench/ab.sh): request ids are
-- time-ordered (UUIDv7) unless the IdP sent its own; a user's writes are found by id; reads are
-- found by time and token only (docs/audit.md).
CREATE INDEX requests_request_id ON requests (request_id);
CREATE INDEX requests_resource ON requests (resource_id, id) WHERE resource_id IS NOT NULL AND method <> 'GET';
CREATE INDEX requests_failed ON requests (id) WHERE status >= 400;
