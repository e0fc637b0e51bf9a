//! Evaluates a value filter (`emails[type eq "work"]`) against one element of a multi-valued
//! attribute, with the comparison rules of RFC 7644 §3.4.2.2 (caseExact, types, `pr`).
use super::error::ScimError;
use super::filter::{CompValue, CompareOp, Filter};
use super::resource::{as_bool, is_empty, parse_datetime};
use super::schema::{AttrType, AttributeDef};
use serde_json::Value;
use std::cmp::Ordering;

/// Whether `element` (one value of the multi-valued attribute `attr`) satisfies `filter`.
pub fn element_matches(filter: &Filter, element: &Value, attr: &AttributeDef) -> Result<bool, ScimError> {
    Ok(match filter {
        Filter::And(terms) => {
            for term in terms {
                if !element_matches(term, element, attr)? {
                    return Ok(false);
                }
            }
            true
        }
        Filter::Or(terms) => {
            for term in terms {
                if element_matches(term, element, attr)? {
                    return Ok(true);
                }
            }
            false
        }
        Filter::Not(inner) => !element_matches(inner, element, attr)?,
        Filter::Present(path) => {
            let (_, v) = sub_value(element, attr, &path.name)?;
            v.is_some_and(|v| !is_empty(v))
        }
        Filter::Compare(path, op, literal) => {
            let (def, v) = sub_value(element, attr, &path.name)?;
            compare(def, v, *op, literal)?
        }
        Filter::ValuePath(path, _) => {
            return Err(ScimError::invalid_filter(format!(
                "'{path}[...]' cannot be nested in a value filter"
            )))
        }
    })
}

/// The definition and value of sub-attribute `name` in `element`. A simple multi-valued attribute
/// (no sub-attributes) is filtered through `value`, as RFC 7644 §3.4.2.2 does for `emails co`.
fn sub_value<'e, 'd>(
    element: &'e Value,
    attr: &'d AttributeDef,
    name: &str,
) -> Result<(&'d AttributeDef, Option<&'e Value>), ScimError> {
    if attr.sub_attributes.is_empty() {
        return Ok((attr, (name.eq_ignore_ascii_case("value")).then_some(element)));
    }
    let def = attr
        .sub(name)
        .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute '{}.{name}'", attr.name)))?;
    let value = element
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v));
    Ok((def, value))
}

fn compare(def: &AttributeDef, value: Option<&Value>, op: CompareOp, literal: &CompValue) -> Result<bool, ScimError> {
    if let CompValue::Null = literal {
        let absent = value.is_none_or(is_empty);
        return match op {
            CompareOp::Eq => Ok(absent),
            CompareOp::Ne => Ok(!absent),
            _ => Err(ScimError::invalid_filter(format!(
                "'{}' cannot be compared with null by '{}'",
                def.name,
                op.keyword()
            ))),
        };
    }
    check_comparable(def, op, literal)?;
    let Some(value) = value else {
        return Ok(op == CompareOp::Ne);
    };
    match def.kind {
        AttrType::Boolean => compare_bool(def, value, op, literal),
        AttrType::Integer | AttrType::Decimal => {
            let (Some(a), CompValue::Number(b)) = (value.as_f64(), literal) else {
                return Err(type_mismatch(def, literal));
            };
            let b = b.as_f64().unwrap_or(f64::NAN);
            Ok(ordered(a.partial_cmp(&b), op, || false))
        }
        AttrType::Complex => Err(ScimError::invalid_filter(format!(
            "'{}' is complex: filter on a sub-attribute",
            def.name
        ))),
        _ => compare_text(def, value, op, literal),
    }
}

/// Refuses comparisons RFC 7644 §3.4.2.2 does not define, whether or not the value is present.
pub fn check_comparable(def: &AttributeDef, op: CompareOp, literal: &CompValue) -> Result<(), ScimError> {
    let fits = match (def.kind, literal) {
        (_, CompValue::Null) => matches!(op, CompareOp::Eq | CompareOp::Ne),
        (AttrType::Complex, _) => false,
        (AttrType::Boolean, CompValue::Bool(_) | CompValue::Str(_)) => {
            matches!(op, CompareOp::Eq | CompareOp::Ne)
        }
        (AttrType::Integer | AttrType::Decimal, CompValue::Number(_)) => true,
        (AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime, CompValue::Str(_)) => true,
        _ => false,
    };
    if fits {
        return Ok(());
    }
    if def.kind == AttrType::Complex {
        return Err(ScimError::invalid_filter(format!(
            "'{}' is complex: filter on a sub-attribute",
            def.name
        )));
    }
    Err(ScimError::invalid_filter(format!(
        "'{}' ({:?}) cannot be compared with {literal} by '{}'",
        def.name,
        def.kind,
        op.keyword()
    )))
}

fn compare_bool(def: &AttributeDef, value: &Value, op: CompareOp, literal: &CompValue) -> Result<bool, ScimError> {
    // Entra writes `roles[primary eq "True"]` (docs/idp-behaviour.md Q7): a string literal for a boolean.
    let wanted = match literal {
        CompValue::Bool(b) => *b,
        CompValue::Str(s) => as_bool(&Value::String(s.clone())).ok_or_else(|| type_mismatch(def, literal))?,
        _ => return Err(type_mismatch(def, literal)),
    };
    let actual = as_bool(value).unwrap_or(false);
    match op {
        CompareOp::Eq => Ok(actual == wanted),
        CompareOp::Ne => Ok(actual != wanted),
        _ => Err(ScimError::invalid_filter(format!(
            "'{}' is boolean: only eq and ne apply",
            def.name
        ))),
    }
}

fn compare_text(def: &AttributeDef, value: &Value, op: CompareOp, literal: &CompValue) -> Result<bool, ScimError> {
    let CompValue::Str(wanted) = literal else {
        return Err(type_mismatch(def, literal));
    };
    let Some(actual) = value.as_str() else {
        return Ok(false);
    };
    if def.kind == AttrType::DateTime && op.is_ordering() {
        let b =
            parse_datetime(wanted).ok_or_else(|| ScimError::invalid_filter(format!("'{wanted}' is not a dateTime")))?;
        return Ok(ordered(parse_datetime(actual).map(|a| a.cmp(&b)), op, || false));
    }
    let (a, b) = if def.case_exact {
        (actual.to_owned(), wanted.clone())
    } else {
        (actual.to_lowercase(), wanted.to_lowercase())
    };
    Ok(ordered(Some(a.cmp(&b)), op, || match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        _ => false,
    }))
}

/// Applies an ordering/equality operator to `ordering`; `other` answers co/sw/ew.
fn ordered(ordering: Option<Ordering>, op: CompareOp, other: impl FnOnce() -> bool) -> bool {
    let Some(o) = ordering else { return false };
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => other(),
    }
}

fn type_mismatch(def: &AttributeDef, literal: &CompValue) -> ScimError {
    ScimError::invalid_filter(format!(
        "'{}' is of type {:?} and cannot be compared with {literal}",
        def.name, def.kind
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::user;
    use serde_json::json;

    #[test]
    fn value_filters_follow_case_rules_and_types() {
        let emails = user().core.attribute("emails").unwrap();
        let work = json!({"value": "Bob@Example.com", "type": "work", "primary": true});
        let rows = [
            (r#"type eq "WORK""#, true),
            (r#"value co "@example.COM""#, true),
            (r#"value sw "bob""#, true),
            (r#"value ew ".org""#, false),
            (r#"type eq "work" and primary eq true"#, true),
            (r#"primary eq "True""#, true),
            (r#"display pr"#, false),
            (r#"not (type eq "home")"#, true),
            (r#"display eq null"#, true),
            (r#"type ne "home""#, true),
        ];
        for (f, expected) in rows {
            let filter: Filter = f.parse().unwrap();
            assert_eq!(element_matches(&filter, &work, emails).unwrap(), expected, "{f}");
        }
    }

    #[test]
    fn type_errors_are_invalid_filter() {
        let emails = user().core.attribute("emails").unwrap();
        for f in [r#"primary gt true"#, r#"primary eq 3"#, r#"nope eq "x""#] {
            let filter: Filter = f.parse().unwrap();
            let err = element_matches(&filter, &json!({"value": "x"}), emails).expect_err(f);
            assert_eq!(err.scim_type, Some(crate::scim::error::ScimType::InvalidFilter), "{f}");
        }
    }
}
