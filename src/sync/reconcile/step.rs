//! What the bridge does at a vendor for one user, as `decide` chose it: the same list is printed by
//! `sync plan`, recorded by observe mode, and carried out by the write path.
use serde::Serialize;

/// One thing the bridge does at a vendor. Steps of one user always come in the order of the
/// variants here (a batch is carried out kind by kind in that order, DocuSign's bulk calls).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Step {
    Create,
    /// Link the vendor user found by e-mail or username instead of creating one (no call).
    Adopt {
        id: String,
    },
    Activate,
    Update {
        changes: Vec<Change>,
    },
    /// Vendor groups the entitlement rules add the user to or remove them from (only groups a
    /// rule names; docs/entitlements.md). `noun` is the vendor's word for a group.
    Entitle {
        noun: &'static str,
        add: Vec<String>,
        remove: Vec<String>,
    },
    Deactivate,
    Delete,
}

/// One field an update changes. `from` is `None` when the vendor's value was not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: Option<String>,
    pub to: String,
}

/// The kinds of step, in the order a user's steps are carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StepKind {
    Create,
    Adopt,
    Activate,
    Update,
    Entitle,
    Deactivate,
    Delete,
}

impl StepKind {
    pub const ALL: [StepKind; 7] = [
        Self::Create,
        Self::Adopt,
        Self::Activate,
        Self::Update,
        Self::Entitle,
        Self::Deactivate,
        Self::Delete,
    ];

    /// The word `sync plan` counts it under.
    pub fn word(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Adopt => "adopt",
            Self::Activate => "activate",
            Self::Update => "update",
            Self::Entitle => "entitle",
            Self::Deactivate => "deactivate",
            Self::Delete => "delete",
        }
    }
}

/// What `sync plan` prints for a user whose plan is empty.
pub const IN_SYNC: &str = "in sync";

impl Step {
    pub fn kind(&self) -> StepKind {
        match self {
            Self::Create => StepKind::Create,
            Self::Adopt { .. } => StepKind::Adopt,
            Self::Activate => StepKind::Activate,
            Self::Update { .. } => StepKind::Update,
            Self::Entitle { .. } => StepKind::Entitle,
            Self::Deactivate => StepKind::Deactivate,
            Self::Delete => StepKind::Delete,
        }
    }

    pub fn word(&self) -> &'static str {
        self.kind().word()
    }

    /// The step as `sync plan` prints it and an observed row's event records it.
    pub fn describe(&self) -> String {
        match self {
            Self::Adopt { id } => format!("adopt {id}"),
            Self::Update { changes } => format!("update {}", Self::describe_changes(changes)),
            Self::Entitle { noun, add, remove } => {
                let add = add.iter().map(|g| format!("+ {noun} {g}"));
                let remove = remove.iter().map(|g| format!("- {noun} {g}"));
                add.chain(remove).collect::<Vec<_>>().join(", ")
            }
            other => other.word().to_owned(),
        }
    }

    /// An update's changes as one line: `title: "A" -> "B", FirstName: (not read) -> "Ann"`.
    pub fn describe_changes(changes: &[Change]) -> String {
        let fields: Vec<String> = changes
            .iter()
            .map(|c| match &c.from {
                Some(from) => format!("{}: {from:?} -> {:?}", c.field, c.to),
                None => format!("{}: (not read) -> {:?}", c.field, c.to),
            })
            .collect();
        fields.join(", ")
    }

    /// Steps as one line: `adopt 17; update title: "A" -> "B"`, or `in sync`.
    pub fn describe_all(steps: &[Step]) -> String {
        if steps.is_empty() {
            return IN_SYNC.to_owned();
        }
        steps.iter().map(Step::describe).collect::<Vec<_>>().join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_as_one_line_and_an_empty_plan_is_in_sync() {
        let steps = [
            Step::Adopt { id: "17".into() },
            Step::Update {
                changes: vec![
                    Change {
                        field: "title".into(),
                        from: Some("A".into()),
                        to: "B".into(),
                    },
                    Change {
                        field: "FirstName".into(),
                        from: None,
                        to: "Ann".into(),
                    },
                ],
            },
            Step::Activate,
            Step::Entitle {
                noun: "vault group",
                add: vec!["Auditors".into()],
                remove: vec!["Vault Admins".into()],
            },
        ];
        assert_eq!(
            Step::describe_all(&steps),
            r#"adopt 17; update title: "A" -> "B", FirstName: (not read) -> "Ann"; activate; + vault group Auditors, - vault group Vault Admins"#
        );
        assert_eq!(Step::describe_all(&[]), "in sync");
    }

    #[test]
    fn the_kinds_are_listed_in_the_order_of_the_variants() {
        let mut sorted = StepKind::ALL;
        sorted.sort();
        assert_eq!(sorted, StepKind::ALL);
    }
}
