//! One user at a time, for a vendor's own tests: the write path as the worker runs it.
use super::{plan, write, Step};
use crate::sync::vendor::Vendor;
use crate::sync::{ConnectorError, Desired, Link, Reconciled};

#[allow(async_fn_in_trait)]
pub(crate) trait Reconcile: Vendor {
    /// Makes the vendor hold `desired`, given what `link` says it holds; the new link.
    async fn reconcile(&self, desired: &Desired, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let batch = [(desired.clone(), link.cloned())];
        let mut written = write(self, &batch).await;
        written
            .pop()
            .map_or_else(|| Ok(Link::gone()), |r| r.map(|r| r.link).map_err(|f| f.error))
    }

    async fn reconcile_batch(&self, batch: &[(Desired, Option<Link>)]) -> Vec<Result<Reconciled, ConnectorError>> {
        let written = write(self, batch).await;
        written.into_iter().map(|r| r.map_err(|f| f.error)).collect()
    }

    /// The steps `sync plan` reports for `desired`.
    async fn plan_one(&self, desired: &Desired, link: Option<&Link>) -> Result<Vec<Step>, ConnectorError> {
        let batch = [(desired.clone(), link.cloned())];
        plan(self, &batch).await.pop().unwrap_or_else(|| Ok(Vec::new()))
    }
}

impl<V: Vendor> Reconcile for V {}
