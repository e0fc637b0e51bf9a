//! Authentication of every SCIM request: a bearer token made by `scim-bridge token create` (only its
//! SHA-256 is stored; compared in constant time) or, when `[auth.jwt]` is configured, a JWT.
use super::error::ApiError;
use crate::scim::ScimError;
use crate::store::{Store, TokenRecord, TokenScope};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Who made the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Token { name: String, scope: TokenScope },
    Jwt { subject: String },
}

/// How a JWT is checked: its key (one configured key, or the issuer's JWKS by the token's `kid`),
/// the one algorithm that key allows, issuer, audience, leeway.
pub struct JwtValidator {
    keys: JwtKeys,
    validation: Validation,
}

enum JwtKeys {
    Fixed(DecodingKey),
    Published(std::sync::Arc<super::jwks::Jwks>),
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// `algorithm` is fixed by the kind of key, so a token cannot choose another (no `none`, no
    /// HS256-signed-with-the-public-key confusion).
    pub fn new(
        key: DecodingKey,
        algorithm: Algorithm,
        issuer: Option<&str>,
        audience: Option<&str>,
        leeway: u64,
    ) -> Self {
        Self {
            keys: JwtKeys::Fixed(key),
            validation: validation(algorithm, issuer, audience, leeway),
        }
    }

    /// Keys from the issuer's JWKS: each verifies only the algorithm it is published for.
    pub fn with_jwks(
        jwks: std::sync::Arc<super::jwks::Jwks>,
        issuer: Option<&str>,
        audience: Option<&str>,
        leeway: u64,
    ) -> Self {
        Self {
            keys: JwtKeys::Published(jwks),
            validation: validation(Algorithm::RS256, issuer, audience, leeway),
        }
    }

    /// The JWKS the keys come from, when they do.
    pub fn jwks(&self) -> Option<std::sync::Arc<super::jwks::Jwks>> {
        match &self.keys {
            JwtKeys::Published(jwks) => Some(jwks.clone()),
            JwtKeys::Fixed(_) => None,
        }
    }

    async fn check(&self, token: &str) -> Result<Principal, String> {
        #[derive(serde::Deserialize)]
        struct Claims {
            sub: Option<String>,
        }
        let data = match &self.keys {
            JwtKeys::Fixed(key) => jsonwebtoken::decode::<Claims>(token, key, &self.validation),
            JwtKeys::Published(jwks) => {
                let header = jsonwebtoken::decode_header(token).map_err(|e| format!("invalid JWT: {e}"))?;
                let kid = header.kid.ok_or("invalid JWT: it names no key (kid)")?;
                let signing = jwks
                    .key(&kid)
                    .await
                    .ok_or_else(|| format!("invalid JWT: its key '{kid}' is not in the issuer's JWKS"))?;
                let mut validation = self.validation.clone();
                validation.algorithms = vec![signing.algorithm];
                jsonwebtoken::decode::<Claims>(token, &signing.key, &validation)
            }
        }
        .map_err(|e| format!("invalid JWT: {e}"))?;
        Ok(Principal::Jwt {
            subject: data.claims.sub.unwrap_or_default(),
        })
    }
}

fn validation(algorithm: Algorithm, issuer: Option<&str>, audience: Option<&str>, leeway: u64) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = leeway;
    validation.set_required_spec_claims(&["exp"]);
    if let Some(iss) = issuer {
        validation.set_issuer(&[iss]);
        validation.required_spec_claims.insert("iss".into());
    }
    match audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            validation.required_spec_claims.insert("aud".into());
        }
        None => validation.validate_aud = false,
    }
    validation
}

/// How long a verified token is trusted without asking the database again. A revocation made by
/// this process applies at once; one made by `scim-bridge token revoke` in another process applies
/// within this time.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// A token found live in the database, and when.
struct Verified {
    name: String,
    scope: TokenScope,
    expires_at: Option<time::OffsetDateTime>,
    at: Instant,
    generation: u64,
}

/// Everything the auth middleware needs.
pub struct Authenticator {
    store: Store,
    jwt: Option<JwtValidator>,
    /// Verified tokens by SHA-256 (only live ones: unknown tokens are never cached).
    verified: Mutex<HashMap<String, Verified>>,
    /// When each secret's `last_used` was last written (by SHA-256), so it is written at most once
    /// a minute.
    touched: Mutex<HashMap<String, Instant>>,
}

impl Authenticator {
    pub fn new(store: Store, jwt: Option<JwtValidator>) -> Self {
        Self {
            store,
            jwt,
            verified: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, hash: &str) -> Option<(String, TokenScope)> {
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        let entry = verified.get(hash)?;
        let fresh = entry.at.elapsed() < TOKEN_CACHE_TTL
            && entry.generation == self.store.tokens_generation()
            && entry.expires_at.is_none_or(|e| self.store.clock().now_utc() < e);
        fresh.then(|| (entry.name.clone(), entry.scope))
    }

    fn remember(&self, hash: String, record: &TokenRecord, generation: u64) {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        verified.retain(|_, v| v.at.elapsed() < TOKEN_CACHE_TTL);
        verified.insert(
            hash,
            Verified {
                name: record.name.clone(),
                scope: record.scope,
                expires_at: record.expires_at.map(|e| e.0),
                at: Instant::now(),
                generation,
            },
        );
    }

    pub(crate) async fn authenticate(&self, header: Option<&str>) -> Result<Principal, ApiError> {
        let header = header
            .ok_or_else(|| ApiError::Unauthorized("an 'Authorization: Bearer <token>' header is required".into()))?;
        let token = bearer(header)
            .ok_or_else(|| ApiError::Unauthorized("the Authorization header must use the Bearer scheme".into()))?;
        if let Some(jwt) = self.jwt.as_ref().filter(|_| token.matches('.').count() == 2) {
            return jwt.check(token).await.map_err(ApiError::Unauthorized);
        }
        let hash = token_hash(token);
        if let Some((name, scope)) = self.cached(&hash) {
            self.touch(&hash).await;
            return Ok(Principal::Token { name, scope });
        }
        let generation = self.store.tokens_generation();
        let record = self.store.find_live_token(&hash).await?;
        let Some(record) = record.filter(|r| bool::from(r.secret_sha256.as_bytes().ct_eq(hash.as_bytes()))) else {
            return Err(ApiError::Unauthorized("the bearer token is not valid".into()));
        };
        self.remember(hash.clone(), &record, generation);
        self.touch(&hash).await;
        Ok(Principal::Token {
            name: record.name,
            scope: record.scope,
        })
    }

    async fn touch(&self, hash: &str) {
        let due = {
            let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
            let due = touched
                .get(hash)
                .is_none_or(|at| at.elapsed() > Duration::from_secs(60));
            if due {
                touched.insert(hash.to_owned(), Instant::now());
            }
            due
        };
        if due {
            if let Err(e) = self.store.touch_token(hash).await {
                tracing::warn!(error = %e, "could not record token use");
            }
        }
    }
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The stored form of a token: lower-case hex SHA-256.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new random token: `scb_` and 32 random bytes in hex.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("scb_{}", hex::encode(bytes))
}

/// Middleware on the whole SCIM scope: no route under it answers without a valid credential, and
/// a console or metrics token is refused.
pub async fn require_auth(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    guarded(req, next, scim_access).await
}

/// Middleware on `GET /metrics`: any valid credential, a `metrics` token being the one meant for it.
pub async fn require_metrics_auth(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    guarded(req, next, |_| Ok(())).await
}

fn scim_access(principal: &Principal) -> Result<(), &'static str> {
    match principal {
        Principal::Token {
            scope: TokenScope::Admin,
            ..
        } => Err("this is an admin token: it opens the operator console, not the SCIM API (give the IdP a token made with `scim-bridge token create NAME`)"),
        Principal::Token {
            scope: TokenScope::Metrics,
            ..
        } => Err("this is a metrics token: it opens GET /metrics and nothing else (give the IdP a token made with `scim-bridge token create NAME`)"),
        Principal::Token { .. } | Principal::Jwt { .. } => Ok(()),
    }
}

async fn guarded(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    allowed: fn(&Principal) -> Result<(), &'static str>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(auth) = req.app_data::<web::Data<Authenticator>>().cloned() else {
        let err = ApiError::Unauthorized("authentication is not configured".into());
        return Ok(req.into_response(err.error_response()).map_into_right_body());
    };
    let header = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    let principal = auth.authenticate(header).await.and_then(|principal| {
        allowed(&principal).map_err(|why| ApiError::Scim(ScimError::new(403, None, why)))?;
        Ok(principal)
    });
    match principal {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Err(err) => Ok(req.into_response(err.error_response()).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("non-token"), None);
    }

    #[test]
    fn generated_tokens_are_unique_and_hash_to_hex() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 68);
        assert_eq!(token_hash(&a).len(), 64);
    }
}
