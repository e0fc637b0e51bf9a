//! Eloqua's JSON, typed (docs/vendors/eloqua.md). A user keeps every field the bridge does not map
//! (`rest`): updates PUT the whole object back.
use crate::sync::connectors::VendorId;
use crate::sync::mapping::FieldSpec;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A boolean as Eloqua writes it: `true`, `"True"` or `"true"`; kept in its own form on the way back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    pub fn value(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            Self::Text(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Self::Text(s) if s.eq_ignore_ascii_case("false") => Some(false),
            Self::Text(_) => None,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Text(s) => write!(f, "\"{s}\""),
        }
    }
}

/// `GET …/system/user/{id}?depth=complete`, an item of the search, and the body of its PUT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EloquaUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<VendorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_disabled: Option<Flag>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `GET …/system/users?search=…`.
#[derive(Debug, Deserialize)]
pub struct UserList {
    #[serde(default)]
    pub elements: Vec<EloquaUser>,
}

/// `POST …/system/user`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser<'a> {
    pub login_name: &'a str,
    pub email_address: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
}

/// `PUT …/system/user/{id}/enabled` (a JSON boolean) and its answer (often a string).
#[derive(Debug, Serialize)]
pub struct Enable {
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
pub struct Enabled {
    pub enabled: Option<Flag>,
}

/// `GET {login_url}/id`: the instance's API base.
#[derive(Debug, Deserialize)]
pub struct Identity {
    pub urls: Option<Urls>,
}

#[derive(Debug, Deserialize)]
pub struct Urls {
    pub base: Option<String>,
}

/// A typed validation error, one object or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Problems {
    List(Vec<Problem>),
    One(Problem),
}

#[derive(Debug, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub parameter: Option<String>,
    pub property: Option<String>,
    pub requirement: Option<Requirement>,
    pub value: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Requirement {
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl Problem {
    /// `ValidationError on emailAddress: EmailAddressRequirement (value "x")`.
    pub fn describe(&self) -> String {
        let mut text = self.kind.clone();
        if let Some(what) = self.parameter.as_ref().or(self.property.as_ref()) {
            text.push_str(&format!(" on {what}"));
        }
        if let Some(requirement) = self.requirement.as_ref().and_then(|r| r.kind.as_ref()) {
            text.push_str(&format!(": {requirement}"));
        }
        if let Some(v) = &self.value {
            text.push_str(&format!(" (value {v})"));
        }
        text
    }
}

impl Problems {
    /// The problems of an error body, `None` when it holds none.
    pub fn describe(body: &str) -> Option<String> {
        let list = match serde_json::from_str(body).ok()? {
            Self::List(list) => list,
            Self::One(one) => vec![one],
        };
        (!list.is_empty()).then(|| list.iter().map(Problem::describe).collect::<Vec<_>>().join("; "))
    }
}

/// The user's fields the bridge can write beyond login, e-mail and names, with their defaults
/// (docs/vendors/eloqua.md, docs/mapping.md); Eloqua publishes no length limits.
pub static FIELDS: [FieldSpec; 13] = [
    FieldSpec::new("jobTitle", Some("title"), None),
    FieldSpec::new("phone", Some(r#"phoneNumbers[type eq "work"].value"#), None),
    FieldSpec::new("cellPhone", Some(r#"phoneNumbers[type eq "mobile"].value"#), None),
    FieldSpec::new("fax", Some(r#"phoneNumbers[type eq "fax"].value"#), None),
    FieldSpec::new("address1", Some(r#"addresses[type eq "work"].streetAddress"#), None),
    FieldSpec::new("address2", None, None),
    FieldSpec::new("city", Some(r#"addresses[type eq "work"].locality"#), None),
    FieldSpec::new("state", Some(r#"addresses[type eq "work"].region"#), None),
    FieldSpec::new("country", Some(r#"addresses[type eq "work"].country"#), None),
    FieldSpec::new("zipCode", Some(r#"addresses[type eq "work"].postalCode"#), None),
    FieldSpec::new(
        "department",
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        None,
    ),
    FieldSpec::new(
        "companyDisplayName",
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization"),
        None,
    ),
    // What a SAML SSO tenant signs users in by; unmapped by default (docs/vendors/eloqua.md).
    FieldSpec::new("federationId", None, None),
];

/// `GET …/system/security/groups`: `{"elements": [{"type": "SecurityGroup", "id": "8", "name": …}]}`.
#[derive(Debug, Default, Deserialize)]
pub struct GroupList {
    #[serde(default)]
    pub elements: Vec<SecurityGroup>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SecurityGroup {
    #[serde(default)]
    pub id: Option<VendorId>,
    #[serde(default)]
    pub name: Option<String>,
}

/// An item of `PATCH …/system/security/group/{id}/users`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupUser<'a> {
    pub patch_method: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub user: UserRef<'a>,
}

#[derive(Debug, Serialize)]
pub struct UserRef<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub id: &'a str,
}

/// The security groups a user is in, by name (`securityGroups: [{type, id, name}]` at
/// `depth=complete`); `None` when the answer has no list.
pub fn groups_of(user: &EloquaUser) -> Option<std::collections::BTreeSet<String>> {
    let list = user.rest.get("securityGroups")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|g| g.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
    )
}
