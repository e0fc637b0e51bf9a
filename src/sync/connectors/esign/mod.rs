//! Constellation1 eSign REST v1 (docs/vendors/esign.md): the seed call is ProvisionUser. Every operation costs two calls: a fresh token from
//! `GET rest/v1/gettoken/{salt}` (the vendor says tokens live "very short"), then the call itself
//! with the token as a raw `Authorization` header and the salt repeated in the body.
//!
//! Users are keyed by their e-mail (the eSign username) and linked by `SystemUserId`. There is no
//! delete API: a SCIM DELETE deactivates. Failures may come inside a 200 body (GUESS,
//! docs/vendors/esign.md): such a body is a failure, and "Invalid token" earns one new token and one retry.
mod config;
mod plan;
mod wire;

use super::{random_password, segment};
use crate::sync::answer::{classify, to_json, unreadable};
use crate::sync::client::{excerpt, VendorClient, VendorResponse};
use crate::sync::mapping::Empty;
use crate::sync::{ConnectorError, Desired, Link, LinkState, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
pub use wire::FIELDS;
use wire::{failure_text, text_field, users, EsignUser, Provision, UserRequest};

/// What a `kind = "esign"` target needs at run time (built from its `Config`).
#[derive(Clone)]
pub struct Settings {
    pub target: String,
    /// The host; calls go to `{base_url}rest/v1/...`.
    pub base_url: String,
    /// The API key as the vendor encrypted it (configured once, already encrypted: docs/vendors/esign.md).
    pub api_key: Secret,
    pub salt: Secret,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("target", &self.target)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

pub struct Esign {
    settings: Settings,
    client: VendorClient,
}

/// A successful answer, or the vendor's "no such user".
enum Reply {
    Body(Value),
    NotFound,
}

/// How a vendor answer failed, before it becomes a `ConnectorError`.
enum Failure {
    InvalidToken(String),
    Other(ConnectorError),
}

impl Esign {
    pub fn new(settings: Settings, client: VendorClient) -> Self {
        Self { settings, client }
    }

    /// Makes the vendor hold `desired`, given what `link` says it holds; returns the new link.
    pub async fn reconcile(&self, desired: &Desired, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let link = link.filter(|l| l.state != LinkState::Gone);
        let Desired::Present(user) = desired else {
            return self.deactivate_for_delete(link).await;
        };
        let link = match link {
            Some(l) if l.state == LinkState::Linked && l.remote_id.is_some() => l.clone(),
            // New, or a create whose outcome is unknown: the vendor asks to look the e-mail up first.
            _ => match self.find_any(&Link::lookup_keys(link, &user.email)).await? {
                Some((id, key)) => adopted(id, key),
                None => return self.create(user).await,
            },
        };
        match self.bring_up_to_date(link, user).await? {
            Some(link) => Ok(link),
            // The SystemUserId is unknown to the vendor (an operator's `link set` typo, or a vendor-side
            // reset): find the user by e-mail, or create it.
            None => match self.find(&user.email).await? {
                Some(id) => self
                    .bring_up_to_date(adopted(id, &user.email), user)
                    .await?
                    .ok_or_else(|| ConnectorError::permanent(None, "the user vanished while it was being updated")),
                None => self.create(user).await,
            },
        }
    }

    /// The first of `keys` the vendor has a user for, with its SystemUserId.
    async fn find_any<'k>(&self, keys: &[&'k str]) -> Result<Option<(String, &'k str)>, ConnectorError> {
        for key in keys {
            if let Some(id) = self.find(key).await? {
                return Ok(Some((id, key)));
            }
        }
        Ok(None)
    }

    /// The connectivity probe of `scim-bridge check`: one token.
    pub async fn check(&self) -> Result<(), ConnectorError> {
        self.token().await.map(drop)
    }

    /// `GET rest/v1/users?username={e-mail}`: the SystemUserId, if the vendor has the user.
    async fn find(&self, email: &str) -> Result<Option<String>, ConnectorError> {
        Ok(self
            .find_user(email)
            .await?
            .and_then(|u| text_field(&u, "SystemUserId")))
    }

    /// `GET rest/v1/users?username={e-mail}`: the user as the vendor answers it.
    async fn find_user(&self, email: &str) -> Result<Option<Value>, ConnectorError> {
        let url = format!("{}rest/v1/users?username={}", self.base(), segment(email));
        let Reply::Body(body) = self.call(Method::GET, &url, None::<&()>).await? else {
            return Ok(None);
        };
        let same_user = |u: &Value| text_field(u, "Username").is_none_or(|name| name.eq_ignore_ascii_case(email));
        Ok(users(&body).into_iter().find(same_user))
    }

    /// `POST rest/v1/users`, then `provisionUser` with the wanted status. The password is a random
    /// one: the vendor wants it encrypted, and the only way to encrypt is a call that carries the
    /// plaintext in its URL, so IdP passwords are not forwarded (docs/vendors/esign.md).
    async fn create(&self, user: &UserState) -> Result<Link, ConnectorError> {
        let password = random_password();
        let body = self.user_request(EsignUser {
            username: Some(&user.email),
            password: Some(&password),
            mapped: user.fields.to_object(Empty::Omit),
            ..names(user)
        });
        let url = format!("{}rest/v1/users", self.base());
        let Reply::Body(answer) = self.call(Method::POST, &url, Some(&body)).await? else {
            return Err(ConnectorError::permanent(
                None,
                "create answered that the user does not exist",
            ));
        };
        // GUESS (docs/vendors/esign.md): the new user comes back in `Users` with its SystemUserId; when it
        // does not, the e-mail finds it.
        let id = match users(&answer).first().and_then(|u| text_field(u, "SystemUserId")) {
            Some(id) => id,
            None => self
                .find(&user.email)
                .await?
                .ok_or_else(|| ConnectorError::permanent(None, "the created user cannot be found by its e-mail"))?,
        };
        let mut link = adopted(id, &user.email);
        link.pushed_hash = Some(user.fingerprint());
        // GUESS: a new user's status is not documented, so it is set explicitly once.
        self.bring_up_to_date(link, user)
            .await?
            .ok_or_else(|| ConnectorError::permanent(None, "the created user does not exist"))
    }

    /// Pushes what differs from the link. `None`: the vendor does not know the SystemUserId.
    async fn bring_up_to_date(&self, mut link: Link, user: &UserState) -> Result<Option<Link>, ConnectorError> {
        let id = link.remote_id.clone().unwrap_or_default();
        let hash = user.fingerprint();
        if link.pushed_hash.as_deref() != Some(hash.as_str()) {
            let reply = match link.remote_key.as_deref() {
                // A rename goes through the old username (UpdateUserByUsername).
                Some(old) if !old.eq_ignore_ascii_case(&user.email) => {
                    let body = UserRequest {
                        old_username: Some(old),
                        ..self.user_request(EsignUser {
                            username: Some(&user.email),
                            ..names(user)
                        })
                    };
                    let url = format!("{}rest/v1/users/updateByUsername", self.base());
                    self.call(Method::PUT, &url, Some(&body)).await?
                }
                // An adopted user (`link set`) may carry another username: send ours by SystemUserId.
                None => {
                    let body = self.user_request(EsignUser {
                        username: Some(&user.email),
                        system_user_id: Some(&id),
                        ..names(user)
                    });
                    self.call(Method::PUT, &self.users_url(), Some(&body)).await?
                }
                Some(_) => {
                    let body = self.user_request(EsignUser {
                        system_user_id: Some(&id),
                        ..names(user)
                    });
                    self.call(Method::PUT, &self.users_url(), Some(&body)).await?
                }
            };
            if let Reply::NotFound = reply {
                return Ok(None);
            }
            link.remote_key = Some(user.email.clone());
            link.pushed_hash = Some(hash);
        }
        if link.pushed_active != Some(user.active) {
            if let Reply::NotFound = self.provision(&id, user.active).await? {
                return Ok(None);
            }
            link.pushed_active = Some(user.active);
        }
        Ok(Some(link))
    }

    /// No delete API: a deleted user is deactivated, and the link is done with.
    async fn deactivate_for_delete(&self, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let id = match link {
            Some(Link {
                remote_id: Some(id), ..
            }) => Some(id.clone()),
            Some(Link {
                remote_key: Some(key), ..
            }) => self.find(key).await?,
            _ => None,
        };
        if let Some(id) = id {
            self.provision(&id, false).await?;
        }
        Ok(Link::gone())
    }

    /// The seed's call: `PUT rest/v1/users/provisionUser` with `userStatus` 1 (active) or 0 (GUESS:
    /// the seed shows only 1).
    async fn provision(&self, id: &str, active: bool) -> Result<Reply, ConnectorError> {
        let body = Provision {
            system_user_id: id,
            user_status: u8::from(active),
            salt: self.settings.salt.expose(),
        };
        let url = format!("{}rest/v1/users/provisionUser", self.base());
        self.call(Method::PUT, &url, Some(&body)).await
    }

    fn user_request<'a>(&'a self, user: EsignUser<'a>) -> UserRequest<'a> {
        UserRequest {
            user,
            old_username: None,
            salt: self.settings.salt.expose(),
        }
    }

    fn base(&self) -> String {
        format!("{}/", self.settings.base_url.trim_end_matches('/'))
    }

    fn users_url(&self) -> String {
        format!("{}rest/v1/users", self.base())
    }

    /// `GET rest/v1/gettoken/{salt}` with the encrypted API key: the token for one call.
    async fn token(&self) -> Result<Secret, ConnectorError> {
        let url = format!(
            "{}rest/v1/gettoken/{}",
            self.base(),
            segment(self.settings.salt.expose())
        );
        let request = self
            .client
            .request(Method::GET, &url)
            .header("Authorization", self.settings.api_key.expose())
            .header("Accept", "application/json");
        let response = self.client.send(request).await?;
        let body = match self.outcome(response) {
            Ok(Reply::Body(body)) => body,
            Ok(Reply::NotFound) => {
                return Err(ConnectorError::config(
                    "gettoken answered 404: is base_url the eSign host?",
                ))
            }
            Err(Failure::InvalidToken(detail)) => return Err(ConnectorError::config(format!("gettoken: {detail}"))),
            Err(Failure::Other(e)) => return Err(e),
        };
        match text_field(&body, "ReturnValue").filter(|t| !t.is_empty()) {
            Some(token) => Ok(Secret::new(token)),
            None => Err(unreadable("gettoken", &body.to_string())),
        }
    }

    /// One operation: a fresh token, the call, and one more token and call if the vendor says
    /// "Invalid token".
    async fn call(&self, method: Method, url: &str, body: Option<&impl Serialize>) -> Result<Reply, ConnectorError> {
        let body = body.map(to_json).transpose()?;
        let mut refused = String::new();
        for _ in 0..2 {
            let token = self.token().await?;
            let mut request = self
                .client
                .request(method.clone(), url)
                .header("Authorization", token.expose())
                .header("Accept", "application/json");
            if let Some(json) = &body {
                request = request.header("Content-Type", "application/json").body(json.clone());
            }
            match self.outcome(self.client.send(request).await?) {
                Ok(reply) => return Ok(reply),
                Err(Failure::InvalidToken(detail)) => refused = detail,
                Err(Failure::Other(e)) => return Err(e),
            }
        }
        Err(ConnectorError::auth(format!(
            "a fresh token was refused twice: {refused}"
        )))
    }

    /// Sorts an answer: a 2xx is a failure when its body says so (an `Error: …` text or a false flag).
    fn outcome(&self, response: VendorResponse) -> Result<Reply, Failure> {
        let body: Value = serde_json::from_str(&response.body).unwrap_or_else(|_| Value::String(response.body.clone()));
        let failure = if response.is_success() {
            match failure_text(&body) {
                Some(text) => text,
                None => return Ok(Reply::Body(body)),
            }
        } else {
            failure_text(&body).unwrap_or_else(|| format!("HTTP {}: {}", response.status, excerpt(&response.body)))
        };
        let lower = failure.to_ascii_lowercase();
        if response.status == 401 || lower.contains("invalid token") || lower.contains("bad token") {
            return Err(Failure::InvalidToken(failure));
        }
        if lower.contains("invalid api key") {
            return Err(Failure::Other(ConnectorError::config(format!(
                "the API key was refused: {failure}"
            ))));
        }
        if response.status == 404 || lower.contains("doesn't exist") || lower.contains("does not exist") {
            return Ok(Reply::NotFound);
        }
        if !response.is_success() {
            return Err(Failure::Other(classify(&response)));
        }
        Err(Failure::Other(ConnectorError::permanent(
            Some(response.status),
            failure,
        )))
    }
}

/// A link to a vendor user found (or made) by e-mail, with nothing known about what it holds.
fn adopted(id: String, email: &str) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: Some(id),
        remote_key: Some(email.to_owned()),
        pushed_hash: None,
        pushed_active: None,
    }
}

/// A request's user with the IdP's names and mapped fields (an empty one clears it).
pub(super) fn names(user: &UserState) -> EsignUser<'_> {
    EsignUser {
        first_name: &user.given_name,
        last_name: &user.family_name,
        username: None,
        password: None,
        system_user_id: None,
        mapped: user.fields.to_object(Empty::Clear),
    }
}

#[cfg(test)]
mod tests;
