-- A target's health, kept across restarts: its circuit breaker and a rate-limit reset the vendor
-- announced (sync::health). Written by the worker on every change; read by `sync status`,
-- `v_target_status` and `/metrics`.
CREATE TABLE target_state (
    target       TEXT PRIMARY KEY,                        -- [[target]] name
    breaker      TEXT NOT NULL CHECK (breaker IN ('closed', 'open', 'half_open')),
    failures     INTEGER NOT NULL DEFAULT 0,              -- failed reconciles in a row (closed)
    trips        INTEGER NOT NULL DEFAULT 0,              -- openings in a row (the wait grows with them)
    open_until   TEXT,                                    -- when an open breaker lets one probe through
    paused_until TEXT,                                    -- the vendor's announced reset
    pause_reason TEXT,
    updated_at   TEXT NOT NULL
) WITHOUT ROWID;

-- Every write of a link moves its revision, so that a worker's result does not overwrite a link an
-- operator set while the vendor call was in flight (`scim-bridge link set`).
ALTER TABLE links ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- Per target: the queue, the last success, and the health. `state` is closed, open, half_open or
-- paused (closed, but waiting for the vendor's reset).
DROP VIEW v_target_status;
CREATE VIEW v_target_status AS
SELECT t.target,
       (SELECT count(*) FROM sync_queue q WHERE q.target = t.target AND q.state = 'pending') AS pending,
       (SELECT count(*) FROM sync_queue q WHERE q.target = t.target AND q.state = 'dead') AS dead,
       (SELECT min(due_at) FROM sync_queue q WHERE q.target = t.target AND q.state = 'pending') AS oldest_due,
       (SELECT max(at) FROM events e WHERE e.target = t.target AND e.error IS NULL) AS last_success,
       CASE
           WHEN s.breaker IS NULL THEN 'closed'
           WHEN s.breaker = 'closed' AND s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN 'paused'
           ELSE s.breaker
       END AS state,
       s.open_until,
       CASE WHEN s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN s.paused_until END AS paused_until,
       CASE WHEN s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN s.pause_reason END AS pause_reason,
       coalesce(s.trips, 0) AS trips
FROM (SELECT target FROM sync_queue UNION SELECT target FROM links UNION SELECT target FROM target_state) t
LEFT JOIN target_state s ON s.target = t.target;
