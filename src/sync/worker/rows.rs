//! What one leased row asks of its target, read before any vendor call: the user as it is now
//! (or its tombstone), whether it is in scope, its link, and the password waiting for it. Some
//! rows are settled here without a call (nothing to create or remove, a record taken over by a
//! new user with the same e-mail, another reconcile of the same vendor key in flight).
use super::target::{KeyGuard, Target};
use super::{Finished, Handled, Worker, BUSY_KEY_WAIT};
use crate::config::OnDelete;
use crate::store::{Claim, StoreError};
use crate::sync::desired::desired_of;
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
        let view = self.store.sync_view(id, &target.name).await.map_err(store_failure)?;
        let (user, in_scope, revision) = (view.document, view.in_scope, view.link_revision);
        let link = view.link.clone();
        let unlinked = link.as_ref().is_none_or(|l| l.state == LinkState::Gone);
        let settled = |link: Link, deleted| {
            Ok(Prepared::Settled(Handled::Done(Finished {
                action: "reconcile",
                link,
                note: None,
                delivered: None,
                deleted,
                revision,
            })))
        };
        let deleted = user.is_none();
        // Deleted: the tombstone says who to deactivate where deleting is not wanted.
        let tombstone = match (deleted && !unlinked, target.on_delete) {
            (true, OnDelete::Deactivate) => self.store.tombstone(id).await.map_err(store_failure)?,
            _ => None,
        };
        let wanted = desired_of(
            id,
            user.as_ref(),
            in_scope,
            !unlinked,
            target.on_delete,
            tombstone.as_ref(),
            &target.mapping,
        );
        let Some(desired) = wanted else {
            // Deleted or out of scope, and not at the vendor: nothing to create, nothing to remove.
            return settled(Link::gone(), deleted);
        };
        let (desired, delivered) = match (desired, in_scope) {
            (Desired::Present(state), true) => self.with_password(target, id, state).await?,
            (desired, _) => (desired, None),
        };
        if let (Desired::Present(state), Some(link)) = (&desired, &link) {
            if up_to_date(state, link) {
                // What changed is nothing this vendor holds (an unmapped attribute): no call.
                return Ok(Prepared::Settled(Handled::Done(Finished {
                    action: "unchanged",
                    link: link.clone(),
                    note: None,
                    delivered: None,
                    deleted,
                    revision,
                })));
            }
        }
        let Some(keys) = target.lock_keys(vendor_keys(&desired, link.as_ref())) else {
            return Ok(Prepared::Settled(Handled::Deferred(BUSY_KEY_WAIT)));
        };
        if let (true, Some(row)) = (deleted && !unlinked, &view.link) {
            // A new user with this e-mail took the record over before the delete reached the vendor
            // (Workspace365 and eSign key users by e-mail): it is the new user's now.
            if self
                .store
                .linked_elsewhere(id, &target.name, row)
                .await
                .map_err(store_failure)?
            {
                return settled(Link::gone(), true);
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

    /// A user in scope with the password waiting for it at `target` (opened from its seal, and
    /// returned sealed so that its delivery can be recorded).
    async fn with_password(
        &self,
        target: &Target,
        id: &str,
        state: UserState,
    ) -> Result<(Desired, Option<Vec<u8>>), ConnectorError> {
        let (Some(sealer), true) = (&self.sealer, target.takes_passwords) else {
            return Ok((Desired::Present(state), None));
        };
        let sealed = self.store.password_for(id, &target.name).await.map_err(store_failure)?;
        let Some(sealed) = sealed else {
            return Ok((Desired::Present(state), None));
        };
        let password = sealer
            .open(&sealed, id, &target.name)
            .map_err(|e| ConnectorError::Config { detail: e.to_string() })?;
        Ok((
            Desired::Present(UserState {
                password: Some(password),
                ..state
            }),
            Some(sealed),
        ))
    }
}

/// Whether the link records exactly `state` as pushed: the fields, the active flag, no password
/// waiting. `sync resync` forgets the recorded fingerprints, so it reconciles every user again.
fn up_to_date(state: &UserState, link: &Link) -> bool {
    link.state == LinkState::Linked
        && state.password.is_none()
        && link.pushed_active == Some(state.active)
        && link.pushed_hash.as_deref() == Some(state.fingerprint().as_str())
}

/// The vendor keys (e-mails, lower-cased) a reconcile touches: the one it pushes, the one it had.
fn vendor_keys(desired: &Desired, link: Option<&Link>) -> Vec<String> {
    let mut keys: Vec<String> = match desired {
        Desired::Present(state) => vec![state.email.to_lowercase()],
        Desired::Absent => Vec::new(),
    };
    if let Some(old) = link.and_then(|l| l.remote_key.as_deref()).map(str::to_lowercase) {
        if !keys.contains(&old) {
            keys.push(old);
        }
    }
    keys
}
