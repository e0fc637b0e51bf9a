//! Bulk requests (RFC 7644 §3.7), pure: reading a `BulkRequest`, the `bulkId:` references between
//! its operations, and an order to run them in (`order`). Running them is `http::bulk`.
mod order;
mod references;

pub use order::{order, Step};
pub use references::{defer_references, resolve_references, Deferred};

use super::error::ScimError;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// How a reference to a resource created in the same request is written (RFC 7644 §3.7.2).
pub const BULK_ID_PREFIX: &str = "bulkId:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// The resource types a bulk operation may address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Users,
    Groups,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Self::Users => "/Users",
            Self::Groups => "/Groups",
        }
    }
}

/// Which resource of an endpoint an operation addresses: its id, or the bulkId of the POST that
/// creates it in this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceRef {
    Id(String),
    BulkId(String),
}

/// One operation of a bulk request, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub method: Method,
    pub endpoint: Endpoint,
    /// `None` for a POST (it addresses the endpoint), the resource otherwise.
    pub resource: Option<ResourceRef>,
    pub bulk_id: Option<String>,
    /// The ETag the client last saw (If-Match semantics).
    pub version: Option<String>,
    /// The body of the POST, PUT or PATCH; `None` for a DELETE.
    pub data: Option<Value>,
    /// Every bulkId the path and the data name.
    pub needs: BTreeSet<String>,
}

/// An operation as the response names it, whether or not it could be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Named {
    pub method: Option<String>,
    pub bulk_id: Option<String>,
    pub path: Option<String>,
}

/// One entry of `Operations`: read, or the reason it cannot run (it fails alone: RFC 7644 §3.7 has
/// the service provider go on past failures).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub named: Named,
    pub operation: Result<Operation, ScimError>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many errors (`failOnErrors`); `None` runs every operation.
    pub fail_on_errors: Option<usize>,
    pub entries: Vec<Entry>,
}

/// Reads a bulk request. A body that is not one, more than `max_operations` operations (413, RFC
/// 7644 §3.7.4) or a bulkId given twice refuse the whole request; a bad operation fails alone.
pub fn parse_request(body: &Value, max_operations: usize) -> Result<BulkRequest, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a bulk request is a JSON object"))?;
    let declared = object
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|s| s.as_str() == Some(BULK_REQUEST)));
    if !declared {
        return Err(ScimError::invalid_syntax(format!(
            "a bulk request names the schema {BULK_REQUEST} in \"schemas\""
        )));
    }
    let operations = operations_of(object)?;
    if operations.len() > max_operations {
        return Err(ScimError::new(
            413,
            None,
            format!(
                "the bulk request holds {} operations; maxOperations is {max_operations} (server.max_bulk_operations)",
                operations.len()
            ),
        ));
    }
    let fail_on_errors = match object.get("failOnErrors") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|n| *n >= 1)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| ScimError::invalid_value("failOnErrors is a whole number of at least 1"))?,
        ),
    };
    let entries: Vec<Entry> = operations.iter().map(parse_entry).collect();
    check_unique_bulk_ids(&entries)?;
    Ok(BulkRequest {
        fail_on_errors,
        entries,
    })
}

/// `Operations` (RFC 7644 spells it so; `operations` is read too, as the attribute names are
/// case-insensitive).
fn operations_of(object: &serde_json::Map<String, Value>) -> Result<&Vec<Value>, ScimError> {
    let found = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("Operations"))
        .map(|(_, value)| value);
    match found {
        Some(Value::Array(operations)) if !operations.is_empty() => Ok(operations),
        Some(Value::Array(_)) => Err(ScimError::invalid_value("\"Operations\" holds no operation")),
        _ => Err(ScimError::invalid_syntax("a bulk request has an \"Operations\" array")),
    }
}

fn check_unique_bulk_ids(entries: &[Entry]) -> Result<(), ScimError> {
    let mut seen = HashSet::new();
    for bulk_id in entries.iter().filter_map(|e| e.named.bulk_id.as_deref()) {
        if !seen.insert(bulk_id) {
            return Err(ScimError::invalid_value(format!(
                "bulkId \"{bulk_id}\" is given to more than one operation; each must be unique in the request"
            )));
        }
    }
    Ok(())
}

fn parse_entry(value: &Value) -> Entry {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let named = Named {
        method: text("method"),
        bulk_id: text("bulkId"),
        path: text("path"),
    };
    let operation = parse_operation(value, &named);
    Entry { named, operation }
}

fn parse_operation(value: &Value, named: &Named) -> Result<Operation, ScimError> {
    if !value.is_object() {
        return Err(ScimError::invalid_syntax("each operation is a JSON object"));
    }
    let method = match named.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some("PATCH") => Method::Patch,
        Some("DELETE") => Method::Delete,
        _ => {
            return Err(ScimError::invalid_syntax(
                "\"method\" is one of POST, PUT, PATCH and DELETE",
            ))
        }
    };
    let path = named
        .path
        .as_deref()
        .ok_or_else(|| ScimError::invalid_syntax("an operation has a \"path\" (\"/Users\", \"/Groups/{id}\")"))?;
    let (endpoint, resource) = parse_path(method, path)?;
    if method == Method::Post && named.bulk_id.as_deref().is_none_or(str::is_empty) {
        return Err(ScimError::invalid_value(
            "a POST operation has a \"bulkId\" (RFC 7644 §3.7)",
        ));
    }
    let data = match (method, value.get("data")) {
        (Method::Delete, _) => None,
        (_, Some(data)) if data.is_object() => Some(data.clone()),
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "a {} operation has a \"data\" object",
                method.as_str()
            )))
        }
    };
    let version = match value.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => return Err(ScimError::invalid_syntax("\"version\" is an ETag string")),
    };
    let mut needs = BTreeSet::new();
    if let Some(ResourceRef::BulkId(id)) = &resource {
        needs.insert(id.clone());
    }
    if let Some(data) = &data {
        references::collect(data, &mut needs);
    }
    Ok(Operation {
        method,
        endpoint,
        resource,
        bulk_id: named.bulk_id.clone(),
        version,
        data,
        needs,
    })
}

/// `/Users` or `/Groups` for a POST, `/Users/{id}` or `/Groups/{id}` (or `…/bulkId:{bulkId}`)
/// for the others.
fn parse_path(method: Method, path: &str) -> Result<(Endpoint, Option<ResourceRef>), ScimError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (collection, id) = match trimmed.split_once('/') {
        Some((collection, id)) => (collection, Some(id)),
        None => (trimmed, None),
    };
    let endpoint = match collection {
        "Users" => Endpoint::Users,
        "Groups" => Endpoint::Groups,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "\"{path}\": a bulk operation addresses /Users or /Groups"
            )))
        }
    };
    match (method, id) {
        (Method::Post, None) => Ok((endpoint, None)),
        (Method::Post, Some(_)) => Err(ScimError::invalid_value(format!(
            "\"{path}\": a POST addresses the endpoint ({}), not a resource",
            endpoint.path()
        ))),
        (_, Some(id)) if !id.is_empty() && !id.contains('/') => {
            let resource = match id.strip_prefix(BULK_ID_PREFIX) {
                Some(bulk_id) => ResourceRef::BulkId(bulk_id.to_owned()),
                None => ResourceRef::Id(id.to_owned()),
            };
            Ok((endpoint, Some(resource)))
        }
        _ => Err(ScimError::invalid_value(format!(
            "\"{path}\": a {} addresses one resource, {}/{{id}}",
            method.as_str(),
            endpoint.path()
        ))),
    }
}

#[cfg(test)]
mod tests;
