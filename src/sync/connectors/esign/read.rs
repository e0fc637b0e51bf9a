//! Reading eSign (read-only): a user by username, as the reconciler observes it, in the request's
//! field names.
use super::wire::{field, text_field, users, EsignUser};
use super::{names, segment, Esign, Reply};
use crate::sync::mapping::Empty;
use crate::sync::reconcile::fields_of;
use crate::sync::vendor::{Held, Observed};
use crate::sync::{ConnectorError, Desired, Link, LinkState, UserState};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;

/// The fields a create or update sends for `user`.
pub(super) fn wanted(user: &UserState) -> BTreeMap<String, String> {
    let body = EsignUser {
        username: Some(&user.email),
        mapped: user.fields.to_object(Empty::Clear),
        ..names(user)
    };
    let value = serde_json::to_value(&body).unwrap_or_default();
    let names = value
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    fields_of(&value, names)
}

impl Esign {
    /// A linked user is taken at the link's word; any other is looked up by username, under every
    /// e-mail a create of unknown outcome may have used (the vendor asks to look the e-mail up
    /// before creating). A removal goes to the linked SystemUserId, else to the recorded username.
    pub(super) async fn read(&self, desired: &Desired, link: Option<&Link>) -> Result<Observed<()>, ConnectorError> {
        let keys: Vec<&str> = match desired {
            Desired::Present(user) => {
                if link.is_some_and(|l| l.state == LinkState::Linked && l.remote_id.is_some()) {
                    return Ok(Observed::AsLinked);
                }
                Link::lookup_keys(link, &user.email)
            }
            Desired::Retired | Desired::Absent => {
                if link.is_some_and(|l| l.remote_id.is_some()) {
                    return Ok(Observed::AsLinked);
                }
                link.and_then(|l| l.remote_key.as_deref()).into_iter().collect()
            }
        };
        for key in keys {
            let Some(found) = self.find_user(key).await? else {
                continue;
            };
            let Some(id) = text_field(&found, "SystemUserId") else {
                continue;
            };
            return Ok(Observed::Found(held(id, key, &found)));
        }
        Ok(Observed::Nothing)
    }

    /// `GET rest/v1/users?username={e-mail}`: the user as the vendor answers it.
    pub(super) async fn find_user(&self, email: &str) -> Result<Option<Value>, ConnectorError> {
        let url = format!("{}rest/v1/users?username={}", self.base(), segment(email));
        let Reply::Body(body) = self.call(Method::GET, &url, None::<&()>).await? else {
            return Ok(None);
        };
        let same_user = |u: &Value| text_field(u, "Username").is_none_or(|name| name.eq_ignore_ascii_case(email));
        Ok(users(&body).into_iter().find(same_user))
    }
}

/// A user as `GET rest/v1/users` answers it. GUESS (docs/vendors/esign.md): the answer's status
/// field is not published; `Active` is read when present.
fn held(id: String, key: &str, found: &Value) -> Held<()> {
    let names = ["Username", "FirstName", "LastName"].into_iter().map(str::to_owned);
    let mapped = super::FIELDS.iter().map(|f| f.name.to_owned());
    Held {
        id: Some(id),
        key: Some(key.to_owned()),
        active: field(found, "Active").and_then(Value::as_bool),
        suspended: false,
        fields: Some(fields_of(found, names.chain(mapped))),
        protected: None,
        note: None,
        status: field(found, "Active").map(|a| format!("Active {a}")),
        groups: None,
        record: (),
    }
}
