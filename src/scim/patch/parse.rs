//! Reading a PatchOp body into operations (RFC 7644 §3.5.2), as Okta and Entra write them.
use super::{OpKind, PatchOperation, PATCH_OP_SCHEMA};
use crate::scim::error::ScimError;
use crate::scim::limits::Limits;
use serde_json::{Map, Value};

fn get_ci<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// Parses a PatchOp request body (RFC 7644 §3.5.2) within `limits` (operations, path lengths).
pub fn parse_request(body: &Value, limits: &Limits) -> Result<Vec<PatchOperation>, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body must be a JSON object"))?;
    let schemas = get_ci(object, "schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| {
        s.iter()
            .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_SCHEMA)))
    }) {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' must contain \"{PATCH_OP_SCHEMA}\""
        )));
    }
    let operations = get_ci(object, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| ScimError::invalid_syntax("'Operations' must be a non-empty array"))?;
    limits.check_patch_operations(operations.len())?;
    operations
        .iter()
        .enumerate()
        .map(|(n, op)| parse_operation(op, limits).map_err(|e| numbered(e, n)))
        .collect()
}

fn parse_operation(op: &Value, limits: &Limits) -> Result<PatchOperation, ScimError> {
    let object = op
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("an operation must be a JSON object"))?;
    let name = get_ci(object, "op").and_then(Value::as_str).unwrap_or_default();
    // Entra sends "Replace", "Add", "Remove" (docs/idp-behaviour.md Q1).
    let kind = match name.to_ascii_lowercase().as_str() {
        "add" => OpKind::Add,
        "remove" => OpKind::Remove,
        "replace" => OpKind::Replace,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "'op' must be add, remove or replace, got '{name}'"
            )))
        }
    };
    let path = match get_ci(object, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(limits.parse_path(p)?),
        Some(other) => {
            return Err(ScimError::invalid_path(format!(
                "'path' must be a string, got {}",
                crate::scim::resource::excerpt(other)
            )))
        }
    };
    let value = get_ci(object, "value").filter(|v| !v.is_null()).cloned();
    if kind == OpKind::Remove && path.is_none() {
        return Err(ScimError::no_target("'remove' needs a 'path'"));
    }
    if kind != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!("'{name}' needs a 'value'")));
    }
    if let (None, Some(Value::Object(keys))) = (&path, &value) {
        // The keys of a path-less value are paths too (Q4), parsed when applied.
        for key in keys.keys() {
            limits.check_path_length(key)?;
        }
    }
    Ok(PatchOperation { kind, path, value })
}

pub(super) fn numbered(e: ScimError, n: usize) -> ScimError {
    ScimError {
        detail: format!("operation {}: {}", n + 1, e.detail),
        ..e
    }
}
