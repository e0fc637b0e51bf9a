//! Operational endpoints: health, and clear answers for SCIM features this server does not offer.
use super::auth::{Authenticator, Principal};
use super::{scim_json, ApiError, AppState};
use crate::scim::ScimError;
use crate::store::TokenScope;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

/// How long `/healthz` waits for the database: a load balancer's check gives up after a few
/// seconds, and should hear 503 rather than nothing.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /healthz` (no auth): 200 when the database answers, 503 otherwise (so that a load balancer
/// drops a replica that cannot reach it).
///
/// With an admin token it adds details: the served TLS certificate (`tls`), when `server.tls` is on.
pub async fn healthz(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (mut response, mut body) = match tokio::time::timeout(HEALTH_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (HttpResponse::Ok(), json!({"status": "ok"})),
        Ok(Err(e)) => unavailable(&e.to_string()),
        Err(_) => unavailable(&format!("no answer within {HEALTH_TIMEOUT:?}")),
    };
    if is_admin(&req).await {
        if let Some(tls) = &state.tls {
            body["tls"] = json!(tls.status());
        }
    }
    response.json(body)
}

fn unavailable(error: &str) -> (actix_web::HttpResponseBuilder, serde_json::Value) {
    tracing::error!(error = %error, "health check failed: the database does not answer");
    (HttpResponse::ServiceUnavailable(), json!({"status": "unavailable"}))
}

/// Whether the request carries an admin token (a wrong or missing one only leaves details out:
/// a load balancer's check never sees a 401).
async fn is_admin(req: &HttpRequest) -> bool {
    let Some(auth) = req.app_data::<web::Data<Authenticator>>() else {
        return false;
    };
    let Some(header) = req.headers().get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    matches!(
        auth.authenticate(Some(header)).await,
        Ok(Principal::Token {
            scope: TokenScope::Admin,
            ..
        })
    )
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
