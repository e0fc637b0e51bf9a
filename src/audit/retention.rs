//! Retention (`audit.retain_days`): events and logged requests older than the policy are deleted
//! in small batches, oldest first, with a pause between batches, so SCIM writers never wait long
//! behind a prune (bench/retention.sh measures it).
use crate::store::{AuditTable, Store};
use std::time::Duration;
use tokio::sync::watch;

/// Rows deleted per statement: a batch holds the one writer a few milliseconds
/// (bench/retention.sh: 1,000 a statement put SCIM writes' p99 at 5x).
pub const BATCH: i64 = 200;
/// The least pause between two batches, leaving the writer to SCIM requests.
const PAUSE: Duration = Duration::from_millis(20);
/// The pause is at least this many times what the batch took, so pruning takes at most a fifth
/// of the writer's time however slow the disk.
const PAUSE_FACTOR: u32 = 4;
/// How often the policy is applied.
const EVERY: Duration = Duration::from_secs(600);
/// The first run waits this long after start, so that start-up is not slowed by it.
const FIRST: Duration = Duration::from_secs(5);

pub struct Pruner {
    store: Store,
    retain: time::Duration,
}

impl Pruner {
    /// `None` when `retain_days` is 0 (kept forever).
    pub fn new(store: Store, retain_days: u32) -> Option<Self> {
        (retain_days > 0).then(|| Self {
            store,
            retain: time::Duration::days(i64::from(retain_days)),
        })
    }

    /// Applies the policy now and then every `EVERY`, until `stop` turns true.
    pub async fn run_until_stopped(self, mut stop: watch::Receiver<bool>) {
        let mut wait = FIRST;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            match self.prune_once(&mut stop).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "audit retention: pruned events and requests past the policy"),
                Err(e) => tracing::warn!(error = %e, "audit retention: cannot prune; tried again later"),
            }
            wait = EVERY;
        }
    }

    /// Deletes everything older than the policy, batch by batch, table after table; how many rows
    /// went.
    pub async fn prune_once(&self, stop: &mut watch::Receiver<bool>) -> Result<u64, crate::store::StoreError> {
        let before = self.store.clock().now_utc() - self.retain;
        let mut pruned = 0;
        for table in AuditTable::ALL {
            loop {
                let started = std::time::Instant::now();
                let rows = self.store.prune_audit(table, before, BATCH).await?;
                pruned += rows;
                metrics::counter!("scim_bridge_audit_pruned_rows_total").increment(rows);
                if *stop.borrow() {
                    return Ok(pruned);
                }
                if rows == 0 {
                    break;
                }
                tokio::time::sleep(PAUSE.max(started.elapsed() * PAUSE_FACTOR)).await;
            }
        }
        Ok(pruned)
    }
}
