//! The operator commands against a database with a target: `sync status|retry|resync`, `lookup`.
use crate::crash::write_config;
use crate::targets::W365_KEY;
use scim_bridge::config::Settings;
use scim_bridge::store::{Claim, Event, Store};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");

fn run(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn store_for(config: &Path) -> Store {
    let settings = Settings::load(Some(config)).unwrap();
    scim_bridge::app::open_or_create_store(&settings).await.unwrap()
}

async fn add_user(store: &Store, email: &str) -> String {
    let doc = serde_json::from_value(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email, "emails": [{"value": email, "primary": true}]}))
    .unwrap();
    store.insert_user(&doc, None).await.unwrap().id
}

/// The `sync status` line of target w365, split into words.
fn status_of_w365(config: &Path) -> Vec<String> {
    let (ok, out, err) = run(config, &["sync", "status"]);
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("w365"))
        .unwrap_or_else(|| panic!("{out}"));
    line.split_whitespace().map(str::to_owned).collect()
}

#[tokio::test]
async fn status_retry_resync_and_lookup_tell_and_steer_what_the_queue_holds() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9");
    let store = store_for(&config).await;
    let ann = add_user(&store, "ann@example.com").await;
    add_user(&store, "bob@example.com").await;
    let cat = add_user(&store, "cat@example.com").await;
    let dead = Claim {
        resource_id: ann.clone(),
        target: "w365".into(),
        generation: 1,
        attempts: 0,
        guard: None,
        cause: None,
    };
    let event = Event {
        http_status: Some(400),
        latency_ms: 12.5,
        error: Some("w365: EmailAddress: The e-mail address is not valid".into()),
        ..Event::new(
            scim_bridge::store::EventAction::Create,
            scim_bridge::store::EventOutcome::Failed,
        )
    };
    store
        .finish_failure(
            &dead,
            None,
            "w365: EmailAddress: The e-mail address is not valid",
            std::slice::from_ref(&event),
        )
        .await
        .unwrap();

    let words = status_of_w365(&config);
    assert_eq!(
        (words[1].as_str(), words[2].as_str()),
        ("2", "1"),
        "two pending (bob, cat), one dead: {words:?}"
    );
    assert_eq!(words.last().map(String::as_str), Some("never"), "no success yet");

    let noted = Event {
        latency_ms: 3.0,
        note: Some("2 DocuSign users have this e-mail; linked K2 (open)".into()),
        ..Event::new(
            scim_bridge::store::EventAction::Update,
            scim_bridge::store::EventOutcome::Done,
        )
    };
    let cat_claim = Claim {
        resource_id: cat.clone(),
        target: "w365".into(),
        generation: 1,
        attempts: 0,
        guard: None,
        cause: None,
    };
    store
        .finish_successes(&[scim_bridge::store::Success {
            claim: &cat_claim,
            link: &scim_bridge::store::Link::gone(),
            events: std::slice::from_ref(&noted),
            delivered: None,
            deleted: false,
            read_revision: None,
        }])
        .await
        .unwrap();

    let (ok, out, err) = run(&config, &["lookup", "ANN@example.com"]);
    assert!(ok, "{err}");
    assert!(out.contains(&ann) && out.contains("ann@example.com"), "{out}");
    assert!(
        out.contains("dead") && out.contains("The e-mail address is not valid"),
        "{out}"
    );
    assert!(!out.contains(W365_KEY), "no secret in lookup output");
    let (ok, out, err) = run(&config, &["lookup", "cat@example.com"]);
    assert!(
        ok && out.contains("2 DocuSign users have this e-mail; linked K2 (open)"),
        "{out}{err}"
    );
    let (ok, _, err) = run(&config, &["lookup", "nobody@example.com"]);
    assert!(!ok && err.contains("no user"), "{err}");

    let (ok, out, _) = run(&config, &["sync", "retry", "--user", "ann@example.com"]);
    assert!(ok && out.starts_with("1 row(s) due now"), "{out}");
    let words = status_of_w365(&config);
    assert_eq!((words[1].as_str(), words[2].as_str()), ("2", "0"), "{words:?}");
    let (ok, _, err) = run(&config, &["sync", "retry", "--target", "nope"]);
    assert!(
        !ok && err.contains("no target named 'nope'") && err.contains("w365"),
        "{err}"
    );

    let (ok, out, err) = run(&config, &["sync", "resync", "--target", "w365"]);
    assert!(ok && out.starts_with("3 user(s) queued for 'w365'"), "{out} {err}");
    // Generation 1, moved by the retry (so that a worker's late result cannot undo it), then by the resync.
    assert_eq!(
        store.sync_rows().await.unwrap().iter().map(|r| r.generation).max(),
        Some(3)
    );
}

/// Runs the binary with `stdin` as its input.
fn run_with_input(config: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn rows_of_a_target_removed_from_the_configuration_are_named_and_dropped_after_a_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9");
    let store = store_for(&config).await;
    let ann = add_user(&store, "ann@example.com").await;
    add_user(&store, "bob@example.com").await;
    let link = scim_bridge::store::Link {
        state: scim_bridge::store::LinkState::Linked,
        remote_id: Some("7".into()),
        remote_key: Some("ann@example.com".into()),
        pushed_hash: None,
        pushed_active: Some(true),
        written_fields: None,
    };
    store.save_link(&ann, "w365", &link).await.unwrap();
    store.close().await;
    // The target leaves the configuration; its two rows and one link stay behind.
    let text = std::fs::read_to_string(&config).unwrap();
    let without = text.split("[[target]]").next().unwrap().to_owned();
    std::fs::write(&config, without).unwrap();

    let (ok, out, err) = run(&config, &["sync", "status"]);
    assert!(ok, "{err}");
    let line: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("w365"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&line[1..5], ["2", "0", "0", "not-configured"], "{out}");
    assert!(out.contains("sync drop --target w365"), "{out}");

    let (ok, out) = run_with_input(&config, &["sync", "drop", "--target", "w365"], "n\n");
    assert!(
        ok && out.contains("Forget 2 queued row(s) and 1 link(s)") && out.contains("nothing dropped"),
        "{out}"
    );
    let (ok, out) = run_with_input(&config, &["sync", "drop", "--target", "w365"], "yes\n");
    assert!(ok && out.contains("dropped 2 row(s) and 1 link(s)"), "{out}");
    let store = store_for(&config).await;
    assert!(store.sync_rows().await.unwrap().is_empty());
    assert_eq!(store.link(&ann, "w365").await.unwrap(), None);
    let (ok, out, _) = run(&config, &["sync", "drop", "--target", "w365", "--yes"]);
    assert!(ok && out.contains("nothing is recorded"), "{out}");
}

#[tokio::test]
async fn a_configured_target_cannot_be_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9");
    assert!(run(&config, &["init"]).0);
    let (ok, _, err) = run(&config, &["sync", "drop", "--target", "w365", "--yes"]);
    assert!(!ok && err.contains("is configured"), "{err}");
}
