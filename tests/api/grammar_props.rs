//! Properties of the filter grammar: it never panics, and printing then parsing gives the same AST.
use proptest::prelude::*;
use scim_bridge::scim::{AttrPath, CompValue, CompareOp, Filter, PatchPath};

fn attr_path() -> impl Strategy<Value = AttrPath> {
    let names = prop::sample::select(vec!["userName", "name", "emails", "title", "x-y_z", "a1", "$ref"]);
    let subs = prop::option::of(prop::sample::select(vec!["value", "givenName", "type"]));
    let uris = prop::option::of(prop::sample::select(vec![
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:x:y",
    ]));
    (uris, names, subs).prop_map(|(uri, name, sub)| AttrPath {
        uri: uri.map(str::to_owned),
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        // Any text but U+0000, which the grammar refuses (no database stores it).
        "[^\\x00]*".prop_map(CompValue::Str),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        attr_path().prop_map(Filter::Present),
        (attr_path(), prop::sample::select(CompareOp::ALL.to_vec()), comp_value())
            .prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
    ]
}

fn logical(inner: impl Strategy<Value = Filter> + Clone) -> impl Strategy<Value = Filter> {
    prop_oneof![
        prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
        prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::Or),
        inner.prop_map(|a| Filter::Not(Box::new(a))),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let value_filter = leaf().prop_recursive(3, 8, 2, logical);
    let value_path = (attr_path(), value_filter).prop_map(|(mut p, f)| {
        p.sub = None;
        Filter::ValuePath(p, Box::new(f))
    });
    prop_oneof![leaf(), value_path].prop_recursive(4, 16, 2, logical)
}

proptest! {
    #[test]
    fn parse_of_print_is_the_same_filter(f in filter()) {
        let printed = f.to_string();
        let parsed: Filter = printed.parse().map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(parsed, f);
    }

    #[test]
    fn the_filter_parser_never_panics(s in ".{0,200}") {
        let _ = s.parse::<Filter>();
        let _ = s.parse::<PatchPath>();
    }

    #[test]
    fn the_filter_parser_never_panics_on_near_misses(s in r#"[a-z(). \[\]"=:0-9]{0,80}"#) {
        let _ = s.parse::<Filter>();
        let _ = s.parse::<PatchPath>();
    }
}

fn patch_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        ".{0,8}".prop_map(|s| json!(s)),
        Just(json!("True")),
        Just(json!([{"value": "a@x", "type": "work", "primary": true}])),
        Just(json!({"givenName": "G"})),
        Just(json!({"value": ""})),
        Just(json!({"name.givenName": "x", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "m"})),
    ]
}

fn patch_path() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        prop::sample::select(vec![
            "userName",
            "active",
            "emails",
            "emails.value",
            "emails[type eq \"work\"].value",
            "name",
            "name.givenName",
            "manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "id",
            "meta",
            "groups",
            "roles[primary eq \"True\"].display",
            "addresses[type eq \"work\" or x pr]",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z.\\[\\]\" ]{0,20}",
    ])
}

proptest! {
    #[test]
    fn patch_never_panics_and_every_error_is_a_4xx(
        ops in prop::collection::vec((prop::sample::select(vec!["add", "Replace", "remove", "x"]), patch_path(), patch_value()), 1..4)
    ) {
        use scim_bridge::scim::{patch, resource, schema};
        let operations: Vec<serde_json::Value> = ops.iter().map(|(op, path, value)| {
            let mut o = serde_json::json!({"op": op, "value": value});
            if let Some(p) = path { o["path"] = serde_json::json!(p); }
            o
        }).collect();
        let body = serde_json::json!({"schemas": [patch::PATCH_OP_SCHEMA], "Operations": operations});
        let user = serde_json::json!({"schemas": [schema::USER_SCHEMA], "userName": "u", "emails": [{"value": "u@x", "type": "work"}], "name": {"familyName": "F"}});
        let doc = resource::normalize(&user, schema::user()).unwrap().document;
        let outcome = patch::parse_request(&body, &scim_bridge::scim::Limits::default()).and_then(|ops| patch::apply(&doc, &ops, schema::user(), "id-1"));
        if let Err(e) = outcome {
            prop_assert!((400..500).contains(&e.status), "{e}");
        }
    }
}
