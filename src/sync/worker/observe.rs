//! Observe mode (`mode = "observe"`, README "Rehearsing"): a target's rows are reconciled as far as
//! the connector's read-only look-ups (`sync plan`), and whatever would be written is recorded as a
//! `planned` event with the diff; the row waits as planned until the target writes again, when the
//! worker carries the plans out (the rows are reconciled afresh, so nothing stale is written).
use super::rows::Ready;
use super::target::Target;
use super::{Finished, Handled, Worker};
use crate::store::{Claim, Event, EventAction, EventOutcome, StoreError};
use crate::sync::reconcile::Step;
use crate::sync::{ConnectorError, Desired, Link};

impl Worker {
    /// The plans of the ready rows, decided as the write path decides: in sync ones are done, the
    /// others wait as planned.
    pub(super) async fn observe(
        &self,
        target: &Target,
        ready: Vec<(usize, Ready<'_>)>,
    ) -> Vec<(usize, Result<Handled, ConnectorError>)> {
        let batch: Vec<(Desired, Option<Link>)> =
            ready.iter().map(|(_, r)| (r.desired.clone(), r.link.clone())).collect();
        let plans = target.connector.plan_batch(&batch).await;
        ready
            .into_iter()
            .zip(plans)
            .map(|((n, row), planned)| {
                let outcome = planned.map(|steps| {
                    if !steps.is_empty() {
                        return Handled::Planned(Step::describe_all(&steps));
                    }
                    let link = match (&row.desired, &row.link) {
                        (Desired::Present(_) | Desired::Retired, Some(link)) => link.clone(),
                        _ => Link::gone(),
                    };
                    Handled::Done(Finished {
                        steps: Vec::new(),
                        created: None,
                        remote_id: link.remote_id.clone(),
                        link,
                        note: None,
                        delivered: None,
                        deleted: row.deleted,
                        revision: row.revision,
                    })
                });
                (n, outcome)
            })
            .collect()
    }

    /// Records an observed row's planned calls; the row waits for `mode = "write"`.
    pub(super) async fn planned(&self, claim: &Claim, calls: String, latency_ms: f64) -> Result<(), StoreError> {
        tracing::info!(target = %claim.target, resource = %claim.resource_id, planned = %calls, "observe mode: planned, not written");
        metrics::counter!("scim_bridge_sync_reconciles_total", "target" => claim.target.clone(), "outcome" => "planned")
            .increment(1);
        let event = Event {
            latency_ms,
            note: Some(calls),
            ..Event::new(EventAction::Planned, EventOutcome::Planned)
        };
        self.store.park_planned(claim, &event).await
    }
}
