//! CyberArk PVWA (Gen2 REST, 12.6+; docs/vendors/cyberark.md): the seed call is Activate user. One
//! session per target, from `Logon` with `concurrentSession: true`, cached, renewed once when refused
//! (401 or `PASWS006E`) and closed with `Logoff` on shutdown. The token goes raw in `Authorization`.
//!
//! Every user is read before anything is decided (`read.rs`: `GET /API/Users/{id}/`, else a search
//! by username): a PUT replaces the whole object, so changes are merged into what the vault holds,
//! and the read also tells whether the user is disabled or suspended, and whether it is one the
//! bridge must never touch.
mod config;
mod groups;
mod read;
mod session;
mod wire;

use session::{done, too_old, vault_words};

use super::{random_password, VendorId};
use crate::sync::answer::{check_length, unreadable};
use crate::sync::cache::Cached;
use crate::sync::client::VendorClient;
use crate::sync::entitlements::{Entitlements, GrantKinds, GroupKey};
use crate::sync::grant_ids::GrantIds;
use crate::sync::mapping::{with_fields, Empty};
use crate::sync::reconcile::{NewUser, Removal, Rules, Step};
use crate::sync::vendor::{Applied, Applying, Observed, Vendor};
use crate::sync::{ConnectorError, Desired, Link, Secret, UserState};
pub use config::Config;
use reqwest::Method;
use std::collections::BTreeMap;
use std::fmt;
pub use wire::FIELDS;
use wire::{Activate, Created, Internet, NewUser as NewVaultUser, PersonalDetails, VaultError, VaultUser};

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
    /// The vault groups the target's entitlement rules name, and their ids as listed.
    managed_groups: std::collections::BTreeSet<String>,
    groups: GrantIds,
}

impl Vendor for Cyberark {
    type Config = Config;
    type Record = VaultUser;

    const KIND: &'static str = "cyberark";
    const RULES: Rules = Rules {
        removal: Removal::Delete,
        new_user: NewUser::AsAsked,
        password_field: None,
    };
    const FIELDS: &'static [crate::sync::mapping::FieldSpec] = &FIELDS;
    const GRANTS: GrantKinds = GrantKinds {
        groups: Some(GroupKey {
            key: "vault_groups",
            noun: "vault group",
        }),
        single: None,
    };
    // The IdP's password becomes a new user's initial password.
    const TAKES_PASSWORDS: bool = true;
    const CHECKED: &'static str = "Logon and Logoff succeeded";

    fn key<'u>(&self, user: &'u UserState) -> &'u str {
        &user.user_name
    }

    fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        read::wanted(user)
    }

    /// The vault's field limits (docs/vendors/cyberark.md): refused before any call, naming the field.
    fn refuse(&self, user: &UserState) -> Result<(), ConnectorError> {
        check_length("userName (CyberArk username)", &user.user_name, 128)?;
        check_length("name.givenName (CyberArk firstName)", &user.given_name, 29)?;
        check_length("name.familyName (CyberArk lastName)", &user.family_name, 29)?;
        check_length("emails (CyberArk businessEmail)", &user.email, 319)?;
        user.fields.check_lengths("CyberArk")
    }

    async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Observed<VaultUser>, ConnectorError> {
        self.read(desired, link).await
    }

    async fn apply(&self, step: &Step, at: Applying<'_, VaultUser>) -> Result<Applied, ConnectorError> {
        if let (Step::Create, Some(user)) = (step, at.user) {
            return self.create(user).await;
        }
        let id = at.id.ok_or_else(|| unreadable("vault user", "(no id)"))?;
        let user_url = self.api(&format!("Users/{id}/"));
        match (step, at.held, at.user) {
            (Step::Update { .. }, Some(current), Some(user)) => {
                let response = self.call(Method::PUT, &user_url, Some(&merged(current, user)?)).await?;
                if response.status == 404 {
                    return Ok(Applied::Vanished(ConnectorError::permanent(
                        Some(404),
                        format!("update user: {}", vault_words(&response.body)),
                    )));
                }
                done(&response, "update user").map(|()| Applied::Done)
            }
            // Enabled unless disabled, and un-suspended with the seed's `Activate`.
            (Step::Activate, held, _) => {
                if held.is_none_or(|h| h.enable_user == Some(false)) {
                    self.switch(&user_url, true).await?;
                }
                if let Some(suspended) = held.filter(|h| h.suspended == Some(true)) {
                    let named = VendorId::Text(id.to_owned());
                    let body = Activate {
                        id: suspended.id.as_ref().unwrap_or(&named),
                    };
                    done(
                        &self.call(Method::POST, &format!("{user_url}Activate"), Some(&body)).await?,
                        "activate",
                    )?;
                }
                Ok(Applied::Done)
            }
            (Step::Deactivate, _, _) => self.switch(&user_url, false).await.map(|()| Applied::Done),
            (Step::Entitle { add, remove, .. }, _, Some(user)) => {
                self.entitle(&user.user_name, add, remove).await.map(|()| Applied::Done)
            }
            // `DELETE /API/Users/{id}/`; a user the vault no longer has (404, `ITATS003E`) is done.
            (Step::Delete, _, _) => {
                let response = self.call(Method::DELETE, &user_url, None::<&()>).await?;
                if response.status != 404 {
                    done(&response, "delete user")?;
                }
                Ok(Applied::Done)
            }
            _ => Err(ConnectorError::permanent(
                None,
                format!("{}: the vault user was not read", step.word()),
            )),
        }
    }

    /// The probe of `scim-bridge check`: a Logon, the PVWA's version where the account may read it
    /// (older than 12.6 fails: no `enable/` and `disable/` routes), the Logoff, and the vault
    /// groups the entitlement rules name.
    async fn check(&self) -> Result<(), ConnectorError> {
        let (token, _) = self.logon().await?;
        let version = self.version(&token).await;
        self.logoff(&token).await?;
        if let Some(why) = version.as_deref().and_then(too_old) {
            return Err(ConnectorError::config(why));
        }
        self.check_groups().await
    }

    async fn resolve_grants(&self) -> Result<(), ConnectorError> {
        self.check_groups().await
    }

    async fn vendor_users(&self) -> Result<Option<Vec<(String, String)>>, ConnectorError> {
        self.list().await.map(Some)
    }

    /// Closes the cached session, if any (on shutdown).
    async fn shutdown(&self) {
        if let Some(token) = self.session.take().await {
            if let Err(e) = self.logoff(&token).await {
                tracing::warn!(target = %self.settings.target, error = %e, "CyberArk Logoff failed");
            }
        }
    }
}

impl Cyberark {
    pub fn new(settings: Settings, client: VendorClient, entitlements: &Entitlements) -> Self {
        Self {
            settings,
            client,
            session: Cached::default(),
            managed_groups: entitlements.managed_groups().clone(),
            groups: GrantIds::new("vault group", "CyberArk"),
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}/API/{path}", self.settings.base_url.trim_end_matches('/'))
    }

    /// `POST /API/Users/`, enabled or not as the IdP says. The initial password is the IdP's, else a
    /// random one the user must change at first logon. A 409 is a user made meanwhile (GUESS,
    /// docs/vendors/cyberark.md).
    async fn create(&self, user: &UserState) -> Result<Applied, ConnectorError> {
        let password = user
            .password
            .as_ref()
            .map_or_else(random_password, |p| p.expose().to_owned());
        let body = NewVaultUser {
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
            return Ok(Applied::Taken(ConnectorError::permanent(
                Some(409),
                format!("create refused: {}", vault_words(&response.body)),
            )));
        }
        let created: Created = session::expect(&response, "add user")?;
        let id = created.id.ok_or_else(|| unreadable("add user", &response.body))?;
        Ok(Applied::Id(id.to_string()))
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
}

/// Why the bridge must never change this vault user: component users, LDAP users (the directory
/// mapping owns them) and built-in users. The row parks with the reason.
fn protected(vault_user: &VaultUser) -> Option<String> {
    let name = &vault_user.username;
    let reason = if vault_user.component_user == Some(true) {
        "a component user"
    } else if vault_user
        .source
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("LDAP"))
    {
        "an LDAP user (its directory mapping manages it)"
    } else if BUILT_IN_USERS.iter().any(|b| b.eq_ignore_ascii_case(name)) {
        "a built-in vault user"
    } else {
        return None;
    };
    Some(format!("'{name}' is {reason}; the bridge never changes it"))
}

/// What the vault answers about a user but does not take in a PUT: psPAS's `Set-PASUser` removes
/// exactly these from the object it read before it PUTs it back. GUESS (docs/vendors/cyberark.md):
/// the PVWA refuses or ignores them; left out, nothing is lost either way.
const READ_ONLY: [&str; 7] = [
    "id",
    "source",
    "componentUser",
    "groupsMembership",
    "lastSuccessfulLoginDate",
    "authenticationMethod",
    "suspended",
];

/// The body of `PUT /API/Users/{id}/`: the vault object as read (whole: `read.rs`) with the IdP's
/// attributes merged in (a mapped field SCIM holds nothing for is cleared), everything else kept
/// as the vault has it, without the read-only properties.
fn merged(current: &VaultUser, user: &UserState) -> Result<serde_json::Value, ConnectorError> {
    let mut merged = current.clone();
    merged.username = user.user_name.clone();
    // The PUT replaces `enableUser` too: it carries the state the IdP wants, or an `enable/` sent
    // in the same reconcile would be undone by the object read before it.
    merged.enable_user = Some(user.active);
    let details = merged.personal_details.get_or_insert_with(PersonalDetails::default);
    details.first_name = Some(user.given_name.clone());
    details.last_name = Some(user.family_name.clone());
    merged.internet.get_or_insert_with(Internet::default).business_email = Some(user.email.clone());
    let mut body = with_fields(&merged, &user.fields, Empty::ClearHeld)?;
    if let Some(object) = body.as_object_mut() {
        for key in READ_ONLY {
            object.remove(key);
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
