//! The one trait a vendor's folder implements (docs/adding-a-connector.md). A vendor says what it
//! is (`KIND`, its `Config`, `FIELDS`, its `RULES`), makes read-only look-ups (`observe`) and
//! carries out one step (`apply`); the reconciler (`sync::reconcile`) decides which steps, the same
//! way for `sync plan`, observe mode and the write path. No vendor writes its own reconcile.
use super::client::VendorClient;
use super::mapping::FieldSpec;
use super::reconcile::{Rules, Step, StepKind};
use super::{ConnectorError, Desired, Link, UserState};
use crate::secrets::SecretError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;

/// What a vendor needs to be built for one target.
pub struct Setup {
    /// The target's name, for errors and logs.
    pub target: String,
    /// The target's way to the vendor (timeouts, rate limit, pauses, metrics).
    pub client: VendorClient,
    /// Vendor calls the target allows in flight at once.
    pub concurrency: usize,
    /// What the target's entitlement rules grant (the names the vendor must resolve).
    pub entitlements: super::entitlements::Entitlements,
}

/// Why a target's vendor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Invalid(String),
}

/// What the vendor holds for one user, as its read-only look-ups found it.
#[derive(Debug)]
pub enum Observed<R> {
    /// No record under the link's id or any of the user's keys.
    Nothing,
    /// The link is taken at its word, without a call: this vendor is not read for users the link
    /// records (a read per user would cost more than the link is worth). Should a step meet no
    /// record after all (`Applied::Vanished`), the user is observed again without the link.
    AsLinked,
    /// A record, read.
    Found(Held<R>),
}

/// A vendor record as a look-up found it.
#[derive(Debug)]
pub struct Held<R> {
    /// The vendor's own id, when it tells one.
    pub id: Option<String>,
    /// The key it is filed under (an e-mail or username).
    pub key: Option<String>,
    /// `None`: the vendor does not say.
    pub active: Option<bool>,
    /// Locked by the vendor (CyberArk's suspension): activating lifts it.
    pub suspended: bool,
    /// The fields the bridge writes, in the vendor's names; `None` when they cannot be read.
    pub fields: Option<BTreeMap<String, String>>,
    /// Why the bridge must never change this record.
    pub protected: Option<String>,
    /// What an operator should know of it (DocuSign: several users share the e-mail).
    pub note: Option<String>,
    /// The vendor's own word for the user's state, as read (DocuSign's `userStatus`): the canary
    /// reports it, since `active` is only the bridge's reading of it.
    pub status: Option<String>,
    /// The vendor groups it is in, by name, where the vendor was read for them (entitlements).
    pub groups: Option<std::collections::BTreeSet<String>>,
    /// What `apply` needs of it (CyberArk and Eloqua merge into the whole object).
    pub record: R,
}

impl<R> Held<R> {
    /// A record of which only the key and id are known (Workspace365's dry run).
    pub fn unread(id: Option<String>, key: String, record: R) -> Self {
        Self {
            id,
            key: Some(key),
            active: None,
            suspended: false,
            fields: None,
            protected: None,
            note: None,
            status: None,
            groups: None,
            record,
        }
    }
}

/// The record a step is carried out on.
pub struct Applying<'a, R> {
    /// The user as it should be; `None` when it is being removed.
    pub user: Option<&'a UserState>,
    /// The vendor's id of the record, when known.
    pub id: Option<&'a str>,
    /// The key the vendor files it under, when known.
    pub key: Option<&'a str>,
    /// The record as observed: `None` when the link was taken at its word, or it was just created.
    pub held: Option<&'a R>,
}

impl<R> Clone for Applying<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Applying<'_, R> {}

/// How a step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// The record has this id now (a create; DocuSign's re-open may answer a new one).
    Id(String),
    /// The record the step addressed is not there: the user is observed again (once); should it
    /// happen twice, the vendor's answer stands as this error.
    Vanished(ConnectorError),
    /// A create met a user the vendor already holds: observed again (once), as above.
    Taken(ConnectorError),
}

/// The keys of a `[[target]]` of one kind (its folder's `config.rs`; the common keys are read
/// before it).
pub trait TargetConfig: Serialize + DeserializeOwned + std::fmt::Debug + Clone + Send + Sync + 'static {
    type Vendor;

    /// What serde cannot check of the keys: URLs, empty values, ranges.
    fn validate(&self) -> Result<(), String>;

    /// The connector, its secrets read now.
    fn build(&self, setup: Setup) -> Result<Self::Vendor, BuildError>;
}

/// One vendor, behind the registry (`sync::connectors`). Futures are `Send`: the worker runs
/// reconciles on tokio's threads.
pub trait Vendor: Sized + Send + Sync + 'static {
    type Config: TargetConfig<Vendor = Self>;
    /// What `observe` keeps of a record for `apply`.
    type Record: Send + Sync;

    /// `kind = "…"` in the configuration.
    const KIND: &'static str;
    /// What removing means there and how a new user starts.
    const RULES: Rules;
    /// The fields it can map beyond the identity it keys users by (docs/mapping.md).
    const FIELDS: &'static [FieldSpec];
    /// What entitlement rules may grant (docs/entitlements.md): none by default.
    const GRANTS: super::entitlements::GrantKinds = super::entitlements::GrantKinds::NONE;
    /// Takes users' passwords: an IdP's password is held sealed until delivered.
    const TAKES_PASSWORDS: bool = false;
    /// What `scim-bridge check` says when the probe succeeds.
    const CHECKED: &'static str;

    /// The key the vendor files `user` under: what a link records (the e-mail unless the vendor
    /// keys users by username).
    fn key<'u>(&self, user: &'u UserState) -> &'u str {
        &user.email
    }

    /// What it would send for `user`: its field names and values, as `observe` reads them back.
    fn wanted(&self, user: &UserState) -> BTreeMap<String, String>;

    /// A value the vendor would refuse (over a field limit): refused before any call.
    fn refuse(&self, _user: &UserState) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// Read-only look-ups: what the vendor holds for `desired`, given `link` (never a gone one).
    fn observe(
        &self,
        desired: &Desired,
        link: Option<&Link>,
    ) -> impl Future<Output = Result<Observed<Self::Record>, ConnectorError>> + Send;

    /// `observe` for several users; by default one after another.
    fn observe_many<'a>(
        &'a self,
        users: &'a [(&'a Desired, Option<&'a Link>)],
    ) -> impl Future<Output = Vec<Result<Observed<Self::Record>, ConnectorError>>> + Send + 'a {
        async move {
            let mut observed = Vec::with_capacity(users.len());
            for (desired, link) in users {
                observed.push(self.observe(desired, *link).await);
            }
            observed
        }
    }

    /// Carries out one step (never `Adopt`, which only moves the link).
    fn apply(
        &self,
        step: &Step,
        at: Applying<'_, Self::Record>,
    ) -> impl Future<Output = Result<Applied, ConnectorError>> + Send;

    /// Steps of one kind for several users; by default one after another (DocuSign takes them in
    /// one call per `batch_size`).
    fn apply_many<'a>(
        &'a self,
        _kind: StepKind,
        steps: &'a [(&'a Step, Applying<'a, Self::Record>)],
    ) -> impl Future<Output = Vec<Result<Applied, ConnectorError>>> + Send + 'a {
        async move {
            let mut applied = Vec::with_capacity(steps.len());
            for (step, at) in steps {
                applied.push(self.apply(step, *at).await);
            }
            applied
        }
    }

    /// A read-only probe of the target's credentials (`scim-bridge check`).
    fn check(&self) -> impl Future<Output = Result<(), ConnectorError>> + Send;

    /// Users the worker hands over at once (DocuSign's `batch_size`).
    fn batch_size(&self) -> usize {
        1
    }

    /// Before a `sync plan` of a whole target: read what can be read once (DocuSign's listing).
    fn prefetch(&self) -> impl Future<Output = Result<(), ConnectorError>> + Send {
        async { Ok(()) }
    }

    /// The vendor's users as (id, e-mail or username), for `sync plan`'s orphans; `None` when it
    /// cannot list them.
    fn vendor_users(&self) -> impl Future<Output = Result<Option<Vec<(String, String)>>, ConnectorError>> + Send {
        async { Ok(None) }
    }

    /// Resolves the names the entitlement rules give to vendor ids (listing the vendor's groups and
    /// profiles); an error names one the vendor does not have. Nothing to do by default.
    fn resolve_grants(&self) -> impl Future<Output = Result<(), ConnectorError>> + Send {
        async { Ok(()) }
    }

    /// Closes what it holds open at the vendor (a session).
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
