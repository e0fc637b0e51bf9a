//! Resource documents: turning client input into the canonical stored form (RFC 7643 §2, §4) and
//! rendering stored resources with `id` and `meta` (RFC 7643 §3.1).
use super::error::ScimError;
use super::schema::{AttrType, AttributeDef, Location, Mutability, ResourceSchema};
use serde_json::{Map, Value};
use std::fmt;

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
            let known: Vec<&str> = schema.extensions.iter().map(|e| e.id.as_str()).collect();
            return Err(ScimError::invalid_value(format!(
                "'{}' is not a schema extension of {} resources (known: {})",
                excerpt(&Value::String(key.clone())).trim_matches('"'),
                schema.name,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
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

fn check_required(document: &Document, schema: &ResourceSchema) -> Result<(), ScimError> {
    for def in schema.core.attributes.iter().filter(|d| d.required) {
        let present = document.get(&def.name).is_some_and(|v| !is_empty(v));
        if !present {
            return Err(ScimError::invalid_value(format!("'{}' is required", def.name)));
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

/// RFC 7644 §3.4.2.2 `pr`: null, "" and [] / {} count as absent.
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Coerces a client value to the attribute's type; `None` means "absent" (null, empty list or object).
pub fn coerce(def: &AttributeDef, value: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let Value::Array(items) = value else {
            return Err(ScimError::invalid_value(format!(
                "'{path}' is multi-valued: its value must be an array, got {}",
                excerpt(value)
            )));
        };
        let mut coerced = Vec::with_capacity(items.len());
        for item in items {
            coerced.extend(coerce_single(def, item, path)?);
        }
        let out = super::values::dedup(coerced);
        check_one_primary(&out, path)?;
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    coerce_single(def, value, path)
}

fn check_one_primary(items: &[Value], path: &str) -> Result<(), ScimError> {
    let primaries = items
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "at most one value of '{path}' may be primary"
        )));
    }
    Ok(())
}

/// Coerces one (non-list) value.
pub fn coerce_single(def: &AttributeDef, value: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong = || {
        ScimError::invalid_value(format!(
            "'{path}' must be of type {:?}, got {}",
            def.kind,
            excerpt(value)
        ))
    };
    // Only the lenient forms IdPs really send are read (docs/idp-behaviour.md Q2, Q9, Q10): a number where
    // a string belongs, or a numeric string, is refused rather than guessed at.
    let coerced = match def.kind {
        AttrType::Complex => return coerce_complex(def, value, path),
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(_) => value.clone(),
            _ => return Err(wrong()),
        },
        AttrType::Boolean => Value::Bool(as_bool(value).ok_or_else(wrong)?),
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            _ => return Err(wrong()),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => value.clone(),
            _ => return Err(wrong()),
        },
        AttrType::DateTime => {
            let s = value.as_str().ok_or_else(wrong)?;
            parse_datetime(s).ok_or_else(|| {
                ScimError::invalid_value(format!("'{path}' must be an xsd:dateTime such as 2026-01-31T12:00:00Z"))
            })?;
            value.clone()
        }
    };
    Ok(Some(coerced))
}

/// Entra sends booleans as the strings "True"/"False" (docs/idp-behaviour.md Q2).
pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Parses an xsd:dateTime (RFC 3339 with a time zone).
pub fn parse_datetime(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

fn coerce_complex(def: &AttributeDef, value: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    let object = match value {
        Value::Object(o) => o,
        // Entra sends the enterprise manager as a bare id string (docs/idp-behaviour.md Q9): a singular
        // reference such as `manager`, never a multi-valued attribute (`"emails": "x"` is refused).
        Value::String(s) if !def.multi_valued && def.sub("value").is_some() => return Ok(simple_value_object(s)),
        // ... or as a one-element array with `$ref` (Q10).
        Value::Array(items) if !def.multi_valued && items.len() == 1 => return coerce_complex(def, &items[0], path),
        _ => {
            return Err(ScimError::invalid_value(format!(
                "'{path}' must be an object, got {}",
                excerpt(value)
            )))
        }
    };
    let mut out = Map::with_capacity(object.len());
    for (key, v) in object {
        let sub = def
            .sub(key)
            .ok_or_else(|| ScimError::invalid_value(format!("unknown sub-attribute '{path}.{key}'")))?;
        if sub.mutability == Mutability::ReadOnly && def.mutability != Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = coerce_single(sub, v, &format!("{path}.{}", sub.name))? {
            out.insert(sub.name.clone(), v);
        }
    }
    // A manager of `{"value": ""}` means "no manager" (docs/idp-behaviour.md Q11).
    if out.get("value").is_some_and(is_empty) && !def.multi_valued {
        return Ok(None);
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// A value as it may appear in an error detail: its JSON text, cut to a readable length.
pub fn excerpt(value: &Value) -> String {
    const MAX: usize = 64;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

fn simple_value_object(s: &str) -> Option<Value> {
    (!s.is_empty()).then(|| serde_json::json!({ "value": s }))
}

fn expect_string(value: &Value, path: &str) -> Result<String, ScimError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_value(format!("'{path}' must be a string")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{user, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    /// Normalises `v` as a POST body (with the core schema listed).
    fn norm(mut v: Value) -> Result<Normalized, ScimError> {
        if v.get("schemas").is_none() {
            v["schemas"] = json!([USER_SCHEMA]);
        }
        normalize(&v, user())
    }

    #[test]
    fn names_become_canonical_and_readonly_input_is_dropped() {
        let n = norm(json!({"USERNAME": "a", "Name": {"GivenName": "A"}, "id": "x", "meta": {"resourceType": "User"}, "groups": []})).unwrap();
        assert_eq!(n.document["userName"], "a");
        assert_eq!(n.document["name"]["givenName"], "A");
        assert!(
            n.document.get("id").is_none() && n.document.get("meta").is_none() && n.document.get("groups").is_none()
        );
        assert_eq!(
            n.document["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
        );
    }

    #[test]
    fn string_booleans_nulls_and_bare_manager_are_accepted() {
        let n = norm(json!({"userName": "a", "active": "False", "title": null,
            ENTERPRISE_USER_SCHEMA: {"manager": "m-1", "department": "Sales"}}))
        .unwrap();
        assert_eq!(n.document["active"], false);
        assert!(n.document.get("title").is_none());
        assert_eq!(n.document[ENTERPRISE_USER_SCHEMA]["manager"], json!({"value": "m-1"}));
        assert_eq!(n.document["schemas"][1], ENTERPRISE_USER_SCHEMA);
    }

    #[test]
    fn password_is_kept_apart_and_redacted_in_debug() {
        let n = norm(json!({"userName": "a", "password": "hunter2"})).unwrap();
        assert!(n.document.get("password").is_none());
        assert_eq!(n.password.as_deref(), Some("hunter2"));
        assert!(!format!("{n:?}").contains("hunter2"));
    }

    #[test]
    fn bad_input_is_a_precise_invalid_value() {
        let cases = [
            (json!({"name": {"givenName": "x"}}), "'userName' is required"),
            (json!({"userName": ""}), "'userName' is required"),
            (
                json!({"userName": "a", "active": "yes"}),
                "'active' must be of type Boolean",
            ),
            (
                json!({"userName": "a", "favouriteColour": "red"}),
                "unknown attribute 'favouriteColour'",
            ),
            (
                json!({"userName": "a", "name": {"nick": "x"}}),
                "unknown sub-attribute 'name.nick'",
            ),
            (
                json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
                "primary",
            ),
            (json!({"userName": true}), "'userName' must be of type String"),
        ];
        for (input, detail) in cases {
            let err = norm(input.clone()).expect_err(&input.to_string());
            assert_eq!(err.status, 400);
            assert!(err.detail.contains(detail), "{input}: {}", err.detail);
        }
    }

    #[test]
    fn schemas_must_list_the_core_schema_and_only_known_ones() {
        let err = norm(json!({"userName": "a", "schemas": ["urn:example:x"]})).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidValue));
        assert!(err.detail.contains("urn:example:x"), "{}", err.detail);
        let err = normalize(&json!({"userName": "a"}), user()).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidSyntax));
        let err = normalize(&json!({"userName": "a", "schemas": [ENTERPRISE_USER_SCHEMA]}), user()).unwrap_err();
        assert!(err.detail.contains("core schema"), "{}", err.detail);
        let both = json!({"userName": "a", "schemas": [USER_SCHEMA.to_uppercase(), ENTERPRISE_USER_SCHEMA]});
        assert!(normalize(&both, user()).is_ok());
    }

    #[test]
    fn an_unknown_extension_object_is_refused_not_dropped() {
        let err = norm(json!({"userName": "a", "urn:example:custom:2.0:User": {"costCenter": "42"}})).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidValue));
        assert!(err.detail.contains("urn:example:custom:2.0:User"), "{}", err.detail);
    }

    #[test]
    fn control_characters_in_identifiers_are_refused() {
        for bad in [
            json!({"userName": "a\u{0}one"}),
            json!({"userName": "a\r\nb"}),
            json!({"userName": "a", "displayName": "x\ty"}),
            json!({"userName": "a", "emails": [{"value": "a@x\n"}]}),
        ] {
            let err = norm(bad.clone()).expect_err(&bad.to_string());
            assert!(err.detail.contains("control characters"), "{bad}: {}", err.detail);
        }
        assert!(norm(json!({"userName": "a", "addresses": [{"formatted": "1 Main St\nTown"}]})).is_ok());
    }

    #[test]
    fn etag_matching_accepts_weak_strong_lists_and_star() {
        let v = Version(3);
        assert_eq!(v.to_string(), "W/\"3\"");
        for header in ["W/\"3\"", "\"3\"", "*", "W/\"1\", W/\"3\""] {
            assert!(v.matches_header(header), "{header}");
        }
        assert!(!v.matches_header("W/\"4\""));
    }
}
