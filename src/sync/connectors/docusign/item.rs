//! One user of a batch as it goes through the steps of a reconcile.
use super::wire::Profile;
use crate::sync::{ConnectorError, Desired, Link, LinkState, Reconciled, UserState};

/// One user of a batch, as far as its reconcile got.
pub(super) struct Item<'a> {
    /// `None`: the user must not be at DocuSign (closed).
    pub(super) user: Option<&'a UserState>,
    pub(super) profile: Option<Profile>,
    pub(super) link: Option<Link>,
    /// Nobody at DocuSign has the e-mail: create it.
    pub(super) create: bool,
    /// Set once the item is finished (failed, or nothing left to do).
    pub(super) outcome: Option<Result<Link, ConnectorError>>,
    /// For the operator: several DocuSign users share this user's e-mail.
    pub(super) note: Option<String>,
}

impl<'a> Item<'a> {
    pub(super) fn new(desired: &'a Desired, link: Option<&Link>) -> Self {
        let user = match desired {
            Desired::Present(user) => Some(user),
            Desired::Absent => None,
        };
        Self {
            user,
            profile: user.map(Profile::of),
            link: link.filter(|l| l.state != LinkState::Gone).cloned(),
            create: false,
            outcome: None,
            note: None,
        }
    }

    pub(super) fn open(&self) -> bool {
        self.outcome.is_none()
    }

    /// A link DocuSign's userId is known for.
    pub(super) fn linked_id(&self) -> Option<&str> {
        let link = self.link.as_ref().filter(|l| l.state == LinkState::Linked)?;
        link.remote_id.as_deref()
    }

    pub(super) fn fail(&mut self, error: ConnectorError) {
        self.outcome = Some(Err(error));
    }

    pub(super) fn finish(self) -> Result<Reconciled, ConnectorError> {
        let note = self.note;
        let link = match (self.outcome, self.link, self.user) {
            (Some(outcome), _, _) => outcome,
            (None, Some(link), Some(_)) => Ok(Link {
                state: LinkState::Linked,
                ..link
            }),
            _ => Ok(Link::gone()),
        };
        link.map(|link| Reconciled { link, note })
    }
}
