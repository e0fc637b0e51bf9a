//! Fan-out to vendors: what a vendor should hold (`Desired`), what we last recorded there (`Link`),
//! how a call failed (`ConnectorError`), the one reconciler (`reconcile`: observe, decide, apply)
//! and the vendors behind one trait (`vendor`), one folder each (`connectors`).
//! Level-triggered (docs/architecture.md): the reconciler compares what a user should be with what
//! the vendor holds, and makes only the calls needed to close the difference, so repeating it after
//! a crash repeats nothing harmful.
pub mod answer;
pub mod cache;
pub mod client;
pub use crate::clock;
pub mod connectors;
pub mod desired;
pub mod entitlements;
pub mod grant_ids;
pub mod health;
pub mod mapping;
pub mod reconcile;
pub mod shared;
pub mod subject;
pub mod target;
pub mod vendor;
pub mod worker;

pub use crate::secrets::Secret;
use std::time::Duration;

/// The user as a vendor should hold it, taken from the SCIM store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub resource_id: String,
    pub user_name: String,
    /// The e-mail vendors key users by: the primary (else first) `emails.value`, else `userName`.
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub active: bool,
    /// Only while the IdP's password still has to reach this vendor.
    pub password: Option<Secret>,
    pub is_administrator: bool,
    /// The target's mapped fields (`sync::mapping`), in the vendor's names.
    pub fields: mapping::Fields,
    /// The vendor may be asked to create the user. False for an inactive user the vendor never
    /// had at a target that does not create inactive users (`create_inactive`): found, it is
    /// brought up to date and deactivated; not found, nothing is done until the IdP activates it.
    pub creatable: bool,
    /// The vendor groups the target's entitlement rules put the user in (docs/entitlements.md).
    pub groups: std::sync::Arc<entitlements::Memberships>,
}

impl UserState {
    /// What decides whether the vendor is behind: everything a connector writes but the password
    /// and the active flag (which links record apart, as `pushed_active`).
    /// Vendor groups are not in it: the link records them apart (`Link::recorded_groups`), so a
    /// membership change costs the group calls only.
    pub fn fingerprint(&self) -> String {
        fingerprint(&(
            &self.user_name,
            &self.email,
            &self.given_name,
            &self.family_name,
            self.is_administrator,
            self.fields.pairs(),
        ))
    }
}

/// What the vendor should hold for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    Present(UserState),
    /// The user is deleted or left scope at a target with `on_delete = "deactivate"`: its record,
    /// if the vendor still has one, is kept deactivated; nothing is created or updated for it.
    Retired,
    /// The user is deleted (or left scope with `on_delete = "delete"`): remove it at the vendor.
    Absent,
}

/// The id-mapping record (`links`) lives in the store, its state typed in the column.
pub use crate::store::{Link, LinkState};

/// What a reconcile made of one user: the link it leaves, what an operator should know of it
/// (recorded with the event, shown by `scim-bridge lookup`), and the steps it carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub link: Link,
    pub note: Option<String>,
    pub steps: Vec<reconcile::Step>,
    /// The vendor contradicted the first look-up (its words), and the user was observed again.
    pub contradicted: Option<String>,
}

/// A reconcile that failed: the error, the step it failed at (`None`: before any step, while
/// looking the user up or checking its values), and the steps carried out before it.
#[derive(Debug)]
pub struct Failed {
    pub error: ConnectorError,
    pub step: Option<Box<reconcile::Step>>,
    pub done: Vec<reconcile::Step>,
}

impl From<ConnectorError> for Failed {
    fn from(error: ConnectorError) -> Self {
        Self {
            error,
            step: None,
            done: Vec::new(),
        }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.step {
            Some(step) => write!(f, "{}: {}", step.word(), self.error),
            None => self.error.fmt(f),
        }
    }
}

impl Reconciled {
    /// What an operator should know of it: the vendor's note, else why it was looked up twice.
    pub fn operator_note(&self) -> Option<String> {
        self.note.clone().or_else(|| {
            self.contradicted
                .as_ref()
                .map(|words| format!("looked up again after the vendor answered: {words}"))
        })
    }
}

impl Link {
    pub fn creating(remote_key: &str) -> Self {
        Self {
            state: LinkState::Creating,
            remote_id: None,
            remote_key: Some(remote_key.to_owned()),
            pushed_hash: None,
            pushed_active: None,
            written_fields: None,
        }
    }

    /// The e-mails to look a user up by before creating it: the one an earlier create whose outcome
    /// is unknown was sent with (the IdP may have changed the e-mail since, and that create may
    /// have gone through), then the one it has now.
    pub fn lookup_keys<'a>(link: Option<&'a Link>, email: &'a str) -> Vec<&'a str> {
        let earlier = link
            .filter(|l| l.state == LinkState::Creating)
            .and_then(|l| l.remote_key.as_deref())
            .filter(|k| !k.eq_ignore_ascii_case(email));
        earlier.into_iter().chain([email]).collect()
    }

    pub fn gone() -> Self {
        Self {
            state: LinkState::Gone,
            remote_id: None,
            remote_key: None,
            pushed_hash: None,
            pushed_active: None,
            written_fields: None,
        }
    }
}

/// What decides whether an update is due: the attributes a vendor holds, hashed.
pub fn fingerprint(attributes: &impl serde::Serialize) -> String {
    use sha2::{Digest, Sha256};
    let text = serde_json::to_string(attributes).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// How a vendor call failed: worth retrying, a refused credential, or a refusal retrying cannot change
/// (docs/vendors/README.md, "Failures").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying later: connect errors, timeouts, 429, 5xx. `retry_after` is the vendor's hint.
    #[error("transient failure: {detail}")]
    Transient {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The credential was refused: refresh it once, then retry once.
    #[error("credential refused: {detail}")]
    Auth { detail: String },
    /// Retrying will not help (validation errors, other 4xx): park the row with the vendor's words.
    #[error("{detail}")]
    Permanent { status: Option<u16>, detail: String },
    /// The vendor refused the bridge's own credentials (a sign-in, or a fresh credential refused
    /// again): the target waits as `credentials_refused`, its rows pending, and signs in again at a
    /// slow fixed pace (`auth_retry_secs`) so that a vault's lockout policy is never tripped.
    #[error("credentials refused: {detail}")]
    CredentialsRefused { detail: String },
    /// The target is misconfigured (wrong key, API disabled): an operator must act.
    #[error("configuration error: {detail}")]
    Config { detail: String },
    /// The bridge chose to wait (a known rate-limit reset): no call was sent, nothing is counted,
    /// and the row is due again after `wait`.
    #[error("{reason}")]
    Deferred { wait: Duration, reason: String },
}

impl ConnectorError {
    pub fn transient(detail: impl Into<String>) -> Self {
        Self::Transient {
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn permanent(status: Option<u16>, detail: impl Into<String>) -> Self {
        Self::Permanent {
            status,
            detail: detail.into(),
        }
    }

    pub fn config(detail: impl Into<String>) -> Self {
        Self::Config { detail: detail.into() }
    }

    pub fn refused(detail: impl Into<String>) -> Self {
        Self::CredentialsRefused { detail: detail.into() }
    }

    pub fn auth(detail: impl Into<String>) -> Self {
        Self::Auth { detail: detail.into() }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::Auth { .. })
    }
}
