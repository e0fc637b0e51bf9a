use super::certificate::{Loaded, TlsError};
use super::{Certificates, TlsStatus};
use crate::clock::Clock;
use std::sync::Arc;

fn self_signed(names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let cert = rcgen::CertificateParams::new(names).unwrap().self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn a_pair_is_read_with_its_names_and_validity() {
    let (cert, key) = self_signed(&["scim.example.com", "127.0.0.1"]);
    let loaded = Loaded::from_pem(cert.as_bytes(), "cert.pem", key.as_bytes(), "key.pem").unwrap();
    assert_eq!(loaded.names, ["scim.example.com", "127.0.0.1"]);
    assert!(loaded.not_before < loaded.not_after);
    assert!(loaded.covers(&["SCIM.example.com".into()]));
    assert!(!loaded.covers(&["scim.example.com".into(), "other.example.com".into()]));
}

#[test]
fn a_key_of_another_certificate_or_a_missing_part_is_named() {
    let (cert, _) = self_signed(&["a.example.com"]);
    let (_, other_key) = self_signed(&["a.example.com"]);
    let mismatch = Loaded::from_pem(cert.as_bytes(), "cert.pem", other_key.as_bytes(), "key.pem");
    assert!(matches!(mismatch, Err(TlsError::KeyMismatch)));
    let no_cert = Loaded::from_pem(other_key.as_bytes(), "key-as-cert.pem", other_key.as_bytes(), "key.pem");
    assert!(
        matches!(&no_cert, Err(TlsError::NoCertificate(file)) if file == "key-as-cert.pem"),
        "{:?}",
        no_cert.err()
    );
    let no_key = Loaded::from_pem(cert.as_bytes(), "cert.pem", cert.as_bytes(), "cert-as-key.pem");
    assert!(matches!(&no_key, Err(TlsError::NoKey(file)) if file == "cert-as-key.pem"));
}

#[test]
fn renewal_is_due_two_thirds_through_the_lifetime() {
    let (cert, key) = self_signed(&["a.example.com"]);
    let mut loaded = Loaded::from_pem(cert.as_bytes(), "c", key.as_bytes(), "k").unwrap();
    loaded.not_before = time::macros::datetime!(2027-01-01 00:00 UTC);
    loaded.not_after = time::macros::datetime!(2027-04-01 00:00 UTC);
    assert_eq!(
        super::acme::renew_after(&loaded),
        time::macros::datetime!(2027-03-02 00:00 UTC)
    );
}

#[test]
fn each_directory_has_its_own_account_file() {
    let production = super::acme::account_file_name(crate::config::LETS_ENCRYPT);
    let staging = super::acme::account_file_name("https://acme-staging-v02.api.letsencrypt.org/directory");
    assert_ne!(production, staging);
    assert!(production.starts_with("account-") && production.ends_with(".json"));
}

#[test]
fn installing_clears_the_last_error_and_a_failure_keeps_the_served_certificate() {
    let certificates = Certificates::new("files", Arc::new(Clock::default()));
    let (cert, key) = self_signed(&["a.example.com"]);
    let loaded = Loaded::from_pem(cert.as_bytes(), "c", key.as_bytes(), "k").unwrap();
    certificates.failed("first attempt");
    certificates.install(&loaded, None);
    let status = certificates.status();
    assert_eq!(status.names, ["a.example.com"]);
    assert_eq!(status.last_error, None);
    certificates.failed("the private key is not the certificate's key");
    let status: TlsStatus = certificates.status();
    assert_eq!(status.names, ["a.example.com"], "the served certificate stays");
    assert_eq!(
        status.last_error.as_deref(),
        Some("the private key is not the certificate's key")
    );
    assert!(certificates.current.load().is_some());
}
