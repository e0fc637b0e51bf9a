//! DocuSign eSignature REST v2.1 (docs/vendors/docusign.md): the seed call is `PUT
//! /v2.1/accounts/{accountId}/users`, many users per call.
//!
//! - Auth: the OAuth JWT grant (`api.rs`). The account's base URI comes from `/oauth/userinfo` for
//!   the configured `account_id` (unless `base_url` is set), cached.
//! - Users are keyed by e-mail and linked by `userId`; a linked user is taken at the link's word.
//!   The worker hands over up to `batch_size` users at once, and every step that DocuSign takes in
//!   bulk goes out as one call for the batch (`writes.rs`): creates and re-opens (`POST …/users`
//!   `newUsers`, whose items carry their own `errorDetails` even on 201), attribute updates (the
//!   seed `PUT …/users`), and closes (`DELETE …/users` with a body). New users are looked up
//!   (`lookup.rs`) in one paged listing of the account (`directory.rs`) when a batch holds enough
//!   of them, else by `GET …/users?email=`.
//! - DocuSign never deletes: a deactivation or a SCIM DELETE closes the user; a reactivation
//!   re-opens it with `POST …/users` (GUESS: "verify on demo").
//! - Limits: 429, or 400 with `HOURLY_`/`BURST_APIINVOCATION_LIMIT_EXCEEDED`, pauses the target
//!   until `X-RateLimit-Reset` (burst: 30 s); a success that leaves `X-RateLimit-Remaining` or
//!   `X-BurstLimit-Remaining` at 0 pauses it the same way before the vendor has to refuse.
mod api;
mod config;
mod directory;
mod grants;
mod lookup;
mod wire;
mod writes;

pub use config::Config;
pub use wire::FIELDS;

use crate::sync::answer::check_length;
use crate::sync::cache::Cached;
use crate::sync::client::VendorClient;
use crate::sync::entitlements::{Entitlements, GrantKinds, GroupKey, Single};
use crate::sync::grant_ids::GrantIds;
use crate::sync::reconcile::{NewUser, Removal, Rules, Step, StepKind};
use crate::sync::vendor::{Applied, Applying, Observed, Vendor};
use crate::sync::{ConnectorError, Desired, Link, Secret, UserState};
use directory::Directory;
use jsonwebtoken::EncodingKey;
use std::collections::BTreeMap;
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
    /// The groups and permission profiles the target's entitlement rules name, and their ids.
    managed_groups: std::collections::BTreeSet<String>,
    profile_names: std::collections::BTreeSet<String>,
    groups: GrantIds,
    profiles: GrantIds,
}

impl Vendor for Docusign {
    type Config = Config;
    type Record = ();

    const KIND: &'static str = "docusign";
    // DocuSign never deletes: a removal closes the user. A new user is active (ActivationSent).
    const RULES: Rules = Rules {
        removal: Removal::Deactivate,
        new_user: NewUser::Active,
        password_field: None,
    };
    const FIELDS: &'static [crate::sync::mapping::FieldSpec] = &FIELDS;
    // GUESS (docs/vendors/docusign.md): every user has a profile, so one no rule names keeps it.
    const GRANTS: GrantKinds = GrantKinds {
        groups: Some(GroupKey {
            key: "groups",
            noun: "group",
        }),
        single: Some(Single {
            key: "permission_profile",
            field: grants::PROFILE_NAME,
            clears: false,
            admin: false,
        }),
    };
    const CHECKED: &'static str = "JWT grant and /oauth/userinfo succeeded";

    fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        lookup::wanted(user)
    }

    fn refuse(&self, user: &UserState) -> Result<(), ConnectorError> {
        check_length("name.givenName (DocuSign firstName)", &user.given_name, 50)?;
        check_length("name.familyName (DocuSign lastName)", &user.family_name, 50)?;
        user.fields.check_lengths("DocuSign")
    }

    async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Observed<()>, ConnectorError> {
        let mut observed = self.observe_many(&[(desired, link)]).await;
        observed.pop().unwrap_or(Ok(Observed::Nothing))
    }

    fn observe_many<'a>(
        &'a self,
        users: &'a [(&'a Desired, Option<&'a Link>)],
    ) -> impl std::future::Future<Output = Vec<Result<Observed<()>, ConnectorError>>> + Send + 'a {
        self.resolve(users)
    }

    async fn apply(&self, step: &Step, at: Applying<'_, ()>) -> Result<Applied, ConnectorError> {
        let mut applied = self.apply_many(step.kind(), &[(step, at)]).await;
        applied
            .pop()
            .unwrap_or_else(|| Err(ConnectorError::permanent(None, "no answer for this user")))
    }

    fn apply_many<'a>(
        &'a self,
        kind: StepKind,
        steps: &'a [(&'a Step, Applying<'a, ()>)],
    ) -> impl std::future::Future<Output = Vec<Result<Applied, ConnectorError>>> + Send + 'a {
        self.bulk_step(kind, steps)
    }

    /// The probe of `scim-bridge check`: a token and `/oauth/userinfo` (the account must be there),
    /// and the groups and permission profiles the entitlement rules name.
    async fn check(&self) -> Result<(), ConnectorError> {
        self.userinfo_base().await?;
        self.check_grants().await
    }

    /// Users per call for the steps DocuSign takes in bulk (the worker's batches are this big).
    fn batch_size(&self) -> usize {
        self.settings.batch_size.max(1)
    }

    /// Reads the whole account once, so that the users of a `sync plan` are found in it.
    async fn prefetch(&self) -> Result<(), ConnectorError> {
        self.listing.get_or_try_init(|| self.list_users()).await.map(drop)
    }

    /// The account's open users as (userId, e-mail), for `sync plan`'s orphans.
    async fn resolve_grants(&self) -> Result<(), ConnectorError> {
        self.check_grants().await
    }

    async fn vendor_users(&self) -> Result<Option<Vec<(String, String)>>, ConnectorError> {
        let users = self.listing.get_or_try_init(|| self.list_users()).await?;
        Ok(Some(
            users
                .iter()
                .filter(|u| !u.is_closed())
                .filter_map(|u| Some((u.user_id.clone()?, u.email.clone().unwrap_or_default())))
                .collect(),
        ))
    }
}

impl Docusign {
    /// Fails when the private key is not an RSA key in PEM.
    pub fn new(settings: Settings, client: VendorClient, entitlements: &Entitlements) -> Result<Self, String> {
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
            managed_groups: entitlements.managed_groups().clone(),
            profile_names: entitlements.single_values(),
            groups: GrantIds::new("group", "DocuSign"),
            profiles: GrantIds::new("permission profile", "DocuSign"),
        })
    }
}

#[cfg(test)]
mod tests;
