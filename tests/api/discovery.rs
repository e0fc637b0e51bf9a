//! Discovery documents: served from scim-schemas/ exactly, with meta.
use crate::helpers::*;
use serde_json::{json, Value};

fn committed(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("scim-schemas/{file}")).unwrap()).unwrap()
}

#[tokio::test]
async fn service_provider_config_is_the_committed_document_with_meta() {
    let app = spawn_app().await;
    let mut body: Value = app.get("/ServiceProviderConfig").await.json().await.unwrap();
    assert_eq!(body["meta"]["location"], format!("{}/ServiceProviderConfig", app.base));
    body.as_object_mut().unwrap().remove("meta");
    assert_eq!(body, committed("ServiceProviderConfig.json"));
}

#[tokio::test]
async fn schemas_and_resource_types_list_user_and_its_extension() {
    let app = spawn_app().await;
    let body: Value = app.get("/Schemas").await.json().await.unwrap();
    assert_eq!(body["totalResults"], 3);
    let mut first = body["Resources"][0].clone();
    first.as_object_mut().unwrap().remove("meta");
    assert_eq!(first, committed("User.json"));
    let one: Value = app.get(&format!("/Schemas/{ENTERPRISE}")).await.json().await.unwrap();
    assert_eq!(one["id"], ENTERPRISE);
    assert_eq!(one["meta"]["resourceType"], "Schema");
    let types: Value = app.get("/ResourceTypes").await.json().await.unwrap();
    assert_eq!(types["Resources"][0]["schemaExtensions"][0]["schema"], ENTERPRISE);
    assert_eq!(types["totalResults"], 2);
    let group_type: Value = app.get("/ResourceTypes/Group").await.json().await.unwrap();
    assert_eq!(
        (group_type["endpoint"].clone(), group_type["schema"].clone()),
        (json!("/Groups"), json!("urn:ietf:params:scim:schemas:core:2.0:Group"))
    );
    let group_schema: Value = app
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(group_schema["attributes"][1]["name"], "members");
    let user_type: Value = app.get("/ResourceTypes/User").await.json().await.unwrap();
    assert_eq!(user_type["endpoint"], "/Users");
    assert_scim_error(app.get("/Schemas/urn:nope").await, 404, None, "no schema").await;
    assert_scim_error(app.get("/ResourceTypes/Printer").await, 404, None, "no resource type").await;
}

#[tokio::test]
async fn discovery_refuses_filters_with_403() {
    let app = spawn_app().await;
    assert_scim_error(app.get("/Schemas?filter=id%20pr").await, 403, None, "filter").await;
}
