-- What the console (README "Operator console") and `sync status` ask per target, answered from
-- indexes: none of their queries may scan a table that grows with the users (1M users, 100k
-- events, 10k dead rows: bench/console.sh).

-- Rows per target and state (counts, the oldest due, the dead rows' list in its order).
CREATE INDEX sync_queue_by_state ON sync_queue (state, target, due_at);
-- A target's newest events (the Events page filtered by target, the last success).
CREATE INDEX events_target ON events (target, id);
-- Where the last hour begins (the calls and failures on a target card).
CREATE INDEX events_at ON events (at);
-- The Events page filtered by an action (`planned`, `unchanged`).
CREATE INDEX events_action ON events (action, id);
-- A deleted user still being fanned out, found by userName (the Users page, `lookup`).
CREATE INDEX user_tombstones_user_name ON user_tombstones (json_extract(doc, '$.userName') COLLATE NOCASE);

-- Every configured target is recorded in `target_state` when the bridge opens the database (a
-- closed breaker until the worker records otherwise), so the view lists targets from there rather
-- than from every link. Targets with rows or links from before this migration are recorded here.
INSERT OR IGNORE INTO target_state (target, breaker, updated_at)
SELECT target, 'closed', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM (SELECT DISTINCT target FROM links UNION SELECT DISTINCT target FROM sync_queue);

DROP VIEW v_target_status;
CREATE VIEW v_target_status AS
SELECT s.target,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'pending' AND q.target = s.target) AS pending,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'dead' AND q.target = s.target) AS dead,
       (SELECT min(due_at) FROM sync_queue q WHERE q.state = 'pending' AND q.target = s.target) AS oldest_due,
       (SELECT e.at FROM events e WHERE e.target = s.target AND e.error IS NULL AND e.action <> 'planned'
        ORDER BY e.id DESC LIMIT 1) AS last_success,
       CASE
           WHEN s.breaker = 'closed' AND s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN 'paused'
           ELSE s.breaker
       END AS state,
       s.open_until,
       CASE WHEN s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN s.paused_until END AS paused_until,
       CASE WHEN s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN s.pause_reason END AS pause_reason,
       s.trips,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'planned' AND q.target = s.target) AS planned
FROM target_state s;
