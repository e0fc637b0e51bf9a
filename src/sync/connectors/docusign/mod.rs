//! DocuSign eSignature REST v2.1 (docs/vendors/docusign.md): the seed call is `PUT
//! /v2.1/accounts/{accountId}/users`, many users per call.
//!
//! - Auth: the OAuth JWT grant (`api.rs`). The account's base URI comes from `/oauth/userinfo` for
//!   the configured `account_id` (unless `base_url` is set), cached.
//! - Users are keyed by e-mail and linked by `userId`. The worker hands the connector up to
//!   `batch_size` users at once (`reconcile_batch`), and every step that DocuSign takes in bulk goes
//!   out as one call for the batch: creates and re-opens (`POST …/users` `newUsers`, whose items
//!   carry their own `errorDetails` even on 201), attribute updates (the seed `PUT …/users`), and
//!   closes (`DELETE …/users` with a body). New users are looked up in one paged listing of the
//!   account (`directory.rs`) when a batch holds enough of them, else by `GET …/users?email=`.
//! - DocuSign never deletes: a deactivation or a SCIM DELETE closes the user; a reactivation
//!   re-opens it with `POST …/users` (GUESS: "verify on demo").
//! - Limits: 429, or 400 with `HOURLY_`/`BURST_APIINVOCATION_LIMIT_EXCEEDED`, pauses the target
//!   until `X-RateLimit-Reset` (burst: 30 s); a success that leaves `X-RateLimit-Remaining` or
//!   `X-BurstLimit-Remaining` at 0 pauses it the same way before the vendor has to refuse.
mod api;
mod config;
mod directory;
mod wire;

pub use config::Config;

use super::fingerprint;
use crate::sync::answer::check_length;
use crate::sync::cache::Cached;
use crate::sync::client::VendorClient;
use crate::sync::{ConnectorError, Desired, Link, LinkState, Reconciled, Secret, UserState};
use directory::Directory;
use jsonwebtoken::EncodingKey;
use reqwest::Method;
use std::fmt;
use std::sync::Arc;
use tokio::sync::Semaphore;
use wire::{NewUsers, NewUsersAnswer, Profile, ProfileUpdate, UserItem, UserRef, Users, UsersAnswer};

const ALREADY_EXISTS: &str = "USER_ALREADY_EXISTS_IN_ACCOUNT";

/// What a `kind = "docusign"` target needs at run time (built from its `Config`).
#[derive(Clone)]
pub struct Settings {
    pub target: String,
    /// `https://account-d.docusign.com` or `https://account.docusign.com`.
    pub oauth_base_url: String,
    pub integration_key: String,
    /// The GUID of the user the bridge acts as (an admin who can manage users).
    pub user_id: String,
    pub private_key: Secret,
    pub account_id: String,
    /// `{base_uri}/restapi`; discovered through `/oauth/userinfo` when absent.
    pub base_url: Option<String>,
    pub batch_size: usize,
    /// Vendor calls in flight at once.
    pub concurrency: usize,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("target", &self.target)
            .field("oauth_base_url", &self.oauth_base_url)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

pub struct Docusign {
    settings: Settings,
    client: VendorClient,
    key: EncodingKey,
    token: Cached<Secret>,
    base: Cached<String>,
    directory: Cached<Arc<Directory>>,
    calls: Semaphore,
}

/// One user of a batch, as far as its reconcile got.
struct Item<'a> {
    /// `None`: the user must not be at DocuSign (closed).
    user: Option<&'a UserState>,
    profile: Option<Profile>,
    link: Option<Link>,
    /// Nobody at DocuSign has the e-mail: create it.
    create: bool,
    /// Set once the item is finished (failed, or nothing left to do).
    outcome: Option<Result<Link, ConnectorError>>,
    /// For the operator: several DocuSign users share this user's e-mail.
    note: Option<String>,
}

impl<'a> Item<'a> {
    fn new(desired: &'a Desired, link: Option<&Link>) -> Self {
        let user = match desired {
            Desired::Present(user) => Some(user),
            Desired::Absent => None,
        };
        Self {
            user,
            profile: user.map(Profile::of),
            link: link.filter(|l| l.state != LinkState::Gone).cloned(),
            create: false,
            outcome: None,
            note: None,
        }
    }

    fn open(&self) -> bool {
        self.outcome.is_none()
    }

    /// A link DocuSign's userId is known for.
    fn linked_id(&self) -> Option<&str> {
        let link = self.link.as_ref().filter(|l| l.state == LinkState::Linked)?;
        link.remote_id.as_deref()
    }

    fn fail(&mut self, error: ConnectorError) {
        self.outcome = Some(Err(error));
    }

    fn finish(self) -> Result<Reconciled, ConnectorError> {
        let note = self.note;
        let link = match (self.outcome, self.link, self.user) {
            (Some(outcome), _, _) => outcome,
            (None, Some(link), Some(_)) => Ok(Link {
                state: LinkState::Linked,
                ..link
            }),
            _ => Ok(Link::gone()),
        };
        link.map(|link| Reconciled { link, note })
    }
}

impl Docusign {
    /// Fails when the private key is not an RSA key in PEM.
    pub fn new(settings: Settings, client: VendorClient) -> Result<Self, String> {
        let key = EncodingKey::from_rsa_pem(settings.private_key.expose().as_bytes())
            .map_err(|e| format!("private_key is not an RSA private key in PEM: {e}"))?;
        Ok(Self {
            calls: Semaphore::new(settings.concurrency.max(1)),
            settings,
            client,
            key,
            token: Cached::default(),
            base: Cached::default(),
            directory: Cached::default(),
        })
    }

    /// Users per call for the steps DocuSign takes in bulk (the worker's batches are this big).
    pub fn batch_size(&self) -> usize {
        self.settings.batch_size.max(1)
    }

    /// The probe of `scim-bridge check`: a token and `/oauth/userinfo` (the account must be there).
    pub async fn check(&self) -> Result<(), ConnectorError> {
        self.userinfo_base().await.map(drop)
    }

    /// Makes DocuSign hold `desired`, given what `link` says it holds; returns the new link.
    pub async fn reconcile(&self, desired: &Desired, link: Option<&Link>) -> Result<Link, ConnectorError> {
        let mut items = vec![Item::new(desired, link)];
        self.run(&mut items).await;
        items
            .pop()
            .map_or_else(|| Ok(Link::gone()), |item| item.finish().map(|r| r.link))
    }

    /// Makes DocuSign hold each desired user, given its link, with one call per bulk step.
    pub async fn reconcile_batch(&self, batch: &[(Desired, Option<Link>)]) -> Vec<Result<Reconciled, ConnectorError>> {
        let mut items: Vec<Item> = batch.iter().map(|(d, l)| Item::new(d, l.as_ref())).collect();
        self.run(&mut items).await;
        items.into_iter().map(Item::finish).collect()
    }

    async fn run(&self, items: &mut [Item<'_>]) {
        self.check_lengths(items);
        self.resolve(items).await;
        self.create(items).await;
        self.reopen(items).await;
        self.update(items).await;
        self.close(items).await;
    }

    fn check_lengths(&self, items: &mut [Item<'_>]) {
        for item in items.iter_mut() {
            let Some(user) = item.user else { continue };
            let checked = check_length("name.givenName (DocuSign firstName)", &user.given_name, 50)
                .and_then(|()| check_length("name.familyName (DocuSign lastName)", &user.family_name, 50));
            if let Err(e) = checked {
                item.fail(e);
            }
        }
    }

    /// Finds what DocuSign holds for items without a known userId: new users (one listing of the
    /// account when enough are new), creates whose outcome is unknown and deleted users whose
    /// create never finished (by e-mail).
    async fn resolve(&self, items: &mut [Item<'_>]) {
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
    async fn find(&self, email: &str) -> Result<Option<Found>, ConnectorError> {
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
    async fn find_any(&self, keys: &[&str]) -> Result<Option<Found>, ConnectorError> {
        for key in keys {
            if let Some(found) = self.find(key).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Every user of the account, a page at a time.
    async fn list_account(&self) -> Result<(Arc<Directory>, Option<std::time::Duration>), ConnectorError> {
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
        Ok((Arc::new(Directory::from_users(&users)), Some(directory::LIFETIME)))
    }

    /// `POST …/users` with the new users, `batch_size` per call; a user DocuSign already has
    /// (USER_ALREADY_EXISTS_IN_ACCOUNT inside the 201) is found by e-mail and adopted.
    async fn create(&self, items: &mut [Item<'_>]) {
        let mut creating: Vec<&mut Item> = items.iter_mut().filter(|i| i.open() && i.create).collect();
        for chunk in creating.chunks_mut(self.batch_size()) {
            let answers = self.post_new_users(chunk).await;
            for (item, answer) in chunk.iter_mut().zip(answers) {
                let (Some(user), Some(profile)) = (item.user, &item.profile) else {
                    continue;
                };
                match answer {
                    Ok(user_id) => {
                        self.learn(&user.email).await;
                        item.link = Some(Link {
                            state: LinkState::Linked,
                            remote_id: Some(user_id),
                            remote_key: Some(user.email.clone()),
                            pushed_hash: Some(fingerprint(profile)),
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
    async fn reopen(&self, items: &mut [Item<'_>]) {
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
    async fn update(&self, items: &mut [Item<'_>]) {
        let mut changed: Vec<&mut Item> = items
            .iter_mut()
            .filter(|i| i.open() && i.linked_id().is_some())
            .filter(|i| {
                let hash = i.profile.as_ref().map(fingerprint);
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
                        let (Some(link), Some(profile)) = (item.link.as_mut(), &item.profile) else {
                            continue;
                        };
                        link.pushed_hash = Some(fingerprint(profile));
                        link.remote_key = Some(profile.email.clone());
                    }
                }
            }
        }
    }

    /// `DELETE …/users` with the users to close: deactivated ones, and deleted ones still open. A
    /// user already closed counts as done (GUESS: the per-item code for it is undocumented, so any
    /// code naming CLOSED).
    async fn close(&self, items: &mut [Item<'_>]) {
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

    /// The listing in use (if any) learns a user the bridge created.
    async fn learn(&self, email: &str) {
        if let Some(directory) = self.directory.peek().await {
            directory.learn(email);
        }
    }
}

/// The user `GET …/users?email=` found, and how many users have that e-mail.
struct Found {
    user: UserItem,
    sharing: usize,
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

/// A user found at DocuSign, linked; its profile is pushed next (no hash yet).
fn adopted(found: &UserItem, email: &str) -> Link {
    Link {
        state: LinkState::Linked,
        remote_id: found.user_id.clone(),
        remote_key: Some(email.to_owned()),
        pushed_hash: None,
        pushed_active: Some(!found.is_closed()),
    }
}

#[cfg(test)]
mod tests;
