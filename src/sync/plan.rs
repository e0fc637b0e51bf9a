//! Rehearsal (`scim-bridge sync plan`, docs/troubleshooting.md): what the bridge would do at a
//! vendor for one user, decided from what the vendor holds as read by the connector's look-ups
//! (read-only calls only) and what the link records, without writing anything anywhere.
use super::mapping::{with_fields, Empty, FieldSpec, Fields};
use super::{Desired, Link, LinkState};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a vendor holds for a user, in the vendor's field names (dotted for nested objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorView {
    pub id: String,
    /// `None`: the vendor's answer does not say (or there is no read API).
    pub active: Option<bool>,
    /// `None`: the vendor cannot be read (Workspace365: its probe says only that the user exists).
    pub fields: Option<BTreeMap<String, String>>,
}

/// What removing a user means at a vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Delete,
    /// The vendor keeps the user, deactivated or closed (eSign, DocuSign).
    Deactivate,
}

/// One thing the bridge would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Step {
    Create,
    /// Link the vendor user found by e-mail or username instead of creating one.
    Adopt {
        id: String,
    },
    Update {
        changes: Vec<Change>,
    },
    Deactivate,
    Reactivate,
    Delete,
    #[serde(rename = "in sync")]
    InSync,
}

/// One field an update would change. `from` is `None` when the vendor cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: Option<String>,
    pub to: String,
}

impl Step {
    /// The step as `sync plan` prints it and an observed row's event records it.
    pub fn describe(&self) -> String {
        match self {
            Self::Adopt { id } => format!("adopt {id}"),
            Self::Update { changes } => {
                let fields: Vec<String> = changes
                    .iter()
                    .map(|c| match &c.from {
                        Some(from) => format!("{}: {from:?} -> {:?}", c.field, c.to),
                        None => format!("{}: (unreadable) -> {:?}", c.field, c.to),
                    })
                    .collect();
                format!("update {}", fields.join(", "))
            }
            other => other.word().to_owned(),
        }
    }

    /// Steps as one line: `adopt 17; update title: "A" -> "B"`.
    pub fn describe_all(steps: &[Step]) -> String {
        steps.iter().map(Step::describe).collect::<Vec<_>>().join("; ")
    }

    pub fn word(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Adopt { .. } => "adopt",
            Self::Update { .. } => "update",
            Self::Deactivate => "deactivate",
            Self::Reactivate => "reactivate",
            Self::Delete => "delete",
            Self::InSync => "in sync",
        }
    }
}

/// What a connector would do for `desired`, given the link and what the vendor holds (`view`).
/// `wanted` is what it would write (its identity fields and mapped fields); `changed` says whether
/// the link's fingerprint no longer matches, for vendors that cannot be read.
pub struct Situation<'a> {
    pub desired: &'a Desired,
    pub link: Option<&'a Link>,
    pub view: Option<&'a VendorView>,
    pub wanted: BTreeMap<String, String>,
    pub changed: bool,
    pub removal: Removal,
}

impl Situation<'_> {
    /// The steps, in the order the connector takes them; `[InSync]` when there is nothing to do.
    pub fn steps(&self) -> Vec<Step> {
        let steps = match (self.desired, self.view) {
            (Desired::Absent, None) => Vec::new(),
            (Desired::Absent, Some(view)) => match (self.removal, view.active) {
                (Removal::Delete, _) => vec![Step::Delete],
                (Removal::Deactivate, Some(false)) => Vec::new(),
                (Removal::Deactivate, _) => vec![Step::Deactivate],
            },
            (Desired::Present(_), None) => vec![Step::Create],
            (Desired::Present(user), Some(view)) => {
                let mut steps = Vec::new();
                let linked = self.link.is_some_and(|l| {
                    l.state == LinkState::Linked && l.remote_id.as_deref().is_none_or(|id| id == view.id)
                });
                if !linked {
                    steps.push(Step::Adopt { id: view.id.clone() });
                }
                let changes = self.changes(view);
                if !changes.is_empty() {
                    steps.push(Step::Update { changes });
                }
                let active = view.active.or(self.link.and_then(|l| l.pushed_active));
                match (active, user.active) {
                    (Some(true), false) | (None, false) => steps.push(Step::Deactivate),
                    (Some(false), true) => steps.push(Step::Reactivate),
                    _ => {}
                }
                steps
            }
        };
        if steps.is_empty() {
            vec![Step::InSync]
        } else {
            steps
        }
    }

    /// The wanted fields that differ from the vendor's (an absent one counts as empty).
    fn changes(&self, view: &VendorView) -> Vec<Change> {
        match &view.fields {
            Some(held) => self
                .wanted
                .iter()
                .filter(|(field, to)| held.get(*field).map_or("", String::as_str) != to.as_str())
                .map(|(field, to)| Change {
                    field: field.clone(),
                    from: Some(held.get(field).cloned().unwrap_or_default()),
                    to: to.clone(),
                })
                .collect(),
            None if self.changed => self
                .wanted
                .iter()
                .map(|(field, to)| Change {
                    field: field.clone(),
                    from: None,
                    to: to.clone(),
                })
                .collect(),
            None => Vec::new(),
        }
    }
}

/// What a connector writes for a user: its `identity` object (in the vendor's names, listed as
/// `identity_names`) with the mapped `fields` merged in, as vendor field → value.
pub fn wanted_fields(
    identity: serde_json::Value,
    identity_names: &[&str],
    fields: &Fields,
) -> BTreeMap<String, String> {
    let body = with_fields(&identity, fields, Empty::Clear).unwrap_or(identity);
    let names = identity_names.iter().map(|n| (*n).to_owned()).chain(fields.names());
    fields_of(&body, names)
}

/// The identity names and every field the vendor has: what `sync plan` reads of a vendor user.
pub fn all_names(identity_names: &[&str], fields: &[FieldSpec]) -> Vec<String> {
    identity_names
        .iter()
        .copied()
        .chain(fields.iter().map(|f| f.name))
        .map(str::to_owned)
        .collect()
}

/// Reads dotted `names` out of a vendor's JSON user as text (numbers and booleans as written).
pub fn fields_of(user: &serde_json::Value, names: impl IntoIterator<Item = String>) -> BTreeMap<String, String> {
    names
        .into_iter()
        .map(|name| {
            let value = name
                .split('.')
                .try_fold(user, |v, part| v.get(part))
                .and_then(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    serde_json::Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            (name, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::UserState;

    fn user(active: bool) -> Desired {
        Desired::Present(UserState {
            resource_id: "r".into(),
            user_name: "a@x".into(),
            email: "a@x".into(),
            given_name: "A".into(),
            family_name: "B".into(),
            active,
            password: None,
            is_administrator: false,
            fields: Default::default(),
        })
    }

    fn linked(id: &str, active: bool) -> Link {
        Link {
            state: LinkState::Linked,
            remote_id: Some(id.into()),
            remote_key: Some("a@x".into()),
            pushed_hash: Some("h".into()),
            pushed_active: Some(active),
        }
    }

    fn view(id: &str, active: Option<bool>, first: &str) -> VendorView {
        VendorView {
            id: id.into(),
            active,
            fields: Some([("firstName".to_owned(), first.to_owned())].into()),
        }
    }

    fn steps(desired: &Desired, link: Option<&Link>, view: Option<&VendorView>, removal: Removal) -> Vec<&'static str> {
        let situation = Situation {
            desired,
            link,
            view,
            wanted: [("firstName".to_owned(), "A".to_owned())].into(),
            changed: false,
            removal,
        };
        situation.steps().iter().map(Step::word).collect()
    }

    #[test]
    fn every_outcome_follows_from_the_link_and_what_the_vendor_holds() {
        let d = Removal::Delete;
        assert_eq!(steps(&user(true), None, None, d), ["create"]);
        assert_eq!(
            steps(&user(true), None, Some(&view("v1", Some(true), "A")), d),
            ["adopt"]
        );
        let link = linked("v1", true);
        assert_eq!(
            steps(&user(true), Some(&link), Some(&view("v1", Some(true), "A")), d),
            ["in sync"]
        );
        assert_eq!(
            steps(&user(true), Some(&link), Some(&view("v1", Some(true), "Z")), d),
            ["update"]
        );
        assert_eq!(
            steps(&user(false), Some(&link), Some(&view("v1", Some(true), "A")), d),
            ["deactivate"]
        );
        assert_eq!(
            steps(&user(true), Some(&link), Some(&view("v1", Some(false), "A")), d),
            ["reactivate"]
        );
        assert_eq!(
            steps(&Desired::Absent, Some(&link), Some(&view("v1", Some(true), "A")), d),
            ["delete"]
        );
        assert_eq!(steps(&Desired::Absent, Some(&link), None, d), ["in sync"]);
        let r = Removal::Deactivate;
        assert_eq!(
            steps(&Desired::Absent, Some(&link), Some(&view("v1", Some(true), "A")), r),
            ["deactivate"]
        );
        assert_eq!(
            steps(&Desired::Absent, Some(&link), Some(&view("v1", Some(false), "A")), r),
            ["in sync"]
        );
        assert_eq!(
            steps(&user(true), None, Some(&view("v1", Some(false), "Z")), d),
            ["adopt", "update", "reactivate"]
        );
    }

    #[test]
    fn an_update_names_each_field_with_the_vendors_value_and_the_wanted_one() {
        let desired = user(true);
        let link = linked("v1", true);
        let held = view("v1", Some(true), "Q");
        let situation = Situation {
            desired: &desired,
            link: Some(&link),
            view: Some(&held),
            wanted: [
                ("firstName".to_owned(), "A".to_owned()),
                ("title".to_owned(), String::new()),
            ]
            .into(),
            changed: false,
            removal: Removal::Delete,
        };
        assert_eq!(
            situation.steps(),
            [Step::Update {
                changes: vec![Change {
                    field: "firstName".into(),
                    from: Some("Q".into()),
                    to: "A".into()
                }]
            }]
        );
    }

    #[test]
    fn dotted_names_read_nested_values() {
        let user = serde_json::json!({"personalDetails": {"title": "Boss"}, "id": 7, "x": null});
        let fields = fields_of(
            &user,
            ["personalDetails.title".into(), "id".into(), "x".into(), "y.z".into()],
        );
        assert_eq!(fields["personalDetails.title"], "Boss");
        assert_eq!(fields["id"], "7");
        assert_eq!((fields["x"].as_str(), fields["y.z"].as_str()), ("", ""));
    }
}
