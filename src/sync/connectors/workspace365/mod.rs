//! Workspace365 Provisioning API v2.52 (docs/vendors/workspace365.md). Users are keyed by e-mail in the path (trailing
//! slashes as documented); create answers the vendor's integer id. Every request carries
//! `ProvisioningKey` and `X-Requested-With: XMLHttpRequest`.
mod config;
mod plan;

use super::{random_password, segment};
use crate::sync::answer::{classify, to_json};
use crate::sync::client::{excerpt, VendorClient, VendorResponse};
use crate::sync::{ConnectorError, Desired, Link, LinkState, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a `kind = "workspace365"` target needs at run time (built from its `Config`).
#[derive(Clone)]
pub struct Settings {
    /// The target's name, for errors and logs.
    pub target: String,
    /// Ends in `/Provisioning`.
    pub base_url: String,
    pub environment: String,
    pub provisioning_key: Secret,
    pub create_in_office365: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("target", &self.target)
            .field("base_url", &self.base_url)
            .field("environment", &self.environment)
            .field("provisioning_key", &self.provisioning_key)
            .finish_non_exhaustive()
    }
}

/// The seed's User body; field order as in its examples. `Password` is left out of updates when
/// there is none to deliver (docs/vendors/workspace365.md: never send a placeholder).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UserBody<'a> {
    email_address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    first_name: &'a str,
    last_name: &'a str,
    is_administrator: bool,
    #[serde(rename = "CreateInOffice365", skip_serializing_if = "Option::is_none")]
    create_in_office365: Option<bool>,
}

/// A .NET `ValidationResult` as the 400 answers carry it (GUESS, docs/vendors/workspace365.md: parsed leniently).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ValidationResult {
    #[serde(default)]
    member_names: Vec<String>,
    #[serde(default)]
    error_message: Option<String>,
}

pub struct Workspace365 {
    settings: Settings,
    client: VendorClient,
}

/// A call's outcome where "the user is not there" needs handling of its own.
enum Answer {
    Done,
    NotFound,
}

impl Workspace365 {
    pub fn new(settings: Settings, client: VendorClient) -> Self {
        Self { settings, client }
    }

    /// Makes the vendor hold `desired`, given what `link` says it holds; returns the new link.
    pub async fn reconcile(&self, desired: &Desired, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let link = link.filter(|l| l.state != LinkState::Gone);
        let Desired::Present(user) = desired else {
            return match link.and_then(|l| l.remote_key.as_deref()) {
                Some(email) => self.delete(email).await,
                None => Ok(Link::gone()),
            };
        };
        let link = match link {
            Some(l) if l.state == LinkState::Creating => self.adopt_if_present(l, user).await?,
            other => other.cloned(),
        };
        match link {
            None => self.create_or_adopt(user).await,
            Some(link) => {
                let renamed = link.remote_key.as_deref().is_some_and(|k| k != user.email);
                if let Some(link) = self.bring_up_to_date(link, user).await? {
                    return Ok(link);
                }
                // The old e-mail is unknown there. After a rename whose answer was lost, the record
                // is already under the new e-mail: it is looked up before anything is created.
                if renamed {
                    if let Some(found) = self.adopt_if_present(&Link::creating(&user.email), user).await? {
                        if let Some(link) = self.bring_up_to_date(found, user).await? {
                            return Ok(link);
                        }
                    }
                }
                // The vendor no longer has the user (deleted there): create it again.
                self.create_or_adopt(user).await
            }
        }
    }

    /// Creates the user; if the vendor refuses because the e-mail is taken (a deleted user with the
    /// same e-mail that the vendor has not heard of yet, docs/vendors/workspace365.md: Validate "after an
    /// ambiguous create failure"), that record is looked up and becomes this user's.
    async fn create_or_adopt(&self, user: &UserState) -> Result<Link, ConnectorError> {
        let refused = match self.create(user).await {
            Err(e @ ConnectorError::Permanent { status: Some(400), .. }) => e,
            other => return other,
        };
        let Some(found) = self.adopt_if_present(&Link::creating(&user.email), user).await? else {
            return Err(refused);
        };
        self.bring_up_to_date(found, user).await?.ok_or(refused)
    }

    /// The connectivity probe of `scim-bridge check`: `GET /Environment/` (read-only).
    pub async fn check(&self) -> Result<(), ConnectorError> {
        let response = self
            .call(Method::GET, &format!("{}/Environment/", self.base()), None)
            .await?;
        self.expect_success(response).map(drop)
    }

    fn base(&self) -> &str {
        self.settings.base_url.trim_end_matches('/')
    }

    fn user_url(&self, email: &str, suffix: &str) -> String {
        format!(
            "{}/{}/User/{}/{suffix}",
            self.base(),
            segment(&self.settings.environment),
            segment(email)
        )
    }

    /// After a create whose outcome is unknown, the user is looked up before creating again. There is
    /// no "get user": `PUT …/User/{email}/Validate/` is the non-mutating probe, 404 meaning absent
    /// (GUESS, docs/vendors/workspace365.md).
    pub(super) async fn adopt_if_present(&self, link: &Link, user: &UserState) -> Result<Option<Link>, ConnectorError> {
        let email = link.remote_key.as_deref().unwrap_or(&user.email);
        let body = body_json(&UserBody {
            create_in_office365: None,
            password: None,
            ..self.body(user)
        })?;
        match self
            .answer(Method::PUT, &self.user_url(email, "Validate/"), Some(body))
            .await?
        {
            Answer::NotFound => Ok(None),
            Answer::Done => Ok(Some(Link {
                state: LinkState::Linked,
                remote_id: link.remote_id.clone(),
                remote_key: Some(email.to_owned()),
                pushed_hash: None,
                pushed_active: None,
            })),
        }
    }

    /// `POST /{Env}/User/`, then `Deactivate/` if the user is inactive. The answer is the integer id.
    async fn create(&self, user: &UserState) -> Result<Link, ConnectorError> {
        // The IdP's password when it sent one, else a strong random one nobody knows (the user then
        // signs in through single sign-on or resets it).
        let random;
        let password = match &user.password {
            Some(p) => p.expose(),
            None => {
                random = random_password();
                &random
            }
        };
        let body = UserBody {
            password: Some(password),
            create_in_office365: Some(self.settings.create_in_office365),
            ..self.body(user)
        };
        let url = format!("{}/{}/User/", self.base(), segment(&self.settings.environment));
        let response = self.call(Method::POST, &url, Some(body_json(&body)?)).await?;
        let response = self.expect_success(response)?;
        let remote_id = response.body.trim().trim_matches('"').to_owned();
        // GUESS (the seed is silent): a new user is active.
        let mut link = Link {
            state: LinkState::Linked,
            remote_id: (!remote_id.is_empty()).then_some(remote_id),
            remote_key: Some(user.email.clone()),
            pushed_hash: Some(user.fingerprint()),
            pushed_active: Some(true),
        };
        if !user.active {
            self.set_active(&user.email, false).await?;
            link.pushed_active = Some(false);
        }
        Ok(link)
    }

    /// Updates what differs. `None` when the vendor answers 404: it no longer has the user.
    async fn bring_up_to_date(&self, mut link: Link, user: &UserState) -> Result<Option<Link>, ConnectorError> {
        let key = link.remote_key.clone().unwrap_or_else(|| user.email.clone());
        let hash = user.fingerprint();
        // An e-mail change goes through the old e-mail, which is the path key (GUESS, docs/vendors/workspace365.md).
        if key != user.email || link.pushed_hash.as_deref() != Some(hash.as_str()) || user.password.is_some() {
            let password = user.password.as_ref().map(Secret::expose);
            let body = body_json(&UserBody {
                password,
                create_in_office365: None,
                ..self.body(user)
            })?;
            if let Answer::NotFound = self.answer(Method::PUT, &self.user_url(&key, ""), Some(body)).await? {
                return Ok(None);
            }
            link.remote_key = Some(user.email.clone());
            link.pushed_hash = Some(hash);
        }
        if link.pushed_active != Some(user.active) {
            if let Answer::NotFound = self.set_active(&user.email, user.active).await? {
                return Ok(None);
            }
            link.pushed_active = Some(user.active);
        }
        link.state = LinkState::Linked;
        Ok(Some(link))
    }

    /// `PUT …/Activate/` or `…/Deactivate/`, with no body and `Content-Length: 0` (else 411).
    async fn set_active(&self, email: &str, active: bool) -> Result<Answer, ConnectorError> {
        let suffix = if active { "Activate/" } else { "Deactivate/" };
        self.answer(Method::PUT, &self.user_url(email, suffix), None).await
    }

    /// `DELETE /{Env}/User/{email}/`; 404 counts as done.
    async fn delete(&self, email: &str) -> Result<Link, ConnectorError> {
        self.answer(Method::DELETE, &self.user_url(email, ""), None).await?;
        Ok(Link::gone())
    }

    pub(super) fn body<'a>(&self, user: &'a UserState) -> UserBody<'a> {
        UserBody {
            email_address: &user.email,
            password: None,
            first_name: &user.given_name,
            last_name: &user.family_name,
            is_administrator: user.is_administrator,
            create_in_office365: None,
        }
    }

    async fn answer(&self, method: Method, url: &str, body: Option<String>) -> Result<Answer, ConnectorError> {
        let response = self.call(method, url, body).await?;
        if response.status == 404 {
            return Ok(Answer::NotFound);
        }
        self.expect_success(response).map(|_| Answer::Done)
    }

    async fn call(&self, method: Method, url: &str, body: Option<String>) -> Result<VendorResponse, ConnectorError> {
        let mut request = self
            .client
            .request(method, url)
            .header("ProvisioningKey", self.settings.provisioning_key.expose())
            .header("X-Requested-With", "XMLHttpRequest")
            .header("Accept", "application/json");
        request = match body {
            Some(json) => request.header("Content-Type", "application/json").body(json),
            // Activate/Deactivate answer 411 without an explicit zero length (seed).
            None => request.header("Content-Length", "0").body(Vec::new()),
        };
        self.client.send(request).await
    }

    fn expect_success(&self, response: VendorResponse) -> Result<VendorResponse, ConnectorError> {
        match response.status {
            200..=299 => Ok(response),
            400 => Err(ConnectorError::permanent(Some(400), validation_text(&response.body))),
            // The key is empty or wrong, or the API is disabled (seed): an operator must act.
            403 => Err(ConnectorError::config(format!(
                "ProvisioningKey refused or Provisioning API disabled: {}",
                excerpt(&response.body)
            ))),
            411 => Err(ConnectorError::permanent(
                Some(411),
                "411: Content-Length: 0 was missing",
            )),
            _ => Err(classify(&response)),
        }
    }
}

fn body_json(body: &UserBody<'_>) -> Result<String, ConnectorError> {
    to_json(body)
}

/// A 400's `[ValidationResult]` as one readable line, e.g. `EmailAddress: The e-mail is in use`.
fn validation_text(body: &str) -> String {
    match serde_json::from_str::<Vec<ValidationResult>>(body) {
        Ok(results) if !results.is_empty() => results
            .iter()
            .map(|r| {
                let message = r.error_message.as_deref().unwrap_or("invalid");
                if r.member_names.is_empty() {
                    message.to_owned()
                } else {
                    format!("{}: {message}", r.member_names.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => format!("HTTP 400: {}", excerpt(body)),
    }
}

#[cfg(test)]
mod tests;
