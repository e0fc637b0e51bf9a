//! Oracle Eloqua REST 2.0 (docs/vendors/eloqua.md): the seed call is `PUT
//! /api/REST/2.0/system/user/{id}/enabled`.
//!
//! HTTP Basic as `Company\User:password`. The API base (the instance's pod) is discovered through
//! `{login_url}/id` and cached; a 401 from the API discovers it again (the instance may have moved),
//! and a 401 from `/id` means the credentials are wrong. Users are found by e-mail and linked by
//! their integer id; updates read the user, merge and PUT it whole (whether a partial PUT keeps the
//! absent fields is undocumented).
mod config;

use super::{fingerprint, to_json, unreadable};
use crate::sync::cache::Cached;
use crate::sync::client::{classify, excerpt, VendorClient, VendorResponse};
use crate::sync::{ConnectorError, Desired, Link, LinkState, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use serde_json::{json, Value};
use std::fmt;

const USERS: &str = "/api/REST/2.0/system/users";
const USER: &str = "/api/REST/2.0/system/user";

/// What a `kind = "eloqua"` target needs at run time (built from its `Config`).
#[derive(Clone)]
pub struct Settings {
    pub target: String,
    /// `https://login.eloqua.com` unless told otherwise.
    pub login_url: String,
    /// Skips discovery when set (e.g. `https://secure.p03.eloqua.com`).
    pub base_url: Option<String>,
    pub company: String,
    pub username: Secret,
    pub password: Secret,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("target", &self.target)
            .field("login_url", &self.login_url)
            .field("company", &self.company)
            .finish_non_exhaustive()
    }
}

pub struct Eloqua {
    settings: Settings,
    client: VendorClient,
    base: Cached<String>,
}

impl Eloqua {
    pub fn new(settings: Settings, client: VendorClient) -> Self {
        Self {
            settings,
            client,
            base: Cached::default(),
        }
    }

    /// Makes Eloqua hold `desired`, given what `link` says it holds; returns the new link.
    pub async fn reconcile(&self, desired: &Desired, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let link = link.filter(|l| l.state != LinkState::Gone);
        let Desired::Present(user) = desired else {
            return self.delete(link).await;
        };
        let known = match link.and_then(|l| l.remote_id.as_deref()) {
            Some(id) => self.get(id).await?,
            None => None,
        };
        let current = match known {
            Some(current) => current,
            None => {
                let mut found = None;
                for key in Link::lookup_keys(link, &user.email) {
                    found = self.find(key).await?;
                    if found.is_some() {
                        break;
                    }
                }
                match found {
                    Some(found) => found,
                    None => return self.create(user).await,
                }
            }
        };
        let pushed_active = link.and_then(|l| l.pushed_active);
        self.bring_up_to_date(current, user, pushed_active).await
    }

    /// The probe of `scim-bridge check`: `GET {login_url}/id`.
    pub async fn check(&self) -> Result<(), ConnectorError> {
        self.discover().await.map(drop)
    }

    /// `GET …/system/users?search=emailAddress='…'` (GUESS, docs/vendors/eloqua.md: the search term is
    /// undocumented), matched exactly on the client.
    async fn find(&self, email: &str) -> Result<Option<Value>, ConnectorError> {
        let query = [
            ("search", format!("emailAddress='{email}'")),
            ("depth", "complete".to_owned()),
        ];
        let answer = self.expect_success(self.call(Method::GET, USERS, &query, None).await?, "search users")?;
        let elements = answer
            .get("elements")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(elements.into_iter().find(|u| {
            u.get("emailAddress")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        }))
    }

    /// `GET …/system/user/{id}?depth=complete`; `None` when Eloqua has no such user.
    async fn get(&self, id: &str) -> Result<Option<Value>, ConnectorError> {
        let query = [("depth", "complete".to_owned())];
        let response = self.call(Method::GET, &format!("{USER}/{id}"), &query, None).await?;
        if response.status == 404 {
            return Ok(None);
        }
        self.expect_success(response, "get user").map(Some)
    }

    /// `POST …/system/user`; a 409 (someone made it meanwhile) finds the user by e-mail and adopts it.
    async fn create(&self, user: &UserState) -> Result<Link, ConnectorError> {
        // GUESS (docs/vendors/eloqua.md): `loginName` is settable on create although the schema says read-only.
        let body = json!({"loginName": user.user_name, "emailAddress": user.email,
                          "firstName": user.given_name, "lastName": user.family_name});
        let response = self.call(Method::POST, USER, &[], Some(&body)).await?;
        if response.status == 409 {
            let found = self.find(&user.email).await?.ok_or_else(|| {
                self.permanent(
                    Some(409),
                    &format!(
                        "create: 409 Conflict, yet no user has this e-mail: {}",
                        excerpt(&response.body)
                    ),
                )
            })?;
            return self.bring_up_to_date(found, user, None).await;
        }
        let created = self.expect_success(response, "create user")?;
        let id =
            id_of(&created).ok_or_else(|| unreadable(&self.settings.target, "create user", &created.to_string()))?;
        // A new user is enabled (GUESS); an inactive one is disabled at once.
        if !user.active {
            self.set_enabled(&id, false).await?;
        }
        Ok(self.link(id, user))
    }

    async fn bring_up_to_date(
        &self,
        current: Value,
        user: &UserState,
        pushed_active: Option<bool>,
    ) -> Result<Link, ConnectorError> {
        let id = id_of(&current).ok_or_else(|| unreadable(&self.settings.target, "user", &current.to_string()))?;
        let mut merged = current.clone();
        merged["emailAddress"] = json!(user.email);
        merged["firstName"] = json!(user.given_name);
        merged["lastName"] = json!(user.family_name);
        if merged != current {
            let response = self
                .call(Method::PUT, &format!("{USER}/{id}"), &[], Some(&merged))
                .await?;
            self.expect_success(response, "update user")?;
        }
        let enabled = match current.get("isDisabled").and_then(lenient_bool) {
            Some(disabled) => Some(!disabled),
            None => pushed_active,
        };
        if enabled != Some(user.active) {
            self.set_enabled(&id, user.active).await?;
        }
        Ok(self.link(id, user))
    }

    /// The seed's call: `PUT …/system/user/{id}/enabled` with a JSON boolean. The answer's
    /// `"enabled":"True"` is a string; it is read leniently and must say what was asked.
    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), ConnectorError> {
        let body = json!({"enabled": enabled});
        let response = self
            .call(Method::PUT, &format!("{USER}/{id}/enabled"), &[], Some(&body))
            .await?;
        let answer = self.expect_success(response, "enable user")?;
        match answer.get("enabled").and_then(lenient_bool) {
            Some(now) if now != enabled => Err(self.permanent(
                Some(200),
                &format!("asked for enabled = {enabled}, Eloqua answered {}", answer["enabled"]),
            )),
            _ => Ok(()),
        }
    }

    /// `DELETE …/system/user/{id}` (with `on_delete = "deactivate"` the worker asks for a disabled
    /// user instead); 404 counts as done.
    async fn delete(&self, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let id = match link {
            Some(Link {
                remote_id: Some(id), ..
            }) => Some(id.clone()),
            Some(Link {
                remote_key: Some(email),
                ..
            }) => self.find(email).await?.as_ref().and_then(id_of),
            _ => None,
        };
        if let Some(id) = id {
            let response = self.call(Method::DELETE, &format!("{USER}/{id}"), &[], None).await?;
            if response.status != 404 {
                self.expect_success(response, "delete user")?;
            }
        }
        Ok(Link::gone())
    }

    fn link(&self, id: String, user: &UserState) -> Link {
        Link {
            state: LinkState::Linked,
            remote_id: Some(id),
            remote_key: Some(user.email.clone()),
            pushed_hash: Some(fingerprint(&(&user.email, &user.given_name, &user.family_name))),
            pushed_active: Some(user.active),
        }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let login = format!("{}\\{}", self.settings.company, self.settings.username.expose());
        request
            .basic_auth(login, Some(self.settings.password.expose()))
            .header("Accept", "application/json")
    }

    /// `GET {login_url}/id`: the instance's `urls.base`.
    async fn discover(&self) -> Result<(String, Option<std::time::Duration>), ConnectorError> {
        let url = format!("{}/id", self.settings.login_url.trim_end_matches('/'));
        let response = self
            .client
            .send(self.authorized(self.client.request(Method::GET, &url)))
            .await?;
        if response.status == 401 || response.status == 403 {
            return Err(self.config(&format!(
                "{url} refused the credentials (HTTP {}): check company, username and password",
                response.status
            )));
        }
        let answer = self.expect_success(response, "/id")?;
        answer
            .pointer("/urls/base")
            .and_then(Value::as_str)
            .map(|base| (base.trim_end_matches('/').to_owned(), None))
            // "Not authenticated." comes back as a 200 string.
            .ok_or_else(|| {
                self.config(&format!(
                    "{url} did not name the API base: {}",
                    excerpt(&answer.to_string())
                ))
            })
    }

    async fn api_base(&self) -> Result<(String, Option<std::time::Duration>), ConnectorError> {
        match &self.settings.base_url {
            Some(base) => Ok((base.trim_end_matches('/').to_owned(), None)),
            None => self.discover().await,
        }
    }

    /// One API call; a 401 discovers the base again and repeats the call once.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<VendorResponse, ConnectorError> {
        let body = body.map(|b| to_json(&self.settings.target, b)).transpose()?;
        for _ in 0..2 {
            let base = self.base.get(|| self.api_base()).await?;
            let url = reqwest::Url::parse_with_params(&format!("{base}{path}"), query)
                .map_err(|e| self.config(&format!("bad API base {base}: {e}")))?;
            let mut request = self.authorized(self.client.request(method.clone(), url.as_str()));
            if let Some(json) = &body {
                request = request.header("Content-Type", "application/json").body(json.clone());
            }
            let response = self.client.send(request).await?;
            if response.status != 401 {
                return Ok(response);
            }
            self.base.forget(&base).await;
        }
        Err(ConnectorError::Auth {
            target: self.settings.target.clone(),
            detail: "401 Login required, also after discovering the API base again".into(),
        })
    }

    fn expect_success(&self, response: VendorResponse, what: &str) -> Result<Value, ConnectorError> {
        if response.is_success() {
            return Ok(serde_json::from_str(&response.body).unwrap_or(Value::String(response.body)));
        }
        let detail = format!("{what}: HTTP {}: {}", response.status, eloqua_error(&response.body));
        match response.status {
            // "This service has not been enabled for your site", or no ManageUsers permission.
            403 => Err(self.config(&detail)),
            400..=499 if response.status != 408 && response.status != 429 => {
                Err(self.permanent(Some(response.status), &detail))
            }
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

    fn config(&self, detail: &str) -> ConnectorError {
        ConnectorError::Config {
            target: self.settings.target.clone(),
            detail: detail.to_owned(),
        }
    }
}

fn id_of(user: &Value) -> Option<String> {
    match user.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `true`, `"True"`, `"true"`: Eloqua writes booleans as strings (docs/vendors/eloqua.md).
fn lenient_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A typed validation error (one object or a list) as `parameter: RequirementType (value)`.
fn eloqua_error(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return excerpt(body);
    };
    let items = match &value {
        Value::Array(list) => list.clone(),
        other => vec![other.clone()],
    };
    let described: Vec<String> = items
        .iter()
        .filter_map(|item| {
            let kind = item.get("type").and_then(Value::as_str)?;
            let what = item
                .get("parameter")
                .or_else(|| item.get("property"))
                .and_then(Value::as_str);
            let requirement = item.pointer("/requirement/type").and_then(Value::as_str);
            let mut text = kind.to_owned();
            if let Some(what) = what {
                text.push_str(&format!(" on {what}"));
            }
            if let Some(requirement) = requirement {
                text.push_str(&format!(": {requirement}"));
            }
            if let Some(v) = item.get("value") {
                text.push_str(&format!(" (value {v})"));
            }
            Some(text)
        })
        .collect();
    if described.is_empty() {
        excerpt(body)
    } else {
        described.join("; ")
    }
}

#[cfg(test)]
mod tests;
