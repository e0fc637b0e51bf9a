//! What one leased row asks of its target, read before any vendor call: the user as it is now
//! (or its tombstone), whether it is in scope, its link, and the password waiting for it. Some
//! rows are settled here without a call (nothing to create or remove, a record taken over by a
//! new user with the same e-mail, another reconcile of the same vendor key in flight).
use super::target::{KeyGuard, Target};
use super::{Finished, Handled, Worker, BUSY_KEY_WAIT};
use crate::store::{Claim, StoreError};
use crate::sync::subject::{self, Subject};
use crate::sync::{ConnectorError, Desired, Link, LinkState, UserState};

/// A row ready for its vendor call.
pub(super) struct Ready<'t> {
    pub desired: Desired,
    pub link: Option<Link>,
    /// No link, or a gone one: a create is recorded (`Link::creating`) before it is sent.
    pub unlinked: bool,
    pub delivered: Option<Vec<u8>>,
    pub deleted: bool,
    pub revision: Option<i64>,
    /// The vendor keys this reconcile holds busy.
    pub _keys: KeyGuard<'t>,
}

pub(super) enum Prepared<'t> {
    Settled(Handled),
    Ready(Ready<'t>),
}

/// A store failure while preparing: worth retrying.
pub(super) fn store_failure(e: StoreError) -> ConnectorError {
    ConnectorError::transient(format!("store: {e}"))
}

impl Worker {
    /// The level-triggered step: what should the vendor hold now, and what does the link say it holds.
    pub(super) async fn prepare<'t>(&self, target: &'t Target, claim: &Claim) -> Result<Prepared<'t>, ConnectorError> {
        let id = claim.resource_id.as_str();
        let subject = subject::read(&self.store, &target.rules(self.sealer.is_some()), id)
            .await
            .map_err(store_failure)?;
        let Subject {
            desired,
            link,
            revision,
            deleted,
            unlinked,
            sealed_password,
        } = subject;
        let settled = |note: Option<&str>, link: Link| {
            Ok(Prepared::Settled(Handled::Done(Finished {
                steps: Vec::new(),
                created: None,
                remote_id: link.remote_id.clone(),
                link,
                note: note.map(str::to_owned),
                delivered: None,
                deleted,
                revision,
            })))
        };
        let Some(desired) = desired else {
            // Deleted or out of scope, and not at the vendor: nothing to create, nothing to remove.
            return settled(Some("not at the vendor: nothing to create or remove"), Link::gone());
        };
        let (desired, delivered) = self.with_password(id, &target.name, desired, sealed_password)?;
        if let Some(link) = link.as_ref().filter(|l| up_to_date(&desired, l)) {
            // What changed is nothing this vendor holds (an unmapped attribute): no call.
            return settled(None, link.clone());
        }
        let Some(keys) = target.lock_keys(vendor_keys(&desired, link.as_ref())) else {
            return Ok(Prepared::Settled(Handled::Deferred(BUSY_KEY_WAIT)));
        };
        if let (true, false, Some(row)) = (deleted, unlinked, &link) {
            // A new user with this e-mail took the record over before the delete reached the vendor
            // (Workspace365 and eSign key users by e-mail): it is the new user's now.
            if self
                .store
                .linked_elsewhere(id, &target.name, row)
                .await
                .map_err(store_failure)?
            {
                return settled(
                    Some("a newer user with this e-mail took the vendor record over: it is left to them"),
                    Link::gone(),
                );
            }
        }
        Ok(Prepared::Ready(Ready {
            desired,
            link,
            unlinked,
            delivered,
            deleted,
            revision,
            _keys: keys,
        }))
    }

    /// The user with the password waiting for it (opened from its seal, and returned sealed so
    /// that its delivery can be recorded).
    fn with_password(
        &self,
        id: &str,
        target: &str,
        desired: Desired,
        sealed: Option<Vec<u8>>,
    ) -> Result<(Desired, Option<Vec<u8>>), ConnectorError> {
        let (Desired::Present(state), Some(sealer), Some(sealed)) = (&desired, &self.sealer, sealed) else {
            return Ok((desired, None));
        };
        let password = sealer
            .open(&sealed, id, target)
            .map_err(|e| ConnectorError::Config { detail: e.to_string() })?;
        let state = UserState {
            password: Some(password),
            ..state.clone()
        };
        Ok((Desired::Present(state), Some(sealed)))
    }
}

/// Whether the link records exactly what is desired: the fields, the active flag, the vendor groups
/// rules put an active user in, no password waiting (a retired user: deactivated). `sync resync`
/// forgets the recorded fingerprints, so it reconciles every user again.
fn up_to_date(desired: &Desired, link: &Link) -> bool {
    link.state == LinkState::Linked
        && match desired {
            Desired::Present(state) => {
                state.password.is_none()
                    && link.pushed_active == Some(state.active)
                    && link.pushed_hash.as_deref() == Some(state.fingerprint().as_str())
                    && (!state.groups.is_managed()
                        || !state.active
                        || link.recorded_groups().as_ref() == Some(&state.groups.wanted))
            }
            Desired::Retired => link.pushed_active == Some(false),
            Desired::Absent => false,
        }
}

/// The vendor keys (e-mails, lower-cased) a reconcile touches: the one it pushes, the one it had.
fn vendor_keys(desired: &Desired, link: Option<&Link>) -> Vec<String> {
    let mut keys: Vec<String> = match desired {
        Desired::Present(state) => vec![state.email.to_lowercase()],
        Desired::Retired | Desired::Absent => Vec::new(),
    };
    if let Some(old) = link.and_then(|l| l.remote_key.as_deref()).map(str::to_lowercase) {
        if !keys.contains(&old) {
            keys.push(old);
        }
    }
    keys
}
