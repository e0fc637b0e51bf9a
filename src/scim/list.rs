//! Query parameters of a list or search request (RFC 7644 §3.4.2, §3.4.3) and the ListResponse.
use super::error::ScimError;
use super::filter::{AttrPath, Filter};
use super::limits::Limits;
use super::projection::Projection;
use super::schema::ResourceSchema;
use serde_json::{json, Map, Value};

pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// A validated list request. Paging values are clamped, not refused (RFC 7644 §3.4.2.4).
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub projection: Projection,
}

/// The raw parameters, from a query string or a SearchRequest body.
#[derive(Debug, Default, Clone)]
pub struct RawListParams {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

impl RawListParams {
    /// Reads the parameters from query pairs. Names are matched case-insensitively: Okta sends
    /// `startindex` in places (docs/idp-behaviour.md §1.1); unknown parameters such as Entra's
    /// `aadOptscim062020` are ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut raw = Self::default();
        for (k, v) in pairs {
            let slot = match k.to_ascii_lowercase().as_str() {
                "filter" => &mut raw.filter,
                "sortby" => &mut raw.sort_by,
                "sortorder" => &mut raw.sort_order,
                "startindex" => &mut raw.start_index,
                "count" => &mut raw.count,
                "attributes" => &mut raw.attributes,
                "excludedattributes" => &mut raw.excluded_attributes,
                _ => continue,
            };
            *slot = Some(v.to_owned());
        }
        raw
    }

    /// Reads a SearchRequest body (RFC 7644 §3.4.3).
    pub fn from_search_request(body: &Value) -> Result<Self, ScimError> {
        let object = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a SearchRequest must be a JSON object"))?;
        let schemas_ok = object
            .get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|u| u == SEARCH_REQUEST_SCHEMA));
        if !schemas_ok {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must contain \"{SEARCH_REQUEST_SCHEMA}\""
            )));
        }
        let mut pairs = Vec::new();
        for (k, v) in object {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
                Value::Null => continue,
                other => {
                    return Err(ScimError::invalid_value(format!(
                        "'{k}' has an unexpected value {}",
                        super::resource::excerpt(other)
                    )))
                }
            };
            pairs.push((k.clone(), text));
        }
        Ok(Self::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
    }

    pub fn validate(self, schema: &ResourceSchema, limits: &Limits) -> Result<ListQuery, ScimError> {
        let max_results = limits.max_results;
        let filter = self
            .filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(|f| limits.parse_filter(f))
            .transpose()?;
        let sort_by = self
            .sort_by
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_sort_by(s, schema, limits))
            .transpose()?;
        let sort_order = match self.sort_order.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("ascending") => SortOrder::Ascending,
            Some("descending") => SortOrder::Descending,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', got '{other}'"
                )))
            }
        };
        let start_index = parse_int("startIndex", self.start_index.as_deref())?.map_or(1, |n| n.max(1) as usize);
        let count =
            parse_int("count", self.count.as_deref())?.map_or(max_results, |n| (n.max(0) as usize).min(max_results));
        let projection = Projection::parse(self.attributes.as_deref(), self.excluded_attributes.as_deref(), schema)?;
        Ok(ListQuery {
            filter,
            sort_by,
            sort_order,
            start_index,
            count,
            projection,
        })
    }
}

fn parse_sort_by(s: &str, schema: &ResourceSchema, limits: &Limits) -> Result<AttrPath, ScimError> {
    let path = limits.parse_path(s)?;
    if path.filter.is_some() || path.sub.is_some() {
        return Err(ScimError::invalid_path(format!(
            "sortBy '{s}' must be an attribute path without a filter"
        )));
    }
    schema
        .resolve(&path.attr)
        .map_err(|d| ScimError::invalid_path(format!("sortBy: {d}")))?;
    Ok(path.attr)
}

fn parse_int(name: &str, raw: Option<&str>) -> Result<Option<i64>, ScimError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer, got '{s}'"))),
    }
}

/// The ListResponse body (RFC 7644 §3.4.2): integers for the counts, `Resources` always present.
pub fn list_response(total: usize, start_index: usize, resources: Vec<Value>) -> Value {
    let mut body = Map::new();
    body.insert("schemas".into(), json!([LIST_RESPONSE_SCHEMA]));
    body.insert("totalResults".into(), json!(total));
    body.insert("itemsPerPage".into(), json!(resources.len()));
    body.insert("startIndex".into(), json!(start_index));
    body.insert("Resources".into(), Value::Array(resources));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::user;

    fn q(pairs: &[(&str, &str)]) -> Result<ListQuery, ScimError> {
        RawListParams::from_pairs(pairs.iter().copied()).validate(user(), &Limits::default())
    }

    #[test]
    fn paging_is_clamped_as_rfc_7644_says() {
        let l = q(&[("startIndex", "0"), ("count", "-5")]).unwrap();
        assert_eq!((l.start_index, l.count), (1, 0));
        let l = q(&[("startindex", "7"), ("COUNT", "5000")]).unwrap();
        assert_eq!((l.start_index, l.count), (7, 1000));
        let l = q(&[("aadOptscim062020", "")]).unwrap();
        assert_eq!((l.start_index, l.count), (1, 1000));
    }

    #[test]
    fn bad_parameters_are_clear_errors() {
        assert_eq!(
            q(&[("count", "ten")]).unwrap_err().scim_type,
            Some(super::super::error::ScimType::InvalidValue)
        );
        assert_eq!(
            q(&[("sortOrder", "up")]).unwrap_err().scim_type,
            Some(super::super::error::ScimType::InvalidValue)
        );
        assert_eq!(
            q(&[("filter", "userName eq")]).unwrap_err().scim_type,
            Some(super::super::error::ScimType::InvalidFilter)
        );
        assert_eq!(
            q(&[("sortBy", "shoeSize")]).unwrap_err().scim_type,
            Some(super::super::error::ScimType::InvalidPath)
        );
    }

    #[test]
    fn search_request_bodies_read_like_query_strings() {
        let body = json!({"schemas": [SEARCH_REQUEST_SCHEMA], "attributes": ["userName", "emails"], "filter": "userName sw \"a\"", "startIndex": 2, "count": 10});
        let l = RawListParams::from_search_request(&body)
            .unwrap()
            .validate(user(), &Limits::default())
            .unwrap();
        assert_eq!((l.start_index, l.count), (2, 10));
        assert!(l.filter.is_some());
        assert!(RawListParams::from_search_request(&json!({"filter": "x pr"})).is_err());
    }
}
