//! What every request must be before it is routed: a request target no longer than
//! `server.max_uri_length` (414), one valid `Host` (400, RFC 9112 §3.2), and the spellings of SCIM
//! endpoints that clients in the wild send (`/users`, `/Users/`) read as the canonical ones.
use super::origin::is_authority;
use super::{error, AppState};
use crate::scim::ScimError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Uri, Version};
use actix_web::middleware::Next;
use actix_web::web;

/// The endpoint names under the base path, as routed; a request may spell them in any case.
const ENDPOINTS: [&str; 7] = [
    "Users",
    "Groups",
    "Schemas",
    "ResourceTypes",
    "ServiceProviderConfig",
    "Bulk",
    "Me",
];

/// Middleware: refuses what cannot be served and canonicalises endpoint spellings.
pub async fn front_door(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if let Err(refusal) = admissible(&req, state.max_uri_length) {
        return Ok(req.into_response(error::scim_error_response(&refusal)));
    }
    if let Some(canonical) = canonical_path(req.path(), &state.base_path) {
        rewrite_path(&mut req, &canonical);
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn admissible(req: &ServiceRequest, max_uri_length: usize) -> Result<(), ScimError> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > max_uri_length {
        return Err(uri_too_long(target, max_uri_length));
    }
    let mut hosts = req.headers().get_all(header::HOST);
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Err(ScimError::new(400, None, "the request has more than one Host header")),
        (Some(host), None) if !host.to_str().is_ok_and(is_authority) => {
            Err(ScimError::new(400, None, "the Host header is not a valid host[:port]"))
        }
        (None, _) if req.version() == Version::HTTP_11 && req.uri().authority().is_none() => {
            Err(ScimError::new(400, None, "an HTTP/1.1 request needs a Host header"))
        }
        _ => Ok(()),
    }
}

/// The 414 answer, also given by `http::transport` for targets too long for the HTTP parser.
pub fn uri_too_long(length: usize, max: usize) -> ScimError {
    ScimError::new(
        414,
        None,
        format!("the request URI is {length} bytes long; this server accepts at most {max} (server.max_uri_length)"),
    )
}

/// Why `http::transport` refused a request, as it tells in the query of its stand-in request.
#[derive(Debug, serde::Deserialize)]
pub struct Refusal {
    status: u16,
    length: usize,
}

/// The answer to a request `http::transport` refused: 414 for a request target too long to parse,
/// 431 for a head too large. The connection closes after it.
pub async fn refused(refusal: web::Query<Refusal>, state: web::Data<AppState>) -> actix_web::HttpResponse {
    let error = match refusal.status {
        414 => uri_too_long(refusal.length, state.max_uri_length),
        _ => ScimError::new(
            431,
            None,
            format!(
                "the request head is {} bytes or more; this server accepts smaller heads (fewer or shorter headers)",
                refusal.length
            ),
        ),
    };
    error::scim_error_response(&error)
}

/// `/scim/v2/users/` → `/scim/v2/Users`, `/scim/v2/Users/.SEARCH` → `/scim/v2/Users/.search`:
/// the endpoint segment matched case-insensitively, trailing slashes dropped. Ids are left as sent.
/// `None` when the path is already canonical (the usual case costs no allocation).
fn canonical_path(path: &str, base_path: &str) -> Option<String> {
    let rest = path.strip_prefix(base_path)?.strip_prefix('/')?;
    let trimmed = rest.trim_end_matches('/');
    let mut segments = trimmed.split('/');
    let endpoint = segments.next()?;
    let canonical = ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(endpoint)).copied();
    let second = segments.next();
    let search = second.filter(|s| s.eq_ignore_ascii_case(".search") && *s != ".search");
    let changed = trimmed.len() != rest.len() || canonical.is_some_and(|c| c != endpoint) || search.is_some();
    if !changed || trimmed.is_empty() {
        return None;
    }
    let mut out = format!("{base_path}/{}", canonical.unwrap_or(endpoint));
    if let Some(second) = second {
        out.push('/');
        out.push_str(if search.is_some() { ".search" } else { second });
    }
    for segment in segments {
        out.push('/');
        out.push_str(segment);
    }
    Some(out)
}

/// Points the request at `path`, keeping its query (as actix's `NormalizePath` does).
fn rewrite_path(req: &mut ServiceRequest, path: &str) {
    let mut parts = req.head().uri.clone().into_parts();
    let query = parts.path_and_query.as_ref().and_then(|pq| pq.query());
    let target = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let Ok(path_and_query) = target.parse() else { return };
    parts.path_and_query = Some(path_and_query);
    if let Ok(uri) = Uri::from_parts(parts) {
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_spellings_become_canonical_and_ids_stay_as_sent() {
        let rows = [
            ("/scim/v2/users", Some("/scim/v2/Users")),
            ("/scim/v2/Users/", Some("/scim/v2/Users")),
            ("/scim/v2/GROUPS/AbC-1//", Some("/scim/v2/Groups/AbC-1")),
            ("/scim/v2/users/.SEARCH", Some("/scim/v2/Users/.search")),
            ("/scim/v2/serviceproviderconfig", Some("/scim/v2/ServiceProviderConfig")),
            ("/scim/v2/Users", None),
            ("/scim/v2/Users/AbC", None),
            ("/scim/v2/", None),
            ("/scim/v2/widgets/", Some("/scim/v2/widgets")),
            ("/elsewhere/users", None),
        ];
        for (path, want) in rows {
            assert_eq!(canonical_path(path, "/scim/v2").as_deref(), want, "{path}");
        }
    }
}
