//! One reconcile for every vendor (docs/architecture.md, "Observe, decide, apply"): for a batch of
//! users, *observe* (the vendor's read-only look-ups), *decide* (pure: `decide.rs`), then *apply*
//! (the only code that writes, step kind by step kind so that DocuSign sends one call per kind).
//! `sync plan` and observe mode stop after decide, so what they print is what the write path does.
//!
//! Should the vendor contradict what was observed while the steps are carried out (a record the
//! link promised is gone, a create meets a user someone made meanwhile), the user is observed and
//! decided again, once, without the link; a second contradiction fails with the vendor's answer.
mod decide;
mod fields;
mod item;
mod step;

pub use decide::{decide, NewUser, Removal, Rules, View};
pub use fields::{all_names, fields_of, wanted_fields};
pub use step::{Change, Step, StepKind, IN_SYNC};

use super::vendor::{Applied, Applying, Observed, Vendor};
use super::{ConnectorError, Desired, Failed, Link, Reconciled, UserState};
use item::Item;
use std::collections::BTreeMap;

/// What `sync plan` and observe mode report for each user: the steps the write path would take.
pub async fn plan<V: Vendor>(vendor: &V, batch: &[(Desired, Option<Link>)]) -> Vec<Result<Vec<Step>, ConnectorError>> {
    let mut items: Vec<Item<'_, V::Record>> = batch.iter().map(|(d, l)| Item::new(d, l.as_ref())).collect();
    let all: Vec<usize> = (0..items.len()).collect();
    observe_and_decide(vendor, &mut items, &all).await;
    items.into_iter().map(Item::into_plan).collect()
}

/// Makes the vendor hold each desired user, given its link: one result per user, in order.
pub async fn write<V: Vendor>(vendor: &V, batch: &[(Desired, Option<Link>)]) -> Vec<Result<Reconciled, Failed>> {
    let mut items: Vec<Item<'_, V::Record>> = batch.iter().map(|(d, l)| Item::new(d, l.as_ref())).collect();
    let all: Vec<usize> = (0..items.len()).collect();
    observe_and_decide(vendor, &mut items, &all).await;
    apply(vendor, &mut items, &all).await;
    let contradicted: Vec<usize> = (0..items.len()).filter(|&n| items[n].contradicted()).collect();
    if !contradicted.is_empty() {
        for &n in &contradicted {
            items[n].start_over();
        }
        observe_and_decide(vendor, &mut items, &contradicted).await;
        apply(vendor, &mut items, &contradicted).await;
    }
    items.into_iter().map(|item| item.finish(vendor)).collect()
}

/// What the vendor holds under `user`'s keys, read without a link (so a vendor that takes links
/// at their word is asked): the canary's read-back after each step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReadBack {
    pub found: bool,
    pub id: Option<String>,
    pub key: Option<String>,
    /// `None`: the vendor does not say.
    pub active: Option<bool>,
    /// The fields the bridge writes, as read; `None` when the vendor cannot be read for them.
    pub fields: Option<BTreeMap<String, String>>,
    /// What an operator should know of the record (DocuSign: several users share the e-mail).
    pub note: Option<String>,
    /// The vendor's own word for the user's state (DocuSign's `userStatus`).
    pub status: Option<String>,
    /// The vendor groups it is in, where the vendor was read for them.
    pub groups: Option<std::collections::BTreeSet<String>>,
}

pub async fn read_back<V: Vendor>(vendor: &V, user: &UserState) -> Result<ReadBack, ConnectorError> {
    let desired = Desired::Present(user.clone());
    Ok(match vendor.observe(&desired, None).await? {
        Observed::Found(held) => ReadBack {
            found: true,
            id: held.id,
            key: held.key,
            active: held.active,
            fields: held.fields,
            note: held.note,
            status: held.status,
            groups: held.groups,
        },
        Observed::Nothing | Observed::AsLinked => ReadBack {
            found: false,
            id: None,
            key: None,
            active: None,
            fields: None,
            note: None,
            status: None,
            groups: None,
        },
    })
}

/// Observes the users at `indices` (refusing values the vendor would refuse first) and decides
/// their steps.
async fn observe_and_decide<V: Vendor>(vendor: &V, items: &mut [Item<'_, V::Record>], indices: &[usize]) {
    for &n in indices {
        items[n].refuse_with(vendor);
    }
    let looking: Vec<usize> = indices.iter().copied().filter(|&n| items[n].open()).collect();
    let observed = {
        let users: Vec<(&Desired, Option<&Link>)> = looking.iter().map(|&n| items[n].looking()).collect();
        vendor.observe_many(&users).await
    };
    for (n, observed) in looking.into_iter().zip(observed) {
        items[n].decide(vendor, observed);
    }
}

/// Carries out the decided steps of the users at `indices`, kind by kind.
async fn apply<V: Vendor>(vendor: &V, items: &mut [Item<'_, V::Record>], indices: &[usize]) {
    for kind in StepKind::ALL {
        let due: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|&n| items[n].next_step().is_some_and(|s| s.kind() == kind))
            .collect();
        if due.is_empty() {
            continue;
        }
        let results: Vec<Result<Applied, ConnectorError>> = if kind == StepKind::Adopt {
            due.iter().map(|_| Ok(Applied::Done)).collect()
        } else {
            let steps: Vec<(&Step, Applying<'_, V::Record>)> = due
                .iter()
                .filter_map(|&n| Some((items[n].next_step()?, items[n].applying())))
                .collect();
            vendor.apply_many(kind, &steps).await
        };
        for (n, result) in due.into_iter().zip(results) {
            items[n].land(vendor, result);
        }
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;
