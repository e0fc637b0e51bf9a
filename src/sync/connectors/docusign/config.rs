//! `kind = "docusign"`: the keys of a DocuSign eSignature target (docs/vendors/docusign.md).
use super::{Docusign, Settings};
use crate::secrets::SecretRef;
use crate::sync::vendor::{BuildError, Setup, TargetConfig};
use crate::sync::connectors::{require_http_url, require_text};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://account-d.docusign.com` (demo) or `https://account.docusign.com`.
    pub oauth_base_url: String,
    pub integration_key: String,
    /// The GUID of the user the bridge acts as (an admin who can manage users).
    pub user_id: String,
    /// The RSA private key (PEM) registered on the integration key.
    pub private_key: SecretRef,
    pub account_id: String,
    /// `{base_uri}/restapi`; discovered through `/oauth/userinfo` when absent.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Users per DocuSign call that takes many (default 100).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

/// DocuSign's bulk create takes at most 500 users ("the maximum number of users you can create in
/// one request is 500", eSignature v2.1 Users: create); the other bulk calls are held to the same.
const MAX_BATCH: usize = 500;

fn default_batch_size() -> usize {
    100
}

impl TargetConfig for Config {
    type Vendor = Docusign;

    fn validate(&self) -> Result<(), String> {
        require_http_url("oauth_base_url", &self.oauth_base_url)?;
        if let Some(base) = &self.base_url {
            require_http_url("base_url", base)?;
        }
        require_text("integration_key", &self.integration_key)?;
        require_text("user_id", &self.user_id)?;
        require_text("account_id", &self.account_id)?;
        if (1..=MAX_BATCH).contains(&self.batch_size) {
            Ok(())
        } else {
            Err(format!(
                "`batch_size` must be between 1 and {MAX_BATCH} (DocuSign creates at most {MAX_BATCH} users per call)"
            ))
        }
    }

    /// The connector, its key read now; a key that is not RSA in PEM fails here.
    fn build(&self, setup: Setup) -> Result<Docusign, BuildError> {
        let settings = Settings {
            target: setup.target.clone(),
            oauth_base_url: self.oauth_base_url.clone(),
            integration_key: self.integration_key.clone(),
            user_id: self.user_id.clone(),
            private_key: self.private_key.read("private_key")?,
            account_id: self.account_id.clone(),
            base_url: self.base_url.clone().filter(|b| !b.is_empty()),
            batch_size: self.batch_size,
            concurrency: setup.concurrency,
        };
        Docusign::new(settings, setup.client, &setup.entitlements).map_err(BuildError::Invalid)
    }
}
