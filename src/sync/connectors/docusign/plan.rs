//! `sync plan` for DocuSign: the user found by e-mail (read-only), in the profile's field names.
use super::wire::{Profile, UserItem};
use super::Docusign;
use crate::sync::plan::{all_names, fields_of, VendorView};
use crate::sync::{ConnectorError, Desired, Link, UserState};
use serde_json::Value;
use std::collections::BTreeMap;

impl Docusign {
    /// What DocuSign holds under the user's e-mail (an open user before a closed one).
    pub async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Option<VendorView>, ConnectorError> {
        let keys: Vec<&str> = match desired {
            Desired::Present(user) => {
                let mut keys = Link::lookup_keys(link, &user.email);
                if let Some(old) = link.and_then(|l| l.remote_key.as_deref()).filter(|k| !keys.contains(k)) {
                    keys.insert(0, old);
                }
                keys
            }
            Desired::Absent => link.and_then(|l| l.remote_key.as_deref()).into_iter().collect(),
        };
        let found = match self.listing.get() {
            Some(listing) => listed(listing, &keys),
            None => self.find_any(&keys).await?.map(|found| found.user),
        };
        let Some(user) = found else {
            return Ok(None);
        };
        let mut value = Value::Object(user.rest.clone());
        value["email"] = Value::String(user.email.clone().unwrap_or_default());
        let names = self.names();
        Ok(Some(VendorView {
            id: user.user_id.clone().unwrap_or_default(),
            active: Some(!user.is_closed()),
            fields: Some(fields_of(&value, names)),
        }))
    }

    /// Reads the whole account once, so that the users of a `sync plan` are found in it.
    pub async fn prefetch(&self) -> Result<(), ConnectorError> {
        self.listing.get_or_try_init(|| self.list_users()).await.map(drop)
    }

    /// The account's open users as (userId, e-mail), for `sync plan`'s orphans.
    pub async fn vendor_users(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        let users = self.listing.get_or_try_init(|| self.list_users()).await?;
        Ok(users
            .iter()
            .filter(|u| !u.is_closed())
            .filter_map(|u| Some((u.user_id.clone()?, u.email.clone().unwrap_or_default())))
            .collect())
    }

    /// The profile a create or update sends for `user`.
    pub fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        let value = serde_json::to_value(Profile::of(user)).unwrap_or_default();
        let identity = IDENTITY.map(str::to_owned);
        fields_of(
            &value,
            identity.into_iter().chain(user.fields.without("userName").names()),
        )
    }

    fn names(&self) -> Vec<String> {
        all_names(&IDENTITY, &super::FIELDS)
    }
}

/// The user under the first of `keys` in the listing (an open one before a closed one).
fn listed(listing: &[UserItem], keys: &[&str]) -> Option<UserItem> {
    keys.iter().find_map(|key| {
        let mut matching: Vec<&UserItem> = listing
            .iter()
            .filter(|u| u.has_email(key) && u.user_id.is_some())
            .collect();
        matching.sort_by_key(|u| u.is_closed());
        matching.first().map(|u| (*u).clone())
    })
}

const IDENTITY: [&str; 4] = ["userName", "email", "firstName", "lastName"];
