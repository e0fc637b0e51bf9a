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
        ".*".prop_map(CompValue::Str),
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
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
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
