//! Group membership in PATCH, PUT and POST (RFC 7644 §3.5.2, RFC 7643 §4.2): which members a request
//! adds or removes, read apart from the rest of the group so that the store changes rows, not a list.
//! Accepts what Okta and Entra send (docs/idp-behaviour.md Q12–Q18): `members` value lists with
//! `display` or `"$ref": null`, removal by `members[value eq "…"]` or by value list, replace with `[]`.
use super::error::ScimError;
use super::filter::{CompValue, CompareOp, Filter};
use super::patch::{OpKind, PatchOperation};
use super::schema::GROUP_SCHEMA;
use serde_json::{Map, Value};
use std::fmt;

/// Whether a member is a User or a (nested) Group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberType {
    User,
    Group,
}

impl MemberType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("user") {
            Some(Self::User)
        } else if s.eq_ignore_ascii_case("group") {
            Some(Self::Group)
        } else {
            None
        }
    }
}

impl fmt::Display for MemberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member as the client names it. `kind` is checked against what the id really is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub value: String,
    pub kind: Option<MemberType>,
    pub display: Option<String>,
}

/// One change to the member rows, applied in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberOp {
    Add(Vec<MemberRef>),
    Remove(Vec<String>),
    /// `members[<filter>]` that is not a plain list of `value eq`: evaluated against the rows.
    RemoveWhere(Filter),
    RemoveAll,
    Replace(Vec<MemberRef>),
}

/// A group PATCH split in two: operations on the document, and operations on the member rows.
#[derive(Debug)]
pub struct GroupPatch {
    pub document_ops: Vec<PatchOperation>,
    pub member_ops: Vec<MemberOp>,
}

fn is_members(name: &str) -> bool {
    name.eq_ignore_ascii_case("members") || name.eq_ignore_ascii_case(&format!("{GROUP_SCHEMA}:members"))
}

/// Splits parsed PATCH operations into document and member operations.
pub fn plan(operations: Vec<PatchOperation>) -> Result<GroupPatch, ScimError> {
    let mut plan = GroupPatch {
        document_ops: Vec::new(),
        member_ops: Vec::new(),
    };
    for (n, op) in operations.into_iter().enumerate() {
        plan_one(op, &mut plan).map_err(|e| ScimError {
            detail: format!("operation {}: {}", n + 1, e.detail),
            ..e
        })?;
    }
    Ok(plan)
}

fn plan_one(op: PatchOperation, plan: &mut GroupPatch) -> Result<(), ScimError> {
    let Some(path) = &op.path else {
        // Path-less: a `members` key is a member change, the other keys stay a document change.
        let Some(Value::Object(object)) = &op.value else {
            plan.document_ops.push(op);
            return Ok(());
        };
        let (members, rest): (Map<String, Value>, Map<String, Value>) =
            object.clone().into_iter().partition(|(k, _)| is_members(k));
        for value in members.into_values() {
            let list = member_list(&value)?;
            plan.member_ops.push(if op.kind == OpKind::Add {
                MemberOp::Add(list)
            } else {
                MemberOp::Replace(list)
            });
        }
        if !rest.is_empty() {
            plan.document_ops.push(PatchOperation {
                kind: op.kind,
                path: None,
                value: Some(Value::Object(rest)),
            });
        }
        return Ok(());
    };
    let uri_ok = path
        .attr
        .uri
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA));
    if !(uri_ok && path.attr.name.eq_ignore_ascii_case("members")) {
        plan.document_ops.push(op);
        return Ok(());
    }
    if path.attr.sub.is_some() || path.sub.is_some() {
        return Err(ScimError::mutability(
            "member sub-attributes are immutable: add or remove whole members",
        ));
    }
    let member_op = match (op.kind, &path.filter, &op.value) {
        (OpKind::Add, None, Some(v)) => MemberOp::Add(member_list(v)?),
        (OpKind::Replace, None, Some(v)) => MemberOp::Replace(member_list(v)?),
        // Entra (without aadOptscim062020) removes by value list, never meaning "all" (Q12).
        (OpKind::Remove, None, Some(v)) => MemberOp::Remove(member_list(v)?.into_iter().map(|m| m.value).collect()),
        (OpKind::Remove, None, None) => MemberOp::RemoveAll,
        (OpKind::Remove, Some(filter), _) => match value_equalities(filter) {
            Some(ids) => MemberOp::Remove(ids),
            None => MemberOp::RemoveWhere((**filter).clone()),
        },
        (_, Some(_), _) => {
            return Err(ScimError::mutability(
                "members are immutable: a filtered path can only remove them",
            ))
        }
        (_, None, None) => return Err(ScimError::invalid_value("'members' needs a value")),
    };
    plan.member_ops.push(member_op);
    Ok(())
}

/// `value eq "a"` or `value eq "a" or value eq "b"`: the ids, else `None`.
fn value_equalities(filter: &Filter) -> Option<Vec<String>> {
    match filter {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(id))
            if p.name.eq_ignore_ascii_case("value") && p.sub.is_none() =>
        {
            Some(vec![id.clone()])
        }
        Filter::Or(terms) => {
            let mut ids = Vec::with_capacity(terms.len());
            for term in terms {
                ids.extend(value_equalities(term)?);
            }
            Some(ids)
        }
        _ => None,
    }
}

/// Reads a list of members: objects with `value` (and optionally `type`, `display`, `$ref`), or a bare
/// id string (Q17). Duplicates are dropped.
pub fn member_list(value: &Value) -> Result<Vec<MemberRef>, ScimError> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        single => vec![single],
    };
    let mut out: Vec<MemberRef> = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for item in items {
        let member = member_ref(item)?;
        if seen.insert(member.value.clone()) {
            out.push(member);
        }
    }
    Ok(out)
}

fn member_ref(item: &Value) -> Result<MemberRef, ScimError> {
    let object = match item {
        Value::String(id) if !id.is_empty() => {
            return checked(MemberRef {
                value: id.clone(),
                kind: None,
                display: None,
            })
        }
        Value::Object(o) => o,
        other => {
            return Err(ScimError::invalid_value(format!(
                "a member must be an object with a 'value', got {}",
                super::resource::excerpt(other)
            )))
        }
    };
    let mut member = MemberRef {
        value: String::new(),
        kind: None,
        display: None,
    };
    for (key, v) in object {
        match (key.to_ascii_lowercase().as_str(), v) {
            ("value", Value::String(id)) => member.value = id.clone(),
            ("display", Value::String(d)) => member.display = Some(d.clone()),
            ("type", Value::String(t)) => {
                let kind = MemberType::parse(t).ok_or_else(|| {
                    ScimError::invalid_value(format!("member type must be 'User' or 'Group', got '{t}'"))
                })?;
                member.kind = Some(kind);
            }
            ("$ref", Value::String(r)) if member.kind.is_none() && r.contains("/Groups/") => {
                member.kind = Some(MemberType::Group)
            }
            ("$ref" | "display" | "type", _) => {} // Entra sends "$ref": null (Q16)
            _ => return Err(ScimError::invalid_value(format!("unknown member attribute '{key}'"))),
        }
    }
    if member.value.is_empty() {
        return Err(ScimError::invalid_value(
            "every member needs a non-empty 'value' (the member's id)",
        ));
    }
    checked(member)
}

/// No database keeps U+0000 in text (PostgreSQL refuses it), as for every other string.
fn checked(member: MemberRef) -> Result<MemberRef, ScimError> {
    let with_nul = if member.value.contains('\0') {
        "value"
    } else if member.display.as_ref().is_some_and(|d| d.contains('\0')) {
        "display"
    } else {
        return Ok(member);
    };
    Err(ScimError::invalid_value(format!(
        "'members.{with_nul}' contains U+0000 (NUL); control characters like it cannot be stored"
    )))
}

/// Takes `members` (any case) out of a POST/PUT body and reads it.
pub fn take_members(body: &mut Value) -> Result<Vec<MemberRef>, ScimError> {
    let Some(object) = body.as_object_mut() else {
        return Ok(Vec::new());
    };
    let keys: Vec<String> = object.keys().filter(|k| is_members(k)).cloned().collect();
    let mut members = Vec::new();
    for key in keys {
        if let Some(v) = object.remove(&key) {
            members.extend(member_list(&v)?);
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::patch::{parse_request, PATCH_OP_SCHEMA};
    use serde_json::json;

    fn plan_of(ops: Value) -> Result<GroupPatch, ScimError> {
        plan(parse_request(
            &json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}),
            &crate::scim::Limits::default(),
        )?)
    }

    fn m(id: &str) -> MemberRef {
        MemberRef {
            value: id.into(),
            kind: None,
            display: None,
        }
    }

    #[test]
    fn okta_and_entra_member_forms_become_row_operations() {
        let rows = [
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "u1", "display": "a@x"}]}]),
                vec![MemberOp::Add(vec![MemberRef {
                    display: Some("a@x".into()),
                    ..m("u1")
                }])],
            ),
            (
                json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}]}]),
                vec![MemberOp::Add(vec![m("u1")])],
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
                vec![MemberOp::Remove(vec!["u1".into()])],
            ),
            (
                json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}]),
                vec![MemberOp::Remove(vec!["u1".into(), "u2".into()])],
            ),
            (json!([{"op": "remove", "path": "members"}]), vec![MemberOp::RemoveAll]),
            (
                json!([{"op": "replace", "path": "members", "value": []}]),
                vec![MemberOp::Replace(vec![])],
            ),
            (
                json!([{"op": "add", "path": "members", "value": "u9"}]),
                vec![MemberOp::Add(vec![m("u9")])],
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "g1", "type": "Group"}]}]),
                vec![MemberOp::Add(vec![MemberRef {
                    kind: Some(MemberType::Group),
                    ..m("g1")
                }])],
            ),
        ];
        for (ops, expected) in rows {
            let planned = plan_of(ops.clone()).unwrap();
            assert_eq!(planned.member_ops, expected, "{ops}");
            assert!(planned.document_ops.is_empty(), "{ops}");
        }
    }

    #[test]
    fn pathless_replace_splits_members_from_the_document() {
        let planned = plan_of(
            json!([{"op": "replace", "value": {"id": "g", "displayName": "New", "members": [{"value": "u1"}]}}]),
        )
        .unwrap();
        assert_eq!(planned.member_ops, vec![MemberOp::Replace(vec![m("u1")])]);
        assert_eq!(planned.document_ops.len(), 1);
        assert_eq!(
            planned.document_ops[0].value,
            Some(json!({"id": "g", "displayName": "New"}))
        );
    }

    #[test]
    fn other_filters_are_kept_for_evaluation_and_bad_members_are_refused() {
        let planned = plan_of(json!([{"op": "remove", "path": "members[type eq \"Group\"]"}])).unwrap();
        assert!(matches!(planned.member_ops[0], MemberOp::RemoveWhere(_)));
        for (ops, scim_type) in [
            (
                json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}]),
                "invalidValue",
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "u", "type": "Printer"}]}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "members[value eq \"u\"].display", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "add", "path": "members", "value": ["u\u{0}"]}]),
                "invalidValue",
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "u", "display": "\u{0}"}]}]),
                "invalidValue",
            ),
        ] {
            let err = plan_of(ops.clone()).unwrap_err();
            assert_eq!(err.scim_type.map(|t| t.as_str()), Some(scim_type), "{ops}");
        }
    }
}
