//! What the /Users and /Groups handlers share: rendering a stored row, `attributes` /
//! `excludedAttributes`, and the response with `ETag` and `Location`.
use super::cpu;
use super::origin::base_url;
use super::request::{check_media_type, not_modified, parse_json, query_pairs, query_param};
use super::{scim_json, ApiError, AppState};
use crate::scim::list::{ListQuery, RawListParams};
use crate::scim::projection::Projection;
use crate::scim::resource::{render, MetaInfo};
use crate::scim::schema::{self, ResourceSchema};
use crate::store::StoredResource;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

/// A resource type as the HTTP layer serves it.
pub struct Kind {
    pub resource_type: &'static str,
    pub endpoint: &'static str,
    /// The resource type's schema as this server was configured (declared extensions included).
    pub schema: fn(&AppState) -> &'static ResourceSchema,
}

pub const USER: Kind = Kind {
    resource_type: "User",
    endpoint: "/Users",
    schema: user_schema,
};
pub const GROUP: Kind = Kind {
    resource_type: "Group",
    endpoint: "/Groups",
    schema: group_schema,
};

fn user_schema(state: &AppState) -> &'static ResourceSchema {
    state.user_schema
}

fn group_schema(_: &AppState) -> &'static ResourceSchema {
    schema::group()
}

impl Kind {
    pub fn collection_url(&self, req: &HttpRequest, state: &AppState) -> String {
        format!("{}{}", base_url(req, state), self.endpoint)
    }

    /// The stored row as a full resource (before projection).
    pub fn render(&self, row: &StoredResource, collection_url: &str) -> Result<Value, ApiError> {
        let meta = MetaInfo {
            resource_type: self.resource_type,
            id: &row.id,
            created: &row.created,
            last_modified: &row.last_modified,
            version: row.version(),
            collection_url,
        };
        Ok(render(&row.document()?, &meta))
    }

    /// The list query of a GET on the collection.
    pub fn list_query(&self, req: &HttpRequest, state: &AppState) -> Result<ListQuery, ApiError> {
        let pairs = query_pairs(req)?;
        let raw = RawListParams::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(raw.validate((self.schema)(state), &state.limits)?)
    }

    /// The list query of a POST `.search` (a SearchRequest body; a large one is read off the worker).
    pub async fn search_query(
        &self,
        req: &HttpRequest,
        body: web::Bytes,
        state: &AppState,
    ) -> Result<ListQuery, ApiError> {
        let (schema, limits) = ((self.schema)(state), state.limits);
        let raw = read_search_request(req, body).await?;
        cpu::run(raw.filter.as_ref().map_or(0, String::len), move || {
            Ok(raw.validate(schema, &limits)?)
        })
        .await
    }

    /// The request's `attributes` / `excludedAttributes`.
    pub fn projection(&self, req: &HttpRequest, state: &AppState) -> Result<Projection, ApiError> {
        let pairs = query_pairs(req)?;
        let (attributes, excluded) = (
            query_param(&pairs, "attributes"),
            query_param(&pairs, "excludedAttributes"),
        );
        Ok(Projection::parse(attributes, excluded, (self.schema)(state))?)
    }
}

/// A SearchRequest body's parameters (RFC 7644 §3.4.3).
pub async fn read_search_request(req: &HttpRequest, body: web::Bytes) -> Result<RawListParams, ApiError> {
    check_media_type(req)?;
    cpu::run(body.len(), move || {
        Ok(RawListParams::from_search_request(&parse_json(&body)?)?)
    })
    .await
}

/// A single-resource response: the body, `ETag`, and `Location`.
pub fn resource_response(status: StatusCode, row: &StoredResource, body: &Value, collection: &str) -> HttpResponse {
    let mut response = scim_json(status, body);
    let headers = response.headers_mut();
    if let Ok(etag) = header::HeaderValue::from_str(&row.version().to_string()) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(location) = header::HeaderValue::from_str(&format!("{collection}/{}", row.id)) {
        headers.insert(header::LOCATION, location);
    }
    response.extensions_mut().insert(touched(row, body));
    response
}

/// What the request log records the response touched: a user by its userName, a group by its
/// displayName (as answered).
fn touched(row: &StoredResource, body: &Value) -> crate::audit::Touched {
    let named = |key| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let (resource_type, name) = match named("userName") {
        Some(name) => (Some("User"), Some(name)),
        None => (named("displayName").map(|_| "Group"), named("displayName")),
    };
    crate::audit::Touched {
        resource_type,
        id: Some(row.id.clone()),
        name,
    }
}

/// 304 with the ETag, when `If-None-Match` names the current version.
pub fn if_not_modified(req: &HttpRequest, row: &StoredResource) -> Option<HttpResponse> {
    if !not_modified(req, row.version()) {
        return None;
    }
    let mut response = HttpResponse::NotModified().finish();
    if let Ok(etag) = header::HeaderValue::from_str(&row.version().to_string()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Some(response)
}

/// Inserts `key: value` before `meta`, so rendered resources keep `meta` last.
pub fn insert_before_meta(resource: &mut Value, key: &str, value: Value) {
    let Value::Object(object) = resource else { return };
    let meta = object.remove("meta");
    object.insert(key.to_owned(), value);
    if let Some(meta) = meta {
        object.insert("meta".to_owned(), meta);
    }
}
