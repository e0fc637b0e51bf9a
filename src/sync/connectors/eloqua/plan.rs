//! `sync plan` for Eloqua: the user read by id or found by e-mail (read-only).
use super::wire::{EloquaUser, Flag, UserList};
use super::Eloqua;
use crate::sync::plan::{all_names, fields_of, wanted_fields, VendorView};
use crate::sync::{ConnectorError, Desired, Link, UserState};
use reqwest::Method;
use std::collections::BTreeMap;

const IDENTITY: [&str; 3] = ["emailAddress", "firstName", "lastName"];

impl Eloqua {
    /// What Eloqua holds for the user, read as a reconcile reads it.
    pub async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Option<VendorView>, ConnectorError> {
        let known = match link.and_then(|l| l.remote_id.as_deref()) {
            Some(id) => self.get(id).await?,
            None => None,
        };
        let found = match (known, desired) {
            (Some(user), _) => Some(user),
            (None, Desired::Present(user)) => self.find_any(Link::lookup_keys(link, &user.email)).await?,
            (None, Desired::Absent) => match link.and_then(|l| l.remote_key.as_deref()) {
                Some(email) => self.find(email).await?,
                None => None,
            },
        };
        Ok(found.map(|user| view(&user)))
    }

    /// Eloqua's users as (id, e-mail), a page of 1,000 at a time, for `sync plan`'s orphans.
    pub async fn vendor_users(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        const PAGE: usize = 1000;
        let mut users = Vec::new();
        for page in 1.. {
            let query = [
                ("depth", "minimal".to_owned()),
                ("count", PAGE.to_string()),
                ("page", page.to_string()),
            ];
            let list: UserList = self
                .call_json(Method::GET, super::USERS, &query, None::<&()>, "list users")
                .await?;
            let full = list.elements.len() >= PAGE;
            users.extend(
                list.elements
                    .into_iter()
                    .filter_map(|u| Some((u.id?.to_string(), u.email_address.unwrap_or_default()))),
            );
            if !full {
                break;
            }
        }
        Ok(users)
    }

    /// The fields a reconcile writes for `user` (its identity and the mapped ones).
    pub fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        let identity = serde_json::json!({
            "emailAddress": user.email, "firstName": user.given_name, "lastName": user.family_name,
        });
        wanted_fields(identity, &IDENTITY, &user.fields)
    }
}

fn names() -> Vec<String> {
    all_names(&IDENTITY, &super::FIELDS)
}

fn view(user: &EloquaUser) -> VendorView {
    let value = serde_json::to_value(user).unwrap_or_default();
    VendorView {
        id: user.id.as_ref().map(ToString::to_string).unwrap_or_default(),
        active: user
            .is_disabled
            .as_ref()
            .and_then(Flag::value)
            .map(|disabled| !disabled),
        fields: Some(fields_of(&value, names())),
    }
}
