//! The engine with an in-memory vendor: what a plan says is what the write path does, links land
//! as steps do, a contradiction is observed again once, and steps go out kind by kind.
use super::*;
use crate::sync::mapping::FieldSpec;
use crate::sync::vendor::{BuildError, Held, Observed, Setup, TargetConfig};
use crate::sync::{LinkState, UserState};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A vendor keeping users by e-mail in memory, trusting links like Workspace365 (`as_linked`) or
/// reading them like CyberArk, and logging every call it gets.
#[derive(Default)]
struct Memory {
    users: Mutex<BTreeMap<String, (String, bool)>>,
    calls: Mutex<Vec<String>>,
    as_linked: bool,
    /// Every create answers "already there" (a vendor whose search cannot see what it holds).
    refuses_creates: bool,
}

impl Memory {
    fn holding(users: &[(&str, &str, bool)], as_linked: bool) -> Self {
        let memory = Self {
            as_linked,
            ..Self::default()
        };
        for (email, first, active) in users {
            memory
                .users
                .lock()
                .unwrap()
                .insert((*email).to_owned(), ((*first).to_owned(), *active));
        }
        memory
    }

    fn log(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn held(&self, email: &str) -> Option<Held<()>> {
        let (first, active) = self.users.lock().unwrap().get(email).cloned()?;
        Some(Held {
            id: Some(format!("id-{email}")),
            key: Some(email.to_owned()),
            active: Some(active),
            suspended: false,
            fields: Some([("first".to_owned(), first)].into()),
            protected: (email == "admin@x").then(|| "a built-in user".to_owned()),
            note: None,
            status: None,
            groups: None,
            record: (),
        })
    }
}

/// The memory vendor's keys: none.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct NoKeys;

impl TargetConfig for NoKeys {
    type Vendor = Memory;

    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    fn build(&self, _: Setup) -> Result<Memory, BuildError> {
        Ok(Memory::default())
    }
}

impl Vendor for Memory {
    type Config = NoKeys;
    type Record = ();
    const KIND: &'static str = "memory";
    const RULES: Rules = Rules {
        removal: Removal::Delete,
        new_user: NewUser::Active,
        password_field: None,
    };
    const FIELDS: &'static [FieldSpec] = &[];
    const CHECKED: &'static str = "memory answered";

    fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        [("first".to_owned(), user.given_name.clone())].into()
    }

    async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Observed<()>, ConnectorError> {
        if self.as_linked && link.is_some_and(|l| l.state == LinkState::Linked) {
            return Ok(Observed::AsLinked);
        }
        let key = match desired {
            Desired::Present(user) => user.email.clone(),
            _ => link.and_then(|l| l.remote_key.clone()).unwrap_or_default(),
        };
        Ok(self.held(&key).map_or(Observed::Nothing, Observed::Found))
    }

    async fn apply(&self, step: &Step, at: Applying<'_, ()>) -> Result<Applied, ConnectorError> {
        let key = at
            .key
            .map(str::to_owned)
            .or_else(|| at.user.map(|u| u.email.clone()))
            .unwrap_or_default();
        self.log(format!("{} {key}", step.word()));
        let mut users = self.users.lock().unwrap();
        Ok(match step {
            Step::Create => {
                let user = at.user.unwrap();
                if self.refuses_creates || users.contains_key(&user.email) {
                    return Ok(Applied::Taken(ConnectorError::permanent(Some(409), "exists")));
                }
                users.insert(user.email.clone(), (user.given_name.clone(), true));
                Applied::Id(format!("id-{}", user.email))
            }
            Step::Update { .. } => match users.remove(&key) {
                None => Applied::Vanished(ConnectorError::permanent(Some(404), format!("{key} not found"))),
                Some((_, active)) => {
                    let user = at.user.unwrap();
                    users.insert(user.email.clone(), (user.given_name.clone(), active));
                    Applied::Done
                }
            },
            Step::Activate | Step::Deactivate => match users.get_mut(&key) {
                None => Applied::Vanished(ConnectorError::permanent(Some(404), format!("{key} not found"))),
                Some(held) => {
                    held.1 = *step == Step::Activate;
                    Applied::Done
                }
            },
            Step::Delete => {
                users.remove(&key);
                Applied::Done
            }
            Step::Adopt { .. } => unreachable!("adopt makes no call"),
            Step::Entitle { .. } => unreachable!("this vendor grants nothing"),
        })
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

fn person(email: &str, first: &str, active: bool) -> Desired {
    Desired::Present(UserState {
        resource_id: format!("r-{email}"),
        user_name: email.into(),
        email: email.into(),
        given_name: first.into(),
        family_name: "T".into(),
        active,
        password: None,
        is_administrator: false,
        fields: Default::default(),
        creatable: true,
        groups: Default::default(),
    })
}

fn words(steps: &[Step]) -> Vec<&'static str> {
    steps.iter().map(Step::word).collect()
}

#[tokio::test]
async fn the_write_path_makes_exactly_the_calls_the_plan_names() {
    let memory = Memory::holding(&[("held@x", "Old", false), ("same@x", "Ann", true)], false);
    let batch = vec![
        (person("new@x", "New", false), None),
        (person("held@x", "Ann", true), None),
        (person("same@x", "Ann", true), None),
    ];
    let planned: Vec<Vec<&str>> = plan(&memory, &batch)
        .await
        .into_iter()
        .map(|p| words(&p.unwrap()))
        .collect();
    assert_eq!(
        planned,
        [
            vec!["create", "deactivate"],
            vec!["adopt", "activate", "update"],
            vec!["adopt"]
        ]
    );
    assert!(memory.calls().is_empty(), "a plan writes nothing");
    let written = write(&memory, &batch).await;
    // Steps go out kind by kind: every create, then every activate, update, deactivate.
    assert_eq!(
        memory.calls(),
        ["create new@x", "activate held@x", "update held@x", "deactivate new@x"]
    );
    let links: Vec<Link> = written.into_iter().map(|r| r.unwrap().link).collect();
    assert_eq!(links[0].remote_id.as_deref(), Some("id-new@x"));
    assert_eq!(links[0].pushed_active, Some(false));
    assert_eq!(links[1].remote_id.as_deref(), Some("id-held@x"));
    assert_eq!(links[1].pushed_active, Some(true));
    for (link, (desired, _)) in links.iter().zip(&batch) {
        let Desired::Present(user) = desired else {
            unreachable!()
        };
        assert_eq!(link.pushed_hash.as_deref(), Some(user.fingerprint().as_str()));
        assert_eq!(link.state, LinkState::Linked);
    }
    // Settled: the plan is empty for everyone.
    let settled: Vec<(Desired, Option<Link>)> = batch
        .into_iter()
        .map(|(d, _)| d)
        .zip(links.into_iter().map(Some))
        .collect();
    for planned in plan(&memory, &settled).await {
        assert_eq!(planned.unwrap(), []);
    }
}

#[tokio::test]
async fn a_link_taken_at_its_word_that_the_vendor_contradicts_is_observed_again_once() {
    let memory = Memory::holding(&[], true);
    let stale = Link {
        state: LinkState::Linked,
        remote_id: Some("gone-1".into()),
        remote_key: Some("old@x".into()),
        pushed_hash: Some("behind".into()),
        pushed_active: Some(true),
        written_fields: None,
    };
    let batch = vec![(person("ann@x", "Ann", true), Some(stale))];
    let planned = plan(&memory, &batch).await.pop().unwrap().unwrap();
    assert_eq!(words(&planned), ["update"]);
    let written = write(&memory, &batch).await.pop().unwrap().unwrap();
    assert_eq!(memory.calls(), ["update old@x", "create ann@x"]);
    assert_eq!(written.link.remote_id.as_deref(), Some("id-ann@x"));
    assert_eq!(words(&written.steps), ["create"]);
}

#[tokio::test]
async fn a_create_that_meets_a_user_made_meanwhile_adopts_it_and_twice_fails_with_the_words() {
    let memory = Memory::holding(&[], false);
    let batch = vec![(person("ann@x", "Ann", true), None)];
    let planned = plan(&memory, &batch).await.pop().unwrap().unwrap();
    assert_eq!(words(&planned), ["create"]);
    // Someone makes the user between the look-up and the create.
    memory
        .users
        .lock()
        .unwrap()
        .insert("ann@x".into(), ("Ann".into(), true));
    let written = write(&memory, &batch).await.pop().unwrap().unwrap();
    assert_eq!(words(&written.steps), ["adopt"]);
    assert_eq!(written.link.remote_id.as_deref(), Some("id-ann@x"));

    let stubborn = Memory {
        refuses_creates: true,
        ..Memory::default()
    };
    let failed = write(&stubborn, &batch).await.pop().unwrap().unwrap_err();
    assert_eq!(
        stubborn.calls(),
        ["create ann@x"],
        "no second create where the look-up finds nobody"
    );
    assert_eq!(
        failed.error,
        ConnectorError::permanent(Some(409), "exists"),
        "the vendor's own answer stands"
    );
    assert_eq!(failed.step, Some(Box::new(Step::Create)), "the create is what failed");
    assert!(failed.done.is_empty());
    assert!(!failed.error.is_retryable());
}

#[tokio::test]
async fn removal_and_retirement_leave_the_links_they_should() {
    let memory = Memory::holding(&[("bob@x", "Bob", true), ("cy@x", "Cy", true)], false);
    let link = |email: &str| Link {
        state: LinkState::Linked,
        remote_id: Some(format!("id-{email}")),
        remote_key: Some(email.to_owned()),
        pushed_hash: None,
        pushed_active: Some(true),
        written_fields: None,
    };
    let batch = vec![
        (Desired::Absent, Some(link("bob@x"))),
        (Desired::Retired, Some(link("cy@x"))),
        (Desired::Retired, Some(link("nobody@x"))),
    ];
    let written: Vec<Reconciled> = write(&memory, &batch).await.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(memory.calls(), ["deactivate cy@x", "delete bob@x"]);
    assert_eq!(written[0].link, Link::gone());
    assert_eq!(
        (written[1].link.state, written[1].link.pushed_active),
        (LinkState::Linked, Some(false))
    );
    assert_eq!(written[2].link, Link::gone(), "nothing left to keep deactivated");
    let again = plan(&memory, &[(Desired::Retired, Some(written[1].link.clone()))]).await;
    assert_eq!(again[0].as_ref().unwrap(), &[], "a retired user plans as in sync");
}

#[tokio::test]
async fn a_protected_record_fails_the_user_and_no_call_is_made() {
    let memory = Memory::holding(&[("admin@x", "Root", true)], false);
    let written = write(&memory, &[(person("admin@x", "Ann", true), None)]).await;
    let error = written[0].as_ref().unwrap_err();
    assert!(error.to_string().contains("built-in"), "{error}");
    assert!(memory.calls().is_empty());
}
