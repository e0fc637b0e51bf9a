//! A certificate chain and its private key, read from PEM and checked before they are served.
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Settings(String),
    #[error("cannot read {file}: {error}")]
    Read { file: String, error: std::io::Error },
    #[error("{0} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate(String),
    #[error("{0} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(String),
    #[error("the private key cannot sign: {0}")]
    UnusableKey(String),
    #[error("the private key is not the certificate's key")]
    KeyMismatch,
    #[error("the certificate cannot be read: {0}")]
    Unreadable(String),
}

/// A certificate ready to serve.
#[derive(Clone)]
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// The DNS names and IP addresses the leaf certificate is valid for.
    pub names: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Loaded {
    /// Reads a PEM chain (leaf first) and a PEM private key; `chain_name` and `key_name` name them
    /// in errors.
    pub fn from_pem(chain: &[u8], chain_name: &str, key: &[u8], key_name: &str) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Unreadable(format!("{chain_name}: {e}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| TlsError::NoCertificate(chain_name.to_owned()))?;
        let (names, not_before, not_after) = leaf_facts(leaf)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| TlsError::NoKey(key_name.to_owned()))?;
        let signing =
            rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| TlsError::UnusableKey(e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|_| TlsError::KeyMismatch)?;
        Ok(Self {
            key: Arc::new(certified),
            names,
            not_before,
            not_after,
        })
    }

    /// Whether the certificate names every one of `domains`.
    pub fn covers(&self, domains: &[String]) -> bool {
        domains
            .iter()
            .all(|d| self.names.iter().any(|n| n.eq_ignore_ascii_case(d)))
    }
}

fn leaf_facts(leaf: &CertificateDer<'_>) -> Result<(Vec<String>, OffsetDateTime, OffsetDateTime), TlsError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| TlsError::Unreadable(e.to_string()))?;
    let names = cert
        .subject_alternative_name()
        .map_err(|e| TlsError::Unreadable(e.to_string()))?
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    GeneralName::IPAddress(ip) => ip_text(ip),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let validity = cert.validity();
    Ok((
        names,
        validity.not_before.to_datetime(),
        validity.not_after.to_datetime(),
    ))
}

fn ip_text(octets: &[u8]) -> Option<String> {
    match octets.len() {
        4 => <[u8; 4]>::try_from(octets)
            .ok()
            .map(|o| std::net::IpAddr::from(o).to_string()),
        16 => <[u8; 16]>::try_from(octets)
            .ok()
            .map(|o| std::net::IpAddr::from(o).to_string()),
        _ => None,
    }
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}
