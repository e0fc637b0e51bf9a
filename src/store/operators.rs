//! What operators ask of the sync engine (`scim-bridge sync …`, `scim-bridge lookup`): per-target
//! status, retrying rows now, re-queueing a whole target, and one user's full story.
use super::db::{args, Arg, Dialect};
use super::links::{upsert_link, Link};
use super::states::{EventAction, LinkState, TargetState};
use super::sync_queue::{enqueue_user, SyncRow};
use super::{Store, StoreError};

/// One target's queue, as `sync status` prints it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TargetStatus {
    pub target: String,
    pub pending: i64,
    pub dead: i64,
    pub oldest_due: Option<String>,
    pub last_success: Option<String>,
    pub state: TargetState,
    pub open_until: Option<String>,
    pub paused_until: Option<String>,
    pub pause_reason: Option<String>,
    pub trips: i64,
    /// Rows an observing target would write, waiting for `mode = "write"`.
    pub planned: i64,
    /// Removals held by the guard, waiting for `sync release` or `sync discard`.
    pub held: i64,
    /// The vendor's words while it refuses the bridge's credentials.
    pub refused: Option<String>,
}

/// A user found by `lookup`: live, or a tombstone still being fanned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookedUp {
    pub id: String,
    pub user_name: String,
    pub deleted_at: Option<String>,
    /// The stored SCIM document (it never holds a password).
    pub doc: String,
    pub links: Vec<(String, Link)>,
    pub queued: Vec<SyncRow>,
    pub events: Vec<EventRow>,
    /// The SCIM groups the user is a direct member of, by id and recorded names (what entitlement
    /// rules match).
    pub member_of: Vec<String>,
}

/// What the console's Events page asks for.
#[derive(Debug, Default)]
pub struct EventFilter<'a> {
    pub before: Option<i64>,
    pub target: Option<&'a str>,
    /// A user id, or a userName or e-mail the events recorded (also of a deleted user).
    pub user: Option<&'a str>,
    pub outcome: Option<&'a str>,
    /// The SCIM request (its request id) that caused the events.
    pub request: Option<&'a str>,
}

/// An event as the console lists it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ListedEvent {
    pub id: i64,
    pub at: String,
    pub target: String,
    pub resource_id: String,
    pub action: EventAction,
    pub outcome: Option<super::states::EventOutcome>,
    pub remote_id: Option<String>,
    pub changes: Option<String>,
    pub request_id: Option<String>,
    pub http_status: Option<i64>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
    pub note: Option<String>,
    pub user_name: String,
}

/// A dead row as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadRow {
    pub resource_id: String,
    pub target: String,
    pub attempts: i64,
    pub due_at: String,
    pub last_error: Option<String>,
    pub user_name: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EventRow {
    pub at: String,
    pub target: String,
    pub action: EventAction,
    pub outcome: Option<super::states::EventOutcome>,
    pub remote_id: Option<String>,
    pub changes: Option<String>,
    pub request_id: Option<String>,
    pub http_status: Option<i64>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
    pub note: Option<String>,
}

impl Eq for EventRow {}

#[derive(sqlx::FromRow)]
struct Found {
    id: String,
    user_name: String,
    deleted_at: Option<String>,
    doc: String,
}

#[derive(sqlx::FromRow)]
struct TargetLink {
    target: String,
    #[sqlx(flatten)]
    link: Link,
}

/// Users re-queued per transaction by `resync` (short transactions keep SCIM writes flowing).
const RESYNC_BATCH: i64 = 500;

impl Store {
    /// Every configured target's queue (and any other target that still has rows or links), read
    /// from the documented view `v_target_status`.
    pub async fn target_status(&self) -> Result<Vec<TargetStatus>, StoreError> {
        let mut rows: Vec<TargetStatus> = self
            .db
            .read(
                "SELECT target, pending, dead, oldest_due, last_success, state, open_until, paused_until, pause_reason,
                        trips, planned, held, refused
                 FROM v_target_status",
                args![],
            )
            .await?;
        for name in self.target_names() {
            if !rows.iter().any(|r| r.target == name) {
                rows.push(TargetStatus {
                    target: name.to_owned(),
                    pending: 0,
                    dead: 0,
                    oldest_due: None,
                    last_success: None,
                    state: TargetState::Closed,
                    open_until: None,
                    paused_until: None,
                    pause_reason: None,
                    trips: 0,
                    planned: 0,
                    held: 0,
                    refused: None,
                });
            }
        }
        rows.sort_by(|a, b| a.target.cmp(&b.target));
        Ok(rows)
    }

    /// Vendor calls per target since `since` (planned and unchanged rows made none): (target,
    /// calls, failed). Events are numbered in time order, so the span is a rowid range from the
    /// first event after `since` (found by `events_at`).
    pub async fn calls_since(&self, since: time::OffsetDateTime) -> Result<Vec<(String, i64, i64)>, StoreError> {
        Ok(self
            .db
            .read(
                &format!(
                    "SELECT target, count(*), count(error) FROM events
                     WHERE id >= (SELECT id FROM events WHERE at > $1 ORDER BY at LIMIT 1)
                       AND action IN ({}) GROUP BY target",
                    EventAction::calls_sql()
                ),
                args![super::timestamp::Timestamp(since)],
            )
            .await?)
    }

    /// Makes rows due now, dead ones included, for one target and/or one user (all when `None`);
    /// returns how many. A row a worker holds right now keeps its lease, and its generation moves
    /// on, so that the worker's result does not undo the retry (the row runs again).
    pub async fn retry_now(&self, target: Option<&str>, user_id: Option<&str>) -> Result<u64, StoreError> {
        let done = self
            .db
            .execute(
                "UPDATE sync_queue SET state = 'pending', due_at = $3, attempts = 0, generation = generation + 1
                 WHERE ($1 IS NULL OR target = $1) AND ($2 IS NULL OR resource_id = $2)",
                args![target, user_id, self.db.now()],
            )
            .await?;
        if done > 0 {
            self.sync_wakeup.notify_one();
        }
        Ok(done)
    }

    /// The newest events first, older than `before` (an event id; keyset paging), filtered by
    /// target, user (id, or a userName or e-mail the events recorded) and outcome (`ok`, `failed`,
    /// or an action: `planned`, `unchanged`, `deactivate` …). Only the filters given go into the
    /// SQL, so that SQLite reads the index of the one that narrows most.
    pub async fn events_page<'a>(&self, filter: &EventFilter<'a>, limit: i64) -> Result<Vec<ListedEvent>, StoreError> {
        let mut sql = format!(
            "SELECT e.id, e.at, e.target, e.resource_id, e.action, e.outcome, e.remote_id, e.changes, e.request_id,
                    e.http_status, e.latency_ms, e.error, e.note,
                    COALESCE(u.user_name, {}, e.user_name, e.resource_id) AS user_name
             FROM events e
             LEFT JOIN users u ON u.id = e.resource_id
             LEFT JOIN user_tombstones t ON t.id = e.resource_id
             WHERE TRUE",
            self.db.dialect().doc_text("t.doc", "userName")
        );
        let mut binds: Vec<Arg<'_>> = Vec::new();
        if let Some(user) = filter.user {
            binds.push(user.into());
            let n = binds.len();
            let dialect = self.db.dialect();
            sql.push_str(&format!(
                " AND (e.resource_id = ${n} OR e.resource_id IN (SELECT k.resource_id FROM events k WHERE {} OR {}))",
                dialect.ci_column_eq("k.user_name", &format!("${n}")),
                dialect.ci_column_eq("k.email", &format!("${n}"))
            ));
        }
        let mut and = |test: &str, value: Arg<'a>| {
            binds.push(value);
            sql.push_str(&format!(" AND {test} ${}", binds.len()));
        };
        if let Some(before) = filter.before {
            and("e.id <", before.into());
        }
        if let Some(target) = filter.target {
            and("e.target =", target.into());
        }
        if let Some(request) = filter.request {
            and("e.request_id =", request.into());
        }
        match filter.outcome {
            None => {}
            Some("ok") => sql.push_str(&format!(
                " AND e.error IS NULL AND e.action IN ({})",
                EventAction::calls_sql()
            )),
            Some("failed") => sql.push_str(" AND e.error IS NOT NULL"),
            Some(action) => and("e.action =", action.into()),
        };
        binds.push(limit.into());
        sql.push_str(&format!(" ORDER BY e.id DESC LIMIT ${}", binds.len()));
        Ok(self.db.read(&sql, &binds).await?)
    }

    /// Dead rows, by target then the time they died, `limit` from `offset` (the console's list),
    /// with the user's name (a deleted user's from its tombstone). The page's keys are counted off
    /// the index `sync_queue_by_state` alone; only the rows shown are joined.
    pub async fn dead_rows(&self, target: Option<&str>, limit: i64, offset: i64) -> Result<Vec<DeadRow>, StoreError> {
        let sql = format!(
            "SELECT q.resource_id, q.target, q.attempts, q.due_at, q.last_error,
                    COALESCE(u.user_name, {}, q.resource_id) AS user_name
             FROM (SELECT resource_id, target FROM sync_queue
                   WHERE state = 'dead' AND ($1 IS NULL OR target = $1)
                   ORDER BY target, due_at, resource_id LIMIT $2 OFFSET $3) page
             JOIN sync_queue q ON q.resource_id = page.resource_id AND q.target = page.target
             LEFT JOIN users u ON u.id = q.resource_id
             LEFT JOIN user_tombstones t ON t.id = q.resource_id
             ORDER BY q.target, q.due_at, q.resource_id",
            self.db.dialect().doc_text("t.doc", "userName")
        );
        Ok(self.db.read(&sql, args![target, limit, offset]).await?)
    }

    /// Who `sync plan` looks at for `target`: every live user (or the one `user` names, by id,
    /// userName or e-mail) and every user still linked there, deleted ones included; (id, userName).
    pub async fn plan_subjects(&self, target: &str, user: Option<&str>) -> Result<Vec<(String, String)>, StoreError> {
        let dialect = self.db.dialect();
        let sql = format!(
            "SELECT id, user_name FROM (
                 SELECT u.id, u.user_name, 0 AS deleted, {} AS n FROM users u
                 UNION ALL
                 SELECT l.resource_id, COALESCE({}, l.remote_key, l.resource_id), 1, 0
                 FROM links l LEFT JOIN user_tombstones t ON t.id = l.resource_id
                 WHERE l.target = $1 AND l.state <> 'gone'
                   AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = l.resource_id)) AS subjects
             WHERE $2 IS NULL OR id = $2 OR {}
                OR id IN (SELECT user_id FROM user_emails WHERE {})
             ORDER BY deleted, n, id",
            dialect.row_number("u"),
            dialect.doc_text("t.doc", "userName"),
            dialect.ci_column_eq("user_name", "$2"),
            dialect.email_eq("$2"),
        );
        Ok(self.db.read(&sql, args![target, user]).await?)
    }

    /// `target`'s pending rows that wait for a later time are due now (its vendor takes the
    /// bridge's credentials again). Dead rows stay dead.
    pub async fn waiting_due_now(&self, target: &str) -> Result<u64, StoreError> {
        let now = self.db.now();
        let done = self
            .db
            .execute(
                "UPDATE sync_queue SET due_at = $2 WHERE target = $1 AND state = 'pending' AND due_at > $2",
                args![target, &now],
            )
            .await?;
        self.sync_wakeup.notify_one();
        Ok(done)
    }

    /// How many users exist (for a progress bar's length).
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        let rows: Vec<(i64,)> = self.db.read("SELECT count(*) FROM users", args![]).await?;
        Ok(rows.first().map_or(0, |(n,)| u64::try_from(*n).unwrap_or(0)))
    }

    /// Queues every user that is in `target`'s scope or linked to it, in short transactions, with
    /// what the vendor was last sent forgotten (so each is compared with the vendor again);
    /// `progress` hears how many users were looked at after each. Returns how many rows were queued.
    pub async fn resync(&self, target: &str, progress: impl FnMut(u64)) -> Result<u64, StoreError> {
        // Forgotten fingerprints make every reconcile compare with the vendor again (no skip); a
        // forgotten `pushed_active` makes it send the IdP's state again where the vendor's cannot
        // be read (a user deactivated by hand at the vendor is activated again).
        self.db
            .execute(
                "UPDATE links SET pushed_hash = NULL, pushed_active = NULL WHERE target = $1",
                args![target],
            )
            .await?;
        self.queue_all(target, progress).await
    }

    /// Queues every user that is in `target`'s scope or linked to it (a new target, a changed scope).
    pub async fn queue_scope(&self, target: &str) -> Result<u64, StoreError> {
        self.queue_all(target, |_| {}).await
    }

    /// Whether `serve` must queue `target`'s scope now, and why: the target is new (no scope
    /// recorded, nothing linked or queued), or its `scope` is not the one it last started with.
    /// Records `scope` as the one it starts with.
    pub async fn scope_taken_up(&self, target: &str, scope: Option<&str>) -> Result<Option<&'static str>, StoreError> {
        let recorded: Vec<(Option<String>,)> = self
            .db
            .read("SELECT scope FROM target_state WHERE target = $1", args![target])
            .await?;
        let recorded = recorded.into_iter().next().and_then(|(s,)| s);
        let scope_word = scope.unwrap_or("");
        let why = match recorded.as_deref() {
            Some(seen) if seen == scope_word => None,
            Some(_) => Some("its scope or entitlement rules changed"),
            None => {
                let known: Vec<(i64,)> = self
                    .db
                    .read(
                        "SELECT (SELECT count(*) FROM links WHERE target = $1) + (SELECT count(*) FROM sync_queue WHERE target = $1)",
                        args![target],
                    )
                    .await?;
                // A target from before scopes were recorded keeps going as it was.
                known.first().is_some_and(|(n,)| *n == 0).then_some("it is new")
            }
        };
        self.db
            .execute(
                "INSERT INTO target_state (target, breaker, updated_at, scope) VALUES ($1, 'closed', $2, $3)
                 ON CONFLICT (target) DO UPDATE SET scope = excluded.scope",
                args![target, self.db.now(), scope_word],
            )
            .await?;
        Ok(why)
    }

    async fn queue_all(&self, target: &str, mut progress: impl FnMut(u64)) -> Result<u64, StoreError> {
        let scopes = self.scopes();
        let Some(scope) = scopes.iter().find(|t| t.name == target) else {
            return Err(StoreError::NotFound);
        };
        let (mut after, mut queued) = (0i64, 0u64);
        let n = self.db.dialect().row_number("u");
        let sql = format!("SELECT {n}, u.id FROM users u WHERE {n} > $1 ORDER BY {n} LIMIT $2");
        loop {
            let batch: Vec<(i64, String)> = self.db.read(&sql, args![after, RESYNC_BATCH]).await?;
            let Some((last, _)) = batch.last() else { break };
            after = *last;
            let mut tx = self.db.begin().await?;
            for (_, id) in &batch {
                queued += enqueue_user(&mut tx, &[scope], id).await?;
            }
            tx.commit().await?;
            progress(batch.len() as u64);
        }
        if queued > 0 {
            self.sync_wakeup.notify_one();
        }
        Ok(queued)
    }

    /// An operator's link of live user `id` to the vendor record `remote_id` (`scim-bridge link set`):
    /// the link says nothing is known of what the vendor holds, and a row is queued now, so the
    /// worker adopts that record and pushes the user onto it instead of creating another.
    pub async fn set_link(&self, id: &str, target: &str, remote_id: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        let live: Vec<(i32,)> = tx.rows("SELECT 1 FROM users WHERE id = $1", args![id]).await?;
        if live.is_empty() {
            return Err(StoreError::NotFound);
        }
        let link = Link {
            state: LinkState::Linked,
            remote_id: Some(remote_id.to_owned()),
            remote_key: None,
            pushed_hash: None,
            pushed_active: None,
            written_fields: None,
        };
        upsert_link(&mut tx, id, target, &link).await?;
        tx.execute(
            "INSERT INTO sync_queue (resource_id, target, due_at, enqueued_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (resource_id, target) DO UPDATE SET due_at = excluded.due_at,
                 generation = sync_queue.generation + 1, state = 'pending', attempts = 0, last_error = NULL, cause = NULL",
            args![id, target, tx.now()],
        )
        .await?;
        tx.commit().await?;
        self.sync_wakeup.notify_one();
        Ok(())
    }

    /// A user by id, userName or e-mail (a live user before a tombstone: NULLs sort first), with its links, queued rows
    /// and last `events` vendor calls. `None` when nothing matches.
    pub async fn lookup(&self, key: &str, events: i64) -> Result<Option<LookedUp>, StoreError> {
        let dialect = self.db.dialect();
        let tombstone_name = dialect.doc_text("doc", "userName");
        let sql = format!(
            "SELECT id, user_name, NULL AS deleted_at, doc FROM users
             WHERE id = $1 OR {} OR id IN (SELECT user_id FROM user_emails WHERE {})
             UNION ALL
             SELECT id, {tombstone_name}, deleted_at, doc FROM user_tombstones
             WHERE id = $1 OR {}
             ORDER BY deleted_at NULLS FIRST LIMIT 1",
            dialect.ci_column_eq("user_name", "$1"),
            dialect.email_eq("$1"),
            dialect.ci_eq(&tombstone_name, "$1"),
        );
        let found: Vec<Found> = self.db.read(&sql, args![key]).await?;
        let Some(found) = found.into_iter().next() else {
            return Ok(None);
        };
        let links: Vec<TargetLink> = self
            .db
            .read(
                "SELECT target, state, remote_id, remote_key, pushed_hash, pushed_active, written_fields FROM links
                 WHERE resource_id = $1 ORDER BY target",
                args![&found.id],
            )
            .await?;
        let queued: Vec<SyncRow> = self
            .db
            .read(
                "SELECT resource_id, target, state, generation, attempts, due_at, last_error FROM sync_queue
                 WHERE resource_id = $1 ORDER BY target",
                args![&found.id],
            )
            .await?;
        let events: Vec<EventRow> = self
            .db
            .read(
                "SELECT at, target, action, outcome, remote_id, changes, request_id, http_status, latency_ms, error, note
                 FROM events WHERE resource_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
                args![&found.id, events],
            )
            .await?;
        let member_of: Vec<(String,)> = self
            .db
            .read(&format!("SELECT {}", dialect.member_of("$1")), args![&found.id])
            .await?;
        let member_of = member_of
            .first()
            .map(|(json,)| serde_json::from_str(json))
            .transpose()?
            .unwrap_or_default();
        Ok(Some(LookedUp {
            member_of,
            id: found.id,
            user_name: found.user_name,
            deleted_at: found.deleted_at,
            doc: found.doc,
            links: links.into_iter().map(|l| (l.target, l.link)).collect(),
            queued,
            events,
        }))
    }
}

impl Store {
    /// How many queued rows and links `target` has (what `sync drop` would remove).
    pub async fn target_footprint(&self, target: &str) -> Result<(i64, i64), StoreError> {
        let rows: Vec<(i64, i64)> = self
            .db
            .read(
                "SELECT (SELECT count(*) FROM sync_queue WHERE target = $1), (SELECT count(*) FROM links WHERE target = $1)",
                args![target],
            )
            .await?;
        Ok(rows.first().copied().unwrap_or((0, 0)))
    }

    /// Forgets a target removed from the configuration (`sync drop`): its queued rows, links,
    /// waiting passwords and health, in one transaction; tombstones no other target still needs go
    /// too. Returns (rows, links) removed.
    pub async fn drop_target(&self, target: &str) -> Result<(u64, u64), StoreError> {
        let mut tx = self.db.begin().await?;
        let rows = tx
            .execute("DELETE FROM sync_queue WHERE target = $1", args![target])
            .await?;
        let links = tx.execute("DELETE FROM links WHERE target = $1", args![target]).await?;
        for table in ["password_handover", "target_state"] {
            tx.execute(&format!("DELETE FROM {table} WHERE target = $1"), args![target])
                .await?;
        }
        tx.execute(
            "DELETE FROM user_tombstones WHERE id NOT IN (SELECT resource_id FROM sync_queue)",
            args![],
        )
        .await?;
        tx.commit().await?;
        Ok((rows, links))
    }
}

/// How many of the newest users a name prefix is looked for among: names have no index (one would
/// cost every user write), so the search is a bounded scan.
pub const NAME_SEARCH_USERS: i64 = 10_000;

impl Store {
    /// Users whose userName or an e-mail starts with `prefix`, case-insensitively (served by their
    /// indexes on SQLite), or whose given name, family name or displayName does among the newest
    /// `NAME_SEARCH_USERS`; every user when `prefix` is empty. By userName, at most `limit`, as
    /// (id, document).
    pub async fn users_by_prefix(&self, prefix: &str, limit: i64) -> Result<Vec<(String, String)>, StoreError> {
        if prefix.is_empty() {
            return Ok(self
                .db
                .read("SELECT id, doc FROM users ORDER BY user_name LIMIT $1", args![limit])
                .await?);
        }
        let pattern = format!("{}%", super::query::escape_like(prefix));
        let anywhere = format!("%{pattern}");
        // SQLite: ranges on the NOCASE columns, which their indexes serve ($1 <= x < $2). PostgreSQL:
        // LIKE on the folded values (index-served only under the C collation).
        let upper = format!("{prefix}\u{10FFFF}");
        let parts: [(&str, Vec<Arg<'_>>); 3] = match self.db.dialect() {
            Dialect::Sqlite => [
                (
                    "SELECT id FROM users WHERE user_name >= $1 AND user_name < $2 ORDER BY user_name LIMIT $3",
                    args![prefix, &upper, limit].to_vec(),
                ),
                (
                    "SELECT user_id FROM user_emails WHERE value >= $1 AND value < $2 ORDER BY value LIMIT $3",
                    args![prefix, &upper, limit].to_vec(),
                ),
                // The documents that hold the text at all first: a LIKE on the text is cheap,
                // json_extract is not.
                (
                    "SELECT id FROM (SELECT id, doc FROM users ORDER BY rowid DESC LIMIT $3) AS recent
                     WHERE doc LIKE $4 ESCAPE '\\'
                       AND (json_extract(doc, '$.name.givenName') LIKE $1 ESCAPE '\\'
                        OR json_extract(doc, '$.name.familyName') LIKE $1 ESCAPE '\\'
                        OR json_extract(doc, '$.displayName') LIKE $1 ESCAPE '\\') LIMIT $2",
                    args![&pattern, limit, NAME_SEARCH_USERS, &anywhere].to_vec(),
                ),
            ],
            Dialect::Postgres => [
                (
                    "SELECT id FROM users WHERE scim_fold(user_name) LIKE scim_fold($1) ESCAPE '\\' LIMIT $2",
                    args![&pattern, limit].to_vec(),
                ),
                (
                    "SELECT user_id FROM user_emails WHERE value LIKE scim_fold($1) ESCAPE '\\' LIMIT $2",
                    args![&pattern, limit].to_vec(),
                ),
                (
                    "SELECT id FROM (SELECT id, doc::json AS doc FROM users ORDER BY seq DESC LIMIT $3) AS recent
                     WHERE scim_fold(doc -> 'name' ->> 'givenName') LIKE scim_fold($1) ESCAPE '\\'
                        OR scim_fold(doc -> 'name' ->> 'familyName') LIKE scim_fold($1) ESCAPE '\\'
                        OR scim_fold(doc ->> 'displayName') LIKE scim_fold($1) ESCAPE '\\' LIMIT $2",
                    args![&pattern, limit, NAME_SEARCH_USERS].to_vec(),
                ),
            ],
        };
        // Each part on its own: SQLite (3.46) plans them joined as a scan of every user.
        let mut ids: Vec<String> = Vec::new();
        for (sql, binds) in &parts {
            let found: Vec<(String,)> = self.db.read(sql, binds).await?;
            ids.extend(found.into_iter().map(|(id,)| id));
        }
        ids.sort_unstable();
        ids.dedup();
        let ids = serde_json::to_string(&ids)?;
        let sql = format!(
            "SELECT id, doc FROM users WHERE id IN ({}) ORDER BY user_name LIMIT $2",
            self.db.dialect().json_texts("$1")
        );
        Ok(self.db.read(&sql, args![&ids, limit]).await?)
    }
}
