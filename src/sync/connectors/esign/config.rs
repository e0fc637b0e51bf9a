//! `kind = "esign"`: the keys of a Constellation1 eSign target (docs/vendors/esign.md).
use super::{Esign, Settings};
use crate::secrets::SecretRef;
use crate::sync::vendor::{BuildError, Setup, TargetConfig};
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

impl TargetConfig for Config {
    type Vendor = Esign;

    fn validate(&self) -> Result<(), String> {
        require_http_url("base_url", &self.base_url)
    }

    /// The connector, its secrets read now.
    fn build(&self, setup: Setup) -> Result<Esign, BuildError> {
        let settings = Settings {
            target: setup.target.clone(),
            base_url: self.base_url.clone(),
            api_key: self.api_key.read("api_key")?,
            salt: self.salt.read("salt")?,
        };
        Ok(Esign::new(settings, setup.client))
    }
}
