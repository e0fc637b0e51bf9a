//! Writing values into a document: whole attributes, a sub-attribute of every element, filtered
//! elements, and the primary flag that at most one element may carry.
use super::OpKind;
use crate::scim::error::ScimError;
use crate::scim::eval::element_matches;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::path::PatchPath;
use crate::scim::resource::{coerce, coerce_single, is_empty, Document};
use crate::scim::schema::AttributeDef;
use serde_json::{Map, Value};

/// add / replace / remove of a whole attribute (no filter, no sub-attribute).
pub(super) fn set_whole(
    container: &mut Document,
    attr: &AttributeDef,
    kind: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let name = attr.name.as_str();
    if kind == OpKind::Remove {
        container.remove(name);
        return Ok(());
    }
    let Some(new) = coerce(attr, value.unwrap_or(&Value::Null), name)? else {
        if kind == OpKind::Replace {
            container.remove(name);
        }
        return Ok(());
    };
    match (kind, container.get_mut(name), new) {
        // An add to a multi-valued attribute appends (`Patcher::append`); only immutable ones come here.
        (OpKind::Add, Some(Value::Array(existing)), Value::Array(items)) if attr.multi_valued => {
            for item in items {
                if !existing.contains(&item) {
                    if is_primary(&item) {
                        clear_primary(existing);
                    }
                    existing.push(item);
                }
            }
        }
        // Add and replace of a complex attribute set the given sub-attributes and keep the others.
        (_, Some(Value::Object(existing)), Value::Object(subs)) if !attr.multi_valued => existing.extend(subs),
        (_, _, new) => drop(container.insert(name.to_owned(), new)),
    }
    Ok(())
}

/// `name.familyName`, or `emails.value` (applied to every element).
pub(super) fn set_sub_everywhere(
    container: &mut Document,
    attr: &AttributeDef,
    sub: &AttributeDef,
    kind: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let new = match kind {
        OpKind::Remove => None,
        _ => coerce_single(
            sub,
            value.unwrap_or(&Value::Null),
            &format!("{}.{}", attr.name, sub.name),
        )?,
    };
    let mut elements = take_elements(container, attr);
    if elements.is_empty() && new.is_some() {
        elements.push(Value::Object(Map::new()));
    }
    for element in &mut elements {
        set_member(element, &sub.name, new.clone());
    }
    put_elements(container, attr, elements);
    Ok(())
}

/// `emails[type eq "work"]` and `emails[type eq "work"].value`.
pub(super) fn set_filtered(
    container: &mut Document,
    attr: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    kind: OpKind,
    value: Option<&Value>,
    path: &PatchPath,
) -> Result<(), ScimError> {
    if !attr.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "'{}' is not multi-valued: a [filter] cannot select in it",
            attr.name
        )));
    }
    // Evaluated once on an empty element so that a bad filter fails even when there are no values.
    element_matches(filter, &Value::Object(Map::new()), attr)?;
    let mut elements = take_elements(container, attr);
    let mut matched = Vec::new();
    for (i, element) in elements.iter().enumerate() {
        if element_matches(filter, element, attr)? {
            matched.push(i);
        }
    }
    let patch = match (kind, sub) {
        (OpKind::Remove, None) => None,
        (OpKind::Remove, Some(sub)) => Some(Map::from_iter([(sub.name.clone(), Value::Null)])),
        (_, Some(sub)) => {
            let v = coerce_single(sub, value.unwrap_or(&Value::Null), &format!("{path}"))?;
            Some(Map::from_iter([(sub.name.clone(), v.unwrap_or(Value::Null))]))
        }
        (_, None) => match coerce_single(attr, value.unwrap_or(&Value::Null), &attr.name)? {
            Some(Value::Object(o)) => Some(o),
            _ => return Err(ScimError::invalid_value(format!("'{path}' needs an object value"))),
        },
    };
    if matched.is_empty() && kind != OpKind::Remove {
        // Entra adds `addresses[type eq "work"].formatted` to users that have no work address (Q7).
        if kind == OpKind::Replace {
            return Err(ScimError::no_target(format!(
                "no value of '{}' matches '{path}'",
                attr.name
            )));
        }
        let template = equality_template(filter, attr).ok_or_else(|| {
            ScimError::no_target(format!(
                "no value matches '{path}', and its filter does not say what to create"
            ))
        })?;
        elements.push(Value::Object(template));
        matched.push(elements.len() - 1);
    }
    match patch {
        None => {
            let mut remove = vec![false; elements.len()];
            for &i in &matched {
                remove[i] = true;
            }
            let mut flags = remove.into_iter();
            elements.retain(|_| !flags.next().unwrap_or(false));
        }
        Some(subs) => {
            if subs.get("primary") == Some(&Value::Bool(true)) {
                clear_primary(&mut elements);
            }
            for &i in &matched {
                for (k, v) in &subs {
                    set_member(&mut elements[i], k, (!v.is_null()).then(|| v.clone()));
                }
            }
        }
    }
    put_elements(container, attr, elements);
    Ok(())
}

/// The element a filter of `a eq x and b eq y` describes, or `None` for any other filter.
fn equality_template(filter: &Filter, attr: &AttributeDef) -> Option<Map<String, Value>> {
    match filter {
        Filter::And(terms) => {
            let mut template = Map::new();
            for term in terms {
                template.extend(equality_template(term, attr)?);
            }
            Some(template)
        }
        Filter::Compare(path, CompareOp::Eq, literal) => {
            let sub = attr.sub(&path.name)?;
            let raw = match literal {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => return None,
            };
            let v = coerce_single(sub, &raw, &sub.name).ok()??;
            Some(Map::from_iter([(sub.name.clone(), v)]))
        }
        _ => None,
    }
}

pub(super) fn is_primary(v: &Value) -> bool {
    v.get("primary") == Some(&Value::Bool(true))
}

/// RFC 7643 §2.4: at most one value is primary, so a new primary demotes the others.
fn clear_primary(elements: &mut [Value]) {
    for e in elements.iter_mut().filter(|e| is_primary(e)) {
        e["primary"] = Value::Bool(false);
    }
}

fn set_member(element: &mut Value, key: &str, value: Option<Value>) {
    if let Value::Object(o) = element {
        match value {
            Some(v) => drop(o.insert(key.to_owned(), v)),
            None => drop(o.remove(key)),
        }
    }
}

/// The attribute's values as a list (a singular complex value is a list of one), removed from the container.
fn take_elements(container: &mut Document, attr: &AttributeDef) -> Vec<Value> {
    match container.remove(&attr.name) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(single) => vec![single],
    }
}

/// Puts the values back, dropping empty elements; no values means the attribute is absent.
fn put_elements(container: &mut Document, attr: &AttributeDef, mut elements: Vec<Value>) {
    elements.retain(|e| !is_empty(e));
    if elements.is_empty() {
        return;
    }
    let value = if attr.multi_valued {
        Value::Array(elements)
    } else {
        elements.swap_remove(0)
    };
    container.insert(attr.name.clone(), value);
}
