//! Leasing due rows: the targets that may be called now, a probe for a half-open breaker, and
//! the rows cut into what one reconcile takes.
use super::{Leased, Worker, BATCH, IDLE_CHECK, LEASE};
use crate::store::StoreError;
use crate::sync::health::Claimable;
use std::time::{Duration, SystemTime};

impl Worker {
    /// Leases up to `limit` due rows of the targets that may be called now, and one probe row of
    /// each target whose open breaker has waited long enough.
    pub(super) async fn claim(&self, limit: usize) -> Result<Vec<Leased>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.adopt_shared_health().await;
        let now = self.clock.now();
        let (mut callable, mut probing, mut blocked_until) = (Vec::new(), Vec::new(), None);
        let targets = self.targets.now();
        for target in targets.iter() {
            match target.health.claimable(now) {
                Claimable::All => callable.push(target.name.as_str()),
                Claimable::Probe => probing.push(target),
                Claimable::Not(until) => {
                    blocked_until = Some(blocked_until.map_or(until, |b: SystemTime| b.min(until)))
                }
            }
        }
        let now = time::OffsetDateTime::from(now);
        let lease_until = now + LEASE;
        // Remembered even once it has passed: rows left due while a target waited are claimed
        // when it ends, not at the next idle check.
        *self.blocked_until.lock().unwrap_or_else(|p| p.into_inner()) = blocked_until;
        let limit = i64::try_from(limit).unwrap_or(BATCH);
        let mut leased: Vec<Leased> = self
            .store
            .claim_due(now, lease_until, limit, &callable)
            .await?
            .into_iter()
            .map(|claim| Leased { claim, probe: false })
            .collect();
        for target in probing {
            // Replicas send one probe between them; the others take up its verdict. The record
            // must say this replica's own opening first (a save that failed when it opened would
            // leave it closed there, and the probe refused for good).
            target.save_health(&self.store).await;
            if !self.store.take_probe(&target.name, now, lease_until).await? {
                continue;
            }
            let mut probed = false;
            for claim in self
                .store
                .claim_due(now, lease_until, 1, &[target.name.as_str()])
                .await?
            {
                target.probe_started();
                target.save_health(&self.store).await;
                leased.push(Leased { claim, probe: true });
                probed = true;
            }
            if !probed {
                self.store.release_probe(&target.name).await?;
            }
        }
        Ok(leased)
    }

    /// How long to wait for the next due row or for a target to become callable (at most `IDLE_CHECK`).
    pub(super) async fn until_next_due(&self) -> Duration {
        let now = self.clock.now();
        let next_row = self
            .store
            .next_due(now.into())
            .await
            .ok()
            .flatten()
            .map(|at| SystemTime::from(at).duration_since(now).unwrap_or(Duration::ZERO));
        let callable_again = self
            .blocked_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|until| until.duration_since(now).unwrap_or_default());
        [next_row, callable_again]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(IDLE_CHECK)
            .clamp(Duration::from_millis(10), IDLE_CHECK)
    }

    /// Claimed rows cut into what one reconcile takes: a target's rows together, up to its batch
    /// size; a probe alone.
    pub(super) fn chunks(&self, claimed: Vec<Leased>) -> Vec<Vec<Leased>> {
        let mut chunks: Vec<Vec<Leased>> = Vec::new();
        let mut open: Vec<(String, usize)> = Vec::new();
        let targets = self.targets.now();
        for leased in claimed {
            let size = targets
                .iter()
                .find(|t| t.name == leased.claim.target)
                .map_or(1, |t| t.batch_size);
            let joinable = open
                .iter()
                .find(|(target, at)| *target == leased.claim.target && chunks[*at].len() < size)
                .map(|(_, at)| *at);
            match joinable {
                Some(at) if !leased.probe => chunks[at].push(leased),
                _ => {
                    if !leased.probe && size > 1 {
                        open.push((leased.claim.target.clone(), chunks.len()));
                    }
                    chunks.push(vec![leased]);
                }
            }
        }
        chunks
    }
}
