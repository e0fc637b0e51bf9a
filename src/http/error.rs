//! THE one mapping from errors to HTTP responses: every 4xx/5xx leaves as a SCIM Error document.
use crate::scim::ScimError;
use crate::store::StoreError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No or a bad credential; answered with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
}

impl ApiError {
    /// The SCIM error this becomes; internal failures become an opaque 500.
    pub(crate) fn scim(&self) -> ScimError {
        match self {
            Self::Scim(e) | Self::Store(StoreError::Invalid(e)) => e.clone(),
            Self::Unauthorized(detail) => ScimError::new(401, None, detail.clone()),
            Self::Store(StoreError::NotFound) => ScimError::not_found("no resource with this id"),
            Self::Store(StoreError::Conflict {
                constraint,
                value: Some(value),
            }) => ScimError::uniqueness(format!("{constraint} '{value}' is already taken")),
            Self::Store(StoreError::Conflict {
                constraint,
                value: None,
            }) => ScimError::uniqueness(format!("another resource already has this {constraint}")),
            Self::Store(StoreError::VersionMismatch) => ScimError::new(
                412,
                None,
                "the resource has changed: If-Match does not name its current version",
            ),
            Self::Store(StoreError::Unavailable(_)) => ScimError::new(
                503,
                None,
                "the database is unavailable for the moment; retry the request",
            ),
            Self::Store(_) => ScimError::new(500, None, "internal error; the server log has the details"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.scim().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let scim = self.scim();
        if scim.status >= 500 {
            // Logged once, here, with the whole cause chain; the client sees an opaque message.
            tracing::error!(error.cause_chain = ?ErrorChain(self), "request failed");
        }
        let mut response = scim_error_response(&scim);
        match self {
            Self::Unauthorized(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"scim-bridge\""),
                );
            }
            Self::Store(StoreError::Unavailable(_)) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// A SCIM error as a response (also used for errors actix produces itself, see `http::normalize_errors`).
pub fn scim_error_response(error: &ScimError) -> HttpResponse {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status)
        .content_type(SCIM_JSON)
        .body(error.to_json().to_string());
    // For the request log (`http::log_request`), which does not read bodies back.
    response.extensions_mut().insert(error.clone());
    response
}

struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
