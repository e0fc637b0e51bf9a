//! One user of a reconcile as it goes through observe, decide and apply: what was observed, the
//! steps decided, how far they got, and the link as it moves with them.
use super::decide::as_sent;
use super::{decide, NewUser, Step, View};
use crate::store::written_record;
use crate::sync::vendor::{Applied, Applying, Held, Observed, Vendor};
use crate::sync::{ConnectorError, Desired, Failed, Link, LinkState, Reconciled, UserState};

/// One user of a reconcile, as far as it got.
pub(super) struct Item<'a, R> {
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
    /// The user as its steps send it: a mapped field SCIM holds nothing for is left out unless the
    /// bridge wrote it at this record before (it is then cleared).
    sent: Option<UserState>,
}

impl<'a, R> Item<'a, R> {
    pub(super) fn new(desired: &'a Desired, link: Option<&Link>) -> Self {
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
            sent: None,
        }
    }

    pub(super) fn user(&self) -> Option<&'a UserState> {
        match self.desired {
            Desired::Present(user) => Some(user),
            Desired::Retired | Desired::Absent => None,
        }
    }

    pub(super) fn open(&self) -> bool {
        self.outcome.is_ok() && self.again.is_none()
    }

    /// The vendor contradicted the observation: the user is to be observed again.
    pub(super) fn contradicted(&self) -> bool {
        self.again.is_some()
    }

    /// What the vendor's look-ups start from.
    pub(super) fn looking(&self) -> (&'a Desired, Option<&Link>) {
        (self.desired, self.link.as_ref())
    }

    /// Fails a user whose values the vendor would refuse (over a field limit), before any call.
    pub(super) fn refuse_with<V: Vendor<Record = R>>(&mut self, vendor: &V) {
        if let Some(Err(e)) = self.user().map(|u| vendor.refuse(u)) {
            self.outcome = Err(e);
        }
    }

    /// Takes what the look-ups found and decides the steps.
    pub(super) fn decide<V: Vendor<Record = R>>(&mut self, vendor: &V, observed: Result<Observed<R>, ConnectorError>) {
        let observed = match observed {
            Ok(observed) => observed,
            Err(e) => return self.outcome = Err(e),
        };
        self.observed = Some(observed);
        let wanted = self.user().map(|u| vendor.wanted(u)).unwrap_or_default();
        let (decided, sent) = {
            let view = self.view();
            let sent = self.user().map(|u| as_sent(u, self.link.as_ref(), view.as_ref()));
            let active = view.as_ref().and_then(|v| v.active);
            let decided =
                decide(self.desired, &wanted, self.link.as_ref(), view.as_ref(), &V::RULES).map(|s| (s, active));
            (decided, sent)
        };
        self.sent = sent;
        match (decided, self.refused_create.take()) {
            // A create the vendor refused as taken, yet the look-up finds nobody: its refusal stands.
            (Ok((steps, _)), Some(refused)) if steps.first() == Some(&Step::Create) => {
                self.steps = steps;
                self.outcome = Err(refused);
            }
            (Ok((steps, active)), _) => {
                self.steps = steps;
                self.active = active;
            }
            (Err(reason), _) => self.outcome = Err(ConnectorError::permanent(None, reason)),
        }
    }

    /// What `sync plan` reports: the steps, or why there are none.
    pub(super) fn into_plan(self) -> Result<Vec<Step>, ConnectorError> {
        self.outcome.map(|()| self.steps)
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
                    groups: recorded_groups(link),
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
                    groups: held
                        .groups
                        .clone()
                        .or_else(|| link.filter(|_| linked).and_then(recorded_groups)),
                })
            }
        }
    }

    /// The record the next step works on: the one found, else the one the link names.
    pub(super) fn applying(&self) -> Applying<'_, R> {
        let held = self.held();
        let link = self.link.as_ref();
        Applying {
            user: self.sent.as_ref().or(self.user()),
            id: held
                .and_then(|h| h.id.as_deref())
                .or(link.and_then(|l| l.remote_id.as_deref())),
            key: held
                .and_then(|h| h.key.as_deref())
                .or(link.and_then(|l| l.remote_key.as_deref())),
            held: held.map(|h| &h.record),
        }
    }

    pub(super) fn next_step(&self) -> Option<&Step> {
        self.steps.get(self.done).filter(|_| self.open())
    }

    /// Records what a step did to the vendor's record.
    pub(super) fn land<V: Vendor>(&mut self, vendor: &V, applied: Result<Applied, ConnectorError>) {
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
            // A re-open may answer another id (DocuSign): later steps go there.
            Step::Activate => {
                self.active = Some(true);
                self.moved(id, None);
            }
            Step::Deactivate => self.active = Some(false),
            // The vendor files the user under its new key from now on (a rename).
            Step::Update { .. } => {
                let key = self.user().map(|u| vendor.key(u).to_owned());
                self.moved(None, key);
            }
            Step::Entitle { .. } | Step::Delete => {}
        }
    }

    /// The record has a new id or key: what was found and the link both say so.
    fn moved(&mut self, id: Option<String>, key: Option<String>) {
        if let Some(Observed::Found(held)) = self.observed.as_mut() {
            held.id = id.clone().or(held.id.take());
            held.key = key.clone().or(held.key.take());
        }
        if let Some(link) = self.link.as_mut() {
            link.remote_id = id.or(link.remote_id.take());
            link.remote_key = key.or(link.remote_key.take());
        }
    }

    /// The second round: observed again without the link the vendor contradicted (a create that
    /// met a user made meanwhile looks that user up under its key).
    pub(super) fn start_over(&mut self) {
        self.again = None;
        self.link = None;
        self.observed = None;
        self.steps.clear();
        self.done = 0;
    }

    /// The vendor groups the user is in once its steps landed, where rules manage groups: the
    /// wanted ones for an active user (its steps put them there); an inactive user's grants are
    /// left as they are, so what was known of them before.
    fn groups_held(&self, user: &UserState, link: &Link) -> Option<std::collections::BTreeSet<String>> {
        if !user.groups.is_managed() {
            return None;
        }
        if user.active {
            return Some(user.groups.wanted.clone());
        }
        match &self.observed {
            Some(Observed::Found(held)) if held.groups.is_some() => held.groups.clone(),
            _ => link.recorded_groups(),
        }
    }

    /// The link this reconcile leaves, and what the operator should know; or how it failed, at
    /// which step, after which.
    pub(super) fn finish<V: Vendor>(self, vendor: &V) -> Result<Reconciled, Failed> {
        let groups = match (self.desired, &self.link) {
            (Desired::Present(user), Some(link)) => self.groups_held(user, link),
            _ => None,
        };
        if let Some(error) = self.outcome.err().or(self.again) {
            return Err(Failed {
                error,
                step: self.steps.get(self.done).cloned().map(Box::new),
                done: self.steps[..self.done.min(self.steps.len())].to_vec(),
            });
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
                written_fields: written_record(&user.fields.written(), groups.as_ref()),
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

/// The vendor groups the link records, unless `sync resync` asked for everything to be sent again
/// (its fingerprint forgotten): then they count as unknown, and the wanted ones are added again.
fn recorded_groups(link: &Link) -> Option<std::collections::BTreeSet<String>> {
    link.pushed_hash.as_ref().and_then(|_| link.recorded_groups())
}

/// A link to a record just made or adopted, before its fields are recorded.
fn linked(id: Option<String>, key: Option<String>, active: Option<bool>) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: id,
        remote_key: key,
        pushed_hash: None,
        pushed_active: active,
        written_fields: None,
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
