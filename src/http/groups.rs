//! `/Groups` (RFC 7644 §3.3–3.6, RFC 7643 §4.2). Membership is rows: member changes go to the store
//! as row operations (`scim::members`), never as a rewritten list.
use super::cpu;
use super::request::{check_media_type, if_match, parse_json, query_pairs, query_param};
use super::resource::{if_not_modified, insert_before_meta, resource_response, GROUP, USER};
use super::{scim_json, ApiError, AppState};
use crate::scim::list::{list_response, ListQuery};
use crate::scim::members::{self, MemberOp, MemberRef};
use crate::scim::projection::Projection;
use crate::scim::resource::{normalize, Document};
use crate::scim::{patch, schema};
use crate::store::StoredGroup;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Groups")
            .route(web::get().to(list_groups))
            .route(web::post().to(create_group)),
    )
    .service(web::resource("/Groups/.search").route(web::post().to(search_groups)))
    .service(
        web::resource("/Groups/{id}")
            .route(web::get().to(get_group))
            .route(web::put().to(replace_group))
            .route(web::patch().to(patch_group))
            .route(web::delete().to(delete_group)),
    );
}

/// The group as a resource; its members are read only when the projection can show them
/// (`excludedAttributes=members` reads no membership at all).
pub async fn render_group(
    req: &HttpRequest,
    state: &AppState,
    group: &StoredGroup,
    projection: &Projection,
    collection: &str,
) -> Result<Value, ApiError> {
    let mut resource = GROUP.render(group, collection)?;
    if projection.may_include("members") {
        let (users, groups) = (USER.collection_url(req, state), GROUP.collection_url(req, state));
        let members: Vec<Value> = state
            .store
            .group_members(&group.id)
            .await?
            .into_iter()
            .map(|m| {
                let base = if m.member_type == "Group" { &groups } else { &users };
                let mut member =
                    json!({"value": m.member_id, "$ref": format!("{base}/{}", m.member_id), "type": m.member_type});
                if let Some(display) = m.display {
                    member["display"] = Value::String(display);
                }
                member
            })
            .collect();
        if !members.is_empty() {
            insert_before_meta(&mut resource, "members", Value::Array(members));
        }
    }
    Ok(projection.apply(resource, schema::group()))
}

async fn respond(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    group: &StoredGroup,
) -> Result<HttpResponse, ApiError> {
    let collection = GROUP.collection_url(req, state);
    let body = render_group(req, state, group, &GROUP.projection(req, state)?, &collection).await?;
    Ok(resource_response(status, group, &body, &collection))
}

async fn list_groups(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = GROUP.list_query(&req, &state)?;
    list(&req, &state, query).await
}

async fn search_groups(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = GROUP.search_query(&req, body, &state).await?;
    list(&req, &state, query).await
}

async fn list(req: &HttpRequest, state: &AppState, query: ListQuery) -> Result<HttpResponse, ApiError> {
    let page = state.store.list_groups(&query).await?;
    let resources = render_groups(req, state, &page.items, &query.projection).await?;
    Ok(scim_json(
        StatusCode::OK,
        &list_response(page.total, query.start_index, resources),
    ))
}

pub async fn render_groups(
    req: &HttpRequest,
    state: &AppState,
    groups: &[StoredGroup],
    projection: &Projection,
) -> Result<Vec<Value>, ApiError> {
    let collection = GROUP.collection_url(req, state);
    let mut resources = Vec::with_capacity(groups.len());
    for group in groups {
        resources.push(render_group(req, state, group, projection, &collection).await?);
    }
    Ok(resources)
}

async fn create_group(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (document, members) = group_input(&req, body).await?;
    let group = insert_group(&state, &document, &members).await?;
    respond(&req, &state, StatusCode::CREATED, &group).await
}

/// The writes of `/Groups`, each atomic with the fan-out it queues: shared by the handlers and by
/// `/Bulk`.
pub(super) async fn insert_group(
    state: &AppState,
    document: &Document,
    members: &[MemberRef],
) -> Result<StoredGroup, ApiError> {
    Ok(state.store.insert_group(document, members).await?.group)
}

pub(super) async fn replace_group_with(
    state: &AppState,
    id: &str,
    document: Document,
    members: Vec<MemberRef>,
    if_match: Option<&str>,
) -> Result<StoredGroup, ApiError> {
    let change = state
        .store
        .change_group(id, if_match, |_| {
            Ok::<_, ApiError>((document, vec![MemberOp::Replace(members)]))
        })
        .await?;
    Ok(change.group)
}

pub(super) async fn patch_group_with(
    state: &AppState,
    id: &str,
    plan: members::GroupPatch,
    if_match: Option<&str>,
) -> Result<StoredGroup, ApiError> {
    let change = state
        .store
        .change_group(id, if_match, |before| {
            let after = if plan.document_ops.is_empty() {
                before
            } else {
                patch::apply(&before, &plan.document_ops, schema::group(), id)?.document
            };
            Ok::<_, ApiError>((after, plan.member_ops))
        })
        .await?;
    Ok(change.group)
}

/// DELETE, if `if_match` (when given) names the current version.
pub(super) async fn delete_group_if(state: &AppState, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
    let expected = match if_match {
        Some(tags) => {
            let current = state.store.get_group(id).await?.version();
            if !current.matches_header(tags) {
                return Err(crate::store::StoreError::VersionMismatch.into());
            }
            Some(current)
        }
        None => None,
    };
    state.store.delete_group(id, expected).await?;
    Ok(())
}

async fn get_group(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let group = state.store.get_group(&id).await?;
    if let Some(response) = if_not_modified(&req, &group) {
        return Ok(response);
    }
    respond(&req, &state, StatusCode::OK, &group).await
}

/// PUT replaces the group, members included: members left out are removed.
async fn replace_group(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (document, members) = group_input(&req, body).await?;
    let group = replace_group_with(&state, &id, document, members, if_match(&req)).await?;
    respond(&req, &state, StatusCode::OK, &group).await
}

/// PATCH applies every operation or none. It answers 204 with the new ETag (RFC 7644 §3.5.2 allows
/// it, Entra recommends it for groups): echoing 100,000 members per change would cost more than the
/// change. With `attributes` or `excludedAttributes` it answers 200 with the group so shaped.
async fn patch_group(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_media_type(&req)?;
    let limits = state.limits;
    let plan = cpu::run(body.len(), move || {
        Ok(members::plan(patch::parse_request(&parse_json(&body)?, &limits)?)?)
    })
    .await?;
    let group = patch_group_with(&state, &id, plan, if_match(&req)).await?;
    let pairs = query_pairs(&req)?;
    if query_param(&pairs, "attributes").is_some() || query_param(&pairs, "excludedAttributes").is_some() {
        return respond(&req, &state, StatusCode::OK, &group).await;
    }
    let mut response = HttpResponse::NoContent().finish();
    if let Ok(etag) = header::HeaderValue::from_str(&group.version().to_string()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

async fn delete_group(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    delete_group_if(&state, &id, if_match(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A POST or PUT body: the group document, and its members apart (they become rows).
async fn group_input(req: &HttpRequest, body: web::Bytes) -> Result<(Document, Vec<MemberRef>), ApiError> {
    check_media_type(req)?;
    cpu::run(body.len(), move || {
        let mut input = parse_json(&body)?;
        let members = members::take_members(&mut input)?;
        Ok((normalize(&input, schema::group())?.document, members))
    })
    .await
}
