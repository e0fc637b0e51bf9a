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
        if !is_variable_name(var) {
            // Most likely the secret itself, pasted where its variable's name belongs.
            return Err(SecretError {
                key,
                what: "an environment variable".into(),
                reason: "the name given is not a variable name (value not shown): letters, digits and `_`".into(),
            });
        }
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

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// A fingerprint of the content of every secret a configuration table names (`{ env = … }` or
/// `{ file = … }`, read now), to tell whether one changed without keeping any. A secret that
/// cannot be read counts by its error.
pub fn fingerprint(table: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut refs = Vec::new();
    collect_secret_refs(table, &mut refs);
    for source in refs {
        match source.read("secret") {
            Ok(secret) => secret.expose().hash(&mut hasher),
            Err(e) => e.to_string().hash(&mut hasher),
        }
    }
    hasher.finish()
}

fn collect_secret_refs(value: &Value, out: &mut Vec<SecretRef>) {
    match value {
        Value::Object(table) => match SecretRef::deserialize(value) {
            Ok(source) if table.len() == 1 => out.push(source),
            _ => table.values().for_each(|v| collect_secret_refs(v, out)),
        },
        Value::Array(items) => items.iter().for_each(|v| collect_secret_refs(v, out)),
        _ => {}
    }
}

/// `{ env = "VAR" }` or `{ file = "/path" }`. Anything else is refused without repeating it: a
/// value written where a secret's source belongs is most likely the secret itself.
impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let source = value.as_object().filter(|table| table.len() == 1).and_then(|table| {
            match (
                table.get("env").and_then(Value::as_str),
                table.get("file").and_then(Value::as_str),
            ) {
                (Some(var), None) => Some(Self::Env(var.to_owned())),
                (None, Some(path)) => Some(Self::File(path.into())),
                _ => None,
            }
        });
        source.ok_or_else(|| serde::de::Error::custom(INLINE_SECRET))
    }
}

const INLINE_SECRET: &str = "a secret is never written in the configuration (value not shown): name the environment \
     variable holding it (`KEY_env = \"VAR\"`) or a file (`KEY_file = \"/path\"`)";

/// `message` with every quoted occurrence of a string value of `data` (the configuration as read)
/// replaced by `…` (names and kinds excepted): serde quotes the value it refuses (`unknown variant \`…\``, `invalid type:
/// string "…"`), and a refused value may be a secret written where it does not belong.
///
/// A file that does not parse has no values to know: the lines of it a TOML error quotes (`4 |
/// password = "…`, and the caret under it) are dropped; the line and column stay.
pub fn redact_values(message: &str, data: &Value) -> String {
    let mut values = Vec::new();
    collect_strings(data, &mut values);
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = without_quoted_source(message);
    for value in values.iter().filter(|v| !v.is_empty()) {
        for (open, close) in [("`", "`"), ("\"", "\""), ("'", "'")] {
            out = out.replace(&format!("{open}{value}{close}"), &format!("{open}…{close}"));
        }
    }
    out
}

/// `message` without the source excerpt of a parse error: lines like `  |` and `4 | text`.
fn without_quoted_source(message: &str) -> String {
    let quotes_source = |line: &str| {
        let rest = line.trim_start().trim_start_matches(|c: char| c.is_ascii_digit());
        rest.trim_start().starts_with('|')
    };
    message
        .lines()
        .filter(|line| !quotes_source(line))
        .collect::<Vec<_>>()
        .join("\n")
}

fn collect_strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        // A target's name and kind are what every message is about, and never secrets.
        Value::Object(table) => table
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "name" | "kind"))
            .for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
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

    #[test]
    fn a_parse_error_keeps_its_line_and_column_but_not_the_line_it_quotes() {
        let message = "TOML parse error at line 4, column 27\n  |\n4 | password = \"S3cretValue123\n  |                           ^\ninvalid basic string\n in bad.toml TOML file";
        assert_eq!(
            redact_values(message, &Value::Null),
            "TOML parse error at line 4, column 27\ninvalid basic string\n in bad.toml TOML file"
        );
    }

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
    fn a_secret_written_inline_is_refused_without_repeating_it() {
        for value in [
            json!("C7656554-8C0E-4E0B-9D3A-0123456789AB"),
            json!({"value": "s3cret"}),
            json!(42),
        ] {
            let message = serde_json::from_value::<SecretRef>(value.clone())
                .unwrap_err()
                .to_string();
            assert!(message.contains("never written in the configuration"), "{message}");
            assert!(
                !message.contains("C7656554") && !message.contains("s3cret"),
                "{message}"
            );
        }
    }

    #[test]
    fn quoted_values_of_the_configuration_are_redacted_from_a_message() {
        let data = json!({"target": [{"name": "w", "key": "C7656554-XYZ"}]});
        assert_eq!(
            redact_values(
                "unknown variant `C7656554-XYZ`, expected `env` for key \"target.0\"",
                &data
            ),
            "unknown variant `…`, expected `env` for key \"target.0\""
        );
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
