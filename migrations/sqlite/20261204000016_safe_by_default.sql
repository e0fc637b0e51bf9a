-- Safe by default (issue 28): the removal guard, scopes that follow groups, refused credentials.

-- The removal guard (README "Removal guard"): a removal past a target's `max_removals` waits as a
-- `held` row. `guard` remembers that the row was held ('held', so a newer change of a user still
-- leaving is held again without counting) or that an operator let it go ('released'). SQLite cannot
-- change a CHECK constraint, so the table is rebuilt; the views that read it are dropped first and
-- made again (v_target_status gains `held`).
DROP VIEW v_user_sync;
DROP VIEW v_target_status;

CREATE TABLE sync_queue_new (
    resource_id TEXT NOT NULL,
    target      TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead', 'planned', 'held')),
    due_at      TEXT NOT NULL,
    generation  INTEGER NOT NULL DEFAULT 1,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until TEXT,                                        -- set while a worker holds the row
    last_error  TEXT,
    enqueued_at TEXT NOT NULL,
    lease_owner TEXT,
    guard       TEXT CHECK (guard IN ('held', 'released')),
    PRIMARY KEY (resource_id, target)
) WITHOUT ROWID;
INSERT INTO sync_queue_new (resource_id, target, state, due_at, generation, attempts, lease_until, last_error, enqueued_at, lease_owner)
SELECT resource_id, target, state, due_at, generation, attempts, lease_until, last_error, enqueued_at, lease_owner FROM sync_queue;
DROP TABLE sync_queue;
ALTER TABLE sync_queue_new RENAME TO sync_queue;
CREATE INDEX sync_queue_due ON sync_queue (due_at) WHERE state = 'pending';
CREATE INDEX sync_queue_by_state ON sync_queue (state, target, due_at);

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

-- The removals carried out, counted per target over the guard's window (older ones are pruned).
CREATE TABLE removals (
    id          INTEGER PRIMARY KEY,
    target      TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX removals_by_target ON removals (target, at);

-- A scope that names a group (`groups.display eq "Workspace users"`) follows the group it first
-- meant: the name is recorded with the group's id when the scope is read or the group appears, and a
-- scope matches a group by its current name or by a name recorded for it, so a rename at the IdP
-- moves no one out of scope (README "Targets", `scope`).
CREATE TABLE scope_groups (
    name     TEXT NOT NULL PRIMARY KEY,
    group_id TEXT NOT NULL
) WITHOUT ROWID;
-- The scope `serve` last started a target with: a new target, or a changed scope, queues the users
-- it touches at start.
ALTER TABLE target_state ADD COLUMN scope TEXT;

-- The vendor's words while it refuses the bridge's credentials (the breaker is then open for the
-- target's auth_retry_secs); v_target_status calls that state `credentials_refused`.
ALTER TABLE target_state ADD COLUMN refused TEXT;
CREATE VIEW v_target_status AS
SELECT s.target,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'pending' AND q.target = s.target) AS pending,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'dead' AND q.target = s.target) AS dead,
       (SELECT min(due_at) FROM sync_queue q WHERE q.state = 'pending' AND q.target = s.target) AS oldest_due,
       (SELECT e.at FROM events e WHERE e.target = s.target AND e.error IS NULL AND e.action <> 'planned'
        ORDER BY e.id DESC LIMIT 1) AS last_success,
       CASE
           WHEN s.refused IS NOT NULL AND s.breaker <> 'closed' THEN 'credentials_refused'
           WHEN s.breaker = 'closed' AND s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN 'paused'
           ELSE s.breaker
       END AS state,
       s.open_until,
       CASE WHEN s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN s.paused_until END AS paused_until,
       CASE WHEN s.paused_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN s.pause_reason END AS pause_reason,
       s.trips,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'planned' AND q.target = s.target) AS planned,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'held' AND q.target = s.target) AS held,
       CASE WHEN s.breaker <> 'closed' THEN s.refused END AS refused
FROM target_state s;
