-- A deleted user's last document, kept while vendors still have to be told (docs/architecture.md: "a SCIM
-- DELETE keeps a tombstone until every target's link is gone"). The SCIM API no longer sees the user.
-- A table of its own rather than a `deleted_at` column: every live query and the unique userName index
-- stay as they are, and a userName is free again the moment its user is deleted.
CREATE TABLE user_tombstones (
    id         TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    deleted_at TEXT NOT NULL
) WITHOUT ROWID;

-- A password the IdP sent, AES-256-GCM sealed (nonce || ciphertext || tag, bound to its row), one row
-- per target that takes passwords. Erased in the transaction that records its delivery.
CREATE TABLE password_handover (
    resource_id TEXT NOT NULL,
    target      TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    created     TEXT NOT NULL,
    PRIMARY KEY (resource_id, target)
) WITHOUT ROWID;

-- For operators at the SQLite prompt: one row per (user, target) with where the sync stands.
-- SELECT * FROM v_user_sync WHERE user_name = 'bob@example.com';
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

-- Per target: pending and dead rows, the oldest due row, the last success.
CREATE VIEW v_target_status AS
SELECT t.target,
       (SELECT count(*) FROM sync_queue q WHERE q.target = t.target AND q.state = 'pending') AS pending,
       (SELECT count(*) FROM sync_queue q WHERE q.target = t.target AND q.state = 'dead') AS dead,
       (SELECT min(due_at) FROM sync_queue q WHERE q.target = t.target AND q.state = 'pending') AS oldest_due,
       (SELECT max(at) FROM events e WHERE e.target = t.target AND e.error IS NULL) AS last_success
FROM (SELECT target FROM sync_queue UNION SELECT target FROM links) t;

-- The newest vendor calls first, with the user's name.
CREATE VIEW v_recent_events AS
SELECT e.at, e.target, e.resource_id AS user_id,
       coalesce(u.user_name, json_extract(d.doc, '$.userName')) AS user_name,
       e.action, e.http_status, e.latency_ms, e.error
FROM events e
LEFT JOIN users u ON u.id = e.resource_id
LEFT JOIN user_tombstones d ON d.id = e.resource_id
ORDER BY e.id DESC;
