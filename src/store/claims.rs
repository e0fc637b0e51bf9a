//! The worker's side of the queue: leasing due rows, reading what a reconcile needs, and recording
//! its outcome in the transaction that clears the row (docs/architecture.md).
use super::links::{upsert_link, Link, LinkState};
use super::query::Bind;
use super::resource::arguments;
use super::sync_queue::purge_tombstone;
use super::timestamp::Timestamp;
use super::{now_timestamp, StoreError};
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;

/// A row the worker has leased.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claim {
    pub resource_id: String,
    pub target: String,
    pub generation: i64,
    pub attempts: i64,
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
    revision: Option<i64>,
}

/// A row whose vendor call succeeded: the link it leaves, the event, the sealed password it
/// `delivered` (erased now), whether the user is `deleted`, and the link revision the worker read.
pub struct Success<'a> {
    pub claim: &'a Claim,
    pub link: &'a Link,
    pub event: &'a Event,
    pub delivered: Option<&'a [u8]>,
    pub deleted: bool,
    pub read_revision: Option<i64>,
}

/// What one reconcile did, for the `events` log.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: &'static str,
    pub http_status: Option<u16>,
    pub latency_ms: f64,
    pub error: Option<String>,
    /// What the connector wants an operator to know of a success.
    pub note: Option<String>,
}

impl super::Store {
    /// Leases up to `limit` due rows (not leased, or whose lease ran out: a crashed worker's rows come
    /// back) of the `targets` named (those that may be called now). The lease is taken in one short
    /// statement.
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
        Ok(sqlx::query_as::<_, Claim>(
            "UPDATE sync_queue SET lease_until = ?2
             WHERE (resource_id, target) IN (
                 SELECT resource_id, target FROM sync_queue
                 WHERE state = 'pending' AND due_at <= ?1 AND (lease_until IS NULL OR lease_until < ?1)
                   AND target IN (SELECT value FROM json_each(?4))
                 ORDER BY due_at LIMIT ?3)
             RETURNING resource_id, target, generation, attempts",
        )
        .bind(Timestamp(now))
        .bind(Timestamp(lease_until))
        .bind(limit)
        .bind(serde_json::to_string(targets)?)
        .fetch_all(&self.write)
        .await?)
    }

    /// Frees every lease. Called when a worker starts: one `serve` works a database, so a lease still
    /// set is a killed process's, and its rows are due again now rather than when the lease runs out.
    pub async fn release_leases(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE sync_queue SET lease_until = NULL WHERE lease_until IS NOT NULL")
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    /// The earliest due time after `now` of a pending row, for the worker's next wake-up (rows due
    /// by `now` are already leased, or wait for a resting target). One probe of the due index.
    pub async fn next_due(&self, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, StoreError> {
        let rows: Vec<(Option<Timestamp>,)> =
            sqlx::query_as("SELECT min(due_at) FROM sync_queue WHERE state = 'pending' AND due_at > ?1")
                .bind(Timestamp(now))
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().next().and_then(|(d,)| d).map(|d| d.0))
    }

    /// What the worker needs to reconcile (user `id`, `target`), read in one statement: the user's
    /// document (`None` once deleted), whether it is in the target's scope, and the link.
    pub async fn sync_view(&self, id: &str, target: &str) -> Result<SyncView, StoreError> {
        let (scope, scope_binds) = self
            .targets
            .iter()
            .find(|t| t.name == target)
            .map_or(("0", &[][..]), |t| {
                t.scope
                    .as_ref()
                    .map_or(("1", &[][..]), |s| (s.text.as_str(), &s.binds[..]))
            });
        // Anonymous parameters only, bound in text order: the scope's own `?`s sit in the middle.
        let sql = format!(
            "SELECT (SELECT doc FROM users WHERE id = ?) AS doc,
                    EXISTS (SELECT 1 FROM users u WHERE u.id = ? AND ({scope})) AS in_scope,
                    l.state, l.remote_id, l.remote_key, l.pushed_hash, l.pushed_active, l.revision
             FROM (SELECT 1) LEFT JOIN links l ON l.resource_id = ? AND l.target = ?"
        );
        let mut binds = vec![Bind::Text(id.to_owned()), Bind::Text(id.to_owned())];
        binds.extend(scope_binds.iter().cloned());
        binds.extend([Bind::Text(id.to_owned()), Bind::Text(target.to_owned())]);
        let row: Option<ViewRow> = sqlx::query_as_with(&sql, arguments(&binds)?)
            .fetch_all(&self.read)
            .await?
            .pop();
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
        });
        Ok(SyncView {
            document,
            in_scope: row.in_scope,
            link,
            link_revision: row.revision,
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
        let mut tx = self.write.begin().await?;
        for success in successes {
            finish_one(&mut tx, success).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The sealed password waiting for (user, target), if any.
    pub async fn password_for(&self, resource_id: &str, target: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows: Vec<(Vec<u8>,)> =
            sqlx::query_as("SELECT sealed FROM password_handover WHERE resource_id = ?1 AND target = ?2")
                .bind(resource_id)
                .bind(target)
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().next().map(|(s,)| s))
    }

    /// Puts a leased row back, due at `due_at`, without counting an attempt (its target rests).
    pub async fn defer(&self, claim: &Claim, due_at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE sync_queue SET lease_until = NULL, due_at = ?3 WHERE resource_id = ?1 AND target = ?2")
            .bind(&claim.resource_id)
            .bind(&claim.target)
            .bind(Timestamp(due_at))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Failure: the row is due again at `retry_at`, or parked as dead when that is `None`. A row
    /// whose generation moved meanwhile (a newer change, `sync retry`) is only released: the newer
    /// Observe mode: the row's reconcile would write, so it waits as `planned` (not due) with the
    /// planned calls recorded as `event`, until the target writes again (`release_planned`). A newer
    /// change made meanwhile keeps the row pending: it is planned again.
    pub async fn park_planned(&self, claim: &Claim, event: &Event) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "UPDATE sync_queue SET state = 'planned', lease_until = NULL, attempts = 0, last_error = NULL
             WHERE resource_id = ?1 AND target = ?2 AND generation = ?3",
        )
        .bind(&claim.resource_id)
        .bind(&claim.target)
        .bind(claim.generation)
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, claim, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A target back in `write` mode: its planned rows are due now. Returns how many.
    pub async fn release_planned(&self, target: &str) -> Result<u64, StoreError> {
        let done =
            sqlx::query("UPDATE sync_queue SET state = 'pending', due_at = ?2 WHERE target = ?1 AND state = 'planned'")
                .bind(target)
                .bind(now_timestamp())
                .execute(&self.write)
                .await?;
        if done.rows_affected() > 0 {
            self.sync_wakeup.notify_one();
        }
        Ok(done.rows_affected())
    }

    /// work runs as queued, with no attempt counted against it.
    pub async fn finish_failure(
        &self,
        claim: &Claim,
        retry_at: Option<OffsetDateTime>,
        error: &str,
        event: &Event,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let counted = sqlx::query(
            "UPDATE sync_queue SET lease_until = NULL, attempts = attempts + 1, last_error = ?3,
                 state = CASE WHEN ?4 IS NULL THEN 'dead' ELSE 'pending' END, due_at = COALESCE(?4, due_at)
             WHERE resource_id = ?1 AND target = ?2 AND generation = ?5",
        )
        .bind(&claim.resource_id)
        .bind(&claim.target)
        .bind(error)
        .bind(retry_at.map(Timestamp))
        .bind(claim.generation)
        .execute(&mut *tx)
        .await?;
        if counted.rows_affected() == 0 {
            release(&mut tx, claim).await?;
        }
        insert_event(&mut tx, claim, event).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Frees a leased row, leaving it as it is otherwise.
async fn release(tx: &mut Transaction<'_, Sqlite>, claim: &Claim) -> Result<(), StoreError> {
    sqlx::query("UPDATE sync_queue SET lease_until = NULL WHERE resource_id = ?1 AND target = ?2")
        .bind(&claim.resource_id)
        .bind(&claim.target)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn finish_one(tx: &mut Transaction<'_, Sqlite>, success: &Success<'_>) -> Result<(), StoreError> {
    let Success {
        claim,
        link,
        event,
        delivered,
        deleted,
        read_revision,
    } = success;
    let current: Vec<(i64,)> = sqlx::query_as("SELECT revision FROM links WHERE resource_id = ?1 AND target = ?2")
        .bind(&claim.resource_id)
        .bind(&claim.target)
        .fetch_all(&mut **tx)
        .await?;
    if current.first().map(|(r,)| *r) != *read_revision {
        tracing::info!(target = %claim.target, resource = %claim.resource_id, "the link changed while the vendor call was in flight; it is kept and the row runs again");
        release(tx, claim).await?;
        return insert_event(tx, claim, event).await;
    }
    if let Some(sealed) = delivered {
        sqlx::query("DELETE FROM password_handover WHERE resource_id = ?1 AND target = ?2 AND sealed = ?3")
            .bind(&claim.resource_id)
            .bind(&claim.target)
            .bind(*sealed)
            .execute(&mut **tx)
            .await?;
    }
    upsert_link(tx, &claim.resource_id, &claim.target, link).await?;
    let cleared = sqlx::query("DELETE FROM sync_queue WHERE resource_id = ?1 AND target = ?2 AND generation = ?3")
        .bind(&claim.resource_id)
        .bind(&claim.target)
        .bind(claim.generation)
        .execute(&mut **tx)
        .await?;
    if cleared.rows_affected() == 0 {
        release(tx, claim).await?;
    }
    if *deleted {
        purge_tombstone(tx, &claim.resource_id).await?;
    }
    insert_event(tx, claim, event).await
}

async fn insert_event(tx: &mut Transaction<'_, Sqlite>, claim: &Claim, event: &Event) -> Result<(), StoreError> {
    let ids: Vec<(i64,)> = sqlx::query_as(
        "INSERT INTO events (at, target, resource_id, action, http_status, latency_ms, error, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         RETURNING id",
    )
    .bind(now_timestamp())
    .bind(&claim.target)
    .bind(&claim.resource_id)
    .bind(event.action)
    .bind(event.http_status.map(i64::from))
    .bind(event.latency_ms)
    .bind(&event.error)
    .bind(&event.note)
    .fetch_all(&mut **tx)
    .await?;
    // The log is bounded: every thousandth event, those beyond the newest EVENTS_KEPT go (a rowid
    // range delete).
    if let Some((id,)) = ids.first().filter(|(id,)| id % 1000 == 0) {
        sqlx::query("DELETE FROM events WHERE id <= ?1")
            .bind(id - EVENTS_KEPT)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// How many vendor-call events the `events` table keeps.
const EVENTS_KEPT: i64 = 100_000;
