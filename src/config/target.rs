//! `[[target]]`: the vendors users fan out to (shared/design.md, "Configuration"). Checked when the
//! file is read; secrets (`*_env`, `*_file`) are read only by the commands that call vendors.
use super::ConfigError;
use crate::scim::{schema, Filter};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The vendor a target speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Esign,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// Unique; the `target` column of `links` and `sync_queue`.
    pub name: String,
    pub kind: TargetKind,
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
    // workspace365
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub provisioning_key_env: Option<String>,
    #[serde(default)]
    pub provisioning_key_file: Option<PathBuf>,
    #[serde(default)]
    pub create_in_office365: Option<bool>,
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
    pub fn takes_passwords(&self) -> bool {
        matches!(self.kind, TargetKind::Workspace365)
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(4)
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
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            return invalid("base_url must be an http(s) URL");
        }
        if !(1..=64).contains(&self.concurrency()) {
            return invalid("concurrency must be between 1 and 64");
        }
        if self.rate_limit.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return invalid("rate_limit must be a positive number of requests per second");
        }
        self.scope_filter()?;
        match self.kind {
            TargetKind::Workspace365 => {
                if self.environment.as_deref().is_none_or(str::is_empty) {
                    return invalid("workspace365 needs `environment`");
                }
                if self.provisioning_key_env.is_some() == self.provisioning_key_file.is_some() {
                    return invalid("workspace365 needs one of `provisioning_key_env` or `provisioning_key_file`");
                }
                Ok(())
            }
            other => invalid(&format!(
                "kind '{}' is not available in this version yet",
                kind_name(other)
            )),
        }
    }
}

fn kind_name(kind: TargetKind) -> &'static str {
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
            provisioning_key_file: None,
            create_in_office365: None,
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
                "kind 'cyberark' is not available",
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
