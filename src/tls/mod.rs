//! Built-in TLS (`server.tls`, README "TLS"): rustls with TLS 1.2 and 1.3, the certificate from PEM
//! files (read again when they change or on SIGHUP) or from an ACME CA (`server.tls.acme`: obtained
//! at first start, renewed before expiry). A connection keeps the certificate it shook hands with;
//! the next one gets the current certificate, so a reload drops no connection.
mod acme;
mod certificate;
mod files;

pub use certificate::{Loaded, TlsError};

use crate::clock::Clock;
use crate::config::TlsSettings;
use arc_swap::ArcSwapOption;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The ALPN protocol of an ACME TLS-ALPN-01 validation (RFC 8737).
const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What an administrator sees of the certificate being served (`/healthz` with an admin token, and
/// the console).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TlsStatus {
    /// `files` or `acme`.
    pub source: &'static str,
    /// The names the served certificate is valid for (none before the first is obtained).
    pub names: Vec<String>,
    pub not_after: Option<String>,
    /// When the served certificate was loaded or obtained.
    pub loaded_at: Option<String>,
    /// ACME: when it is renewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_after: Option<String>,
    /// The last failure to read or obtain a certificate, cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// The certificate being served, and the TLS-ALPN-01 challenge certificates of an ACME order.
pub struct Certificates {
    current: ArcSwapOption<CertifiedKey>,
    challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    status: Mutex<TlsStatus>,
    clock: Arc<Clock>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").field("status", &self.status()).finish()
    }
}

impl Certificates {
    fn new(source: &'static str, clock: Arc<Clock>) -> Self {
        Self {
            current: ArcSwapOption::empty(),
            challenges: Mutex::new(HashMap::new()),
            status: Mutex::new(TlsStatus {
                source,
                ..TlsStatus::default()
            }),
            clock,
        }
    }

    /// Serves `loaded` from the next handshake on.
    fn install(&self, loaded: &Loaded, renew_after: Option<time::OffsetDateTime>) {
        self.current.store(Some(loaded.key.clone()));
        let mut status = self.lock_status();
        status.names.clone_from(&loaded.names);
        status.not_after = Some(certificate::rfc3339(loaded.not_after));
        status.loaded_at = Some(certificate::rfc3339(self.clock.now_utc()));
        status.renew_after = renew_after.map(certificate::rfc3339);
        status.last_error = None;
        status.last_error_at = None;
    }

    fn failed(&self, error: &str) {
        let mut status = self.lock_status();
        status.last_error = Some(error.to_owned());
        status.last_error_at = Some(certificate::rfc3339(self.clock.now_utc()));
    }

    pub fn status(&self) -> TlsStatus {
        self.lock_status().clone()
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, TlsStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_challenges(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        self.challenges.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
struct Resolver(Arc<Certificates>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validation = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if validation {
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.0.lock_challenges().get(&name).cloned();
        }
        self.0.current.load_full()
    }
}

/// Built-in TLS for the listeners: the acceptor, and what keeps its certificate current.
#[derive(Clone)]
pub struct Tls {
    certificates: Arc<Certificates>,
    acceptor: TlsAcceptor,
    source: Source,
}

#[derive(Clone)]
enum Source {
    Files(Arc<files::Watched>),
    Acme(Arc<acme::Acme>),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("certificates", &self.certificates).finish()
    }
}

impl Tls {
    /// Loads the certificate files (an unreadable one stops the start), or the ACME cache (the
    /// certificate is obtained once `run` starts, when there is none).
    pub fn new(settings: &TlsSettings, clock: Arc<Clock>) -> Result<Self, TlsError> {
        let (certificates, source) = match (&settings.acme, &settings.cert_file, &settings.key_file) {
            (Some(acme), None, None) => {
                let certificates = Arc::new(Certificates::new("acme", clock.clone()));
                let acme = acme::Acme::new(acme, certificates.clone(), clock)?;
                (certificates, Source::Acme(Arc::new(acme)))
            }
            (None, Some(cert), Some(key)) => {
                let certificates = Arc::new(Certificates::new("files", clock));
                let watched = files::Watched::load(cert, key, settings.watch_secs, certificates.clone())?;
                (certificates, Source::Files(Arc::new(watched)))
            }
            _ => {
                return Err(TlsError::Settings(
                    "server.tls needs cert_file and key_file, or an [server.tls.acme] table, not both".into(),
                ))
            }
        };
        let config = server_config(certificates.clone(), matches!(source, Source::Acme(_)))?;
        Ok(Self {
            certificates,
            acceptor: TlsAcceptor::from(config),
            source,
        })
    }

    /// Keeps the certificate current: watches the files, or obtains and renews from the ACME CA.
    pub fn spawn(&self) {
        match &self.source {
            Source::Files(watched) => {
                tokio::spawn(watched.clone().watch());
            }
            Source::Acme(acme) => {
                tokio::spawn(acme.clone().run());
            }
        }
    }

    /// SIGHUP: the certificate files are read again (ACME certificates renew on their own).
    pub fn reload(&self) {
        if let Source::Files(watched) = &self.source {
            watched.reload("SIGHUP");
        }
    }

    pub fn status(&self) -> TlsStatus {
        self.certificates.status()
    }

    /// The TLS handshake of a new connection. An ACME validation connection ends after it.
    pub async fn accept(&self, io: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(io))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if stream.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) {
            return Err(std::io::Error::other(
                "an ACME validation connection carries no requests",
            ));
        }
        Ok(stream)
    }
}

/// TLS 1.3 and 1.2 with ring's cipher suites; HTTP/1.1 by ALPN (and ACME's validation protocol
/// when ACME is on).
fn server_config(certificates: Arc<Certificates>, acme: bool) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Settings(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(certificates)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if acme {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    Ok(Arc::new(config))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
