//! Reading Eloqua (read-only): a user by id or by e-mail, as the reconciler observes it, and the
//! listing `sync plan` reports orphans from.
use super::wire::{groups_of, EloquaUser, Flag, UserList};
use super::{expect, Eloqua, USER, USERS};
use crate::sync::reconcile::{all_names, fields_of, wanted_fields};
use crate::sync::vendor::{Held, Observed};
use crate::sync::{ConnectorError, Desired, Link, UserState};
use reqwest::Method;
use std::collections::BTreeMap;

const IDENTITY: [&str; 3] = ["emailAddress", "firstName", "lastName"];

/// The fields a create or update writes for `user` (its identity and the mapped ones).
pub(super) fn wanted(user: &UserState) -> BTreeMap<String, String> {
    let identity = serde_json::json!({
        "emailAddress": user.email, "firstName": user.given_name, "lastName": user.family_name,
    });
    wanted_fields(identity, &IDENTITY, &user.fields)
}

impl Eloqua {
    /// The user by the link's id; else by e-mail (every e-mail a create of unknown outcome may
    /// have used). A user being deleted is not read by id: the DELETE goes there, 404 meaning done.
    pub(super) async fn read(&self, desired: &Desired, link: Option<&Link>) -> Result<Observed<EloquaUser>, ConnectorError> {
        let id = link.and_then(|l| l.remote_id.as_deref());
        if let (Desired::Absent, Some(_)) = (desired, id) {
            return Ok(Observed::AsLinked);
        }
        let known = match id {
            Some(id) => self.get(id).await?,
            None => None,
        };
        let found = match (known, desired) {
            (Some(user), _) => Some(user),
            (None, Desired::Present(user)) => self.find_any(Link::lookup_keys(link, &user.email)).await?,
            (None, _) if id.is_some() => None,
            (None, _) => match link.and_then(|l| l.remote_key.as_deref()) {
                Some(email) => self.find(email).await?,
                None => None,
            },
        };
        Ok(found.map_or(Observed::Nothing, |user| Observed::Found(held(user))))
    }

    /// The first user found under one of `emails`, in order.
    async fn find_any(&self, emails: impl IntoIterator<Item = &str>) -> Result<Option<EloquaUser>, ConnectorError> {
        for email in emails {
            if let Some(found) = self.find(email).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// `GET …/system/users?search=emailAddress='…'` (GUESS, docs/vendors/eloqua.md: the search term is
    /// undocumented), matched exactly on the client.
    async fn find(&self, email: &str) -> Result<Option<EloquaUser>, ConnectorError> {
        let query = [
            ("search", format!("emailAddress='{email}'")),
            ("depth", "complete".to_owned()),
        ];
        let list: UserList = self
            .call_json(Method::GET, USERS, &query, None::<&()>, "search users")
            .await?;
        Ok(list.elements.into_iter().find(|u| {
            u.email_address
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        }))
    }

    /// `GET …/system/user/{id}?depth=complete`; `None` when Eloqua has no such user.
    async fn get(&self, id: &str) -> Result<Option<EloquaUser>, ConnectorError> {
        let query = [("depth", "complete".to_owned())];
        let response = self
            .call(Method::GET, &format!("{USER}/{id}"), &query, None::<&()>)
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        expect(&response, "get user").map(Some)
    }

    /// Eloqua's users as (id, e-mail), a page of 1,000 at a time, for `sync plan`'s orphans.
    pub(super) async fn list(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        const PAGE: usize = 1000;
        let mut users = Vec::new();
        for page in 1.. {
            let query = [
                ("depth", "minimal".to_owned()),
                ("count", PAGE.to_string()),
                ("page", page.to_string()),
            ];
            let list: UserList = self
                .call_json(Method::GET, USERS, &query, None::<&()>, "list users")
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
}

/// An Eloqua user as the reconciler reads it (`isDisabled` as written, read leniently).
fn held(user: EloquaUser) -> Held<EloquaUser> {
    let value = serde_json::to_value(&user).unwrap_or_default();
    Held {
        id: user.id.as_ref().map(ToString::to_string),
        key: user.email_address.clone(),
        active: user
            .is_disabled
            .as_ref()
            .and_then(Flag::value)
            .map(|disabled| !disabled),
        suspended: false,
        fields: Some(fields_of(&value, all_names(&IDENTITY, &super::FIELDS))),
        protected: None,
        note: None,
        status: user.is_disabled.as_ref().map(|d| format!("isDisabled {d}")),
        groups: groups_of(&user),
        record: user,
    }
}
