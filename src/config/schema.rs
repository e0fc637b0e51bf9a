//! `[schema]`: the User schema extensions an operator declares (docs/extensions.md), one RFC 7643
//! §7 schema document per file: every `*.json` in `extensions_dir`, and each file `extensions`
//! lists. They are stored, returned, filterable, PATCHable and mappable like the enterprise one.
use super::ConfigError;
use crate::scim::schema::{self, parse_extension, ResourceSchema};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaSettings {
    /// A folder of schema documents, one extension each (`*.json`, in name order).
    pub extensions_dir: Option<PathBuf>,
    /// Schema documents named one by one.
    pub extensions: Vec<PathBuf>,
}

impl SchemaSettings {
    /// The User resource type with the declared extensions; the built-in one when none is declared.
    /// The same declarations give the same schema (it lives as long as the process).
    pub fn user_schema(&self) -> Result<&'static ResourceSchema, ConfigError> {
        let files = self.files()?;
        if files.is_empty() {
            return Ok(schema::user());
        }
        let mut texts = Vec::with_capacity(files.len());
        for file in &files {
            let text = std::fs::read_to_string(file).map_err(|e| invalid(file, &format!("cannot read it: {e}")))?;
            texts.push((file.clone(), text));
        }
        let key: String = texts.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\u{0}");
        static BUILT: OnceLock<Mutex<HashMap<String, &'static ResourceSchema>>> = OnceLock::new();
        let mut built = BUILT
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(schema) = built.get(&key) {
            return Ok(schema);
        }
        let mut declared = Vec::with_capacity(texts.len());
        for (file, text) in &texts {
            declared.push(parse_extension(text).map_err(|e| invalid(file, &e))?);
        }
        let extended = schema::user()
            .with_declared(declared)
            .map_err(|e| ConfigError::Invalid(format!("schema: {e}")))?;
        let extended: &'static ResourceSchema = Box::leak(Box::new(extended));
        built.insert(key, extended);
        Ok(extended)
    }

    fn files(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files = Vec::new();
        if let Some(dir) = &self.extensions_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| invalid(dir, &format!("cannot list it: {e}")))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("json")))
                .collect();
            found.sort();
            files.extend(found);
        }
        files.extend(self.extensions.iter().cloned());
        Ok(files)
    }
}

fn invalid(file: &Path, why: &str) -> ConfigError {
    ConfigError::Invalid(format!("schema extension {}: {why}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COST_CENTER: &str = r#"{"id": "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",
        "name": "CustomExtension", "attributes": [
          {"name": "costCenter", "type": "string"},
          {"name": "badges", "type": "integer", "multiValued": true}]}"#;

    #[test]
    fn a_folder_of_documents_extends_the_user_schema_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cost.json"), COST_CENTER).unwrap();
        std::fs::write(dir.path().join("README.txt"), "not a schema").unwrap();
        let settings = SchemaSettings {
            extensions_dir: Some(dir.path().to_owned()),
            extensions: Vec::new(),
        };
        let schema = settings.user_schema().unwrap();
        let ext = schema
            .extension("urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User")
            .unwrap();
        assert!(ext.attribute("badges").is_some_and(|b| b.multi_valued));
        assert!(std::ptr::eq(schema, settings.user_schema().unwrap()), "built once");
        assert!(std::ptr::eq(
            SchemaSettings::default().user_schema().unwrap(),
            schema::user()
        ));
    }

    #[test]
    fn documents_the_server_cannot_hold_are_refused_naming_the_file_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        for (text, words) in [
            ("{", "not JSON"),
            (
                r#"{"id": "CustomExtension", "attributes": [{"name": "a", "type": "string"}]}"#,
                "must be the extension's URN",
            ),
            (r#"{"id": "urn:x:y", "attributes": []}"#, "at least one attribute"),
            (
                r#"{"id": "urn:x:y", "attributes": [{"name": "a", "type": "strong"}]}"#,
                "unknown variant `strong`",
            ),
            (
                r#"{"id": "urn:x:y", "attributes": [{"name": "a", "type": "string", "uniqueness": "server"}]}"#,
                "uniqueness is not enforced",
            ),
            (
                r#"{"id": "urn:x:y", "attributes": [{"name": "a", "type": "complex"}]}"#,
                "has no subAttributes",
            ),
            (
                r#"{"id": "urn:x:y", "attributes": [{"name": "a", "type": "string"}, {"name": "A", "type": "string"}]}"#,
                "declared twice",
            ),
            (
                r#"{"id": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "attributes": [{"name": "a", "type": "string"}]}"#,
                "built in",
            ),
        ] {
            let file = dir.path().join("bad.json");
            std::fs::write(&file, text).unwrap();
            let settings = SchemaSettings {
                extensions_dir: None,
                extensions: vec![file.clone()],
            };
            let err = settings.user_schema().unwrap_err().to_string();
            assert!(err.contains(words), "{text}: {err}");
        }
        let missing = SchemaSettings {
            extensions_dir: Some(dir.path().join("nowhere")),
            extensions: Vec::new(),
        };
        assert!(missing
            .user_schema()
            .unwrap_err()
            .to_string()
            .contains("cannot list it"));
    }
}
