//! The removal guard (README "Removal guard"): before any vendor call, each removal (a delete, a
//! deactivation because the user was deleted or left the scope, or the revocation of an
//! administrator's right that entitlement rules granted) takes one of its target's allowance for
//! the window; past it, the row is held for an operator, never carried out silently.
use super::rows::{store_failure, Ready};
use super::target::Target;
use super::{Handled, Leased, Worker};
use crate::store::{Claim, Event, EventAction, EventOutcome, GuardMark, RemovalVerdict, StoreError};
use crate::sync::{ConnectorError, Desired, Link, LinkState, UserState};

type Outcomes = Vec<(usize, Result<Handled, ConnectorError>)>;

/// Whether making the vendor match `desired` removes a user it holds. The IdP's own `active:
/// false` is not a removal: it is one user's change, sent as it came.
pub(super) fn is_removal(desired: &Desired, link: Option<&Link>) -> bool {
    let Some(link) = link.filter(|l| l.state != LinkState::Gone) else {
        return false;
    };
    match desired {
        Desired::Absent => true,
        Desired::Retired => link.pushed_active != Some(false),
        Desired::Present(user) => revokes_admin_right(user, link),
    }
}

/// Whether bringing `user` up to date revokes an administrator's right the bridge granted: a
/// guarded vendor group the link records the user in, or an administrator flag the bridge set,
/// now cleared (docs/entitlements.md, "The removal guard").
fn revokes_admin_right(user: &UserState, link: &Link) -> bool {
    let groups = &user.groups;
    let group = !groups.guarded.is_empty()
        && link
            .recorded_groups()
            .is_some_and(|held| !groups.revoked_guarded(&held).is_empty());
    let flag = groups
        .guarded_field
        .is_some_and(|field| user.fields.get_raw(field) == Some("") && link.wrote(field));
    group || flag
}

impl Worker {
    /// Splits the ready rows into those held (settled) and those that go ahead.
    pub(super) async fn guard_removals<'t>(
        &self,
        target: &Target,
        chunk: &[Leased],
        ready: Vec<(usize, Ready<'t>)>,
    ) -> (Outcomes, Vec<(usize, Ready<'t>)>) {
        let mut settled = Vec::new();
        let mut going = Vec::with_capacity(ready.len());
        for (n, row) in ready {
            let claim = &chunk[n].claim;
            if !is_removal(&row.desired, row.link.as_ref()) || claim.guard == Some(GuardMark::Released) {
                going.push((n, row));
                continue;
            }
            if claim.guard == Some(GuardMark::Held) {
                // Held before and still leaving (a newer change, or deleted at the IdP meanwhile).
                settled.push((n, Ok(Handled::Held(None))));
                continue;
            }
            match self
                .store
                .take_removal(&target.name, &claim.resource_id, target.removal_limit)
                .await
            {
                Ok(RemovalVerdict::Go) => going.push((n, row)),
                Ok(RemovalVerdict::Held { done, limit }) => {
                    let note = held_note(&target.name, done, limit, target.removal_limit.window);
                    tracing::warn!(target = %target.name, resource = %claim.resource_id, removals = done, max_removals = limit, "removal held by the guard; an operator releases or discards it");
                    settled.push((n, Ok(Handled::Held(Some(note)))));
                }
                Err(e) => settled.push((n, Err(store_failure(e)))),
            }
        }
        (settled, going)
    }

    /// Parks a held row (with a `guard` event when it is newly held).
    pub(super) async fn held(&self, claim: &Claim, note: Option<String>) -> Result<(), StoreError> {
        let event = note.map(|note| Event {
            note: Some(note),
            ..Event::new(EventAction::Held, EventOutcome::Held)
        });
        self.store.hold(claim, event.as_ref()).await
    }
}

fn held_note(target: &str, done: u64, limit: u64, window: std::time::Duration) -> String {
    format!(
        "removal held: {done} removal(s) at '{target}' in the last {} min reached max_removals {limit}; \
         `scim-bridge sync release --target {target}` carries it out, `sync discard` keeps the user",
        window.as_secs() / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_is_a_delete_or_a_retirement_of_a_user_the_vendor_holds_active() {
        let linked = |active| Link {
            state: LinkState::Linked,
            remote_id: Some("v1".into()),
            remote_key: Some("a@example.com".into()),
            pushed_hash: None,
            pushed_active: active,
            written_fields: None,
        };
        let gone = Link::gone();
        let present = Desired::Present(UserState {
            resource_id: "r".into(),
            user_name: "a@example.com".into(),
            email: "a@example.com".into(),
            given_name: "A".into(),
            family_name: "B".into(),
            active: true,
            password: None,
            is_administrator: false,
            fields: Default::default(),
            creatable: true,
            groups: Default::default(),
        });
        let cases = [
            (Desired::Absent, Some(linked(Some(true))), true),
            (Desired::Absent, Some(linked(Some(false))), true),
            (Desired::Absent, Some(gone.clone()), false),
            (Desired::Absent, None, false),
            (Desired::Retired, Some(linked(Some(true))), true),
            (Desired::Retired, Some(linked(None)), true),
            (Desired::Retired, Some(linked(Some(false))), false),
            (Desired::Retired, None, false),
            (present, Some(linked(Some(true))), false),
        ];
        for (desired, link, removal) in cases {
            assert_eq!(is_removal(&desired, link.as_ref()), removal, "{desired:?} {link:?}");
        }
    }

    #[test]
    fn clearing_an_administrator_flag_the_bridge_set_is_a_removal_and_other_changes_are_not() {
        static SPEC: crate::sync::mapping::FieldSpec =
            crate::sync::mapping::FieldSpec::new("IsAdministrator", None, None);
        let user = |flag: &str| UserState {
            resource_id: "r".into(),
            user_name: "a@example.com".into(),
            email: "a@example.com".into(),
            given_name: "A".into(),
            family_name: "B".into(),
            active: true,
            password: None,
            is_administrator: false,
            fields: crate::sync::mapping::Fields::from_pairs([(&SPEC, flag.to_owned())]),
            creatable: true,
            groups: std::sync::Arc::new(crate::sync::entitlements::Memberships {
                guarded_field: Some("IsAdministrator"),
                ..Default::default()
            }),
        };
        let link = |written: Option<&str>| Link {
            state: LinkState::Linked,
            remote_id: Some("v1".into()),
            remote_key: Some("a@example.com".into()),
            pushed_hash: None,
            pushed_active: Some(true),
            written_fields: written.map(str::to_owned),
        };
        let removal = |flag: &str, written| is_removal(&Desired::Present(user(flag)), Some(&link(written)));
        assert!(removal("", Some("IsAdministrator")), "the bridge made them one");
        assert!(!removal("", None), "made one in the portal: never touched");
        assert!(!removal("true", Some("IsAdministrator")));
    }
}
