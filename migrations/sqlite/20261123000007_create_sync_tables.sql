-- The id-mapping table: what each target last held for each user.
CREATE TABLE links (
    resource_id   TEXT NOT NULL,                             -- users.id
    target        TEXT NOT NULL,                             -- [[target]] name
    state         TEXT NOT NULL CHECK (state IN ('linked', 'creating', 'gone')),
    remote_id     TEXT,                                      -- the vendor's id, when it gives one
    remote_key    TEXT,                                      -- the vendor's path key (e.g. an e-mail)
    pushed_hash   TEXT,                                      -- fingerprint of the attributes last pushed
    pushed_active INTEGER,
    last_error    TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (resource_id, target)
) WITHOUT ROWID;

-- Level-triggered work: "target must come to match resource", one row per (user, target). A change
-- while a row waits bumps `generation` and moves `due_at`; the worker clears the row only if the
-- generation it reconciled is still current.
CREATE TABLE sync_queue (
    resource_id TEXT NOT NULL,
    target      TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    due_at      TEXT NOT NULL,
    generation  INTEGER NOT NULL DEFAULT 1,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until TEXT,                                        -- set while a worker holds the row
    last_error  TEXT,
    enqueued_at TEXT NOT NULL,
    PRIMARY KEY (resource_id, target)
) WITHOUT ROWID;
-- The worker's "what is due" scan reads only pending rows, in due order.
CREATE INDEX sync_queue_due ON sync_queue (due_at) WHERE state = 'pending';

-- A bounded log of vendor calls, for operators ("what happened to bob?").
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    target      TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    http_status INTEGER,
    latency_ms  REAL,
    error       TEXT
);
CREATE INDEX events_resource ON events (resource_id, at);
