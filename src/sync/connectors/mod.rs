//! One folder per vendor (docs/vendors/, docs/adding-a-connector.md); what they share is here.
pub mod cyberark;
pub mod docusign;
pub mod eloqua;
pub mod esign;
pub mod workspace365;

use crate::config::{normalise_secret_keys, ConfigError, TargetKind, TargetSettings};
use crate::sync::client::VendorClient;
use crate::sync::mapping::FieldSpec;
use crate::sync::plan::{Removal, Situation, Step};
use crate::sync::{ConnectorError, Desired, Link, Reconciled};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The closed set of connectors (one variant per vendor kind).
pub enum Connector {
    Cyberark(cyberark::Cyberark),
    Docusign(Box<docusign::Docusign>),
    Eloqua(eloqua::Eloqua),
    Esign(esign::Esign),
    Workspace365(workspace365::Workspace365),
}

/// A target's vendor keys: one arm per vendor, each its folder's `Config`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum VendorConfig {
    Cyberark(cyberark::Config),
    Docusign(docusign::Config),
    Eloqua(eloqua::Config),
    Esign(esign::Config),
    Workspace365(workspace365::Config),
}

impl VendorConfig {
    /// The vendor keys of a `[[target]]` of `kind` (the common keys already taken out).
    pub fn parse(kind: TargetKind, mut table: Map<String, Value>) -> Result<Self, String> {
        normalise_secret_keys(&mut table)?;
        let table = Value::Object(table);
        let parsed = match kind {
            TargetKind::Cyberark => serde_json::from_value(table).map(Self::Cyberark),
            TargetKind::Docusign => serde_json::from_value(table).map(Self::Docusign),
            TargetKind::Eloqua => serde_json::from_value(table).map(Self::Eloqua),
            TargetKind::Esign => serde_json::from_value(table).map(Self::Esign),
            TargetKind::Workspace365 => serde_json::from_value(table).map(Self::Workspace365),
        };
        parsed.map_err(|e| e.to_string())
    }

    pub fn kind(&self) -> TargetKind {
        match self {
            Self::Cyberark(_) => TargetKind::Cyberark,
            Self::Docusign(_) => TargetKind::Docusign,
            Self::Eloqua(_) => TargetKind::Eloqua,
            Self::Esign(_) => TargetKind::Esign,
            Self::Workspace365(_) => TargetKind::Workspace365,
        }
    }

    /// What serde cannot check: URLs, empty values, ranges.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Cyberark(c) => c.validate(),
            Self::Docusign(c) => c.validate(),
            Self::Eloqua(c) => c.validate(),
            Self::Esign(c) => c.validate(),
            Self::Workspace365(c) => c.validate(),
        }
    }

    /// The fields the vendor can be sent beyond the identity it keys users by (`sync::mapping`).
    pub fn fields(&self) -> &'static [FieldSpec] {
        match self {
            Self::Cyberark(_) => &cyberark::FIELDS,
            Self::Docusign(_) => &docusign::FIELDS,
            Self::Eloqua(_) => &eloqua::FIELDS,
            Self::Esign(_) => &esign::FIELDS,
            Self::Workspace365(_) => &[],
        }
    }

    /// Whether the vendor takes users' passwords (so an IdP password is held until delivered):
    /// Workspace365 on create and update, CyberArk as the initial password of a new user.
    pub fn takes_passwords(&self) -> bool {
        matches!(self, Self::Workspace365(_) | Self::Cyberark(_))
    }
}

impl Connector {
    /// The connector a `[[target]]` describes, its secrets read now: a missing one fails here,
    /// naming the target, the key and where it was looked for.
    pub fn build(
        settings: &TargetSettings,
        http: reqwest::Client,
        health: std::sync::Arc<crate::sync::health::Health>,
        clock: std::sync::Arc<crate::sync::clock::Clock>,
        shared: Option<crate::sync::shared::SharedLimits>,
    ) -> Result<Self, ConfigError> {
        let client = VendorClient::new(&settings.name, http, settings.rate_limit)
            .with_health(health, clock)
            .with_shared_rate(settings.rate_limit, shared);
        let name = settings.name.as_str();
        let built = match &settings.vendor {
            VendorConfig::Cyberark(c) => c.build(name, client).map(Self::Cyberark),
            VendorConfig::Docusign(c) => c
                .build(name, client, settings.concurrency())
                .map(|d| Self::Docusign(Box::new(d))),
            VendorConfig::Eloqua(c) => c.build(name, client).map(Self::Eloqua),
            VendorConfig::Esign(c) => c.build(name, client).map(Self::Esign),
            VendorConfig::Workspace365(c) => c.build(name, client).map(Self::Workspace365),
        };
        built.map_err(|e| match e {
            ConfigError::Secret { .. } => ConfigError::Invalid(format!("target '{name}': {e}")),
            other => other,
        })
    }

    /// How many users the worker hands this connector at once (`reconcile_batch`): DocuSign's
    /// `batch_size`, one for vendors that take users one by one.
    pub fn batch_size(&self) -> usize {
        match self {
            Self::Docusign(c) => c.batch_size(),
            _ => 1,
        }
    }

    /// Makes the vendor hold each desired user, given its link; one result per item, in order.
    /// DocuSign takes the batch in bulk calls; the others one user after another.
    pub async fn reconcile_batch(&self, batch: &[(Desired, Option<Link>)]) -> Vec<Result<Reconciled, ConnectorError>> {
        if let Self::Docusign(c) = self {
            return c.reconcile_batch(batch).await;
        }
        let mut results = Vec::with_capacity(batch.len());
        for (desired, link) in batch {
            results.push(self.reconcile(desired, link.as_ref()).await.map(Reconciled::from));
        }
        results
    }

    /// Makes the vendor hold `desired`, given what `link` says it holds; returns the new link.
    pub async fn reconcile(&self, desired: &Desired, link: Option<&Link>) -> Result<Link, ConnectorError> {
        match self {
            Self::Cyberark(c) => c.reconcile(desired, link).await,
            Self::Docusign(c) => c.reconcile(desired, link).await,
            Self::Eloqua(c) => c.reconcile(desired, link).await,
            Self::Esign(c) => c.reconcile(desired, link).await,
            Self::Workspace365(c) => c.reconcile(desired, link).await,
        }
    }

    /// What a reconcile would do for `desired` (`sync plan`), from read-only calls only: the
    /// connector's look-ups (Workspace365: its documented dry run, `PUT …/Validate/`).
    pub async fn plan(&self, desired: &Desired, link: Option<&Link>) -> Result<Vec<Step>, ConnectorError> {
        let link = link.filter(|l| l.state != crate::sync::LinkState::Gone);
        let view = match self {
            Self::Cyberark(c) => c.observe(desired, link).await?,
            Self::Docusign(c) => c.observe(desired, link).await?,
            Self::Eloqua(c) => c.observe(desired, link).await?,
            Self::Esign(c) => c.observe(desired, link).await?,
            Self::Workspace365(c) => c.observe(desired, link).await?,
        };
        let (wanted, changed) = match desired {
            Desired::Present(user) => {
                let wanted = match self {
                    Self::Cyberark(c) => c.wanted(user),
                    Self::Docusign(c) => c.wanted(user),
                    Self::Eloqua(c) => c.wanted(user),
                    Self::Esign(c) => c.wanted(user),
                    Self::Workspace365(c) => c.wanted(user),
                };
                let pushed = link.and_then(|l| l.pushed_hash.as_deref());
                (wanted, pushed != Some(user.fingerprint().as_str()))
            }
            Desired::Absent => (Default::default(), false),
        };
        let removal = match self {
            Self::Docusign(_) | Self::Esign(_) => Removal::Deactivate,
            _ => Removal::Delete,
        };
        let situation = Situation {
            desired,
            link,
            view: view.as_ref(),
            wanted,
            changed,
            removal,
        };
        Ok(situation.steps())
    }

    /// Before a `sync plan` of the whole target: DocuSign reads its account once (a listing of 100
    /// users a call) instead of one look-up per user; the others look users up one by one.
    pub async fn prefetch(&self) -> Result<(), ConnectorError> {
        match self {
            Self::Docusign(c) => c.prefetch().await,
            _ => Ok(()),
        }
    }

    /// The vendor's users as (vendor id, e-mail or username), read-only; `None` for a vendor that
    /// cannot list them (eSign publishes no listing, Workspace365 no read API).
    pub async fn vendor_users(&self) -> Result<Option<Vec<(String, String)>>, ConnectorError> {
        Ok(Some(match self {
            Self::Cyberark(c) => c.vendor_users().await?,
            Self::Docusign(c) => c.vendor_users().await?,
            Self::Eloqua(c) => c.vendor_users().await?,
            Self::Esign(_) | Self::Workspace365(_) => return Ok(None),
        }))
    }

    /// A read-only probe of the target's credentials (`scim-bridge check`); says what it called.
    pub async fn check(&self) -> Result<&'static str, ConnectorError> {
        match self {
            Self::Cyberark(c) => c.check().await.map(|()| "Logon and Logoff succeeded"),
            Self::Docusign(c) => c.check().await.map(|()| "JWT grant and /oauth/userinfo succeeded"),
            Self::Eloqua(c) => c.check().await.map(|()| "GET /id named the API base"),
            Self::Esign(c) => c.check().await.map(|()| "GET rest/v1/gettoken/{salt} gave a token"),
            Self::Workspace365(c) => c.check().await.map(|()| "GET /Environment/ answered"),
        }
    }

    /// Closes what the connector holds open at the vendor (a CyberArk session).
    pub async fn shutdown(&self) {
        if let Self::Cyberark(c) = self {
            c.shutdown().await;
        }
    }
}

/// A URL key's value must be http(s).
pub fn require_http_url(key: &str, value: &str) -> Result<(), String> {
    if crate::config::is_http_url(value) {
        Ok(())
    } else {
        Err(format!("{key} must be an http(s) URL, got '{value}'"))
    }
}

/// A key that must not be empty.
pub fn require_text(key: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("`{key}` must not be empty"))
    } else {
        Ok(())
    }
}

/// 24 characters with every character class, from the OS-seeded generator: the password of a
/// vendor user the IdP sent none for (it then signs in through single sign-on or resets it).
pub fn random_password() -> String {
    const CLASSES: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!#%*+-=?@_",
    ];
    let mut rng = rand::rngs::OsRng;
    let mut chars: Vec<u8> = CLASSES.iter().map(|c| c[rng.gen_range(0..c.len())]).collect();
    let all: Vec<u8> = CLASSES.concat();
    chars.extend((0..20).map(|_| all[rng.gen_range(0..all.len())]));
    chars.shuffle(&mut rng);
    String::from_utf8_lossy(&chars).into_owned()
}

/// What decides whether an update is due: the attributes a vendor holds, hashed.
pub fn fingerprint(attributes: &impl Serialize) -> String {
    let text = serde_json::to_string(attributes).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A path segment, percent-encoded except for unreserved characters and `@`.
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A vendor id written as a JSON number or a string (CyberArk, Eloqua), read as either and sent
/// back as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum VendorId {
    Number(u64),
    Text(String),
}

impl std::fmt::Display for VendorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README's "Attribute mapping" table is the vendors' `FIELDS`, row for row.
    #[test]
    fn the_readme_mapping_table_is_the_code() {
        const README: &str = include_str!("../../../README.md");
        const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:";
        let vendors: [(&str, &[FieldSpec]); 4] = [
            ("CyberArk (`cyberark`)", &cyberark::FIELDS),
            ("Eloqua (`eloqua`)", &eloqua::FIELDS),
            ("DocuSign (`docusign`)", &docusign::FIELDS),
            ("eSign (`esign`)", &esign::FIELDS),
        ];
        let mut rows = 0;
        for (vendor, fields) in vendors {
            for field in fields {
                let default = field
                    .default
                    .map_or_else(|| "—".to_owned(), |d| format!("`{}`", d.replace(ENT, "ENT:")));
                let limit = field.max_len.map_or_else(|| "—".to_owned(), |l| l.to_string());
                let row = format!("| {vendor} | `{}` | {default} | {limit} |", field.name);
                assert!(README.contains(&row), "README lacks {row}");
                rows += 1;
            }
        }
        let listed = README
            .lines()
            .filter(|l| vendors.iter().any(|(v, _)| l.starts_with(&format!("| {v} |"))))
            .count();
        assert_eq!(listed, rows, "README lists a field no connector has");
    }
}
