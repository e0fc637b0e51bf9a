//! The signing keys of an issuer that publishes them as a JWKS (`auth.jwt.jwks_url`): Entra, Okta's
//! authorization servers. Kept in memory by key id; fetched at start, every hour, and when a token
//! names a key id not held (at most once a minute). A failed fetch keeps the last good keys.
use crate::clock::Clock;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The least time between two fetches a token's unknown key id may cause.
pub const UNKNOWN_KID_PAUSE: Duration = Duration::from_secs(60);
/// How often the keys are fetched anyway, so that a key the issuer withdrew stops working.
pub const REFRESH_EVERY: Duration = Duration::from_secs(3600);
/// The largest JWKS document read.
const MAX_BYTES: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// One usable signing key and the only algorithm it verifies.
#[derive(Clone)]
pub struct SigningKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot fetch the JWKS: {0}")]
    Fetch(String),
    #[error("the JWKS answered HTTP {0}")]
    Status(u16),
    #[error("the JWKS is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("the JWKS is not a JSON key set: {0}")]
    Unreadable(String),
    #[error("the JWKS holds no signing key the bridge can use (RSA, EC P-256/P-384, Ed25519 with a kid)")]
    NoUsableKey,
}

pub struct Jwks {
    url: String,
    client: reqwest::Client,
    clock: Arc<Clock>,
    keys: Mutex<HashMap<String, SigningKey>>,
    last_attempt: Mutex<Option<SystemTime>>,
}

impl Jwks {
    pub fn new(url: &str, clock: Arc<Clock>) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("auth.jwt.jwks_url '{url}': {e}"))?;
        let loopback = parsed
            .host_str()
            .is_some_and(|h| h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
        if parsed.scheme() != "https" && !loopback {
            return Err(format!(
                "auth.jwt.jwks_url '{url}' must be https (keys fetched in the clear could be anyone's)"
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("auth.jwt.jwks_url: {e}"))?;
        Ok(Self {
            url: url.to_owned(),
            client,
            clock,
            keys: Mutex::new(HashMap::new()),
            last_attempt: Mutex::new(None),
        })
    }

    /// The key `kid` names: held, or fetched when the last fetch is at least `UNKNOWN_KID_PAUSE`
    /// old (a token naming made-up key ids cannot make the bridge hammer the issuer).
    pub async fn key(&self, kid: &str) -> Option<SigningKey> {
        if let Some(key) = self.held(kid) {
            return Some(key);
        }
        if !self.claim_fetch() {
            return None;
        }
        if let Err(e) = self.fetch_and_keep().await {
            tracing::warn!(error = %e, url = %self.url, "a JWT names an unknown key and the JWKS could not be fetched; the last good keys are kept");
        }
        self.held(kid)
    }

    /// Fetches the key set and, when it holds a usable key, replaces the held keys with it; the
    /// number of keys held.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        *self.last_attempt.lock().unwrap_or_else(|p| p.into_inner()) = Some(self.clock.now());
        self.fetch_and_keep().await
    }

    async fn fetch_and_keep(&self) -> Result<usize, JwksError> {
        let keys = usable_keys(&self.fetch().await?)?;
        let count = keys.len();
        *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = keys;
        tracing::info!(keys = count, url = %self.url, "JWKS fetched");
        Ok(count)
    }

    /// Fetches the keys every `REFRESH_EVERY` until the process ends.
    pub async fn refresh_periodically(self: Arc<Self>) {
        loop {
            tokio::time::sleep(REFRESH_EVERY).await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, url = %self.url, "the JWKS could not be fetched; the last good keys are kept");
            }
        }
    }

    fn held(&self, kid: &str) -> Option<SigningKey> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(kid).cloned()
    }

    /// Whether an unknown key id may fetch now; if so, the fetch is counted from now (checked and
    /// set at once, so a burst of such tokens makes one fetch).
    fn claim_fetch(&self) -> bool {
        let mut last = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.clock.now();
        let due = last.is_none_or(|at| now.duration_since(at).unwrap_or_default() >= UNKNOWN_KID_PAUSE);
        if due {
            *last = Some(now);
        }
        due
    }

    async fn fetch(&self) -> Result<Vec<u8>, JwksError> {
        let mut response = self
            .client
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| JwksError::Fetch(e.to_string()))?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| JwksError::Fetch(e.to_string()))? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The signing keys of a JWKS document by key id. A key the bridge cannot use (an encryption key,
/// a symmetric key, an unknown type, no `kid`) is skipped, not an error; a set with none left is.
pub fn usable_keys(document: &[u8]) -> Result<HashMap<String, SigningKey>, JwksError> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(document).map_err(|e| JwksError::Unreadable(e.to_string()))?;
    let keys: HashMap<String, SigningKey> = set
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, signing_key(&jwk)?)))
        .collect();
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(keys)
}

/// The key and its one algorithm: the JWK's `alg` when it names one of the key's family, else the
/// family's usual one (RS256, ES256/ES384, EdDSA). Symmetric keys are never taken from a URL.
fn signing_key(jwk: &Jwk) -> Option<SigningKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let named = jwk.common.key_algorithm.and_then(algorithm_of);
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match named {
            Some(
                a @ (Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512),
            ) => a,
            None => Algorithm::RS256,
            Some(_) => return None,
        },
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        AlgorithmParameters::OctetKey(_) => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(SigningKey { key, algorithm })
}

fn algorithm_of(named: KeyAlgorithm) -> Option<Algorithm> {
    Some(match named {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signing_keys_with_an_id_are_taken_each_with_its_one_algorithm() {
        let rsa: serde_json::Value = serde_json::from_str(include_str!("../../tests/fixtures/jwk-rsa.json")).unwrap();
        let ec: serde_json::Value = serde_json::from_str(include_str!("../../tests/fixtures/jwk-ec.json")).unwrap();
        let mut no_kid = rsa.clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut encryption = rsa.clone();
        encryption["kid"] = "enc".into();
        encryption["use"] = "enc".into();
        let symmetric =
            serde_json::json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
        let unknown = serde_json::json!({"kty": "XYZ", "kid": "odd"});
        let document = serde_json::json!({"keys": [rsa, ec, no_kid, encryption, symmetric, unknown]});
        let keys = usable_keys(document.to_string().as_bytes()).unwrap();
        let mut ids: Vec<_> = keys.keys().cloned().collect();
        ids.sort();
        assert_eq!(ids, ["ec-two", "rsa-one"]);
        assert_eq!(keys["rsa-one"].algorithm, Algorithm::RS256);
        assert_eq!(keys["ec-two"].algorithm, Algorithm::ES256);
        assert!(matches!(
            usable_keys(br#"{"keys": [{"kty": "oct", "kid": "x", "k": "AA"}]}"#),
            Err(JwksError::NoUsableKey)
        ));
        assert!(matches!(usable_keys(b"<html>"), Err(JwksError::Unreadable(_))));
    }

    #[test]
    fn a_jwks_url_must_be_https_unless_it_is_on_this_host() {
        let clock = Arc::new(Clock::default());
        assert!(Jwks::new("https://login.microsoftonline.com/t/discovery/keys", clock.clone()).is_ok());
        assert!(Jwks::new("http://127.0.0.1:9/keys", clock.clone()).is_ok());
        let refused = Jwks::new("http://idp.example.com/keys", clock).err().unwrap();
        assert!(refused.contains("must be https"), "{refused}");
    }
}
