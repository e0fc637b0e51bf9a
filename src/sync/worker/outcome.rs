//! Recording what a reconcile did: successes in one transaction, failures with their retry time
//! (full-jitter backoff) or parked as dead.
use super::{Finished, Worker};
use crate::store::{Claim, Event, EventAction, StoreError, Success};
use crate::sync::ConnectorError;
use rand::Rng;
use std::time::Duration;

/// Backoff of one row: full jitter over `BASE * 2^attempts`, capped. The cap is short because a
/// vendor that is down is the breaker's business (it stops all calls without counting attempts):
/// a row's own backoff only spreads out retries of failures that hit it alone. (With a 5-minute
/// cap, rows that met three or four random faults waited minutes after the vendor was fine.)
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

impl Worker {
    /// Records the rows whose vendor call succeeded, in one write transaction.
    pub(super) async fn succeeded(&self, done: Vec<(&Claim, Finished)>, latency_ms: f64) -> Result<(), StoreError> {
        let events: Vec<Event> = done
            .iter()
            .map(|(claim, finished)| {
                metrics::counter!("scim_bridge_sync_reconciles_total", "target" => claim.target.clone(), "outcome" => "ok")
                    .increment(1);
                Event {
                    action: finished.action,
                    http_status: None,
                    latency_ms,
                    error: None,
                    note: finished.note.clone(),
                }
            })
            .collect();
        let successes: Vec<Success> = done
            .iter()
            .zip(&events)
            .map(|((claim, finished), event)| Success {
                claim,
                link: &finished.link,
                event,
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
        error: &ConnectorError,
        latency_ms: f64,
    ) -> Result<(), StoreError> {
        let message = error.to_string();
        let retry_at = retry_at(error, claim.attempts, self.clock.now_utc());
        tracing::warn!(target = %claim.target, resource = %claim.resource_id, retry = retry_at.is_some(), error = %message, "vendor call failed");
        let outcome = if retry_at.is_some() { "retry" } else { "dead" };
        metrics::counter!("scim_bridge_sync_reconciles_total", "target" => claim.target.clone(), "outcome" => outcome)
            .increment(1);
        let event = Event {
            action: EventAction::Reconcile,
            http_status: status_of(error),
            latency_ms,
            error: Some(message.clone()),
            note: None,
        };
        self.store.finish_failure(claim, retry_at, &message, &event).await
    }
}

/// When to try again, or `None` to park the row as dead.
fn retry_at(error: &ConnectorError, attempts: i64, now: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
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
    Some(now + wait)
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
