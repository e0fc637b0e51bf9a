//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) under the `returned` rules of
//! RFC 7643 §7: `always` cannot be excluded, `never` is never shown, `request` only when asked for.
use super::error::ScimError;
use super::path::PatchPath;
use super::schema::{AttributeDef, Location, ResourceSchema, Returned};
use serde_json::{Map, Value};

/// One attribute named in `attributes` / `excludedAttributes`, resolved to canonical names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// `None` for core and common attributes, else the extension URN.
    extension: Option<String>,
    name: String,
    sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Projection {
    #[default]
    Default,
    Only(Vec<Selected>),
    Except(Vec<Selected>),
}

impl Projection {
    /// Builds the projection from the two query parameters (each a comma-separated list of paths).
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>, schema: &ResourceSchema) -> Result<Self, ScimError> {
        let attributes = attributes.filter(|s| !s.trim().is_empty());
        let excluded = excluded.filter(|s| !s.trim().is_empty());
        match (attributes, excluded) {
            (Some(_), Some(_)) => Err(ScimError::invalid_syntax(
                "'attributes' and 'excludedAttributes' are mutually exclusive",
            )),
            (Some(list), None) => Ok(Self::Only(parse_list(list, schema)?)),
            (None, Some(list)) => Ok(Self::Except(parse_list(list, schema)?)),
            (None, None) => Ok(Self::Default),
        }
    }

    /// Like `parse`, but names this resource type does not have are left out rather than refused:
    /// a root `/.search` over several types names attributes of any of them.
    pub fn parse_known(
        attributes: Option<&str>,
        excluded: Option<&str>,
        schema: &ResourceSchema,
    ) -> Result<Self, ScimError> {
        let known = |list: Option<&str>| -> Option<String> {
            let names: Vec<&str> = list?
                .split(',')
                .map(str::trim)
                .filter(|item| select(item, schema).is_ok())
                .collect();
            // Keep an empty `attributes` non-empty, so that it still means "only what is always returned".
            Some(if names.is_empty() {
                "id".to_owned()
            } else {
                names.join(",")
            })
        };
        Self::parse(
            known(attributes).as_deref(),
            excluded.and_then(|e| known(Some(e))).as_deref(),
            schema,
        )
    }

    /// Whether the projection may show the attribute `name` (used to skip work, e.g. reading members).
    pub fn may_include(&self, name: &str) -> bool {
        match self {
            Self::Default => true,
            Self::Only(list) => list.iter().any(|s| s.name.eq_ignore_ascii_case(name)),
            Self::Except(list) => !list
                .iter()
                .any(|s| s.name.eq_ignore_ascii_case(name) && s.sub.is_none()),
        }
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(&self, resource: Value, schema: &ResourceSchema) -> Value {
        let Value::Object(object) = resource else {
            return resource;
        };
        let mut out = Map::with_capacity(object.len());
        for (key, value) in object {
            if let Some(ext) = schema.extension(&key) {
                let Value::Object(attrs) = value else {
                    continue;
                };
                let kept: Map<String, Value> = attrs
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let def = ext.attribute(&k)?;
                        self.decide(Some(&ext.id), def, v).map(|v| (k, v))
                    })
                    .collect();
                if !kept.is_empty() {
                    out.insert(key, Value::Object(kept));
                }
                continue;
            }
            let def = schema
                .common
                .iter()
                .find(|a| a.name == key)
                .or_else(|| schema.core.attribute(&key));
            if let Some(v) = def.and_then(|def| self.decide(None, def, value)) {
                out.insert(key, v);
            }
        }
        Value::Object(out)
    }

    fn decide(&self, extension: Option<&str>, def: &AttributeDef, value: Value) -> Option<Value> {
        let named = |list: &[Selected]| -> Vec<Option<String>> {
            list.iter()
                .filter(|s| s.extension.as_deref() == extension && s.name == def.name)
                .map(|s| s.sub.clone())
                .collect()
        };
        match (def.returned, self) {
            (Returned::Never, _) => None,
            (Returned::Always, _) => Some(value),
            (Returned::Request, Self::Default | Self::Except(_)) => None,
            (_, Self::Default) => Some(value),
            (_, Self::Only(list)) => {
                let subs = named(list);
                if subs.is_empty() {
                    None
                } else if subs.contains(&None) {
                    Some(value)
                } else {
                    keep_subs(value, def, |name| subs.iter().flatten().any(|s| s == name))
                }
            }
            (_, Self::Except(list)) => {
                let subs = named(list);
                if subs.contains(&None) {
                    None
                } else {
                    keep_subs(value, def, |name| !subs.iter().flatten().any(|s| s == name))
                }
            }
        }
    }
}

/// Keeps the sub-attributes `keep` accepts (and those returned `always`) in a complex value or list.
fn keep_subs(value: Value, def: &AttributeDef, keep: impl Fn(&str) -> bool) -> Option<Value> {
    let filter_one = |v: Value| -> Option<Value> {
        let Value::Object(o) = v else { return Some(v) };
        let kept: Map<String, Value> = o
            .into_iter()
            .filter(|(k, _)| keep(k) || def.sub(k).is_some_and(|s| s.returned == Returned::Always))
            .collect();
        (!kept.is_empty()).then_some(Value::Object(kept))
    };
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.into_iter().filter_map(filter_one).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => filter_one(other),
    }
}

fn parse_list(list: &str, schema: &ResourceSchema) -> Result<Vec<Selected>, ScimError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| select(item, schema))
        .collect()
}

fn select(item: &str, schema: &ResourceSchema) -> Result<Selected, ScimError> {
    let path: PatchPath = item.parse()?;
    if path.filter.is_some() || path.sub.is_some() {
        return Err(ScimError::invalid_path(format!(
            "'{item}': attributes are named without filters"
        )));
    }
    let resolved = schema
        .resolve(&path.attr)
        .map_err(|detail| ScimError::invalid_path(format!("{detail} in the attribute list")))?;
    let extension = match resolved.location {
        Location::Core => None,
        Location::Extension(urn) => Some(urn.to_owned()),
    };
    Ok(Selected {
        extension,
        name: resolved.attr.name.clone(),
        sub: resolved.sub.map(|s| s.name.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::user;
    use serde_json::json;

    fn sample() -> Value {
        json!({"schemas": ["s"], "id": "1", "userName": "bob", "name": {"givenName": "Bob", "familyName": "B"},
               "emails": [{"value": "b@x", "type": "work"}],
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D", "costCenter": "C"},
               "meta": {"resourceType": "User"}})
    }

    fn project(attrs: Option<&str>, excluded: Option<&str>) -> Value {
        Projection::parse(attrs, excluded, user())
            .unwrap()
            .apply(sample(), user())
    }

    #[test]
    fn attributes_keep_only_what_is_named_plus_always() {
        assert_eq!(
            project(Some("userName"), None),
            json!({"schemas": ["s"], "id": "1", "userName": "bob"})
        );
        assert_eq!(
            project(Some("NAME.familyName,emails.value"), None),
            json!({"schemas": ["s"], "id": "1", "name": {"familyName": "B"}, "emails": [{"value": "b@x"}]})
        );
        assert_eq!(
            project(
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
                None
            ),
            json!({"schemas": ["s"], "id": "1", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D"}})
        );
    }

    #[test]
    fn excluded_attributes_drop_what_is_named_but_never_id() {
        let v = project(None, Some("emails,name.givenName,id,meta,department"));
        assert_eq!(
            v,
            json!({"schemas": ["s"], "id": "1", "userName": "bob", "name": {"familyName": "B"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"costCenter": "C"}})
        );
    }

    #[test]
    fn both_lists_or_unknown_names_are_refused() {
        assert!(Projection::parse(Some("userName"), Some("emails"), user()).is_err());
        assert!(Projection::parse(Some("shoeSize"), None, user()).is_err());
    }
}
