//! Secrets in memory (`Secret`, never printed) and users' passwords at rest (`Sealer`, AES-256-GCM).
//! A password the IdP sends is held sealed only until every target that takes passwords has it
//! (issue 4); the key comes from `sync.secrets_key_env` / `sync.secrets_key_file`.
mod source;

pub use source::{fingerprint, normalise_secret_keys, read_secret, redact_values, SecretError, SecretRef};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use std::fmt;

/// A secret from configuration or a user's password: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one header or body field that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the secrets key must be 32 bytes written as 64 hex digits (make one with `openssl rand -hex 32`)")]
    BadKey,
    #[error("a password could not be sealed")]
    Sealing,
    #[error("a sealed password could not be opened (wrong secrets key, or the row was altered)")]
    Unreadable,
}

/// Seals and opens passwords with one AES-256-GCM key. Each sealed value is bound to its
/// (user, target) row through the associated data, so a value copied to another row does not open.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

impl Sealer {
    /// From the key as configured: 64 hex digits.
    pub fn from_hex(key: &str) -> Result<Self, SealError> {
        let bytes = hex::decode(key.trim()).map_err(|_| SealError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
        })
    }

    /// A fresh random nonce followed by the ciphertext and its tag.
    pub fn seal(&self, password: &str, resource_id: &str, target: &str) -> Result<Vec<u8>, SealError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(resource_id, target);
        let payload = Payload {
            msg: password.as_bytes(),
            aad: &aad,
        };
        let ciphertext = self.cipher.encrypt(&nonce, payload).map_err(|_| SealError::Sealing)?;
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        Ok(sealed)
    }

    pub fn open(&self, sealed: &[u8], resource_id: &str, target: &str) -> Result<Secret, SealError> {
        if sealed.len() <= NONCE_LEN {
            return Err(SealError::Unreadable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let aad = associated_data(resource_id, target);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Unreadable)?;
        String::from_utf8(plain).map(Secret).map_err(|_| SealError::Unreadable)
    }
}

fn associated_data(resource_id: &str, target: &str) -> Vec<u8> {
    [resource_id.as_bytes(), b"\0", target.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_sealed_password_opens_only_for_its_own_row_and_key() {
        let sealer = Sealer::from_hex(KEY).unwrap();
        let sealed = sealer.seal("hunter2", "u1", "w365").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(sealer.open(&sealed, "u1", "w365").unwrap().expose(), "hunter2");
        assert_eq!(sealer.open(&sealed, "u2", "w365"), Err(SealError::Unreadable));
        assert_eq!(sealer.open(&sealed, "u1", "other"), Err(SealError::Unreadable));
        let other = Sealer::from_hex(&KEY.replace("00", "ff")).unwrap();
        assert_eq!(other.open(&sealed, "u1", "w365"), Err(SealError::Unreadable));
    }

    #[test]
    fn two_seals_of_one_password_differ() {
        let sealer = Sealer::from_hex(KEY).unwrap();
        assert_ne!(sealer.seal("p", "u", "t").unwrap(), sealer.seal("p", "u", "t").unwrap());
    }

    #[test]
    fn keys_that_are_not_32_hex_bytes_are_refused() {
        assert_eq!(Sealer::from_hex("abc").unwrap_err(), SealError::BadKey);
        assert_eq!(Sealer::from_hex(&"zz".repeat(32)).unwrap_err(), SealError::BadKey);
        assert!(Sealer::from_hex(&format!(" {KEY}\n")).is_ok());
    }

    #[test]
    fn debug_never_shows_a_secret() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(<redacted>)");
    }
}
