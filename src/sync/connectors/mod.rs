//! The vendors, one folder each (docs/vendors/, docs/adding-a-connector.md), registered in the one
//! list below; what their folders share is here.
mod registry;

use crate::secrets::normalise_secret_keys;
use crate::sync::client::VendorClient;
use crate::sync::mapping::FieldSpec;
use crate::sync::reconcile::{self, Rules, Step};
use crate::sync::target::{TargetError, TargetSettings};
use crate::sync::vendor::{BuildError, Setup, TargetConfig, Vendor};
use crate::sync::{ConnectorError, Desired, Link, Reconciled};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

// The registry: a vendor is its folder and one line here.
registry::vendors! {
    cyberark::Cyberark,
    docusign::Docusign,
    eloqua::Eloqua,
    esign::Esign,
    workspace365::Workspace365,
}

impl Serialize for TargetKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TargetKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        Self::parse(&word).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
            serde::de::Error::custom(format!("unknown kind `{word}`, expected one of {}", known.join(", ")))
        })
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
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
    ) -> Result<Self, TargetError> {
        let client = VendorClient::new(&settings.name, http, settings.rate_limit)
            .with_health(health, clock)
            .with_shared_rate(settings.rate_limit, shared);
        let setup = Setup {
            target: settings.name.clone(),
            client,
            concurrency: settings.concurrency(),
            entitlements: settings.entitlements()?,
        };
        settings
            .vendor
            .build(setup)
            .map_err(|e| TargetError::Invalid(format!("target '{}': {e}", settings.name)))
    }
}

/// `scim-bridge check` for one target: its connector built (its secrets read) and its read-only
/// probe; what it called, or why it failed.
pub async fn check(settings: &TargetSettings, http: reqwest::Client) -> Result<&'static str, String> {
    let connector =
        Connector::build(settings, http, Default::default(), Default::default(), None).map_err(|e| e.to_string())?;
    let outcome = connector.check().await.map_err(|e| e.to_string());
    connector.shutdown().await;
    outcome
}

/// A URL key's value must be http(s).
pub fn require_http_url(key: &str, value: &str) -> Result<(), String> {
    if value.starts_with("https://") || value.starts_with("http://") {
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
        let row_of = |kind: TargetKind| format!("(`{}`) |", kind.name());
        let mut rows = 0;
        for kind in TargetKind::ALL.iter().copied() {
            for field in kind.fields() {
                let default = field
                    .default
                    .map_or_else(|| "—".to_owned(), |d| format!("`{}`", d.replace(ENT, "ENT:")));
                let limit = field.max_len.map_or_else(|| "—".to_owned(), |l| l.to_string());
                let row = format!("{} `{}` | {default} | {limit} |", row_of(kind), field.name);
                assert!(README.contains(&row), "README lacks {row}");
                rows += 1;
            }
        }
        let listed = README
            .lines()
            .filter(|l| l.starts_with("| ") && TargetKind::ALL.iter().any(|k| l.contains(&row_of(*k))))
            .count();
        assert_eq!(listed, rows, "README lists a field no connector has");
    }

    #[test]
    fn every_kind_is_named_and_read_back_by_its_word() {
        for kind in TargetKind::ALL.iter().copied() {
            assert_eq!(TargetKind::parse(kind.name()), Some(kind));
            assert_eq!(format!("{kind:?}").to_lowercase(), kind.name());
        }
        let unknown = serde_json::from_value::<TargetKind>(serde_json::json!("acme")).unwrap_err();
        assert!(unknown.to_string().contains("expected one of cyberark"), "{unknown}");
    }
}
