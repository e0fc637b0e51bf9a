//! Which SCIM value each vendor field holds (docs/mapping.md): every connector declares the
//! fields it can write beyond the identity it keys users by (`FieldSpec`: the vendor's name, the
//! default SCIM path, the vendor's length limit), and a target may point any of them at another
//! SCIM path (`[target.mapping]`), with the PATCH path grammar, value filters included.
use crate::scim::resource::Document;
use crate::scim::schema::ResourceSchema;
use crate::scim::select::{parse_selectable, select};
use crate::scim::PatchPath;
use crate::sync::answer::check_length;
use crate::sync::ConnectorError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A vendor field the bridge can write, as the vendor spells it (`personalDetails.title`).
#[derive(Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    /// The SCIM path it holds unless the target says otherwise; `None`: unmapped by default.
    pub default: Option<&'static str>,
    /// The vendor's limit in characters: a longer value parks the row, naming the field.
    pub max_len: Option<usize>,
}

impl FieldSpec {
    pub const fn new(name: &'static str, default: Option<&'static str>, max_len: Option<usize>) -> Self {
        Self { name, default, max_len }
    }
}

/// One target's effective mapping: vendor field ← SCIM path.
#[derive(Debug, Clone)]
pub struct Mapping {
    rules: Vec<Rule>,
    schema: &'static ResourceSchema,
}

#[derive(Debug, Clone)]
struct Rule {
    spec: &'static FieldSpec,
    path: PatchPath,
    source: Arc<str>,
}

impl Mapping {
    /// The vendor's defaults with `overrides` applied (an empty path unmaps a field). A field the
    /// vendor does not have, or a path that does not parse or names no attribute of `schema`, is
    /// refused with the line that is wrong.
    pub fn build(
        fields: &'static [FieldSpec],
        overrides: &BTreeMap<String, String>,
        schema: &'static ResourceSchema,
    ) -> Result<Self, String> {
        for (field, path) in overrides {
            let line = format!("mapping: \"{field}\" = \"{path}\"");
            if field.trim().is_empty() {
                return Err(format!("{line}: the vendor field name is empty"));
            }
            if !fields.iter().any(|f| f.name == field) {
                let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
                return Err(match known.is_empty() {
                    true => format!("{line}: this vendor takes no mapped fields"),
                    false => format!("{line}: unknown vendor field; known: {}", known.join(", ")),
                });
            }
        }
        let mut rules = Vec::new();
        for spec in fields {
            let chosen = match overrides.get(spec.name) {
                Some(path) => Some(path.as_str()),
                None => spec.default,
            };
            let Some(text) = chosen.map(str::trim).filter(|t| !t.is_empty()) else {
                continue;
            };
            let path =
                parse_selectable(text, schema).map_err(|e| format!("mapping: \"{}\" = \"{text}\": {e}", spec.name))?;
            let source = Arc::from(path.to_string());
            rules.push(Rule { spec, path, source });
        }
        Ok(Self { rules, schema })
    }

    /// No mapped fields (the vendor's identity only).
    pub fn none(schema: &'static ResourceSchema) -> Self {
        Self {
            rules: Vec::new(),
            schema,
        }
    }

    /// The user's value for every mapped field (empty when SCIM has none).
    pub fn values(&self, document: &Document) -> Fields {
        Fields(
            self.rules
                .iter()
                .map(|rule| Field {
                    spec: rule.spec,
                    source: rule.source.clone(),
                    value: select(document, self.schema, &rule.path).unwrap_or_default(),
                })
                .collect(),
        )
    }

    /// `(vendor field, SCIM path)` for each mapped field, as `check` prints them.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        self.rules.iter().map(|r| (r.spec.name, r.source.to_string())).collect()
    }
}

/// A user's mapped values, in the vendor's field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<Field>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub spec: &'static FieldSpec,
    /// The SCIM path the value came from, for messages.
    pub source: Arc<str>,
    /// Empty: SCIM holds nothing there (cleared at the vendor on update).
    pub value: String,
}

impl Fields {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (&'static FieldSpec, String)>) -> Self {
        let field = |(spec, value): (&'static FieldSpec, String)| Field {
            spec,
            source: Arc::from(spec.default.unwrap_or(spec.name)),
            value,
        };
        Self(pairs.into_iter().map(field).collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|f| f.spec.name == name)
            .map(|f| f.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value of mapped field `name`, empty included; `None` when it is not mapped.
    pub fn get_raw(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|f| f.spec.name == name).map(|f| f.value.as_str())
    }

    /// The same with field `spec` holding `value` (set by entitlement rules, not a SCIM path).
    pub fn with(mut self, spec: &'static FieldSpec, source: &str, value: String) -> Self {
        let field = Field {
            spec,
            source: Arc::from(source),
            value,
        };
        match self.0.iter_mut().find(|f| f.spec.name == spec.name) {
            Some(existing) => *existing = field,
            None => self.0.push(field),
        }
        self
    }

    /// All but the field `name` (a connector that writes it apart from the others).
    pub fn without(&self, name: &str) -> Self {
        Self(self.0.iter().filter(|f| f.spec.name != name).cloned().collect())
    }

    /// The mapped fields SCIM holds a value for, one vendor name per line (`Link::written_fields`).
    pub fn written(&self) -> String {
        let names: Vec<&str> = self
            .0
            .iter()
            .filter(|f| !f.value.is_empty())
            .map(|f| f.spec.name)
            .collect();
        names.join("\n")
    }

    /// The fields a push may send: every one SCIM holds a value for, and an empty one only where
    /// `wrote` says the bridge wrote it before (so a push clears only what the bridge owns).
    pub fn owned(&self, wrote: impl Fn(&str) -> bool) -> Self {
        Self(
            self.0
                .iter()
                .filter(|f| !f.value.is_empty() || wrote(f.spec.name))
                .cloned()
                .collect(),
        )
    }

    /// The vendor names of the mapped fields.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(|f| f.spec.name.to_owned())
    }

    /// `(name, value)` pairs, for fingerprints.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        self.0.iter().map(|f| (f.spec.name, f.value.as_str())).collect()
    }

    /// Refuses a value longer than its vendor field allows (nothing is truncated).
    pub fn check_lengths(&self, vendor: &str) -> Result<(), ConnectorError> {
        for field in &self.0 {
            if let Some(max) = field.spec.max_len {
                let label = format!("{} ({vendor} {})", field.source, field.spec.name);
                check_length(&label, &field.value, max)?;
            }
        }
        Ok(())
    }

    /// The fields as a JSON object (see `merge_into`).
    pub fn to_object(&self, empty: Empty) -> Map<String, Value> {
        let mut object = Map::new();
        self.merge_into(&mut object, empty);
        object
    }

    /// Writes the fields into a JSON body, a dotted name as nested objects; `empty` says what a
    /// field SCIM holds nothing for becomes.
    pub fn merge_into(&self, body: &mut Map<String, Value>, empty: Empty) {
        for field in &self.0 {
            let (parents, leaf) = match field.spec.name.rsplit_once('.') {
                Some((parents, leaf)) => (Some(parents), leaf),
                None => (None, field.spec.name),
            };
            match (field.value.is_empty(), empty) {
                (false, _) | (true, Empty::Clear) => {
                    let object = nested(body, parents, true);
                    object.map(|o| o.insert(leaf.to_owned(), Value::String(field.value.clone())));
                }
                (true, Empty::ClearHeld) => {
                    let object = nested(body, parents, false);
                    if let Some(value) = object
                        .and_then(|o| o.get_mut(leaf))
                        .filter(|v| !v.is_null() && *v != "")
                    {
                        *value = Value::String(String::new());
                    }
                }
                (true, Empty::Omit) => {}
            }
        }
    }
}

/// The object at the dotted path `parents` inside `body` (`body` itself for none); made on the way
/// when `create`.
fn nested<'b>(
    body: &'b mut Map<String, Value>,
    parents: Option<&str>,
    create: bool,
) -> Option<&'b mut Map<String, Value>> {
    let mut object = body;
    for part in parents.into_iter().flat_map(|p| p.split('.')) {
        if create {
            let entry = object
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
        }
        object = object.get_mut(part)?.as_object_mut()?;
    }
    Some(object)
}

/// What a mapped field SCIM holds nothing for becomes in a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    /// Left out (a create).
    Omit,
    /// `""` (an update to a vendor whose current values the bridge does not read).
    Clear,
    /// `""` where the body (the vendor's current object) holds a value, else left out.
    ClearHeld,
}

/// `body` as a JSON object with `fields` merged in (see `Fields::merge_into`).
pub fn with_fields(body: &impl serde::Serialize, fields: &Fields, empty: Empty) -> Result<Value, ConnectorError> {
    let mut value = serde_json::to_value(body)
        .map_err(|e| ConnectorError::permanent(None, format!("cannot write the request body: {e}")))?;
    if let Value::Object(object) = &mut value {
        fields.merge_into(object, empty);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::user;
    use serde_json::json;

    static FIELDS: [FieldSpec; 3] = [
        FieldSpec::new("personalDetails.title", Some("title"), Some(5)),
        FieldSpec::new(
            "phones.cellularNumber",
            Some(r#"phoneNumbers[type eq "mobile"].value"#),
            None,
        ),
        FieldSpec::new("description", None, None),
    ];

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_overrides_and_unmapping_give_the_effective_mapping() {
        let mapping = Mapping::build(
            &FIELDS,
            &overrides(&[("description", "displayName"), ("personalDetails.title", "")]),
            user(),
        )
        .unwrap();
        assert_eq!(
            mapping.describe(),
            vec![
                (
                    "phones.cellularNumber",
                    r#"phoneNumbers[type eq "mobile"].value"#.to_owned()
                ),
                ("description", "displayName".to_owned())
            ]
        );
    }

    #[test]
    fn wrong_lines_are_refused_naming_the_line() {
        for (pairs, words) in [
            (
                vec![("", "title")],
                r#"mapping: "" = "title": the vendor field name is empty"#,
            ),
            (
                vec![("personalDetails.nope", "title")],
                "unknown vendor field; known: personalDetails.title",
            ),
            (
                vec![("description", "shoeSize")],
                r#"mapping: "description" = "shoeSize": unknown attribute"#,
            ),
            (vec![("description", "emails[type eq")], "invalid path"),
        ] {
            let err = Mapping::build(&FIELDS, &overrides(&pairs), user()).unwrap_err();
            assert!(err.contains(words), "{err}");
        }
        let err = Mapping::build(&[], &overrides(&[("x", "title")]), user()).unwrap_err();
        assert!(err.contains("this vendor takes no mapped fields"), "{err}");
    }

    #[test]
    fn values_nest_by_dotted_name_and_empty_ones_are_omitted_cleared_or_cleared_where_held() {
        let mapping = Mapping::build(&FIELDS, &BTreeMap::new(), user()).unwrap();
        let doc: Document = serde_json::from_value(json!({"userName": "a", "title": "Boss",
            "phoneNumbers": [{"value": "555", "type": "mobile"}]}))
        .unwrap();
        let fields = mapping.values(&doc);
        let mut body = json!({"personalDetails": {"firstName": "A"}})
            .as_object()
            .cloned()
            .unwrap();
        fields.merge_into(&mut body, Empty::Omit);
        assert_eq!(
            Value::Object(body),
            json!({"personalDetails": {"firstName": "A", "title": "Boss"}, "phones": {"cellularNumber": "555"}})
        );
        let cleared = mapping.values(&serde_json::from_value(json!({"userName": "a"})).unwrap());
        assert_eq!(Value::Object(cleared.to_object(Empty::Omit)), json!({}));
        assert_eq!(
            Value::Object(cleared.to_object(Empty::Clear)),
            json!({"personalDetails": {"title": ""}, "phones": {"cellularNumber": ""}})
        );
        let mut current = json!({"personalDetails": {"title": "Boss"}, "phones": {}})
            .as_object()
            .cloned()
            .unwrap();
        cleared.merge_into(&mut current, Empty::ClearHeld);
        assert_eq!(
            Value::Object(current),
            json!({"personalDetails": {"title": ""}, "phones": {}})
        );
    }

    #[test]
    fn a_value_over_the_vendor_limit_is_refused_naming_the_field() {
        let fields = Fields::from_pairs([(&FIELDS[0], "Director".to_owned())]);
        let err = fields.check_lengths("CyberArk").unwrap_err();
        assert!(
            err.to_string()
                .contains("title (CyberArk personalDetails.title) is 8 characters"),
            "{err}"
        );
    }
}
