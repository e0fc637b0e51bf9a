//! The sync worker: leases due rows, asks each target's connector to make the vendor match the user
//! as it is now, and records the outcome. Vendors are called outside any transaction; a row is
//! cleared in the same transaction that records the new link (shared/design.md), so a crash at any
//! point leaves either the row (retried) or the link (done).
use super::connectors::Connector;
use super::desired::{link_from_row, row_from_link, user_state};
use super::{client, ConnectorError, Desired, Link, LinkState};
use crate::config::{ConfigError, OnDelete, Settings, TargetSettings};
use crate::secrets::Sealer;
use crate::store::{Claim, Event, Store, StoreError};
use rand::Rng;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Rows leased per round, and how long a lease lasts before another worker may take the row.
const BATCH: i64 = 64;
const LEASE: Duration = Duration::from_secs(300);
/// Backoff: full jitter over `BASE * 2^attempts`, capped.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// The longest idle wait: rows made due by another process (`sync retry`, `sync resync`) cannot
/// wake this one, so it looks again this often (one probe of the due index).
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// After this many failures in a row, a target rests (no calls) for a backoff period.
const TARGET_FAILURES_BEFORE_REST: u32 = 5;

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Idle,
    Worked(usize),
}

struct Target {
    name: String,
    on_delete: OnDelete,
    takes_passwords: bool,
    connector: Connector,
    permits: Semaphore,
    concurrency: usize,
    failures: AtomicU32,
    resting_until: Mutex<Option<Instant>>,
}

pub struct Worker {
    store: Store,
    targets: Vec<Target>,
    sealer: Option<Sealer>,
}

/// What became of a claimed row.
enum Handled {
    Done(Reconciled),
    /// Its target rests after repeated failures: due again when the rest ends, no call made.
    Deferred(Duration),
}

/// A reconcile's result, with the sealed password it delivered (erased when the outcome is recorded).
struct Reconciled {
    link: Link,
    delivered: Option<Vec<u8>>,
    /// The user is deleted (its tombstone may go once every target is done).
    deleted: bool,
}

impl Worker {
    /// Builds every target's connector; a missing secret fails here, naming the key and variable.
    pub fn build(store: Store, settings: &Settings) -> Result<Self, ConfigError> {
        let http = client::http_client(Duration::from_secs(30))
            .map_err(|e| ConfigError::Invalid(format!("HTTP client: {e}")))?;
        let targets = settings
            .target
            .iter()
            .map(|t| target(t, http.clone()))
            .collect::<Result<_, _>>()?;
        let sealer = settings.sync.sealer()?;
        Ok(Self { store, targets, sealer })
    }

    /// One round: lease what is due (up to a batch), reconcile it, record the outcomes.
    pub async fn run_once(&self) -> Result<Outcome, StoreError> {
        let claims = self.claim(BATCH as usize).await?;
        if claims.is_empty() {
            return Ok(Outcome::Idle);
        }
        let results = futures_util::future::join_all(claims.iter().map(|c| self.handle(c))).await;
        results.into_iter().collect::<Result<Vec<()>, StoreError>>()?;
        Ok(Outcome::Worked(claims.len()))
    }

    /// Works until `stop` turns true. Rows are claimed as room frees up (not in rounds), so one slow
    /// vendor call never holds back the rows behind it; with nothing due, it waits for new work or
    /// the next due row.
    pub async fn run_until_stopped(self, mut stop: watch::Receiver<bool>) {
        let worker = Arc::new(self);
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
        // `low_water` are left, so the permits always find a row waiting.
        let low_water = worker.targets.iter().map(|t| t.concurrency).sum::<usize>().max(1);
        let room = low_water * 2;
        let mut in_flight = JoinSet::new();
        while !*stop.borrow() {
            let notified = wakeup.notified();
            if in_flight.len() <= low_water {
                let claimed = worker.claim(room - in_flight.len()).await.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "sync: cannot claim due rows");
                    Vec::new()
                });
                for claim in claimed {
                    let worker = worker.clone();
                    in_flight.spawn(async move {
                        if let Err(e) = worker.handle(&claim).await {
                            tracing::error!(error = %e, target = %claim.target, "sync: cannot record an outcome");
                        }
                    });
                }
            }
            if in_flight.len() > low_water {
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
        for target in &worker.targets {
            target.connector.shutdown().await;
        }
    }

    /// Leases up to `limit` due rows of targets that are not resting.
    async fn claim(&self, limit: usize) -> Result<Vec<Claim>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let resting: Vec<String> = self
            .targets
            .iter()
            .filter(|t| t.is_resting())
            .map(|t| t.name.clone())
            .collect();
        let now = time::OffsetDateTime::now_utc();
        let lease_until = crate::store::format_timestamp(now + LEASE);
        let limit = i64::try_from(limit).unwrap_or(BATCH);
        self.store
            .claim_due(&crate::store::format_timestamp(now), &lease_until, limit, &resting)
            .await
    }

    /// How long to wait for the next due row or the end of a target's rest (at most `IDLE_CHECK`).
    async fn until_next_due(&self) -> Duration {
        let now = time::OffsetDateTime::now_utc();
        let next_row = self
            .store
            .next_due(&crate::store::format_timestamp(now))
            .await
            .ok()
            .flatten()
            .and_then(|d| crate::scim::resource::parse_datetime(&d))
            .map(|at| Duration::try_from(at - now).unwrap_or(Duration::ZERO));
        let rest_ends = self.targets.iter().filter_map(Target::rest_left).min();
        [next_row, rest_ends]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(IDLE_CHECK)
            .clamp(Duration::from_millis(10), IDLE_CHECK)
    }

    async fn handle(&self, claim: &Claim) -> Result<(), StoreError> {
        let Some(target) = self.targets.iter().find(|t| t.name == claim.target) else {
            // A target removed from the configuration: its rows wait, visible to operators.
            return Ok(());
        };
        let started = Instant::now();
        let result = self.reconcile(target, claim).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(Handled::Deferred(rest)) => {
                let due = crate::store::format_timestamp(time::OffsetDateTime::now_utc() + rest);
                self.store.defer(claim, &due).await
            }
            Ok(Handled::Done(Reconciled {
                link,
                delivered,
                deleted,
            })) => {
                target.failures.store(0, Ordering::Relaxed);
                let event = Event {
                    action: "reconcile",
                    http_status: None,
                    latency_ms,
                    error: None,
                };
                metrics::counter!("scim_bridge_sync_reconciles_total", "target" => claim.target.clone(), "outcome" => "ok")
                    .increment(1);
                self.store
                    .finish_success(claim, &row_from_link(&link), &event, delivered.as_deref(), deleted)
                    .await
            }
            Err(error) => {
                let message = error.to_string();
                let retry_at = retry_at(&error, claim.attempts, target);
                tracing::warn!(target = %claim.target, resource = %claim.resource_id, retry = retry_at.is_some(), error = %message, "vendor call failed");
                let outcome = if retry_at.is_some() { "retry" } else { "dead" };
                metrics::counter!("scim_bridge_sync_reconciles_total", "target" => claim.target.clone(), "outcome" => outcome)
                    .increment(1);
                let event = Event {
                    action: "reconcile",
                    http_status: status_of(&error),
                    latency_ms,
                    error: Some(message.clone()),
                };
                self.store
                    .finish_failure(claim, retry_at.as_deref(), &message, &event)
                    .await
            }
        }
    }

    /// The level-triggered step: what should the vendor hold now, and what does the link say it holds.
    async fn reconcile(&self, target: &Target, claim: &Claim) -> Result<Handled, ConnectorError> {
        let transient = |e: StoreError| ConnectorError::Transient {
            target: target.name.clone(),
            detail: format!("store: {e}"),
            retry_after: None,
        };
        let id = claim.resource_id.as_str();
        let view = self.store.sync_view(id, &target.name).await.map_err(transient)?;
        let (user, in_scope) = (view.document, view.in_scope);
        let link = view.link.as_ref().map(link_from_row);
        let unlinked = link.as_ref().is_none_or(|l| l.state == LinkState::Gone);
        if unlinked && !in_scope {
            // Deleted or out of scope, and not at the vendor: nothing to create, nothing to remove.
            return Ok(Handled::Done(Reconciled {
                link: Link::gone(),
                delivered: None,
                deleted: user.is_none(),
            }));
        }
        let deleted = user.is_none();
        let (desired, delivered) = match user {
            Some(document) => self.desired(target, id, &document, in_scope).await?,
            // Deleted: the tombstone says who to deactivate where deleting is not wanted.
            None => match (target.on_delete, self.store.tombstone(id).await.map_err(transient)?) {
                (OnDelete::Deactivate, Some(document)) => {
                    let state = user_state(id, &document);
                    (Desired::Present(super::UserState { active: false, ..state }), None)
                }
                _ => (Desired::Absent, None),
            },
        };
        // The target's concurrency bounds vendor calls in flight, not the bridge's own reads. A target
        // that started resting while this row waited for a permit is not called at all.
        let _permit = target.permits.acquire().await;
        if let Some(rest) = target.rest_left() {
            return Ok(Handled::Deferred(rest));
        }
        if let (Desired::Present(state), true) = (&desired, unlinked) {
            // Recorded before the create: if we die after the vendor answered, we look up first.
            let creating = Link::creating(&state.email);
            self.store
                .save_link(id, &target.name, &row_from_link(&creating))
                .await
                .map_err(transient)?;
        }
        let link = target.connector.reconcile(&desired, link.as_ref()).await?;
        Ok(Handled::Done(Reconciled {
            link,
            delivered,
            deleted,
        }))
    }

    /// A live user's desired state at `target`, with the password waiting for it (opened from its
    /// seal, and returned sealed so that its delivery can be recorded).
    async fn desired(
        &self,
        target: &Target,
        id: &str,
        document: &crate::scim::resource::Document,
        in_scope: bool,
    ) -> Result<(Desired, Option<Vec<u8>>), ConnectorError> {
        let mut state = user_state(id, document);
        let desired = match (in_scope, target.on_delete) {
            (false, OnDelete::Delete) => return Ok((Desired::Absent, None)),
            (false, OnDelete::Deactivate) => {
                state.active = false;
                return Ok((Desired::Present(state), None));
            }
            (true, _) => state,
        };
        let (Some(sealer), true) = (&self.sealer, target.takes_passwords) else {
            return Ok((Desired::Present(desired), None));
        };
        let sealed = self
            .store
            .password_for(id, &target.name)
            .await
            .map_err(|e| ConnectorError::Transient {
                target: target.name.clone(),
                detail: format!("store: {e}"),
                retry_after: None,
            })?;
        let Some(sealed) = sealed else {
            return Ok((Desired::Present(desired), None));
        };
        let password = sealer
            .open(&sealed, id, &target.name)
            .map_err(|e| ConnectorError::Config {
                target: target.name.clone(),
                detail: e.to_string(),
            })?;
        Ok((
            Desired::Present(super::UserState {
                password: Some(password),
                ..desired
            }),
            Some(sealed),
        ))
    }
}

impl Target {
    fn is_resting(&self) -> bool {
        self.rest_left().is_some()
    }

    /// How long this target still rests, if it does.
    fn rest_left(&self) -> Option<Duration> {
        let resting = self.resting_until.lock().unwrap_or_else(|p| p.into_inner());
        resting
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }
}

/// When to try again, or `None` to park the row as dead. Repeated failures rest the whole target.
fn retry_at(error: &ConnectorError, attempts: i64, target: &Target) -> Option<String> {
    if !error.is_retryable() {
        return None;
    }
    let jitter = full_jitter(attempts);
    let wait = match error {
        ConnectorError::Transient {
            retry_after: Some(hint),
            ..
        } => (*hint).max(jitter),
        _ => jitter,
    };
    let failures = target.failures.fetch_add(1, Ordering::Relaxed) + 1;
    if failures >= TARGET_FAILURES_BEFORE_REST {
        let rest = full_jitter(i64::from(failures - TARGET_FAILURES_BEFORE_REST)).max(BACKOFF_BASE);
        *target.resting_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + rest);
    }
    Some(crate::store::format_timestamp(time::OffsetDateTime::now_utc() + wait))
}

/// A random wait in `[0, min(cap, base * 2^attempts)]` ("full jitter").
fn full_jitter(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let ceiling = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(BACKOFF_CAP);
    ceiling.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
}

fn status_of(error: &ConnectorError) -> Option<u16> {
    match error {
        ConnectorError::Permanent { status, .. } => *status,
        _ => None,
    }
}

fn target(settings: &TargetSettings, http: reqwest::Client) -> Result<Target, ConfigError> {
    Ok(Target {
        name: settings.name.clone(),
        on_delete: settings.on_delete.unwrap_or(OnDelete::Delete),
        takes_passwords: settings.takes_passwords(),
        connector: Connector::build(settings, http)?,
        permits: Semaphore::new(Connector::reconciles_in_flight(settings)),
        concurrency: Connector::reconciles_in_flight(settings),
        failures: AtomicU32::new(0),
        resting_until: Mutex::new(None),
    })
}
