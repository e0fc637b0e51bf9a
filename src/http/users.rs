//! `/Users` (RFC 7644 §3.3–3.6): thin handlers, parse → scim → store → render.
use super::cpu;
use super::request::{check_media_type, if_match, parse_json};
use super::resource::{if_not_modified, insert_before_meta, resource_response, GROUP, USER};
use super::{scim_json, ApiError, AppState};
use crate::scim::list::{list_response, ListQuery};
use crate::scim::patch;
use crate::scim::projection::Projection;
use crate::scim::resource::{normalize, Document, Normalized};
use crate::scim::schema::{Mutability, ResourceSchema};
use crate::scim::ScimError;
use crate::store::StoredUser;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::sync::Arc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Users")
            .route(web::get().to(list_users))
            .route(web::post().to(create_user)),
    )
    .service(web::resource("/Users/.search").route(web::post().to(search_users)))
    .service(
        web::resource("/Users/{id}")
            .route(web::get().to(get_user))
            .route(web::put().to(replace_user))
            .route(web::patch().to(patch_user))
            .route(web::delete().to(delete_user)),
    );
}

/// The user as a resource, with its computed `groups` (RFC 7643 §4.1.2) when they were read.
fn render_user(req: &HttpRequest, state: &AppState, user: &StoredUser, collection: &str) -> Result<Value, ApiError> {
    let mut resource = USER.render(user, collection)?;
    let groups = user.related_pairs()?.unwrap_or_default();
    if !groups.is_empty() {
        let groups_url = GROUP.collection_url(req, state);
        let values: Vec<Value> = groups
            .into_iter()
            .map(|(id, display)| json!({"value": id, "$ref": format!("{groups_url}/{id}"), "display": display, "type": "direct"}))
            .collect();
        insert_before_meta(&mut resource, "groups", Value::Array(values));
    }
    Ok(resource)
}

/// Users as list resources, each shaped by `projection`.
pub fn render_users(
    req: &HttpRequest,
    state: &AppState,
    users: &[StoredUser],
    projection: &Projection,
) -> Result<Vec<Value>, ApiError> {
    let collection = USER.collection_url(req, state);
    users
        .iter()
        .map(|u| Ok(projection.apply(render_user(req, state, u, &collection)?, state.user_schema)))
        .collect()
}

/// The user as the request's `attributes`/`excludedAttributes` shape it, with ETag and Location.
fn respond(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    user: &StoredUser,
) -> Result<HttpResponse, ApiError> {
    let collection = USER.collection_url(req, state);
    let body = USER
        .projection(req, state)?
        .apply(render_user(req, state, user, &collection)?, state.user_schema);
    Ok(resource_response(status, user, &body, &collection))
}

async fn list_users(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = USER.list_query(&req, &state)?;
    list(&req, &state, query).await
}

async fn search_users(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = USER.search_query(&req, body, &state).await?;
    list(&req, &state, query).await
}

async fn list(req: &HttpRequest, state: &AppState, query: ListQuery) -> Result<HttpResponse, ApiError> {
    let page = state.store.list_users(&query).await?;
    let resources = render_users(req, state, &page.items, &query.projection)?;
    Ok(scim_json(
        StatusCode::OK,
        &list_response(page.total, query.start_index, resources),
    ))
}

async fn create_user(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let normalized = read_user(&req, body, &state).await?;
    let user = insert_user(&state, &normalized).await?;
    respond(&req, &state, StatusCode::CREATED, &user)
}

/// The writes of `/Users`, each atomic with the fan-out it queues: shared by the handlers and by
/// `/Bulk`, whose operations are these same requests.
pub(super) async fn insert_user(state: &AppState, normalized: &Normalized) -> Result<StoredUser, ApiError> {
    Ok(state
        .store
        .insert_user(&normalized.document, normalized.password.as_deref())
        .await?)
}

pub(super) async fn replace_user_with(
    state: &AppState,
    id: &str,
    normalized: Normalized,
    if_match: Option<&str>,
) -> Result<StoredUser, ApiError> {
    let Normalized { document, password } = normalized;
    state
        .store
        .change_user(id, if_match, |before| {
            let checked =
                check_immutable(&before, &document, state.user_schema).map(|()| (document.clone(), password.clone()));
            std::future::ready(checked)
        })
        .await
}

/// PATCH `operations` (parsed from a body of `cost` bytes, which decides whether applying them
/// runs off the worker: `http::cpu`).
pub(super) async fn patch_user_with(
    state: &AppState,
    id: &str,
    operations: Vec<patch::PatchOperation>,
    if_match: Option<&str>,
    cost: usize,
) -> Result<StoredUser, ApiError> {
    let operations = Arc::new(operations);
    state
        .store
        .change_user(id, if_match, |before| {
            let (operations, user_id, schema) = (operations.clone(), id.to_owned(), state.user_schema);
            cpu::run(cost, move || {
                let patched = patch::apply(&before, &operations, schema, &user_id)?;
                Ok((patched.document, patched.password))
            })
        })
        .await
}

/// DELETE, if `if_match` (when given) names the current version.
pub(super) async fn delete_user_if(state: &AppState, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
    let expected = match if_match {
        Some(tags) => {
            let current = state.store.get_user(id).await?.version();
            if !current.matches_header(tags) {
                return Err(crate::store::StoreError::VersionMismatch.into());
            }
            Some(current)
        }
        None => None,
    };
    Ok(state.store.delete_user(id, expected).await?)
}

/// A POST or PUT body as the resource to store (large bodies are read off the worker, `http::cpu`).
async fn read_user(req: &HttpRequest, body: web::Bytes, state: &AppState) -> Result<Normalized, ApiError> {
    check_media_type(req)?;
    let schema = state.user_schema;
    cpu::run(body.len(), move || Ok(normalize(&parse_json(&body)?, schema)?)).await
}

async fn get_user(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = state.store.get_user(&id).await?;
    if let Some(response) = if_not_modified(&req, &user) {
        return Ok(response);
    }
    respond(&req, &state, StatusCode::OK, &user)
}

/// PUT replaces the resource: what the body leaves out is cleared, readOnly values are kept.
async fn replace_user(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let normalized = read_user(&req, body, &state).await?;
    let saved = replace_user_with(&state, &id, normalized, if_match(&req)).await?;
    respond(&req, &state, StatusCode::OK, &saved)
}

/// PATCH applies every operation or none (RFC 7644 §3.5.2) and answers 200 with the resource.
async fn patch_user(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_media_type(&req)?;
    let (body_len, limits) = (body.len(), state.limits);
    let operations = cpu::run(body_len, move || {
        Ok(patch::parse_request(&parse_json(&body)?, &limits)?)
    })
    .await?;
    let saved = patch_user_with(&state, &id, operations, if_match(&req), body_len).await?;
    respond(&req, &state, StatusCode::OK, &saved)
}

async fn delete_user(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    delete_user_if(&state, &id, if_match(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// RFC 7643 §2.2: an immutable attribute that has a value may not change (core or extension).
fn check_immutable(current: &Document, new: &Document, schema: &ResourceSchema) -> Result<(), ApiError> {
    let core = std::iter::once((None, &schema.core));
    let places = core.chain(schema.extensions.iter().map(|e| (Some(e.id.as_str()), e)));
    for (urn, def) in places {
        let (old_values, new_values) = match urn {
            None => (Some(current), Some(new)),
            Some(urn) => (
                current.get(urn).and_then(Value::as_object),
                new.get(urn).and_then(Value::as_object),
            ),
        };
        let Some(old_values) = old_values else { continue };
        for attr in def.attributes.iter().filter(|d| d.mutability == Mutability::Immutable) {
            if let Some(old) = old_values.get(&attr.name) {
                if new_values.and_then(|n| n.get(&attr.name)) != Some(old) {
                    let name = urn.map_or_else(|| attr.name.clone(), |u| format!("{u}:{}", attr.name));
                    return Err(ScimError::mutability(format!("'{name}' is immutable")).into());
                }
            }
        }
    }
    Ok(())
}
