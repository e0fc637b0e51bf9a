//! The worker's targets as a set a configuration reload replaces while the worker runs
//! (README "Reloading the configuration"). A target whose settings and secrets are unchanged is
//! kept as it is (its signed-in session, breaker and permits); a changed one is built anew and takes
//! over its predecessor's health, permits and busy vendor keys, so a reload neither resets a wait
//! the vendor imposed nor lets one user be reconciled twice at once. Chunks in flight finish on the
//! target they started with; a replaced connector is shut down (CyberArk's Logoff) once they have.
use super::target::Target;
use crate::store::Store;
use crate::sync::clock::Clock;
use crate::sync::target::{TargetError, TargetSettings};
use crate::sync::ConnectorError;
use arc_swap::ArcSwap;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How often a replaced target looks whether its last chunk has finished.
const RETIRE_CHECK: Duration = Duration::from_millis(200);

/// A handle on the worker's targets (cheap to clone; every clone sees a reload).
#[derive(Clone)]
pub struct TargetSet {
    current: Arc<ArcSwap<Vec<Arc<Target>>>>,
    store: Store,
    clock: Arc<Clock>,
    schema: &'static crate::scim::schema::ResourceSchema,
}

/// Targets built for a reload and not yet in use: dropping it changes nothing.
pub struct NextTargets {
    targets: Vec<Arc<Target>>,
    /// The names of the targets built anew (added, or changed).
    built: BTreeSet<String>,
}

impl TargetSet {
    pub(super) fn build(
        settings: &[TargetSettings],
        store: &Store,
        clock: &Arc<Clock>,
        schema: &'static crate::scim::schema::ResourceSchema,
    ) -> Result<Self, TargetError> {
        let targets = settings
            .iter()
            .map(|t| Target::build(t, clock, schema, store).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(targets)),
            store: store.clone(),
            clock: clock.clone(),
            schema,
        })
    }

    /// The targets now.
    pub(super) fn now(&self) -> Arc<Vec<Arc<Target>>> {
        self.current.load_full()
    }

    /// The targets `settings` describe: those named in `rebuild` (or not running yet) are built
    /// now, reading their secrets, the others are kept. Nothing changes until `install`.
    pub fn prepare(&self, settings: &[TargetSettings], rebuild: &BTreeSet<String>) -> Result<NextTargets, TargetError> {
        let current = self.now();
        let mut built = BTreeSet::new();
        let mut targets = Vec::with_capacity(settings.len());
        for t in settings {
            let running = current.iter().find(|r| r.name == t.name);
            match running {
                Some(running) if !rebuild.contains(&t.name) => targets.push(running.clone()),
                _ => {
                    let target = Target::build(t, &self.clock, self.schema, &self.store)?;
                    let target = match running {
                        Some(running) => target.succeeding(running),
                        None => target,
                    };
                    built.insert(t.name.clone());
                    targets.push(Arc::new(target));
                }
            }
        }
        Ok(NextTargets { targets, built })
    }

    /// Puts `next` to work. The targets built anew take up what is recorded for them and sign in
    /// at once, except one whose credentials the vendor refuses and whose secrets did not change
    /// (`refused_and_unchanged`): it keeps its wait, as a vault's lockout policy needs.
    pub async fn install(&self, next: NextTargets, refused_and_unchanged: &BTreeSet<String>) {
        let before = self.current.swap(Arc::new(next.targets));
        let now = self.now();
        for old in before.iter() {
            if !now.iter().any(|t| Arc::ptr_eq(t, old)) {
                retire(old.clone());
            }
        }
        let recorded = self.store.target_states().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the targets' recorded health");
            Vec::new()
        });
        for target in now.iter().filter(|t| next.built.contains(&t.name)) {
            if !before.iter().any(|old| old.name == target.name) {
                let row = recorded.iter().find(|r| r.target == target.name);
                target.restore(row, self.clock.now()).await;
            }
            self.take_up(target).await;
            if refused_and_unchanged.contains(&target.name) && target.health.snapshot().refused.is_some() {
                tracing::info!(target = %target.name, "the vendor refuses the credentials and they did not change: the next sign-in waits for the recorded wait");
                continue;
            }
            let (target, set) = (target.clone(), self.clone());
            tokio::spawn(async move { set.probe(&target).await });
        }
        self.store.sync_wakeup().notify_one();
    }

    /// What a target starts with: its share of the replicas' concurrency slots, and in write mode
    /// the rows it planned while it observed.
    pub(super) async fn take_up(&self, target: &Target) {
        if let Some(shared) = &target.shared {
            shared.prepare().await;
        }
        if target.observe {
            return;
        }
        match self.store.release_planned(&target.name).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(target = %target.name, rows = n, "mode is write: carrying out what was planned"),
            Err(e) => tracing::error!(target = %target.name, error = %e, "cannot take up the planned rows"),
        }
    }

    /// The target's read-only probe (`scim-bridge check`'s), logged. It is the target's sign-in
    /// attempt: a refusal puts it in `credentials_refused` at once; a success ends a refusal
    /// recorded before (the secret was fixed), and the rows that waited for it are due now.
    pub(super) async fn probe(&self, target: &Target) {
        // A call like any other: within the target's concurrency, shared with other replicas.
        let _permit = target.permits.acquire().await;
        let _slot = match &target.shared {
            Some(shared) => shared.slot().await,
            None => None,
        };
        match target.connector.check().await {
            Ok(what) => {
                tracing::info!(target = %target.name, probe = what, "the target answers");
                if target.health.signed_in() {
                    tracing::info!(target = %target.name, "the vendor takes the bridge's credentials again; waiting rows are due now");
                    if let Err(e) = self.store.waiting_due_now(&target.name).await {
                        tracing::error!(target = %target.name, error = %e, "cannot make the waiting rows due");
                    }
                }
            }
            Err(ConnectorError::CredentialsRefused { detail }) => target.refuse(&detail, true, self.clock.now()),
            Err(e) => {
                tracing::warn!(target = %target.name, error = %e, "the target's probe failed; its rows retry as usual")
            }
        }
        target.save_health(&self.store).await;
        self.store.sync_wakeup().notify_one();
    }
}

/// Shuts a replaced target's connector down once no chunk holds it any more.
fn retire(target: Arc<Target>) {
    tokio::spawn(async move {
        while Arc::strong_count(&target) > 1 {
            tokio::time::sleep(RETIRE_CHECK).await;
        }
        target.connector.shutdown().await;
        tracing::debug!(target = %target.name, "the replaced connector is shut down");
    });
}
