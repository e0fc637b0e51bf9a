//! Reading what a request carries: its JSON body (media type checked), query pairs, preconditions,
//! and the URL resources are served under.
use super::ApiError;
use crate::scim::resource::Version;
use crate::scim::ScimError;
use actix_web::http::header;
use actix_web::HttpRequest;
use serde_json::Value;

/// A body's media type must be `application/scim+json` or `application/json` (or absent): else 415.
pub fn check_media_type(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(content_type) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = content_type
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    if essence != "application/scim+json" && essence != "application/json" {
        return Err(ScimError::new(
            415,
            None,
            format!("Content-Type must be application/scim+json or application/json, not '{essence}'"),
        )
        .into());
    }
    Ok(())
}

/// Parses a request body as JSON (no I/O: safe to run on the blocking pool, see `http::cpu`).
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty; a JSON object is expected").into());
    }
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")).into())
}

/// The query string as decoded pairs (`+` and `%20` both read as a space: Okta sends either).
pub fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .map_err(|e| ScimError::invalid_syntax(format!("the query string cannot be decoded: {e}")).into())
}

/// The value of query parameter `name` (case-insensitive).
pub fn query_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The request's If-Match tags, for the store to check against the version it writes.
pub fn if_match(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::IF_MATCH).and_then(|v| v.to_str().ok())
}

/// Whether `If-None-Match` names `current`, so a GET may answer 304.
pub fn not_modified(req: &HttpRequest, current: Version) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| current.matches_header(tags))
}
