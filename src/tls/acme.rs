//! A certificate from an ACME CA (`server.tls.acme`; Let's Encrypt by default), validated with
//! TLS-ALPN-01 (RFC 8737) on the TLS listener itself, so that nothing but the HTTPS port needs to
//! be reachable. The account key, the certificate and its key are kept in `cache_dir` (0700, files
//! 0600); a cached certificate that names every domain is served at once. It is renewed once two
//! thirds of its lifetime have passed (30 days before a 90-day certificate ends); a failed attempt
//! is retried after 5 minutes, doubling to an hour, while the current certificate is served.
use super::certificate::rfc3339;
use super::{Certificates, Loaded, TlsError};
use crate::clock::Clock;
use crate::config::AcmeSettings;
use bytes::Bytes;
use http_body_util::BodyExt;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType, HttpClient,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::PrivateKeyDer;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

const CERTIFICATE_FILE: &str = "certificate.pem";
const KEY_FILE: &str = "key.pem";
/// The first wait after a failed attempt; it doubles up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_secs(300);
const MAX_RETRY: Duration = Duration::from_secs(3600);
/// How long an order may take to be validated, and then to be issued.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
enum AcmeError {
    #[error("the ACME CA: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error(
        "the CA could not validate {domains} over TLS-ALPN-01 (it connects to each on port 443, which must reach this listener): {detail}"
    )]
    NotValidated { domains: String, detail: String },
    #[error("the CA offers no TLS-ALPN-01 challenge for {0}")]
    NoTlsAlpnChallenge(String),
    #[error("the challenge certificate: {0}")]
    ChallengeCertificate(String),
    #[error("the issued certificate: {0}")]
    Issued(#[from] TlsError),
    #[error("the cache ({path}): {error}")]
    Cache { path: String, error: std::io::Error },
}

pub struct Acme {
    domains: Vec<String>,
    contact: Vec<String>,
    directory_url: String,
    cache_dir: PathBuf,
    check_every: Duration,
    http: reqwest::Client,
    certificates: Arc<Certificates>,
    clock: Arc<Clock>,
}

impl Acme {
    /// Prepares the cache folder and serves a cached certificate that names every domain.
    pub fn new(settings: &AcmeSettings, certificates: Arc<Certificates>, clock: Arc<Clock>) -> Result<Self, TlsError> {
        if settings.domains.is_empty() {
            return Err(TlsError::Settings("server.tls.acme.domains names no domain".into()));
        }
        let http = client(settings.directory_ca_file.as_deref())?;
        let acme = Self {
            domains: settings.domains.iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
            contact: settings
                .contact
                .iter()
                .map(|c| {
                    if c.contains(':') {
                        c.clone()
                    } else {
                        format!("mailto:{c}")
                    }
                })
                .collect(),
            directory_url: settings.directory_url.clone(),
            cache_dir: settings.cache_dir.clone(),
            check_every: Duration::from_secs(settings.check_secs.max(1)),
            http,
            certificates,
            clock,
        };
        private_folder(&acme.cache_dir).map_err(|error| TlsError::Read {
            file: acme.cache_dir.display().to_string(),
            error,
        })?;
        match acme.cached() {
            Ok(Some(loaded)) => {
                let renew_after = renew_after(&loaded);
                acme.certificates.install(&loaded, Some(renew_after));
                tracing::info!(names = %loaded.names.join(", "), "serving the cached ACME certificate");
            }
            Ok(None) => tracing::info!(
                domains = %acme.domains.join(", "),
                directory = %acme.directory_url,
                "no ACME certificate yet: obtaining one (TLS handshakes fail until it is issued)"
            ),
            Err(e) => tracing::warn!(error = %e, "the cached ACME certificate is unreadable: obtaining a new one"),
        }
        Ok(acme)
    }

    /// Obtains the certificate when there is none, and renews it when due, until the process ends.
    pub async fn run(self: Arc<Self>) {
        let mut retry = FIRST_RETRY;
        loop {
            if self.due() {
                match self.obtain().await {
                    Ok(loaded) => {
                        retry = FIRST_RETRY;
                        tracing::info!(
                            names = %loaded.names.join(", "),
                            not_after = %rfc3339(loaded.not_after),
                            "ACME certificate obtained and served"
                        );
                    }
                    Err(e) => {
                        tracing::error!(error = %e, retry_in = ?retry, "ACME certificate not obtained");
                        self.certificates.failed(&e.to_string());
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(MAX_RETRY);
                        continue;
                    }
                }
            }
            tokio::time::sleep(self.check_every).await;
        }
    }

    /// Whether there is no certificate for the domains yet, or it is time to renew it.
    fn due(&self) -> bool {
        let status = self.certificates.status();
        let covered = self.domains.iter().all(|d| status.names.iter().any(|n| n == d));
        let renew_at = status
            .renew_after
            .as_deref()
            .and_then(|at| time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok());
        !covered || renew_at.is_none_or(|at| self.clock.now_utc() >= at)
    }

    async fn obtain(&self) -> Result<Loaded, AcmeError> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self.domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        let validated = match self.answer_challenges(&mut order).await {
            Ok(()) => self.validated(&mut order).await,
            Err(e) => Err(e),
        };
        self.certificates.lock_challenges().clear();
        validated?;
        let key_pem = order.finalize().await?;
        let chain_pem = order
            .poll_certificate(&RetryPolicy::new().timeout(ORDER_TIMEOUT))
            .await?;
        let loaded = Loaded::from_pem(chain_pem.as_bytes(), "the issued chain", key_pem.as_bytes(), "its key")?;
        // Served before it is cached: a cache that cannot be written (a full disk) must not make
        // the loop order certificate after certificate (Let's Encrypt allows 5 a week).
        self.certificates.install(&loaded, Some(renew_after(&loaded)));
        let cached = self
            .save(KEY_FILE, key_pem.as_bytes())
            .and_then(|()| self.save(CERTIFICATE_FILE, chain_pem.as_bytes()));
        if let Err(e) = cached {
            tracing::error!(error = %e, "the ACME certificate is served but not cached: the next start orders a new one");
            self.certificates.failed(&e.to_string());
        }
        Ok(loaded)
    }

    /// Waits for the CA to validate the order's domains.
    async fn validated(&self, order: &mut instant_acme::Order) -> Result<(), AcmeError> {
        let not_validated = |detail: String| AcmeError::NotValidated {
            domains: self.domains.join(", "),
            detail,
        };
        match order.poll_ready(&RetryPolicy::new().timeout(ORDER_TIMEOUT)).await {
            Ok(OrderStatus::Ready) => Ok(()),
            Ok(status) => Err(not_validated(format!("the order is {status:?}"))),
            Err(instant_acme::Error::Api(problem)) => Err(not_validated(problem.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Puts up a TLS-ALPN-01 certificate for each pending authorization and tells the CA to check.
    async fn answer_challenges(&self, order: &mut instant_acme::Order) -> Result<(), AcmeError> {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            if authorization.status == AuthorizationStatus::Valid {
                continue;
            }
            let domain = authorization.identifier().to_string();
            let mut challenge = authorization
                .challenge(ChallengeType::TlsAlpn01)
                .ok_or_else(|| AcmeError::NoTlsAlpnChallenge(domain.clone()))?;
            let answer = challenge_certificate(&domain, challenge.key_authorization().digest().as_ref())?;
            self.certificates
                .lock_challenges()
                .insert(domain.to_ascii_lowercase(), Arc::new(answer));
            challenge.set_ready().await?;
        }
        Ok(())
    }

    /// The account for this directory: from the cache, or registered (and cached) now.
    async fn account(&self) -> Result<Account, AcmeError> {
        let file = self.account_file();
        if let Ok(text) = std::fs::read(&file) {
            if let Ok(credentials) = serde_json::from_slice::<AccountCredentials>(&text) {
                return Ok(Account::builder_with_http(Box::new(AcmeHttp(self.http.clone())))
                    .from_credentials(credentials)
                    .await?);
            }
            tracing::warn!(file = %file.display(), "the cached ACME account is unreadable: registering a new one");
        }
        let contact: Vec<&str> = self.contact.iter().map(String::as_str).collect();
        let (account, credentials) = Account::builder_with_http(Box::new(AcmeHttp(self.http.clone())))
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.directory_url.clone(),
                None,
            )
            .await?;
        let text = serde_json::to_vec(&credentials).map_err(|e| AcmeError::Cache {
            path: file.display().to_string(),
            error: std::io::Error::other(e),
        })?;
        self.save(&account_file_name(&self.directory_url), &text)?;
        tracing::info!(directory = %self.directory_url, "ACME account registered");
        Ok(account)
    }

    fn account_file(&self) -> PathBuf {
        self.cache_dir.join(account_file_name(&self.directory_url))
    }

    fn cached(&self) -> Result<Option<Loaded>, TlsError> {
        let (chain, key) = (self.cache_dir.join(CERTIFICATE_FILE), self.cache_dir.join(KEY_FILE));
        let (Ok(chain_pem), Ok(key_pem)) = (std::fs::read(&chain), std::fs::read(&key)) else {
            return Ok(None);
        };
        let loaded = Loaded::from_pem(
            &chain_pem,
            &chain.display().to_string(),
            &key_pem,
            &key.display().to_string(),
        )?;
        Ok(loaded.covers(&self.domains).then_some(loaded))
    }

    /// Writes a cache file readable by the owner only, whole or not at all.
    fn save(&self, name: &str, contents: &[u8]) -> Result<(), AcmeError> {
        let path = self.cache_dir.join(name);
        write_private(&path, contents).map_err(|error| AcmeError::Cache {
            path: path.display().to_string(),
            error,
        })
    }
}

/// Two thirds of the way through the certificate's lifetime.
pub(super) fn renew_after(loaded: &Loaded) -> time::OffsetDateTime {
    loaded.not_after - (loaded.not_after - loaded.not_before) / 3
}

/// One account per directory: staging and production accounts are different accounts.
pub(super) fn account_file_name(directory_url: &str) -> String {
    let digest = Sha256::digest(directory_url.as_bytes());
    format!("account-{}.json", &hex::encode(digest)[..16])
}

/// The self-signed certificate a TLS-ALPN-01 validation expects: the domain, and the key
/// authorization's digest in the critical `acmeIdentifier` extension.
fn challenge_certificate(domain: &str, digest: &[u8]) -> Result<CertifiedKey, AcmeError> {
    let fail = |e: &dyn std::fmt::Display| AcmeError::ChallengeCertificate(e.to_string());
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(|e| fail(&e))?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(|e| fail(&e))?;
    let certificate = params.self_signed(&key).map_err(|e| fail(&e))?;
    let der = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| fail(&e))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| fail(&e))?;
    Ok(CertifiedKey::new(vec![certificate.der().clone()], signing))
}

fn private_folder(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let staging = path.with_extension("partial");
    let _ = std::fs::remove_file(&staging);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staging)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&staging, path)
}

/// The HTTP client for the ACME CA: reqwest with the system's roots, and the private CA's root
/// when `directory_ca_file` names one (a company CA, or a test CA such as pebble).
fn client(ca_file: Option<&Path>) -> Result<reqwest::Client, TlsError> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .https_only(true);
    if let Some(file) = ca_file {
        let pem = std::fs::read(file).map_err(|error| TlsError::Read {
            file: file.display().to_string(),
            error,
        })?;
        let root = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| TlsError::Settings(format!("server.tls.acme.directory_ca_file: {e}")))?;
        builder = builder.add_root_certificate(root);
    }
    builder
        .build()
        .map_err(|e| TlsError::Settings(format!("the ACME client: {e}")))
}

/// instant-acme's requests, sent with reqwest.
struct AcmeHttp(reqwest::Client);

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        request: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let response = client
                .execute(request)
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            Ok(BytesResponse::from(http::Response::from(response)))
        })
    }
}
