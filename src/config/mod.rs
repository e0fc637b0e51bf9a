//! Typed configuration: defaults, then `./scim-bridge.toml` (or `--config FILE`), then
//! `SCIM_BRIDGE__SECTION__KEY` environment variables. Secrets are named by `*_env` / `*_file`.
mod schema;

pub use crate::secrets::{read_secret, SecretError, SecretRef};
pub use crate::sync::connectors::TargetKind;
pub use crate::sync::target::{OnDelete, TargetError, TargetMode, TargetSettings};
pub use schema::SchemaSettings;

use crate::scim::Limits;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_FILE: &str = "scim-bridge.toml";
/// The longest request target the HTTP stack can parse (the `http` crate's URI limit, less a margin).
pub const MAX_URI_LENGTH_CEILING: usize = 65_000;
pub const ENV_PREFIX: &str = "SCIM_BRIDGE__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl From<TargetError> for ConfigError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Invalid(detail) => Self::Invalid(detail),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub sync: SyncSettings,
    /// `[audit]`: the request log and how long events and requests are kept (docs/audit.md).
    pub audit: AuditSettings,
    /// `[schema]`: declared User schema extensions (docs/extensions.md).
    pub schema: SchemaSettings,
    /// `[[target]]`: the vendors changes fan out to.
    pub target: Vec<TargetSettings>,
    /// The file these settings were read from, if any (`--config`, or `./scim-bridge.toml`).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// Where the operator console is served (`server.admin_listen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleListener {
    /// Its own address (the default, loopback).
    Own(SocketAddr),
    /// The SCIM listener, beside the API.
    Scim,
    /// Nowhere.
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    pub base_path: String,
    /// The SCIM base URL clients see, for `meta.location` and `Location` (behind a proxy).
    pub public_url: Option<String>,
    /// Requests with a larger body are refused with 413.
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads (default: one per CPU core).
    pub workers: Option<usize>,
    /// The most resources one list or search returns (`count` is capped to it); advertised as
    /// `filter.maxResults` in ServiceProviderConfig.
    pub max_results: usize,
    /// The longest filter accepted, in bytes (query string or SearchRequest).
    pub max_filter_length: usize,
    /// The most attribute expressions one filter may hold.
    pub max_filter_clauses: usize,
    /// The most operations one PATCH may carry (more is 400 `tooMany`).
    pub max_patch_operations: usize,
    /// The longest attribute path (PATCH `path`, `sortBy`), in bytes.
    pub max_path_length: usize,
    /// The most operations one bulk request may carry (`bulk.maxOperations`; more is 413).
    pub max_bulk_operations: usize,
    /// The longest request target (path and query), in bytes; longer is 414.
    pub max_uri_length: usize,
    /// Where the operator console is served (admin tokens only; README "Operator console").
    pub admin_path: String,
    /// The console's own listener: an address (default `127.0.0.1:8081`, so that publishing the
    /// SCIM port does not publish the console), `same` to serve it on `listen` on purpose, or
    /// `off`.
    pub admin_listen: String,
    /// Peers (CIDRs) whose `Forwarded` / `X-Forwarded-*` headers are believed; none by default.
    pub trusted_proxies: Vec<String>,
    /// `[server.tls]`: HTTPS on the listeners, from PEM files or an ACME CA (README "TLS").
    pub tls: Option<TlsSettings>,
}

/// `[server.tls]`: a certificate from files, or `[server.tls.acme]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// How often the files are checked for a change, in seconds.
    pub watch_secs: u64,
    pub acme: Option<AcmeSettings>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            watch_secs: 10,
            acme: None,
        }
    }
}

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// `[server.tls.acme]`: a certificate obtained and renewed from an ACME CA.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeSettings {
    /// The names the certificate is for; each must reach this listener on port 443.
    pub domains: Vec<String>,
    /// Where the CA writes about expiry and problems (`mailto:` is added to a bare address).
    pub contact: Vec<String>,
    pub directory_url: String,
    /// The account key and the certificate, kept 0700.
    pub cache_dir: PathBuf,
    /// The root of a private ACME CA's HTTPS certificate, beside the system's roots.
    pub directory_ca_file: Option<PathBuf>,
    /// How often renewal is considered, in seconds.
    pub check_secs: u64,
}

impl Default for AcmeSettings {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            contact: Vec::new(),
            directory_url: LETS_ENCRYPT.into(),
            cache_dir: PathBuf::from("acme"),
            directory_ca_file: None,
            check_secs: 3600,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            listen: "127.0.0.1:8080".into(),
            base_path: "/scim/v2".into(),
            public_url: None,
            max_body_bytes: 1024 * 1024,
            shutdown_timeout_secs: 10,
            workers: None,
            max_results: limits.max_results,
            max_filter_length: limits.max_filter_length,
            max_filter_clauses: limits.max_filter_clauses,
            max_patch_operations: limits.max_patch_operations,
            max_path_length: limits.max_path_length,
            max_bulk_operations: limits.max_bulk_operations,
            max_uri_length: 8 * 1024,
            admin_path: "/admin".into(),
            admin_listen: "127.0.0.1:8081".into(),
            trusted_proxies: Vec::new(),
            tls: None,
        }
    }
}

impl ServerSettings {
    /// The request limits the SCIM layer enforces.
    pub fn limits(&self) -> Limits {
        Limits {
            max_results: self.max_results,
            max_filter_length: self.max_filter_length,
            max_filter_clauses: self.max_filter_clauses,
            max_patch_operations: self.max_patch_operations,
            max_path_length: self.max_path_length,
            max_bulk_operations: self.max_bulk_operations,
        }
    }

    /// The trusted proxy networks, parsed.
    pub fn trusted_proxies(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|text| {
                text.parse::<IpNet>()
                    .map_err(|e| ConfigError::Invalid(format!("server.trusted_proxies: '{text}': {e}")))
            })
            .collect()
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let ranges: [(&str, usize, usize, usize); 7] = [
            ("max_results", self.max_results, 1, 10_000),
            ("max_filter_length", self.max_filter_length, 64, 1024 * 1024),
            ("max_filter_clauses", self.max_filter_clauses, 1, 10_000),
            ("max_patch_operations", self.max_patch_operations, 1, 100_000),
            ("max_path_length", self.max_path_length, 64, 64 * 1024),
            ("max_bulk_operations", self.max_bulk_operations, 1, 100_000),
            // The HTTP layer cannot hold a longer request target (see http::transport).
            ("max_uri_length", self.max_uri_length, 256, MAX_URI_LENGTH_CEILING),
        ];
        for (key, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                return Err(ConfigError::Invalid(format!(
                    "server.{key} must be between {low} and {high}, got {value}"
                )));
            }
        }
        self.trusted_proxies()?;
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: String,
    /// A file holding the URL (a PostgreSQL URL carries its password): when set, it replaces
    /// `url`, so the password can be a systemd credential or a container secret.
    pub url_file: Option<PathBuf>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://scim-bridge.db".into(),
            url_file: None,
        }
    }
}

/// `[sync]`: settings every target shares.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSettings {
    /// Environment variable (or file) holding the AES-256 key, 64 hex digits, that seals IdP
    /// passwords until the targets that take passwords have them. Without it, passwords are not
    /// kept and new vendor users get a strong random password.
    pub secrets_key_env: Option<String>,
    pub secrets_key_file: Option<PathBuf>,
    /// PEM certificates every target trusts besides the platform's and Mozilla's roots, unless the
    /// target names its own `ca_file`.
    pub ca_file: Option<PathBuf>,
}

impl SyncSettings {
    /// The password sealer, when a key is configured; a malformed key fails here.
    pub fn sealer(&self) -> Result<Option<crate::secrets::Sealer>, ConfigError> {
        let key = read_secret(
            "sync.secrets_key",
            self.secrets_key_env.as_deref(),
            self.secrets_key_file.as_deref(),
        )?;
        key.map(|k| crate::secrets::Sealer::from_hex(&k))
            .transpose()
            .map_err(|e| ConfigError::Invalid(format!("sync.secrets_key: {e}")))
    }
}

/// `[audit]`: see docs/audit.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Events and logged requests older than this many days are pruned (0 keeps them forever).
    pub retain_days: u32,
    /// Which request and response bodies the request log keeps (`off`, `errors`, `all`);
    /// passwords and secrets are redacted.
    pub bodies: crate::audit::Bodies,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retain_days: 180,
            bodies: crate::audit::Bodies::Off,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub jwt: Option<JwtSettings>,
}

/// `[auth.jwt]`: JWTs accepted beside the bearer tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtSettings {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// PEM file with an RSA (RS256) or EC P-256 (ES256) public key.
    pub public_key_file: Option<PathBuf>,
    /// Environment variable holding an HS256 secret.
    pub hs256_secret_env: Option<String>,
    /// File holding an HS256 secret.
    pub hs256_secret_file: Option<PathBuf>,
    /// The issuer's JWKS (https): keys chosen by the token's `kid` (README, "JWTs from Entra or Okta").
    pub jwks_url: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
}

impl Settings {
    /// Loads the layers. `file` is `--config`; without it `./scim-bridge.toml` is read when present.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let file = match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_owned())),
            Some(path) => Some(path.to_owned()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        if let Some(path) = &file {
            figment = figment.merge(Toml::file(path));
        }
        let figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let settings: Settings = figment.extract().map_err(|e| {
            let data = figment.extract::<serde_json::Value>().unwrap_or_default();
            ConfigError::Invalid(crate::secrets::redact_values(&e.to_string(), &data))
        })?;
        let mut settings = Settings { file, ..settings };
        if let Some(url) = read_secret("database.url", None, settings.database.url_file.as_deref())? {
            settings.database.url = url;
        }
        for target in settings.target.iter_mut().filter(|t| t.ca_file.is_none()) {
            target.ca_file.clone_from(&settings.sync.ca_file);
        }
        settings.validate()?;
        Ok(settings)
    }

    /// The User resource type with the declared extensions (`[schema]`).
    pub fn user_schema(&self) -> Result<&'static crate::scim::schema::ResourceSchema, ConfigError> {
        self.schema.user_schema()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.console_listener()?;
        let admin = self.server.admin_path.trim_end_matches('/');
        let scim = self.server.base_path.trim_end_matches('/');
        if !admin.starts_with('/')
            || admin.len() < 2
            || admin == scim
            || admin.starts_with(&format!("{scim}/"))
            || scim.starts_with(&format!("{admin}/"))
        {
            return Err(ConfigError::Invalid(format!(
                "server.admin_path must be a path of its own beside server.base_path ('{scim}'), got '{admin}'"
            )));
        }
        let base = &self.server.base_path;
        if !base.starts_with('/') || (base.len() > 1 && base.ends_with('/')) {
            return Err(ConfigError::Invalid(format!(
                "server.base_path must start with '/' and not end with one, got '{base}'"
            )));
        }
        self.server.validate_limits()?;
        crate::sync::target::validate_targets(&self.target, self.schema.user_schema()?)?;
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "server.max_body_bytes must be at least 1024".into(),
            ));
        }
        Ok(())
    }

    /// Where the console is served (`server.admin_listen`).
    pub fn console_listener(&self) -> Result<ConsoleListener, ConfigError> {
        match self.server.admin_listen.trim() {
            "same" => Ok(ConsoleListener::Scim),
            "off" => Ok(ConsoleListener::Off),
            address => address.parse().map(ConsoleListener::Own).map_err(|e| {
                ConfigError::Invalid(format!(
                    "server.admin_listen '{address}' is not host:port, 'same' or 'off': {e}"
                ))
            }),
        }
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .listen
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("server.listen '{}' is not host:port: {e}", self.server.listen)))
    }
}
