//! CyberArk PVWA (Gen2 REST, 12.6+; docs/vendors/cyberark.md): the seed call is Activate user. One
//! session per target, from `Logon` with `concurrentSession: true`, cached, renewed once when refused
//! (401 or `PASWS006E`) and closed with `Logoff` on shutdown. The token goes raw in `Authorization`.
//!
//! Every reconcile reads the vault user first (`GET /API/Users/{id}/`): a PUT replaces the whole
//! object, so changes are merged into what the vault holds, and the read also tells whether the user
//! is disabled or suspended, and whether it is one the bridge must never touch.
mod config;
mod plan;
mod session;
mod wire;

use session::{done, expect, too_old, vault_words};

use super::random_password;
use crate::sync::answer::{check_length, unreadable};
use crate::sync::cache::Cached;
use crate::sync::client::VendorClient;
use crate::sync::mapping::{with_fields, Empty};
use crate::sync::{ConnectorError, Desired, Link, LinkState, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use std::fmt;
pub use wire::FIELDS;
use wire::{Activate, Created, Internet, NewUser, PersonalDetails, UserList, VaultError, VaultUser};

/// The first PVWA version with the `enable/` and `disable/` routes.
const MINIMUM_VERSION: (u32, u32) = (12, 6);

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
        check_lengths(user)?;
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
        refuse_protected(&current)?;
        self.bring_up_to_date(current, user).await
    }

    /// The probe of `scim-bridge check`: a Logon, the PVWA's version where the account may read it
    /// (older than 12.6 fails: no `enable/` and `disable/` routes), and the Logoff.
    pub async fn check(&self) -> Result<(), ConnectorError> {
        let (token, _) = self.logon().await?;
        let version = self.version(&token).await;
        self.logoff(&token).await?;
        match version.as_deref().and_then(too_old) {
            Some(why) => Err(ConnectorError::config(why)),
            None => Ok(()),
        }
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
    async fn find(&self, user_name: &str) -> Result<Option<VaultUser>, ConnectorError> {
        let url = reqwest::Url::parse_with_params(&self.api("Users"), &[("search", user_name)])
            .map_err(|e| ConnectorError::config(format!("bad base_url: {e}")))?;
        let list: UserList = self
            .call_json(Method::GET, url.as_str(), None::<&()>, "search users")
            .await?;
        Ok(list
            .users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(user_name)))
    }

    /// `GET /API/Users/{id}/`; `None` when the vault has no such user.
    async fn get(&self, id: &str) -> Result<Option<VaultUser>, ConnectorError> {
        let response = self
            .call(Method::GET, &self.api(&format!("Users/{id}/")), None::<&()>)
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        expect(&response, "get user").map(Some)
    }

    /// `POST /API/Users/`, enabled or not as the IdP says. The initial password is the IdP's, else a
    /// random one the user must change at first logon.
    async fn create(&self, user: &UserState) -> Result<Link, ConnectorError> {
        let password = user
            .password
            .as_ref()
            .map_or_else(random_password, |p| p.expose().to_owned());
        let body = NewUser {
            username: &user.user_name,
            user_type: &self.settings.user_type,
            initial_password: &password,
            authentication_method: ["AuthTypePass"],
            location: &self.settings.location,
            enable_user: user.active,
            change_pass_on_next_logon: true,
            password_never_expires: false,
            internet: Internet {
                business_email: Some(user.email.clone()),
                ..Internet::default()
            },
            personal_details: PersonalDetails {
                first_name: Some(user.given_name.clone()),
                last_name: Some(user.family_name.clone()),
                ..PersonalDetails::default()
            },
        };
        let body = with_fields(&body, &user.fields, Empty::Omit)?;
        let response = self.call(Method::POST, &self.api("Users/"), Some(&body)).await?;
        if response.status == 409 {
            // GUESS (docs/vendors/cyberark.md): a clash is 409; the user made by someone else is adopted.
            let found = self.find(&user.user_name).await?.ok_or_else(|| {
                ConnectorError::permanent(Some(409), format!("create refused: {}", vault_words(&response.body)))
            })?;
            refuse_protected(&found)?;
            return self.bring_up_to_date(found, user).await;
        }
        let created: Created = expect(&response, "add user")?;
        let id = created.id.ok_or_else(|| unreadable("add user", &response.body))?;
        Ok(link(id.to_string(), user))
    }

    /// Merges what differs into the vault's own object and PUTs it whole, then enables, disables or
    /// un-suspends (the seed's `Activate`) as needed.
    async fn bring_up_to_date(&self, current: VaultUser, user: &UserState) -> Result<Link, ConnectorError> {
        let id = current
            .id
            .clone()
            .ok_or_else(|| unreadable("vault user", &current.username))?;
        let user_url = self.api(&format!("Users/{id}/"));
        let merged = merged(&current, user)?;
        if merged != current {
            done(&self.call(Method::PUT, &user_url, Some(&merged)).await?, "update user")?;
        }
        if current.enable_user.unwrap_or(true) != user.active {
            self.switch(&user_url, user.active).await?;
        }
        if user.active && current.suspended.unwrap_or(false) {
            let url = format!("{user_url}Activate");
            done(
                &self.call(Method::POST, &url, Some(&Activate { id: &id })).await?,
                "activate",
            )?;
        }
        Ok(link(id.to_string(), user))
    }

    /// `POST …/enable/` or `…/disable/`. A 404 without a vault error is a missing route: a PVWA
    /// older than 12.6.
    async fn switch(&self, user_url: &str, enable: bool) -> Result<(), ConnectorError> {
        let action = if enable { "enable/" } else { "disable/" };
        let response = self
            .call(Method::POST, &format!("{user_url}{action}"), None::<&()>)
            .await?;
        if response.status == 404 && VaultError::of(&response.body).describe().is_none() {
            let (major, minor) = MINIMUM_VERSION;
            return Err(ConnectorError::config(format!(
                "the vault has no {action} route (HTTP 404): PVWA {major}.{minor} or later is needed (docs/vendors/cyberark.md)"
            )));
        }
        done(&response, action.trim_end_matches('/'))
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
        refuse_protected(&current)?;
        let id = current
            .id
            .clone()
            .ok_or_else(|| unreadable("vault user", &current.username))?;
        let response = self
            .call(Method::DELETE, &self.api(&format!("Users/{id}/")), None::<&()>)
            .await?;
        if response.status != 404 {
            done(&response, "delete user")?;
        }
        Ok(Link::gone())
    }
}

fn link(id: String, user: &UserState) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: Some(id),
        remote_key: Some(user.user_name.clone()),
        pushed_hash: Some(user.fingerprint()),
        pushed_active: Some(user.active),
    }
}

/// The vault's field limits (docs/vendors/cyberark.md): refused before any call, naming the field.
fn check_lengths(user: &UserState) -> Result<(), ConnectorError> {
    check_length("userName (CyberArk username)", &user.user_name, 128)?;
    check_length("name.givenName (CyberArk firstName)", &user.given_name, 29)?;
    check_length("name.familyName (CyberArk lastName)", &user.family_name, 29)?;
    check_length("emails (CyberArk businessEmail)", &user.email, 319)?;
    user.fields.check_lengths("CyberArk")
}

/// Component users, LDAP users (the directory mapping owns them) and built-in users are never
/// changed: the row parks with the reason.
fn refuse_protected(vault_user: &VaultUser) -> Result<(), ConnectorError> {
    let name = &vault_user.username;
    let reason = if vault_user.component_user == Some(true) {
        Some("a component user")
    } else if vault_user
        .source
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("LDAP"))
    {
        Some("an LDAP user (its directory mapping manages it)")
    } else if BUILT_IN_USERS.iter().any(|b| b.eq_ignore_ascii_case(name)) {
        Some("a built-in vault user")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConnectorError::permanent(
            None,
            format!("'{name}' is {reason}; the bridge never changes it"),
        )),
        None => Ok(()),
    }
}

/// The vault object with the IdP's attributes merged in (a mapped field SCIM holds nothing for is
/// cleared); everything else is kept as the vault has it.
fn merged(current: &VaultUser, user: &UserState) -> Result<VaultUser, ConnectorError> {
    let mut merged = current.clone();
    merged.username = user.user_name.clone();
    let details = merged.personal_details.get_or_insert_with(PersonalDetails::default);
    details.first_name = Some(user.given_name.clone());
    details.last_name = Some(user.family_name.clone());
    merged.internet.get_or_insert_with(Internet::default).business_email = Some(user.email.clone());
    serde_json::from_value(with_fields(&merged, &user.fields, Empty::ClearHeld)?)
        .map_err(|e| ConnectorError::permanent(None, format!("the vault user with the mapped fields: {e}")))
}

#[cfg(test)]
mod tests;
