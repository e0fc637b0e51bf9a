//! The one decision (docs/architecture.md, "Observe, decide, apply"): from what a user should be,
//! what the link records and what the vendor's read-only look-ups found, the steps that close the
//! difference. Pure: `sync plan`, observe mode and the write path all call this and nothing else.
use super::step::{Change, Step};
use crate::sync::{Desired, Link, LinkState, UserState};
use std::collections::{BTreeMap, BTreeSet};

/// What removing a user means at a vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Delete,
    /// The vendor keeps the user, deactivated or closed (eSign, DocuSign).
    Deactivate,
}

/// How a user the bridge creates starts out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewUser {
    /// The create itself sets the state the IdP asked for (CyberArk's `enableUser`).
    AsAsked,
    /// Active (GUESS where the vendor does not say); an inactive user is deactivated next.
    Active,
    /// Not documented: the state is set explicitly right after the create (eSign).
    Unknown,
}

/// What decide must know of a vendor beyond what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub removal: Removal,
    pub new_user: NewUser,
    /// The field an update delivers a waiting IdP password in (Workspace365's `Password`); `None`
    /// when the vendor takes a password only at create, or never.
    pub password_field: Option<&'static str>,
}

/// What the vendor holds for the user, as decide reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View<'a> {
    /// How `sync plan` names the record when it adopts it: its id, else its key.
    pub id: &'a str,
    /// The link already points at this record: no adopt is due, and its fingerprint tells whether
    /// fields that were not read are behind.
    pub linked: bool,
    /// `None`: not known (the vendor was not read for it, or cannot say).
    pub active: Option<bool>,
    /// Locked by the vendor itself (CyberArk's suspension): activating the user lifts it.
    pub suspended: bool,
    /// The vendor's values of the fields the bridge writes; `None` when they were not read.
    pub fields: Option<&'a BTreeMap<String, String>>,
    /// Why the bridge must never change this record (CyberArk's built-in users).
    pub protected: Option<&'a str>,
    /// The vendor groups it is in, as read (or as the link recorded them where the vendor is not
    /// read); `None`: not known.
    pub groups: Option<BTreeSet<String>>,
}

/// The steps that make the vendor hold `desired`, in the order they are carried out; empty when
/// the vendor already does. `wanted` is what the vendor would be sent for a present user (its
/// field names and values); `view` is `None` when the vendor holds nothing for the user. An error
/// is a record the bridge must not touch.
pub fn decide(
    desired: &Desired,
    wanted: &BTreeMap<String, String>,
    link: Option<&Link>,
    view: Option<&View<'_>>,
    rules: &Rules,
) -> Result<Vec<Step>, String> {
    if let Some(reason) = view.and_then(|v| v.protected) {
        return Err(reason.to_owned());
    }
    Ok(match (desired, view) {
        (Desired::Absent | Desired::Retired, None) => Vec::new(),
        (Desired::Absent, Some(_)) if rules.removal == Removal::Delete => vec![Step::Delete],
        (Desired::Absent | Desired::Retired, Some(view)) => match view.active {
            Some(false) => Vec::new(),
            _ => vec![Step::Deactivate],
        },
        (Desired::Present(user), None) if !user.creatable => Vec::new(),
        (Desired::Present(user), None) => {
            let mut steps = create(user, rules);
            steps.extend(entitle(user, Some(&BTreeSet::new())));
            steps
        }
        (Desired::Present(user), Some(view)) => bring_up_to_date(user, wanted, link, view, rules),
    })
}

/// A create, and the state the vendor cannot be given in it.
fn create(user: &UserState, rules: &Rules) -> Vec<Step> {
    let starts = match rules.new_user {
        NewUser::AsAsked => Some(user.active),
        NewUser::Active => Some(true),
        NewUser::Unknown => None,
    };
    let state = match (starts == Some(user.active), user.active) {
        (true, _) => None,
        (false, true) => Some(Step::Activate),
        (false, false) => Some(Step::Deactivate),
    };
    [Some(Step::Create), state].into_iter().flatten().collect()
}

fn bring_up_to_date(
    user: &UserState,
    wanted: &BTreeMap<String, String>,
    link: Option<&Link>,
    view: &View<'_>,
    rules: &Rules,
) -> Vec<Step> {
    let mut steps = Vec::new();
    if !view.linked {
        steps.push(Step::Adopt { id: view.id.to_owned() });
    }
    // GUESS (docs/architecture.md): a record found unlinked whose state cannot be read keeps it;
    // it may be one an administrator deactivated at the vendor. A linked one that never had a
    // state pushed (`link set`) gets the IdP's. An IdP's deactivation is always sent.
    let inactive = match view.active {
        Some(active) => !active,
        None => view.linked,
    };
    if user.active && (inactive || view.suspended) {
        steps.push(Step::Activate);
    }
    let mut changes = field_changes(user, wanted, link, view);
    if let (Some(field), Some(_)) = (rules.password_field, &user.password) {
        changes.push(Change {
            field: field.to_owned(),
            from: None,
            to: "(the password the IdP sent)".to_owned(),
        });
    }
    if !changes.is_empty() {
        steps.push(Step::Update { changes });
    }
    steps.extend(entitle(user, view.groups.as_ref()));
    if !user.active && view.active != Some(false) {
        steps.push(Step::Deactivate);
    }
    steps
}

/// The vendor groups to add `user` to and remove them from: of the groups a rule names, those it
/// should be in and is not, and those it is in and should not be (`held`: what the vendor holds,
/// case aside). Where that is not known, only the adds (GUESS, docs/entitlements.md: a removal
/// needs to have seen the membership). An inactive user's grants are left as they are.
fn entitle(user: &UserState, held: Option<&BTreeSet<String>>) -> Option<Step> {
    let groups = &user.groups;
    if !groups.is_managed() || !user.active {
        return None;
    }
    let has = |set: &BTreeSet<String>, name: &str| set.iter().any(|g| g.eq_ignore_ascii_case(name));
    let add: Vec<String> = groups
        .wanted
        .iter()
        .filter(|g| held.is_none_or(|h| !has(h, g)))
        .cloned()
        .collect();
    let remove: Vec<String> = match held {
        Some(held) => groups
            .managed
            .iter()
            .filter(|g| has(held, g) && !has(&groups.wanted, g))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    (!add.is_empty() || !remove.is_empty()).then_some(Step::Entitle {
        noun: groups.noun,
        add,
        remove,
    })
}

/// The wanted fields the vendor does not hold: compared one by one when they were read (an absent
/// one counts as empty), else all of them when the link's fingerprint is behind or absent. A
/// mapped field SCIM holds nothing for is cleared only where the bridge wrote it before.
fn field_changes(
    user: &UserState,
    wanted: &BTreeMap<String, String>,
    link: Option<&Link>,
    view: &View<'_>,
) -> Vec<Change> {
    let mut changes = all_field_changes(user, wanted, link, view);
    changes.retain(|c| {
        let mapped = user.fields.get_raw(&c.field).is_some();
        !c.to.is_empty() || !mapped || owns(link, Some(view), &c.field)
    });
    changes
}

/// The user as its steps send it: a mapped field SCIM holds nothing for is left out, unless the
/// bridge wrote it at the record in view before (it is then cleared).
pub fn as_sent(user: &UserState, link: Option<&Link>, view: Option<&View<'_>>) -> UserState {
    UserState {
        fields: user.fields.owned(|name| owns(link, view, name)),
        ..user.clone()
    }
}

/// Whether the bridge wrote mapped field `name` at the record in view (one it creates or adopts:
/// never).
fn owns(link: Option<&Link>, view: Option<&View<'_>>, name: &str) -> bool {
    view.is_some_and(|v| v.linked) && link.is_some_and(|l| l.wrote(name))
}

fn all_field_changes(
    user: &UserState,
    wanted: &BTreeMap<String, String>,
    link: Option<&Link>,
    view: &View<'_>,
) -> Vec<Change> {
    match view.fields {
        Some(held) => wanted
            .iter()
            .filter(|(field, to)| held.get(*field).map_or("", String::as_str) != to.as_str())
            .map(|(field, to)| Change {
                field: field.clone(),
                from: Some(held.get(field).cloned().unwrap_or_default()),
                to: to.clone(),
            })
            .collect(),
        None => {
            let pushed = link
                .filter(|l| view.linked && l.state == LinkState::Linked)
                .and_then(|l| l.pushed_hash.as_deref());
            if pushed == Some(user.fingerprint().as_str()) {
                return Vec::new();
            }
            wanted
                .iter()
                .map(|(field, to)| Change {
                    field: field.clone(),
                    from: None,
                    to: to.clone(),
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests;
