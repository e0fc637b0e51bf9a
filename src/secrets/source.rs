//! Where a secret comes from: `KEY = { env = "VAR" }` or `KEY = { file = "/path" }`. Inside a
//! `[[target]]`, `KEY_env = "VAR"` and `KEY_file = "/path"` mean the same (`normalise_secret_keys`).
//! The error names the key and where it was looked for, never a value.
use super::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// A secret that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: cannot read {what}: {reason}")]
pub struct SecretError {
    pub key: &'static str,
    pub what: String,
    pub reason: String,
}

/// Reads a secret named by an environment variable or a file (trailing newline trimmed).
pub fn read_secret(key: &'static str, env: Option<&str>, file: Option<&Path>) -> Result<Option<String>, SecretError> {
    if let Some(var) = env {
        let value = std::env::var(var).map_err(|e| SecretError {
            key,
            what: format!("environment variable {var}"),
            reason: e.to_string(),
        })?;
        return Ok(Some(value));
    }
    if let Some(path) = file {
        let value = std::fs::read_to_string(path).map_err(|e| SecretError {
            key,
            what: format!("file {}", path.display()),
            reason: e.to_string(),
        })?;
        return Ok(Some(value.trim_end_matches(['\n', '\r']).to_owned()));
    }
    Ok(None)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretRef {
    /// An environment variable holding the secret.
    Env(String),
    /// A file holding the secret (a trailing newline is trimmed).
    File(PathBuf),
}

impl SecretRef {
    /// The secret, read now; `key` names it in the error.
    pub fn read(&self, key: &'static str) -> Result<Secret, SecretError> {
        let value = match self {
            Self::Env(var) => read_secret(key, Some(var), None)?,
            Self::File(path) => read_secret(key, None, Some(path))?,
        };
        Ok(Secret::new(value.unwrap_or_default()))
    }
}

/// Rewrites `KEY_env = "VAR"` / `KEY_file = "path"` into `KEY = { env | file = … }`, refusing a
/// secret named twice.
pub fn normalise_secret_keys(table: &mut Map<String, Value>) -> Result<(), String> {
    let spelled_apart: Vec<(String, String, &'static str)> = table
        .keys()
        .filter_map(|key| {
            let (stem, source) = match (key.strip_suffix("_env"), key.strip_suffix("_file")) {
                (Some(stem), _) => (stem, "env"),
                (_, Some(stem)) => (stem, "file"),
                _ => return None,
            };
            Some((key.clone(), stem.to_owned(), source))
        })
        .collect();
    for (key, stem, source) in spelled_apart {
        if table.contains_key(&stem) {
            return Err(format!(
                "`{stem}` is set twice (use one of `{stem}_env`, `{stem}_file` or `{stem} = {{ env | file = … }}`)"
            ));
        }
        let value = table.remove(&key).unwrap_or_default();
        table.insert(stem, Value::Object(Map::from_iter([(source.to_owned(), value)])));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn normalised(value: Value) -> Result<Value, String> {
        let Value::Object(mut table) = value else {
            unreachable!()
        };
        normalise_secret_keys(&mut table).map(|()| Value::Object(table))
    }

    #[test]
    fn both_spellings_name_the_same_secret() {
        assert_eq!(
            normalised(json!({"api_key_env": "K", "salt_file": "/s", "base_url": "x"})).unwrap(),
            json!({"base_url": "x", "api_key": {"env": "K"}, "salt": {"file": "/s"}})
        );
        let parsed: SecretRef = serde_json::from_value(json!({"file": "/s"})).unwrap();
        assert_eq!(parsed, SecretRef::File("/s".into()));
    }

    #[test]
    fn a_secret_named_twice_is_refused() {
        for table in [
            json!({"api_key_env": "K", "api_key_file": "/k"}),
            json!({"api_key_env": "K", "api_key": {"file": "/k"}}),
        ] {
            assert!(normalised(table).unwrap_err().contains("`api_key` is set twice"));
        }
    }
}
