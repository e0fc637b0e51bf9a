//! The removal guard's side of the store (README "Removal guard"): removals counted per target over
//! a window, one count for every replica, and the held rows an operator releases or discards.
use super::claims::{insert_event, insert_events, release, Claim, Event};
use super::db::{args, Dialect};
use super::states::{EventAction, EventOutcome};
use super::sync_queue::purge_tombstone;
use super::{format_timestamp, Store, StoreError};
use std::time::Duration;

/// When a target's `max_removals` is unset: this many removals per window, or this share of the
/// target's linked users if that is more (README "Removal guard").
pub const DEFAULT_MAX_REMOVALS: u64 = 10;
pub const DEFAULT_REMOVAL_SHARE: f64 = 0.02;

/// A target's allowance: `max` removals per `window` (`Some(0)`: no guard; `None`: the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovalLimit {
    pub max: Option<u64>,
    pub window: Duration,
}

/// Whether a removal may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalVerdict {
    Go,
    /// `done` removals in the window already reached `limit`.
    Held {
        done: u64,
        limit: u64,
    },
}

impl Store {
    /// Takes one removal of `target`'s allowance for user `id`, or says it must be held. The count
    /// and the insert are one transaction, serialised per target (SQLite has one writer;
    /// PostgreSQL takes a transaction lock on the target's name), so replicas share the count.
    pub async fn take_removal(
        &self,
        target: &str,
        id: &str,
        limit: RemovalLimit,
    ) -> Result<RemovalVerdict, StoreError> {
        if limit.max == Some(0) {
            return Ok(RemovalVerdict::Go);
        }
        let mut tx = self.db.begin().await?;
        if tx.dialect() == Dialect::Postgres {
            let _: Vec<(String,)> = tx
                .rows("SELECT pg_advisory_xact_lock(hashtext($1))::text", args![target])
                .await?;
        }
        let now = self.clock().now_utc();
        let since = format_timestamp(now - limit.window);
        tx.execute(
            "DELETE FROM removals WHERE target = $1 AND at < $2",
            args![target, &since],
        )
        .await?;
        let (done,): (i64,) = tx
            .rows("SELECT count(*) FROM removals WHERE target = $1", args![target])
            .await?
            .pop()
            .unwrap_or((0,));
        let allowed = match limit.max {
            Some(max) => max,
            None => {
                let (linked,): (i64,) = tx
                    .rows(
                        "SELECT count(*) FROM links WHERE target = $1 AND state <> 'gone'",
                        args![target],
                    )
                    .await?
                    .pop()
                    .unwrap_or((0,));
                default_max_removals(u64::try_from(linked).unwrap_or(0))
            }
        };
        let done = u64::try_from(done).unwrap_or(0);
        let verdict = if done < allowed {
            tx.execute(
                "INSERT INTO removals (target, resource_id, at) VALUES ($1, $2, $3)",
                args![target, id, format_timestamp(now)],
            )
            .await?;
            RemovalVerdict::Go
        } else {
            RemovalVerdict::Held { done, limit: allowed }
        };
        tx.commit().await?;
        Ok(verdict)
    }

    /// Parks a leased row as `held` (not due) with `event` when it is newly held. A newer change
    /// made meanwhile keeps the row pending: the guard looks at it again.
    pub async fn hold(&self, claim: &Claim, event: Option<&Event>) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        let held = tx
            .execute(
                "UPDATE sync_queue SET state = 'held', guard = 'held', lease_until = NULL, attempts = 0, last_error = NULL
                 WHERE resource_id = $1 AND target = $2 AND generation = $3",
                args![&claim.resource_id, &claim.target, claim.generation],
            )
            .await?;
        if held == 0 {
            release(&mut tx, claim).await?;
        }
        if let Some(event) = event {
            insert_events(&mut tx, claim, std::slice::from_ref(event)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The held rows of `target` (or of user `id` there), oldest first: (user id, userName).
    pub async fn held_rows(&self, target: &str, id: Option<&str>) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, Option<String>, Option<String>)> = self
            .db
            .read(
                "SELECT q.resource_id, u.user_name, t.doc FROM sync_queue q
                 LEFT JOIN users u ON u.id = q.resource_id
                 LEFT JOIN user_tombstones t ON t.id = q.resource_id
                 WHERE q.target = $1 AND q.state = 'held' AND ($2 IS NULL OR q.resource_id = $2)
                 ORDER BY q.enqueued_at, q.resource_id",
                args![target, id],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, live, tombstone)| {
                // A deleted user is named by its last document.
                let deleted = tombstone
                    .and_then(|doc| serde_json::from_str::<serde_json::Value>(&doc).ok())
                    .and_then(|doc| doc.get("userName").and_then(|n| n.as_str()).map(str::to_owned));
                let name = live.or(deleted).unwrap_or_else(|| id.clone());
                (id, name)
            })
            .collect())
    }

    /// An operator lets held removals go (all of `target`'s, or user `id`'s): due now, past the guard.
    pub async fn release_held(&self, target: &str, id: Option<&str>) -> Result<u64, StoreError> {
        self.settle_held(target, id, Settle::Release).await
    }

    /// An operator drops held removals: the vendor keeps the users and the links stay.
    pub async fn discard_held(&self, target: &str, id: Option<&str>) -> Result<u64, StoreError> {
        self.settle_held(target, id, Settle::Discard).await
    }

    async fn settle_held(&self, target: &str, id: Option<&str>, settle: Settle) -> Result<u64, StoreError> {
        let mut tx = self.db.begin().await?;
        let ids: Vec<(String, Option<String>, Option<String>)> = tx
            .rows(
                &format!(
                    "SELECT q.resource_id, q.cause, l.remote_id FROM sync_queue q
                     LEFT JOIN links l ON l.resource_id = q.resource_id AND l.target = q.target
                     WHERE q.target = $1 AND q.state = 'held' AND ($2 IS NULL OR q.resource_id = $2){}",
                    match tx.dialect() {
                        Dialect::Sqlite => "",
                        Dialect::Postgres => " FOR UPDATE OF q",
                    }
                ),
                args![target, id],
            )
            .await?;
        let now = tx.now();
        for (resource_id, cause, remote_id) in &ids {
            let event = Event {
                remote_id: remote_id.clone(),
                note: Some(settle.note().to_owned()),
                ..Event::new(settle.action(), EventOutcome::Done)
            };
            match settle {
                Settle::Release => {
                    tx.execute(
                        "UPDATE sync_queue SET state = 'pending', guard = 'released', due_at = $3
                         WHERE resource_id = $1 AND target = $2",
                        args![resource_id, target, &now],
                    )
                    .await?;
                }
                Settle::Discard => {
                    tx.execute(
                        "DELETE FROM sync_queue WHERE resource_id = $1 AND target = $2",
                        args![resource_id, target],
                    )
                    .await?;
                    purge_tombstone(&mut tx, resource_id).await?;
                }
            }
            insert_event(&mut tx, target, resource_id, cause.as_deref(), &event).await?;
        }
        tx.commit().await?;
        if matches!(settle, Settle::Release) && !ids.is_empty() {
            self.sync_wakeup.notify_one();
        }
        Ok(ids.len() as u64)
    }
}

#[derive(Clone, Copy)]
enum Settle {
    Release,
    Discard,
}

impl Settle {
    fn action(self) -> EventAction {
        match self {
            Self::Release => EventAction::Released,
            Self::Discard => EventAction::Discarded,
        }
    }

    fn note(self) -> &'static str {
        match self {
            Self::Release => "held removal released by an operator: it goes ahead",
            Self::Discard => "held removal discarded by an operator: the vendor keeps the user",
        }
    }
}

/// The default allowance per window for a target with `linked` users.
pub fn default_max_removals(linked: u64) -> u64 {
    let share = (linked as f64 * DEFAULT_REMOVAL_SHARE).ceil() as u64;
    DEFAULT_MAX_REMOVALS.max(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_allowance_is_ten_or_two_percent_of_the_linked_users() {
        for (linked, allowed) in [(0, 10), (40, 10), (500, 10), (501, 11), (10_000, 200), (100_000, 2_000)] {
            assert_eq!(default_max_removals(linked), allowed, "{linked}");
        }
    }
}
