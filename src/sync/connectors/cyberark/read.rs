//! Reading the vault (read-only): a user by id or by username, as the reconciler observes it, and
//! the listing `sync plan` reports orphans from.
use super::wire::{groups_of, UserList, VaultUser};
use super::{protected, session, Cyberark};
use crate::sync::answer::unreadable;
use crate::sync::reconcile::{all_names, fields_of, wanted_fields};
use crate::sync::vendor::{Held, Observed};
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

/// The fields a create or update writes for `user` (its identity and the mapped ones).
pub(super) fn wanted(user: &UserState) -> BTreeMap<String, String> {
    let identity = serde_json::json!({
        "username": user.user_name,
        "personalDetails": {"firstName": user.given_name, "lastName": user.family_name},
        "internet": {"businessEmail": user.email},
    });
    wanted_fields(identity, &IDENTITY, &user.fields)
}

impl Cyberark {
    /// The vault user by the link's id; else, for a user that should be there, by its username
    /// (new, or deleted in the vault), first by the one a create of unknown outcome was sent with
    /// (the IdP may have renamed the user since, and that create may have gone through: creating
    /// under the new name would make a second vault user), and for one being removed, by the
    /// username the link records.
    pub(super) async fn read(&self, desired: &Desired, link: Option<&Link>) -> Result<Observed<VaultUser>, ConnectorError> {
        let found = match link.and_then(|l| l.remote_id.as_deref()) {
            Some(id) => self.get(id).await?,
            None => match (desired, link.and_then(|l| l.remote_key.as_deref())) {
                (Desired::Present(_), _) | (_, None) => None,
                (_, Some(name)) => self.find(name).await?,
            },
        };
        let Desired::Present(user) = desired else {
            return Ok(found.map_or(Observed::Nothing, |user| Observed::Found(held(user))));
        };
        if let Some(found) = found {
            return Ok(Observed::Found(held(found)));
        }
        for name in Link::lookup_keys(link, &user.user_name) {
            if let Some(found) = self.find(name).await? {
                return Ok(Observed::Found(held(found)));
            }
        }
        Ok(Observed::Nothing)
    }

    /// `GET /API/Users?search={name}`, matched exactly on the client (`search` matches substrings),
    /// then the user itself: CyberArk documents a list item as a few fields only (no `enableUser`,
    /// `suspended`, `internet`, phones, address, expiry date), and a PUT clears what it omits, so
    /// the object merged into must be the whole one (`GET /API/Users/{id}/`).
    async fn find(&self, user_name: &str) -> Result<Option<VaultUser>, ConnectorError> {
        let url = reqwest::Url::parse_with_params(&self.api("Users"), &[("search", user_name)])
            .map_err(|e| ConnectorError::config(format!("bad base_url: {e}")))?;
        let list: UserList = self
            .call_json(Method::GET, url.as_str(), None::<&()>, "search users")
            .await?;
        let Some(item) = list
            .users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(user_name))
        else {
            return Ok(None);
        };
        match &item.id {
            Some(id) => self.get(&id.to_string()).await,
            None => Err(unreadable("search users", "(an item without an id)")),
        }
    }

    /// `GET /API/Users/{id}/`; `None` when the vault has no such user.
    async fn get(&self, id: &str) -> Result<Option<VaultUser>, ConnectorError> {
        let response = self
            .call(Method::GET, &self.api(&format!("Users/{id}/")), None::<&()>)
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        session::expect(&response, "get user").map(Some)
    }

    /// The vault's users the bridge may manage as (id, username), for `sync plan`'s orphans:
    /// `GET /API/Users`, without component, LDAP and built-in users.
    pub(super) async fn list(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        let list: UserList = self
            .call_json(Method::GET, &self.api("Users"), None::<&()>, "list users")
            .await?;
        Ok(list
            .users
            .into_iter()
            .filter(|u| protected(u).is_none())
            .filter_map(|u| Some((u.id?.to_string(), u.username)))
            .collect())
    }
}

/// A vault user as the reconciler reads it: enabled (`enableUser`) and suspended apart.
fn held(user: VaultUser) -> Held<VaultUser> {
    let value = serde_json::to_value(&user).unwrap_or_default();
    Held {
        id: user.id.as_ref().map(ToString::to_string),
        key: Some(user.username.clone()),
        active: user.enable_user,
        suspended: user.suspended.unwrap_or(false),
        fields: Some(fields_of(&value, all_names(&IDENTITY, &super::FIELDS))),
        protected: protected(&user),
        note: None,
        status: Some(format!(
            "enableUser {}, suspended {}",
            user.enable_user.map_or("-".to_owned(), |e| e.to_string()),
            user.suspended.map_or("-".to_owned(), |s| s.to_string())
        )),
        groups: groups_of(&user),
        record: user,
    }
}
