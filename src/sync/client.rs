//! The one HTTP client for vendors and the sorting of their answers into `ConnectorError`.
//! Bodies kept in errors are cut short; request headers (where credentials live) are never kept.
use super::ConnectorError;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much of a vendor's error body is kept for the operator.
const BODY_LIMIT: usize = 2048;

/// A client with connect and overall timeouts (a hung vendor is a transient failure, not a stall).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("scim-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A vendor's answer, read whole.
#[derive(Debug, Clone)]
pub struct VendorResponse {
    pub status: u16,
    pub body: String,
    /// From `Retry-After` (seconds or HTTP-date) or `X-RateLimit-Reset` (epoch seconds).
    pub retry_after: Option<Duration>,
    /// DocuSign's `X-RateLimit-Remaining` (this hour) and `X-BurstLimit-Remaining` (this 30 s span).
    pub hourly_remaining: Option<u64>,
    pub burst_remaining: Option<u64>,
}

impl VendorResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One target's way to its vendor: the shared HTTP client, the target's optional request-rate
/// limit, and the per-call metrics (`scim_bridge_vendor_requests_total`, `…_duration_seconds`).
#[derive(Clone)]
pub struct VendorClient {
    target: String,
    http: reqwest::Client,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl VendorClient {
    /// `rate_limit` is requests per second (fractions allowed: 0.5 is one call every two seconds).
    pub fn new(target: &str, http: reqwest::Client, rate_limit: Option<f64>) -> Self {
        let limiter = rate_limit.and_then(quota).map(|q| Arc::new(RateLimiter::direct(q)));
        Self {
            target: target.to_owned(),
            http,
            limiter,
        }
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends a request once the rate limit allows; a transport failure (refused, reset, timeout) is
    /// transient.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<VendorResponse, ConnectorError> {
        if let Some(limiter) = &self.limiter {
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
        let response = request.send().await.map_err(|e| transport_error(&self.target, &e))?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let retry_after = retry_after(headers);
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        let (hourly_remaining, burst_remaining) = (number("x-ratelimit-remaining"), number("x-burstlimit-remaining"));
        let body = response.text().await.map_err(|e| transport_error(&self.target, &e))?;
        Ok(VendorResponse {
            status,
            body,
            retry_after,
            hourly_remaining,
            burst_remaining,
        })
    }
}

/// A steady `per_second` with no bursts above one call; `None` for a limit that is not positive.
fn quota(per_second: f64) -> Option<Quota> {
    if !(per_second.is_finite() && per_second > 0.0) {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / per_second).max(Duration::from_nanos(1));
    Quota::with_period(period).map(|q| q.allow_burst(NonZeroU32::MIN))
}

fn transport_error(target: &str, e: &reqwest::Error) -> ConnectorError {
    let kind = if e.is_timeout() {
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
    ConnectorError::Transient {
        target: target.to_owned(),
        detail: format!("{kind}: {text}"),
        retry_after: None,
    }
}

/// The classification of an answer the connector did not handle itself.
pub fn classify(target: &str, response: &VendorResponse) -> ConnectorError {
    let detail = format!("HTTP {}: {}", response.status, excerpt(&response.body));
    let target = target.to_owned();
    match response.status {
        401 => ConnectorError::Auth { target, detail },
        408 | 425 | 429 | 500..=599 => ConnectorError::Transient {
            target,
            detail,
            retry_after: response.retry_after,
        },
        status => ConnectorError::Permanent {
            target,
            status: Some(status),
            detail,
        },
    }
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

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(value) = header("retry-after") {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        let format = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        if let Ok(at) = time::PrimitiveDateTime::parse(value, &format) {
            let wait = at.assume_utc() - time::OffsetDateTime::now_utc();
            return Some(Duration::try_from(wait).unwrap_or(Duration::ZERO));
        }
    }
    let reset = header("x-ratelimit-reset")?.parse::<i64>().ok()?;
    let wait = reset - time::OffsetDateTime::now_utc().unix_timestamp();
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
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")])),
            Some(Duration::from_secs(120))
        );
        let past = retry_after(&headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]));
        assert_eq!(past, Some(Duration::ZERO));
        let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 30;
        let wait = retry_after(&headers(&[("x-ratelimit-reset", &reset.to_string())])).unwrap();
        assert!((29..=30).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(retry_after(&headers(&[])), None);
    }

    #[test]
    fn statuses_sort_into_transient_auth_and_permanent() {
        let response = |status| VendorResponse {
            status,
            body: "x".into(),
            retry_after: None,
            hourly_remaining: None,
            burst_remaining: None,
        };
        assert!(matches!(
            classify("t", &response(429)),
            ConnectorError::Transient { .. }
        ));
        assert!(matches!(
            classify("t", &response(503)),
            ConnectorError::Transient { .. }
        ));
        assert!(matches!(classify("t", &response(401)), ConnectorError::Auth { .. }));
        assert!(matches!(
            classify("t", &response(422)),
            ConnectorError::Permanent { status: Some(422), .. }
        ));
        assert_eq!(excerpt("a\n  b"), "a b");
        assert_eq!(excerpt(""), "(empty body)");
    }
}
