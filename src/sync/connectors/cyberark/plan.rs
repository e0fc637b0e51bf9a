//! `sync plan` for CyberArk: the vault user read by id or found by username (read-only).
use super::wire::{UserList, VaultUser};
use super::Cyberark;
use crate::sync::plan::{all_names, fields_of, wanted_fields, VendorView};
use crate::sync::{ConnectorError, Desired, Link, UserState};
use reqwest::Method;
use std::collections::BTreeMap;

/// The vault user's fields the bridge writes apart from the mapped ones.
const IDENTITY: [&str; 4] = [
    "username",
    "personalDetails.firstName",
    "personalDetails.lastName",
    "internet.businessEmail",
];

impl Cyberark {
    /// What the vault holds for the user, read as a reconcile reads it.
    pub async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Option<VendorView>, ConnectorError> {
        let known = match link.and_then(|l| l.remote_id.as_deref()) {
            Some(id) => self.get(id).await?,
            None => None,
        };
        let found = match (known, desired) {
            (Some(user), _) => Some(user),
            (None, Desired::Present(user)) => self.find(&user.user_name).await?,
            (None, Desired::Absent) => None,
        };
        Ok(found.map(|user| view(&user)))
    }

    /// The vault's users the bridge may manage as (id, username), for `sync plan`'s orphans:
    /// `GET /API/Users`, without component, LDAP and built-in users.
    pub async fn vendor_users(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        let list: UserList = self
            .call_json(Method::GET, &self.api("Users"), None::<&()>, "list users")
            .await?;
        Ok(list
            .users
            .into_iter()
            .filter(|u| super::refuse_protected(u).is_ok())
            .filter_map(|u| Some((u.id?.to_string(), u.username)))
            .collect())
    }

    /// The fields a reconcile writes for `user` (its identity and the mapped ones).
    pub fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        let identity = serde_json::json!({
            "username": user.user_name,
            "personalDetails": {"firstName": user.given_name, "lastName": user.family_name},
            "internet": {"businessEmail": user.email},
        });
        wanted_fields(identity, &IDENTITY, &user.fields)
    }
}

fn names() -> Vec<String> {
    all_names(&IDENTITY, &super::FIELDS)
}

fn view(user: &VaultUser) -> VendorView {
    let value = serde_json::to_value(user).unwrap_or_default();
    let active = user
        .enable_user
        .map(|enabled| enabled && !user.suspended.unwrap_or(false));
    VendorView {
        id: user.id.as_ref().map(ToString::to_string).unwrap_or_default(),
        active,
        fields: Some(fields_of(&value, names())),
    }
}
