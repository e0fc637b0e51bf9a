//! The sync worker: leases due rows, asks each target's connector to make the vendor match the user
//! as it is now, and records the outcome. Vendors are called outside any transaction; a row is
//! cleared in the same transaction that records the new link (docs/architecture.md), so a crash at any
//! point leaves either the row (retried) or the link (done).
//!
//! Each target has a circuit breaker and may be paused until a vendor's reset (`sync::health`).
//! A row that meets a wait of the bridge's own (a pause, an open breaker, another reconcile of the
//! same vendor key) is put back without counting an attempt; only a reconcile whose vendor call
//! failed counts, once, against the row and the breaker.
mod claim;
mod guard;
mod observe;
mod outcome;
mod rows;
mod target;
mod targets;

use super::clock::Clock;
use super::health::Verdict;
use super::reconcile::Step;
use super::target::{TargetError, TargetSettings};
use super::{ConnectorError, Desired, Failed, Link};
use crate::scim::schema::ResourceSchema;
use crate::secrets::Sealer;
use crate::store::{Claim, Store, StoreError};
use rows::{store_failure, Prepared, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use target::Target;
pub use targets::{NextTargets, TargetSet};
use tokio::sync::{watch, OnceCell};
use tokio::task::JoinSet;

/// Rows leased per round, and how long a lease lasts before another worker may take the row. A
/// worker renews the leases of the rows it works on every `LEASE_RENEWAL` while their calls are in
/// flight, so a lease runs out only when its worker is gone: another replica takes its rows over
/// within `LEASE`.
const BATCH: i64 = 64;
const LEASE: Duration = Duration::from_secs(30);
const LEASE_RENEWAL: Duration = Duration::from_secs(10);
/// The longest idle wait: rows made due by another process (`sync retry`, `sync resync`) cannot
/// wake this one, so it looks again this often (one probe of the due index).
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// How often a replica on a shared database takes up the breakers and resets the others recorded.
const SHARED_HEALTH_EVERY: Duration = Duration::from_secs(2);
/// How long a row waits while another reconcile of the same vendor key is in flight.
const BUSY_KEY_WAIT: Duration = Duration::from_millis(200);

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Idle,
    Worked(usize),
}

pub struct Worker {
    store: Store,
    targets: TargetSet,
    sealer: Option<Sealer>,
    clock: Arc<Clock>,
    /// The targets' health recorded before this process started, taken up once.
    restored: OnceCell<()>,
    /// With other replicas on the database (`Store::is_shared`): when their recorded health was last read.
    shared_health_read: std::sync::Mutex<Option<SystemTime>>,
    /// When the first target skipped by the last claim (paused or open) becomes callable.
    blocked_until: std::sync::Mutex<Option<SystemTime>>,
}

/// A leased row; `probe` when it is the one reconcile a half-open breaker lets through.
struct Leased {
    claim: Claim,
    probe: bool,
}

/// What became of a claimed row.
enum Handled {
    Done(Finished),
    /// Observe mode: the calls it would make, as a line for the event; the row waits as planned.
    Planned(String),
    /// A wait of the bridge's own: due again after it, no call made, nothing counted.
    Deferred(Duration),
    /// A removal the guard holds for an operator; the note when it is newly held (an event).
    Held(Option<String>),
    /// The vendor call failed (a step the vendor refused, or a look-up), after the steps it names.
    Failed {
        failed: Failed,
        remote_id: Option<String>,
    },
}

/// A reconcile's result, with the sealed password it delivered (erased when the outcome is recorded).
struct Finished {
    /// The steps carried out (none: nothing the vendor holds changed, no call).
    steps: Vec<Step>,
    /// A create's fields as sent, for its event.
    created: Option<String>,
    /// The vendor's id of the user (before a delete, the one it had).
    remote_id: Option<String>,
    link: Link,
    /// The connector's word for the operator.
    note: Option<String>,
    delivered: Option<Vec<u8>>,
    /// The user is deleted (its tombstone may go once every target is done).
    deleted: bool,
    /// The link's revision as this reconcile read or wrote it (see `Store::finish_successes`).
    revision: Option<i64>,
}

impl Worker {
    /// Builds every target's connector; a missing secret fails here, naming the key and variable.
    /// `schema` is the User schema the targets' mappings read; `sealer` opens held passwords.
    pub fn build(
        store: Store,
        targets: &[TargetSettings],
        schema: &'static ResourceSchema,
        sealer: Option<Sealer>,
    ) -> Result<Self, TargetError> {
        // The store's clock: rows it queues and leases the worker takes are read in one time.
        let clock = store.clock();
        let targets = TargetSet::build(targets, &store, &clock, schema)?;
        Ok(Self {
            store,
            targets,
            sealer,
            clock,
            restored: OnceCell::new(),
            shared_health_read: std::sync::Mutex::new(None),
            blocked_until: std::sync::Mutex::new(None),
        })
    }

    /// On a shared database, every `SHARED_HEALTH_EVERY`: takes up an open breaker or a vendor's reset
    /// that another replica recorded, so that it stops calling that vendor too.
    async fn adopt_shared_health(&self) {
        if !self.store.is_shared() {
            return;
        }
        let now = self.clock.now();
        {
            let mut last = self.shared_health_read.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| now.duration_since(at).unwrap_or_default() < SHARED_HEALTH_EVERY) {
                return;
            }
            *last = Some(now);
        }
        match self.store.target_states().await {
            Ok(rows) => {
                for target in self.targets.now().iter() {
                    target.adopt(rows.iter().find(|r| r.target == target.name), now).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the other replicas' recorded target health"),
        }
    }

    /// Takes up each target's health as recorded in `target_state` (once).
    async fn restore(&self) {
        self.restored
            .get_or_init(|| async {
                match self.store.target_states().await {
                    Ok(rows) => {
                        for target in self.targets.now().iter() {
                            let row = rows.iter().find(|r| r.target == target.name);
                            target.restore(row, self.clock.now()).await;
                            self.targets.take_up(target).await;
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the targets' recorded health"),
                }
            })
            .await;
    }

    /// At start, each target's read-only probe (`scim-bridge check`'s), logged per target. It is the
    /// target's sign-in attempt: a refusal puts it in `credentials_refused` at once; a success ends
    /// a refusal recorded before the restart (the secret was fixed), and the rows that waited for
    /// it are due now.
    pub async fn probe_targets(&self) {
        self.restore().await;
        let targets = self.targets.now();
        futures_util::future::join_all(targets.iter().map(|target| self.targets.probe(target))).await;
    }

    /// Resolves each target's entitlement names to vendor ids at start, so that a name the vendor
    /// does not have is said at once (ERROR), not at the first member's row. A vendor that cannot
    /// be reached now is tried again by the rows themselves.
    async fn resolve_grants(&self) {
        let targets = self.targets.now();
        let resolving = targets.iter().filter(|t| !t.entitlements.is_empty()).map(|target| async move {
            match target.connector.resolve_grants().await {
                Ok(()) => tracing::info!(target = %target.name, "entitlement rules: every vendor group and profile they name exists"),
                Err(e) => tracing::error!(target = %target.name, error = %e, "entitlement rules: cannot resolve the vendor names they give (`scim-bridge check --target` says the same)"),
            }
        });
        futures_util::future::join_all(resolving).await;
    }

    /// The targets, for a configuration reload to replace while the worker runs.
    pub fn target_set(&self) -> TargetSet {
        self.targets.clone()
    }

    /// The worker's clock (tests move it forward).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// One round: lease what is due (up to a batch), reconcile it, record the outcomes.
    pub async fn run_once(&self) -> Result<Outcome, StoreError> {
        self.restore().await;
        let claims = self.claim(BATCH as usize).await?;
        if claims.is_empty() {
            return Ok(Outcome::Idle);
        }
        let count = claims.len();
        let chunks = self.chunks(claims);
        let results = futures_util::future::join_all(chunks.into_iter().map(|c| self.handle(c))).await;
        results.into_iter().collect::<Result<Vec<()>, StoreError>>()?;
        Ok(Outcome::Worked(count))
    }

    /// Works until `stop` turns true. Rows are claimed as room frees up (not in rounds), so one slow
    /// vendor call never holds back the rows behind it; with nothing due, it waits for new work or
    /// the next due row.
    pub async fn run_until_stopped(self, mut stop: watch::Receiver<bool>) {
        let worker = Arc::new(self);
        worker.restore().await;
        let probing = worker.clone();
        tokio::spawn(async move { probing.probe_targets().await });
        let resolving = worker.clone();
        tokio::spawn(async move { resolving.resolve_grants().await });
        let wakeup = worker.store.sync_wakeup();
        match worker.store.release_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                rows = n,
                "rows leased by a process that stopped without finishing are due again"
            ),
            Err(e) => tracing::error!(error = %e, "cannot release stale leases"),
        }
        // Up to `room` rows are held; more are claimed (several in one statement) once no more than
        // `low_water` are left, so the permits always find a row (or a full batch) waiting.
        let held = Arc::new(AtomicUsize::new(0));
        let mut in_flight = JoinSet::new();
        while !*stop.borrow() {
            // A reload may change the targets, and with them the room.
            let low_water = worker
                .targets
                .now()
                .iter()
                .map(|t| t.concurrency * t.batch_size)
                .sum::<usize>()
                .max(1);
            let room = low_water * 2;
            let notified = wakeup.notified();
            if held.load(Ordering::SeqCst) <= low_water {
                let claimed = worker
                    .claim(room - held.load(Ordering::SeqCst))
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "sync: cannot claim due rows");
                        Vec::new()
                    });
                for chunk in worker.chunks(claimed) {
                    let rows = Held::new(&held, chunk.len());
                    let worker = worker.clone();
                    in_flight.spawn(async move {
                        let target = chunk[0].claim.target.clone();
                        if let Err(e) = worker.handle(chunk).await {
                            tracing::error!(error = %e, target = %target, "sync: cannot record an outcome");
                        }
                        drop(rows);
                    });
                }
            }
            if held.load(Ordering::SeqCst) > low_water {
                in_flight.join_next().await;
                continue;
            }
            let wait = worker.until_next_due().await;

            tokio::select! {
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {},
                () = notified => {},
                () = tokio::time::sleep(wait) => {},
                _ = stop.changed() => {},
            }
        }
        // Stopping: calls already sent are finished and recorded; nothing new is claimed.
        while in_flight.join_next().await.is_some() {}
        for target in worker.targets.now().iter() {
            target.connector.shutdown().await;
        }
    }

    /// Reconciles one chunk of a target's rows: each is prepared, the ready ones go to the
    /// connector together under one permit, and every outcome is recorded on its own row. The
    /// breaker hears the chunk once (a batch call that failed is one failure, not a hundred).
    async fn handle(&self, chunk: Vec<Leased>) -> Result<(), StoreError> {
        let targets = self.targets.now();
        let Some(target) = chunk
            .first()
            .and_then(|l| targets.iter().find(|t| t.name == l.claim.target))
        else {
            // Only configured targets are claimed; one a reload removed since is done with them.
            for leased in &chunk {
                self.store.defer(&leased.claim, self.clock.now_utc()).await?;
            }
            return Ok(());
        };
        let probe = chunk.iter().any(|l| l.probe);
        let started = Instant::now();
        let results = self
            .renewing_leases(&chunk, self.reconcile(target, &chunk, probe))
            .await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        // A refusal of the credentials already opened the breaker (`call_vendor`).
        if !results.iter().any(is_refusal) {
            target.record(verdict_of(&results), probe, self.clock.now());
        }
        let mut done = Vec::new();
        let mut others = Vec::new();
        for (leased, result) in chunk.iter().zip(results) {
            match result {
                Ok(Handled::Done(finished)) => done.push((&leased.claim, finished)),
                other => others.push((&leased.claim, other)),
            }
        }
        let others = others.into_iter().map(|(claim, result)| async move {
            match result {
                Ok(Handled::Deferred(wait)) | Err(ConnectorError::Deferred { wait, .. }) => {
                    self.store.defer(claim, self.clock.now_utc() + wait).await
                }
                // Nothing was sent (the sign-in failed): the row waits for the next sign-in, and
                // a create recorded as on its way is forgotten.
                Err(ConnectorError::CredentialsRefused { .. }) => {
                    self.store.undo_creating(claim).await?;
                    self.store.defer(claim, self.clock.now_utc() + target.auth_retry).await
                }
                Err(error) => self.failed(claim, &Failed::from(error), None, latency_ms).await,
                Ok(Handled::Failed { failed, remote_id }) => self.failed(claim, &failed, remote_id, latency_ms).await,
                Ok(Handled::Planned(calls)) => self.planned(claim, calls, latency_ms).await,
                Ok(Handled::Held(note)) => self.held(claim, note).await,
                Ok(Handled::Done(_)) => Ok(()),
            }
        });
        let (succeeded, others) =
            futures_util::future::join(self.succeeded(done, latency_ms), futures_util::future::join_all(others)).await;
        target.save_health(&self.store).await;
        if probe {
            // The verdict is recorded: the other replicas take it up, or the next probe may go.
            if let Err(e) = self.store.release_probe(&target.name).await {
                tracing::warn!(target = %target.name, error = %e, "cannot give back the probe; it lapses after the lease");
            }
        }
        succeeded.and(others.into_iter().collect())
    }

    /// Runs `work` on `chunk`'s rows, renewing their leases every `LEASE_RENEWAL` until it is done.
    async fn renewing_leases<T>(&self, chunk: &[Leased], work: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(work);
        let mut renewal = tokio::time::interval_at(tokio::time::Instant::now() + LEASE_RENEWAL, LEASE_RENEWAL);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = renewal.tick() => {
                    let claims: Vec<&Claim> = chunk.iter().map(|l| &l.claim).collect();
                    match self.store.renew_leases(&claims, self.clock.now_utc() + LEASE).await {
                        Err(e) => tracing::warn!(error = %e, "sync: cannot renew leases; another replica may take these rows over"),
                        Ok(held) if held < claims.len() as u64 => tracing::debug!(
                            renewed = held,
                            leased = claims.len(),
                            "sync: some rows of this chunk were finished or taken over by another replica since"
                        ),
                        Ok(_) => {}
                    }
                }
            }
        }
    }

    /// The chunk's outcomes, in order: rows settled without a call, and the connector's answers.
    async fn reconcile(&self, target: &Target, chunk: &[Leased], probe: bool) -> Vec<Result<Handled, ConnectorError>> {
        let mut results: Vec<Option<Result<Handled, ConnectorError>>> = Vec::with_capacity(chunk.len());
        let mut ready: Vec<(usize, Ready)> = Vec::new();
        // The rows are read side by side (the store's pool serves them at once).
        let prepared = futures_util::future::join_all(chunk.iter().map(|l| self.prepare(target, &l.claim))).await;
        for (n, prepared) in prepared.into_iter().enumerate() {
            match prepared {
                Ok(Prepared::Settled(handled)) => results.push(Some(Ok(handled))),
                Ok(Prepared::Ready(row)) => {
                    results.push(None);
                    ready.push((n, row));
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        if !ready.is_empty() {
            for (n, result) in self.call_vendor(target, chunk, ready, probe).await {
                results[n] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Ok(Handled::Deferred(BUSY_KEY_WAIT))))
            .collect()
    }

    /// The vendor call for the ready rows of a chunk, within the target's concurrency. A target
    /// that paused or opened while the rows waited for a permit is not called at all.
    async fn call_vendor(
        &self,
        target: &Target,
        chunk: &[Leased],
        ready: Vec<(usize, Ready<'_>)>,
        probe: bool,
    ) -> Vec<(usize, Result<Handled, ConnectorError>)> {
        let _permit = target.permits.acquire().await;
        // With other replicas on the database, a slot of the target's concurrency is theirs too.
        let _slot = match &target.shared {
            Some(shared) => shared.slot().await,
            None => None,
        };
        if let Some(wait) = target.health.admit(probe, self.clock.now()) {
            return ready
                .into_iter()
                .map(|(n, _)| (n, Ok(Handled::Deferred(wait))))
                .collect();
        }
        if target.observe {
            let planned = self.observe(target, ready).await;
            self.refuse_on_refusal(target, planned.iter().map(|(_, r)| r), probe);
            return planned;
        }
        let (mut settled, ready) = self.guard_removals(target, chunk, ready).await;
        // Creates are recorded before they are sent: if we die after the vendor answered, the
        // next reconcile looks the user up first.
        let saves = ready.iter().map(|(n, row)| async move {
            let Desired::Present(state) = &row.desired else {
                return None;
            };
            if !row.unlinked {
                return None;
            }
            // The key the create is sent with: after an unknown outcome and a rename, the next
            // reconcile looks the user up under it before creating anything.
            let creating = Link::creating(target.connector.key(state));
            Some(
                self.store
                    .save_link(&chunk[*n].claim.resource_id, &target.name, &creating)
                    .await,
            )
        });
        let saved = futures_util::future::join_all(saves).await;
        let mut sending = Vec::with_capacity(ready.len());
        for ((n, mut row), save) in ready.into_iter().zip(saved) {
            match save {
                Some(Err(e)) => settled.push((n, Err(store_failure(e)))),
                Some(Ok(revision)) => {
                    row.revision = Some(revision);
                    sending.push((n, row));
                }
                None => sending.push((n, row)),
            }
        }
        let ready = sending;
        // Once more, with nothing between this and the call: while the rows' links were saved, a
        // chunk alongside may have met a refusal of the credentials (one sign-in per wait). The
        // rows go back as they were, their `creating` links forgotten (nothing was sent).
        if let Some(wait) = target.health.admit(probe, self.clock.now()) {
            for (n, row) in ready {
                let undone = match row.unlinked {
                    true => self.store.undo_creating(&chunk[n].claim).await.map_err(store_failure),
                    false => Ok(()),
                };
                settled.push((n, undone.map(|()| Handled::Deferred(wait))));
            }
            return settled;
        }
        let batch: Vec<(Desired, Option<Link>)> =
            ready.iter().map(|(_, r)| (r.desired.clone(), r.link.clone())).collect();
        let answers = target.connector.reconcile_batch(&batch).await;
        let refusal = answers.iter().find_map(|a| match a {
            Err(Failed {
                error: error @ ConnectorError::CredentialsRefused { .. },
                ..
            }) => Some(Err::<(), _>(error.clone())),
            _ => None,
        });
        self.refuse_on_refusal(target, refusal.iter(), probe);
        settled.extend(ready.into_iter().zip(answers).map(|((n, row), answer)| {
            let linked_id = row.link.as_ref().and_then(|l| l.remote_id.clone());
            let handled = match answer {
                Ok(reconciled) => Ok(Handled::Done(Finished {
                    note: reconciled.operator_note(),
                    created: created_fields(&row.desired, &reconciled.steps),
                    remote_id: reconciled.link.remote_id.clone().or(linked_id),
                    steps: reconciled.steps,
                    link: reconciled.link,
                    delivered: row.delivered,
                    deleted: row.deleted,
                    revision: row.revision,
                })),
                // Nothing was sent, or the bridge chose to wait: the row goes back as it was.
                Err(Failed {
                    error: error @ (ConnectorError::CredentialsRefused { .. } | ConnectorError::Deferred { .. }),
                    ..
                }) => Err(error),
                Err(failed) => Ok(Handled::Failed {
                    failed,
                    remote_id: linked_id,
                }),
            };
            (n, handled)
        }));
        settled
    }
}

impl Worker {
    /// Opens the target's breaker if the vendor refused the bridge's credentials, before the permit
    /// goes to a chunk waiting for it: that one must meet the open breaker, not sign in again.
    fn refuse_on_refusal<'r, T: 'r>(
        &self,
        target: &Target,
        mut results: impl Iterator<Item = &'r Result<T, ConnectorError>>,
        probe: bool,
    ) {
        if let Some(Err(ConnectorError::CredentialsRefused { detail })) = results.find(|r| is_refusal(r)) {
            target.refuse(detail, probe, self.clock.now());
        }
    }
}

fn is_refusal<T>(result: &Result<T, ConnectorError>) -> bool {
    matches!(result, Err(ConnectorError::CredentialsRefused { .. }))
}

/// What the breaker hears of a chunk: answered if the vendor answered any of it, failed if a call
/// failed and none was answered, nothing if every row waited.
fn verdict_of(results: &[Result<Handled, ConnectorError>]) -> Verdict {
    let verdicts = results.iter().map(|result| match result {
        Ok(Handled::Done(_) | Handled::Planned(_)) => Verdict::Answered,
        Ok(Handled::Failed { failed, .. }) if failed.error.is_retryable() => Verdict::Failed,
        Ok(Handled::Failed { .. }) => Verdict::Answered,
        Ok(Handled::Deferred(_) | Handled::Held(_)) | Err(ConnectorError::Deferred { .. }) => Verdict::None,
        Err(e) if e.is_retryable() => Verdict::Failed,
        Err(_) => Verdict::Answered,
    });
    verdicts.fold(Verdict::None, |chunk, row| match (chunk, row) {
        (Verdict::Answered, _) | (_, Verdict::Answered) => Verdict::Answered,
        (Verdict::Failed, _) | (_, Verdict::Failed) => Verdict::Failed,
        _ => Verdict::None,
    })
}

/// What a create sent (`name: "value"`: the identity, then the mapped fields SCIM holds a value
/// for), for its event. A password is never among them.
fn created_fields(desired: &Desired, steps: &[Step]) -> Option<String> {
    let Desired::Present(user) = desired else {
        return None;
    };
    if !steps.contains(&Step::Create) {
        return None;
    }
    let identity = [
        ("userName", user.user_name.as_str()),
        ("email", user.email.as_str()),
        ("name.givenName", user.given_name.as_str()),
        ("name.familyName", user.family_name.as_str()),
    ];
    let sent: Vec<String> = identity
        .into_iter()
        .chain(user.fields.pairs())
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}: {value:?}"))
        .collect();
    Some(sent.join(", ")).filter(|s| !s.is_empty())
}

/// Counts a chunk's rows as held until dropped (also when its task panics).
struct Held {
    count: Arc<AtomicUsize>,
    rows: usize,
}

impl Held {
    fn new(count: &Arc<AtomicUsize>, rows: usize) -> Self {
        count.fetch_add(rows, Ordering::SeqCst);
        Self {
            count: count.clone(),
            rows,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.count.fetch_sub(self.rows, Ordering::SeqCst);
    }
}
