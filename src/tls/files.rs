//! A certificate from PEM files (`server.tls.cert_file`, `key_file`), read again when either file
//! changes (checked every `watch_secs`) or on SIGHUP. A pair that does not load (a renewal tool
//! midway through writing it, a key for another certificate) leaves the served one in place.
use super::{Certificates, Loaded, TlsError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub struct Watched {
    cert: PathBuf,
    key: PathBuf,
    every: Duration,
    certificates: Arc<Certificates>,
    /// The files' modification times and sizes when last read.
    seen: Mutex<Stamp>,
}

type Stamp = [Option<(SystemTime, u64)>; 2];

impl Watched {
    pub fn load(cert: &Path, key: &Path, watch_secs: u64, certificates: Arc<Certificates>) -> Result<Self, TlsError> {
        let watched = Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            every: Duration::from_secs(watch_secs.max(1)),
            certificates,
            seen: Mutex::new([None, None]),
        };
        let stamp = watched.stamp();
        let loaded = watched.read()?;
        watched.certificates.install(&loaded, None);
        *watched.lock_seen() = stamp;
        Ok(watched)
    }

    /// Checks the files every `watch_secs` and reloads when one changed.
    pub async fn watch(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.every).await;
            let stamp = self.stamp();
            if stamp != *self.lock_seen() {
                self.reload("the certificate files changed");
            }
        }
    }

    /// Reads the pair again and serves it; a pair that does not load is logged and changes nothing.
    pub fn reload(&self, why: &str) {
        let stamp = self.stamp();
        match self.read() {
            Ok(loaded) => {
                self.certificates.install(&loaded, None);
                tracing::info!(
                    reason = why,
                    names = %loaded.names.join(", "),
                    not_after = %super::certificate::rfc3339(loaded.not_after),
                    "TLS certificate reloaded"
                );
            }
            Err(e) => {
                tracing::error!(reason = why, error = %e, "TLS certificate not reloaded: the served one stays");
                self.certificates.failed(&e.to_string());
            }
        }
        *self.lock_seen() = stamp;
    }

    fn read(&self) -> Result<Loaded, TlsError> {
        let cert = read(&self.cert)?;
        let key = read(&self.key)?;
        Loaded::from_pem(
            &cert,
            &self.cert.display().to_string(),
            &key,
            &self.key.display().to_string(),
        )
    }

    fn stamp(&self) -> Stamp {
        [stamp(&self.cert), stamp(&self.key)]
    }

    fn lock_seen(&self) -> std::sync::MutexGuard<'_, Stamp> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn read(file: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file).map_err(|error| TlsError::Read {
        file: file.display().to_string(),
        error,
    })
}

/// A file's modification time and size (through symlinks, as certbot's `live/` links are).
fn stamp(file: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}
