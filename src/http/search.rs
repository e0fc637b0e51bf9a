//! `POST /.search` at the root (RFC 7644 §3.4.3): one search over every resource type. Results are
//! the matching Users, then the matching Groups, paged as one list. A type whose schema does not know
//! the request's attributes (e.g. a filter on `userName`) contributes nothing.
use super::cpu;
use super::groups::render_groups;
use super::resource::read_search_request;
use super::users::render_users;
use super::{scim_json, ApiError, AppState};
use crate::scim::list::{list_response, ListQuery, RawListParams};
use crate::scim::projection::Projection;
use crate::scim::schema;
use crate::scim::schema::ResourceSchema;
use crate::scim::{Limits, ScimError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/.search").route(web::post().to(search_all)));
}

/// The query for one resource type: its filter and sort must make sense for the type (else the type
/// is left out); attribute names it does not have are dropped from the projection.
fn for_type(raw: &RawListParams, schema: &ResourceSchema, limits: &Limits) -> Result<ListQuery, ScimError> {
    let without_projection = RawListParams {
        attributes: None,
        excluded_attributes: None,
        ..raw.clone()
    };
    let mut query = without_projection.validate(schema, limits)?;
    for path in query.filter.as_ref().map(|f| f.paths()).unwrap_or_default() {
        schema.resolve(&path).map_err(ScimError::invalid_filter)?;
    }
    query.projection = Projection::parse_known(raw.attributes.as_deref(), raw.excluded_attributes.as_deref(), schema)?;
    Ok(query)
}

async fn search_all(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let raw = read_search_request(&req, body).await?;
    let (limits, user_schema) = (state.limits, state.user_schema);
    let (users, groups) = cpu::run(raw.filter.as_ref().map_or(0, String::len), move || {
        Ok((
            for_type(&raw, user_schema, &limits),
            for_type(&raw, schema::group(), &limits),
        ))
    })
    .await?;
    let (users, groups) = match (users, groups) {
        (Err(e), Err(_)) => return Err(e.into()),
        (users, groups) => (users.ok(), groups.ok()),
    };
    let Some((start, count)) = users.as_ref().or(groups.as_ref()).map(|q| (q.start_index, q.count)) else {
        return Ok(scim_json(StatusCode::OK, &list_response(0, 1, Vec::new())));
    };
    let mut total = 0;
    let mut resources = Vec::new();
    if let Some(query) = users {
        let page = state.store.list_users(&query).await?;
        total += page.total;
        resources.extend(render_users(&req, &state, &page.items, &query.projection)?);
    }
    if let Some(mut query) = groups {
        // Groups follow the users in the one list: shift the window past them.
        let offset = start - 1;
        query.start_index = offset.saturating_sub(total) + 1;
        query.count = count - resources.len();
        let page = state.store.list_groups(&query).await?;
        total += page.total;
        resources.extend(render_groups(&req, &state, &page.items, &query.projection).await?);
    }
    Ok(scim_json(StatusCode::OK, &list_response(total, start, resources)))
}
