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
mod step;

pub use decide::{decide, NewUser, Removal, Rules, View};
pub use fields::{all_names, fields_of, wanted_fields};
pub use step::{Change, Step, StepKind, IN_SYNC};

use super::vendor::{Applied, Applying, Held, Observed, Vendor};
use super::{ConnectorError, Desired, Link, LinkState, Reconciled, UserState};

/// What `sync plan` and observe mode report for each user: the steps the write path would take.
pub async fn plan<V: Vendor>(vendor: &V, batch: &[(Desired, Option<Link>)]) -> Vec<Result<Vec<Step>, ConnectorError>> {
    let mut items: Vec<Item<'_, V::Record>> = batch.iter().map(|(d, l)| Item::new(d, l.as_ref())).collect();
    let all: Vec<usize> = (0..items.len()).collect();
    observe_and_decide(vendor, &mut items, &all).await;
    items
        .into_iter()
        .map(|item| item.outcome.map(|()| item.steps))
        .collect()
}

/// Makes the vendor hold each desired user, given its link: one result per user, in order.
pub async fn write<V: Vendor>(
    vendor: &V,
    batch: &[(Desired, Option<Link>)],
) -> Vec<Result<Reconciled, ConnectorError>> {
    let mut items: Vec<Item<'_, V::Record>> = batch.iter().map(|(d, l)| Item::new(d, l.as_ref())).collect();
    let all: Vec<usize> = (0..items.len()).collect();
    observe_and_decide(vendor, &mut items, &all).await;
    apply(vendor, &mut items, &all).await;
    let contradicted: Vec<usize> = (0..items.len()).filter(|&n| items[n].again.is_some()).collect();
    if !contradicted.is_empty() {
        for &n in &contradicted {
            items[n].start_over();
        }
        observe_and_decide(vendor, &mut items, &contradicted).await;
        apply(vendor, &mut items, &contradicted).await;
    }
    items.into_iter().map(|item| item.finish(vendor)).collect()
}

/// One user of a reconcile, as far as it got.
struct Item<'a, R> {
    desired: &'a Desired,
    /// The live link (never a gone one), moved as steps land.
    link: Option<Link>,
    observed: Option<Observed<R>>,
    steps: Vec<Step>,
    /// Steps carried out so far.
    done: usize,
    /// The state the vendor holds now, as far as known.
    active: Option<bool>,
    /// `Err` once it failed; steps are carried out only while `Ok`.
    outcome: Result<(), ConnectorError>,
    /// The vendor contradicted the observation: its answer, which stands if it does so again.
    again: Option<ConnectorError>,
    /// A create the vendor refused as taken: should the second look-up still find nobody, the
    /// refusal stands rather than a second create.
    refused_create: Option<ConnectorError>,
    /// The vendor's words when it contradicted the first look-up.
    contradicted: Option<String>,
}

impl<'a, R> Item<'a, R> {
    fn new(desired: &'a Desired, link: Option<&Link>) -> Self {
        Self {
            desired,
            link: link.filter(|l| l.state != LinkState::Gone).cloned(),
            observed: None,
            steps: Vec::new(),
            done: 0,
            active: None,
            outcome: Ok(()),
            again: None,
            refused_create: None,
            contradicted: None,
        }
    }

    fn user(&self) -> Option<&'a UserState> {
        match self.desired {
            Desired::Present(user) => Some(user),
            Desired::Retired | Desired::Absent => None,
        }
    }

    fn open(&self) -> bool {
        self.outcome.is_ok() && self.again.is_none()
    }

    fn held(&self) -> Option<&Held<R>> {
        match &self.observed {
            Some(Observed::Found(held)) => Some(held),
            _ => None,
        }
    }

    /// What decide reads of the observation.
    fn view(&self) -> Option<View<'_>> {
        let link = self.link.as_ref();
        match self.observed.as_ref()? {
            Observed::Nothing => None,
            Observed::AsLinked => {
                let link = link?;
                Some(View {
                    id: link.remote_id.as_deref().or(link.remote_key.as_deref()).unwrap_or("?"),
                    linked: link.state == LinkState::Linked,
                    active: link.pushed_active,
                    suspended: false,
                    fields: None,
                    protected: None,
                })
            }
            Observed::Found(held) => {
                let linked = link.is_some_and(|l| links_to(l, held));
                Some(View {
                    id: held.id.as_deref().or(held.key.as_deref()).unwrap_or("?"),
                    linked,
                    active: held.active.or(link.filter(|_| linked).and_then(|l| l.pushed_active)),
                    suspended: held.suspended,
                    fields: held.fields.as_ref(),
                    protected: held.protected.as_deref(),
                })
            }
        }
    }

    /// The record the next step works on: the one found, else the one the link names.
    fn applying(&self) -> Applying<'_, R> {
        let held = self.held();
        let link = self.link.as_ref();
        Applying {
            user: self.user(),
            id: held
                .and_then(|h| h.id.as_deref())
                .or(link.and_then(|l| l.remote_id.as_deref())),
            key: held
                .and_then(|h| h.key.as_deref())
                .or(link.and_then(|l| l.remote_key.as_deref())),
            held: held.map(|h| &h.record),
        }
    }

    fn next_step(&self) -> Option<&Step> {
        self.steps.get(self.done).filter(|_| self.open())
    }

    /// Records what a step did to the vendor's record.
    fn land<V: Vendor>(&mut self, vendor: &V, applied: Result<Applied, ConnectorError>) {
        let Some(step) = self.steps.get(self.done).cloned() else {
            return;
        };
        let id = match applied {
            Err(e) => {
                self.outcome = Err(e);
                return;
            }
            Ok(Applied::Vanished(answer)) => {
                self.contradicted = Some(answer.to_string());
                self.again = Some(answer);
                return;
            }
            Ok(Applied::Taken(answer)) => {
                self.contradicted = Some(answer.to_string());
                self.refused_create = Some(answer.clone());
                self.again = Some(answer);
                return;
            }
            Ok(Applied::Id(id)) => Some(id),
            Ok(Applied::Done) => None,
        };
        self.done += 1;
        match step {
            Step::Create => {
                let key = self.user().map(|u| vendor.key(u).to_owned());
                self.active = match V::RULES.new_user {
                    NewUser::AsAsked => self.user().map(|u| u.active),
                    NewUser::Active => Some(true),
                    NewUser::Unknown => None,
                };
                self.observed = Some(Observed::AsLinked);
                self.link = Some(linked(id, key, self.active));
            }
            Step::Adopt { .. } => {
                let (found_id, found_key) = match self.held() {
                    Some(held) => (held.id.clone(), held.key.clone()),
                    None => (None, None),
                };
                let key = found_key.or_else(|| self.user().map(|u| vendor.key(u).to_owned()));
                let id = found_id.or_else(|| self.link.as_ref().and_then(|l| l.remote_id.clone()));
                self.link = Some(linked(id, key, self.active));
            }
            Step::Activate => {
                self.active = Some(true);
                if let (Some(link), Some(id)) = (self.link.as_mut(), id) {
                    link.remote_id = Some(id);
                }
            }
            Step::Deactivate => self.active = Some(false),
            // The vendor files the user under its new key from now on (a rename).
            Step::Update { .. } => {
                if let Some(key) = self.user().map(|u| vendor.key(u).to_owned()) {
                    if let Some(Observed::Found(held)) = self.observed.as_mut() {
                        held.key = Some(key.clone());
                    }
                    if let Some(link) = self.link.as_mut() {
                        link.remote_key = Some(key);
                    }
                }
            }
            Step::Delete => {}
        }
    }

    /// The second round: observed again without the link the vendor contradicted (a create that
    /// met a user made meanwhile looks that user up under its key).
    fn start_over(&mut self) {
        self.again = None;
        self.link = None;
        self.observed = None;
        self.steps.clear();
        self.done = 0;
    }

    /// The link this reconcile leaves, and what the operator should know.
    fn finish<V: Vendor>(self, vendor: &V) -> Result<Reconciled, ConnectorError> {
        self.outcome?;
        if let Some(answer) = self.again {
            return Err(answer);
        }
        let note = self.observed.as_ref().and_then(|o| match o {
            Observed::Found(held) => held.note.clone(),
            _ => None,
        });
        let holds_nothing = matches!(self.observed, Some(Observed::Nothing) | None);
        let link = match (self.desired, self.link) {
            // A state left unknown (an adopted record the vendor does not describe) is taken to
            // be the IdP's: only a change there moves it.
            (Desired::Present(user), Some(link)) => Link {
                state: LinkState::Linked,
                remote_key: Some(vendor.key(user).to_owned()),
                pushed_hash: Some(user.fingerprint()),
                pushed_active: self.active.or(Some(user.active)),
                ..link
            },
            (Desired::Retired, Some(link)) if !holds_nothing => Link {
                state: LinkState::Linked,
                pushed_active: Some(false),
                ..link
            },
            _ => Link::gone(),
        };
        Ok(Reconciled {
            link,
            note,
            steps: self.steps,
            contradicted: self.contradicted,
        })
    }
}

/// A link to a record just made or adopted, before its fields are recorded.
fn linked(id: Option<String>, key: Option<String>, active: Option<bool>) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: id,
        remote_key: key,
        pushed_hash: None,
        pushed_active: active,
    }
}

/// Whether a linked `link` points at `held`: the same id where both know one, else the same key.
fn links_to<R>(link: &Link, held: &Held<R>) -> bool {
    if link.state != LinkState::Linked {
        return false;
    }
    match (&link.remote_id, &held.id, &link.remote_key, &held.key) {
        (Some(a), Some(b), _, _) => a == b,
        (_, _, Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => true,
    }
}

/// Observes the users at `indices` (refusing values the vendor would refuse first) and decides
/// their steps.
async fn observe_and_decide<V: Vendor>(vendor: &V, items: &mut [Item<'_, V::Record>], indices: &[usize]) {
    for &n in indices {
        if let Some(user) = items[n].user() {
            if let Err(e) = vendor.refuse(user) {
                items[n].outcome = Err(e);
            }
        }
    }
    let looking: Vec<usize> = indices.iter().copied().filter(|&n| items[n].open()).collect();
    let observed = {
        let users: Vec<(&Desired, Option<&Link>)> = looking
            .iter()
            .map(|&n| (items[n].desired, items[n].link.as_ref()))
            .collect();
        vendor.observe_many(&users).await
    };
    for (n, observed) in looking.into_iter().zip(observed) {
        let item = &mut items[n];
        match observed {
            Err(e) => item.outcome = Err(e),
            Ok(observed) => {
                item.observed = Some(observed);
                let wanted = item.user().map(|u| vendor.wanted(u)).unwrap_or_default();
                let decided = {
                    let view = item.view();
                    let active = view.as_ref().and_then(|v| v.active);
                    decide(item.desired, &wanted, item.link.as_ref(), view.as_ref(), &V::RULES).map(|s| (s, active))
                };
                match decided {
                    Ok((steps, _)) if steps.first() == Some(&Step::Create) && item.refused_create.is_some() => {
                        item.outcome = Err(item
                            .refused_create
                            .take()
                            .unwrap_or_else(|| ConnectorError::permanent(None, "create refused")));
                    }
                    Ok((steps, active)) => {
                        item.steps = steps;
                        item.active = active;
                    }
                    Err(reason) => item.outcome = Err(ConnectorError::permanent(None, reason)),
                }
            }
        }
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

/// One user at a time, for a vendor's own tests: the write path as the worker runs it.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    #[allow(async_fn_in_trait)]
    pub(crate) trait Reconcile: Vendor {
        /// Makes the vendor hold `desired`, given what `link` says it holds; the new link.
        async fn reconcile(&self, desired: &Desired, link: Option<&Link>) -> Result<Link, ConnectorError> {
            let batch = [(desired.clone(), link.cloned())];
            let mut written = write(self, &batch).await;
            written.pop().map_or_else(|| Ok(Link::gone()), |r| r.map(|r| r.link))
        }

        async fn reconcile_batch(&self, batch: &[(Desired, Option<Link>)]) -> Vec<Result<Reconciled, ConnectorError>> {
            write(self, batch).await
        }

        /// The steps `sync plan` reports for `desired`.
        async fn plan_one(&self, desired: &Desired, link: Option<&Link>) -> Result<Vec<Step>, ConnectorError> {
            let batch = [(desired.clone(), link.cloned())];
            plan(self, &batch).await.pop().unwrap_or_else(|| Ok(Vec::new()))
        }
    }

    impl<V: Vendor> Reconcile for V {}
}

#[cfg(test)]
mod tests;
