//! What the request middleware (`http::log_request`) writes to the request log: the ids a request
//! carries, the bodies it keeps (redacted), and the row itself.
use crate::audit::redact::redacted_body;
use crate::audit::requests::BODY_LIMIT;
use crate::audit::{Bodies, RequestRecord, Touched};
use crate::http::auth::Principal;
use crate::scim::ScimError;
use actix_web::body::{self, BoxBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpMessage};

/// The request's `traceparent` when it is well-formed (W3C Trace Context: version, 32 hex trace
/// id, 16 hex parent id, 2 hex flags, lower case, ids not all zero).
pub fn traceparent(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("traceparent")?.to_str().ok()?.trim();
    let parts: Vec<&str> = value.split('-').collect();
    let hex =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    let valid = parts.len() >= 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && !zero(parts[1])
        && hex(parts[2], 16)
        && !zero(parts[2])
        && hex(parts[3], 2);
    valid.then(|| value.to_owned())
}

/// The client's `X-Request-Id` when it is short and plain, else the trace id of `traceparent`,
/// else a new UUID.
pub fn request_id(headers: &HeaderMap, traceparent: Option<&str>) -> String {
    let given = headers.get("x-request-id").and_then(|v| v.to_str().ok()).filter(|v| {
        !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    match (given, traceparent.and_then(|t| t.split('-').nth(1))) {
        (Some(id), _) => id.to_owned(),
        (None, Some(trace)) => trace.to_owned(),
        (None, None) => uuid::Uuid::now_v7().to_string(),
    }
}

/// Whether `path` is under the SCIM base path (the console, `/metrics` and `/healthz` are not
/// SCIM requests).
pub fn is_scim(path: &str, base_path: &str) -> bool {
    path.strip_prefix(base_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Reads the request body (to log it) and puts it back for the handler. A body the server refuses
/// to read (larger than `server.max_body_bytes`) is answered here, as the handler would have.
pub async fn read_body(mut req: ServiceRequest) -> Result<(ServiceRequest, web::Bytes), ServiceResponse<BoxBody>> {
    match req.extract::<web::Bytes>().await {
        Ok(body) => {
            req.set_payload(actix_web::dev::Payload::from(body.clone()));
            Ok((req, body))
        }
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            let detail = match status {
                413 => "the request body is larger than maxPayloadSize (server.max_body_bytes)".to_owned(),
                _ => format!("the request body cannot be read: {e}"),
            };
            let response = super::error::scim_error_response(&ScimError::new(status, None, detail));
            Err(req.into_response(response))
        }
    }
}

/// The response's body as the log keeps it (`bodies`), and the response to send. An error's body
/// is written again from its SCIM error; a success's is read and put back only with `all`.
pub async fn response_body(
    response: ServiceResponse<BoxBody>,
    bodies: Bodies,
) -> Result<(ServiceResponse<BoxBody>, Option<String>), actix_web::Error> {
    let status = response.status().as_u16();
    if !bodies.keeps(status) {
        return Ok((response, None));
    }
    let error = response
        .response()
        .extensions()
        .get::<ScimError>()
        .map(|e| e.to_json().to_string());
    if error.is_some() {
        return Ok((response, error));
    }
    if bodies != Bodies::All {
        return Ok((response, None));
    }
    let (req, res) = response.into_parts();
    let (res, body) = res.into_parts();
    let bytes = body::to_bytes(body)
        .await
        .map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))?;
    let kept = redacted_body(&bytes, BODY_LIMIT);
    let res = res.set_body(BoxBody::new(bytes));
    Ok((ServiceResponse::new(req, res), kept))
}

/// A finished SCIM request, as the middleware saw it.
pub struct Finished<'a> {
    pub at: time::OffsetDateTime,
    pub request_id: String,
    pub traceparent: Option<String>,
    pub method: String,
    pub path: String,
    /// The route it matched (`/scim/v2/Users/{id}`).
    pub route: String,
    pub latency_ms: f64,
    pub response: &'a mut ServiceResponse<BoxBody>,
    pub request_body: Option<web::Bytes>,
    pub response_body: Option<String>,
}

/// The request log's row for a finished request: who asked (the token's name), what it was
/// answered (status, `scimType`, detail), and what it touched (the handler's word, else the
/// route's resource type and `{id}`).
pub fn record(finished: Finished<'_>) -> RequestRecord {
    let touched = finished.response.response_mut().extensions_mut().remove::<Touched>();
    let response = &*finished.response;
    let request = response.request();
    let token = request.extensions().get::<Principal>().map(|p| match p {
        Principal::Token { name, .. } => name.clone(),
        Principal::Jwt { subject } => format!("jwt:{subject}"),
    });
    let error = response.response().extensions().get::<ScimError>().cloned();
    let touched = touched.unwrap_or_else(|| Touched {
        resource_type: resource_type(&finished.route),
        id: request.match_info().get("id").map(str::to_owned),
        name: None,
    });
    RequestRecord {
        at: finished.at,
        request_id: finished.request_id,
        traceparent: finished.traceparent,
        token,
        method: finished.method,
        path: finished.path,
        status: response.status().as_u16(),
        scim_type: error.as_ref().and_then(|e| e.scim_type).map(|t| t.as_str().to_owned()),
        detail: error.map(|e| e.detail),
        latency_ms: finished.latency_ms,
        touched,
        request_body: finished.request_body.and_then(|b| redacted_body(&b, BODY_LIMIT)),
        response_body: finished.response_body,
    }
}

/// The resource type a route serves one of (`…/Users/{id}` → `User`).
fn resource_type(route: &str) -> Option<&'static str> {
    if !route.ends_with("/{id}") {
        return None;
    }
    let collection = route.trim_end_matches("/{id}").rsplit('/').next()?;
    match collection {
        "Users" => Some("User"),
        "Groups" => Some("Group"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_well_formed_traceparent_is_kept_and_a_malformed_one_is_not() {
        assert_eq!(traceparent(&headers(&[("traceparent", TRACE)])).as_deref(), Some(TRACE));
        for bad in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "hello",
        ] {
            assert_eq!(traceparent(&headers(&[("traceparent", bad)])), None, "{bad}");
        }
    }

    #[test]
    fn the_request_id_is_the_clients_else_the_trace_id_else_new() {
        let given = headers(&[("x-request-id", "okta-123"), ("traceparent", TRACE)]);
        assert_eq!(request_id(&given, Some(TRACE)), "okta-123");
        let traced = headers(&[("x-request-id", "has space")]);
        assert_eq!(request_id(&traced, Some(TRACE)), "4bf92f3577b34da6a3ce929d0e0e4736");
        let fresh = request_id(&HeaderMap::new(), None);
        assert_eq!(fresh.len(), 36);
        assert_ne!(fresh, request_id(&HeaderMap::new(), None));
    }

    #[test]
    fn only_paths_under_the_base_path_are_scim_requests() {
        assert!(is_scim("/scim/v2/Users", "/scim/v2"));
        assert!(is_scim("/scim/v2", "/scim/v2"));
        assert!(!is_scim("/scim/v20/Users", "/scim/v2"));
        assert!(!is_scim("/admin/events", "/scim/v2"));
        assert!(!is_scim("/metrics", "/scim/v2"));
    }

    #[test]
    fn a_route_names_the_resource_type_it_serves_one_of() {
        assert_eq!(resource_type("/scim/v2/Users/{id}"), Some("User"));
        assert_eq!(resource_type("/scim/v2/Groups/{id}"), Some("Group"));
        assert_eq!(resource_type("/scim/v2/Users"), None);
        assert_eq!(resource_type("/scim/v2/Schemas/{id}"), None);
    }
}
