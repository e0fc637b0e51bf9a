-- A scope that names a group (`groups.display eq "Workspace users"`) follows the group it first
-- meant: the name is recorded with the group's id when the scope is read or the group appears, and a
-- scope matches a group by its current name or by a name recorded for it, so a rename at the IdP
-- moves no one out of scope (README "Targets", `scope`).
CREATE TABLE scope_groups (
    name     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    group_id TEXT COLLATE "C" NOT NULL
);
-- The scope `serve` last started a target with: a new target, or a changed scope, queues the users
-- it touches at start.
ALTER TABLE target_state ADD COLUMN scope TEXT COLLATE "C";

-- The vendor's words while it refuses the bridge's credentials (the breaker is then open for the
-- target's auth_retry_secs); v_target_status calls that state `credentials_refused`.
ALTER TABLE target_state ADD COLUMN refused TEXT COLLATE "C";
DROP VIEW v_target_status;
CREATE VIEW v_target_status AS
SELECT s.target,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'pending' AND q.target = s.target) AS pending,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'dead' AND q.target = s.target) AS dead,
       (SELECT min(due_at) FROM sync_queue q WHERE q.state = 'pending' AND q.target = s.target) AS oldest_due,
       (SELECT e.at FROM events e WHERE e.target = s.target AND e.error IS NULL AND e.action <> 'planned'
        ORDER BY e.id DESC LIMIT 1) AS last_success,
       CASE
           WHEN s.refused IS NOT NULL AND s.breaker <> 'closed' THEN 'credentials_refused'
           WHEN s.breaker = 'closed' AND s.paused_until > scim_now() THEN 'paused'
           ELSE s.breaker
       END AS state,
       s.open_until,
       CASE WHEN s.paused_until > scim_now() THEN s.paused_until END AS paused_until,
       CASE WHEN s.paused_until > scim_now() THEN s.pause_reason END AS pause_reason,
       s.trips,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'planned' AND q.target = s.target) AS planned,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'held' AND q.target = s.target) AS held,
       CASE WHEN s.breaker <> 'closed' THEN s.refused END AS refused
FROM target_state s;
