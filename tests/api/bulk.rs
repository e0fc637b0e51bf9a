//! `POST /Bulk` (README "Bulk"): the cases of tests/cases/bulk.json (RFC 7644 §3.7.1–§3.7.3's own
//! examples and more) against the real server, then the limits, the fan-out and the refusals.
use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::HashMap;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// The ids a case's `setup` created, written into its request for `{name}` and `{name.version}`.
async fn set_up(app: &TestApp, case: &Value) -> HashMap<String, (String, String)> {
    let mut made = HashMap::new();
    for step in case["setup"].as_array().into_iter().flatten() {
        let user = app.create_user(&step["user"]).await;
        let id = user["id"].as_str().unwrap().to_owned();
        let version = user["meta"]["version"].as_str().unwrap().to_owned();
        made.insert(step["as"].as_str().unwrap().to_owned(), (id, version));
    }
    made
}

fn fill_in(request: &Value, made: &HashMap<String, (String, String)>) -> Value {
    let mut text = request.to_string();
    for (name, (id, version)) in made {
        let escaped = serde_json::to_string(version).unwrap();
        text = text.replace(&format!("{{{name}.version}}"), &escaped[1..escaped.len() - 1]);
        text = text.replace(&format!("{{{name}}}"), id);
    }
    serde_json::from_str(&text).unwrap()
}

/// The bulkIds of a response's created resources, by their ids.
fn created_ids(operations: &[Value]) -> HashMap<String, String> {
    operations
        .iter()
        .filter_map(|op| {
            let id = op["location"].as_str()?.rsplit('/').next()?.to_owned();
            Some((op["bulkId"].as_str()?.to_owned(), id))
        })
        .collect()
}

fn check_operation(label: &str, base: &str, actual: &Value, expected: &Value) {
    let field = |v: &Value, key: &str| v.get(key).cloned();
    for key in ["method", "bulkId", "status"] {
        assert_eq!(field(actual, key), field(expected, key), "{label}: {key} of {actual}");
    }
    let scim_type = actual.pointer("/response/scimType").cloned();
    assert_eq!(scim_type, field(expected, "scimType"), "{label}: scimType of {actual}");
    match expected["location"].as_str() {
        Some(endpoint) => {
            let location = actual["location"].as_str().unwrap_or_default();
            assert!(
                location.starts_with(&format!("{base}/{endpoint}/")),
                "{label}: location of {actual}"
            );
        }
        None => assert_eq!(
            actual.get("location"),
            None,
            "{label}: a failed POST has no location: {actual}"
        ),
    }
    if let Some(version) = expected.get("version") {
        assert_eq!(actual.get("version"), Some(version), "{label}: version of {actual}");
    }
    let failed = !actual["status"].as_str().unwrap_or_default().starts_with('2');
    assert_eq!(
        actual.get("response").is_some(),
        failed,
        "{label}: an error, and only an error, has a response"
    );
}

async fn total(app: &TestApp, endpoint: &str) -> u64 {
    let body: Value = app.get(&format!("/{endpoint}?count=0")).await.json().await.unwrap();
    body["totalResults"].as_u64().unwrap()
}

async fn check_after(app: &TestApp, label: &str, case: &Value, ids: &HashMap<String, String>) {
    for (group, members) in case["members"].as_object().into_iter().flatten() {
        let body: Value = app.get(&format!("/Groups/{}", ids[group])).await.json().await.unwrap();
        let mut held: Vec<&str> = body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        let mut wanted: Vec<&str> = members
            .as_array()
            .unwrap()
            .iter()
            .map(|b| ids[b.as_str().unwrap()].as_str())
            .collect();
        held.sort_unstable();
        wanted.sort_unstable();
        assert_eq!(held, wanted, "{label}: members of {group}");
    }
    for (user, manager) in case["manager"].as_object().into_iter().flatten() {
        let body: Value = app.get(&format!("/Users/{}", ids[user])).await.json().await.unwrap();
        let held = &body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"];
        assert_eq!(
            held.as_str(),
            Some(ids[manager.as_str().unwrap()].as_str()),
            "{label}: manager of {user}"
        );
    }
    for (key, endpoint) in [("users", "Users"), ("groups", "Groups")] {
        if let Some(count) = case[key].as_u64() {
            assert_eq!(total(app, endpoint).await, count, "{label}: {endpoint} afterwards");
        }
    }
}

#[tokio::test]
async fn the_bulk_cases_answer_operation_by_operation_as_the_rfc_says() {
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string("tests/cases/bulk.json").unwrap()).unwrap();
    assert!(cases.len() >= 10);
    for case in &cases {
        let label = case["comment"].as_str().unwrap();
        let app = spawn_app().await;
        let made = set_up(&app, case).await;
        let response = app.post("/Bulk", &fill_in(&case["request"], &made)).await;
        assert_eq!(response.status(), 200, "{label}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]),
            "{label}"
        );
        let operations = body["Operations"].as_array().unwrap();
        let expected = case["expected"].as_array().unwrap();
        assert_eq!(operations.len(), expected.len(), "{label}: {body}");
        for (actual, expected) in operations.iter().zip(expected) {
            check_operation(label, &app.base, actual, expected);
        }
        check_after(&app, label, case, &created_ids(operations)).await;
    }
}

fn creates(n: usize) -> Value {
    let operations: Vec<Value> = (0..n)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": user(&format!("u{i}@example.com"))}))
        .collect();
    json!({"schemas": [BULK_REQUEST], "Operations": operations})
}

#[tokio::test]
async fn the_limits_are_advertised_and_enforced_with_413_naming_them() {
    let app = spawn_app_with(|s| {
        s.server.max_bulk_operations = 3;
        s.server.max_body_bytes = 4096;
    })
    .await;
    let config: Value = app.get("/ServiceProviderConfig").await.json().await.unwrap();
    assert_eq!(
        config["bulk"],
        json!({"supported": true, "maxOperations": 3, "maxPayloadSize": 4096})
    );
    let too_many = app.post("/Bulk", &creates(4)).await;
    assert_eq!(too_many.status(), 413);
    let body: Value = too_many.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("maxOperations is 3"),
        "{body}"
    );
    assert_eq!(total(&app, "Users").await, 0, "nothing of a refused request runs");

    let mut big = creates(1);
    big["Operations"][0]["data"]["nickName"] = json!("x".repeat(5000));
    let too_big = app.post("/Bulk", &big).await;
    assert_eq!(too_big.status(), 413);
    let body: Value = too_big.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("maxPayloadSize, 4096 bytes"),
        "{body}"
    );
    assert_eq!(app.post("/Bulk", &creates(3)).await.status(), 200);
    assert_eq!(total(&app, "Users").await, 3);
}

#[tokio::test]
async fn a_request_that_is_not_a_bulk_request_is_refused_whole_and_bulk_needs_the_token() {
    let app = spawn_app().await;
    for (body, scim_type) in [
        (json!({"Operations": []}), "invalidSyntax"),
        (json!({"schemas": [BULK_REQUEST], "Operations": "no"}), "invalidSyntax"),
        (
            json!({"schemas": [BULK_REQUEST], "failOnErrors": -1, "Operations": [{"method": "DELETE", "path": "/Users/x"}]}),
            "invalidValue",
        ),
    ] {
        let response = app.post("/Bulk", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["scimType"], scim_type, "{error}");
    }
    let twice = json!({"schemas": [BULK_REQUEST], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("a@example.com")},
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("b@example.com")}
    ]});
    let response = app.post("/Bulk", &twice).await;
    assert_eq!(response.status(), 400);
    assert_eq!(total(&app, "Users").await, 0);
    let anonymous = app
        .client
        .post(format!("{}/Bulk", app.base))
        .json(&creates(1))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(app.get("/Bulk").await.status(), 405);
}

#[tokio::test]
async fn each_operation_queues_its_own_fan_out_and_a_failed_one_queues_none() {
    let target = crate::targets::w365_target("w365", None, "http://127.0.0.1:9/Provisioning");
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let request = json!({"schemas": [BULK_REQUEST], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("a@example.com")},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": user("A@example.com")},
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": user("c@example.com")}
    ]});
    let body: Value = app.post("/Bulk", &request).await.json().await.unwrap();
    let statuses: Vec<&str> = body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201", "409", "201"]);
    let ids = created_ids(body["Operations"].as_array().unwrap());
    let mut queued: Vec<String> = app
        .store
        .sync_rows()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.resource_id)
        .collect();
    let mut wanted = vec![ids["a"].clone(), ids["c"].clone()];
    queued.sort();
    wanted.sort();
    assert_eq!(queued, wanted);
}
