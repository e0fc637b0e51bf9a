//! `kind = "cyberark"`: the keys of a CyberArk PVWA target (docs/vendors/cyberark.md).
use super::{Cyberark, Settings};
use crate::secrets::SecretRef;
use crate::sync::vendor::{BuildError, Setup, TargetConfig};
use crate::sync::connectors::require_http_url;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Ends in `/PasswordVault`.
    pub base_url: String,
    /// `CyberArk`, `LDAP` or `RADIUS`: the Logon path segment.
    #[serde(default = "default_auth_method")]
    pub auth_method: String,
    pub username: SecretRef,
    pub password: SecretRef,
    #[serde(default = "default_user_type")]
    pub user_type: String,
    #[serde(default = "default_location")]
    pub location: String,
}

fn default_auth_method() -> String {
    "CyberArk".into()
}

fn default_user_type() -> String {
    "EPVUser".into()
}

fn default_location() -> String {
    "\\".into()
}

impl TargetConfig for Config {
    type Vendor = Cyberark;

    fn validate(&self) -> Result<(), String> {
        require_http_url("base_url", &self.base_url)?;
        if ["CyberArk", "LDAP", "RADIUS"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&self.auth_method))
        {
            Ok(())
        } else {
            Err("`auth_method` must be \"CyberArk\", \"LDAP\" or \"RADIUS\"".into())
        }
    }

    /// The connector, its secrets read now.
    fn build(&self, setup: Setup) -> Result<Cyberark, BuildError> {
        let settings = Settings {
            target: setup.target.clone(),
            base_url: self.base_url.clone(),
            auth_method: self.auth_method.clone(),
            username: self.username.read("username")?,
            password: self.password.read("password")?,
            user_type: self.user_type.clone(),
            location: self.location.clone(),
        };
        Ok(Cyberark::new(settings, setup.client, &setup.entitlements))
    }
}
