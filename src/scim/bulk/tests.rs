use super::*;
use serde_json::json;
use std::collections::HashMap;

fn request(operations: Value) -> Value {
    json!({"schemas": [BULK_REQUEST], "Operations": operations})
}

fn parsed(operations: Value) -> BulkRequest {
    parse_request(&request(operations), 1000).unwrap()
}

#[test]
fn a_request_that_is_not_a_bulk_request_is_refused_whole() {
    let refused = |body: Value| parse_request(&body, 10).unwrap_err();
    assert_eq!(refused(json!([])).scim_type, Some(crate::scim::ScimType::InvalidSyntax));
    assert!(refused(json!({"Operations": []})).detail.contains(BULK_REQUEST));
    assert!(refused(json!({"schemas": [BULK_REQUEST]}))
        .detail
        .contains("Operations"));
    assert!(refused(request(json!([]))).detail.contains("no operation"));
    let bad_fail =
        json!({"schemas": [BULK_REQUEST], "failOnErrors": 0, "Operations": [{"method": "DELETE", "path": "/Users/1"}]});
    assert!(refused(bad_fail).detail.contains("failOnErrors"));
    let twice = request(json!([
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}},
        {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {}}
    ]));
    assert!(refused(twice).detail.contains("bulkId \"a\""));
}

#[test]
fn more_operations_than_max_operations_is_413_naming_the_limit() {
    let ops: Vec<Value> = (0..3)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
        .collect();
    let error = parse_request(&request(Value::Array(ops)), 2).unwrap_err();
    assert_eq!(error.status, 413);
    assert!(error.detail.contains("maxOperations is 2"), "{}", error.detail);
}

#[test]
fn each_operation_is_read_on_its_own_and_a_bad_one_fails_alone() {
    let request = parsed(json!([
        {"method": "post", "path": "/Users", "bulkId": "q", "data": {"userName": "a"}},
        {"method": "GET", "path": "/Users/1"},
        {"method": "POST", "path": "/Users", "data": {}},
        {"method": "PUT", "path": "/Users", "data": {}},
        {"method": "PATCH", "path": "/Users/1"},
        {"method": "DELETE", "path": "/Schemas/1"},
        {"method": "DELETE", "path": "/Groups/bulkId:q", "version": "W/\"3\""}
    ]));
    let outcomes: Vec<Result<&Operation, &ScimError>> = request.entries.iter().map(|e| e.operation.as_ref()).collect();
    let post = outcomes[0].unwrap();
    assert_eq!(
        (post.method, post.endpoint, &post.resource),
        (Method::Post, Endpoint::Users, &None)
    );
    assert!(outcomes[1].unwrap_err().detail.contains("POST, PUT, PATCH and DELETE"));
    assert!(outcomes[2].unwrap_err().detail.contains("bulkId"));
    assert!(outcomes[3].unwrap_err().detail.contains("one resource"));
    assert!(outcomes[4].unwrap_err().detail.contains("\"data\""));
    assert!(outcomes[5].unwrap_err().detail.contains("/Users or /Groups"));
    let delete = outcomes[6].unwrap();
    assert_eq!(delete.resource, Some(ResourceRef::BulkId("q".into())));
    assert_eq!(delete.version.as_deref(), Some("W/\"3\""));
    assert_eq!(delete.needs.iter().collect::<Vec<_>>(), ["q"]);
    assert_eq!(request.entries[1].named.method.as_deref(), Some("GET"));
}

#[test]
fn references_are_found_anywhere_in_the_data_and_replaced_by_the_ids() {
    let request = parsed(json!([{"method": "POST", "path": "/Groups", "bulkId": "g", "data": {
        "displayName": "G",
        "members": [{"type": "User", "value": "bulkId:u1"}, {"value": "7"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "bulkId:u2"}}
    }}]));
    let op = request.entries[0].operation.as_ref().unwrap();
    assert_eq!(op.needs.iter().collect::<Vec<_>>(), ["u1", "u2"]);
    let mut data = op.data.clone().unwrap();
    let created = HashMap::from([("u1".to_owned(), "id-1".to_owned())]);
    resolve_references(&mut data, &created);
    assert_eq!(data["members"][0]["value"], "id-1");
    assert_eq!(
        data["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"], "bulkId:u2",
        "what is not created yet stays"
    );
}

#[test]
fn deferring_takes_out_only_what_names_a_pending_post_and_adds_it_back_by_patch() {
    let urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut data = json!({
        "displayName": "G",
        "members": [{"value": "bulkId:b"}, {"value": "7"}],
        urn: {"manager": {"value": "bulkId:b"}, "department": "HR"}
    });
    let deferred = defer_references(&mut data, &|b| b == "b").unwrap();
    assert_eq!(
        data,
        json!({"displayName": "G", "members": [{"value": "7"}], urn: {"department": "HR"}})
    );
    assert_eq!(
        deferred.0["Operations"],
        json!([
            {"op": "add", "path": "members", "value": [{"value": "bulkId:b"}]},
            {"op": "add", "path": format!("{urn}:manager"), "value": {"value": "bulkId:b"}}
        ])
    );
    assert_eq!(defer_references(&mut data, &|b| b == "b"), None);
}

#[test]
fn an_operation_waits_for_the_post_it_names_and_the_rest_keep_the_request_order() {
    let request = parsed(json!([
        {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"members": [{"value": "bulkId:u"}]}},
        {"method": "DELETE", "path": "/Users/9"},
        {"method": "POST", "path": "/Users", "bulkId": "u", "data": {}},
        {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {}},
        {"method": "POST", "path": "/Users", "bulkId": "v", "data": {"x": "bulkId:nowhere"}}
    ]));
    assert_eq!(
        order(&request.entries),
        [Step::Run(1), Step::Run(2), Step::Run(0), Step::Run(3), Step::Run(4)]
    );
}

#[test]
fn a_cycle_of_posts_runs_the_first_deferring_and_completes_it_after_the_others() {
    // RFC 7644 §3.7.1: groups A and B are members of each other; C is a member of B.
    let request = parsed(json!([
        {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"members": [{"value": "bulkId:b"}]}},
        {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"members": [{"value": "bulkId:a"}, {"value": "bulkId:c"}]}},
        {"method": "POST", "path": "/Groups", "bulkId": "c", "data": {}},
        {"method": "POST", "path": "/Groups", "bulkId": "self", "data": {"members": [{"value": "bulkId:self"}]}}
    ]));
    assert_eq!(
        order(&request.entries),
        [
            Step::Run(2),
            Step::RunDeferring(0),
            Step::Run(1),
            Step::Complete(0),
            Step::RunDeferring(3),
            Step::Complete(3)
        ]
    );
}
