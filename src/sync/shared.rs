//! A target's limits held together by every replica on one PostgreSQL database: its `concurrency`
//! as slots and its `rate_limit` as reserved call times, kept in the database
//! (`Store::take_slot`, `Store::reserve_call`). On SQLite one process serves the database and the
//! limits stay in the process (a semaphore, governor).
use crate::store::Store;
use std::time::Duration;

/// How long a slot is held without renewal (a killed replica's slot is free again after it).
const SLOT_LEASE: Duration = Duration::from_secs(30);
const SLOT_RENEWAL: Duration = Duration::from_secs(10);
/// How often a reconcile waiting for a slot looks again.
const SLOT_POLL: Duration = Duration::from_millis(25);

/// One target's share of the database.
#[derive(Clone, Debug)]
pub struct SharedLimits {
    store: Store,
    target: String,
    concurrency: usize,
}

impl SharedLimits {
    /// The shared limits of `target`, when `store` is one several replicas may share.
    pub fn of(store: &Store, target: &str, concurrency: usize) -> Option<Self> {
        store.is_shared().then(|| Self {
            store: store.clone(),
            target: target.to_owned(),
            concurrency,
        })
    }

    pub async fn prepare(&self) {
        if let Err(e) = self.store.prepare_slots(&self.target, self.concurrency).await {
            tracing::error!(error = %e, target = %self.target, "cannot record the target's concurrency slots");
        }
    }

    /// Waits for one of the target's slots; held (and renewed) until the guard is dropped. A
    /// database that does not answer does not stop the call: it is logged and the call goes on
    /// under this replica's own limit.
    pub async fn slot(&self) -> Option<SlotGuard> {
        let holder = uuid::Uuid::new_v4().to_string();
        loop {
            match self
                .store
                .take_slot(&self.target, self.concurrency, &holder, SLOT_LEASE)
                .await
            {
                Ok(Some(slot)) => return Some(SlotGuard::hold(self.clone(), slot, holder)),
                Ok(None) => tokio::time::sleep(SLOT_POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, target = %self.target, "cannot take a shared concurrency slot");
                    return None;
                }
            }
        }
    }

    /// Waits for the target's next call time under `rate_limit` calls per second.
    pub async fn wait_turn(&self, interval: Duration) {
        match self.store.reserve_call(&self.target, interval).await {
            Ok(wait) if !wait.is_zero() => tokio::time::sleep(wait).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, target = %self.target, "cannot reserve a call under the shared rate limit")
            }
        }
    }
}

/// A held slot: renewed in the background, freed when dropped.
pub struct SlotGuard {
    limits: SharedLimits,
    slot: i64,
    holder: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl SlotGuard {
    fn hold(limits: SharedLimits, slot: i64, holder: String) -> Self {
        let renewal = {
            let (limits, holder) = (limits.clone(), holder.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(SLOT_RENEWAL).await;
                    let renewed = limits.store.renew_slot(&limits.target, slot, &holder, SLOT_LEASE).await;
                    if let Err(e) = renewed {
                        tracing::warn!(error = %e, target = %limits.target, "cannot renew a shared concurrency slot");
                    }
                }
            })
        };
        Self {
            limits,
            slot,
            holder,
            renewal,
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.renewal.abort();
        let (limits, slot, holder) = (self.limits.clone(), self.slot, std::mem::take(&mut self.holder));
        tokio::spawn(async move {
            if let Err(e) = limits.store.free_slot(&limits.target, slot, &holder).await {
                tracing::warn!(error = %e, target = %limits.target, "cannot free a shared concurrency slot (it frees itself when its lease ends)");
            }
        });
    }
}
