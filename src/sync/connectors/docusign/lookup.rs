//! Finding what DocuSign holds for users (read-only): a linked user is taken at the link's word;
//! any other is looked up by e-mail, or in one paged listing of the account when a batch holds
//! enough new users (`directory.rs`), or in the listing `sync plan` read first (`prefetch`).
use super::directory::{self, Directory};
use super::wire::{Profile, UserItem, UsersAnswer};
use super::Docusign;
use crate::sync::reconcile::{all_names, fields_of};
use crate::sync::vendor::{Held, Observed};
use crate::sync::{ConnectorError, Desired, Link, LinkState, UserState};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The profile fields the bridge writes apart from the mapped ones.
const IDENTITY: [&str; 4] = ["userName", "email", "firstName", "lastName"];

/// The profile a create or update sends for `user`, as field → value.
pub(super) fn wanted(user: &UserState) -> BTreeMap<String, String> {
    let value = serde_json::to_value(Profile::of(user)).unwrap_or_default();
    let identity = IDENTITY.map(str::to_owned);
    fields_of(
        &value,
        identity.into_iter().chain(user.fields.without("userName").names()),
    )
}

type Lookups = Vec<Result<Observed<()>, ConnectorError>>;

impl Docusign {
    /// What DocuSign holds for each of `users`, looked up side by side.
    pub(super) async fn resolve(&self, users: &[(&Desired, Option<&Link>)]) -> Lookups {
        let new_users = users
            .iter()
            .filter(|(d, l)| matches!(d, Desired::Present(_)) && l.is_none())
            .count();
        let directory = match (self.listing.get(), self.directory.peek().await) {
            (Some(_), _) => None,
            (None, Some(directory)) => Some(Ok(directory)),
            (None, None) if new_users >= directory::WORTH_LISTING => Some(self.directory.get(|| self.list_account()).await),
            (None, None) => None,
        };
        let lookups = users
            .iter()
            .map(|(desired, link)| self.observe_one(desired, *link, directory.as_ref()));
        futures_util::future::join_all(lookups).await
    }

    async fn observe_one(
        &self,
        desired: &Desired,
        link: Option<&Link>,
        directory: Option<&Result<Arc<Directory>, ConnectorError>>,
    ) -> Result<Observed<()>, ConnectorError> {
        if link.is_some_and(|l| l.state == LinkState::Linked && l.remote_id.is_some()) {
            return Ok(Observed::AsLinked);
        }
        let keys: Vec<&str> = match desired {
            Desired::Present(user) => {
                // A new user the listing does not know needs no look-up ("nobody has this e-mail").
                if link.is_none() {
                    match directory {
                        Some(Err(e)) => return Err(e.clone()),
                        Some(Ok(directory)) if !directory.knows(&user.email) => return Ok(Observed::Nothing),
                        _ => {}
                    }
                }
                Link::lookup_keys(link, &user.email)
            }
            Desired::Retired | Desired::Absent => link.and_then(|l| l.remote_key.as_deref()).into_iter().collect(),
        };
        let found = match self.listing.get() {
            Some(listing) => listed(listing, &keys),
            None => self.find_any(&keys).await?,
        };
        Ok(found.map_or(Observed::Nothing, |(key, found)| Observed::Found(self.held(key, found))))
    }

    /// A user as found, its profile read in the fields the bridge writes.
    fn held(&self, key: &str, found: Found) -> Held<()> {
        let mut value = Value::Object(found.user.rest.clone());
        value["email"] = Value::String(found.user.email.clone().unwrap_or_default());
        Held {
            id: found.user.user_id.clone(),
            key: Some(key.to_owned()),
            active: Some(!found.user.is_closed()),
            suspended: false,
            fields: Some(fields_of(&value, all_names(&IDENTITY, &super::FIELDS))),
            protected: None,
            note: found.note(),
            status: found.user.user_status.as_ref().map(|s| format!("userStatus {s}")),
            groups: found.user.groups().filter(|_| self.reads_grants()),
            record: (),
        }
    }

    /// `GET …/users?email=`: the user with that e-mail; an open one before a closed one (older
    /// accounts may hold several users per e-mail).
    pub(super) async fn find(&self, email: &str) -> Result<Option<Found>, ConnectorError> {
        // The user's groups and permission profile are listed with `additional_info=true` only.
        let mut query = vec![("email", email)];
        if self.reads_grants() {
            query.push(("additional_info", "true"));
        }
        let url = reqwest::Url::parse_with_params(&self.users_url().await?, &query)
            .map_err(|e| ConnectorError::permanent(None, format!("bad base URL: {e}")))?;
        let answer: UsersAnswer = self
            .call_json(Method::GET, url.as_str(), None::<&()>, "find user")
            .await?;
        let mut matching: Vec<UserItem> = answer
            .users
            .into_iter()
            .filter(|u| u.has_email(email) && u.user_id.is_some())
            .collect();
        let sharing = matching.len();
        if sharing > 1 {
            tracing::warn!(target = %self.settings.target, users = sharing, "several DocuSign users have this e-mail; the bridge links an open one");
        }
        matching.sort_by_key(UserItem::is_closed);
        Ok(matching.into_iter().next().map(|user| Found { user, sharing }))
    }

    /// Whether entitlement rules grant anything here (a look-up then reads groups and profile).
    fn reads_grants(&self) -> bool {
        !self.managed_groups.is_empty() || !self.profile_names.is_empty()
    }

    /// The user under the first of `keys` DocuSign has one for.
    async fn find_any<'k>(&self, keys: &[&'k str]) -> Result<Option<(&'k str, Found)>, ConnectorError> {
        for key in keys {
            if let Some(found) = self.find(key).await? {
                return Ok(Some((key, found)));
            }
        }
        Ok(None)
    }

    /// Every user of the account as a directory of e-mails, cached (see `resolve`).
    async fn list_account(&self) -> Result<(Arc<Directory>, Option<std::time::Duration>), ConnectorError> {
        let users = self.list_users().await?;
        Ok((Arc::new(Directory::from_users(&users)), Some(directory::LIFETIME)))
    }

    /// Every user of the account, a page at a time.
    pub(super) async fn list_users(&self) -> Result<Vec<UserItem>, ConnectorError> {
        let base = self.users_url().await?;
        let mut users = Vec::new();
        for page in 0.. {
            let start = (page * directory::PAGE).to_string();
            let count = directory::PAGE.to_string();
            let url = reqwest::Url::parse_with_params(
                &base,
                &[("count", count.as_str()), ("start_position", start.as_str())],
            )
            .map_err(|e| ConnectorError::permanent(None, format!("bad base URL: {e}")))?;
            let answer: UsersAnswer = self
                .call_json(Method::GET, url.as_str(), None::<&()>, "list users")
                .await?;
            let full = answer.users.len() >= directory::PAGE;
            users.extend(answer.users);
            if !full {
                break;
            }
        }
        tracing::info!(target = %self.settings.target, users = users.len(), "listed the account's users");
        Ok(users)
    }

    /// The listing in use (if any) learns a user the bridge created.
    pub(super) async fn learn(&self, email: &str) {
        if let Some(directory) = self.directory.peek().await {
            directory.learn(email);
        }
    }
}

/// The user under the first of `keys` in the listing (an open one before a closed one).
fn listed<'k>(listing: &[UserItem], keys: &[&'k str]) -> Option<(&'k str, Found)> {
    keys.iter().find_map(|key| {
        let mut matching: Vec<&UserItem> = listing
            .iter()
            .filter(|u| u.has_email(key) && u.user_id.is_some())
            .collect();
        matching.sort_by_key(|u| u.is_closed());
        let sharing = matching.len();
        matching.first().map(|u| {
            (
                *key,
                Found {
                    user: (*u).clone(),
                    sharing,
                },
            )
        })
    })
}

/// The user a look-up found, and how many users have that e-mail.
pub(super) struct Found {
    pub(super) user: UserItem,
    pub(super) sharing: usize,
}

impl Found {
    /// Says which user was linked when several share the e-mail (older accounts allow it).
    fn note(&self) -> Option<String> {
        (self.sharing > 1).then(|| {
            format!(
                "{} DocuSign users have this e-mail; linked {} ({})",
                self.sharing,
                self.user.user_id.as_deref().unwrap_or("?"),
                if self.user.is_closed() { "closed" } else { "open" }
            )
        })
    }
}
