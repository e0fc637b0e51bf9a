//! Finding what DocuSign holds for a user: by e-mail, or in one paged listing of the account.
use super::directory::{self, Directory};
use super::item::Item;
use super::wire::{UserItem, UsersAnswer};
use super::Docusign;
use crate::sync::{ConnectorError, Link, LinkState};
use reqwest::Method;
use std::sync::Arc;

impl Docusign {
    /// Finds what DocuSign holds for items without a known userId: new users (one listing of the
    /// account when enough are new), creates whose outcome is unknown and deleted users whose
    /// create never finished (by e-mail).
    pub(super) async fn resolve(&self, items: &mut [Item<'_>]) {
        let never_tried = |i: &Item| i.open() && i.user.is_some() && i.link.is_none();
        let new_users = items.iter().filter(|i| never_tried(i)).count();
        let directory = match self.directory.peek().await {
            Some(directory) => Some(directory),
            None if new_users >= directory::WORTH_LISTING => match self.directory.get(|| self.list_account()).await {
                Ok(directory) => Some(directory),
                Err(e) => {
                    items
                        .iter_mut()
                        .filter(|i| never_tried(i))
                        .for_each(|i| i.fail(e.clone()));
                    None
                }
            },
            None => None,
        };
        let lookups = items
            .iter_mut()
            .filter(|i| i.open() && i.linked_id().is_none())
            .map(|item| {
                let directory = directory.clone();
                async move {
                    let email = match (item.user, &item.link) {
                        (Some(user), _) => user.email.clone(),
                        (
                            None,
                            Some(Link {
                                remote_key: Some(key), ..
                            }),
                        ) => key.clone(),
                        (None, _) => {
                            item.outcome = Some(Ok(Link::gone()));
                            return;
                        }
                    };
                    let fresh = item.link.is_none();
                    if let (Some(directory), true) = (&directory, fresh) {
                        if !directory.knows(&email) {
                            item.create = true;
                            return;
                        }
                    }
                    match (
                        self.find_any(&Link::lookup_keys(item.link.as_ref(), &email)).await,
                        item.user,
                    ) {
                        (Err(e), _) => item.fail(e),
                        (Ok(Some(found)), Some(_)) => {
                            item.note = found.note();
                            item.link = Some(adopted(&found.user, &email));
                        }
                        (Ok(None), Some(_)) => item.create = true,
                        (Ok(Some(found)), None) if !found.user.is_closed() => {
                            item.note = found.note();
                            item.link = Some(adopted(&found.user, &email));
                        }
                        (Ok(_), None) => item.outcome = Some(Ok(Link::gone())),
                    }
                }
            });
        futures_util::future::join_all(lookups).await;
    }

    /// `GET …/users?email=`: the user with that e-mail; an open one before a closed one (older
    /// accounts may hold several users per e-mail).
    pub(super) async fn find(&self, email: &str) -> Result<Option<Found>, ConnectorError> {
        let url = reqwest::Url::parse_with_params(&self.users_url().await?, &[("email", email)])
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

    /// The user under the first of `keys` DocuSign has one for.
    pub(super) async fn find_any(&self, keys: &[&str]) -> Result<Option<Found>, ConnectorError> {
        for key in keys {
            if let Some(found) = self.find(key).await? {
                return Ok(Some(found));
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

/// The user `GET …/users?email=` found, and how many users have that e-mail.
pub(super) struct Found {
    pub(super) user: UserItem,
    pub(super) sharing: usize,
}

impl Found {
    /// Says which user was linked when several share the e-mail (older accounts allow it).
    pub(super) fn note(&self) -> Option<String> {
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

/// A user found at DocuSign, linked; its profile is pushed next (no hash yet).
pub(super) fn adopted(found: &UserItem, email: &str) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: found.user_id.clone(),
        remote_key: Some(email.to_owned()),
        pushed_hash: None,
        pushed_active: Some(!found.is_closed()),
    }
}
