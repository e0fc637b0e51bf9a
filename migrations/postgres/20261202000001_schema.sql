-- The PostgreSQL schema: the tables, columns, indexes and views of migrations/sqlite/ as they stand
-- after its migration 14, in PostgreSQL's terms. Column names and meanings are the same on both
-- backends (docs/architecture.md, README "Looking things up in the database"); what differs:
-- - case-insensitive columns (userName, displayName, e-mails) are indexed as `scim_fold(column)`,
--   Unicode lower case where the server has ICU, ASCII otherwise (SQLite's NOCASE is ASCII only);
-- - `users.seq` and `events.id` are identity columns (SQLite's rowid);
-- - `pushed_active` is a boolean, `sealed` a bytea;
-- - timestamps stay RFC 3339 text (UTC, milliseconds), ids and timestamps in the "C" collation so
--   that text order is time order and byte order whatever the database's locale.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
        EXECUTE 'CREATE FUNCTION scim_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
                 RETURN lower(t COLLATE "und-x-icu")';
    ELSE
        EXECUTE 'CREATE FUNCTION scim_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
                 RETURN lower(t)';
    END IF;
END
$$;

-- The stored timestamp form for triggers and views (the application binds its own).
CREATE FUNCTION scim_now() RETURNS text LANGUAGE sql STABLE
RETURN to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    user_name     TEXT NOT NULL,
    external_id   TEXT COLLATE "C",
    doc           TEXT NOT NULL,
    version       BIGINT NOT NULL DEFAULT 1,
    created       TEXT COLLATE "C" NOT NULL,
    last_modified TEXT COLLATE "C" NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE UNIQUE INDEX users_user_name ON users (scim_fold(user_name));
CREATE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;
CREATE INDEX users_created ON users (created, seq);

-- One row per e-mail value, folded, kept by trigger from users.doc.
CREATE TABLE user_emails (
    value   TEXT NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (value, user_id)
);

CREATE FUNCTION scim_email_values(doc text) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
    SELECT scim_fold(e #>> '{}') FROM jsonb_path_query(doc::jsonb, 'lax $.emails[*].value') AS e
    WHERE jsonb_typeof(e) = 'string'
$$;

CREATE FUNCTION users_emails_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM user_emails WHERE user_id = OLD.id AND value IN (SELECT scim_email_values(OLD.doc));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO user_emails (value, user_id)
        SELECT v, NEW.id FROM scim_email_values(NEW.doc) AS v ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_emails_after_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_emails_follow();
CREATE TRIGGER users_emails_after_update AFTER UPDATE OF doc ON users
    FOR EACH ROW WHEN (OLD.doc::jsonb -> 'emails' IS DISTINCT FROM NEW.doc::jsonb -> 'emails')
    EXECUTE FUNCTION users_emails_follow();
CREATE TRIGGER users_emails_after_delete AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_emails_follow();

CREATE TABLE tokens (
    name          TEXT PRIMARY KEY,
    secret_sha256 TEXT COLLATE "C" NOT NULL UNIQUE,
    created       TEXT COLLATE "C" NOT NULL,
    last_used     TEXT COLLATE "C",
    revoked_at    TEXT COLLATE "C",
    scope         TEXT NOT NULL DEFAULT 'scim' CHECK (scope IN ('scim', 'admin'))
);

CREATE TABLE groups (
    id            TEXT COLLATE "C" PRIMARY KEY,
    display_name  TEXT NOT NULL,
    external_id   TEXT COLLATE "C",
    doc           TEXT NOT NULL,
    version       BIGINT NOT NULL DEFAULT 1,
    created       TEXT COLLATE "C" NOT NULL,
    last_modified TEXT COLLATE "C" NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE UNIQUE INDEX groups_display_name ON groups (scim_fold(display_name));
CREATE INDEX groups_external_id ON groups (external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_created ON groups (created, seq);

CREATE TABLE group_members (
    group_id    TEXT COLLATE "C" NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_id   TEXT COLLATE "C" NOT NULL,
    member_type TEXT NOT NULL CHECK (member_type IN ('User', 'Group')),
    display     TEXT,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member ON group_members (member_id);

-- A deleted user or group leaves every group it was in; those groups get a new version.
CREATE FUNCTION leave_groups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE groups SET version = version + 1, last_modified = scim_now()
    WHERE id IN (SELECT group_id FROM group_members WHERE member_id = OLD.id);
    DELETE FROM group_members WHERE member_id = OLD.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_leave_groups AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION leave_groups();
CREATE TRIGGER groups_leave_groups AFTER DELETE ON groups FOR EACH ROW EXECUTE FUNCTION leave_groups();

CREATE TABLE links (
    resource_id   TEXT COLLATE "C" NOT NULL,
    target        TEXT COLLATE "C" NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('linked', 'creating', 'gone')),
    remote_id     TEXT,
    remote_key    TEXT,
    pushed_hash   TEXT,
    pushed_active BOOLEAN,
    last_error    TEXT,
    updated_at    TEXT COLLATE "C" NOT NULL,
    revision      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (resource_id, target)
);

CREATE TABLE sync_queue (
    resource_id TEXT COLLATE "C" NOT NULL,
    target      TEXT COLLATE "C" NOT NULL,
    state       TEXT COLLATE "C" NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead', 'planned')),
    due_at      TEXT COLLATE "C" NOT NULL,
    generation  BIGINT NOT NULL DEFAULT 1,
    attempts    BIGINT NOT NULL DEFAULT 0,
    lease_until TEXT COLLATE "C",
    last_error  TEXT,
    enqueued_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (resource_id, target)
);
CREATE INDEX sync_queue_due ON sync_queue (due_at) WHERE state = 'pending';
CREATE INDEX sync_queue_by_state ON sync_queue (state, target, due_at);

CREATE TABLE events (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at          TEXT COLLATE "C" NOT NULL,
    target      TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    action      TEXT COLLATE "C" NOT NULL,
    http_status BIGINT,
    latency_ms  DOUBLE PRECISION,
    error       TEXT,
    note        TEXT
);
CREATE INDEX events_resource ON events (resource_id, at);
CREATE INDEX events_target ON events (target, id);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_action ON events (action, id);

CREATE TABLE user_tombstones (
    id         TEXT COLLATE "C" PRIMARY KEY,
    doc        TEXT NOT NULL,
    deleted_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX user_tombstones_user_name ON user_tombstones (scim_fold(doc::json ->> 'userName'));

CREATE TABLE password_handover (
    resource_id TEXT COLLATE "C" NOT NULL,
    target      TEXT COLLATE "C" NOT NULL,
    sealed      BYTEA NOT NULL,
    created     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (resource_id, target)
);

CREATE TABLE target_state (
    target       TEXT COLLATE "C" PRIMARY KEY,
    breaker      TEXT NOT NULL CHECK (breaker IN ('closed', 'open', 'half_open')),
    failures     BIGINT NOT NULL DEFAULT 0,
    trips        BIGINT NOT NULL DEFAULT 0,
    open_until   TEXT COLLATE "C",
    paused_until TEXT COLLATE "C",
    pause_reason TEXT,
    updated_at   TEXT COLLATE "C" NOT NULL
);

CREATE TABLE admin_sessions (
    id_sha256  TEXT COLLATE "C" PRIMARY KEY,
    token_name TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created    TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL
);

CREATE VIEW v_user_sync AS
SELECT u.id AS user_id, u.user_name, 0 AS deleted, t.target,
       l.state AS link_state, l.remote_id, l.remote_key, l.pushed_active, l.updated_at AS link_updated_at,
       q.state AS queue_state, q.due_at, q.attempts, q.last_error
FROM users u
JOIN (SELECT resource_id, target FROM links UNION SELECT resource_id, target FROM sync_queue) t ON t.resource_id = u.id
LEFT JOIN links l ON l.resource_id = t.resource_id AND l.target = t.target
LEFT JOIN sync_queue q ON q.resource_id = t.resource_id AND q.target = t.target
UNION ALL
SELECT d.id, d.doc::json ->> 'userName', 1, t.target,
       l.state, l.remote_id, l.remote_key, l.pushed_active, l.updated_at,
       q.state, q.due_at, q.attempts, q.last_error
FROM user_tombstones d
JOIN (SELECT resource_id, target FROM links UNION SELECT resource_id, target FROM sync_queue) t ON t.resource_id = d.id
LEFT JOIN links l ON l.resource_id = t.resource_id AND l.target = t.target
LEFT JOIN sync_queue q ON q.resource_id = t.resource_id AND q.target = t.target;

CREATE VIEW v_recent_events AS
SELECT e.at, e.target, e.resource_id AS user_id,
       coalesce(u.user_name, d.doc::json ->> 'userName') AS user_name,
       e.action, e.http_status, e.latency_ms, e.error, e.note
FROM events e
LEFT JOIN users u ON u.id = e.resource_id
LEFT JOIN user_tombstones d ON d.id = e.resource_id
ORDER BY e.id DESC;

CREATE VIEW v_target_status AS
SELECT s.target,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'pending' AND q.target = s.target) AS pending,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'dead' AND q.target = s.target) AS dead,
       (SELECT min(due_at) FROM sync_queue q WHERE q.state = 'pending' AND q.target = s.target) AS oldest_due,
       (SELECT e.at FROM events e WHERE e.target = s.target AND e.error IS NULL AND e.action <> 'planned'
        ORDER BY e.id DESC LIMIT 1) AS last_success,
       CASE
           WHEN s.breaker = 'closed' AND s.paused_until > scim_now() THEN 'paused'
           ELSE s.breaker
       END AS state,
       s.open_until,
       CASE WHEN s.paused_until > scim_now() THEN s.paused_until END AS paused_until,
       CASE WHEN s.paused_until > scim_now() THEN s.pause_reason END AS pause_reason,
       s.trips,
       (SELECT count(*) FROM sync_queue q WHERE q.state = 'planned' AND q.target = s.target) AS planned
FROM target_state s;
