//! Resource documents: turning client input into the canonical stored form (RFC 7643 §2, §4) and
//! rendering stored resources with `id` and `meta` (RFC 7643 §3.1).
use super::error::ScimError;
use super::schema::{AttributeDef, Location, Mutability, ResourceSchema};
use serde_json::{Map, Value};
use std::fmt;

mod coerce;
#[cfg(test)]
mod tests;

use coerce::expect_string;
pub use coerce::{as_bool, coerce, coerce_single, excerpt, is_empty, parse_datetime};

/// A resource document as stored: canonical attribute names, no `id`/`meta`, no write-only values.
pub type Document = Map<String, Value>;

/// A client document after normalisation: what may be stored, and the write-only password kept apart.
#[derive(Clone, PartialEq)]
pub struct Normalized {
    pub document: Document,
    pub password: Option<String>,
}

impl fmt::Debug for Normalized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = self.password.as_ref().map(|_| "<redacted>");
        f.debug_struct("Normalized")
            .field("document", &self.document)
            .field("password", &password)
            .finish()
    }
}

/// The opaque version of a resource, rendered as the weak ETag `W/"n"` (RFC 7644 §3.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version(pub i64);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "W/\"{}\"", self.0)
    }
}

impl Version {
    /// Whether an `If-Match` / `If-None-Match` header value names this version (`*` names any).
    pub fn matches_header(&self, header: &str) -> bool {
        let mine = self.0.to_string();
        header
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == mine)
    }
}

/// What a stored resource needs, beside its document, to be rendered.
#[derive(Debug, Clone)]
pub struct MetaInfo<'a> {
    pub resource_type: &'a str,
    pub id: &'a str,
    pub created: &'a str,
    pub last_modified: &'a str,
    pub version: Version,
    /// The collection URL, e.g. `https://bridge.example.com/scim/v2/Users`.
    pub collection_url: &'a str,
}

/// Renders a stored document as the full resource: `schemas`, `id`, the attributes, then `meta`.
pub fn render(document: &Document, meta: &MetaInfo<'_>) -> Value {
    let mut out = Map::with_capacity(document.len() + 3);
    if let Some(schemas) = document.get("schemas") {
        out.insert("schemas".into(), schemas.clone());
    }
    out.insert("id".into(), Value::String(meta.id.to_owned()));
    for (k, v) in document {
        if k != "schemas" {
            out.insert(k.clone(), v.clone());
        }
    }
    let mut m = Map::with_capacity(5);
    m.insert("resourceType".into(), meta.resource_type.into());
    m.insert("created".into(), meta.created.into());
    m.insert("lastModified".into(), meta.last_modified.into());
    m.insert("location".into(), format!("{}/{}", meta.collection_url, meta.id).into());
    m.insert("version".into(), meta.version.to_string().into());
    out.insert("meta".into(), Value::Object(m));
    Value::Object(out)
}

/// Normalises a POST or PUT body: canonical names, coerced values, readOnly input dropped, unknown
/// attributes refused, `required` checked, `schemas` recomputed.
pub fn normalize(input: &Value, schema: &ResourceSchema) -> Result<Normalized, ScimError> {
    let object = input
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    check_schemas(object, schema)?;
    let mut document = Document::new();
    let mut password = None;
    for (key, value) in object {
        if value.is_null() || key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            let ext_doc = normalize_extension(value, ext.id.as_str(), schema)?;
            if !ext_doc.is_empty() {
                document.insert(ext.id.clone(), Value::Object(ext_doc));
            }
            continue;
        }
        if key.contains(':') {
            // Dropping it would lose the client's data without a word.
            let urn = schema.extension_urn_of(key);
            return Err(match schema.extension(&urn) {
                Some(ext) => ScimError::invalid_value(format!(
                    "'{}:…': an attribute of '{}' goes inside the object keyed by that URN",
                    ext.id, ext.id
                )),
                None => schema.undeclared(&urn),
            });
        }
        let def = top_level_def(schema, key)?;
        match def.mutability {
            Mutability::ReadOnly => continue, // RFC 7643 §2.2: readOnly input is ignored
            Mutability::WriteOnly if def.name == "password" => {
                password = Some(expect_string(value, "password")?);
                continue;
            }
            _ => {}
        }
        if let Some(v) = coerce(def, value, &def.name)? {
            document.insert(def.name.clone(), v);
        }
    }
    finish(&mut document, schema)?;
    Ok(Normalized { document, password })
}

/// Schema URIs that IdPs send which name no schema of ours, tolerated in `schemas` beside the core
/// one: Entra's legacy ADSCIM URIs (its documented group create lists the Group one, docs/idp-behaviour.md
/// §2.6, Q24). They carry no attributes. Nothing else is tolerated.
const TOLERATED_SCHEMA_URIS: [(&str, &str); 2] = [
    (
        "User",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User",
    ),
    (
        "Group",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
    ),
];

/// RFC 7643 §3: `schemas` is required, lists the resource's core schema, and names only schemas
/// of its resource type (its core schema and its extensions).
fn check_schemas(object: &Map<String, Value>, schema: &ResourceSchema) -> Result<(), ScimError> {
    let core = schema.core.id.as_str();
    let listed = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .map(|(_, v)| v)
        .ok_or_else(|| ScimError::invalid_syntax(format!("'schemas' is required: [\"{core}\"] at least")))?;
    let urns = listed
        .as_array()
        .filter(|items| items.iter().all(Value::is_string))
        .ok_or_else(|| ScimError::invalid_syntax("'schemas' must be an array of schema URIs"))?;
    for urn in urns.iter().filter_map(Value::as_str) {
        let known = schema.known_urns().any(|k| k.eq_ignore_ascii_case(urn))
            || TOLERATED_SCHEMA_URIS
                .iter()
                .any(|(kind, t)| *kind == schema.name && t.eq_ignore_ascii_case(urn));
        if !known && urn.to_ascii_lowercase().starts_with("urn:") {
            return Err(schema.undeclared(urn));
        }
        if !known {
            let names: Vec<&str> = schema.known_urns().collect();
            return Err(ScimError::invalid_value(format!(
                "'schemas' lists '{}', which is not a schema of {} resources (known: {})",
                excerpt(&Value::String(urn.to_owned())).trim_matches('"'),
                schema.name,
                names.join(", ")
            )));
        }
    }
    if !urns
        .iter()
        .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(core)))
    {
        return Err(ScimError::invalid_value(format!(
            "'schemas' must list the core schema \"{core}\""
        )));
    }
    Ok(())
}

fn normalize_extension(value: &Value, urn: &str, schema: &ResourceSchema) -> Result<Document, ScimError> {
    let object = value
        .as_object()
        .ok_or_else(|| ScimError::invalid_value(format!("'{urn}' must be an object")))?;
    let ext = schema
        .extension(urn)
        .ok_or_else(|| ScimError::invalid_value(format!("unknown schema '{urn}'")))?;
    let mut out = Document::new();
    for (key, v) in object.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
        let def = ext
            .attribute(key)
            .ok_or_else(|| ScimError::invalid_value(format!("unknown attribute '{key}' in '{urn}'")))?;
        if def.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = coerce(def, v, &format!("{urn}:{}", def.name))? {
            out.insert(def.name.clone(), v);
        }
    }
    Ok(out)
}

fn top_level_def<'s>(schema: &'s ResourceSchema, key: &str) -> Result<&'s AttributeDef, ScimError> {
    schema
        .common
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(key))
        .or_else(|| schema.core.attribute(key))
        .ok_or_else(|| ScimError::invalid_value(format!("unknown attribute '{key}' (not in {})", schema.core.id)))
}

/// Checks what must hold of a whole document and recomputes `schemas`.
pub fn finish(document: &mut Document, schema: &ResourceSchema) -> Result<(), ScimError> {
    check_required(document, schema)?;
    check_single_line(document)?;
    let mut schemas = vec![Value::String(schema.core.id.clone())];
    for ext in &schema.extensions {
        if document
            .get(&ext.id)
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty())
        {
            schemas.push(Value::String(ext.id.clone()));
        } else {
            document.remove(&ext.id);
        }
    }
    document.insert("schemas".into(), Value::Array(schemas));
    Ok(())
}

/// The core schema's required attributes, and those of each extension the document holds.
fn check_required(document: &Document, schema: &ResourceSchema) -> Result<(), ScimError> {
    for def in schema.core.attributes.iter().filter(|d| d.required) {
        let present = document.get(&def.name).is_some_and(|v| !is_empty(v));
        if !present {
            return Err(ScimError::invalid_value(format!("'{}' is required", def.name)));
        }
    }
    for ext in &schema.extensions {
        let Some(held) = document
            .get(&ext.id)
            .and_then(Value::as_object)
            .filter(|o| !o.is_empty())
        else {
            continue;
        };
        for def in ext.attributes.iter().filter(|d| d.required) {
            if held.get(&def.name).is_none_or(is_empty) {
                return Err(ScimError::invalid_value(format!(
                    "'{}:{}' is required",
                    ext.id, def.name
                )));
            }
        }
    }
    Ok(())
}

/// Identifiers that must be one line of text: a NUL in a userName cut uniqueness short (a later
/// `a\u0000two` collided with `a\u0000one`), and CR/LF end up in vendor calls and log lines.
fn check_single_line(document: &Document) -> Result<(), ScimError> {
    let text = |key: &str| document.get(key).and_then(Value::as_str);
    let emails = document.get("emails").and_then(Value::as_array).into_iter().flatten();
    let values = [
        ("userName", text("userName")),
        ("displayName", text("displayName")),
        ("externalId", text("externalId")),
    ]
    .into_iter()
    .chain(emails.map(|e| ("emails.value", e.get("value").and_then(Value::as_str))));
    for (name, value) in values {
        if let Some(at) = value.and_then(|v| v.chars().position(char::is_control)) {
            return Err(ScimError::invalid_value(format!(
                "'{name}' may not hold control characters (one at character {})",
                at + 1
            )));
        }
    }
    Ok(())
}

/// The value a document holds at a resolved location (top-level or inside an extension).
pub fn container<'d>(document: &'d Document, location: Location<'_>) -> Option<&'d Document> {
    match location {
        Location::Core => Some(document),
        Location::Extension(urn) => document.get(urn).and_then(Value::as_object),
    }
}

/// The mutable object that holds attributes at `location`, created when absent.
pub fn container_mut<'d>(document: &'d mut Document, location: Location<'_>) -> &'d mut Document {
    match location {
        Location::Core => document,
        Location::Extension(urn) => {
            let entry = document
                .entry(urn.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry {
                Value::Object(o) => o,
                _ => unreachable_object(),
            }
        }
    }
}

#[allow(clippy::panic)] // the entry was made an object on the line before
fn unreachable_object() -> &'static mut Document {
    panic!("container is always an object")
}
