-- Observe mode (`mode = "observe"` on a target): a row whose reconcile would write waits in state
-- 'planned', with the planned calls as an event (action 'planned', the diff in its note), until the
-- target is switched to `mode = "write"`. SQLite cannot change a CHECK constraint, so the table is
-- rebuilt; the views that read it are dropped first and made again (v_target_status gains
-- `planned`, v_recent_events gains `note`).
DROP VIEW v_user_sync;
DROP VIEW v_target_status;
DROP VIEW v_recent_events;

CREATE TABLE sync_queue_new (
    resource_id TEXT NOT NULL,
    target      TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead', 'planned')),
    due_at      TEXT NOT NULL,
    generation  INTEGER NOT NULL DEFAULT 1,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until TEXT,                                        -- set while a worker holds the row
    last_error  TEXT,
    enqueued_at TEXT NOT NULL,
    PRIMARY KEY (resource_id, target)
) WITHOUT ROWID;
INSERT INTO sync_queue_new (resource_id, target, state, due_at, generation, attempts, lease_until, last_error, enqueued_at)
SELECT resource_id, target, state, due_at, generation, attempts, lease_until, last_error, enqueued_at FROM sync_queue;
DROP TABLE sync_queue;
ALTER TABLE sync_queue_new RENAME TO sync_queue;
CREATE INDEX sync_queue_due ON sync_queue (due_at) WHERE state = 'pending';

CREATE VIEW v_user_sync AS
SELECT u.id AS user_id, u.user_name, 0 AS deleted, t.target,
       l.state AS link_state, l.remote_id, l.remote_key, l.pushed_active, l.updated_at AS link_updated_at,
       q.state AS queue_state, q.due_at, q.attempts, q.last_error
FROM users u
JOIN (SELECT resource_id, target FROM links UNION SELECT resource_id, target FROM sync_queue) t ON t.resource_id = u.id
LEFT JOIN links l ON l.resource_id = t.resource_id AND l.target = t.target
LEFT JOIN sync_queue q ON q.resource_id = t.resource_id AND q.target = t.target
UNION ALL
SELECT d.id, json_extract(d.doc, '$.userName'), 1, t.target,
       l.state, l.remote_id, l.remote_key, l.pushed_active, l.updated_at,
       q.state, q.due_at, q.attempts, q.last_error
FROM user_tombstones d
JOIN (SELECT resource_id, target FROM links UNION SELECT resource_id, target FROM sync_queue) t ON t.resource_id = d.id
LEFT JOIN links l ON l.resource_id = t.resource_id AND l.target = t.target
LEFT JOIN sync_queue q ON q.resource_id = t.resource_id AND q.target = t.target;

CREATE VIEW v_recent_events AS
SELECT e.at, e.target, e.resource_id AS user_id,
       coalesce(u.user_name, json_extract(d.doc, '$.userName')) AS user_name,
       e.action, e.http_status, e.latency_ms, e.error, e.note
FROM events e
LEFT JOIN users u ON u.id = e.resource_id
LEFT JOIN user_tombstones d ON d.id = e.resource_id
ORDER BY e.id DESC;

CREATE VIEW v_target_status AS
SELECT t.target,
       (SELECT count(*) FROM sync_queue q WHERE q.target = t.target AND q.state = 'pending') AS pending,
       (SELECT count(*) FROM sync_queue q WHERE q.target = t.target AND q.state = 'dead') AS dead,
       (SELECT min(due_at) FROM sync_queue q WHERE q.target = t.target AND q.state = 'pending') AS oldest_due,
       (SELECT max(at) FROM events e WHERE e.target = t.target AND e.error IS NULL AND e.action <> 'planned') AS last_success,
       CASE
           WHEN s.breaker IS NULL THEN 'closed'
           WHEN s.breaker = 'closed' AND s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN 'paused'
           ELSE s.breaker
       END AS state,
       s.open_until,
       CASE WHEN s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN s.paused_until END AS paused_until,
       CASE WHEN s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN s.pause_reason END AS pause_reason,
       coalesce(s.trips, 0) AS trips,
       (SELECT count(*) FROM sync_queue q WHERE q.target = t.target AND q.state = 'planned') AS planned
FROM (SELECT target FROM sync_queue UNION SELECT target FROM links UNION SELECT target FROM target_state) t
LEFT JOIN target_state s ON s.target = t.target;
