//! What one (user, target) asks of the vendor, read from the store before any vendor call: the
//! same reading for the worker and for `sync plan`, so that both start from the same `Desired`.
use super::desired::desired_of;
use super::entitlements::Entitlements;
use super::mapping::Mapping;
use super::target::OnDelete;
use super::{Desired, Link, LinkState, UserState};
use crate::store::{Store, StoreError};

/// A target as the reading needs it.
pub struct TargetRules<'a> {
    pub name: &'a str,
    pub on_delete: OnDelete,
    pub mapping: &'a Mapping,
    pub takes_passwords: bool,
    /// An inactive user the vendor never had is created (`TargetSettings::creates_inactive`).
    pub creates_inactive: bool,
    /// What the user's SCIM groups grant at the vendor (docs/entitlements.md).
    pub entitlements: &'a Entitlements,
}

/// One user as a target sees it.
#[derive(Debug)]
pub struct Subject {
    /// What the vendor should hold; `None`: the user is neither in scope nor at the vendor.
    pub desired: Option<Desired>,
    /// The link as stored (a gone one included).
    pub link: Option<Link>,
    /// The link's revision as read, for `Store::finish_successes`.
    pub revision: Option<i64>,
    /// The user is deleted.
    pub deleted: bool,
    /// No link, or a gone one.
    pub unlinked: bool,
    /// The sealed IdP password waiting for this target (only read for a user in scope at a
    /// target that takes passwords).
    pub sealed_password: Option<Vec<u8>>,
}

/// An inactive user the vendor never had, at a target that does not create inactive users, is
/// brought up to date (and deactivated) where the vendor already holds it, and never created until
/// activated.
fn not_created_inactive(desired: Desired, linked: bool, creates_inactive: bool) -> Desired {
    match desired {
        Desired::Present(user) if !user.active && !linked && !creates_inactive => Desired::Present(UserState {
            creatable: false,
            ..user
        }),
        desired => desired,
    }
}

/// Reads what user `id` asks of `target`.
pub async fn read(store: &Store, target: &TargetRules<'_>, id: &str) -> Result<Subject, StoreError> {
    let view = store.sync_view(id, target.name).await?;
    let unlinked = view.link.as_ref().is_none_or(|l| l.state == LinkState::Gone);
    let desired = desired_of(
        id,
        view.document.as_ref(),
        view.in_scope,
        !unlinked,
        target.on_delete,
        target.mapping,
        (target.entitlements, &view.member_of),
    )
    .map(|d| not_created_inactive(d, !unlinked, target.creates_inactive));
    let sealed_password = match (&desired, target.takes_passwords) {
        (Some(Desired::Present(_)), true) => store.password_for(id, target.name).await?,
        _ => None,
    };
    Ok(Subject {
        desired,
        link: view.link,
        revision: view.link_revision,
        deleted: view.document.is_none(),
        unlinked,
        sealed_password,
    })
}
