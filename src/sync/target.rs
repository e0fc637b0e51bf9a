//! `[[target]]`: the vendors users fan out to (README, "Configuration"). A table is read in two
//! steps: the keys every target has (`name`, `kind`, `scope`, …) first, then the rest as the
//! vendor's own `Config` (its folder's `config.rs`, through the registry in `sync::connectors`),
//! which refuses any key it does not know, so a typo or a key meant for another vendor is never
//! silently ignored. Secrets are read only by the commands that call vendors.
use super::connectors::{TargetKind, VendorConfig};
use super::entitlements::{DefaultConfig, Entitlements, RuleConfig};
use super::mapping::Mapping;
use crate::scim::schema::ResourceSchema;
use crate::scim::Filter;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A target that cannot be used as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Whether the worker writes to the vendor, or only records what it would write (README
/// "Rehearsing": run beside a live tenant first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetMode {
    #[default]
    Write,
    Observe,
}

/// What a SCIM DELETE (or leaving `scope`) does at the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDelete {
    Delete,
    Deactivate,
}

/// One `[[target]]` table: the keys every target has, and its vendor's own.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// Unique; the `target` column of `links` and `sync_queue`.
    pub name: String,
    /// A SCIM filter over users: who belongs in this target (everyone when absent).
    pub scope: Option<String>,
    pub on_delete: Option<OnDelete>,
    /// `observe`: reconcile, record the planned calls, write nothing (default `write`).
    pub mode: TargetMode,
    /// Vendor calls in flight at once (default 4).
    pub concurrency: Option<usize>,
    /// Requests per second toward this vendor (no limit when absent).
    pub rate_limit: Option<f64>,
    /// The longest one vendor call may take, answer included, in seconds (default 30).
    pub timeout_secs: Option<f64>,
    /// The longest connecting to the vendor may take, in seconds (default 5).
    pub connect_timeout_secs: Option<f64>,
    /// `[target.mapping]`: vendor field → SCIM path, over the vendor's defaults (docs/mapping.md).
    pub mapping: BTreeMap<String, String>,
    /// Removals allowed per window before the rest are held (`0`: no guard; unset: the default).
    pub max_removals: Option<u64>,
    /// The removal guard's window, in seconds (default 3600).
    pub removal_window_secs: Option<u64>,
    /// While the vendor refuses the bridge's credentials, seconds between sign-in attempts (default 300).
    pub auth_retry_secs: Option<u64>,
    /// PEM certificates trusted for this vendor besides the platform's and Mozilla's roots (an
    /// internal CA, a TLS-inspecting proxy); `sync.ca_file` when unset.
    pub ca_file: Option<std::path::PathBuf>,
    /// An inactive user the vendor never had: created (then deactivated, where the create cannot
    /// say inactive) or not at all until activated (the default).
    pub create_inactive: Option<bool>,
    /// `[[target.entitlement]]`: SCIM groups → vendor grants, in order (docs/entitlements.md).
    pub entitlement: Vec<RuleConfig>,
    /// `[target.entitlement_default]`: the single-valued grant of a user no rule gives one.
    pub entitlement_default: Option<DefaultConfig>,
    pub vendor: VendorConfig,
}

/// The keys every target has, as the table spells them.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    name: String,
    kind: TargetKind,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    on_delete: Option<OnDelete>,
    #[serde(default)]
    mode: TargetMode,
    #[serde(default)]
    concurrency: Option<usize>,
    #[serde(default)]
    rate_limit: Option<f64>,
    #[serde(default)]
    timeout_secs: Option<f64>,
    #[serde(default)]
    connect_timeout_secs: Option<f64>,
    #[serde(default)]
    mapping: BTreeMap<String, String>,
    #[serde(default)]
    max_removals: Option<u64>,
    #[serde(default)]
    removal_window_secs: Option<u64>,
    #[serde(default)]
    auth_retry_secs: Option<u64>,
    #[serde(default)]
    ca_file: Option<std::path::PathBuf>,
    #[serde(default)]
    create_inactive: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    entitlement: Vec<RuleConfig>,
    #[serde(default)]
    entitlement_default: Option<DefaultConfig>,
}

/// The keys of `Common`, which are taken out of a table before its vendor reads the rest.
const COMMON_KEYS: [&str; 17] = [
    "name",
    "kind",
    "scope",
    "on_delete",
    "mode",
    "concurrency",
    "rate_limit",
    "timeout_secs",
    "connect_timeout_secs",
    "mapping",
    "max_removals",
    "removal_window_secs",
    "auth_retry_secs",
    "ca_file",
    "create_inactive",
    "entitlement",
    "entitlement_default",
];

/// A table's error naming the key it is about (serde_json's alone does not).
pub(crate) fn keyed(e: serde_path_to_error::Error<serde_json::Error>) -> String {
    match e.path().to_string().as_str() {
        "." => e.into_inner().to_string(),
        path => format!("{path}: {}", e.into_inner()),
    }
}

impl<'de> Deserialize<'de> for TargetSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = Map::<String, Value>::deserialize(deserializer)?;
        let common: Map<String, Value> = COMMON_KEYS
            .iter()
            .filter_map(|key| Some(((*key).to_owned(), table.remove(*key)?)))
            .collect();
        let name = common.get("name").and_then(Value::as_str).unwrap_or("?").to_owned();
        let common: Common = serde_path_to_error::deserialize(Value::Object(common))
            .map_err(|e| D::Error::custom(format!("target '{name}': {}", keyed(e))))?;
        let vendor = VendorConfig::parse(common.kind, table)
            .map_err(|e| D::Error::custom(format!("target '{name}' (kind {}): {e}", common.kind)))?;
        Ok(Self {
            name: common.name,
            scope: common.scope,
            on_delete: common.on_delete,
            mode: common.mode,
            concurrency: common.concurrency,
            rate_limit: common.rate_limit,
            timeout_secs: common.timeout_secs,
            connect_timeout_secs: common.connect_timeout_secs,
            mapping: common.mapping,
            max_removals: common.max_removals,
            removal_window_secs: common.removal_window_secs,
            auth_retry_secs: common.auth_retry_secs,
            ca_file: common.ca_file,
            create_inactive: common.create_inactive,
            entitlement: common.entitlement,
            entitlement_default: common.entitlement_default,
            vendor,
        })
    }
}

/// One flat table again, as it is written in the file.
impl Serialize for TargetSettings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let common = Common {
            name: self.name.clone(),
            kind: self.kind(),
            scope: self.scope.clone(),
            on_delete: self.on_delete,
            mode: self.mode,
            concurrency: self.concurrency,
            rate_limit: self.rate_limit,
            timeout_secs: self.timeout_secs,
            connect_timeout_secs: self.connect_timeout_secs,
            mapping: self.mapping.clone(),
            max_removals: self.max_removals,
            removal_window_secs: self.removal_window_secs,
            auth_retry_secs: self.auth_retry_secs,
            ca_file: self.ca_file.clone(),
            create_inactive: self.create_inactive,
            entitlement: self.entitlement.clone(),
            entitlement_default: self.entitlement_default.clone(),
        };
        let table = |value: Result<Value, serde_json::Error>| match value {
            Ok(Value::Object(table)) => Ok(table),
            Ok(_) => Err(S::Error::custom("a target is a table")),
            Err(e) => Err(S::Error::custom(e)),
        };
        let mut out = table(serde_json::to_value(&common))?;
        out.extend(table(self.vendor.to_table())?);
        let unset = |key: &str, value: &Value| {
            value.is_null() || (key == "mapping" && value.as_object().is_some_and(Map::is_empty))
        };
        out.retain(|key, value| !unset(key, value));
        out.serialize(serializer)
    }
}

impl TargetSettings {
    /// A target with the common keys at their defaults.
    pub fn new(name: &str, vendor: VendorConfig) -> Self {
        Self {
            name: name.to_owned(),
            scope: None,
            on_delete: None,
            mode: TargetMode::Write,
            concurrency: None,
            rate_limit: None,
            timeout_secs: None,
            connect_timeout_secs: None,
            mapping: BTreeMap::new(),
            max_removals: None,
            removal_window_secs: None,
            auth_retry_secs: None,
            ca_file: None,
            create_inactive: None,
            entitlement: Vec::new(),
            entitlement_default: None,
            vendor,
        }
    }

    pub fn kind(&self) -> TargetKind {
        self.vendor.kind()
    }

    /// The parsed `scope` filter, checked against the User schema (`schema`, extensions included).
    pub fn scope_filter(&self, schema: &ResourceSchema) -> Result<Option<Filter>, TargetError> {
        let Some(text) = self.scope.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        let invalid = |detail: String| TargetError::Invalid(format!("target '{}': scope: {detail}", self.name));
        let filter: Filter = text.parse().map_err(|e: crate::scim::ScimError| invalid(e.detail))?;
        for path in filter.paths() {
            schema.resolve(&path).map_err(invalid)?;
        }
        Ok(Some(filter))
    }

    /// The vendor's fields with this target's overrides, checked against the User schema.
    pub fn mapping(&self, schema: &'static ResourceSchema) -> Result<Mapping, TargetError> {
        Mapping::build(self.kind().fields(), &self.mapping, schema)
            .map_err(|e| TargetError::Invalid(format!("target '{}': {e}", self.name)))
    }

    /// The target's entitlement rules, checked against its vendor. A field the rules set cannot be
    /// mapped from SCIM as well.
    pub fn entitlements(&self) -> Result<Entitlements, TargetError> {
        let invalid = |detail: String| TargetError::Invalid(format!("target '{}': {detail}", self.name));
        let kind = self.kind();
        let entitlements = Entitlements::compile(
            kind.grants(),
            kind.fields(),
            &self.entitlement,
            self.entitlement_default.as_ref(),
        )
        .map_err(invalid)?;
        if let Some(field) = entitlements
            .single_field()
            .filter(|f| self.mapping.contains_key(f.name))
        {
            return Err(invalid(format!(
                "mapping: \"{}\" is set by the entitlement rules; remove it from [target.mapping]",
                field.name
            )));
        }
        Ok(entitlements)
    }

    /// Whether this vendor takes users' passwords (so an IdP password is held until delivered).
    pub fn takes_passwords(&self) -> bool {
        self.kind().takes_passwords()
    }

    /// What a SCIM DELETE (or leaving `scope`) does here (default `deactivate`: deleting is opt-in).
    pub fn on_delete(&self) -> OnDelete {
        self.on_delete.unwrap_or(OnDelete::Deactivate)
    }

    /// While the vendor refuses the bridge's credentials, the wait between sign-in attempts.
    pub fn auth_retry(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.auth_retry_secs.unwrap_or(300))
    }

    /// The removal guard's allowance (README "Removal guard").
    pub fn removal_limit(&self) -> crate::store::RemovalLimit {
        crate::store::RemovalLimit {
            max: self.max_removals,
            window: std::time::Duration::from_secs(self.removal_window_secs.unwrap_or(3600)),
        }
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(4)
    }

    /// Whether an inactive user the vendor never had is created: always where the create itself
    /// says inactive (CyberArk's `enableUser`); elsewhere only with `create_inactive = true`, as
    /// creating then deactivating sends DocuSign's activation e-mail and may bill an eSign seat.
    pub fn creates_inactive(&self) -> bool {
        self.kind().rules().new_user == super::reconcile::NewUser::AsAsked || self.create_inactive.unwrap_or(false)
    }

    /// The HTTP client this target's calls go through: its timeouts, and the roots it trusts.
    pub fn http_client(&self) -> Result<reqwest::Client, TargetError> {
        let (timeout, connect_timeout) = self.timeouts();
        self.http_client_with(timeout, connect_timeout)
    }

    /// The same with other timeouts (`check`'s probe).
    pub fn http_client_with(
        &self,
        timeout: std::time::Duration,
        connect_timeout: std::time::Duration,
    ) -> Result<reqwest::Client, TargetError> {
        super::client::http_client_trusting(timeout, connect_timeout, self.ca_file.as_deref())
            .map_err(|e| TargetError::Invalid(format!("target '{}': {e}", self.name)))
    }

    /// (total, connect) timeouts of one vendor call.
    pub fn timeouts(&self) -> (std::time::Duration, std::time::Duration) {
        let seconds = |v: Option<f64>, default: f64| std::time::Duration::from_secs_f64(v.unwrap_or(default));
        (
            seconds(self.timeout_secs, 30.0),
            seconds(self.connect_timeout_secs, 5.0),
        )
    }

    fn validate(&self, schema: &'static ResourceSchema) -> Result<(), TargetError> {
        let invalid = |detail: &str| Err(TargetError::Invalid(format!("target '{}': {detail}", self.name)));
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(TargetError::Invalid(format!(
                "target name '{}' must be letters, digits, '-' or '_'",
                self.name
            )));
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
        if self.auth_retry_secs.is_some_and(|s| !(10..=86_400).contains(&s)) {
            return invalid("auth_retry_secs must be between 10 and 86400 (a day)");
        }
        if self
            .removal_window_secs
            .is_some_and(|w| !(60..=7 * 86_400).contains(&w))
        {
            return invalid("removal_window_secs must be between 60 and 604800 (a week)");
        }
        self.scope_filter(schema)?;
        self.mapping(schema)?;
        self.entitlements()?;
        self.vendor
            .validate()
            .map_err(|detail| TargetError::Invalid(format!("target '{}' (kind {}): {detail}", self.name, self.kind())))
    }
}

/// Checks every target and that names are unique.
pub fn validate_targets(targets: &[TargetSettings], schema: &'static ResourceSchema) -> Result<(), TargetError> {
    for (n, target) in targets.iter().enumerate() {
        target.validate(schema)?;
        if targets[..n].iter().any(|t| t.name == target.name) {
            return Err(TargetError::Invalid(format!("two targets are named '{}'", target.name)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};

    const W365: &str = r#"
        name = "w365"
        kind = "workspace365"
        base_url = "https://portal.workspace365.net/Provisioning"
        scope = 'groups.display eq "Workspace users"'
        environment = "example"
        provisioning_key_env = "W365_KEY"
    "#;

    #[derive(Serialize, Deserialize)]
    struct File {
        target: Vec<TargetSettings>,
    }

    /// A file's text, read and checked as `serve` reads it.
    fn read(text: &str) -> Result<Vec<TargetSettings>, String> {
        let file: File = figment::Figment::from(Toml::string(text))
            .extract()
            .map_err(|e| e.to_string())?;
        validate_targets(&file.target, crate::scim::schema::user()).map_err(|e| e.to_string())?;
        Ok(file.target)
    }

    /// `[[target]]` tables, read and checked.
    fn targets(tables: &[String]) -> Result<Vec<TargetSettings>, String> {
        read(&tables.iter().map(|t| format!("[[target]]\n{t}\n")).collect::<String>())
    }

    fn w365(edit: impl Fn(&str) -> String) -> String {
        edit(W365)
    }

    #[test]
    fn a_complete_workspace365_target_is_accepted_and_written_back_the_same() {
        let parsed = targets(&[W365.to_owned()]).unwrap();
        assert_eq!(parsed[0].kind(), TargetKind::Workspace365);
        assert!(parsed[0].scope_filter(crate::scim::schema::user()).unwrap().is_some());
        let written = toml::to_string(&File { target: parsed }).unwrap();
        let again = read(&written).unwrap();
        assert_eq!(toml::to_string(&File { target: again }).unwrap(), written);
        assert!(written.contains("env = \"W365_KEY\""), "{written}");
    }

    #[test]
    fn mistakes_are_named() {
        let replace = |from: &'static str, to: &'static str| move |t: &str| t.replace(from, to);
        let rows: Vec<(Vec<String>, &str)> = vec![
            (vec![W365.into(), W365.into()], "two targets are named 'w365'"),
            (vec![w365(replace("\"w365\"", "\"a b\""))], "must be letters"),
            (
                vec![w365(replace("groups.display eq \"Workspace users\"", "shoeSize eq 1"))],
                "scope: unknown attribute 'shoeSize'",
            ),
            (
                vec![w365(replace("environment = \"example\"", ""))],
                "missing field `environment`",
            ),
            (
                vec![w365(replace("environment = \"example\"", "environment = \"\""))],
                "`environment` must not be empty",
            ),
            (
                vec![w365(replace("provisioning_key_env = \"W365_KEY\"", ""))],
                "missing field `provisioning_key`",
            ),
            (
                vec![w365(replace("kind = \"workspace365\"", "kind = \"cyberark\""))],
                "target 'w365' (kind cyberark): environment: unknown field `environment`",
            ),
            (
                vec![w365(replace("https://portal", "ftp://portal"))],
                "base_url must be an http(s) URL",
            ),
            (vec![format!("{W365}\nconcurrency = 0")], "concurrency"),
            (vec![format!("{W365}\nsalt_env = \"S\"")], "unknown field `salt`"),
            (
                vec![format!("{W365}\nprovisioning_key_file = \"/k\"")],
                "`provisioning_key` is set twice",
            ),
            (vec![format!("{W365}\nnmae = \"x\"")], "unknown field `nmae`"),
            (
                vec![format!("{W365}\n[[target.entitlement]]\ngroup = \"Vault Auditors\"\nvault_groups = [\"Auditors\"]")],
                "target 'w365': entitlement #1 (group \"Vault Auditors\"): this vendor takes no `vault_groups` (it takes administrator)",
            ),
            (
                vec![format!("{W365}\nmapping = {{ IsAdministrator = \"active\" }}\n[[target.entitlement]]\ngroup = \"A\"\nadministrator = true")],
                "\"IsAdministrator\" is set by the entitlement rules",
            ),
            (
                vec![format!("{W365}\n[[target.entitlement]]\ngroup = \"A\"\nadministrator = true\nrole = \"x\"")],
                "unknown field `role`",
            ),
        ];
        for (tables, detail) in rows {
            let err = targets(&tables).unwrap_err();
            assert!(err.contains(detail), "{err} should contain {detail}");
        }
    }
}
