//! One file per vendor; each follows its seed document in shared/seeds/. What they share is here.
pub mod cyberark;
pub mod docusign;
pub mod eloqua;
pub mod esign;
pub mod workspace365;

use crate::config::{read_secret, ConfigError, TargetKind, TargetSettings};
use crate::sync::client::VendorClient;
use crate::sync::{ConnectorError, Desired, Link, Secret};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The closed set of connectors (one variant per vendor kind).
pub enum Connector {
    Cyberark(cyberark::Cyberark),
    Docusign(Box<docusign::Docusign>),
    Eloqua(eloqua::Eloqua),
    Esign(esign::Esign),
    Workspace365(workspace365::Workspace365),
}

impl Connector {
    /// The connector a `[[target]]` describes, its secrets read now: a missing one fails here,
    /// naming the key and where it was looked for.
    pub fn build(
        settings: &TargetSettings,
        http: reqwest::Client,
        health: std::sync::Arc<crate::sync::health::Health>,
        clock: std::sync::Arc<crate::sync::clock::Clock>,
    ) -> Result<Self, ConfigError> {
        let vendor = VendorClient::new(&settings.name, http, settings.rate_limit).with_health(health, clock);
        let target = settings.name.clone();
        let connector = match settings.kind {
            TargetKind::Workspace365 => Self::Workspace365(workspace365::Workspace365::new(
                workspace365::Settings {
                    target,
                    base_url: settings.base_url.clone(),
                    environment: settings.environment.clone().unwrap_or_default(),
                    provisioning_key: secret(
                        settings,
                        "provisioning_key",
                        &settings.provisioning_key_env,
                        &settings.provisioning_key_file,
                    )?,
                    create_in_office365: settings.create_in_office365.unwrap_or(false),
                },
                vendor,
            )),
            TargetKind::Esign => Self::Esign(esign::Esign::new(
                esign::Settings {
                    target,
                    base_url: settings.base_url.clone(),
                    api_key: secret(settings, "api_key", &settings.api_key_env, &settings.api_key_file)?,
                    salt: secret(settings, "salt", &settings.salt_env, &settings.salt_file)?,
                },
                vendor,
            )),
            TargetKind::Cyberark => Self::Cyberark(cyberark::Cyberark::new(
                cyberark::Settings {
                    target,
                    base_url: settings.base_url.clone(),
                    auth_method: settings.auth_method.clone().unwrap_or_else(|| "CyberArk".into()),
                    username: secret(settings, "username", &settings.username_env, &settings.username_file)?,
                    password: secret(settings, "password", &settings.password_env, &settings.password_file)?,
                    user_type: settings.user_type.clone().unwrap_or_else(|| "EPVUser".into()),
                    location: settings.location.clone().unwrap_or_else(|| "\\".into()),
                },
                vendor,
            )),
            TargetKind::Docusign => {
                let key_file = settings.private_key_file.as_deref();
                let private_key = read_secret("private_key", None, key_file)?.unwrap_or_default();
                let connector = docusign::Docusign::new(
                    docusign::Settings {
                        target,
                        oauth_base_url: settings.oauth_base_url.clone().unwrap_or_default(),
                        integration_key: settings.integration_key.clone().unwrap_or_default(),
                        user_id: settings.user_id.clone().unwrap_or_default(),
                        private_key: Secret::new(private_key),
                        account_id: settings.account_id.clone().unwrap_or_default(),
                        base_url: Some(settings.base_url.clone()).filter(|b| !b.is_empty()),
                        batch_size: settings.batch_size(),
                        concurrency: settings.concurrency(),
                    },
                    vendor,
                )
                .map_err(|e| ConfigError::Invalid(format!("target '{}': {e}", settings.name)))?;
                Self::Docusign(Box::new(connector))
            }
            TargetKind::Eloqua => Self::Eloqua(eloqua::Eloqua::new(
                eloqua::Settings {
                    target,
                    login_url: settings
                        .login_url
                        .clone()
                        .unwrap_or_else(|| "https://login.eloqua.com".into()),
                    base_url: Some(settings.base_url.clone()).filter(|b| !b.is_empty()),
                    company: settings.company.clone().unwrap_or_default(),
                    username: secret(settings, "username", &settings.username_env, &settings.username_file)?,
                    password: secret(settings, "password", &settings.password_env, &settings.password_file)?,
                },
                vendor,
            )),
        };
        Ok(connector)
    }

    /// How many of a target's reconciles may run at once. The vendor calls in flight stay bounded
    /// by `concurrency`; DocuSign needs more reconciles waiting than calls, to fill its batches.
    pub fn reconciles_in_flight(settings: &TargetSettings) -> usize {
        match settings.kind {
            TargetKind::Docusign => {
                docusign::Docusign::reconciles_in_flight(settings.concurrency(), settings.batch_size())
            }
            _ => settings.concurrency(),
        }
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

/// A secret named by `{key}_env` or `{key}_file`, required.
fn secret(
    settings: &TargetSettings,
    key: &'static str,
    env: &Option<String>,
    file: &Option<std::path::PathBuf>,
) -> Result<Secret, ConfigError> {
    read_secret(key, env.as_deref(), file.as_deref())?
        .map(Secret::new)
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "target '{}': no {key} (set `{key}_env` or `{key}_file`)",
                settings.name
            ))
        })
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

/// A request body as JSON text.
pub fn to_json(target: &str, body: &impl Serialize) -> Result<String, ConnectorError> {
    serde_json::to_string(body).map_err(|e| ConnectorError::Permanent {
        target: target.to_owned(),
        status: None,
        detail: format!("cannot encode the body: {e}"),
    })
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

/// A vendor answer that is not the JSON it should be.
pub fn unreadable(target: &str, what: &str, body: &str) -> ConnectorError {
    ConnectorError::Permanent {
        target: target.to_owned(),
        status: None,
        detail: format!("{what}: unexpected answer: {}", crate::sync::client::excerpt(body)),
    }
}

/// A value over a vendor's field limit: refused before any call, naming the field.
pub fn check_length(target: &str, field: &str, value: &str, limit: usize) -> Result<(), ConnectorError> {
    let length = value.chars().count();
    if length <= limit {
        return Ok(());
    }
    Err(ConnectorError::Permanent {
        target: target.to_owned(),
        status: None,
        detail: format!("{field} is {length} characters; the vendor takes at most {limit}"),
    })
}
