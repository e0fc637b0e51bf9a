//! actix-web: routing under the SCIM base path, auth, media types, size limits, request logs.
pub mod admin;
mod audit_log;
pub mod auth;
mod bulk;
mod cpu;
mod discovery;
pub mod error;
pub mod front_door;
mod groups;
pub mod jwks;
pub mod metrics;
mod ops;
mod origin;
mod request;
mod resource;
mod search;
pub mod transport;
mod users;

pub use error::ApiError;

use crate::scim::{Limits, ScimError};
use crate::store::Store;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpMessage, HttpResponse};
use std::time::Instant;

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub base_path: String,
    /// The externally visible SCIM base URL, when configured (`server.public_url`).
    pub public_url: Option<String>,
    pub limits: Limits,
    /// The largest request body (`server.max_body_bytes`), advertised as `bulk.maxPayloadSize`.
    pub max_body_bytes: usize,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed (`server.trusted_proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The longest request target served (`server.max_uri_length`); longer is 414.
    pub max_uri_length: usize,
    /// The address URLs name when a request names no host (an HTTP/1.0 request without `Host`).
    pub listen_host: String,
    /// The operator console's root (`server.admin_path`).
    pub admin_path: String,
    /// The configured targets as the console lists them (a reload replaces them).
    pub targets: ConsoleTargets,
    /// The console's on-demand `check` of a target, by name (wired by `app` from `sync`).
    pub check_target: TargetCheck,
    /// The console's Reload button: the configuration read again (wired by `app`).
    pub reload: ConfigReload,
    /// The User resource type, with the declared extensions (`[schema]`).
    pub user_schema: &'static crate::scim::schema::ResourceSchema,
    /// Where every SCIM request is logged (docs/audit.md).
    pub requests: crate::audit::RequestLog,
    /// Built-in TLS, whose status admins see (`/healthz`, the console).
    pub tls: Option<crate::tls::Tls>,
}

/// Whether a listener serves over built-in TLS (its URLs are https, its cookies `Secure`).
#[derive(Debug, Clone, Copy)]
pub struct OverTls(pub bool);

/// A configured target as the console shows it.
#[derive(Debug, Clone)]
pub struct ConsoleTarget {
    pub name: String,
    pub kind: &'static str,
    pub mode: &'static str,
    /// What its entitlement rules grant (the user page shows each user's grants).
    pub entitlements: crate::sync::entitlements::Entitlements,
}

/// The configured targets as the console lists them.
pub type ConsoleTargets = std::sync::Arc<arc_swap::ArcSwap<Vec<ConsoleTarget>>>;

type ReloadFn = dyn Fn() -> futures_util::future::BoxFuture<'static, Result<Vec<String>, String>> + Send + Sync;

/// Reads the configuration again: the lines saying what changed, or why nothing did.
#[derive(Clone)]
pub struct ConfigReload(std::sync::Arc<ReloadFn>);

impl ConfigReload {
    pub fn new(
        reload: impl Fn() -> futures_util::future::BoxFuture<'static, Result<Vec<String>, String>> + Send + Sync + 'static,
    ) -> Self {
        Self(std::sync::Arc::new(reload))
    }

    pub async fn reload(&self) -> Result<Vec<String>, String> {
        (self.0)().await
    }
}

impl std::fmt::Debug for ConfigReload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigReload")
    }
}

type CheckFn = dyn Fn(String) -> futures_util::future::BoxFuture<'static, Option<Result<String, String>>> + Send + Sync;

/// Probes a target's credentials with a read-only call, by the target's name.
#[derive(Clone)]
pub struct TargetCheck(std::sync::Arc<CheckFn>);

impl TargetCheck {
    pub fn new(
        check: impl Fn(String) -> futures_util::future::BoxFuture<'static, Option<Result<String, String>>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Self(std::sync::Arc::new(check))
    }

    /// What the probe called, or why it failed; `None` for a target that is not configured.
    pub async fn check(&self, target: &str) -> Option<Result<String, String>> {
        (self.0)(target.to_owned()).await
    }
}

impl std::fmt::Debug for TargetCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TargetCheck")
    }
}

/// What one listener serves (`server.admin_listen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// The SCIM API and `/metrics`, with the console when it is configured onto this listener.
    Scim { console: bool },
    /// The console alone.
    Console,
}

/// Registers a listener's routes: `/healthz` open everywhere; `/metrics` with auth and everything
/// under `base_path` behind `require_auth` on the SCIM listener; the console where `serves` says.
pub fn configure(cfg: &mut web::ServiceConfig, state: &AppState, max_body_bytes: usize, serves: Serves) {
    cfg.app_data(web::PayloadConfig::new(max_body_bytes))
        .route("/healthz", web::get().to(ops::healthz))
        .route(transport::REFUSED_PATH, web::to(front_door::refused));
    if matches!(serves, Serves::Console | Serves::Scim { console: true }) {
        cfg.configure(|cfg| admin::configure(cfg, &state.admin_path));
    }
    if matches!(serves, Serves::Scim { .. }) {
        cfg.configure(metrics::configure).service(
            web::scope(&state.base_path)
                .wrap(from_fn(auth::require_auth))
                .configure(users::configure)
                .configure(groups::configure)
                .configure(search::configure)
                .configure(discovery::configure)
                .configure(bulk::configure)
                .configure(ops::configure_unsupported)
                .default_service(web::to(ops::no_such_endpoint)),
        );
    }
    cfg.default_service(web::to(ops::no_such_endpoint));
}

/// A request id: the client's `X-Request-Id` when it is short and plain, else the trace id of a
/// W3C `traceparent`, else a new one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware: one log line per request (method, route, status, latency, request id), the
/// `X-Request-Id` answer header, and for SCIM requests a row of the request log (docs/audit.md).
/// The handler runs within the request id, so the sync rows it queues name it.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let traceparent = audit_log::traceparent(req.headers());
    let request_id = audit_log::request_id(req.headers(), traceparent.as_deref());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let logging = req
        .app_data::<web::Data<AppState>>()
        .filter(|state| audit_log::is_scim(req.path(), &state.base_path))
        .map(|state| (state.requests.clone(), state.store.clock().now_utc()));
    let (req, request_body) = match &logging {
        Some((log, _)) if log.bodies().keeps_any() => match audit_log::read_body(req).await {
            Ok((req, body)) => (req, Some(body)),
            Err(refused) => return Ok(refused),
        },
        _ => (req, None),
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |p| p.to_string());
    let mut response = crate::audit::within_request(request_id.clone(), next.call(req))
        .await?
        .map_into_boxed_body();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_owned());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), v);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    metrics::record_request(method.as_str(), &route, status, latency_ms / 1000.0);
    tracing::info!(%method, %route, status, latency_ms = format!("{latency_ms:.2}"), request_id, traceparent, "request");
    let Some((log, at)) = logging else {
        return Ok(response);
    };
    let (mut response, response_body) = audit_log::response_body(response, log.bodies()).await?;
    let record = audit_log::record(audit_log::Finished {
        at,
        request_id,
        traceparent,
        method: method.to_string(),
        path,
        route,
        latency_ms,
        response: &mut response,
        request_body: request_body.filter(|_| log.bodies().keeps(status)),
        response_body,
    });
    log.record(record).await;
    Ok(response)
}

/// Middleware: any error response that is not yet a SCIM Error (actix's own 413 for an oversized
/// body, 405, 404 …) is rewritten as one, keeping its status.
pub async fn normalize_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?.map_into_boxed_body();
    let status = response.status();
    // The console's own pages (HTML) answer for themselves.
    let answered = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(error::SCIM_JSON.as_bytes()) || v.as_bytes().starts_with(b"text/html")
    });
    if !(status.is_client_error() || status.is_server_error()) || answered {
        return Ok(response);
    }
    let detail = match status.as_u16() {
        413 => match response.request().app_data::<web::Data<AppState>>() {
            Some(state) => format!(
                "the request body is larger than maxPayloadSize, {} bytes (server.max_body_bytes)",
                state.max_body_bytes
            ),
            None => "the request body is larger than the server accepts (server.max_body_bytes)".to_owned(),
        },
        404 => "no such endpoint".to_owned(),
        405 => "this method is not allowed on this endpoint".to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let scim = ScimError::new(status.as_u16(), None, detail);
    let (req, old) = response.into_parts();
    let mut new = error::scim_error_response(&scim);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, new))
}

/// A JSON response with the SCIM media type.
pub fn scim_json(status: actix_web::http::StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(error::SCIM_JSON)
        .body(body.to_string())
}
