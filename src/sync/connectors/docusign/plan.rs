//! `sync plan` for DocuSign: the user found by e-mail (read-only), in the profile's field names.
use super::wire::Profile;
use super::Docusign;
use crate::sync::plan::{fields_of, VendorView};
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
        let Some(found) = self.find_any(&keys).await? else {
            return Ok(None);
        };
        let user = found.user;
        let mut value = Value::Object(user.rest.clone());
        value["email"] = Value::String(user.email.clone().unwrap_or_default());
        let names = self.names();
        Ok(Some(VendorView {
            id: user.user_id.clone().unwrap_or_default(),
            active: Some(!user.is_closed()),
            fields: Some(fields_of(&value, names)),
        }))
    }

    /// The account's open users as (userId, e-mail), for `sync plan`'s orphans.
    pub async fn vendor_users(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        let users = self.list_users().await?;
        Ok(users
            .into_iter()
            .filter(|u| !u.is_closed())
            .filter_map(|u| Some((u.user_id?, u.email.unwrap_or_default())))
            .collect())
    }

    /// The profile a create or update sends for `user`.
    pub fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        let value = serde_json::to_value(Profile::of(user)).unwrap_or_default();
        let identity = ["userName", "email", "firstName", "lastName"].map(str::to_owned);
        fields_of(
            &value,
            identity.into_iter().chain(user.fields.without("userName").names()),
        )
    }

    fn names(&self) -> Vec<String> {
        ["userName", "email", "firstName", "lastName"]
            .into_iter()
            .chain(super::FIELDS.iter().map(|f| f.name))
            .map(str::to_owned)
            .collect()
    }
}
