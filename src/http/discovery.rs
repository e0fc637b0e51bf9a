//! Discovery endpoints (RFC 7644 §4), served from the JSON in `scim-schemas/`, so what is advertised
//! is what the server was built with, and the User extensions the operator declared (`[schema]`).
use super::origin::base_url;
use super::request::{query_pairs, query_param};
use super::{scim_json, ApiError, AppState};
use crate::scim::list::list_response;
use crate::scim::schema::{
    ResourceSchema, ENTERPRISE_USER_SCHEMA_JSON, GROUP_SCHEMA_JSON, RESOURCE_TYPES_JSON, SERVICE_PROVIDER_CONFIG_JSON,
    USER_SCHEMA_JSON,
};
use crate::scim::ScimError;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// Resources rather than bare routes, so another method on them is 405, not 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ServiceProviderConfig").route(web::get().to(service_provider_config)))
        .service(web::resource("/Schemas").route(web::get().to(schemas)))
        .service(web::resource("/Schemas/{id}").route(web::get().to(schema)))
        .service(web::resource("/ResourceTypes").route(web::get().to(resource_types)))
        .service(web::resource("/ResourceTypes/{id}").route(web::get().to(resource_type)));
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_default()
}

fn with_meta(mut doc: Value, resource_type: &str, location: String) -> Value {
    doc["meta"] = json!({ "resourceType": resource_type, "location": location });
    doc
}

/// RFC 7644 §4: a `filter` on discovery endpoints SHOULD be refused with 403.
fn refuse_filter(req: &HttpRequest) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    match query_param(&pairs, "filter") {
        Some(_) => Err(ScimError::new(403, None, "discovery endpoints do not support filtering").into()),
        None => Ok(()),
    }
}

/// The built-in schemas and the User extensions the operator declared (`[schema]`).
fn all_schemas(base: &str, user: &ResourceSchema) -> Vec<Value> {
    [USER_SCHEMA_JSON, ENTERPRISE_USER_SCHEMA_JSON, GROUP_SCHEMA_JSON]
        .into_iter()
        .map(parse)
        .chain(user.declared.iter().cloned())
        .map(|s| {
            let id = s["id"].as_str().unwrap_or_default().to_owned();
            with_meta(s, "Schema", format!("{base}/Schemas/{id}"))
        })
        .collect()
}

fn all_resource_types(base: &str, user: &ResourceSchema) -> Vec<Value> {
    let types: Vec<Value> = serde_json::from_str(RESOURCE_TYPES_JSON).unwrap_or_default();
    types
        .into_iter()
        .map(|mut t| {
            if t["id"] == "User" {
                if let Some(extensions) = t["schemaExtensions"].as_array_mut() {
                    let declared = user
                        .declared
                        .iter()
                        .map(|d| json!({"schema": d["id"], "required": false}));
                    extensions.extend(declared);
                }
            }
            let id = t["id"].as_str().unwrap_or_default().to_owned();
            with_meta(t, "ResourceType", format!("{base}/ResourceTypes/{id}"))
        })
        .collect()
}

async fn service_provider_config(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let base = base_url(&req, &state);
    let mut config = parse(SERVICE_PROVIDER_CONFIG_JSON);
    config["filter"]["maxResults"] = json!(state.limits.max_results);
    config["bulk"] = json!({
        "supported": true,
        "maxOperations": state.limits.max_bulk_operations,
        "maxPayloadSize": state.max_body_bytes,
    });
    config["changePassword"]["supported"] = json!(state.store.delivers_passwords());
    let doc = with_meta(config, "ServiceProviderConfig", format!("{base}/ServiceProviderConfig"));
    Ok(scim_json(StatusCode::OK, &doc))
}

async fn schemas(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    refuse_filter(&req)?;
    let all = all_schemas(&base_url(&req, &state), state.user_schema);
    Ok(scim_json(StatusCode::OK, &list_response(all.len(), 1, all)))
}

async fn schema(req: HttpRequest, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let found = all_schemas(&base_url(&req, &state), state.user_schema)
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(&id)));
    let doc = found.ok_or_else(|| ScimError::not_found(format!("no schema '{id}'")))?;
    Ok(scim_json(StatusCode::OK, &doc))
}

async fn resource_types(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    refuse_filter(&req)?;
    let all = all_resource_types(&base_url(&req, &state), state.user_schema);
    Ok(scim_json(StatusCode::OK, &list_response(all.len(), 1, all)))
}

async fn resource_type(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let found = all_resource_types(&base_url(&req, &state), state.user_schema)
        .into_iter()
        .find(|t| t["id"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(&id)));
    let doc = found.ok_or_else(|| ScimError::not_found(format!("no resource type '{id}'")))?;
    Ok(scim_json(StatusCode::OK, &doc))
}
