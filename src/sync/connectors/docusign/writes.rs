//! The steps DocuSign takes in bulk: create and re-open (`POST …/users`), update (`PUT …/users`)
//! and close (`DELETE …/users`), each item answered by its own `errorDetails`.
use super::item::Item;
use super::lookup::adopted;
use super::wire::{NewUsers, NewUsersAnswer, Profile, ProfileUpdate, UserItem, UserRef, Users, UsersAnswer};
use super::Docusign;
use crate::sync::{ConnectorError, Link, LinkState, UserState};
use reqwest::Method;

const ALREADY_EXISTS: &str = "USER_ALREADY_EXISTS_IN_ACCOUNT";

impl Docusign {
    /// `POST …/users` with the new users, `batch_size` per call; a user DocuSign already has
    /// (USER_ALREADY_EXISTS_IN_ACCOUNT inside the 201) is found by e-mail and adopted.
    pub(super) async fn create(&self, items: &mut [Item<'_>]) {
        let mut creating: Vec<&mut Item> = items.iter_mut().filter(|i| i.open() && i.create).collect();
        for chunk in creating.chunks_mut(self.batch_size()) {
            let answers = self.post_new_users(chunk).await;
            for (item, answer) in chunk.iter_mut().zip(answers) {
                let Some(user) = item.user else { continue };
                match answer {
                    Ok(user_id) => {
                        self.learn(&user.email).await;
                        item.link = Some(Link {
                            state: LinkState::Linked,
                            remote_id: Some(user_id),
                            remote_key: Some(user.email.clone()),
                            pushed_hash: Some(user.fingerprint()),
                            pushed_active: Some(true),
                        });
                    }
                    Err(Refused::Item(code)) if code.starts_with(ALREADY_EXISTS) => {
                        match self.find(&user.email).await {
                            Ok(Some(found)) => {
                                item.note = found.note();
                                item.link = Some(adopted(&found.user, &user.email));
                            }
                            Ok(None) => item.fail(ConnectorError::permanent(
                                None,
                                "USER_ALREADY_EXISTS_IN_ACCOUNT, yet no user has this e-mail",
                            )),
                            Err(e) => item.fail(e),
                        }
                    }
                    Err(refused) => item.fail(refused.into_error(201)),
                }
            }
        }
    }

    /// Re-opens closed users by posting them again with the same userName and e-mail (GUESS); if
    /// DocuSign answers with another userId, that one is linked.
    pub(super) async fn reopen(&self, items: &mut [Item<'_>]) {
        let mut reopening: Vec<&mut Item> = items
            .iter_mut()
            .filter(|i| i.open() && i.user.is_some_and(|u| u.active))
            .filter(|i| i.link.as_ref().is_some_and(|l| l.pushed_active == Some(false)))
            .collect();
        for chunk in reopening.chunks_mut(self.batch_size()) {
            let answers = self.post_new_users(chunk).await;
            for (item, answer) in chunk.iter_mut().zip(answers) {
                let Some(link) = item.link.as_mut() else { continue };
                match answer {
                    Ok(new_id) => link.remote_id = Some(new_id),
                    // Already open (someone re-opened it by hand): nothing to do.
                    Err(Refused::Item(code)) if code.starts_with(ALREADY_EXISTS) => {}
                    Err(refused) => {
                        item.fail(refused.into_error(201));
                        continue;
                    }
                }
                link.pushed_active = Some(true);
            }
        }
    }

    /// `POST …/users` for the items' profiles: each item's new userId or what refused it.
    async fn post_new_users(&self, chunk: &[&mut Item<'_>]) -> Vec<Result<String, Refused>> {
        let profiles: Vec<&Profile> = chunk.iter().filter_map(|i| i.profile.as_ref()).collect();
        let sent = async {
            let url = self.users_url().await?;
            let body = NewUsers {
                new_users: profiles.clone(),
            };
            self.call_json::<NewUsersAnswer>(Method::POST, &url, Some(&body), "create users")
                .await
        };
        match sent.await {
            Err(e) => profiles.iter().map(|_| Err(Refused::Call(e.clone()))).collect(),
            Ok(answer) => {
                let mut answers = answer.new_users;
                profiles
                    .iter()
                    .enumerate()
                    .map(|(n, profile)| {
                        let at = answers.iter().position(|a| a.has_email(&profile.email));
                        let item = match at {
                            Some(at) => answers.remove(at),
                            None if n < answers.len() && answers[n].email.is_none() => answers[n].clone(),
                            None => return Err(Refused::Unreadable),
                        };
                        match (item.error(), item.user_id) {
                            (Some(error), _) => Err(Refused::Item(error)),
                            (None, Some(id)) => Ok(id),
                            (None, None) => Err(Refused::Unreadable),
                        }
                    })
                    .collect()
            }
        }
    }

    /// The seed call: one `PUT …/users` per `batch_size` users whose profile changed.
    pub(super) async fn update(&self, items: &mut [Item<'_>]) {
        let mut changed: Vec<&mut Item> = items
            .iter_mut()
            .filter(|i| i.open() && i.linked_id().is_some())
            .filter(|i| {
                let hash = i.user.map(UserState::fingerprint);
                hash.is_some() && i.link.as_ref().and_then(|l| l.pushed_hash.clone()) != hash
            })
            .collect();
        for chunk in changed.chunks_mut(self.batch_size()) {
            let users: Vec<ProfileUpdate> = chunk
                .iter()
                .filter_map(|i| {
                    Some(ProfileUpdate {
                        user_id: i.linked_id()?,
                        profile: i.profile.as_ref()?,
                    })
                })
                .collect();
            let answers = self.bulk(Method::PUT, &Users { users }, "update users").await;
            for item in chunk.iter_mut() {
                match item_outcome(&answers, item.linked_id()) {
                    Err(refused) => item.fail(refused.into_error(200)),
                    Ok(()) => {
                        let (Some(link), Some(user)) = (item.link.as_mut(), item.user) else {
                            continue;
                        };
                        link.pushed_hash = Some(user.fingerprint());
                        link.remote_key = Some(user.email.clone());
                    }
                }
            }
        }
    }

    /// `DELETE …/users` with the users to close: deactivated ones, and deleted ones still open. A
    /// user already closed counts as done (GUESS: the per-item code for it is undocumented, so any
    /// code naming CLOSED).
    pub(super) async fn close(&self, items: &mut [Item<'_>]) {
        let mut closing: Vec<&mut Item> = items
            .iter_mut()
            .filter(|i| i.open() && i.linked_id().is_some() && i.user.is_none_or(|u| !u.active))
            .filter(|i| i.link.as_ref().is_some_and(|l| l.pushed_active != Some(false)))
            .collect();
        for chunk in closing.chunks_mut(self.batch_size()) {
            let users: Vec<UserRef> = chunk
                .iter()
                .filter_map(|i| {
                    Some(UserRef {
                        user_id: i.linked_id()?,
                    })
                })
                .collect();
            let answers = self.bulk(Method::DELETE, &Users { users }, "close users").await;
            for item in chunk.iter_mut() {
                match item_outcome(&answers, item.linked_id()) {
                    Err(Refused::Item(code)) if code.to_ascii_uppercase().contains("CLOSED") => {}
                    Err(refused) => {
                        item.fail(refused.into_error(200));
                        continue;
                    }
                    Ok(()) => {}
                }
                if let Some(link) = item.link.as_mut() {
                    link.pushed_active = Some(false);
                }
            }
        }
    }

    async fn bulk<T: serde::Serialize>(
        &self,
        method: Method,
        body: &T,
        what: &str,
    ) -> Result<UsersAnswer, ConnectorError> {
        let url = self.users_url().await?;
        self.call_json(method, &url, Some(body), what).await
    }
}

/// Why DocuSign did not do what an item asked.
enum Refused {
    /// The whole call failed.
    Call(ConnectorError),
    /// The item's own `errorDetails`, as `CODE: message`.
    Item(String),
    /// The answer did not mention the item.
    Unreadable,
}

impl Refused {
    fn into_error(self, status: u16) -> ConnectorError {
        match self {
            Self::Call(e) => e,
            Self::Item(code) => ConnectorError::permanent(Some(status), code),
            Self::Unreadable => ConnectorError::permanent(None, "the answer does not mention this user"),
        }
    }
}

/// An item's share of a bulk answer: the call's error, or its own `errorDetails` by userId.
fn item_outcome(answer: &Result<UsersAnswer, ConnectorError>, user_id: Option<&str>) -> Result<(), Refused> {
    let answer = answer.as_ref().map_err(|e| Refused::Call(e.clone()))?;
    let own = answer.users.iter().find(|u| u.user_id.as_deref() == user_id);
    match own.and_then(UserItem::error) {
        Some(error) => Err(Refused::Item(error)),
        None => Ok(()),
    }
}
