//! The worker's side of the queue: leasing due rows, reading what a reconcile needs, and recording
//! its outcome in the transaction that clears the row (docs/architecture.md).
use super::db::{args, Arg, Dialect, Tx};
use super::links::{upsert_link, Link};
use super::resource::arguments;
use super::states::{EventAction, EventOutcome, LinkState};
use super::sync_queue::purge_tombstone;
use super::timestamp::Timestamp;
use super::StoreError;
use time::OffsetDateTime;

/// A row the worker has leased.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claim {
    pub resource_id: String,
    pub target: String,
    pub generation: i64,
    pub attempts: i64,
    /// What the removal guard said of the row before (held, or released by an operator).
    pub guard: Option<super::states::GuardMark>,
    /// The SCIM request that last queued the row (its events name it).
    pub cause: Option<String>,
}

/// One (user, target) as the worker reads it before calling the vendor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncView {
    /// The user's document; `None` once it is deleted.
    pub document: Option<crate::scim::resource::Document>,
    pub in_scope: bool,
    pub link: Option<Link>,
    /// The link's revision as read (`None`: no link yet), for `finish_successes`.
    pub link_revision: Option<i64>,
    /// The SCIM groups the user is a direct member of, by id and by every name recorded for them:
    /// read only for a target with entitlement rules.
    pub member_of: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    doc: Option<String>,
    in_scope: bool,
    state: Option<LinkState>,
    remote_id: Option<String>,
    remote_key: Option<String>,
    pushed_hash: Option<String>,
    pushed_active: Option<bool>,
    written_fields: Option<String>,
    revision: Option<i64>,
    member_of: Option<String>,
}

/// A row whose vendor call succeeded: the link it leaves, the event, the sealed password it
/// `delivered` (erased now), whether the user is `deleted`, and the link revision the worker read.
pub struct Success<'a> {
    pub claim: &'a Claim,
    pub link: &'a Link,
    /// One per step carried out (`unchanged` when there was none).
    pub events: &'a [Event],
    pub delivered: Option<&'a [u8]>,
    pub deleted: bool,
    pub read_revision: Option<i64>,
}

/// What one step of a reconcile did, for the `events` log (docs/audit.md). The user's userName
/// and e-mail are added as the store holds them when it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub action: EventAction,
    pub outcome: EventOutcome,
    /// The vendor's id of the user.
    pub remote_id: Option<String>,
    /// What changed, one `field: "old" -> "new"` (or group) per item; never a secret's value.
    pub changes: Option<String>,
    pub http_status: Option<u16>,
    pub latency_ms: f64,
    /// The vendor's words when it failed.
    pub error: Option<String>,
    /// What the connector or the guard wants an operator to know.
    pub note: Option<String>,
}

impl Event {
    pub fn new(action: EventAction, outcome: EventOutcome) -> Self {
        Self {
            action,
            outcome,
            remote_id: None,
            changes: None,
            http_status: None,
            latency_ms: 0.0,
            error: None,
            note: None,
        }
    }
}

impl super::Store {
    /// Leases up to `limit` due rows (not leased, or whose lease ran out: a crashed worker's rows come
    /// back) of the `targets` named (those that may be called now). The lease is taken in one short
    /// statement; on PostgreSQL, rows another replica is leasing at the same moment are skipped
    /// (`FOR UPDATE SKIP LOCKED`), so two replicas never hold the same row.
    pub async fn claim_due(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
        targets: &[&str],
    ) -> Result<Vec<Claim>, StoreError> {
        if targets.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let dialect = self.db.dialect();
        let skip_locked = match dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE sync_queue SET lease_until = $2, lease_owner = $5
             WHERE (resource_id, target) IN (
                 SELECT resource_id, target FROM sync_queue
                 WHERE state = 'pending' AND due_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
                   AND target IN ({})
                 ORDER BY due_at LIMIT $3{skip_locked})
             RETURNING resource_id, target, generation, attempts, guard, cause",
            dialect.json_texts("$4")
        );
        let targets = serde_json::to_string(targets)?;
        Ok(self
            .db
            .write(
                &sql,
                args![Timestamp(now), Timestamp(lease_until), limit, targets, self.replica()],
            )
            .await?)
    }

    /// Frees every lease. Called when a worker starts: on SQLite one `serve` works a database, so a
    /// lease still set is a killed process's, and its rows are due again now rather than when the
    /// lease runs out. On PostgreSQL other replicas may hold leases this minute: they are left to
    /// run out.
    pub async fn release_leases(&self) -> Result<u64, StoreError> {
        if self.is_shared() {
            return Ok(0);
        }
        Ok(self
            .db
            .execute(
                "UPDATE sync_queue SET lease_until = NULL WHERE lease_until IS NOT NULL",
                args![],
            )
            .await?)
    }

    /// Moves the leases this replica holds on rows its worker is still working on to `until`; how
    /// many it still held. Rows already finished (lease cleared) stay as they are, and so does a row
    /// whose lease ran out and another replica leased since (`lease_owner`): that one is theirs now.
    pub async fn renew_leases(&self, claims: &[&Claim], until: OffsetDateTime) -> Result<u64, StoreError> {
        let mut tx = self.db.begin().await?;
        let mut held = 0;
        for claim in claims {
            held += tx
                .execute(
                    "UPDATE sync_queue SET lease_until = $3
                     WHERE resource_id = $1 AND target = $2 AND lease_until IS NOT NULL AND lease_owner = $4",
                    args![&claim.resource_id, &claim.target, Timestamp(until), self.replica()],
                )
                .await?;
        }
        tx.commit().await?;
        Ok(held)
    }

    /// The earliest due time after `now` of a pending row, for the worker's next wake-up (rows due
    /// by `now` are already leased, or wait for a resting target). One probe of the due index.
    pub async fn next_due(&self, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, StoreError> {
        let rows: Vec<(Option<Timestamp>,)> = self
            .db
            .read(
                "SELECT min(due_at) FROM sync_queue WHERE state = 'pending' AND due_at > $1",
                args![Timestamp(now)],
            )
            .await?;
        Ok(rows.into_iter().next().and_then(|(d,)| d).map(|d| d.0))
    }

    /// What the worker needs to reconcile (user `id`, `target`), read in one statement: the user's
    /// document (`None` once deleted), whether it is in the target's scope, and the link.
    pub async fn sync_view(&self, id: &str, target: &str) -> Result<SyncView, StoreError> {
        let scopes = self.scopes();
        let this = scopes.iter().find(|t| t.name == target);
        let (scope, scope_binds) = this.map_or(("FALSE", &[][..]), |t| {
            t.view_scope
                .as_ref()
                .map_or(("TRUE", &[][..]), |s| (s.text.as_str(), &s.binds[..]))
        });
        let member_of = match this.is_some_and(|t| !t.entitlement_groups.is_empty()) {
            true => self.db.dialect().member_of("$1"),
            false => "NULL".to_owned(),
        };
        // The scope's parameters follow the VIEW_PARAMS of the statement.
        let sql = format!(
            "SELECT (SELECT doc FROM users WHERE id = $1) AS doc,
                    EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND ({scope})) AS in_scope,
                    l.state, l.remote_id, l.remote_key, l.pushed_hash, l.pushed_active, l.written_fields, l.revision,
                    {member_of} AS member_of
             FROM (SELECT 1) AS one LEFT JOIN links l ON l.resource_id = $1 AND l.target = $2"
        );
        let mut binds: Vec<Arg<'_>> = args![id, target].to_vec();
        binds.extend(arguments(scope_binds));
        let row: Option<ViewRow> = self.db.read(&sql, &binds).await?.pop();
        let Some(row) = row else {
            return Ok(SyncView::default());
        };
        let document = row.doc.as_deref().map(serde_json::from_str).transpose()?;
        let link = row.state.map(|state| Link {
            state,
            remote_id: row.remote_id,
            remote_key: row.remote_key,
            pushed_hash: row.pushed_hash,
            pushed_active: row.pushed_active,
            written_fields: row.written_fields,
        });
        let member_of = row.member_of.as_deref().map(serde_json::from_str).transpose()?;
        Ok(SyncView {
            document,
            in_scope: row.in_scope,
            link,
            link_revision: row.revision,
            member_of: member_of.unwrap_or_default(),
        })
    }

    /// Success, for a chunk's rows in one write transaction (a batch of 100 DocuSign updates is one
    /// commit, not a hundred): each link is recorded, its row cleared if no newer change came
    /// meanwhile (else it stays due), and an event written. A password that was `delivered` is erased (unless a newer one replaced it meanwhile), and a
    /// `deleted` user's tombstone goes once no target has a row left for it. The link is written only
    /// if its revision is still `read_revision` (what the worker read or last wrote): an operator's
    /// `link set` meanwhile wins, and its queued row runs again.
    pub async fn finish_successes(&self, successes: &[Success<'_>]) -> Result<(), StoreError> {
        if successes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        for success in successes {
            finish_one(&mut tx, success).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The sealed password waiting for (user, target), if any.
    pub async fn password_for(&self, resource_id: &str, target: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows: Vec<(Vec<u8>,)> = self
            .db
            .read(
                "SELECT sealed FROM password_handover WHERE resource_id = $1 AND target = $2",
                args![resource_id, target],
            )
            .await?;
        Ok(rows.into_iter().next().map(|(s,)| s))
    }

    /// Puts a leased row back, due at `due_at`, without counting an attempt (its target rests).
    pub async fn defer(&self, claim: &Claim, due_at: OffsetDateTime) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE sync_queue SET lease_until = NULL, due_at = $3 WHERE resource_id = $1 AND target = $2",
                args![&claim.resource_id, &claim.target, Timestamp(due_at)],
            )
            .await?;
        Ok(())
    }

    /// Observe mode: the row's reconcile would write, so it waits as `planned` (not due) with the
    /// planned calls recorded as `event`, until the target writes again (`release_planned`). A newer
    /// change made meanwhile keeps the row pending: it is planned again.
    pub async fn park_planned(&self, claim: &Claim, event: &Event) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "UPDATE sync_queue SET state = 'planned', lease_until = NULL, attempts = 0, last_error = NULL
             WHERE resource_id = $1 AND target = $2 AND generation = $3",
            args![&claim.resource_id, &claim.target, claim.generation],
        )
        .await?;
        insert_events(&mut tx, claim, std::slice::from_ref(event)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A target back in `write` mode: its planned rows are due now. Returns how many.
    pub async fn release_planned(&self, target: &str) -> Result<u64, StoreError> {
        let done = self
            .db
            .execute(
                "UPDATE sync_queue SET state = 'pending', due_at = $2 WHERE target = $1 AND state = 'planned'",
                args![target, self.db.now()],
            )
            .await?;
        if done > 0 {
            self.sync_wakeup.notify_one();
        }
        Ok(done)
    }

    /// Failure: the row is due again at `retry_at`, or parked as dead when that is `None`. A row
    /// whose generation moved meanwhile (a newer change, `sync retry`) is only released: the newer
    /// work runs as queued, with no attempt counted against it. `events`: the steps done before the
    /// failure, then the failed one.
    pub async fn finish_failure(
        &self,
        claim: &Claim,
        retry_at: Option<OffsetDateTime>,
        error: &str,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        let counted = tx
            .execute(
                "UPDATE sync_queue SET lease_until = NULL, attempts = attempts + 1, last_error = $3,
                     state = CASE WHEN $4 IS NULL THEN 'dead' ELSE 'pending' END, due_at = COALESCE($4, due_at)
                 WHERE resource_id = $1 AND target = $2 AND generation = $5",
                args![
                    &claim.resource_id,
                    &claim.target,
                    error,
                    retry_at.map(Timestamp),
                    claim.generation
                ],
            )
            .await?;
        if counted == 0 {
            release(&mut tx, claim).await?;
        }
        insert_events(&mut tx, claim, events).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Frees a leased row, leaving it as it is otherwise.
pub(super) async fn release(tx: &mut Tx, claim: &Claim) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE sync_queue SET lease_until = NULL WHERE resource_id = $1 AND target = $2",
        args![&claim.resource_id, &claim.target],
    )
    .await?;
    Ok(())
}

async fn finish_one(tx: &mut Tx, success: &Success<'_>) -> Result<(), StoreError> {
    let Success {
        claim,
        link,
        events,
        delivered,
        deleted,
        read_revision,
    } = success;
    let sql = format!(
        "SELECT revision FROM links WHERE resource_id = $1 AND target = $2{}",
        tx.dialect().for_update()
    );
    let current: Vec<(i64,)> = tx.rows(&sql, args![&claim.resource_id, &claim.target]).await?;
    if current.first().map(|(r,)| *r) != *read_revision {
        tracing::info!(target = %claim.target, resource = %claim.resource_id, "the link changed while the vendor call was in flight; it is kept and the row runs again");
        release(tx, claim).await?;
        return insert_events(tx, claim, events).await;
    }
    if let Some(sealed) = delivered {
        tx.execute(
            "DELETE FROM password_handover WHERE resource_id = $1 AND target = $2 AND sealed = $3",
            args![&claim.resource_id, &claim.target, *sealed],
        )
        .await?;
    }
    upsert_link(tx, &claim.resource_id, &claim.target, link).await?;
    let cleared = tx
        .execute(
            "DELETE FROM sync_queue WHERE resource_id = $1 AND target = $2 AND generation = $3",
            args![&claim.resource_id, &claim.target, claim.generation],
        )
        .await?;
    if cleared == 0 {
        release(tx, claim).await?;
    }
    // Before the tombstone may go: the events read the user's name from it.
    insert_events(tx, claim, events).await?;
    if *deleted {
        purge_tombstone(tx, &claim.resource_id).await?;
    }
    Ok(())
}

pub(super) async fn insert_events(tx: &mut Tx, claim: &Claim, events: &[Event]) -> Result<(), StoreError> {
    for event in events {
        insert_event(tx, &claim.target, &claim.resource_id, claim.cause.as_deref(), event).await?;
    }
    Ok(())
}

/// Records `event` of (user `resource_id`, `target`), caused by SCIM request `cause`, with the
/// user's userName and primary e-mail as the store holds them now (from the tombstone once the user
/// is deleted), so that the history is found by name after the user is gone.
pub(super) async fn insert_event(
    tx: &mut Tx,
    target: &str,
    resource_id: &str,
    cause: Option<&str>,
    event: &Event,
) -> Result<(), StoreError> {
    let dialect = tx.dialect();
    let sql = format!(
        "INSERT INTO events (at, target, resource_id, action, outcome, remote_id, changes, request_id,
                             http_status, latency_ms, error, note, user_name, email)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, who.user_name, {}
         FROM (SELECT 1 AS one) AS o LEFT JOIN (
             SELECT user_name, doc FROM users WHERE id = $3
             UNION ALL SELECT {}, doc FROM user_tombstones WHERE id = $3
         ) AS who ON TRUE
         LIMIT 1",
        dialect.primary_email("who.doc"),
        dialect.doc_text("doc", "userName"),
    );
    tx.execute(
        &sql,
        args![
            tx.now(),
            target,
            resource_id,
            event.action.as_str(),
            event.outcome.as_str(),
            &event.remote_id,
            &event.changes,
            cause,
            event.http_status.map(i64::from),
            event.latency_ms,
            &event.error,
            &event.note
        ],
    )
    .await?;
    Ok(())
}
