//! CyberArk PVWA (Gen2 REST, 12.6+; docs/vendors/cyberark.md): the seed call is Activate user. One session per target, from `Logon` with
//! `concurrentSession: true`, cached, renewed once when refused (401 or `PASWS006E`) and closed with
//! `Logoff` on shutdown. The token goes raw in `Authorization`.
//!
//! Every reconcile reads the vault user first (`GET /API/Users/{id}/`): a PUT replaces the whole
//! object, so changes are merged into what the vault holds, and the read also tells whether the user
//! is disabled or suspended, and whether it is one the bridge must never touch.
mod config;

use super::{check_length, fingerprint, random_password, to_json, unreadable};
use crate::sync::cache::Cached;
use crate::sync::client::{classify, excerpt, VendorClient, VendorResponse};
use crate::sync::{ConnectorError, Desired, Link, LinkState, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use serde_json::{json, Value};
use std::fmt;

/// Vault users the bridge never changes, whatever the IdP says (docs/vendors/cyberark.md).
const BUILT_IN_USERS: [&str; 7] = [
    "Administrator",
    "Master",
    "Batch",
    "Backup",
    "DR",
    "Auditor",
    "Operator",
];

/// What a `kind = "cyberark"` target needs at run time (built from its `Config`).
#[derive(Clone)]
pub struct Settings {
    pub target: String,
    /// Ends in `/PasswordVault`.
    pub base_url: String,
    /// `CyberArk`, `LDAP` or `RADIUS`: the Logon path segment.
    pub auth_method: String,
    pub username: Secret,
    pub password: Secret,
    pub user_type: String,
    pub location: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("target", &self.target)
            .field("base_url", &self.base_url)
            .field("auth_method", &self.auth_method)
            .finish_non_exhaustive()
    }
}

pub struct Cyberark {
    settings: Settings,
    client: VendorClient,
    session: Cached<Secret>,
}

impl Cyberark {
    pub fn new(settings: Settings, client: VendorClient) -> Self {
        Self {
            settings,
            client,
            session: Cached::default(),
        }
    }

    /// Makes the vault hold `desired`, given what `link` says it holds; returns the new link.
    pub async fn reconcile(&self, desired: &Desired, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let link = link.filter(|l| l.state != LinkState::Gone);
        let Desired::Present(user) = desired else {
            return self.delete(link).await;
        };
        self.check_lengths(user)?;
        let known = match link.and_then(|l| l.remote_id.as_deref()) {
            Some(id) => self.get(id).await?,
            None => None,
        };
        let current = match known {
            Some(current) => current,
            // New, unknown outcome of a create, or deleted in the vault: search before creating.
            None => match self.find(&user.user_name).await? {
                Some(found) => found,
                None => return self.create(user).await,
            },
        };
        self.refuse_protected(&current)?;
        self.bring_up_to_date(current, user).await
    }

    /// The probe of `scim-bridge check`: a Logon and its Logoff, nothing else.
    pub async fn check(&self) -> Result<(), ConnectorError> {
        let (token, _) = self.logon().await?;
        self.logoff(&token).await
    }

    /// Closes the cached session, if any (on shutdown).
    pub async fn shutdown(&self) {
        if let Some(token) = self.session.take().await {
            if let Err(e) = self.logoff(&token).await {
                tracing::warn!(target = %self.settings.target, error = %e, "CyberArk Logoff failed");
            }
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}/API/{path}", self.settings.base_url.trim_end_matches('/'))
    }

    /// `GET /API/Users?search={name}`, matched exactly on the client (`search` matches substrings).
    async fn find(&self, user_name: &str) -> Result<Option<Value>, ConnectorError> {
        let url = reqwest::Url::parse_with_params(&self.api("Users"), &[("search", user_name)])
            .map_err(|e| self.permanent(None, &format!("bad base_url: {e}")))?;
        let response = self.call(Method::GET, url.as_str(), None).await?;
        let body = self.expect_success(response, "search users")?;
        let users = body.get("Users").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(users.into_iter().find(|u| {
            u.get("username")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(user_name))
        }))
    }

    /// `GET /API/Users/{id}/`; `None` when the vault has no such user.
    async fn get(&self, id: &str) -> Result<Option<Value>, ConnectorError> {
        let response = self.call(Method::GET, &self.api(&format!("Users/{id}/")), None).await?;
        if response.status == 404 {
            return Ok(None);
        }
        self.expect_success(response, "get user").map(Some)
    }

    /// `POST /API/Users/`, enabled or not as the IdP says. The initial password is the IdP's, else a
    /// random one the user must change at first logon.
    async fn create(&self, user: &UserState) -> Result<Link, ConnectorError> {
        let password = user
            .password
            .as_ref()
            .map_or_else(random_password, |p| p.expose().to_owned());
        let body = json!({
            "username": user.user_name,
            "userType": self.settings.user_type,
            "initialPassword": password,
            "authenticationMethod": ["AuthTypePass"],
            "location": self.settings.location,
            "enableUser": user.active,
            "changePassOnNextLogon": true,
            "passwordNeverExpires": false,
            "internet": {"businessEmail": user.email},
            "personalDetails": {"firstName": user.given_name, "lastName": user.family_name},
        });
        let response = self.call(Method::POST, &self.api("Users/"), Some(&body)).await?;
        if response.status == 409 {
            // GUESS (docs/vendors/cyberark.md): a clash is 409; the user made by someone else is adopted.
            let found = self.find(&user.user_name).await?.ok_or_else(|| {
                self.permanent(Some(409), &format!("create refused: {}", vault_error(&response.body)))
            })?;
            self.refuse_protected(&found)?;
            return self.bring_up_to_date(found, user).await;
        }
        let created = self.expect_success(response, "add user")?;
        let id = id_of(&created).ok_or_else(|| unreadable(&self.settings.target, "add user", &created.to_string()))?;
        Ok(self.link(id, user))
    }

    /// Merges what differs into the vault's own object and PUTs it whole, then enables, disables or
    /// un-suspends (the seed's `Activate`) as needed.
    async fn bring_up_to_date(&self, current: Value, user: &UserState) -> Result<Link, ConnectorError> {
        let id =
            id_of(&current).ok_or_else(|| unreadable(&self.settings.target, "vault user", &current.to_string()))?;
        let merged = merged(&current, user);
        if merged != current {
            let response = self
                .call(Method::PUT, &self.api(&format!("Users/{id}/")), Some(&merged))
                .await?;
            self.expect_success(response, "update user")?;
        }
        let enabled = current.get("enableUser").and_then(Value::as_bool).unwrap_or(true);
        if enabled != user.active {
            let action = if user.active { "enable/" } else { "disable/" };
            let response = self
                .call(Method::POST, &self.api(&format!("Users/{id}/{action}")), None)
                .await?;
            self.expect_success(response, action.trim_end_matches('/'))?;
        }
        let suspended = current.get("suspended").and_then(Value::as_bool).unwrap_or(false);
        if user.active && suspended {
            let body = json!({"id": id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))});
            let response = self
                .call(Method::POST, &self.api(&format!("Users/{id}/Activate")), Some(&body))
                .await?;
            self.expect_success(response, "activate")?;
        }
        Ok(self.link(id, user))
    }

    /// `DELETE /API/Users/{id}/` (with `on_delete = "deactivate"` the worker asks for a disabled user
    /// instead); a user the vault no longer has (404, `ITATS003E`) is done.
    async fn delete(&self, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let current = match link.and_then(|l| l.remote_id.as_deref()) {
            Some(id) => self.get(id).await?,
            None => match link.and_then(|l| l.remote_key.as_deref()) {
                Some(name) => self.find(name).await?,
                None => None,
            },
        };
        let Some(current) = current else {
            return Ok(Link::gone());
        };
        self.refuse_protected(&current)?;
        let id =
            id_of(&current).ok_or_else(|| unreadable(&self.settings.target, "vault user", &current.to_string()))?;
        let response = self
            .call(Method::DELETE, &self.api(&format!("Users/{id}/")), None)
            .await?;
        if response.status != 404 {
            self.expect_success(response, "delete user")?;
        }
        Ok(Link::gone())
    }

    fn link(&self, id: String, user: &UserState) -> Link {
        Link {
            state: LinkState::Linked,
            remote_id: Some(id),
            remote_key: Some(user.user_name.clone()),
            pushed_hash: Some(fingerprint(&(
                &user.user_name,
                &user.email,
                &user.given_name,
                &user.family_name,
            ))),
            pushed_active: Some(user.active),
        }
    }

    /// The vault's field limits (docs/vendors/cyberark.md): refused before any call, naming the field.
    fn check_lengths(&self, user: &UserState) -> Result<(), ConnectorError> {
        let target = &self.settings.target;
        check_length(target, "userName (CyberArk username)", &user.user_name, 128)?;
        check_length(target, "name.givenName (CyberArk firstName)", &user.given_name, 29)?;
        check_length(target, "name.familyName (CyberArk lastName)", &user.family_name, 29)?;
        check_length(target, "emails (CyberArk businessEmail)", &user.email, 319)
    }

    /// Component users, LDAP users (the directory mapping owns them) and built-in users are never
    /// changed: the row parks with the reason.
    fn refuse_protected(&self, vault_user: &Value) -> Result<(), ConnectorError> {
        let name = vault_user.get("username").and_then(Value::as_str).unwrap_or_default();
        let reason = if vault_user.get("componentUser").and_then(Value::as_bool) == Some(true) {
            Some("a component user")
        } else if vault_user
            .get("source")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("LDAP"))
        {
            Some("an LDAP user (its directory mapping manages it)")
        } else if BUILT_IN_USERS.iter().any(|b| b.eq_ignore_ascii_case(name)) {
            Some("a built-in vault user")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(self.permanent(None, &format!("'{name}' is {reason}; the bridge never changes it"))),
            None => Ok(()),
        }
    }

    /// `POST /API/auth/{method}/Logon/`: the session token, a bare JSON string.
    async fn logon(&self) -> Result<(Secret, Option<std::time::Duration>), ConnectorError> {
        let body = json!({
            "username": self.settings.username.expose(),
            "password": self.settings.password.expose(),
            "concurrentSession": true,
        });
        let url = self.api(&format!("auth/{}/Logon/", self.settings.auth_method));
        let request = self
            .client
            .request(Method::POST, &url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(to_json(&self.settings.target, &body)?);
        let response = self.client.send(request).await?;
        if response.is_success() {
            let token =
                serde_json::from_str::<String>(&response.body).unwrap_or_else(|_| response.body.trim().to_owned());
            if token.is_empty() {
                return Err(unreadable(&self.settings.target, "Logon", &response.body));
            }
            return Ok((Secret::new(token), None));
        }
        let code = error_code(&response.body);
        match (response.status, code.as_deref()) {
            // A wrong user or password is not retried in a loop (PASWS013E), nor is a RADIUS challenge.
            (400 | 401 | 403, _) | (_, Some("PASWS013E" | "ITATS542I")) => Err(ConnectorError::Config {
                target: self.settings.target.clone(),
                detail: format!("Logon refused: {}", vault_error(&response.body)),
            }),
            _ => Err(classify(&self.settings.target, &response)),
        }
    }

    /// `POST /API/Auth/Logoff` with the session token.
    async fn logoff(&self, token: &Secret) -> Result<(), ConnectorError> {
        let request = self
            .client
            .request(Method::POST, &self.api("Auth/Logoff"))
            .header("Authorization", token.expose())
            .header("Content-Length", "0")
            .body(Vec::new());
        let response = self.client.send(request).await?;
        self.expect_success(response, "Logoff").map(drop)
    }

    /// One call with the cached session; a refused session is renewed once and the call repeated.
    async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<VendorResponse, ConnectorError> {
        let body = body.map(|b| to_json(&self.settings.target, b)).transpose()?;
        for _ in 0..2 {
            let token = self.session.get(|| self.logon()).await?;
            let mut request = self
                .client
                .request(method.clone(), url)
                .header("Authorization", token.expose())
                .header("Accept", "application/json");
            request = match &body {
                Some(json) => request.header("Content-Type", "application/json").body(json.clone()),
                None => request.header("Content-Length", "0").body(Vec::new()),
            };
            let response = self.client.send(request).await?;
            let refused = response.status == 401 || error_code(&response.body).as_deref() == Some("PASWS006E");
            if !refused {
                return Ok(response);
            }
            self.session.forget(&token).await;
        }
        Err(ConnectorError::Auth {
            target: self.settings.target.clone(),
            detail: "a new session was refused as well (401 / PASWS006E)".into(),
        })
    }

    fn expect_success(&self, response: VendorResponse, what: &str) -> Result<Value, ConnectorError> {
        if response.is_success() {
            if response.body.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&response.body)
                .map_err(|_| unreadable(&self.settings.target, what, &response.body));
        }
        let detail = format!("{what}: HTTP {}: {}", response.status, vault_error(&response.body));
        match response.status {
            405 => Err(self.permanent(
                Some(405),
                &format!("{detail} (WebDAV publishing on the PVWA's IIS blocks PUT and DELETE)"),
            )),
            400 | 403 | 404 | 409 => Err(self.permanent(Some(response.status), &detail)),
            _ => Err(match classify(&self.settings.target, &response) {
                ConnectorError::Transient {
                    target, retry_after, ..
                } => ConnectorError::Transient {
                    target,
                    detail,
                    retry_after,
                },
                other => other,
            }),
        }
    }

    fn permanent(&self, status: Option<u16>, detail: &str) -> ConnectorError {
        ConnectorError::Permanent {
            target: self.settings.target.clone(),
            status,
            detail: detail.to_owned(),
        }
    }
}

/// The vault object with the IdP's attributes merged in; everything else is kept as the vault has it.
fn merged(current: &Value, user: &UserState) -> Value {
    let mut merged = current.clone();
    merged["username"] = json!(user.user_name);
    for (section, key, value) in [
        ("personalDetails", "firstName", &user.given_name),
        ("personalDetails", "lastName", &user.family_name),
        ("internet", "businessEmail", &user.email),
    ] {
        if !merged.get(section).is_some_and(Value::is_object) {
            merged[section] = json!({});
        }
        merged[section][key] = json!(value);
    }
    merged
}

fn id_of(user: &Value) -> Option<String> {
    match user.get("id")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn error_code(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    value.get("ErrorCode").and_then(Value::as_str).map(str::to_owned)
}

/// `PASWS041E: You are not authorized…`, with the `Details` the vault adds; else the body's start.
fn vault_error(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return excerpt(body);
    };
    let one = |v: &Value| {
        let code = v.get("ErrorCode").and_then(Value::as_str);
        let message = v.get("ErrorMessage").and_then(Value::as_str);
        match (code, message) {
            (Some(c), Some(m)) => Some(format!("{c}: {m}")),
            (None, Some(m)) | (Some(m), None) => Some(m.to_owned()),
            (None, None) => None,
        }
    };
    let Some(main) = one(&value) else {
        return excerpt(body);
    };
    let details: Vec<String> = match value.get("Details") {
        Some(Value::Array(list)) => list.iter().filter_map(one).collect(),
        Some(detail @ Value::Object(_)) => one(detail).into_iter().collect(),
        _ => Vec::new(),
    };
    if details.is_empty() {
        main
    } else {
        format!("{main} ({})", details.join("; "))
    }
}

#[cfg(test)]
mod tests;
