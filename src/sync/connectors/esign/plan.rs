//! `sync plan` for eSign: the user found by username (read-only), in the request's field names.
use super::wire::{field, text_field, EsignUser};
use super::Esign;
use crate::sync::mapping::Empty;
use crate::sync::plan::{fields_of, VendorView};
use crate::sync::{ConnectorError, Desired, Link, UserState};
use std::collections::BTreeMap;

impl Esign {
    /// What eSign holds for the user, looked up by username as a reconcile would.
    pub async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Option<VendorView>, ConnectorError> {
        let keys: Vec<&str> = match desired {
            Desired::Present(user) => Link::lookup_keys(link, &user.email),
            Desired::Absent => link.and_then(|l| l.remote_key.as_deref()).into_iter().collect(),
        };
        for key in keys {
            let Some(found) = self.find_user(key).await? else {
                continue;
            };
            let Some(id) = text_field(&found, "SystemUserId") else {
                continue;
            };
            // GUESS (docs/vendors/esign.md): the answer's status field is not published.
            let active = field(&found, "Active").and_then(serde_json::Value::as_bool);
            let names = ["Username", "FirstName", "LastName"].into_iter().map(str::to_owned);
            let mapped = super::FIELDS.iter().map(|f| f.name.to_owned());
            return Ok(Some(VendorView {
                id,
                active,
                fields: Some(fields_of(&found, names.chain(mapped))),
            }));
        }
        Ok(None)
    }

    /// The fields a create or update sends for `user`.
    pub fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        let body = EsignUser {
            username: Some(&user.email),
            mapped: user.fields.to_object(Empty::Clear),
            ..super::names(user)
        };
        let value = serde_json::to_value(&body).unwrap_or_default();
        let names = value
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        fields_of(&value, names)
    }
}
