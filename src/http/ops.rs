//! Operational endpoints: health, and clear answers for SCIM features this server does not offer.
use super::{scim_json, ApiError, AppState};
use crate::scim::ScimError;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// `GET /healthz` (no auth): 200 when the database answers, 503 otherwise.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"}))
        }
    }
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
