//! `bulkId:` references in an operation's data (RFC 7644 §3.7.2): found anywhere in it, replaced
//! by the created resource's id once the POST that defines them has run, or, to break a cycle of
//! POSTs (§3.7.1), taken out of a POST and added back by a PATCH once the others exist.
use super::BULK_ID_PREFIX;
use crate::scim::patch::PATCH_OP_SCHEMA;
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};

/// Adds every bulkId `value` names to `into`.
pub(super) fn collect(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            if let Some(bulk_id) = text.strip_prefix(BULK_ID_PREFIX) {
                into.insert(bulk_id.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, into)),
        Value::Object(map) => map.values().for_each(|item| collect(item, into)),
        _ => {}
    }
}

fn names_any(value: &Value, bulk_ids: &dyn Fn(&str) -> bool) -> bool {
    match value {
        Value::String(text) => text.strip_prefix(BULK_ID_PREFIX).is_some_and(bulk_ids),
        Value::Array(items) => items.iter().any(|item| names_any(item, bulk_ids)),
        Value::Object(map) => map.values().any(|item| names_any(item, bulk_ids)),
        _ => false,
    }
}

/// Replaces each reference to a bulkId `created` holds with that resource's id.
pub fn resolve_references(value: &mut Value, created: &HashMap<String, String>) {
    match value {
        Value::String(text) => {
            let id = text.strip_prefix(BULK_ID_PREFIX).and_then(|b| created.get(b));
            if let Some(id) = id {
                *text = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| resolve_references(item, created)),
        Value::Object(map) => map.values_mut().for_each(|item| resolve_references(item, created)),
        _ => {}
    }
}

/// What a POST in a cycle leaves out when it runs: a PatchOp body that adds it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Deferred(pub Value);

/// Takes out of POST `data` every value that names a bulkId `pending` says is not created yet:
/// the elements of a multi-valued attribute that do (`members`), or the whole attribute
/// (`manager`), at the top level or inside an extension. Returns the PATCH that adds them back,
/// if anything was taken out.
pub fn defer_references(data: &mut Value, pending: &dyn Fn(&str) -> bool) -> Option<Deferred> {
    let object = data.as_object_mut()?;
    let mut operations = Vec::new();
    for (key, value) in object.iter_mut() {
        match value {
            Value::Object(extension) if key.contains(':') => {
                for (name, value) in extension.iter_mut() {
                    take_out(&format!("{key}:{name}"), value, pending, &mut operations);
                }
                extension.retain(|_, v| !v.is_null());
            }
            _ => take_out(key, value, pending, &mut operations),
        }
    }
    object.retain(|_, v| !v.is_null());
    (!operations.is_empty()).then(|| Deferred(json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})))
}

/// Moves what `value` (at `path`) names of `pending` into an `add` operation; leaves `null` where
/// nothing is left.
fn take_out(path: &str, value: &mut Value, pending: &dyn Fn(&str) -> bool, operations: &mut Vec<Value>) {
    if !names_any(value, pending) {
        return;
    }
    let moved = match value {
        Value::Array(items) => {
            let (moved, kept): (Vec<Value>, Vec<Value>) = items.drain(..).partition(|item| names_any(item, pending));
            *value = if kept.is_empty() {
                Value::Null
            } else {
                Value::Array(kept)
            };
            Value::Array(moved)
        }
        _ => std::mem::take(value),
    };
    let mut operation = Map::new();
    operation.insert("op".into(), "add".into());
    operation.insert("path".into(), path.into());
    operation.insert("value".into(), moved);
    operations.push(Value::Object(operation));
}
