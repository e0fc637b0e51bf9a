//! eSign's JSON (docs/vendors/esign.md). Requests are typed; every one carries the salt again.
//! Answers are read leniently, by field name regardless of case (`SystemUserId`, `systemUserId`):
//! the UserResponse fields are not published (GUESS), so a typed struct would break on the first
//! casing the vendor did not show.
use crate::sync::mapping::FieldSpec;
use serde::Serialize;
use serde_json::{Map, Value};

/// A user in a request (`POST rest/v1/users`, `PUT rest/v1/users`, `updateByUsername`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EsignUser<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_user_id: Option<&'a str>,
    /// The mapped fields (`FIELDS`).
    #[serde(flatten)]
    pub mapped: Map<String, Value>,
}

/// `{"user": {…}, "salt": …}`, with `oldUsername` for a rename.
#[derive(Debug, Serialize)]
pub struct UserRequest<'a> {
    pub user: EsignUser<'a>,
    #[serde(rename = "oldUsername", skip_serializing_if = "Option::is_none")]
    pub old_username: Option<&'a str>,
    pub salt: &'a str,
}

/// `PUT rest/v1/users/provisionUser`: `userStatus` 1 (active) or 0 (GUESS: the seed shows only 1).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provision<'a> {
    pub system_user_id: &'a str,
    pub user_status: u8,
    pub salt: &'a str,
}

/// A field of a .NET object, by name regardless of case.
pub fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

pub fn text_field(object: &Value, name: &str) -> Option<String> {
    match field(object, name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `Users` array of a UserResponse (a single `User` object is taken as one).
pub fn users(body: &Value) -> Vec<Value> {
    match (field(body, "Users"), field(body, "User")) {
        (Some(Value::Array(list)), _) => list.clone(),
        (_, Some(user @ Value::Object(_))) => vec![user.clone()],
        _ => Vec::new(),
    }
}

/// The failure a body reports, read leniently (GUESS, docs/vendors/esign.md): a false success
/// flag, a `"False"` ReturnValue, or a text starting with "Error".
pub fn failure_text(body: &Value) -> Option<String> {
    if let Value::String(text) = body {
        return text
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("error")
            .then(|| text.clone());
    }
    let object: &Map<String, Value> = body.as_object()?;
    let message = || {
        ["Message", "ErrorMessage", "Error", "StatusMessage", "ReturnValue"]
            .iter()
            .find_map(|k| text_field(body, k).filter(|m| !m.is_empty()))
            .unwrap_or_else(|| crate::sync::client::excerpt(&body.to_string()))
    };
    let flag_false = ["Success", "IsSuccess", "Succeeded", "Successful"]
        .iter()
        .filter_map(|k| field(body, k))
        .any(|v| v == &Value::Bool(false) || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("false")));
    if flag_false || text_field(body, "ReturnValue").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return Some(message());
    }
    object
        .values()
        .filter_map(Value::as_str)
        .find(|s| s.trim_start().to_ascii_lowercase().starts_with("error"))
        .map(str::to_owned)
}

/// The user's fields the bridge can write beyond username, names and password (docs/vendors/esign.md,
/// docs/mapping.md).
pub static FIELDS: [FieldSpec; 1] = [FieldSpec::new(
    "Company",
    Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization"),
    None,
)];
