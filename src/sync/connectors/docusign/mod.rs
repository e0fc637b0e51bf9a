//! DocuSign eSignature REST v2.1: the contract is shared/seeds/003_6f824051d459caee.txt (`PUT
//! /v2.1/accounts/{accountId}/users`, many users per call), with shared/vendor-apis.md §4 for the rest.
//!
//! - Auth: the OAuth JWT grant (RS256, `aud` = the OAuth host without scheme). The token is cached and
//!   renewed five minutes before `expires_in` runs out; a 401 renews it once. The account's base URI
//!   comes from `/oauth/userinfo` for the configured `account_id` (unless `base_url` is set), cached.
//! - Users are keyed by e-mail and linked by `userId`. Creates go through `POST …/users` `newUsers`,
//!   whose items carry their own `errorDetails` even on 201. Attribute updates of rows due together
//!   are batched into one seed `PUT …/users` of up to `batch_size` users. DocuSign never deletes: a
//!   deactivation or a SCIM DELETE closes the user (`DELETE …/users` with a body), a reactivation
//!   re-opens it with `POST …/users` (GUESS, vendor-apis.md §4: "verify on demo").
//! - Limits: 429, or 400 with `HOURLY_`/`BURST_APIINVOCATION_LIMIT_EXCEEDED`, pauses the target
//!   until `X-RateLimit-Reset` (burst: 30 s); a success that leaves `X-RateLimit-Remaining` or
//!   `X-BurstLimit-Remaining` at 0 pauses it the same way before the vendor has to refuse. The pause
//!   is the target's (`VendorClient::pause`): kept across restarts, and rows meeting it are put
//!   back without counting a failure.
mod config;

use super::{check_length, fingerprint, to_json, unreadable};
use crate::sync::cache::Cached;
use crate::sync::client::{classify, excerpt, VendorClient, VendorResponse};
use crate::sync::{ConnectorError, Desired, Link, LinkState, Secret, UserState};
pub use config::Config;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};

/// A token is renewed this long before DocuSign says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// How long the first update of a batch waits for the updates claimed with it to join.
const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// The burst window (500 calls per 30 s in production, vendor-apis.md §4).
const BURST_WAIT: Duration = Duration::from_secs(30);

/// The kind-specific keys of a `kind = "docusign"` target (shared/design.md).
#[derive(Clone)]
pub struct Settings {
    pub target: String,
    /// `https://account-d.docusign.com` or `https://account.docusign.com`.
    pub oauth_base_url: String,
    pub integration_key: String,
    /// The GUID of the user the bridge acts as (an admin who can manage users).
    pub user_id: String,
    pub private_key: Secret,
    pub account_id: String,
    /// `{base_uri}/restapi`; discovered through `/oauth/userinfo` when absent.
    pub base_url: Option<String>,
    pub batch_size: usize,
    /// Vendor calls in flight at once.
    pub concurrency: usize,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("target", &self.target)
            .field("oauth_base_url", &self.oauth_base_url)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

type UpdateReply = oneshot::Sender<Result<(), ConnectorError>>;

pub struct Docusign {
    settings: Settings,
    client: VendorClient,
    key: EncodingKey,
    token: Cached<Secret>,
    base: Cached<String>,
    calls: Semaphore,
    pending_updates: Mutex<Vec<(Value, UpdateReply)>>,
}

/// A user as `GET …/users?email=` shows it.
struct Found {
    user_id: String,
    closed: bool,
}

impl Docusign {
    /// Fails when the private key is not an RSA key in PEM.
    pub fn new(settings: Settings, client: VendorClient) -> Result<Self, String> {
        let key = EncodingKey::from_rsa_pem(settings.private_key.expose().as_bytes())
            .map_err(|e| format!("private_key is not an RSA private key in PEM: {e}"))?;
        Ok(Self {
            calls: Semaphore::new(settings.concurrency.max(1)),
            settings,
            client,
            key,
            token: Cached::default(),
            base: Cached::default(),
            pending_updates: Mutex::new(Vec::new()),
        })
    }

    /// How many reconciles may wait at once: enough for several full batches.
    pub fn reconciles_in_flight(concurrency: usize, batch_size: usize) -> usize {
        concurrency.saturating_mul(batch_size).clamp(1, 1000)
    }

    /// Makes DocuSign hold `desired`, given what `link` says it holds; returns the new link.
    pub async fn reconcile(&self, desired: &Desired, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let link = link.filter(|l| l.state != LinkState::Gone);
        let Desired::Present(user) = desired else {
            return self.close_for_delete(link).await;
        };
        check_length(
            &self.settings.target,
            "name.givenName (DocuSign firstName)",
            &user.given_name,
            50,
        )?;
        check_length(
            &self.settings.target,
            "name.familyName (DocuSign lastName)",
            &user.family_name,
            50,
        )?;
        let link = match link {
            Some(l) if l.state == LinkState::Linked && l.remote_id.is_some() => l.clone(),
            // New, or a create whose outcome is unknown: the e-mail finds a user made before.
            _ => match self.find(&user.email).await? {
                Some(found) => adopted(found, &user.email),
                None => return self.create(user).await,
            },
        };
        self.bring_up_to_date(link, user).await
    }

    /// The probe of `scim-bridge check`: a token and `/oauth/userinfo` (the account must be there).
    pub async fn check(&self) -> Result<(), ConnectorError> {
        self.userinfo_base().await.map(drop)
    }

    async fn users_url(&self) -> Result<String, ConnectorError> {
        let base = self.base.get(|| self.discover_base()).await?;
        Ok(format!(
            "{}/v2.1/accounts/{}/users",
            base.trim_end_matches('/'),
            self.settings.account_id
        ))
    }

    /// `GET …/users?email=`: the user with that e-mail, open or closed.
    async fn find(&self, email: &str) -> Result<Option<Found>, ConnectorError> {
        let url = reqwest::Url::parse_with_params(&self.users_url().await?, &[("email", email)])
            .map_err(|e| self.permanent(None, &format!("bad base URL: {e}")))?;
        let body = self.expect_success(self.call(Method::GET, url.as_str(), None).await?)?;
        let users = body.get("users").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(users
            .iter()
            .find(|u| text(u, "email").is_some_and(|e| e.eq_ignore_ascii_case(email)))
            .and_then(|u| {
                Some(Found {
                    user_id: text(u, "userId")?,
                    closed: text(u, "userStatus").is_some_and(|s| s.eq_ignore_ascii_case("closed")),
                })
            }))
    }

    /// `POST …/users` with one `newUsers` item; an existing user (USER_ALREADY_EXISTS_IN_ACCOUNT inside
    /// the 201) is found by e-mail and adopted.
    async fn create(&self, user: &UserState) -> Result<Link, ConnectorError> {
        let item = match self.post_new_user(user).await? {
            Ok(user_id) => user_id,
            Err(code) if code.starts_with("USER_ALREADY_EXISTS_IN_ACCOUNT") => {
                let found = self.find(&user.email).await?.ok_or_else(|| {
                    self.permanent(None, "USER_ALREADY_EXISTS_IN_ACCOUNT, yet no user has this e-mail")
                })?;
                return self.bring_up_to_date(adopted(found, &user.email), user).await;
            }
            Err(code) => return Err(self.permanent(Some(201), &code)),
        };
        let link = Link {
            state: LinkState::Linked,
            remote_id: Some(item),
            remote_key: Some(user.email.clone()),
            pushed_hash: Some(user_fingerprint(user)),
            pushed_active: Some(true),
        };
        self.bring_up_to_date(link, user).await
    }

    /// Pushes what differs: re-open, batched attribute update, close.
    async fn bring_up_to_date(&self, mut link: Link, user: &UserState) -> Result<Link, ConnectorError> {
        let id = link.remote_id.clone().unwrap_or_default();
        if user.active && link.pushed_active == Some(false) {
            link.remote_id = Some(self.reopen(&id, user).await?);
            link.pushed_active = Some(true);
        }
        let hash = user_fingerprint(user);
        if link.pushed_hash.as_deref() != Some(hash.as_str()) {
            let id = link.remote_id.clone().unwrap_or_default();
            let mut item = profile(user);
            item["userId"] = json!(id);
            self.update(item).await?;
            link.pushed_hash = Some(hash);
            link.remote_key = Some(user.email.clone());
        }
        if !user.active && link.pushed_active != Some(false) {
            self.close(link.remote_id.as_deref().unwrap_or_default()).await?;
            link.pushed_active = Some(false);
        }
        link.state = LinkState::Linked;
        Ok(link)
    }

    /// Re-opens a closed user by posting it again with the same userName and e-mail (GUESS,
    /// vendor-apis.md §4); if DocuSign answers with another userId, that one is linked.
    async fn reopen(&self, user_id: &str, user: &UserState) -> Result<String, ConnectorError> {
        match self.post_new_user(user).await? {
            Ok(new_id) => Ok(new_id),
            // Already open (someone re-opened it by hand): nothing to do.
            Err(code) if code.starts_with("USER_ALREADY_EXISTS_IN_ACCOUNT") => Ok(user_id.to_owned()),
            Err(code) => Err(self.permanent(Some(201), &code)),
        }
    }

    /// `POST …/users`: the new userId, or the item's `errorDetails` as `CODE: message`.
    async fn post_new_user(&self, user: &UserState) -> Result<Result<String, String>, ConnectorError> {
        let body = json!({"newUsers": [profile(user)]});
        let url = self.users_url().await?;
        let answer = self.expect_success(self.call(Method::POST, &url, Some(&body)).await?)?;
        let item = answer
            .get("newUsers")
            .and_then(Value::as_array)
            .and_then(|items| items.first())
            .ok_or_else(|| unreadable(&self.settings.target, "create users", &answer.to_string()))?;
        if let Some(error) = item_error(item) {
            return Ok(Err(error));
        }
        text(item, "userId")
            .map(Ok)
            .ok_or_else(|| unreadable(&self.settings.target, "create users", &answer.to_string()))
    }

    /// Joins the pending batch; the first to join sends it (after a short window) with whatever else
    /// is pending, up to `batch_size` users per call, and hands every caller its own item's outcome.
    /// An update that arrives while those calls are out starts the next batch.
    async fn update(&self, item: Value) -> Result<(), ConnectorError> {
        let (reply, outcome) = oneshot::channel();
        let leads = {
            let mut pending = self.lock_pending();
            pending.push((item, reply));
            pending.len() == 1
        };
        if leads {
            if self.settings.batch_size > 1 {
                tokio::time::sleep(BATCH_WINDOW).await;
            }
            // Everything pending goes now, in batches sent side by side (the call permits bound them).
            let mut pending: Vec<(Value, UpdateReply)> = std::mem::take(&mut *self.lock_pending());
            let mut batches = Vec::new();
            while !pending.is_empty() {
                let rest = pending.split_off(pending.len().min(self.settings.batch_size.max(1)));
                batches.push(std::mem::replace(&mut pending, rest));
            }
            futures_util::future::join_all(batches.into_iter().map(|b| self.send_batch(b))).await;
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(self.transient("the batch was dropped before it was sent")))
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<(Value, UpdateReply)>> {
        self.pending_updates.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The seed call: `PUT …/users` with `{"users": [...]}`; per-item `errorDetails` fail that item.
    async fn send_batch(&self, batch: Vec<(Value, UpdateReply)>) {
        let (items, replies): (Vec<Value>, Vec<UpdateReply>) = batch.into_iter().unzip();
        let ids: Vec<String> = items.iter().map(|i| text(i, "userId").unwrap_or_default()).collect();
        let result = async {
            let url = self.users_url().await?;
            let body = json!({"users": items});
            self.expect_success(self.call(Method::PUT, &url, Some(&body)).await?)
        }
        .await;
        let errors: HashMap<String, String> = match &result {
            Ok(answer) => answer
                .get("users")
                .and_then(Value::as_array)
                .map(|users| {
                    users
                        .iter()
                        .filter_map(|u| Some((text(u, "userId")?, item_error(u)?)))
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => HashMap::new(),
        };
        for (id, reply) in ids.iter().zip(replies) {
            let outcome = match (&result, errors.get(id)) {
                (Err(e), _) => Err(e.clone()),
                (Ok(_), Some(error)) => Err(self.permanent(Some(200), error)),
                (Ok(_), None) => Ok(()),
            };
            // A caller that went away needs no answer.
            let _ = reply.send(outcome);
        }
    }

    /// `DELETE …/users` with `{"users":[{"userId"}]}`: DocuSign's "close". A user already closed
    /// counts as done (GUESS: the per-item code for it is undocumented, so any code naming CLOSED).
    async fn close(&self, user_id: &str) -> Result<(), ConnectorError> {
        let body = json!({"users": [{"userId": user_id}]});
        let url = self.users_url().await?;
        let answer = self.expect_success(self.call(Method::DELETE, &url, Some(&body)).await?)?;
        let first = answer.get("users").and_then(Value::as_array).and_then(|u| u.first());
        match first.and_then(item_error) {
            Some(error) if !error.to_ascii_uppercase().contains("CLOSED") => Err(self.permanent(Some(200), &error)),
            _ => Ok(()),
        }
    }

    async fn close_for_delete(&self, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let id = match link {
            Some(Link {
                remote_id: Some(id),
                pushed_active,
                ..
            }) => (*pushed_active != Some(false)).then(|| id.clone()),
            Some(Link {
                remote_key: Some(email),
                ..
            }) => self.find(email).await?.filter(|f| !f.closed).map(|f| f.user_id),
            _ => None,
        };
        if let Some(id) = id {
            self.close(&id).await?;
        }
        Ok(Link::gone())
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
            .map_err(|e| self.config(&format!("cannot sign the JWT assertion: {e}")))?;
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
        let answer: Value = serde_json::from_str(&response.body)
            .map_err(|_| unreadable(&self.settings.target, "token", "(not JSON)"))?;
        let token = text(&answer, "access_token")
            .ok_or_else(|| unreadable(&self.settings.target, "token", "(no access_token)"))?;
        let expires_in = answer.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        let lifetime = Duration::from_secs(expires_in)
            .saturating_sub(TOKEN_MARGIN)
            .max(Duration::from_secs(30));
        Ok((Secret::new(token), Some(lifetime)))
    }

    fn token_refused(&self, response: &VendorResponse) -> ConnectorError {
        let error: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        match text(&error, "error").as_deref() {
            Some("consent_required") => self.config(&format!(
                "consent_required: the impersonated user (or an admin) must grant consent once at {}/oauth/auth?response_type=code&scope=signature%20impersonation&client_id={}&redirect_uri=<a redirect URI of the integration key>",
                self.oauth_base(),
                self.settings.integration_key
            )),
            Some("invalid_grant") => self.config(
                "invalid_grant: check integration_key, user_id, the key pair registered on the integration key, oauth_base_url, and the clock",
            ),
            _ if response.status < 500 && response.status != 429 => self.config(&format!(
                "token request refused: HTTP {}: {}",
                response.status,
                excerpt(&response.body)
            )),
            _ => classify(&self.settings.target, response),
        }
    }

    async fn discover_base(&self) -> Result<(String, Option<Duration>), ConnectorError> {
        match &self.settings.base_url {
            Some(base) => Ok((base.clone(), None)),
            None => Ok((self.userinfo_base().await?, None)),
        }
    }

    /// `GET {oauth}/oauth/userinfo`: the configured account's `base_uri` + `/restapi`.
    async fn userinfo_base(&self) -> Result<String, ConnectorError> {
        let url = format!("{}/oauth/userinfo", self.oauth_base());
        let info = self.expect_success(self.call(Method::GET, &url, None).await?)?;
        let accounts = info
            .get("accounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let account = accounts
            .iter()
            .find(|a| text(a, "account_id").as_deref() == Some(self.settings.account_id.as_str()));
        match account.and_then(|a| text(a, "base_uri")) {
            Some(base) => Ok(format!("{}/restapi", base.trim_end_matches('/'))),
            None => {
                let ids: Vec<String> = accounts.iter().filter_map(|a| text(a, "account_id")).collect();
                Err(self.config(&format!(
                    "account_id {} is not an account of the impersonated user (its accounts: {})",
                    self.settings.account_id,
                    ids.join(", ")
                )))
            }
        }
    }

    /// One call with the cached token (renewed once on 401), within the target's concurrency, and
    /// not at all while a rate limit is spent.
    async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<VendorResponse, ConnectorError> {
        let body = body.map(|b| to_json(&self.settings.target, b)).transpose()?;
        let _permit = self.calls.acquire().await;
        for _ in 0..2 {
            let token = self.token.get(|| self.fetch_token()).await?;
            let mut request = self
                .client
                .request(method.clone(), url)
                .header("Authorization", format!("Bearer {}", token.expose()))
                .header("Accept", "application/json");
            if let Some(json) = &body {
                request = request.header("Content-Type", "application/json").body(json.clone());
            }
            let response = self.client.send(request).await?;
            self.note_limits(&response);
            if response.status != 401 {
                return Ok(response);
            }
            self.token.forget(&token).await;
        }
        Err(ConnectorError::Auth {
            target: self.settings.target.clone(),
            detail: "a new access token was refused as well (401)".into(),
        })
    }

    /// A spent hourly or burst limit pauses the target until it resets.
    fn note_limits(&self, response: &VendorResponse) {
        if response.hourly_remaining == Some(0) {
            let wait = response.retry_after.unwrap_or_else(until_next_hour);
            self.client
                .pause(wait, "the hourly API limit is spent (X-RateLimit-Remaining: 0)");
        } else if response.burst_remaining == Some(0) {
            self.client
                .pause(BURST_WAIT, "the burst API limit is spent (X-BurstLimit-Remaining: 0)");
        }
    }

    /// A 2xx body as JSON; a limit error waits for its reset; other errors keep DocuSign's code.
    fn expect_success(&self, response: VendorResponse) -> Result<Value, ConnectorError> {
        let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        if response.is_success() {
            return Ok(body);
        }
        let code = text(&body, "errorCode").unwrap_or_default();
        let limited = match code.as_str() {
            "HOURLY_APIINVOCATION_LIMIT_EXCEEDED" => Some(response.retry_after.unwrap_or_else(until_next_hour)),
            "BURST_APIINVOCATION_LIMIT_EXCEEDED" => Some(response.retry_after.unwrap_or(BURST_WAIT)),
            _ if response.status == 429 => Some(response.retry_after.unwrap_or(BURST_WAIT)),
            _ => None,
        };
        let detail = match text(&body, "message") {
            Some(message) if !code.is_empty() => format!("HTTP {}: {code}: {message}", response.status),
            _ => format!("HTTP {}: {}", response.status, excerpt(&response.body)),
        };
        if let Some(wait) = limited {
            self.client.pause(wait, &code_or_status(&code, response.status));
            return Err(ConnectorError::Transient {
                target: self.settings.target.clone(),
                detail,
                retry_after: Some(wait),
            });
        }
        match response.status {
            400..=499 => Err(self.permanent(Some(response.status), &detail)),
            _ => Err(classify(&self.settings.target, &response)),
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

    fn permanent(&self, status: Option<u16>, detail: &str) -> ConnectorError {
        ConnectorError::Permanent {
            target: self.settings.target.clone(),
            status,
            detail: detail.to_owned(),
        }
    }

    fn transient(&self, detail: &str) -> ConnectorError {
        ConnectorError::Transient {
            target: self.settings.target.clone(),
            detail: detail.to_owned(),
            retry_after: None,
        }
    }

    fn config(&self, detail: &str) -> ConnectorError {
        ConnectorError::Config {
            target: self.settings.target.clone(),
            detail: detail.to_owned(),
        }
    }
}

/// The profile DocuSign holds: `userName` is its display name, not a login (vendor-apis.md §4).
fn profile(user: &UserState) -> Value {
    let display = format!("{} {}", user.given_name, user.family_name);
    let display = match display.trim() {
        "" => user.user_name.clone(),
        name => name.to_owned(),
    };
    json!({"userName": display, "email": user.email, "firstName": user.given_name, "lastName": user.family_name})
}

fn user_fingerprint(user: &UserState) -> String {
    fingerprint(&profile(user))
}

fn adopted(found: Found, email: &str) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: Some(found.user_id),
        remote_key: Some(email.to_owned()),
        pushed_hash: None,
        pushed_active: Some(!found.closed),
    }
}

fn text(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// An item's `errorDetails` as `CODE: message`.
fn item_error(item: &Value) -> Option<String> {
    let details = item.get("errorDetails")?;
    let code = text(details, "errorCode")?;
    Some(match text(details, "message") {
        Some(message) => format!("{code}: {message}"),
        None => code,
    })
}

fn code_or_status(code: &str, status: u16) -> String {
    if code.is_empty() {
        format!("HTTP {status}")
    } else {
        code.to_owned()
    }
}

/// The hourly limit resets at the top of the hour.
fn until_next_hour() -> Duration {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Duration::from_secs(u64::try_from(3600 - now.rem_euclid(3600)).unwrap_or(3600))
}

#[cfg(test)]
mod tests;
