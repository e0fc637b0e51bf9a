//! Operational endpoints: health, and clear answers for SCIM features this server does not offer.
use super::{scim_json, ApiError, AppState};
use crate::scim::ScimError;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// How long `/healthz` waits for the database: a load balancer's check gives up after a few
/// seconds, and should hear 503 rather than nothing.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /healthz` (no auth): 200 when the database answers, 503 otherwise (so that a load balancer
/// drops a replica that cannot reach it).
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let error = match tokio::time::timeout(HEALTH_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => return HttpResponse::Ok().json(json!({"status": "ok"})),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {HEALTH_TIMEOUT:?}"),
    };
    tracing::error!(error = %error, "health check failed: the database does not answer");
    HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"}))
}

/// `/Me` is not offered: 501, as RFC 7644 §3.11 asks.
pub fn configure_unsupported(cfg: &mut web::ServiceConfig) {
    cfg.route("/Me", web::to(not_implemented));
}

async fn not_implemented() -> Result<HttpResponse, ApiError> {
    Err(ScimError::new(501, None, "this server does not implement this endpoint").into())
}

pub async fn no_such_endpoint() -> HttpResponse {
    scim_json(
        StatusCode::NOT_FOUND,
        &ScimError::not_found("no such endpoint").to_json(),
    )
}
