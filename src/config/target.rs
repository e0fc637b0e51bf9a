//! `[[target]]`: the vendors users fan out to (shared/design.md, "Configuration"). Checked when the
//! file is read; secrets (`*_env`, `*_file`) are read only by the commands that call vendors.
use super::ConfigError;
use crate::scim::{schema, Filter};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The vendor a target speaks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Esign,
    #[default]
    Workspace365,
    Cyberark,
    Docusign,
    Eloqua,
}

/// What a SCIM DELETE (or leaving `scope`) does at the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDelete {
    Delete,
    Deactivate,
}

/// One `[[target]]` table. Keys a kind does not use are refused by `validate`, so a typo or a key
/// meant for another vendor is never silently ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// Unique; the `target` column of `links` and `sync_queue`.
    pub name: String,
    pub kind: TargetKind,
    /// Required except for `docusign` and `eloqua`, which discover their API base when it is absent.
    #[serde(default)]
    pub base_url: String,
    /// A SCIM filter over users: who belongs in this target (everyone when absent).
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub on_delete: Option<OnDelete>,
    /// Vendor calls in flight at once (default 4).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Requests per second toward this vendor (no limit when absent).
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// The longest one vendor call may take, answer included, in seconds (default 30).
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// The longest connecting to the vendor may take, in seconds (default 5).
    #[serde(default)]
    pub connect_timeout_secs: Option<f64>,
    // workspace365
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub provisioning_key_env: Option<String>,
    #[serde(default)]
    pub provisioning_key_file: Option<PathBuf>,
    #[serde(default)]
    pub create_in_office365: Option<bool>,
    // esign
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    #[serde(default)]
    pub salt_env: Option<String>,
    #[serde(default)]
    pub salt_file: Option<PathBuf>,
    // cyberark and eloqua
    #[serde(default)]
    pub username_env: Option<String>,
    #[serde(default)]
    pub username_file: Option<PathBuf>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    // cyberark
    #[serde(default)]
    pub auth_method: Option<String>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    // docusign
    #[serde(default)]
    pub oauth_base_url: Option<String>,
    #[serde(default)]
    pub integration_key: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub batch_size: Option<usize>,
    // eloqua
    #[serde(default)]
    pub login_url: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
}

impl TargetSettings {
    /// The parsed `scope` filter, checked against the User schema.
    pub fn scope_filter(&self) -> Result<Option<Filter>, ConfigError> {
        let Some(text) = self.scope.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        let invalid = |detail: String| ConfigError::Invalid(format!("target '{}': scope: {detail}", self.name));
        let filter: Filter = text.parse().map_err(|e: crate::scim::ScimError| invalid(e.detail))?;
        for path in filter.paths() {
            schema::user().resolve(&path).map_err(invalid)?;
        }
        Ok(Some(filter))
    }

    /// Whether this vendor takes users' passwords (so an IdP password is held until delivered).
    /// Workspace365 takes them on create and update, CyberArk as the initial password of a new user.
    pub fn takes_passwords(&self) -> bool {
        matches!(self.kind, TargetKind::Workspace365 | TargetKind::Cyberark)
    }

    /// Users per DocuSign `PUT …/users` call (default 100).
    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(100)
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(4)
    }

    /// (total, connect) timeouts of one vendor call.
    pub fn timeouts(&self) -> (std::time::Duration, std::time::Duration) {
        let seconds = |v: Option<f64>, default: f64| std::time::Duration::from_secs_f64(v.unwrap_or(default));
        (
            seconds(self.timeout_secs, 30.0),
            seconds(self.connect_timeout_secs, 5.0),
        )
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |detail: &str| Err(ConfigError::Invalid(format!("target '{}': {detail}", self.name)));
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(ConfigError::Invalid(format!(
                "target name '{}' must be letters, digits, '-' or '_'",
                self.name
            )));
        }
        let discovers_base = matches!(self.kind, TargetKind::Docusign | TargetKind::Eloqua);
        let discovered = discovers_base && self.base_url.is_empty();
        if !(discovered || is_http_url(&self.base_url)) {
            return invalid("base_url must be an http(s) URL");
        }
        if !(1..=64).contains(&self.concurrency()) {
            return invalid("concurrency must be between 1 and 64");
        }
        if self.rate_limit.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return invalid("rate_limit must be a positive number of requests per second");
        }
        for (key, value) in [
            ("timeout_secs", self.timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
        ] {
            if value.is_some_and(|v| !(0.05..=600.0).contains(&v)) {
                return invalid(&format!("{key} must be between 0.05 and 600 seconds"));
            }
        }
        self.scope_filter()?;
        self.refuse_foreign_keys()?;
        let kind = kind_name(self.kind);
        let need = |present: bool, what: &str| {
            if present {
                Ok(())
            } else {
                Err(ConfigError::Invalid(format!(
                    "target '{}': {kind} needs {what}",
                    self.name
                )))
            }
        };
        let one_of = |env: &Option<String>, file: &Option<PathBuf>, key: &str| {
            need(
                env.is_some() != file.is_some(),
                &format!("one of `{key}_env` or `{key}_file`"),
            )
        };
        match self.kind {
            TargetKind::Workspace365 => {
                need(
                    self.environment.as_deref().is_some_and(|e| !e.is_empty()),
                    "`environment`",
                )?;
                one_of(
                    &self.provisioning_key_env,
                    &self.provisioning_key_file,
                    "provisioning_key",
                )
            }
            TargetKind::Esign => {
                one_of(&self.api_key_env, &self.api_key_file, "api_key")?;
                one_of(&self.salt_env, &self.salt_file, "salt")
            }
            TargetKind::Cyberark => {
                let method = self.auth_method.as_deref().unwrap_or("CyberArk");
                need(
                    ["CyberArk", "LDAP", "RADIUS"]
                        .iter()
                        .any(|m| m.eq_ignore_ascii_case(method)),
                    "`auth_method` = \"CyberArk\", \"LDAP\" or \"RADIUS\"",
                )?;
                one_of(&self.username_env, &self.username_file, "username")?;
                one_of(&self.password_env, &self.password_file, "password")
            }
            TargetKind::Docusign => {
                need(
                    self.oauth_base_url.as_deref().is_some_and(is_http_url),
                    "`oauth_base_url` (an http(s) URL)",
                )?;
                for (value, key) in [
                    (&self.integration_key, "`integration_key`"),
                    (&self.user_id, "`user_id`"),
                    (&self.account_id, "`account_id`"),
                ] {
                    need(value.as_deref().is_some_and(|v| !v.is_empty()), key)?;
                }
                need(self.private_key_file.is_some(), "`private_key_file`")?;
                need(
                    (1..=1000).contains(&self.batch_size()),
                    "`batch_size` between 1 and 1000",
                )
            }
            TargetKind::Eloqua => {
                need(
                    self.login_url.as_deref().is_none_or(is_http_url),
                    "`login_url` to be an http(s) URL",
                )?;
                need(self.company.as_deref().is_some_and(|c| !c.is_empty()), "`company`")?;
                one_of(&self.username_env, &self.username_file, "username")?;
                one_of(&self.password_env, &self.password_file, "password")
            }
        }
    }

    /// Refuses a key that belongs to another kind of target (e.g. `salt_env` on a cyberark target).
    fn refuse_foreign_keys(&self) -> Result<(), ConfigError> {
        use TargetKind::*;
        let keys: [(&str, bool, &[TargetKind]); 23] = [
            ("environment", self.environment.is_some(), &[Workspace365]),
            (
                "provisioning_key_env",
                self.provisioning_key_env.is_some(),
                &[Workspace365],
            ),
            (
                "provisioning_key_file",
                self.provisioning_key_file.is_some(),
                &[Workspace365],
            ),
            (
                "create_in_office365",
                self.create_in_office365.is_some(),
                &[Workspace365],
            ),
            ("api_key_env", self.api_key_env.is_some(), &[Esign]),
            ("api_key_file", self.api_key_file.is_some(), &[Esign]),
            ("salt_env", self.salt_env.is_some(), &[Esign]),
            ("salt_file", self.salt_file.is_some(), &[Esign]),
            ("username_env", self.username_env.is_some(), &[Cyberark, Eloqua]),
            ("username_file", self.username_file.is_some(), &[Cyberark, Eloqua]),
            ("password_env", self.password_env.is_some(), &[Cyberark, Eloqua]),
            ("password_file", self.password_file.is_some(), &[Cyberark, Eloqua]),
            ("auth_method", self.auth_method.is_some(), &[Cyberark]),
            ("user_type", self.user_type.is_some(), &[Cyberark]),
            ("location", self.location.is_some(), &[Cyberark]),
            ("oauth_base_url", self.oauth_base_url.is_some(), &[Docusign]),
            ("integration_key", self.integration_key.is_some(), &[Docusign]),
            ("user_id", self.user_id.is_some(), &[Docusign]),
            ("private_key_file", self.private_key_file.is_some(), &[Docusign]),
            ("account_id", self.account_id.is_some(), &[Docusign]),
            ("batch_size", self.batch_size.is_some(), &[Docusign]),
            ("login_url", self.login_url.is_some(), &[Eloqua]),
            ("company", self.company.is_some(), &[Eloqua]),
        ];
        let foreign = keys
            .iter()
            .find(|(_, set, kinds)| *set && !kinds.contains(&self.kind))
            .map(|(key, _, _)| *key);
        match foreign {
            Some(key) => Err(ConfigError::Invalid(format!(
                "target '{}': `{key}` is not a key of kind '{}'",
                self.name,
                kind_name(self.kind)
            ))),
            None => Ok(()),
        }
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

pub fn kind_name(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Esign => "esign",
        TargetKind::Workspace365 => "workspace365",
        TargetKind::Cyberark => "cyberark",
        TargetKind::Docusign => "docusign",
        TargetKind::Eloqua => "eloqua",
    }
}

/// Checks every target and that names are unique.
pub fn validate_targets(targets: &[TargetSettings]) -> Result<(), ConfigError> {
    for (n, target) in targets.iter().enumerate() {
        target.validate()?;
        if targets[..n].iter().any(|t| t.name == target.name) {
            return Err(ConfigError::Invalid(format!("two targets are named '{}'", target.name)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w365(name: &str) -> TargetSettings {
        TargetSettings {
            name: name.into(),
            kind: TargetKind::Workspace365,
            base_url: "https://portal.workspace365.net/Provisioning".into(),
            scope: Some("groups.display eq \"Workspace users\"".into()),
            on_delete: None,
            concurrency: None,
            rate_limit: None,
            environment: Some("example".into()),
            provisioning_key_env: Some("W365_KEY".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_workspace365_target_is_accepted() {
        validate_targets(&[w365("w365")]).unwrap();
        assert!(w365("w365").scope_filter().unwrap().is_some());
    }

    #[test]
    fn mistakes_are_named() {
        let rows: Vec<(Vec<TargetSettings>, &str)> = vec![
            (vec![w365("a"), w365("a")], "two targets are named 'a'"),
            (
                vec![TargetSettings {
                    name: "a b".into(),
                    ..w365("x")
                }],
                "must be letters",
            ),
            (
                vec![TargetSettings {
                    scope: Some("shoeSize eq 1".into()),
                    ..w365("s")
                }],
                "scope: unknown attribute 'shoeSize'",
            ),
            (
                vec![TargetSettings {
                    scope: Some("userName eq".into()),
                    ..w365("s")
                }],
                "scope: expected",
            ),
            (
                vec![TargetSettings {
                    environment: None,
                    ..w365("e")
                }],
                "needs `environment`",
            ),
            (
                vec![TargetSettings {
                    provisioning_key_env: None,
                    ..w365("k")
                }],
                "provisioning_key_env",
            ),
            (
                vec![TargetSettings {
                    kind: TargetKind::Cyberark,
                    ..w365("c")
                }],
                "`environment` is not a key of kind 'cyberark'",
            ),
            (
                vec![TargetSettings {
                    base_url: "ftp://x".into(),
                    ..w365("u")
                }],
                "base_url",
            ),
            (
                vec![TargetSettings {
                    concurrency: Some(0),
                    ..w365("n")
                }],
                "concurrency",
            ),
        ];
        for (targets, detail) in rows {
            let err = validate_targets(&targets).unwrap_err().to_string();
            assert!(err.contains(detail), "{err} should contain {detail}");
        }
    }
}
