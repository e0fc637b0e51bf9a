//! Workspace365 Provisioning API v2.52 (docs/vendors/workspace365.md). Users are keyed by e-mail in
//! the path (trailing slashes as documented); create answers the vendor's integer id. Every
//! request carries `ProvisioningKey` and `X-Requested-With: XMLHttpRequest`.
//!
//! There is no read API: a user's fields and state cannot be read. A linked user is taken at the
//! link's word (`Observed::AsLinked`); a user without a link is looked for with the documented dry
//! run, `PUT …/User/{email}/Validate/` (GUESS: 200 = exists, 404 = absent), before anything is
//! created, so a user an administrator made in the portal is adopted, never created twice.
mod config;

use super::{random_password, segment};
use crate::sync::answer::{classify, to_json};
use crate::sync::client::{excerpt, VendorClient, VendorResponse};
use crate::sync::entitlements::{GrantKinds, Single};
use crate::sync::reconcile::{fields_of, NewUser, Removal, Rules, Step};
use crate::sync::vendor::{Applied, Applying, Held, Observed, Vendor};
use crate::sync::{ConnectorError, Desired, Link, LinkState, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Only when the target maps it: there is no read API, so a flag an administrator set in the
    /// portal cannot be seen, and sending `false` would demote them at every push.
    #[serde(skip_serializing_if = "Option::is_none")]
    is_administrator: Option<bool>,
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

/// `IsAdministrator` is written only when `[target.mapping]` points it at a SCIM value (`true` or
/// `false`, any case; e.g. a boolean extension attribute). Unmapped, it is left out of creates
/// and updates. GUESS (docs/vendors/workspace365.md): the API then keeps the portal's value on an
/// update and makes a new user no administrator.
pub static FIELDS: [crate::sync::mapping::FieldSpec; 1] =
    [crate::sync::mapping::FieldSpec::new("IsAdministrator", None, None)];

/// The fields an update writes, as `wanted` names them.
const WRITTEN: [&str; 4] = ["EmailAddress", "FirstName", "LastName", "IsAdministrator"];

pub struct Workspace365 {
    settings: Settings,
    client: VendorClient,
    /// Set once `GET /Environment/` has listed the configured environment (`confirm_environment`).
    environment_listed: tokio::sync::OnceCell<()>,
}

/// A call's outcome where "the user is not there" needs handling of its own.
enum Answer {
    Done,
    NotFound,
}

impl Vendor for Workspace365 {
    type Config = Config;
    type Record = ();

    const KIND: &'static str = "workspace365";
    // GUESS (the seed is silent): a new user is active.
    const RULES: Rules = Rules {
        removal: Removal::Delete,
        new_user: NewUser::Active,
        password_field: Some("Password"),
    };
    const FIELDS: &'static [crate::sync::mapping::FieldSpec] = &FIELDS;
    // Rules make members of a group administrators; where the bridge made someone one, leaving
    // every such group sets the flag back to false (docs/vendors/workspace365.md).
    const GRANTS: GrantKinds = GrantKinds {
        groups: None,
        single: Some(Single {
            key: "administrator",
            field: "IsAdministrator",
            clears: true,
            admin: true,
        }),
    };
    const TAKES_PASSWORDS: bool = true;
    const CHECKED: &'static str = "GET /Environment/ lists the environment";

    /// A mapped `IsAdministrator` must be `true` or `false`.
    fn refuse(&self, user: &UserState) -> Result<(), ConnectorError> {
        match user.fields.get("IsAdministrator") {
            Some(_) if administrator(user).is_none() => Err(ConnectorError::permanent(
                None,
                "IsAdministrator: the SCIM value it is mapped to must be true or false",
            )),
            _ => Ok(()),
        }
    }

    fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        let value = serde_json::to_value(self.body(user)).unwrap_or_default();
        let mut wanted = fields_of(&value, WRITTEN.map(str::to_owned));
        // Clearing the flag sends `false`; decide sees it as the clearing it is.
        if user.fields.get_raw("IsAdministrator") == Some("") {
            wanted.insert("IsAdministrator".to_owned(), String::new());
        }
        wanted
    }

    async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Observed<()>, ConnectorError> {
        let user = match desired {
            Desired::Present(user) => user,
            // A removal goes to the key the link records; a 404 there counts as done.
            Desired::Retired | Desired::Absent => {
                return Ok(match link.and_then(|l| l.remote_key.as_deref()) {
                    Some(_) => Observed::AsLinked,
                    None => Observed::Nothing,
                })
            }
        };
        if link.is_some_and(|l| l.state == LinkState::Linked) {
            return Ok(Observed::AsLinked);
        }
        for key in Link::lookup_keys(link, &user.email) {
            if self.exists(key, user).await? {
                let id = link.and_then(|l| l.remote_id.clone());
                return Ok(Observed::Found(Held::unread(id, key.to_owned(), ())));
            }
        }
        Ok(Observed::Nothing)
    }

    async fn apply(&self, step: &Step, at: Applying<'_, ()>) -> Result<Applied, ConnectorError> {
        let key = match (at.key, at.user) {
            (Some(key), _) => key,
            (None, Some(user)) => user.email.as_str(),
            (None, None) => return Ok(Applied::Done),
        };
        match (step, at.user) {
            (Step::Create, Some(user)) => self.create(user).await,
            (Step::Update { .. }, Some(user)) => {
                let body = to_json(&UserBody {
                    password: user.password.as_ref().map(Secret::expose),
                    create_in_office365: None,
                    ..self.body(user)
                })?;
                // An e-mail change goes through the old e-mail, which is the path key (GUESS,
                // docs/vendors/workspace365.md).
                let answer = self.answer(Method::PUT, &self.user_url(key, ""), Some(body)).await?;
                Ok(vanished_if_missing(answer, key))
            }
            (Step::Activate | Step::Deactivate, _) => {
                let suffix = if *step == Step::Activate { "Activate/" } else { "Deactivate/" };
                let answer = self.answer(Method::PUT, &self.user_url(key, suffix), None).await?;
                Ok(vanished_if_missing(answer, key))
            }
            // `DELETE /{Env}/User/{email}/`; 404 counts as done.
            (Step::Delete, _) => {
                self.answer(Method::DELETE, &self.user_url(key, ""), None).await?;
                Ok(Applied::Done)
            }
            _ => Err(ConnectorError::permanent(None, format!("{} has no user to send", step.word()))),
        }
    }

    /// The connectivity probe of `scim-bridge check`: `GET /Environment/` (read-only), which must
    /// list the configured environment.
    async fn check(&self) -> Result<(), ConnectorError> {
        self.confirm_environment().await
    }
}

/// A 404 on a record the link promised: it is not there any more.
fn vanished_if_missing(answer: Answer, key: &str) -> Applied {
    match answer {
        Answer::Done => Applied::Done,
        Answer::NotFound => Applied::Vanished(ConnectorError::permanent(
            Some(404),
            format!("Workspace365 has no user {key}"),
        )),
    }
}

impl Workspace365 {
    pub fn new(settings: Settings, client: VendorClient) -> Self {
        Self {
            settings,
            client,
            environment_listed: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether the API lists the configured environment (`GET /Environment/`), asked once and
    /// remembered when it does. Every 404 is "the resource is not found", whether the user or the
    /// environment is missing; so a 404 counts as "no such user" only once the environment is
    /// known to exist, and a typo in `environment` fails loudly instead of deletes that "succeed"
    /// doing nothing. GUESS (docs/vendors/workspace365.md): the answer names each environment as a
    /// string somewhere in its JSON.
    async fn confirm_environment(&self) -> Result<(), ConnectorError> {
        self.environment_listed
            .get_or_try_init(|| async {
                let response = self
                    .call(Method::GET, &format!("{}/Environment/", self.base()), None)
                    .await?;
                let response = self.expect_success(response)?;
                let listed = serde_json::from_str::<serde_json::Value>(&response.body)
                    .map(|v| names_in(&v))
                    .unwrap_or_default();
                if listed.iter().any(|n| n.eq_ignore_ascii_case(&self.settings.environment)) {
                    return Ok(());
                }
                Err(ConnectorError::config(format!(
                    "environment '{}' is not one the Provisioning API lists ({}): check `environment`",
                    self.settings.environment,
                    if listed.is_empty() { "none read".to_owned() } else { listed.join(", ") }
                )))
            })
            .await?;
        Ok(())
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

    /// The documented dry run of an update, `PUT …/User/{email}/Validate/`, as an existence probe
    /// (GUESS, docs/vendors/workspace365.md: 404 = absent). It writes nothing.
    async fn exists(&self, email: &str, user: &UserState) -> Result<bool, ConnectorError> {
        let body = to_json(&UserBody {
            create_in_office365: None,
            password: None,
            ..self.body(user)
        })?;
        let answer = self
            .answer(Method::PUT, &self.user_url(email, "Validate/"), Some(body))
            .await?;
        Ok(matches!(answer, Answer::Done))
    }

    /// `POST /{Env}/User/`: the answer is the integer id. The password is the IdP's when it sent
    /// one, else a strong random one nobody knows (the user then signs in through single sign-on
    /// or resets it). A 400 naming `EmailAddress` is a user made meanwhile (GUESS).
    async fn create(&self, user: &UserState) -> Result<Applied, ConnectorError> {
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
        let response = self.call(Method::POST, &url, Some(to_json(&body)?)).await?;
        if response.status == 400 && names_the_email(&response.body) {
            return Ok(Applied::Taken(ConnectorError::permanent(
                Some(400),
                validation_text(&response.body),
            )));
        }
        let response = self.expect_success(response)?;
        let id = response.body.trim().trim_matches('"').to_owned();
        Ok(if id.is_empty() { Applied::Done } else { Applied::Id(id) })
    }

    pub(super) fn body<'a>(&self, user: &'a UserState) -> UserBody<'a> {
        UserBody {
            email_address: &user.email,
            password: None,
            first_name: &user.given_name,
            last_name: &user.family_name,
            is_administrator: administrator(user),
            create_in_office365: None,
        }
    }

    async fn answer(&self, method: Method, url: &str, body: Option<String>) -> Result<Answer, ConnectorError> {
        let response = self.call(method, url, body).await?;
        if response.status == 404 {
            self.confirm_environment().await?;
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
            403 => Err(ConnectorError::refused(format!(
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

/// Every string in an answer (the environments' names, whatever the shape around them).
fn names_in(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items.iter().flat_map(names_in).collect(),
        serde_json::Value::Object(table) => table.values().flat_map(names_in).collect(),
        _ => Vec::new(),
    }
}

/// The mapped `IsAdministrator`, when the target maps it (or rules set it) and SCIM holds `true`
/// or `false`. Empty, it is there only where the bridge set it before (`decide::as_sent`): it is
/// cleared, which for a flag is `false`.
fn administrator(user: &UserState) -> Option<bool> {
    match user.fields.get_raw("IsAdministrator")? {
        "" => Some(false),
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Whether a 400's `[ValidationResult]` names `EmailAddress` (the e-mail is taken).
fn names_the_email(body: &str) -> bool {
    serde_json::from_str::<Vec<ValidationResult>>(body)
        .is_ok_and(|results| results.iter().any(|r| r.member_names.iter().any(|m| m == "EmailAddress")))
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
