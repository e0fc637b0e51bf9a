//! Recording what a reconcile did: one event per step carried out (docs/audit.md), successes in
//! one transaction, failures with their retry time (jittered backoff) or parked as dead.
use super::{Finished, Worker};
use crate::store::{Claim, Event, EventAction, EventOutcome, StoreError, Success};
use crate::sync::reconcile::Step;
use crate::sync::{ConnectorError, Failed};
use rand::Rng;
use std::time::Duration;

/// Backoff of one row: "equal jitter" over `BASE * 2^attempts`, capped: at least half the
/// ceiling, so a failed row is never tried again at once (full jitter, from zero, sometimes sent the
/// retry within milliseconds of the vendor's 500). The cap is short because a
/// vendor that is down is the breaker's business (it stops all calls without counting attempts):
/// a row's own backoff only spreads out retries of failures that hit it alone. (With a 5-minute
/// cap, rows that met three or four random faults waited minutes after the vendor was fine.)
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

impl Worker {
    /// Records the rows whose vendor call succeeded, in one write transaction.
    pub(super) async fn succeeded(&self, done: Vec<(&Claim, Finished)>, latency_ms: f64) -> Result<(), StoreError> {
        let events: Vec<Vec<Event>> = done
            .iter()
            .map(|(claim, finished)| {
                metrics::counter!("scim_bridge_sync_reconciles_total", "target" => claim.target.clone(), "outcome" => "ok")
                    .increment(1);
                finished_events(finished, latency_ms)
            })
            .collect();
        let successes: Vec<Success> = done
            .iter()
            .zip(&events)
            .map(|((claim, finished), events)| Success {
                claim,
                link: &finished.link,
                events,
                delivered: finished.delivered.as_deref(),
                deleted: finished.deleted,
                read_revision: finished.revision,
            })
            .collect();
        self.store.finish_successes(&successes).await
    }

    pub(super) async fn failed(
        &self,
        claim: &Claim,
        failed: &Failed,
        remote_id: Option<String>,
        latency_ms: f64,
    ) -> Result<(), StoreError> {
        let message = failed.error.to_string();
        let retry_at = retry_at(&failed.error, claim.attempts, self.clock.now_utc());
        tracing::warn!(target = %claim.target, resource = %claim.resource_id, request_id = claim.cause.as_deref().unwrap_or(""), retry = retry_at.is_some(), error = %failed, "vendor call failed");
        let outcome = if retry_at.is_some() { "retry" } else { "dead" };
        metrics::counter!("scim_bridge_sync_reconciles_total", "target" => claim.target.clone(), "outcome" => outcome)
            .increment(1);
        let outcome = match retry_at {
            Some(_) => EventOutcome::Retrying,
            None => EventOutcome::Failed,
        };
        let events = failure_events(failed, outcome, remote_id, latency_ms);
        self.store.finish_failure(claim, retry_at, &message, &events).await
    }
}

/// The events of a reconcile that succeeded: one per step, `unchanged` when it took none.
fn finished_events(finished: &Finished, latency_ms: f64) -> Vec<Event> {
    let base = Event {
        remote_id: finished.remote_id.clone(),
        latency_ms,
        ..Event::new(EventAction::Unchanged, EventOutcome::Done)
    };
    let mut events: Vec<Event> = finished
        .steps
        .iter()
        .flat_map(|step| step_events(step, finished.created.as_deref(), &base))
        .collect();
    if events.is_empty() {
        events.push(base);
    }
    if let Some(last) = events.last_mut() {
        last.note.clone_from(&finished.note);
    }
    events
}

/// The events of a reconcile that failed: the steps carried out before, then the one that failed
/// with the vendor's words (`lookup` when it failed before any step).
fn failure_events(failed: &Failed, outcome: EventOutcome, remote_id: Option<String>, latency_ms: f64) -> Vec<Event> {
    let base = Event {
        remote_id,
        latency_ms,
        ..Event::new(EventAction::Lookup, EventOutcome::Done)
    };
    let mut events: Vec<Event> = failed.done.iter().flat_map(|s| step_events(s, None, &base)).collect();
    let failing = Event {
        outcome,
        http_status: status_of(&failed.error),
        error: Some(failed.error.to_string()),
        ..base.clone()
    };
    match &failed.step {
        Some(step) => events.extend(step_events(step, None, &failing)),
        None => events.push(failing),
    }
    events
}

/// What one step records: its action and what it changed (an entitle step is a grant and/or a
/// revoke). `created`: a create's fields as sent.
fn step_events(step: &Step, created: Option<&str>, base: &Event) -> Vec<Event> {
    let event = |action, changes: Option<String>| Event {
        action,
        changes,
        ..base.clone()
    };
    match step {
        Step::Create => vec![event(EventAction::Create, created.map(str::to_owned))],
        Step::Adopt { id } => vec![Event {
            remote_id: Some(id.clone()),
            ..event(EventAction::Adopt, None)
        }],
        Step::Activate => vec![event(EventAction::Activate, None)],
        Step::Update { changes } => vec![event(EventAction::Update, Some(Step::describe_changes(changes)))],
        Step::Entitle { noun, add, remove } => {
            let named = |groups: &[String]| {
                groups
                    .iter()
                    .map(|g| format!("{noun} {g}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut events = Vec::new();
            if !add.is_empty() {
                events.push(event(EventAction::Grant, Some(named(add))));
            }
            if !remove.is_empty() {
                events.push(event(EventAction::Revoke, Some(named(remove))));
            }
            events
        }
        Step::Deactivate => vec![event(EventAction::Deactivate, None)],
        Step::Delete => vec![event(EventAction::Delete, None)],
    }
}

/// When to try again, or `None` to park the row as dead.
fn retry_at(error: &ConnectorError, attempts: i64, now: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
    if !error.is_retryable() {
        return None;
    }
    let jitter = equal_jitter(attempts);
    let wait = match error {
        ConnectorError::Transient {
            retry_after: Some(hint),
            ..
        } => (*hint).max(jitter),
        _ => jitter,
    };
    Some(now + wait)
}

/// A random wait in `[ceiling / 2, ceiling]`, where `ceiling = min(cap, base * 2^attempts)`
/// ("equal jitter").
fn equal_jitter(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let ceiling = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(BACKOFF_CAP);
    ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

fn status_of(error: &ConnectorError) -> Option<u16> {
    match error {
        ConnectorError::Permanent { status, .. } => *status,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_waits_at_least_half_its_ceiling_and_never_more_than_the_cap() {
        for _ in 0..1000 {
            let first = equal_jitter(0);
            assert!(first >= BACKOFF_BASE / 2 && first <= BACKOFF_BASE, "{first:?}");
            let late = equal_jitter(40);
            assert!(late >= BACKOFF_CAP / 2 && late <= BACKOFF_CAP, "{late:?}");
        }
    }
}
