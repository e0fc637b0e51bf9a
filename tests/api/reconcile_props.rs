//! The promise of `sync plan` and observe mode as a property: for random situations at every
//! registered vendor (it holds nothing, the user active or inactive, with other values, beside a
//! near namesake; the link present, stale, or a create of unknown outcome; the user active,
//! inactive, renamed, deleted or out of scope), the steps the plan reports are exactly the calls
//! the write path then makes, in the same order, each update carrying the planned values. Each
//! case runs against the vendor's stateful fake.
//!
//! The one sanctioned difference: a vendor that takes a link at its word (no read per user) may
//! find the record gone when it writes. Its first planned call then meets nothing, and the write
//! path goes on exactly as a plan made without the link says.
use crate::fake_vendors::AnyFake;
use crate::targets::target_for;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use scim_bridge::config::TargetKind;
use scim_bridge::sync::connectors::Connector;
use scim_bridge::sync::reconcile::Step;
use scim_bridge::sync::{Desired, Link, LinkState, UserState};
use serde_json::Value;

const KEY: &str = "ann@example.com";
const RENAMED: &str = "ann.new@example.com";

#[derive(Debug, Clone, Copy)]
enum Held {
    Nothing,
    /// The record holds the user's names.
    Same {
        active: bool,
    },
    /// The record holds other names.
    Other {
        active: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkShape {
    None,
    /// Points at the held record, recording what it holds.
    ToHeld,
    /// Points at a record the vendor no longer has.
    Stale,
    /// A create went out and its answer was lost.
    Creating,
}

#[derive(Debug, Clone, Copy)]
enum Wanted {
    Present {
        active: bool,
        renamed: bool,
    },
    /// Deleted, or out of scope, with `on_delete = "delete"`.
    Absent,
    /// Deleted, or out of scope, with `on_delete = "deactivate"`.
    Retired,
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    held: Held,
    /// Another record under a key that contains this user's (a search by substring finds both).
    namesake: bool,
    /// A second record under the very same key, closed or disabled, where the vendor allows two
    /// (DocuSign: older accounts; Eloqua).
    duplicate: bool,
    link: LinkShape,
    wanted: Wanted,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let held = prop_oneof![
        Just(Held::Nothing),
        any::<bool>().prop_map(|active| Held::Same { active }),
        any::<bool>().prop_map(|active| Held::Other { active }),
    ];
    let link = prop::sample::select(vec![
        LinkShape::None,
        LinkShape::ToHeld,
        LinkShape::Stale,
        LinkShape::Creating,
    ]);
    let wanted = prop_oneof![
        3 => (any::<bool>(), any::<bool>()).prop_map(|(active, renamed)| Wanted::Present { active, renamed }),
        1 => Just(Wanted::Absent),
        1 => Just(Wanted::Retired),
    ];
    (held, any::<bool>(), any::<bool>(), link, wanted)
        .prop_map(|(held, namesake, duplicate, link, wanted)| Scenario {
            held,
            namesake,
            duplicate,
            link,
            wanted,
        })
        // A link to the held record needs one; the worker has no row for a user neither wanted
        // nor linked.
        .prop_filter("a coherent situation", |s| {
            let linked = matches!(s.link, LinkShape::ToHeld | LinkShape::Stale);
            !(s.link == LinkShape::ToHeld && matches!(s.held, Held::Nothing))
                && (matches!(s.wanted, Wanted::Present { .. }) || linked)
        })
}

fn user(email: &str, first: &str, active: bool) -> UserState {
    UserState {
        resource_id: "r1".into(),
        user_name: email.into(),
        email: email.into(),
        given_name: first.into(),
        family_name: "Lee".into(),
        active,
        password: None,
        is_administrator: false,
        fields: Default::default(),
        creatable: true,
        groups: Default::default(),
    }
}

impl Scenario {
    fn desired(&self) -> Desired {
        match self.wanted {
            Wanted::Present { active, renamed } => {
                Desired::Present(user(if renamed { RENAMED } else { KEY }, "Ann", active))
            }
            Wanted::Absent => Desired::Absent,
            Wanted::Retired => Desired::Retired,
        }
    }

    fn link(&self) -> Option<Link> {
        let (first, active) = match self.held {
            Held::Same { active } => ("Ann", active),
            Held::Other { active } => ("Old", active),
            Held::Nothing => ("Ann", true),
        };
        match self.link {
            LinkShape::None => None,
            LinkShape::ToHeld => Some(Link {
                state: LinkState::Linked,
                remote_id: Some("7".into()),
                remote_key: Some(KEY.into()),
                pushed_hash: Some(user(KEY, first, active).fingerprint()),
                pushed_active: Some(active),
                written_fields: None,
            }),
            LinkShape::Stale => Some(Link {
                state: LinkState::Linked,
                remote_id: Some("404".into()),
                remote_key: Some("gone@example.com".into()),
                pushed_hash: Some("behind".into()),
                pushed_active: Some(true),
                written_fields: None,
            }),
            LinkShape::Creating => Some(Link::creating(KEY)),
        }
    }

    fn seed(&self, kind: TargetKind, fake: &AnyFake) {
        match self.held {
            Held::Nothing => {}
            Held::Same { active } => fake.seed_user(7, KEY, "Ann", "Lee", active),
            Held::Other { active } => fake.seed_user(7, KEY, "Old", "Lee", active),
        }
        if self.namesake {
            fake.seed_user(99, &format!("jo{KEY}"), "Jo", "Ann", true);
        }
        if self.duplicate && matches!(kind, TargetKind::Docusign | TargetKind::Eloqua) {
            fake.seed_user(8, KEY, "Dup", "Lee", false);
        }
    }
}

/// A vendor call the write path made: method, path and body.
struct Call {
    method: String,
    path: String,
    body: Value,
}

/// The steps a write call can carry out, or `None` for a read. Every registered vendor is
/// listed, with no fallback arm (docs/vendors/).
fn steps_of(kind: TargetKind, call: &Call) -> Option<&'static [&'static str]> {
    let (method, path) = (call.method.as_str(), call.path.as_str());
    if method == "GET" || path.starts_with("/oauth/") || path.ends_with("/Logon/") || path.ends_with("/Logoff") {
        return None;
    }
    Some(match kind {
        TargetKind::Workspace365 => match method {
            _ if path.ends_with("/Validate/") => return None,
            "POST" => &["create"],
            "DELETE" => &["delete"],
            _ if path.ends_with("/Activate/") => &["activate"],
            _ if path.ends_with("/Deactivate/") => &["deactivate"],
            _ => &["update"],
        },
        TargetKind::Esign => match method {
            "POST" => &["create"],
            _ if path.ends_with("/provisionUser") && call.body["userStatus"] == 1 => &["activate"],
            _ if path.ends_with("/provisionUser") => &["deactivate"],
            _ => &["update"],
        },
        TargetKind::Cyberark => match method {
            "POST" if path.ends_with("/API/Users/") => &["create"],
            "POST" if path.ends_with("/disable/") => &["deactivate"],
            "POST" => &["activate"],
            "DELETE" => &["delete"],
            _ => &["update"],
        },
        // A re-open is a create with the same e-mail (GUESS, docs/vendors/docusign.md).
        TargetKind::Docusign => match method {
            "POST" => &["create", "activate"],
            "DELETE" => &["deactivate"],
            _ => &["update"],
        },
        TargetKind::Eloqua => match method {
            "POST" => &["create"],
            "DELETE" => &["delete"],
            _ if path.ends_with("/enabled") && call.body["enabled"] == true => &["activate"],
            _ if path.ends_with("/enabled") => &["deactivate"],
            _ => &["update"],
        },
    })
}

/// Where an update's body holds the vendor's fields.
fn updated_fields(kind: TargetKind, body: &Value) -> &Value {
    match kind {
        TargetKind::Workspace365 | TargetKind::Cyberark | TargetKind::Eloqua => body,
        TargetKind::Esign => &body["user"],
        TargetKind::Docusign => &body["users"][0],
    }
}

/// A dotted field of a JSON body, as text.
fn field<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    name.split('.').try_fold(body, |v, part| v.get(part))
}

/// The words of the steps that make calls (an adopt makes none).
fn calling(steps: &[Step]) -> Vec<Step> {
    steps
        .iter()
        .filter(|s| !matches!(s, Step::Adopt { .. }))
        .cloned()
        .collect()
}

/// One case: the plan, then the write path, against a fresh fake; `Err` says how they differ.
async fn plan_then_write(kind: TargetKind, scenario: Scenario) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let (server, fake) = AnyFake::start(kind).await;
    scenario.seed(kind, &fake);
    let target = target_for(kind, &server.uri(), dir.path());
    let http = scim_bridge::sync::client::http_client(std::time::Duration::from_secs(5)).unwrap();
    let connector = Connector::build(&target, http, Default::default(), Default::default(), None).unwrap();
    let (desired, link) = (scenario.desired(), scenario.link());
    let planned = connector.plan_batch(&[(desired.clone(), link.clone())]).await.remove(0);
    let unlinked = connector.plan_batch(&[(desired.clone(), None)]).await.remove(0);
    let before = server.received_requests().await.unwrap().len();
    let written = connector.reconcile_batch(&[(desired, link)]).await.remove(0);
    let calls: Vec<Call> = server.received_requests().await.unwrap()[before..]
        .iter()
        .map(|r| Call {
            method: r.method.to_string(),
            path: r.url.path().to_owned(),
            body: r.body_json().unwrap_or(Value::Null),
        })
        .collect();
    connector.shutdown().await;
    let writes: Vec<(&Call, &[&str])> = calls.iter().filter_map(|c| Some((c, steps_of(kind, c)?))).collect();
    // CyberArk activates in two calls: `enable/`, then the seed's `Activate` for a suspended user.
    let mut merged: Vec<(&Call, &[&str])> = Vec::new();
    for write in writes {
        match merged.last() {
            Some(last) if last.1 == ["activate"] && write.1 == ["activate"] => {}
            _ => merged.push(write),
        }
    }
    let planned = match (planned, &written) {
        (Err(plan_error), Err(write_error)) if plan_error == write_error.error && merged.is_empty() => return Ok(()),
        (Err(e), _) => return Err(format!("the plan failed ({e}) but the write path gave {written:?}")),
        (Ok(steps), _) => steps,
    };
    let expected: Vec<Step> = match written.as_ref().ok().and_then(|w| w.contradicted.as_ref()) {
        None => calling(&planned),
        Some(words) => {
            if scenario.link != LinkShape::Stale {
                return Err(format!("contradicted ({words}) without a stale link"));
            }
            let first = calling(&planned).into_iter().take(1);
            first.chain(calling(&unlinked.map_err(|e| e.to_string())?)).collect()
        }
    };
    // A refusal stops the write path at the call refused: the calls are then the plan's first ones.
    let length_ok = match &written {
        Ok(_) => merged.len() == expected.len(),
        Err(_) => merged.len() <= expected.len(),
    };
    if !length_ok
        || merged
            .iter()
            .zip(&expected)
            .any(|((_, words), step)| !words.contains(&step.word()))
    {
        let made: Vec<String> = merged.iter().map(|(c, _)| format!("{} {}", c.method, c.path)).collect();
        return Err(format!(
            "planned {expected:?}, the write path made {made:?} ({written:?})"
        ));
    }
    for ((call, _), step) in merged.iter().zip(&expected) {
        let Step::Update { changes } = step else { continue };
        let fields = updated_fields(kind, &call.body);
        for change in changes {
            let sent = field(fields, &change.field).and_then(Value::as_str);
            let must = change.from.is_some();
            if (must || sent.is_some()) && sent != Some(change.to.as_str()) {
                return Err(format!("{} planned as {:?}, sent as {sent:?}", change.field, change.to));
            }
        }
    }
    if fake.duplicate_creates() > 0 {
        return Err(format!("a create of a user the vendor holds: {:?}", fake.calls()));
    }
    written.map(drop).or_else(|e| {
        // A vendor may refuse what the plan said it would do; the plan said it all the same.
        if merged.is_empty() {
            Err(format!("failed before any call: {e}"))
        } else {
            Ok(())
        }
    })
}

#[test]
fn for_every_vendor_the_write_path_makes_exactly_the_calls_the_plan_reports() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for kind in TargetKind::ALL.iter().copied() {
        // PROPTEST_CASES may raise the count for a deeper local run, never lower it.
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mut runner = TestRunner::new(Config {
            cases: cases.max(64),
            failure_persistence: None,
            ..Config::default()
        });
        let outcome = runner.run(&scenario(), |scenario| {
            runtime
                .block_on(plan_then_write(kind, scenario))
                .map_err(|why| TestCaseError::fail(format!("{kind:?} {scenario:?}: {why}")))
        });
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
    }
}
