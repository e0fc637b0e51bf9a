//! `kind = "esign"`: the keys of a Constellation1 eSign target (docs/vendors/esign.md).
use super::{Esign, Settings};
use crate::config::{ConfigError, SecretRef};
use crate::sync::client::VendorClient;
use crate::sync::connectors::require_http_url;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The host; calls go to `{base_url}rest/v1/...`.
    pub base_url: String,
    /// The API key as the vendor encrypted it (configured once, already encrypted).
    pub api_key: SecretRef,
    pub salt: SecretRef,
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        require_http_url("base_url", &self.base_url)
    }

    /// The connector, its secrets read now.
    pub fn build(&self, target: &str, client: VendorClient) -> Result<Esign, ConfigError> {
        let settings = Settings {
            target: target.to_owned(),
            base_url: self.base_url.clone(),
            api_key: self.api_key.read("api_key")?,
            salt: self.salt.read("salt")?,
        };
        Ok(Esign::new(settings, client))
    }
}
