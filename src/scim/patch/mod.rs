//! PATCH (RFC 7644 §3.5.2): parsing a PatchOp request and applying it to a copy of the document, so
//! that a request is atomic by construction: every operation applies, or the resource is untouched.
//! Accepts what Okta and Entra send (docs/idp-behaviour.md): any-case op names, path-less value objects
//! whose keys are paths, filtered `add` that creates the element, string booleans, bare manager ids.
use super::error::ScimError;
use super::filter::AttrPath;
use super::path::PatchPath;
use super::resource::{coerce, container_mut, finish, is_empty, Document};
use super::schema::{AttributeDef, Location, Mutability, ResourceSchema};
use super::values::ValueIndex;
use serde_json::Value;
use std::fmt;

mod elements;
mod parse;

use elements::{is_primary, set_filtered, set_sub_everywhere, set_whole};
use parse::numbered;
pub use parse::parse_request;

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

/// One parsed operation. Its `Debug` leaves out the value, which may hold a password.
#[derive(Clone)]
pub struct PatchOperation {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

impl fmt::Debug for PatchOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.as_ref().map(ToString::to_string);
        f.debug_struct("PatchOperation")
            .field("kind", &self.kind)
            .field("path", &path)
            .finish_non_exhaustive()
    }
}

/// The outcome of a PATCH: the new document, and a password if one was written.
pub struct Patched {
    pub document: Document,
    pub password: Option<String>,
}

/// Applies every operation to a copy of `current` and validates the result.
pub fn apply(
    current: &Document,
    ops: &[PatchOperation],
    schema: &ResourceSchema,
    id: &str,
) -> Result<Patched, ScimError> {
    let mut patcher = Patcher {
        document: current.clone(),
        password: None,
        schema,
        id,
        appending: None,
    };
    for (n, op) in ops.iter().enumerate() {
        patcher.apply_operation(op).map_err(|e| numbered(e, n))?;
    }
    finish(&mut patcher.document, schema)?;
    Ok(Patched {
        document: patcher.document,
        password: patcher.password,
    })
}

struct Patcher<'s> {
    document: Document,
    password: Option<String>,
    schema: &'s ResourceSchema,
    id: &'s str,
    /// The attribute the previous operation appended to, with its values indexed (see `append`).
    appending: Option<Appending>,
}

/// A run of `add`s to one multi-valued attribute, the shape of a PATCH with thousands of operations:
/// the values are indexed once, so each further add finds a duplicate in O(1) and the run costs
/// time linear in its values. Any other operation ends the run.
struct Appending {
    location: Option<String>,
    attr: String,
    len: usize,
    index: ValueIndex,
    primaries: Vec<usize>,
}

impl Appending {
    fn of(location: Option<String>, attr: &str, values: &[Value]) -> Self {
        Self {
            location,
            attr: attr.to_owned(),
            len: values.len(),
            index: ValueIndex::of(values),
            primaries: (0..values.len()).filter(|&i| is_primary(&values[i])).collect(),
        }
    }

    fn describes(&self, location: Option<&str>, attr: &str, values: &[Value]) -> bool {
        self.location.as_deref() == location && self.attr == attr && self.len == values.len()
    }
}

impl Patcher<'_> {
    fn apply_operation(&mut self, op: &PatchOperation) -> Result<(), ScimError> {
        if let Some(path) = &op.path {
            return self.apply_path(op.kind, path, op.value.as_ref(), true);
        }
        // Path-less add/replace: each key of the value object is itself a path (docs/idp-behaviour.md Q3, Q4).
        let object = op
            .value
            .as_ref()
            .and_then(Value::as_object)
            .ok_or_else(|| ScimError::invalid_value("an operation without 'path' needs an object 'value'"))?;
        for (key, value) in object {
            self.apply_key(op.kind, key, value)?;
        }
        Ok(())
    }

    fn apply_key(&mut self, kind: OpKind, key: &str, value: &Value) -> Result<(), ScimError> {
        if key.eq_ignore_ascii_case("schemas") {
            return Ok(());
        }
        if let Some(ext) = self.schema.extension(key) {
            return self.apply_extension(kind, &ext.id.clone(), value, false);
        }
        let path: PatchPath = key.parse()?;
        self.apply_path(kind, &path, Some(value), false)
    }

    /// add/replace of a whole extension object: each of its keys is an attribute of that extension.
    fn apply_extension(&mut self, kind: OpKind, urn: &str, value: &Value, explicit: bool) -> Result<(), ScimError> {
        let object = value
            .as_object()
            .ok_or_else(|| ScimError::invalid_value(format!("'{urn}' must be an object")))?;
        // Clients that serialise an extension model put its `schemas` inside it (scim2-models does).
        for (name, v) in object.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
            let attr = AttrPath {
                uri: Some(urn.to_owned()),
                name: name.clone(),
                sub: None,
            };
            self.apply_path(
                kind,
                &PatchPath {
                    attr,
                    filter: None,
                    sub: None,
                },
                Some(v),
                explicit,
            )?;
        }
        Ok(())
    }

    /// A path in an extension nobody declared gets the error POST and PUT give it.
    fn refuse_undeclared(&self, path: &PatchPath) -> Result<(), ScimError> {
        let Some(uri) = &path.attr.uri else { return Ok(()) };
        let qualified = format!("{uri}:{}", path.attr.name);
        let urn = self.schema.extension_urn_of(&qualified);
        if urn.eq_ignore_ascii_case(&self.schema.core.id) || self.schema.extension(&urn).is_some() {
            return Ok(());
        }
        Err(self.schema.undeclared(&urn))
    }

    fn extension_root(&self, path: &PatchPath) -> Option<String> {
        let uri = path.attr.uri.as_ref()?;
        if path.attr.sub.is_some() || path.filter.is_some() {
            return None;
        }
        self.schema
            .extension(&format!("{uri}:{}", path.attr.name))
            .map(|e| e.id.clone())
    }

    /// `explicit` is true for a `path` member, false for a key of a path-less value object.
    fn apply_path(
        &mut self,
        kind: OpKind,
        path: &PatchPath,
        value: Option<&Value>,
        explicit: bool,
    ) -> Result<(), ScimError> {
        let appending = self.appending.take();
        if let Some(urn) = self.extension_root(path) {
            return match (kind, value) {
                (OpKind::Remove, _) => {
                    self.document.remove(&urn);
                    Ok(())
                }
                (_, Some(v)) => self.apply_extension(kind, &urn, v, explicit),
                (_, None) => Err(ScimError::invalid_value("missing value")),
            };
        }
        self.refuse_undeclared(path)?;
        let resolved = self.schema.resolve(&path.attr).map_err(ScimError::invalid_path)?;
        if path.filter.is_some() && resolved.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "in '{path}', the sub-attribute goes after the ']'"
            )));
        }
        let attr = resolved.attr;
        let sub = match (&path.sub, resolved.sub) {
            (Some(name), _) => Some(
                attr.sub(name)
                    .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute '{path}'")))?,
            ),
            (None, s) => s,
        };
        if !self.writable(kind, attr, sub, value, explicit, path)? {
            return Ok(());
        }
        let immutable = attr.mutability == Mutability::Immutable;
        if kind == OpKind::Add && attr.multi_valued && path.filter.is_none() && sub.is_none() && !immutable {
            return self.append(resolved.location, attr, value, appending);
        }
        let container = container_mut(&mut self.document, resolved.location);
        // Kept only where it is compared: a copy per operation made long PATCHes quadratic.
        let before = immutable.then(|| container.get(&attr.name).cloned()).flatten();
        match (&path.filter, sub) {
            (None, None) => set_whole(container, attr, kind, value)?,
            (None, Some(sub)) => set_sub_everywhere(container, attr, sub, kind, value)?,
            (Some(filter), sub) => set_filtered(container, attr, filter, sub, kind, value, path)?,
        }
        let after = container.get(&attr.name);
        if immutable && before.as_ref().is_some_and(|b| !is_empty(b)) && after != before.as_ref() {
            return Err(ScimError::mutability(format!("'{}' is immutable", attr.name)));
        }
        Ok(())
    }

    /// RFC 7644 §3.5.2.1: `add` to a multi-valued attribute appends the values not already there;
    /// a new primary value demotes the others (RFC 7643 §2.4).
    fn append(
        &mut self,
        location: Location<'_>,
        attr: &AttributeDef,
        value: Option<&Value>,
        previous: Option<Appending>,
    ) -> Result<(), ScimError> {
        let Some(Value::Array(items)) = coerce(attr, value.unwrap_or(&Value::Null), &attr.name)? else {
            return Ok(());
        };
        let urn = match location {
            Location::Core => None,
            Location::Extension(urn) => Some(urn),
        };
        let container = container_mut(&mut self.document, location);
        let Some(Value::Array(existing)) = container.get_mut(&attr.name) else {
            container.insert(attr.name.clone(), Value::Array(items));
            return Ok(());
        };
        let mut run = previous
            .filter(|run| run.describes(urn, &attr.name, existing))
            .unwrap_or_else(|| Appending::of(urn.map(str::to_owned), &attr.name, existing));
        for item in items {
            if run.index.contains(existing, &item) {
                continue;
            }
            if is_primary(&item) {
                for at in std::mem::take(&mut run.primaries) {
                    run.index.remove(at, &existing[at]);
                    existing[at]["primary"] = Value::Bool(false);
                    run.index.insert(at, &existing[at]);
                }
                run.primaries.push(existing.len());
            }
            run.index.insert(existing.len(), &item);
            existing.push(item);
        }
        run.len = existing.len();
        self.appending = Some(run);
        Ok(())
    }

    /// Mutability rules (RFC 7643 §2.2). `Ok(false)` means "ignore this operation".
    fn writable(
        &mut self,
        kind: OpKind,
        attr: &AttributeDef,
        sub: Option<&AttributeDef>,
        value: Option<&Value>,
        explicit: bool,
        path: &PatchPath,
    ) -> Result<bool, ScimError> {
        if attr.name == "id" {
            // Okta's group rename repeats the id in a path-less value (docs/idp-behaviour.md Q5).
            if !explicit && value.and_then(Value::as_str) == Some(self.id) {
                return Ok(false);
            }
            return Err(ScimError::mutability("'id' is readOnly"));
        }
        let read_only =
            attr.mutability == Mutability::ReadOnly || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly);
        if read_only {
            return if explicit {
                Err(ScimError::mutability(format!("'{path}' is readOnly")))
            } else {
                Ok(false)
            };
        }
        if attr.mutability == Mutability::WriteOnly {
            if kind != OpKind::Remove {
                let secret = value
                    .and_then(Value::as_str)
                    .ok_or_else(|| ScimError::invalid_value(format!("'{}' must be a string", attr.name)))?;
                self.password = Some(secret.to_owned());
            }
            return Ok(false);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{AttrType, Returned, SchemaDef, Uniqueness};
    use serde_json::json;

    fn attribute(name: &str, mutability: Mutability, required: bool) -> AttributeDef {
        AttributeDef {
            name: name.into(),
            kind: AttrType::String,
            multi_valued: false,
            required,
            case_exact: false,
            mutability,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            sub_attributes: Vec::new(),
        }
    }

    /// A schema with an immutable attribute (the User schema has none).
    fn schema() -> ResourceSchema {
        ResourceSchema {
            name: "Device",
            core: SchemaDef {
                id: "urn:example:Device".into(),
                attributes: vec![
                    attribute("label", Mutability::ReadWrite, true),
                    attribute("serial", Mutability::Immutable, false),
                ],
            },
            extensions: Vec::new(),
            common: Vec::new(),
            declared: Vec::new(),
        }
    }

    fn run(doc: Value, ops: Value) -> Result<Patched, ScimError> {
        let schema = schema();
        let body = json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops});
        let doc: Document = serde_json::from_value(doc).unwrap_or_default();
        parse_request(&body, &crate::scim::limits::Limits::default()).and_then(|ops| apply(&doc, &ops, &schema, "id"))
    }

    #[test]
    fn an_immutable_attribute_may_be_set_once_but_not_changed_or_removed() {
        let set = run(
            json!({"label": "l"}),
            json!([{"op": "add", "path": "serial", "value": "S1"}]),
        )
        .unwrap();
        assert_eq!(set.document["serial"], "S1");
        let same = run(
            json!({"label": "l", "serial": "S1"}),
            json!([{"op": "replace", "path": "serial", "value": "S1"}]),
        );
        assert!(same.is_ok());
        for ops in [
            json!([{"op": "replace", "path": "serial", "value": "S2"}]),
            json!([{"op": "remove", "path": "serial"}]),
            json!([{"op": "replace", "value": {"serial": "S3"}}]),
        ] {
            let err = run(json!({"label": "l", "serial": "S1"}), ops.clone()).err().unwrap();
            assert_eq!(err.scim_type, Some(crate::scim::ScimType::Mutability), "{ops}");
        }
    }
}
