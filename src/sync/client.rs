//! The one HTTP client for vendors and the sorting of their answers into `ConnectorError`.
//! Bodies kept in errors are cut short; request headers (where credentials live) are never kept.
//!
//! Each call is tried up to three times when the vendor said "not now" (429, 503, with a
//! `Retry-After` of at most `SHORT_WAIT`) or, for a call that is safe to repeat (not POST), when the
//! connection failed; a longer `Retry-After` pauses the whole target until then (`sync::health`),
//! and a call to a paused target is not sent at all (`ConnectorError::Deferred`).
use super::clock::Clock;
use super::health::Health;
use super::ConnectorError;
use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much of a vendor's error body is kept for the operator.
const BODY_LIMIT: usize = 2048;
/// The longest `Retry-After` waited out inside a call; a longer one pauses the target.
pub const SHORT_WAIT: Duration = Duration::from_secs(3);
/// Further tries of one call, and the backoff between them when the vendor gave no hint.
const CALL_RETRIES: usize = 2;
const CALL_BACKOFF: Duration = Duration::from_millis(100);

/// How long `check` (and the console's *Check*) waits for a target's probe.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// A client with connect and overall timeouts (a hung vendor is a transient failure, not a stall).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    http_client_with(timeout, Duration::from_secs(5).min(timeout))
}

/// A client with these timeouts (`[[target]] timeout_secs`, `connect_timeout_secs`).
pub fn http_client_with(timeout: Duration, connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    builder(timeout, connect_timeout).build()
}

/// A client that does not start: the CA file it was given cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// A client with these timeouts that trusts, besides the platform's roots and Mozilla's, the PEM
/// certificates in `ca_file` (`[[target]] ca_file`, `sync.ca_file`): a self-hosted vendor behind
/// an internal CA, or a TLS-inspecting proxy.
pub fn http_client_trusting(
    timeout: Duration,
    connect_timeout: Duration,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = builder(timeout, connect_timeout);
    if let Some(path) = ca_file {
        let ca_error = |reason: String| ClientError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
        if certificates.is_empty() {
            return Err(ca_error("no PEM certificate in it".into()));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder.build()?)
}

fn builder(timeout: Duration, connect_timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout.min(timeout))
        .timeout(timeout)
        .user_agent(concat!("scim-bridge/", env!("CARGO_PKG_VERSION")))
}

/// A vendor's answer, read whole.
#[derive(Debug, Clone)]
pub struct VendorResponse {
    pub status: u16,
    pub body: String,
    /// From `Retry-After` (seconds or HTTP-date) or `X-RateLimit-Reset` (epoch seconds).
    pub retry_after: Option<Duration>,
    /// The answer's headers, for what a vendor says only there (DocuSign's remaining limits).
    pub headers: HeaderMap,
}

impl VendorResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header holding a whole number.
    pub fn header_number(&self, name: &str) -> Option<u64> {
        self.headers.get(name)?.to_str().ok()?.trim().parse().ok()
    }
}

/// One target's way to its vendor: its HTTP client, its optional request-rate limit, its health
/// (pauses), and the per-call metrics (`scim_bridge_vendor_requests_total`, `…_duration_seconds`).
#[derive(Clone)]
pub struct VendorClient {
    target: String,
    http: reqwest::Client,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    /// The rate limit held with the other replicas (PostgreSQL): the interval between calls and
    /// where it is kept. Used instead of `limiter` when set.
    shared_rate: Option<(Duration, crate::sync::shared::SharedLimits)>,
    health: Arc<Health>,
    clock: Arc<Clock>,
}

/// Why one try of a call is tried again, or not.
enum Try {
    /// "Not now" from the vendor: tried again after its hint, or handed back as the answer.
    NotNow(VendorResponse),
    /// The connection failed on a call safe to repeat.
    Repeatable(ConnectorError),
    /// Not tried again.
    Final(ConnectorError),
}

impl VendorClient {
    /// `rate_limit` is requests per second (fractions allowed: 0.5 is one call every two seconds).
    pub fn new(target: &str, http: reqwest::Client, rate_limit: Option<f64>) -> Self {
        let limiter = rate_limit.and_then(quota).map(|q| Arc::new(RateLimiter::direct(q)));
        Self {
            target: target.to_owned(),
            http,
            limiter,
            shared_rate: None,
            health: Arc::default(),
            clock: Arc::default(),
        }
    }

    /// The same client reporting pauses to `health` (the worker's view of the target), in the
    /// worker's time.
    pub fn with_health(mut self, health: Arc<Health>, clock: Arc<Clock>) -> Self {
        self.health = health;
        self.clock = clock;
        self
    }

    /// The same client keeping its rate limit with the other replicas through `shared`.
    pub fn with_shared_rate(
        mut self,
        rate_limit: Option<f64>,
        shared: Option<crate::sync::shared::SharedLimits>,
    ) -> Self {
        let interval = rate_limit.and_then(quota).map(|q| q.replenish_interval());
        self.shared_rate = interval.zip(shared);
        self
    }

    /// A reset the vendor announced (DocuSign's spent hourly limit): no calls until then.
    pub fn pause(&self, wait: Duration, reason: &str) {
        let until = self.clock.now() + wait;
        if self.health.pause(until, reason) {
            tracing::warn!(target = %self.target, wait_secs = wait.as_secs_f64(), reason, "target paused until the vendor's reset");
        }
    }

    fn deferred_if_paused(&self) -> Result<(), ConnectorError> {
        match self.health.pause_left(self.clock.now()) {
            Some((wait, reason)) => Err(ConnectorError::Deferred {
                wait,
                reason: format!("paused until the vendor's reset ({reason})"),
            }),
            None => Ok(()),
        }
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// Now, in the worker's time.
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now_utc()
    }

    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends a request once the rate limit allows, trying it again as the module says; a transport
    /// failure (refused, reset, timeout) is transient. Not sent at all while the target is paused.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<VendorResponse, ConnectorError> {
        let repeatable = request
            .try_clone()
            .and_then(|r| r.build().ok())
            .is_some_and(|r| r.method() != reqwest::Method::POST && r.method() != reqwest::Method::PATCH);
        let attempt = || async {
            self.deferred_if_paused().map_err(Try::Final)?;
            let Some(this_try) = request.try_clone() else {
                return Err(Try::Final(ConnectorError::transient(
                    "the request body cannot be sent twice",
                )));
            };
            match self.send_once(this_try).await {
                Ok(response) if matches!(response.status, 429 | 503) => Err(Try::NotNow(response)),
                Ok(response) => Ok(response),
                // A timeout is not tried again in the call: a vendor that hangs would hold the
                // permit three times as long. The row retries it later.
                Err(e) if repeatable && !is_timeout(&e) => Err(Try::Repeatable(e)),
                Err(e) => Err(Try::Final(e)),
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(CALL_BACKOFF)
            .with_max_times(CALL_RETRIES)
            .with_jitter();
        let outcome = attempt
            .retry(backoff)
            .when(|e| !matches!(e, Try::Final(_)))
            .adjust(|e, next| match (e, next) {
                (Try::NotNow(r), Some(_)) => match r.retry_after {
                    Some(hint) if hint > SHORT_WAIT => None,
                    Some(hint) => Some(hint),
                    None => next,
                },
                _ => next,
            })
            .await;
        match outcome {
            Ok(response) => Ok(response),
            Err(Try::NotNow(response)) => {
                if let Some(hint) = response.retry_after.filter(|h| *h > SHORT_WAIT) {
                    self.pause(
                        hint,
                        &format!("HTTP {} with Retry-After {}s", response.status, hint.as_secs()),
                    );
                }
                Ok(response)
            }
            Err(Try::Repeatable(e) | Try::Final(e)) => Err(e),
        }
    }

    /// One try: the rate limit, the call, its metrics.
    async fn send_once(&self, request: reqwest::RequestBuilder) -> Result<VendorResponse, ConnectorError> {
        if let Some((interval, shared)) = &self.shared_rate {
            shared.wait_turn(*interval).await;
        } else if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let started = Instant::now();
        let result = self.send_now(request).await;
        let outcome = match &result {
            Ok(response) => response.status.to_string(),
            Err(_) => "transport_error".to_owned(),
        };
        let labels = [("target", self.target.clone()), ("outcome", outcome)];
        metrics::counter!("scim_bridge_vendor_requests_total", &labels).increment(1);
        metrics::histogram!("scim_bridge_vendor_request_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn send_now(&self, request: reqwest::RequestBuilder) -> Result<VendorResponse, ConnectorError> {
        let response = request.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let retry_after = retry_after(&headers, self.clock.now_utc());
        let body = read_bounded(response, status).await?;
        Ok(VendorResponse {
            status,
            body,
            retry_after,
            headers,
        })
    }
}

/// An answer is read up to a bound, the rest never buffered (a vendor or a proxy in front of it
/// may answer megabytes): a success up to `MAX_ANSWER` (a larger one fails, naming the bound), an
/// error's first `ERROR_BODY_KEPT` bytes (what the operator is shown is shorter still).
pub const MAX_ANSWER: usize = 32 << 20;
const ERROR_BODY_KEPT: usize = 16 << 10;

async fn read_bounded(mut response: reqwest::Response, status: u16) -> Result<String, ConnectorError> {
    let success = (200..300).contains(&status);
    let limit = if success { MAX_ANSWER } else { ERROR_BODY_KEPT };
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        let room = limit - body.len();
        if chunk.len() > room {
            if success {
                return Err(ConnectorError::permanent(
                    Some(status),
                    format!("the vendor's answer is larger than {} MiB; not read", MAX_ANSWER >> 20),
                ));
            }
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A steady `per_second` with no bursts above one call; `None` for a limit that is not positive.
fn quota(per_second: f64) -> Option<Quota> {
    if !(per_second.is_finite() && per_second > 0.0) {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / per_second).max(Duration::from_nanos(1));
    Quota::with_period(period).map(|q| q.allow_burst(NonZeroU32::MIN))
}

fn is_timeout(e: &ConnectorError) -> bool {
    matches!(e, ConnectorError::Transient { detail, .. } if detail.starts_with("timed out"))
}

fn transport_error(e: &reqwest::Error) -> ConnectorError {
    let kind = if untrusted_certificate(e) {
        "the vendor's TLS certificate is not trusted (an internal CA or a TLS-inspecting proxy? name its PEM in `ca_file`)"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    // reqwest's text names the URL, never headers. Only the host is kept: paths and queries may carry
    // a salt (eSign's gettoken) or an e-mail.
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        let host = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        text = text.replace(url.as_str(), &host);
    }
    ConnectorError::transient(format!("{kind}: {text}"))
}

/// Whether the TLS handshake failed on the vendor's certificate (rustls says so in the cause).
fn untrusted_certificate(e: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = cause {
        let text = error.to_string();
        if text.contains("certificate") || text.contains("UnknownIssuer") {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The start of a body, on one line.
pub fn excerpt(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(BODY_LIMIT) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None if flat.is_empty() => "(empty body)".to_owned(),
        None => flat,
    }
}

/// The wait an answer asks for, from `now`.
fn retry_after(headers: &HeaderMap, now: time::OffsetDateTime) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(value) = header("retry-after") {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        let format = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        if let Ok(at) = time::PrimitiveDateTime::parse(value, &format) {
            let wait = at.assume_utc() - now;
            return Some(Duration::try_from(wait).unwrap_or(Duration::ZERO));
        }
    }
    let reset = header("x-ratelimit-reset")?.parse::<i64>().ok()?;
    let wait = reset - now.unix_timestamp();
    Some(Duration::from_secs(wait.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_rate_limit_resets() {
        let now = time::macros::datetime!(1994-11-06 08:49:00 UTC);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")]), now),
            Some(Duration::from_secs(120))
        );
        let date = retry_after(&headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]), now);
        assert_eq!(date, Some(Duration::from_secs(37)));
        let past = retry_after(&headers(&[("retry-after", "Sun, 06 Nov 1994 08:48:37 GMT")]), now);
        assert_eq!(past, Some(Duration::ZERO));
        let reset = now.unix_timestamp() + 30;
        let wait = retry_after(&headers(&[("x-ratelimit-reset", &reset.to_string())]), now).unwrap();
        assert_eq!(wait, Duration::from_secs(30));
        assert_eq!(retry_after(&headers(&[]), now), None);
    }

    /// A vendor answering with `status` and a body of `size` bytes.
    async fn answering(status: u16, size: usize) -> wiremock::MockServer {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(wiremock::ResponseTemplate::new(status).set_body_string("x".repeat(size)))
            .mount(&server)
            .await;
        server
    }

    async fn get(url: &str) -> Result<VendorResponse, ConnectorError> {
        let client = VendorClient::new("t", http_client(Duration::from_secs(30)).unwrap(), None);
        client.send(client.request(reqwest::Method::GET, url)).await
    }

    #[tokio::test]
    async fn an_error_body_is_kept_up_to_its_bound_and_a_success_over_the_cap_is_refused() {
        let huge_error = answering(500, 20 << 20).await;
        let answer = get(&huge_error.uri()).await.unwrap();
        assert_eq!((answer.status, answer.body.len()), (500, ERROR_BODY_KEPT));
        let small_error = answering(400, 100).await;
        assert_eq!(get(&small_error.uri()).await.unwrap().body.len(), 100);
        let over_cap = answering(200, MAX_ANSWER + 1).await;
        let refused = get(&over_cap.uri()).await.unwrap_err();
        assert!(refused.to_string().contains("larger than 32 MiB"), "{refused}");
        let at_cap = answering(200, MAX_ANSWER).await;
        assert_eq!(get(&at_cap.uri()).await.unwrap().body.len(), MAX_ANSWER);
    }

    /// A TLS vendor whose certificate an unknown CA signed: (its https URL, the CA's PEM).
    async fn vendor_behind_an_internal_ca() -> (String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio_rustls::rustls;
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![leaf.der().clone()], key)
                .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let mut request = [0u8; 4096];
                    let _ = tls.read(&mut request).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (format!("https://localhost:{port}/"), ca.pem())
    }

    #[tokio::test]
    async fn a_certificate_from_an_unknown_ca_is_named_as_such_and_its_ca_file_makes_it_trusted() {
        let (url, ca_pem) = vendor_behind_an_internal_ca().await;
        let untrusted = get(&url).await.unwrap_err().to_string();
        assert!(untrusted.contains("TLS certificate is not trusted"), "{untrusted}");
        assert!(untrusted.contains("ca_file"), "{untrusted}");

        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("internal-ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let http = http_client_trusting(Duration::from_secs(5), Duration::from_secs(5), Some(&ca_file)).unwrap();
        let client = VendorClient::new("t", http, None);
        let answer = client.send(client.request(reqwest::Method::GET, &url)).await.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "{}"));

        std::fs::write(&ca_file, "not a certificate").unwrap();
        let refused = http_client_trusting(Duration::from_secs(5), Duration::from_secs(5), Some(&ca_file)).unwrap_err();
        assert!(refused.to_string().starts_with("ca_file "), "{refused}");
    }

    #[test]
    fn an_excerpt_is_one_line() {
        assert_eq!(excerpt("a\n  b"), "a b");
        assert_eq!(excerpt(""), "(empty body)");
    }
}
