//! Oracle Eloqua REST 2.0 (docs/vendors/eloqua.md): the seed call is `PUT
//! /api/REST/2.0/system/user/{id}/enabled`.
//!
//! HTTP Basic as `Company\User:password`. The API base (the instance's pod) is discovered through
//! `{login_url}/id` and cached; a 401 from the API discovers it again (the instance may have moved),
//! and a 401 from `/id` means the credentials are wrong. Users are found by e-mail and linked by
//! their integer id; updates read the user, merge and PUT it whole (whether a partial PUT keeps the
//! absent fields is undocumented).
mod config;
mod plan;
mod wire;

use crate::sync::answer::{classify, expect_json, to_json, unreadable};
use crate::sync::cache::Cached;
use crate::sync::client::{excerpt, VendorClient, VendorResponse};
use crate::sync::mapping::{with_fields, Empty};
use crate::sync::{ConnectorError, Desired, Link, LinkState, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use std::fmt;
pub use wire::FIELDS;
use wire::{EloquaUser, Enable, Enabled, Identity, NewUser, Problems, UserList};

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
            None => match self.find_any(Link::lookup_keys(link, &user.email)).await? {
                Some(found) => found,
                None => return self.create(user).await,
            },
        };
        let pushed_active = link.and_then(|l| l.pushed_active);
        self.bring_up_to_date(current, user, pushed_active).await
    }

    /// The probe of `scim-bridge check`: `GET {login_url}/id`.
    pub async fn check(&self) -> Result<(), ConnectorError> {
        self.discover().await.map(drop)
    }

    /// The first user found under one of `emails`, in order.
    async fn find_any(&self, emails: impl IntoIterator<Item = &str>) -> Result<Option<EloquaUser>, ConnectorError> {
        for email in emails {
            if let Some(found) = self.find(email).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// `GET …/system/users?search=emailAddress='…'` (GUESS, docs/vendors/eloqua.md: the search term is
    /// undocumented), matched exactly on the client.
    async fn find(&self, email: &str) -> Result<Option<EloquaUser>, ConnectorError> {
        let query = [
            ("search", format!("emailAddress='{email}'")),
            ("depth", "complete".to_owned()),
        ];
        let list: UserList = self
            .call_json(Method::GET, USERS, &query, None::<&()>, "search users")
            .await?;
        Ok(list.elements.into_iter().find(|u| {
            u.email_address
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        }))
    }

    /// `GET …/system/user/{id}?depth=complete`; `None` when Eloqua has no such user.
    async fn get(&self, id: &str) -> Result<Option<EloquaUser>, ConnectorError> {
        let query = [("depth", "complete".to_owned())];
        let response = self
            .call(Method::GET, &format!("{USER}/{id}"), &query, None::<&()>)
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        expect(&response, "get user").map(Some)
    }

    /// `POST …/system/user`; a 409 (someone made it meanwhile) finds the user by e-mail and adopts it.
    async fn create(&self, user: &UserState) -> Result<Link, ConnectorError> {
        // GUESS (docs/vendors/eloqua.md): `loginName` is settable on create although the schema says read-only.
        let body = NewUser {
            login_name: &user.user_name,
            email_address: &user.email,
            first_name: &user.given_name,
            last_name: &user.family_name,
        };
        let body = with_fields(&body, &user.fields, Empty::Omit)?;
        let response = self.call(Method::POST, USER, &[], Some(&body)).await?;
        if response.status == 409 {
            let found = self.find(&user.email).await?.ok_or_else(|| {
                ConnectorError::permanent(
                    Some(409),
                    format!(
                        "create: 409 Conflict, yet no user has this e-mail: {}",
                        excerpt(&response.body)
                    ),
                )
            })?;
            return self.bring_up_to_date(found, user, None).await;
        }
        let created: EloquaUser = expect(&response, "create user")?;
        let id = created
            .id
            .map(|id| id.to_string())
            .ok_or_else(|| unreadable("create user", &response.body))?;
        // A new user is enabled (GUESS); an inactive one is disabled at once.
        if !user.active {
            self.set_enabled(&id, false).await?;
        }
        Ok(link(id, user))
    }

    async fn bring_up_to_date(
        &self,
        current: EloquaUser,
        user: &UserState,
        pushed_active: Option<bool>,
    ) -> Result<Link, ConnectorError> {
        let id = current
            .id
            .as_ref()
            .map(|id| id.to_string())
            .ok_or_else(|| unreadable("user", &format!("{current:?}")))?;
        let merged = EloquaUser {
            email_address: Some(user.email.clone()),
            first_name: Some(user.given_name.clone()),
            last_name: Some(user.family_name.clone()),
            ..current.clone()
        };
        let merged: EloquaUser = serde_json::from_value(with_fields(&merged, &user.fields, Empty::ClearHeld)?)
            .map_err(|e| ConnectorError::permanent(None, format!("the user with the mapped fields: {e}")))?;
        if merged != current {
            let response = self
                .call(Method::PUT, &format!("{USER}/{id}"), &[], Some(&merged))
                .await?;
            done(&response, "update user")?;
        }
        let enabled = match current.is_disabled.as_ref().and_then(wire::Flag::value) {
            Some(disabled) => Some(!disabled),
            None => pushed_active,
        };
        if enabled != Some(user.active) {
            self.set_enabled(&id, user.active).await?;
        }
        Ok(link(id, user))
    }

    /// The seed's call: `PUT …/system/user/{id}/enabled` with a JSON boolean. The answer's
    /// `"enabled":"True"` is a string; it is read leniently and must say what was asked.
    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), ConnectorError> {
        let url = format!("{USER}/{id}/enabled");
        let response = self.call(Method::PUT, &url, &[], Some(&Enable { enabled })).await?;
        done(&response, "enable user")?;
        // The answer is read leniently: a body that is not `{"enabled": …}` says nothing against it.
        let answer = serde_json::from_str::<Enabled>(&response.body).ok();
        match answer.and_then(|a| a.enabled) {
            Some(now) if now.value() == Some(!enabled) => Err(ConnectorError::permanent(
                Some(200),
                format!("asked for enabled = {enabled}, Eloqua answered {now}"),
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
            }) => self.find(email).await?.and_then(|u| u.id).map(|id| id.to_string()),
            _ => None,
        };
        if let Some(id) = id {
            let response = self
                .call(Method::DELETE, &format!("{USER}/{id}"), &[], None::<&()>)
                .await?;
            if response.status != 404 {
                done(&response, "delete user")?;
            }
        }
        Ok(Link::gone())
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
            return Err(ConnectorError::config(format!(
                "{url} refused the credentials (HTTP {}): check company, username and password",
                response.status
            )));
        }
        if !response.is_success() {
            return Err(classify(&response));
        }
        // "Not authenticated." comes back as a 200 string.
        serde_json::from_str::<Identity>(&response.body)
            .ok()
            .and_then(|identity| identity.urls?.base)
            .map(|base| (base.trim_end_matches('/').to_owned(), None))
            .ok_or_else(|| {
                ConnectorError::config(format!("{url} did not name the API base: {}", excerpt(&response.body)))
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
        body: Option<&impl Serialize>,
    ) -> Result<VendorResponse, ConnectorError> {
        let body = body.map(to_json).transpose()?;
        let send = |base: String| {
            let method = method.clone();
            let body = body.clone();
            async move {
                let url = reqwest::Url::parse_with_params(&format!("{base}{path}"), query)
                    .map_err(|e| ConnectorError::config(format!("bad API base {base}: {e}")))?;
                let mut request = self.authorized(self.client.request(method, url.as_str()));
                if let Some(json) = body {
                    request = request.header("Content-Type", "application/json").body(json);
                }
                self.client.send(request).await
            }
        };
        self.base
            .renewing(
                || self.api_base(),
                send,
                |r| r.status == 401,
                "401 Login required, also after discovering the API base again",
            )
            .await
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
        what: &str,
    ) -> Result<T, ConnectorError> {
        expect(&self.call(method, path, query, body).await?, what)
    }
}

/// A 2xx body as `T`. A 403 is "this service has not been enabled for your site" or a missing
/// ManageUsers permission: an operator must act.
fn expect<T: DeserializeOwned>(response: &VendorResponse, what: &str) -> Result<T, ConnectorError> {
    let words = |body: &str| Problems::describe(body).unwrap_or_else(|| excerpt(body));
    if response.status == 403 {
        return Err(ConnectorError::config(format!(
            "{what}: HTTP 403: {}",
            words(&response.body)
        )));
    }
    expect_json(response, what, words)
}

/// A 2xx answer whose body is not read (JSON or not); any other answer as `expect` sorts it.
fn done(response: &VendorResponse, what: &str) -> Result<(), ConnectorError> {
    if response.is_success() {
        return Ok(());
    }
    expect::<IgnoredAny>(response, what).map(drop)
}

fn link(id: String, user: &UserState) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: Some(id),
        remote_key: Some(user.email.clone()),
        pushed_hash: Some(user.fingerprint()),
        pushed_active: Some(user.active),
    }
}

#[cfg(test)]
mod tests;
