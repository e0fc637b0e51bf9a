//! Reading one value out of a document by a PATCH-style path (RFC 7644 §3.5.2 grammar), as the
//! vendor mappings do: `title`, `name.middleName`, `phoneNumbers[type eq "mobile"].value`,
//! `urn:…:enterprise:2.0:User:manager.value`. A multi-valued attribute without a filter gives its
//! primary element, else its first.
use super::error::ScimError;
use super::eval::element_matches;
use super::path::PatchPath;
use super::resource::{container, Document};
use super::schema::{AttrType, Mutability, ResourceSchema};
use serde_json::Value;

/// Checks that `path` names one simple value of `schema` (what `select` can read), or says why not.
pub fn check_selectable(path: &PatchPath, schema: &ResourceSchema) -> Result<(), String> {
    let resolved = schema.resolve(&path.attr)?;
    let attr = resolved.attr;
    if path.filter.is_some() && !attr.multi_valued {
        return Err(format!(
            "'{}' is single-valued: a [filter] needs a multi-valued attribute",
            attr.name
        ));
    }
    let sub = match (resolved.sub, &path.sub) {
        (Some(_), Some(_)) => return Err(format!("'{path}' names two sub-attributes")),
        (Some(sub), None) => Some(sub),
        (None, Some(name)) => Some(
            attr.sub(name)
                .ok_or_else(|| format!("'{}' has no sub-attribute '{name}'", attr.name))?,
        ),
        (None, None) => None,
    };
    let leaf = match sub {
        Some(sub) => sub,
        None if attr.kind == AttrType::Complex => attr
            .sub("value")
            .ok_or_else(|| format!("'{}' is complex: name one of its sub-attributes", attr.name))?,
        None => attr,
    };
    if leaf.mutability == Mutability::WriteOnly || attr.mutability == Mutability::WriteOnly {
        return Err(format!("'{path}' is write-only and cannot be sent on"));
    }
    if leaf.kind == AttrType::Complex {
        return Err(format!("'{path}' is complex: name one of its sub-attributes"));
    }
    Ok(())
}

/// The text at `path` in `document` (numbers and booleans as written), `None` when absent or empty.
/// `path` must have passed `check_selectable` against `schema`.
pub fn select(document: &Document, schema: &ResourceSchema, path: &PatchPath) -> Option<String> {
    let resolved = schema.resolve(&path.attr).ok()?;
    let attr = resolved.attr;
    let value = container(document, resolved.location)?.get(&attr.name)?;
    let element = if attr.multi_valued {
        let elements = value.as_array()?;
        match &path.filter {
            Some(filter) => elements
                .iter()
                .find(|e| element_matches(filter, e, attr).unwrap_or(false))?,
            None => elements
                .iter()
                .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
                .or_else(|| elements.first())?,
        }
    } else {
        value
    };
    let sub = resolved.sub.map(|s| s.name.as_str()).or(path.sub.as_deref());
    let leaf = match (sub, element) {
        (Some(sub), Value::Object(object)) => object.iter().find(|(k, _)| k.eq_ignore_ascii_case(sub))?.1,
        (None, Value::Object(object)) => object.get("value")?,
        (Some(_), _) => return None,
        (None, other) => other,
    };
    let text = match leaf {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Parses a mapping's path, refusing what `select` cannot read; the error is a sentence.
pub fn parse_selectable(text: &str, schema: &ResourceSchema) -> Result<PatchPath, String> {
    let path: PatchPath = text.parse().map_err(|e: ScimError| e.detail)?;
    check_selectable(&path, schema)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::user;
    use serde_json::json;

    fn doc() -> Document {
        serde_json::from_value(json!({
            "userName": "ann", "title": "Engineer", "name": {"givenName": "Ann", "middleName": "B"},
            "phoneNumbers": [{"value": "111", "type": "work"}, {"value": "222", "type": "mobile", "primary": true}],
            "addresses": [{"type": "work", "locality": "Oslo", "postalCode": "0150"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "m1"}}
        }))
        .unwrap()
    }

    fn read(path: &str) -> Option<String> {
        let parsed = parse_selectable(path, user()).unwrap_or_else(|e| panic!("{path}: {e}"));
        select(&doc(), user(), &parsed)
    }

    #[test]
    fn simple_sub_filtered_primary_and_extension_values_are_read() {
        assert_eq!(read("title").as_deref(), Some("Engineer"));
        assert_eq!(read("name.middleName").as_deref(), Some("B"));
        assert_eq!(read(r#"phoneNumbers[type eq "work"].value"#).as_deref(), Some("111"));
        assert_eq!(read("phoneNumbers").as_deref(), Some("222"));
        assert_eq!(read(r#"addresses[type eq "work"].locality"#).as_deref(), Some("Oslo"));
        assert_eq!(
            read("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department").as_deref(),
            Some("R&D")
        );
        assert_eq!(read("manager").as_deref(), Some("m1"));
        assert_eq!(read(r#"phoneNumbers[type eq "fax"].value"#), None);
        assert_eq!(read("nickName"), None);
    }

    #[test]
    fn paths_that_name_no_single_value_are_refused_with_the_reason() {
        for (path, words) in [
            ("password", "write-only"),
            ("name", "complex"),
            ("title[type eq \"x\"]", "single-valued"),
            ("name.shoeSize", "unknown attribute"),
            ("urn:example:Custom:costCenter", "unknown attribute"),
            ("emails[type eq", "invalid path"),
        ] {
            let err = parse_selectable(path, user()).unwrap_err();
            assert!(err.contains(words), "{path}: {err}");
        }
    }
}
