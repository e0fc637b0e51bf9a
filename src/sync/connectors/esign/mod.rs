//! Constellation1 eSign REST v1 (docs/vendors/esign.md): the seed call is ProvisionUser. Every operation costs two calls: a fresh token from
//! `GET rest/v1/gettoken/{salt}` (the vendor says tokens live "very short"), then the call itself
//! with the token as a raw `Authorization` header and the salt repeated in the body.
//!
//! Users are keyed by their e-mail (the eSign username) and linked by `SystemUserId`; a linked user
//! is taken at the link's word (a read costs two calls), one without a link is looked up by
//! username first (`read.rs`). There is no delete API: a SCIM DELETE deactivates. Failures may come inside a 200 body (GUESS,
//! docs/vendors/esign.md): such a body is a failure, and "Invalid token" earns one new token and one retry.
mod config;
mod read;
mod wire;

use super::{random_password, segment};
use crate::sync::answer::{classify, to_json, unreadable};
use crate::sync::client::{excerpt, VendorClient, VendorResponse};
use crate::sync::mapping::Empty;
use crate::sync::reconcile::{NewUser, Removal, Rules, Step};
use crate::sync::vendor::{Applied, Applying, Observed, Vendor};
use crate::sync::{ConnectorError, Desired, Link, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
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

impl Vendor for Esign {
    type Config = Config;
    type Record = ();

    const KIND: &'static str = "esign";
    // No delete API; a new user's status is not documented (GUESS), so it is set right after.
    const RULES: Rules = Rules {
        removal: Removal::Deactivate,
        new_user: NewUser::Unknown,
        password_field: None,
    };
    const FIELDS: &'static [crate::sync::mapping::FieldSpec] = &FIELDS;
    const CHECKED: &'static str = "GET rest/v1/gettoken/{salt} gave a token";

    fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        read::wanted(user)
    }

    async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Observed<()>, ConnectorError> {
        self.read(desired, link).await
    }

    async fn apply(&self, step: &Step, at: Applying<'_, ()>) -> Result<Applied, ConnectorError> {
        if let (Step::Create, Some(user)) = (step, at.user) {
            return self.create(user).await;
        }
        let id = at.id.unwrap_or_default();
        let reply = match (step, at.user) {
            (Step::Update { .. }, Some(user)) => self.update(id, at.key, user).await?,
            (Step::Activate | Step::Deactivate, _) => self.provision(id, *step == Step::Activate).await?,
            _ => {
                return Err(ConnectorError::permanent(
                    None,
                    format!("eSign cannot {} a user", step.word()),
                ))
            }
        };
        Ok(match reply {
            Reply::Body(_) => Applied::Done,
            Reply::NotFound => Applied::Vanished(ConnectorError::permanent(
                None,
                format!("eSign has no user with SystemUserId {id}"),
            )),
        })
    }

    /// The connectivity probe of `scim-bridge check`: one token.
    async fn check(&self) -> Result<(), ConnectorError> {
        self.token().await.map(drop)
    }
}

impl Esign {
    pub fn new(settings: Settings, client: VendorClient) -> Self {
        Self { settings, client }
    }

    /// `POST rest/v1/users`. The password is a random one, encrypted as CreateUser wants it
    /// (`encryptedPassword`): the only way to encrypt is a call that carries the plaintext in its
    /// URL, harmless for a random password nobody uses, so IdP passwords are never forwarded
    /// (docs/vendors/esign.md).
    async fn create(&self, user: &UserState) -> Result<Applied, ConnectorError> {
        let password = self.encrypt(&random_password()).await?;
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
                .find_user(&user.email)
                .await?
                .and_then(|u| text_field(&u, "SystemUserId"))
                .ok_or_else(|| ConnectorError::permanent(None, "the created user cannot be found by its e-mail"))?,
        };
        Ok(Applied::Id(id))
    }

    /// Sends the names and mapped fields: a rename goes through the old username
    /// (UpdateUserByUsername); a user whose username is not known (linked by `link set`) gets
    /// ours by SystemUserId; else by SystemUserId alone.
    async fn update(&self, id: &str, key: Option<&str>, user: &UserState) -> Result<Reply, ConnectorError> {
        match key {
            Some(old) if !old.eq_ignore_ascii_case(&user.email) => {
                let body = UserRequest {
                    old_username: Some(old),
                    ..self.user_request(EsignUser {
                        username: Some(&user.email),
                        ..names(user)
                    })
                };
                let url = format!("{}rest/v1/users/updateByUsername", self.base());
                self.call(Method::PUT, &url, Some(&body)).await
            }
            None => {
                let body = self.user_request(EsignUser {
                    username: Some(&user.email),
                    system_user_id: Some(id),
                    ..names(user)
                });
                self.call(Method::PUT, &self.users_url(), Some(&body)).await
            }
            Some(_) => {
                let body = self.user_request(EsignUser {
                    system_user_id: Some(id),
                    ..names(user)
                });
                self.call(Method::PUT, &self.users_url(), Some(&body)).await
            }
        }
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

    /// `GET rest/v1/encrypt/{plainText}/{salt}` (EncryptString, no token): `plain` encrypted as
    /// the vendor decrypts it.
    async fn encrypt(&self, plain: &str) -> Result<String, ConnectorError> {
        let url = format!(
            "{}rest/v1/encrypt/{}/{}",
            self.base(),
            segment(plain),
            segment(self.settings.salt.expose())
        );
        let request = self.client.request(Method::GET, &url).header("Accept", "application/json");
        let body = match self.outcome(self.client.send(request).await?) {
            Ok(Reply::Body(body)) => body,
            Ok(Reply::NotFound) => return Err(ConnectorError::config("encrypt answered 404: is base_url the eSign host?")),
            Err(Failure::InvalidToken(detail)) => return Err(ConnectorError::refused(format!("encrypt: {detail}"))),
            Err(Failure::Other(e)) => return Err(e),
        };
        text_field(&body, "ReturnValue")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unreadable("encrypt", "(no ReturnValue)"))
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
            Err(Failure::InvalidToken(detail)) => return Err(ConnectorError::refused(format!("gettoken: {detail}"))),
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
        Err(ConnectorError::refused(format!(
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
        // GUESS (docs/vendors/esign.md): GetUserByUsername's "no such user" is undocumented; these
        // are the phrasings the API and its legacy SOAP twin use. Any other failure parks the row
        // with the vendor's words: nothing is created on a failure read as "absent" by mistake.
        let missing = [
            "doesn't exist",
            "does not exist",
            "not exist",
            "not found",
            "no user",
            "no such user",
            "unknown user",
            "no record",
        ];
        if response.status == 404 || missing.iter().any(|m| lower.contains(m)) {
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
