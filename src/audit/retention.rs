//! Retention (`audit.retain_days`): events and logged requests older than the policy are deleted
//! in small batches, oldest first, with a pause between batches, so SCIM writers never wait long
//! behind a prune (bench/retention.sh measures it).
use crate::store::Store;
use std::time::Duration;
use tokio::sync::watch;

/// Rows deleted per statement, per table.
pub const BATCH: i64 = 1_000;
/// The pause between two batches, leaving the writer to SCIM requests.
const PAUSE: Duration = Duration::from_millis(20);
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

    /// Deletes everything older than the policy, batch by batch; how many rows went.
    pub async fn prune_once(&self, stop: &mut watch::Receiver<bool>) -> Result<u64, crate::store::StoreError> {
        let before = self.store.clock().now_utc() - self.retain;
        let mut pruned = 0;
        loop {
            let rows = self.store.prune_audit(before, BATCH).await?;
            pruned += rows;
            metrics::counter!("scim_bridge_audit_pruned_rows_total").increment(rows);
            if rows == 0 || *stop.borrow() {
                return Ok(pruned);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
}
