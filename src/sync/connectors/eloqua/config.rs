//! `kind = "eloqua"`: the keys of an Oracle Eloqua target (docs/vendors/eloqua.md).
use super::{Eloqua, Settings};
use crate::secrets::SecretRef;
use crate::sync::vendor::{BuildError, Setup, TargetConfig};
use crate::sync::connectors::{require_http_url, require_text};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where `GET /id` names the pod's API base.
    #[serde(default = "default_login_url")]
    pub login_url: String,
    /// Skips discovery when set (e.g. `https://secure.p03.eloqua.com`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The company (site) name of the Basic credential `company\username`.
    pub company: String,
    pub username: SecretRef,
    pub password: SecretRef,
}

fn default_login_url() -> String {
    "https://login.eloqua.com".into()
}

impl TargetConfig for Config {
    type Vendor = Eloqua;

    fn validate(&self) -> Result<(), String> {
        require_http_url("login_url", &self.login_url)?;
        if let Some(base) = &self.base_url {
            require_http_url("base_url", base)?;
        }
        require_text("company", &self.company)
    }

    /// The connector, its secrets read now.
    fn build(&self, setup: Setup) -> Result<Eloqua, BuildError> {
        let settings = Settings {
            target: setup.target.clone(),
            login_url: self.login_url.clone(),
            base_url: self.base_url.clone(),
            company: self.company.clone(),
            username: self.username.read("username")?,
            password: self.password.read("password")?,
        };
        Ok(Eloqua::new(settings, setup.client, &setup.entitlements))
    }
}
