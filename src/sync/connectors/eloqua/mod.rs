//! Oracle Eloqua REST 2.0 (docs/vendors/eloqua.md): the seed call is `PUT
//! /api/REST/2.0/system/user/{id}/enabled`.
//!
//! HTTP Basic as `Company\User:password`. The API base (the instance's pod) is discovered through
//! `{login_url}/id` and cached; a 401 from the API discovers it again (the instance may have moved),
//! and a 401 from `/id` means the credentials are wrong. Users are found by e-mail and linked by
//! their integer id; every user is read before anything is decided (`read.rs`), and an update
//! merges into what was read and PUTs it whole (whether a partial PUT keeps the absent fields is
//! undocumented).
mod config;
mod groups;
mod read;
mod wire;

use crate::sync::answer::{classify, expect_json, to_json, unreadable};
use crate::sync::cache::Cached;
use crate::sync::client::{excerpt, VendorClient, VendorResponse};
use crate::sync::entitlements::{Entitlements, GrantKinds, GroupKey};
use crate::sync::grant_ids::GrantIds;
use crate::sync::mapping::{with_fields, Empty};
use crate::sync::reconcile::{NewUser as NewState, Removal, Rules, Step};
use crate::sync::vendor::{Applied, Applying, Observed, Vendor};
use crate::sync::{ConnectorError, Desired, Link, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
pub use wire::FIELDS;
use wire::{EloquaUser, Enable, Enabled, Identity, NewUser, Problems};

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
    /// The security groups the target's entitlement rules name, and their ids as listed.
    managed_groups: std::collections::BTreeSet<String>,
    groups: GrantIds,
}

impl Vendor for Eloqua {
    type Config = Config;
    type Record = EloquaUser;

    const KIND: &'static str = "eloqua";
    // A new user is enabled (GUESS); an inactive one is disabled right after.
    const RULES: Rules = Rules {
        removal: Removal::Delete,
        new_user: NewState::Active,
        password_field: None,
    };
    const FIELDS: &'static [crate::sync::mapping::FieldSpec] = &FIELDS;
    const GRANTS: GrantKinds = GrantKinds {
        groups: Some(GroupKey {
            key: "security_groups",
            noun: "security group",
        }),
        single: None,
    };
    const CHECKED: &'static str = "GET /id named the API base";

    fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        read::wanted(user)
    }

    async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Observed<EloquaUser>, ConnectorError> {
        self.read(desired, link).await
    }

    async fn apply(&self, step: &Step, at: Applying<'_, EloquaUser>) -> Result<Applied, ConnectorError> {
        if let (Step::Create, Some(user)) = (step, at.user) {
            return self.create(user).await;
        }
        let id = at.id.ok_or_else(|| unreadable("user", "(no id)"))?;
        match (step, at.held, at.user) {
            (Step::Update { .. }, Some(current), Some(user)) => {
                let response = self
                    .call(Method::PUT, &format!("{USER}/{id}"), &[], Some(&merged(current, user)?))
                    .await?;
                if response.status == 404 {
                    return Ok(Applied::Vanished(ConnectorError::permanent(
                        Some(404),
                        format!("update user {id}: no such user"),
                    )));
                }
                done(&response, "update user").map(|()| Applied::Done)
            }
            (Step::Activate | Step::Deactivate, _, _) => {
                self.set_enabled(id, *step == Step::Activate).await.map(|()| Applied::Done)
            }
            (Step::Entitle { add, remove, .. }, _, _) => self.entitle(id, add, remove).await.map(|()| Applied::Done),
            // `DELETE …/system/user/{id}`; 404 counts as done.
            (Step::Delete, _, _) => {
                let response = self
                    .call(Method::DELETE, &format!("{USER}/{id}"), &[], None::<&()>)
                    .await?;
                if response.status != 404 {
                    done(&response, "delete user")?;
                }
                Ok(Applied::Done)
            }
            _ => Err(ConnectorError::permanent(
                None,
                format!("{}: the user was not read", step.word()),
            )),
        }
    }

    /// The probe of `scim-bridge check`: `GET {login_url}/id`, and the security groups the
    /// entitlement rules name.
    async fn check(&self) -> Result<(), ConnectorError> {
        self.discover().await?;
        self.check_groups().await
    }

    async fn resolve_grants(&self) -> Result<(), ConnectorError> {
        self.check_groups().await
    }

    async fn vendor_users(&self) -> Result<Option<Vec<(String, String)>>, ConnectorError> {
        self.list().await.map(Some)
    }
}

impl Eloqua {
    pub fn new(settings: Settings, client: VendorClient, entitlements: &Entitlements) -> Self {
        Self {
            settings,
            client,
            base: Cached::default(),
            managed_groups: entitlements.managed_groups().clone(),
            groups: GrantIds::new("security group", "Eloqua"),
        }
    }

    /// `POST …/system/user`; a 409 is a user someone made meanwhile.
    async fn create(&self, user: &UserState) -> Result<Applied, ConnectorError> {
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
            return Ok(Applied::Taken(ConnectorError::permanent(
                Some(409),
                format!("create: 409 Conflict, yet no user has this e-mail: {}", excerpt(&response.body)),
            )));
        }
        let created: EloquaUser = expect(&response, "create user")?;
        created
            .id
            .map(|id| Applied::Id(id.to_string()))
            .ok_or_else(|| unreadable("create user", &response.body))
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
            return Err(ConnectorError::refused(format!(
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

/// The user with the IdP's attributes merged in (a mapped field SCIM holds nothing for is
/// cleared); everything else is kept as Eloqua has it (whether a partial PUT keeps absent fields
/// is undocumented).
fn merged(current: &EloquaUser, user: &UserState) -> Result<EloquaUser, ConnectorError> {
    let merged = EloquaUser {
        email_address: Some(user.email.clone()),
        first_name: Some(user.given_name.clone()),
        last_name: Some(user.family_name.clone()),
        ..current.clone()
    };
    serde_json::from_value(with_fields(&merged, &user.fields, Empty::ClearHeld)?)
        .map_err(|e| ConnectorError::permanent(None, format!("the user with the mapped fields: {e}")))
}

#[cfg(test)]
mod tests;
