//! `kind = "workspace365"`: the keys of a Workspace365 target (docs/vendors/workspace365.md).
use super::{Settings, Workspace365};
use crate::secrets::SecretRef;
use crate::sync::connectors::{require_http_url, require_text};
use crate::sync::vendor::{BuildError, Setup, TargetConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Ends in `/Provisioning`.
    pub base_url: String,
    /// The tenant's environment name (the `{environment}` of every call).
    pub environment: String,
    pub provisioning_key: SecretRef,
    #[serde(default)]
    pub create_in_office365: bool,
}

impl TargetConfig for Config {
    type Vendor = Workspace365;

    fn validate(&self) -> Result<(), String> {
        require_http_url("base_url", &self.base_url)?;
        require_text("environment", &self.environment)
    }

    /// The connector, its secret read now.
    fn build(&self, setup: Setup) -> Result<Workspace365, BuildError> {
        let settings = Settings {
            target: setup.target,
            base_url: self.base_url.clone(),
            environment: self.environment.clone(),
            provisioning_key: self.provisioning_key.read("provisioning_key")?,
            create_in_office365: self.create_in_office365,
        };
        Ok(Workspace365::new(settings, setup.client))
    }
}
