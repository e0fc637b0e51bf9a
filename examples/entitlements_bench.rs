//! Entitlement propagation (run it with `bench/entitlements.sh`): a DocuSign target whose rule maps
//! the SCIM group "DocuSign Senders" to the account group "Senders", against a mock DocuSign
//! answering in LATENCY ms.
//! - MEMBERS users are linked and already in the group (in sync: each link records "Senders");
//! - ADDED more linked users join the group in one SCIM PATCH: the rows it queues (expected: ADDED),
//!   the vendor calls they cost (expected: ADDED / batch_size group calls and a few look-ups), the
//!   time to drain;
//! - the same users join a group no rule names: rows queued and vendor calls (expected: 0 and 0).
use scim_bridge::app::Application;
use scim_bridge::config::{Settings, TargetSettings};
use scim_bridge::scim::members::MemberRef;
use scim_bridge::scim::resource::Document;
use scim_bridge::store::{written_record, Link, LinkState, Store};
use scim_bridge::sync::desired::user_state;
use scim_bridge::sync::mapping::Mapping;
use serde_json::json;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCOUNT: &str = "bench-account";
const KEY: &str = include_str!("../src/sync/connectors/docusign/test_key.pem");

async fn mock_docusign(latency: Duration) -> MockServer {
    let vendor = MockServer::start().await;
    let answer = |body: serde_json::Value| ResponseTemplate::new(200).set_body_json(body).set_delay(latency);
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 3600})))
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .and(path("/oauth/userinfo"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"accounts": [{"account_id": ACCOUNT, "base_uri": vendor.uri()}]})),
        )
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/restapi/v2.1/accounts/{ACCOUNT}/groups")))
        .respond_with(answer(json!({"groups": [{"groupId": "7", "groupName": "Senders"}]})))
        .mount(&vendor)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/restapi/v2.1/accounts/{ACCOUNT}/groups/7/users")))
        .respond_with(answer(json!({"users": []})))
        .mount(&vendor)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(answer(json!({"users": []})))
        .mount(&vendor)
        .await;
    vendor
}

/// `n` users, each linked at DocuSign with what a reconcile would have recorded (in sync: the
/// fingerprint of what it sends); `in_senders`: its link records the group too.
async fn linked_users(store: &Store, mapping: &Mapping, from: usize, n: usize, in_senders: bool) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let docs: Vec<Document> = (from..from + n)
        .map(|k| {
            let email = format!("u{k}@example.com");
            serde_json::from_value(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": email, "name": {"givenName": "U", "familyName": format!("N{k}")},
                "emails": [{"value": email, "primary": true}]}))
            .unwrap()
        })
        .collect();
    for chunk in docs.chunks(1000) {
        let batch: Vec<(&Document, Option<&str>)> = chunk.iter().map(|d| (d, None)).collect();
        for user in store.insert_users(&batch).await.unwrap() {
            ids.push(user.unwrap().id);
        }
    }
    let groups: std::collections::BTreeSet<String> = in_senders.then(|| "Senders".to_owned()).into_iter().collect();
    for ((k, id), doc) in (from..from + n).zip(&ids).zip(&docs) {
        let link = Link {
            state: LinkState::Linked,
            remote_id: Some(format!("ds-{k}")),
            remote_key: Some(format!("u{k}@example.com")),
            pushed_hash: Some(user_state(id, doc, mapping).fingerprint()),
            pushed_active: Some(true),
            written_fields: written_record("", Some(&groups)),
        };
        store.save_link(id, "docusign", &link).await.unwrap();
    }
    ids
}

fn refs(ids: &[String]) -> Vec<MemberRef> {
    ids.iter()
        .map(|id| MemberRef {
            value: id.clone(),
            kind: None,
            display: None,
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let arg = |n: usize, default: u64| std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (members, added, latency) = (arg(1, 100_000) as usize, arg(2, 1000) as usize, arg(3, 20));
    let batch_size = arg(4, 100);
    let vendor = mock_docusign(Duration::from_millis(latency)).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, KEY).unwrap();
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.admin_listen = "off".into();
    settings.database.url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let target = format!(
        "name = \"docusign\"\nkind = \"docusign\"\noauth_base_url = \"{}\"\nintegration_key = \"ik\"\nuser_id = \"u\"\naccount_id = \"{ACCOUNT}\"\nbatch_size = {batch_size}\nprivate_key_file = {:?}\n\
         [[entitlement]]\ngroup = \"DocuSign Senders\"\ngroups = [\"Senders\"]\n",
        vendor.uri(),
        key_file.display().to_string()
    );
    settings.target = vec![toml::from_str::<TargetSettings>(&target).unwrap()];
    let mut app = Application::build(&settings).await.unwrap();
    let store = app.store().clone();
    let worker = app.take_worker().unwrap();

    let seeding = Instant::now();
    let mapping = settings.target[0].mapping(settings.user_schema().unwrap()).unwrap();
    let in_group = linked_users(&store, &mapping, 0, members, true).await;
    let joining = linked_users(&store, &mapping, members, added, false).await;
    let group_doc = serde_json::from_value(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "DocuSign Senders"}))
    .unwrap();
    let senders = store.insert_group(&group_doc, &refs(&in_group)).await.unwrap().group.id;
    let other_doc = serde_json::from_value(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Coffee club"}))
    .unwrap();
    let coffee = store.insert_group(&other_doc, &[]).await.unwrap().group.id;
    // The seeding queued every user once: the drain below settles them (links already in sync).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run_until_stopped(stopped));
    while !store.sync_rows().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seeded_calls = vendor.received_requests().await.unwrap().len();
    println!(
        "seeded {members} members of \"DocuSign Senders\" and {added} other users, all linked and in sync ({:.1} s, {seeded_calls} vendor calls to settle)",
        seeding.elapsed().as_secs_f64()
    );

    let _ = stop.send(true);
    let _ = running.await;
    let worker = scim_bridge::app::build_worker(store.clone(), &settings).unwrap();
    let calls_before = vendor.received_requests().await.unwrap().len();
    let change = Instant::now();
    store
        .change_group::<scim_bridge::store::StoreError>(&senders, None, |doc| {
            Ok((doc, vec![scim_bridge::scim::members::MemberOp::Add(refs(&joining))]))
        })
        .await
        .unwrap();
    let patch_ms = change.elapsed().as_secs_f64() * 1000.0;
    let queued = store.sync_rows().await.unwrap().len();
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run_until_stopped(stopped));
    while !store.sync_rows().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = started.elapsed().as_secs_f64();
    let requests = vendor.received_requests().await.unwrap();
    let new_calls = &requests[calls_before..];
    let group_calls = new_calls
        .iter()
        .filter(|r| r.url.path().ends_with("/groups/7/users"))
        .count();
    let mut kinds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for r in new_calls {
        *kinds.entry(format!("{} {}", r.method, r.url.path())).or_default() += 1;
    }
    println!("  calls: {kinds:?}");
    println!(
        "join {added} to a mapped group of {members}: the PATCH took {patch_ms:.0} ms, {queued} rows queued, \
         {} vendor calls ({group_calls} group PUTs at batch_size {batch_size}, budget {} + a few), drained in {drained:.2} s",
        new_calls.len(),
        added.div_ceil(batch_size as usize)
    );

    let calls_before = requests.len();
    store
        .change_group::<scim_bridge::store::StoreError>(&coffee, None, |doc| {
            Ok((doc, vec![scim_bridge::scim::members::MemberOp::Add(refs(&joining))]))
        })
        .await
        .unwrap();
    let queued = store.sync_rows().await.unwrap().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = vendor.received_requests().await.unwrap().len() - calls_before;
    println!("join the same {added} to a group no rule names: {queued} rows queued, {calls} vendor calls");
    let _ = stop.send(true);
    let _ = running.await;
}
