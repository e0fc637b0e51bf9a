//! Properties of the whole HTTP stack under random and mutated input: filters, PATCH bodies and
//! resource bodies thrown at a running server never get a 5xx, never take it down, and every 4xx
//! is a SCIM Error with the status it is sent with.
use crate::helpers::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{json, Map, Value};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Filters an IdP or a compliance suite sends, to be mutated.
const FILTERS: [&str; 8] = [
    r#"userName eq "bjensen@example.com""#,
    r#"emails[type eq "work" and value co "@example.com"] or title pr"#,
    r#"not (active eq true) and meta.lastModified gt "2011-05-13T04:42:34Z""#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#,
    r#"name.familyName sw "J" and (externalId ne null or displayName ew "x")"#,
    r#"groups.value eq "g1" or emails.value eq "a@b.c""#,
    r#"members[value eq "u1"]"#,
    r#"x eq 1.5e3 or y le -2 and z gt false"#,
];

/// A filter: a known one with a few bytes replaced, inserted or removed, or grammar-shaped noise.
fn filter() -> impl Strategy<Value = String> {
    let mutated = (
        prop::sample::select(FILTERS.to_vec()),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0u8..3,
                r#"[ a-z()\[\]".:\\\x00-\x1f\u{e9}]"#,
            ),
            0..6,
        ),
    )
        .prop_map(|(base, edits)| {
            let mut chars: Vec<char> = base.chars().collect();
            for (at, kind, text) in edits {
                let i = at.index(chars.len() + 1);
                let replaced = match kind {
                    0 => i..i,
                    _ if i < chars.len() => i..i + 1,
                    _ => i..i,
                };
                let inserted: Vec<char> = if kind == 2 { Vec::new() } else { text.chars().collect() };
                chars.splice(replaced, inserted);
            }
            chars.into_iter().collect()
        });
    prop_oneof![3 => mutated, 1 => r#"[a-zA-Z0-9 ()\[\]".:$_-]{0,120}"#]
}

/// A JSON value built from the words of SCIM documents, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "userName",
        "name",
        "givenName",
        "emails",
        "value",
        "type",
        "primary",
        "active",
        "schemas",
        "op",
        "path",
        "Operations",
        "members",
        "displayName",
        "manager",
        "externalId",
        "id",
        "meta",
        "password",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:x:y",
        "phoneNumbers",
        "x",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z@.\\x00\\r\\n\u{e9}]{0,12}".prop_map(Value::String),
        Just(json!("True")),
        Just(json!("urn:ietf:params:scim:schemas:core:2.0:User")),
        Just(json!(PATCH_OP)),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// A PATCH body: mostly well-formed operations with random paths and values, sometimes noise.
fn patch_body() -> impl Strategy<Value = Value> {
    let path = prop::option::of(prop_oneof![
        prop::sample::select(vec![
            "emails",
            "emails[type eq \"work\"].value",
            "name.givenName",
            "active",
            "members",
            "members[value eq \"x\"]",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "displayName",
            "id",
            "userName",
            "roles[primary eq \"True\"].display",
        ])
        .prop_map(str::to_owned),
        filter(),
    ]);
    let op = (
        prop::sample::select(vec!["add", "Replace", "remove", "bogus"]),
        path,
        json_value(),
    )
        .prop_map(|(op, path, value)| {
            let mut o = Map::new();
            o.insert("op".into(), json!(op));
            if let Some(p) = path {
                o.insert("path".into(), json!(p));
            }
            o.insert("value".into(), value);
            Value::Object(o)
        });
    prop_oneof![
        4 => prop::collection::vec(op, 1..5).prop_map(|ops| json!({"schemas": [PATCH_OP], "Operations": ops})),
        1 => json_value(),
    ]
}

/// A User or Group body: its core schema listed (mostly), with random attributes.
fn resource_body(as_group: bool) -> impl Strategy<Value = Value> {
    (any::<bool>(), json_value()).prop_map(move |(with_schema, v)| match v {
        Value::Object(mut o) if with_schema => {
            let (schema, name, value) = match as_group {
                true => (GROUP_SCHEMA, "displayName", "fuzz"),
                false => (USER_SCHEMA, "userName", "fuzz@x"),
            };
            o.insert("schemas".into(), json!([schema]));
            o.entry(name).or_insert_with(|| json!(value));
            Value::Object(o)
        }
        other => other,
    })
}

async fn check(response: reqwest::Response, what: &str) -> Result<(), TestCaseError> {
    let status = response.status().as_u16();
    prop_assert!(
        status < 500,
        "{what}: {status} {}",
        response.text().await.unwrap_or_default()
    );
    if status >= 400 {
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        prop_assert!(
            content_type.starts_with("application/scim+json"),
            "{what}: {status} {content_type}"
        );
        let body: Value = response
            .json()
            .await
            .map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
        prop_assert_eq!(
            &body["schemas"][0],
            &json!("urn:ietf:params:scim:api:messages:2.0:Error")
        );
        prop_assert_eq!(&body["status"], &json!(status.to_string()));
    }
    Ok(())
}

/// The resources random requests are aimed at: a user, and a group with that user as its member.
struct Aims {
    user: String,
    group: String,
}

impl Aims {
    fn resource(&self, as_group: bool) -> String {
        match as_group {
            true => format!("/Groups/{}", self.group),
            false => format!("/Users/{}", self.user),
        }
    }
}

async fn aims(app: &TestApp) -> Aims {
    let user = app.create_user(&user("target@x")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = json!({"schemas": [GROUP_SCHEMA], "displayName": "target", "members": [{"value": user}]});
    let response = app.post("/Groups", &group).await;
    assert_eq!(response.status(), 201);
    let group = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Aims { user, group }
}

/// Runs `cases` random inputs from `strategy` through `send`, against one server.
fn run<S: Strategy>(cases: u32, strategy: S, send: impl Fn(&TestApp, &Aims, S::Value) -> reqwest::RequestBuilder)
where
    S::Value: std::fmt::Debug,
{
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app());
    let aims = runtime.block_on(aims(&app));
    // PROPTEST_CASES may raise the count for a deeper local run, never lower it.
    let defaults = Config::default();
    let mut runner = TestRunner::new(Config {
        cases: cases.max(defaults.cases),
        failure_persistence: None,
        ..defaults
    });
    runner
        .run(&strategy, |input| {
            let description = format!("{input:?}");
            runtime.block_on(async {
                let response = send(&app, &aims, input).send().await.unwrap();
                check(response, &description).await
            })
        })
        .unwrap();
    runtime.block_on(async {
        let health = app.client.get(format!("{}/healthz", app.origin)).send().await.unwrap();
        assert_eq!(health.status(), 200, "the server is still up");
    });
}

#[test]
fn random_and_mutated_filters_never_get_a_5xx() {
    run(256, (filter(), any::<bool>()), |app, _, (filter, as_search)| {
        if as_search {
            app.request(Method::POST, "/Users/.search")
                .header("Content-Type", "application/scim+json")
                .body(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": filter})
                        .to_string(),
                )
        } else {
            app.request(Method::GET, &format!("/Groups?filter={}", enc(&filter)))
        }
    });
}

#[test]
fn random_patch_bodies_never_get_a_5xx() {
    run(256, (patch_body(), any::<bool>()), |app, aims, (body, to_group)| {
        app.request(Method::PATCH, &aims.resource(to_group))
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
    });
}

#[test]
fn random_resource_bodies_never_get_a_5xx() {
    let strategy = (any::<bool>(), any::<bool>())
        .prop_flat_map(|(as_group, replace)| (resource_body(as_group), Just(as_group), Just(replace)));
    run(256, strategy, |app, aims, (body, as_group, replace)| {
        let (method, path) = match (replace, as_group) {
            (true, _) => (Method::PUT, aims.resource(as_group)),
            (false, true) => (Method::POST, "/Groups".into()),
            (false, false) => (Method::POST, "/Users".into()),
        };
        app.request(method, &path)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
    });
}
