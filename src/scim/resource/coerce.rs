//! Coercing client values to an attribute's declared type (RFC 7643 §2.3), with the leniencies
//! Okta and Entra need (string booleans, bare values for single-valued complex attributes).
use crate::scim::error::ScimError;
use crate::scim::schema::{AttrType, AttributeDef, Mutability};
use serde_json::{Map, Value};

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
        let out = crate::scim::values::dedup(coerced);
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
            // No database keeps U+0000 in text (PostgreSQL refuses it), and no attribute needs it.
            Value::String(s) if s.contains('\0') => {
                return Err(ScimError::invalid_value(format!(
                    "'{path}' contains U+0000 (NUL); control characters like it cannot be stored"
                )))
            }
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
        Value::String(s) if !def.multi_valued && def.sub("value").is_some() => {
            return coerce_complex(def, &serde_json::json!({ "value": s }), path)
        }
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

pub(super) fn expect_string(value: &Value, path: &str) -> Result<String, ScimError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_value(format!("'{path}' must be a string")))
}
