//! How the connector talks to DocuSign: the JWT grant (a token cached until five minutes before
//! `expires_in`, renewed once on 401), the account's base URI from `/oauth/userinfo`, and the rate
//! limits read from every answer (docs/vendors/docusign.md, "Limits").
use super::wire::{ApiError, OauthError, TokenAnswer, UserInfo};
use super::Docusign;
use crate::sync::answer::{classify, expect_json, to_json, unreadable};
use crate::sync::client::{excerpt, VendorResponse};
use crate::sync::{ConnectorError, Secret};
use jsonwebtoken::{Algorithm, Header};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::time::Duration;

/// A token is renewed this long before DocuSign says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// The burst window (500 calls per 30 s in production).
const BURST_WAIT: Duration = Duration::from_secs(30);

impl Docusign {
    /// `{base}/v2.1/accounts/{accountId}/users`.
    pub(super) async fn users_url(&self) -> Result<String, ConnectorError> {
        Ok(format!("{}/users", self.account_url().await?))
    }

    /// `{base}/v2.1/accounts/{accountId}`.
    pub(super) async fn account_url(&self) -> Result<String, ConnectorError> {
        let base = self.base.get(|| self.discover_base()).await?;
        Ok(format!(
            "{}/v2.1/accounts/{}",
            base.trim_end_matches('/'),
            self.settings.account_id
        ))
    }

    /// One call answered with a 2xx and a `T` body.
    pub(super) async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<&impl Serialize>,
        what: &str,
    ) -> Result<T, ConnectorError> {
        let response = self.call(method, url, body).await?;
        self.expect_json(response, what)
    }

    /// One call with the cached token (renewed once on 401), within the target's concurrency, and
    /// not at all while a rate limit is spent.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&impl Serialize>,
    ) -> Result<VendorResponse, ConnectorError> {
        let body = body.map(to_json).transpose()?;
        let _permit = self.calls.acquire().await;
        let send = |token: Secret| {
            let mut request = self
                .client
                .request(method.clone(), url)
                .header("Authorization", format!("Bearer {}", token.expose()))
                .header("Accept", "application/json");
            if let Some(json) = &body {
                request = request.header("Content-Type", "application/json").body(json.clone());
            }
            async move {
                let response = self.client.send(request).await?;
                self.note_limits(&response);
                Ok(response)
            }
        };
        self.token
            .renewing(
                || self.fetch_token(),
                send,
                |r| r.status == 401,
                "a new access token was refused as well (401)",
            )
            .await
    }

    /// A spent hourly or burst limit pauses the target until it resets.
    fn note_limits(&self, response: &VendorResponse) {
        if response.header_number("x-ratelimit-remaining") == Some(0) {
            let wait = response.retry_after.unwrap_or_else(|| until_next_hour(self.client.now()));
            self.client
                .pause(wait, "the hourly API limit is spent (X-RateLimit-Remaining: 0)");
        } else if response.header_number("x-burstlimit-remaining") == Some(0) {
            self.client
                .pause(BURST_WAIT, "the burst API limit is spent (X-BurstLimit-Remaining: 0)");
        }
    }

    /// A 2xx body as `T`; a limit error waits for its reset; other errors keep DocuSign's code.
    fn expect_json<T: DeserializeOwned>(&self, response: VendorResponse, what: &str) -> Result<T, ConnectorError> {
        if !response.is_success() {
            if let Some(limited) = self.limited(&response) {
                return Err(limited);
            }
        }
        expect_json(&response, what, |body| {
            let error: ApiError = serde_json::from_str(body).unwrap_or_default();
            match (error.error_code, error.message) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                _ => excerpt(body),
            }
        })
    }

    /// A spent limit (429, or DocuSign's limit codes, on any call, the token request included):
    /// the target pauses until the reset, and the call is worth retrying then.
    fn limited(&self, response: &VendorResponse) -> Option<ConnectorError> {
        let error: ApiError = serde_json::from_str(&response.body).unwrap_or_default();
        let code = error.error_code.unwrap_or_default();
        let wait = match code.as_str() {
            "HOURLY_APIINVOCATION_LIMIT_EXCEEDED" => response.retry_after.unwrap_or_else(|| until_next_hour(self.client.now())),
            "BURST_APIINVOCATION_LIMIT_EXCEEDED" => response.retry_after.unwrap_or(BURST_WAIT),
            _ if response.status == 429 => response.retry_after.unwrap_or(BURST_WAIT),
            _ => return None,
        };
        let reason = if code.is_empty() {
            format!("HTTP {}", response.status)
        } else {
            code
        };
        self.client.pause(wait, &reason);
        let detail = match error.message {
            Some(message) => format!("HTTP {}: {reason}: {message}", response.status),
            None => format!("HTTP {}: {reason}", response.status),
        };
        Some(ConnectorError::Transient {
            detail,
            retry_after: Some(wait),
        })
    }

    /// The JWT grant: a signed assertion exchanged at `{oauth}/oauth/token`.
    async fn fetch_token(&self) -> Result<(Secret, Option<Duration>), ConnectorError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({
            "iss": self.settings.integration_key,
            "sub": self.settings.user_id,
            "aud": self.audience(),
            "iat": now,
            "exp": now + 3600,
            "scope": "signature impersonation",
        });
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| ConnectorError::config(format!("cannot sign the JWT assertion: {e}")))?;
        let body = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        let request = self
            .client
            .request(Method::POST, &format!("{}/oauth/token", self.oauth_base()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body);
        let response = self.client.send(request).await?;
        if !response.is_success() {
            return Err(self.token_refused(&response));
        }
        let answer: TokenAnswer =
            serde_json::from_str(&response.body).map_err(|_| unreadable("token", "(no access_token)"))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600))
            .saturating_sub(TOKEN_MARGIN)
            .max(Duration::from_secs(30));
        Ok((Secret::new(answer.access_token), Some(lifetime)))
    }

    fn token_refused(&self, response: &VendorResponse) -> ConnectorError {
        if let Some(limited) = self.limited(response) {
            return limited;
        }
        let error: OauthError = serde_json::from_str(&response.body).unwrap_or_default();
        match error.error.as_deref() {
            Some("consent_required") => ConnectorError::refused(format!(
                "consent_required: the impersonated user (or an admin) must grant consent once at {}/oauth/auth?response_type=code&scope=signature%20impersonation&client_id={}&redirect_uri=<a redirect URI of the integration key>",
                self.oauth_base(),
                self.settings.integration_key
            )),
            Some("invalid_grant") => ConnectorError::refused(
                "invalid_grant: check integration_key, user_id, the key pair registered on the integration key, oauth_base_url, and the clock",
            ),
            _ if response.status < 500 && response.status != 429 => ConnectorError::refused(format!(
                "token request refused: HTTP {}: {}",
                response.status,
                excerpt(&response.body)
            )),
            _ => classify(response),
        }
    }

    async fn discover_base(&self) -> Result<(String, Option<Duration>), ConnectorError> {
        match &self.settings.base_url {
            Some(base) => Ok((base.clone(), None)),
            None => Ok((self.userinfo_base().await?, None)),
        }
    }

    /// `GET {oauth}/oauth/userinfo`: the configured account's `base_uri` + `/restapi`.
    pub(super) async fn userinfo_base(&self) -> Result<String, ConnectorError> {
        let url = format!("{}/oauth/userinfo", self.oauth_base());
        let info: UserInfo = self.call_json(Method::GET, &url, None::<&()>, "userinfo").await?;
        let account = info.accounts.iter().find(|a| a.account_id == self.settings.account_id);
        match account.and_then(|a| a.base_uri.as_deref()) {
            Some(base) => Ok(format!("{}/restapi", base.trim_end_matches('/'))),
            None => {
                let ids: Vec<&str> = info.accounts.iter().map(|a| a.account_id.as_str()).collect();
                Err(ConnectorError::config(format!(
                    "account_id {} is not an account of the impersonated user (its accounts: {})",
                    self.settings.account_id,
                    ids.join(", ")
                )))
            }
        }
    }

    fn oauth_base(&self) -> &str {
        self.settings.oauth_base_url.trim_end_matches('/')
    }

    /// The JWT `aud`: the OAuth host without its scheme (`account-d.docusign.com`).
    fn audience(&self) -> &str {
        let base = self.oauth_base();
        base.split_once("://").map_or(base, |(_, host)| host)
    }
}

/// The hourly limit resets at the top of the hour.
fn until_next_hour(now: time::OffsetDateTime) -> Duration {
    let now = now.unix_timestamp();
    Duration::from_secs(u64::try_from(3600 - now.rem_euclid(3600)).unwrap_or(3600))
}
