//! `/Users` (RFC 7644 §3.3–3.6): thin handlers, parse → scim → store → render.
use super::request::{base_url, check_if_match, json_body, not_modified, query_pairs, query_param};
use super::{scim_json, ApiError, AppState};
use crate::scim::list::{list_response, ListQuery, RawListParams};
use crate::scim::patch;
use crate::scim::projection::Projection;
use crate::scim::resource::{normalize, render, Document, MetaInfo};
use crate::scim::schema::{self, Mutability};
use crate::scim::ScimError;
use crate::store::{StoreError, StoredUser};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;
use std::cell::RefCell;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Users")
            .route(web::get().to(list_users))
            .route(web::post().to(create_user)),
    )
    .service(web::resource("/Users/.search").route(web::post().to(search_users)))
    // RFC 7644 §3.4.3: a search at the root covers every resource type; Users is the only one so far.
    .service(web::resource("/.search").route(web::post().to(search_users)))
    .service(
        web::resource("/Users/{id}")
            .route(web::get().to(get_user))
            .route(web::put().to(replace_user))
            .route(web::patch().to(patch_user))
            .route(web::delete().to(delete_user)),
    );
}

/// Renders a stored user as a full resource.
fn render_user(user: &StoredUser, collection_url: &str) -> Result<Value, ApiError> {
    let meta = MetaInfo {
        resource_type: "User",
        id: &user.id,
        created: &user.created,
        last_modified: &user.last_modified,
        version: user.version(),
        collection_url,
    };
    Ok(render(&user.document()?, &meta))
}

fn collection_url(req: &HttpRequest, state: &AppState) -> String {
    format!("{}/Users", base_url(req, state))
}

/// A single-resource response: the (projected) body, `ETag`, and `Location`.
fn resource_response(status: StatusCode, user: &StoredUser, body: &Value, collection: &str) -> HttpResponse {
    let mut response = scim_json(status, body);
    let headers = response.headers_mut();
    if let Ok(etag) = header::HeaderValue::from_str(&user.version().to_string()) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(location) = header::HeaderValue::from_str(&format!("{collection}/{}", user.id)) {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// The resource as the request's `attributes`/`excludedAttributes` shape it, with ETag and Location.
fn respond(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    user: &StoredUser,
) -> Result<HttpResponse, ApiError> {
    let collection = collection_url(req, state);
    let body = projection(req)?.apply(render_user(user, &collection)?, schema::user());
    Ok(resource_response(status, user, &body, &collection))
}

/// The `attributes` / `excludedAttributes` of the query string.
fn projection(req: &HttpRequest) -> Result<Projection, ApiError> {
    let pairs = query_pairs(req)?;
    Ok(Projection::parse(
        query_param(&pairs, "attributes"),
        query_param(&pairs, "excludedAttributes"),
        schema::user(),
    )?)
}

async fn list_users(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pairs = query_pairs(&req)?;
    let query = RawListParams::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .validate(schema::user(), state.max_results)?;
    list(&req, &state, query).await
}

async fn search_users(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request = json_body(&req, &body)?;
    let query = RawListParams::from_search_request(&request)?.validate(schema::user(), state.max_results)?;
    list(&req, &state, query).await
}

async fn list(req: &HttpRequest, state: &AppState, query: ListQuery) -> Result<HttpResponse, ApiError> {
    let page = state.store.list_users(&query).await?;
    let collection = collection_url(req, state);
    let mut resources = Vec::with_capacity(page.users.len());
    for user in &page.users {
        resources.push(query.projection.apply(render_user(user, &collection)?, schema::user()));
    }
    Ok(scim_json(
        StatusCode::OK,
        &list_response(page.total, query.start_index, resources),
    ))
}

async fn create_user(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let input = json_body(&req, &body)?;
    let normalized = normalize(&input, schema::user())?;
    let user = state
        .store
        .insert_user(&normalized.document)
        .await
        .map_err(|e| taken(e.into(), &normalized.document))?;
    respond(&req, &state, StatusCode::CREATED, &user)
}

async fn get_user(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = state.store.get_user(&id).await?;
    if not_modified(&req, user.version()) {
        let mut response = HttpResponse::NotModified().finish();
        if let Ok(etag) = header::HeaderValue::from_str(&user.version().to_string()) {
            response.headers_mut().insert(header::ETAG, etag);
        }
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
    let input = json_body(&req, &body)?;
    let normalized = normalize(&input, schema::user())?;
    let saved = change_user(&req, &state, &id, |_, before| {
        check_immutable(&before, &normalized.document)?;
        Ok(normalized.document.clone())
    })
    .await?;
    respond(&req, &state, StatusCode::OK, &saved)
}

/// PATCH applies every operation or none (RFC 7644 §3.5.2) and answers 200 with the resource.
async fn patch_user(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input = json_body(&req, &body)?;
    let operations = patch::parse_request(&input)?;
    let saved = change_user(&req, &state, &id, |_, before| {
        Ok(patch::apply(&before, &operations, schema::user(), &id)?.document)
    })
    .await?;
    respond(&req, &state, StatusCode::OK, &saved)
}

async fn delete_user(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let expected = match req.headers().get(header::IF_MATCH) {
        Some(_) => {
            let current = state.store.get_user(&id).await?;
            check_if_match(&req, current.version())?;
            Some(current.version())
        }
        None => None,
    };
    state.store.delete_user(&id, expected).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes user `id` to what `change` computes from its current state. The fast path reads, then
/// writes only if the version is unchanged (two statements). A lost race without If-Match is redone
/// inside the writer's transaction, so concurrent changes all apply; with If-Match it is a 412.
/// A change that leaves the document as it was writes nothing (Entra repeats `active` PATCHes).
async fn change_user(
    req: &HttpRequest,
    state: &AppState,
    id: &str,
    change: impl Fn(&StoredUser, Document) -> Result<Document, ApiError>,
) -> Result<StoredUser, ApiError> {
    let attempted = RefCell::new(Document::new());
    let recorded = |current: &StoredUser, before: Document| {
        check_if_match(req, current.version())?;
        let after = change(current, before)?;
        attempted.replace(after.clone());
        Ok::<_, ApiError>(after)
    };
    let current = state.store.get_user(id).await?;
    let before = current.document()?;
    let after = recorded(&current, before.clone())?;
    if after == before {
        return Ok(current);
    }
    let outcome = match state.store.update_user_if(id, current.version(), &after).await {
        Err(StoreError::VersionMismatch) if !req.headers().contains_key(header::IF_MATCH) => {
            state.store.modify_user(id, recorded).await
        }
        other => other.map_err(ApiError::from),
    };
    outcome.map_err(|e| taken(e, &attempted.borrow()))
}

/// A userName conflict, said with the name.
fn taken(e: ApiError, document: &Document) -> ApiError {
    match e {
        ApiError::Store(StoreError::Conflict { constraint: "userName" }) => {
            let name = document.get("userName").and_then(Value::as_str).unwrap_or_default();
            ScimError::uniqueness(format!("userName '{name}' is already taken")).into()
        }
        other => other,
    }
}

/// RFC 7643 §2.2: an immutable attribute that has a value may not change.
fn check_immutable(current: &Document, new: &Document) -> Result<(), ApiError> {
    for def in schema::user()
        .core
        .attributes
        .iter()
        .filter(|d| d.mutability == Mutability::Immutable)
    {
        if let Some(old) = current.get(&def.name) {
            if new.get(&def.name) != Some(old) {
                return Err(ScimError::mutability(format!("'{}' is immutable", def.name)).into());
            }
        }
    }
    Ok(())
}
