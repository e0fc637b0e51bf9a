//! `decide` as a table: each row a situation (what the user should be, the link, what the vendor
//! holds, the vendor's rules) and the steps it must give.
use super::*;
use crate::sync::reconcile::StepKind;
use crate::sync::Secret;

const DELETES: Rules = Rules {
    removal: Removal::Delete,
    new_user: NewUser::Active,
    password_field: None,
};
const CLOSES: Rules = Rules {
    removal: Removal::Deactivate,
    new_user: NewUser::Unknown,
    password_field: None,
};
const SETS_STATE: Rules = Rules {
    new_user: NewUser::AsAsked,
    ..DELETES
};
const TAKES_PASSWORDS: Rules = Rules {
    password_field: Some("Password"),
    ..DELETES
};

fn user(active: bool) -> UserState {
    UserState {
        resource_id: "r".into(),
        user_name: "a@x".into(),
        email: "a@x".into(),
        given_name: "A".into(),
        family_name: "B".into(),
        active,
        password: None,
        is_administrator: false,
        fields: Default::default(),
        creatable: true,
        groups: Default::default(),
    }
}

fn present(active: bool) -> Desired {
    Desired::Present(user(active))
}

fn wanted() -> BTreeMap<String, String> {
    [("firstName".to_owned(), "A".to_owned())].into()
}

fn fields(first: &str) -> BTreeMap<String, String> {
    [("firstName".to_owned(), first.to_owned())].into()
}

fn link(hash: Option<String>, active: Option<bool>) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: Some("v1".into()),
        remote_key: Some("a@x".into()),
        pushed_hash: hash,
        pushed_active: active,
        written_fields: None,
    }
}

/// A record the vendor holds: linked or not, its state, and its fields when read.
fn view(linked: bool, active: Option<bool>, fields: Option<&BTreeMap<String, String>>) -> View<'_> {
    View {
        id: "v1",
        linked,
        active,
        suspended: false,
        fields,
        protected: None,
        groups: None,
    }
}

fn words(desired: &Desired, link: Option<&Link>, view: Option<&View<'_>>, rules: &Rules) -> Vec<&'static str> {
    decide(desired, &wanted(), link, view, rules)
        .unwrap()
        .iter()
        .map(Step::word)
        .collect()
}

#[test]
fn a_user_the_vendor_does_not_hold_is_created_in_the_state_the_vendor_can_take() {
    assert_eq!(words(&present(true), None, None, &DELETES), ["create"]);
    assert_eq!(words(&present(false), None, None, &DELETES), ["create", "deactivate"]);
    assert_eq!(words(&present(false), None, None, &SETS_STATE), ["create"]);
    assert_eq!(words(&present(true), None, None, &CLOSES), ["create", "activate"]);
    assert_eq!(words(&present(false), None, None, &CLOSES), ["create", "deactivate"]);
}

#[test]
fn a_user_the_vendor_holds_unlinked_is_adopted_and_only_what_differs_is_sent() {
    let equal = fields("A");
    let other = fields("Z");
    let r = &DELETES;
    assert_eq!(
        words(&present(true), None, Some(&view(false, Some(true), Some(&equal))), r),
        ["adopt"]
    );
    assert_eq!(
        words(&present(true), None, Some(&view(false, Some(true), Some(&other))), r),
        ["adopt", "update"]
    );
    assert_eq!(
        words(&present(true), None, Some(&view(false, Some(false), Some(&other))), r),
        ["adopt", "activate", "update"]
    );
    // Workspace365's dry run says only that the user exists: its fields are sent, its state is
    // left as an administrator may have set it, unless the IdP deactivated the user.
    assert_eq!(
        words(&present(true), None, Some(&view(false, None, None)), r),
        ["adopt", "update"]
    );
    assert_eq!(
        words(&present(false), None, Some(&view(false, None, None)), r),
        ["adopt", "update", "deactivate"]
    );
}

#[test]
fn a_linked_user_is_brought_up_to_date_from_what_was_read_or_else_the_fingerprint() {
    let u = user(true);
    let settled = link(Some(u.fingerprint()), Some(true));
    let behind = link(Some("old".into()), Some(true));
    let equal = fields("A");
    let r = &DELETES;
    assert!(words(&present(true), Some(&settled), Some(&view(true, Some(true), None)), r).is_empty());
    assert_eq!(
        words(&present(true), Some(&behind), Some(&view(true, Some(true), None)), r),
        ["update"]
    );
    // Fields that were read decide, whatever the fingerprint says (`sync resync` forgets it).
    assert!(words(
        &present(true),
        Some(&behind),
        Some(&view(true, Some(true), Some(&equal))),
        r
    )
    .is_empty());
    assert_eq!(
        words(&present(false), Some(&settled), Some(&view(true, Some(true), None)), r),
        ["deactivate"]
    );
    assert!(words(&present(false), Some(&settled), Some(&view(true, Some(false), None)), r).is_empty());
    assert_eq!(
        words(&present(true), Some(&settled), Some(&view(true, Some(false), None)), r),
        ["activate"]
    );
    // A linked record with no state recorded (an operator's `link set`) gets the IdP's.
    let never_pushed = link(Some(u.fingerprint()), None);
    assert_eq!(
        words(&present(true), Some(&never_pushed), Some(&view(true, None, None)), r),
        ["activate"]
    );
    let suspended = View {
        suspended: true,
        ..view(true, Some(true), None)
    };
    assert_eq!(words(&present(true), Some(&settled), Some(&suspended), r), ["activate"]);
}

#[test]
fn removal_follows_the_vendor_and_a_retired_user_is_only_ever_deactivated() {
    let active = view(true, Some(true), None);
    let inactive = view(true, Some(false), None);
    let unknown = view(true, None, None);
    let l = link(None, Some(true));
    for desired in [Desired::Absent, Desired::Retired] {
        assert!(words(&desired, Some(&l), None, &DELETES).is_empty(), "nothing held");
    }
    assert_eq!(words(&Desired::Absent, Some(&l), Some(&active), &DELETES), ["delete"]);
    assert_eq!(
        words(&Desired::Absent, Some(&l), Some(&active), &CLOSES),
        ["deactivate"]
    );
    assert!(words(&Desired::Absent, Some(&l), Some(&inactive), &CLOSES).is_empty());
    assert_eq!(
        words(&Desired::Retired, Some(&l), Some(&active), &DELETES),
        ["deactivate"]
    );
    assert_eq!(
        words(&Desired::Retired, Some(&l), Some(&unknown), &DELETES),
        ["deactivate"]
    );
    assert!(
        words(&Desired::Retired, Some(&l), Some(&inactive), &DELETES).is_empty(),
        "a deleted user kept deactivated is in sync"
    );
}

#[test]
fn an_update_names_each_field_with_the_vendors_value_or_none_when_not_read() {
    let held = fields("Q");
    let wanted: BTreeMap<String, String> = [
        ("firstName".to_owned(), "A".to_owned()),
        ("title".to_owned(), String::new()),
    ]
    .into();
    let steps = decide(
        &present(true),
        &wanted,
        None,
        Some(&view(true, Some(true), Some(&held))),
        &DELETES,
    )
    .unwrap();
    assert_eq!(
        steps,
        [Step::Update {
            changes: vec![Change {
                field: "firstName".into(),
                from: Some("Q".into()),
                to: "A".into()
            }]
        }]
    );
    let steps = decide(
        &present(true),
        &wanted,
        None,
        Some(&view(true, Some(true), None)),
        &DELETES,
    )
    .unwrap();
    let Step::Update { changes } = &steps[0] else {
        panic!("{steps:?}")
    };
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| c.from.is_none()));
}

#[test]
fn a_waiting_password_is_an_update_where_the_vendor_takes_one_and_never_shown() {
    let mut u = user(true);
    u.password = Some(Secret::new("hunter2"));
    let settled = link(Some(u.fingerprint()), Some(true));
    let desired = Desired::Present(u);
    let held = view(true, Some(true), None);
    let steps = decide(&desired, &wanted(), Some(&settled), Some(&held), &TAKES_PASSWORDS).unwrap();
    assert_eq!(
        Step::describe_all(&steps),
        r#"update Password: (not read) -> "(the password the IdP sent)""#
    );
    assert!(decide(&desired, &wanted(), Some(&settled), Some(&held), &DELETES)
        .unwrap()
        .is_empty());
}

#[test]
fn a_protected_record_is_refused_whatever_is_wanted() {
    let guarded = View {
        protected: Some("'Administrator' is a built-in vault user"),
        ..view(true, Some(true), None)
    };
    for desired in [present(true), Desired::Absent, Desired::Retired] {
        let refused = decide(&desired, &wanted(), None, Some(&guarded), &DELETES).unwrap_err();
        assert!(refused.contains("built-in"), "{refused}");
    }
}

#[test]
fn an_inactive_user_the_target_does_not_create_is_left_out_yet_deactivated_where_found() {
    let dormant = Desired::Present(UserState {
        creatable: false,
        ..user(false)
    });
    assert!(words(&dormant, None, None, &CLOSES).is_empty());
    let held = fields("Old");
    let found = view(false, Some(true), Some(&held));
    assert_eq!(
        words(&dormant, None, Some(&found), &CLOSES),
        ["adopt", "update", "deactivate"]
    );
}

/// A user whose rules want vendor groups `wanted`, of the managed `managed`.
fn entitled(active: bool, wanted: &[&str], managed: &[&str]) -> Desired {
    let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<String>>();
    Desired::Present(UserState {
        groups: std::sync::Arc::new(crate::sync::entitlements::Memberships {
            wanted: set(wanted),
            managed: std::sync::Arc::new(set(managed)),
            noun: "vault group",
            ..Default::default()
        }),
        ..user(active)
    })
}

fn groups_step(desired: &Desired, view: Option<&View<'_>>) -> Option<Step> {
    let link = link(None, Some(true));
    decide(desired, &wanted(), Some(&link), view, &DELETES)
        .unwrap()
        .into_iter()
        .find(|s| s.kind() == StepKind::Entitle)
}

#[test]
fn groups_are_added_and_removed_among_the_managed_ones_only() {
    let read = fields("A");
    let held = |names: &[&str]| {
        let mut v = view(true, Some(true), Some(&read));
        v.groups = Some(names.iter().map(|n| (*n).to_owned()).collect());
        v
    };
    let entitle = |add: &[&str], remove: &[&str]| {
        Some(Step::Entitle {
            noun: "vault group",
            add: add.iter().map(|g| (*g).to_owned()).collect(),
            remove: remove.iter().map(|g| (*g).to_owned()).collect(),
        })
    };
    let ann = entitled(true, &["Auditors"], &["Auditors", "Admins"]);
    // Adds what is missing, removes a managed group no longer wanted, never an unmanaged one.
    assert_eq!(
        groups_step(&ann, Some(&held(&["Admins", "Everyone"]))),
        entitle(&["Auditors"], &["Admins"])
    );
    assert_eq!(
        groups_step(&ann, Some(&held(&["auditors", "Everyone"]))),
        None,
        "case aside"
    );
    // Not known: adds only.
    let unknown = view(true, Some(true), Some(&read));
    assert_eq!(groups_step(&ann, Some(&unknown)), entitle(&["Auditors"], &[]));
    // An inactive user's grants are left as they are.
    let inactive = entitled(false, &["Auditors"], &["Auditors", "Admins"]);
    assert_eq!(groups_step(&inactive, Some(&held(&["Admins"]))), None);
    // A new user gets its groups right after the create.
    let created = decide(&ann, &wanted(), None, None, &DELETES).unwrap();
    assert_eq!(created, [Step::Create, entitle(&["Auditors"], &[]).unwrap()]);
    // No rules: nothing, whatever the vendor holds.
    assert_eq!(groups_step(&present(true), Some(&held(&["Admins"]))), None);
}
