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
mod item;
mod lookup;
mod plan;
mod wire;
mod writes;

pub use config::Config;
pub use wire::FIELDS;

use crate::sync::answer::check_length;
use crate::sync::cache::Cached;
use crate::sync::client::VendorClient;
use crate::sync::{ConnectorError, Desired, Link, Reconciled, Secret};
use directory::Directory;
use item::Item;
use jsonwebtoken::EncodingKey;
use std::fmt;
use std::sync::Arc;
use tokio::sync::Semaphore;

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
    /// `sync plan` over the whole account: one paged listing instead of a look-up per user
    /// (DocuSign's hourly call limit is a few thousand).
    listing: tokio::sync::OnceCell<Vec<wire::UserItem>>,
    calls: Semaphore,
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
            listing: tokio::sync::OnceCell::new(),
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
                .and_then(|()| check_length("name.familyName (DocuSign lastName)", &user.family_name, 50))
                .and_then(|()| user.fields.check_lengths("DocuSign"));
            if let Err(e) = checked {
                item.fail(e);
            }
        }
    }
}

#[cfg(test)]
mod tests;
