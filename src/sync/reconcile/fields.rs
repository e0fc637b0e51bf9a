//! Reading what a vendor holds, and what it would be sent, as field name → text: the form `decide`
//! compares and `sync plan` prints (`personalDetails.title` for nested objects).
use crate::sync::mapping::{with_fields, Empty, FieldSpec, Fields};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a connector writes for a user: its `identity` object (in the vendor's names, listed as
/// `identity_names`) with the mapped `fields` merged in, as vendor field → value.
pub fn wanted_fields(identity: Value, identity_names: &[&str], fields: &Fields) -> BTreeMap<String, String> {
    let body = with_fields(&identity, fields, Empty::Clear).unwrap_or(identity);
    let names = identity_names.iter().map(|n| (*n).to_owned()).chain(fields.names());
    fields_of(&body, names)
}

/// The identity names and every field the vendor has: what is read of a vendor user.
pub fn all_names(identity_names: &[&str], fields: &[FieldSpec]) -> Vec<String> {
    identity_names
        .iter()
        .copied()
        .chain(fields.iter().map(|f| f.name))
        .map(str::to_owned)
        .collect()
}

/// Reads dotted `names` out of a vendor's JSON user as text (numbers and booleans as written).
pub fn fields_of(user: &Value, names: impl IntoIterator<Item = String>) -> BTreeMap<String, String> {
    names
        .into_iter()
        .map(|name| {
            let value = name
                .split('.')
                .try_fold(user, |v, part| v.get(part))
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            (name, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_read_nested_values() {
        let user = serde_json::json!({"personalDetails": {"title": "Boss"}, "id": 7, "x": null});
        let fields = fields_of(
            &user,
            ["personalDetails.title".into(), "id".into(), "x".into(), "y.z".into()],
        );
        assert_eq!(fields["personalDetails.title"], "Boss");
        assert_eq!(fields["id"], "7");
        assert_eq!((fields["x"].as_str(), fields["y.z"].as_str()), ("", ""));
    }
}
