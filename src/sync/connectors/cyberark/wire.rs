//! The PVWA's JSON, typed (docs/vendors/cyberark.md). A vault user keeps every field the bridge does
//! not map (`rest`): a PUT replaces the whole object, so what is left out would be cleared.
use crate::sync::connectors::VendorId;
use crate::sync::mapping::FieldSpec;
use crate::sync::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /API/Users/{id}/`, an item of `GET /API/Users`, and the body of `PUT /API/Users/{id}/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VaultUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<VendorId>,
    #[serde(default)]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_user: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_user: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internet: Option<Internet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_details: Option<PersonalDetails>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Internet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_email: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PersonalDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `GET /API/Users?search=`.
#[derive(Debug, Deserialize)]
pub struct UserList {
    #[serde(rename = "Users", default)]
    pub users: Vec<VaultUser>,
}

/// `POST /API/Users/`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub user_type: &'a str,
    pub initial_password: &'a str,
    pub authentication_method: [&'static str; 1],
    pub location: &'a str,
    pub enable_user: bool,
    pub change_pass_on_next_logon: bool,
    pub password_never_expires: bool,
    pub internet: Internet,
    pub personal_details: PersonalDetails,
}

/// What `POST /API/Users/` answers: the new user (its id is what the bridge needs).
#[derive(Debug, Deserialize)]
pub struct Created {
    pub id: Option<VendorId>,
}

/// `POST /API/auth/{method}/Logon/`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Logon<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub concurrent_session: bool,
}

impl<'a> Logon<'a> {
    pub fn new(username: &'a Secret, password: &'a Secret) -> Self {
        Self {
            username: username.expose(),
            password: password.expose(),
            concurrent_session: true,
        }
    }
}

/// `POST /API/Users/{id}/Activate` (the seed call).
#[derive(Serialize)]
pub struct Activate<'a> {
    pub id: &'a VendorId,
}

/// `GET /WebServices/PIMServices.svc/Server`: the PVWA's version (read by `check`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Server {
    pub external_version: Option<String>,
}

/// An error body: `{"ErrorCode": "PASWS041E", "ErrorMessage": "…", "Details": …}`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct VaultError {
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    #[serde(default)]
    pub details: Option<Details>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Details {
    List(Vec<VaultError>),
    One(Box<VaultError>),
    Other(serde::de::IgnoredAny),
}

impl VaultError {
    pub fn of(body: &str) -> Self {
        serde_json::from_str(body).unwrap_or_default()
    }

    /// `PASWS041E: You are not authorized…` (code and message, or either).
    fn line(&self) -> Option<String> {
        match (&self.error_code, &self.error_message) {
            (Some(c), Some(m)) => Some(format!("{c}: {m}")),
            (None, Some(m)) | (Some(m), None) => Some(m.clone()),
            (None, None) => None,
        }
    }

    /// The vault's words with its `Details`; `None` when the body is no vault error.
    pub fn describe(&self) -> Option<String> {
        let main = self.line()?;
        let details: Vec<String> = match &self.details {
            Some(Details::List(list)) => list.iter().filter_map(Self::line).collect(),
            Some(Details::One(one)) => one.line().into_iter().collect(),
            _ => Vec::new(),
        };
        Some(if details.is_empty() {
            main
        } else {
            format!("{main} ({})", details.join("; "))
        })
    }
}

/// The vault user's fields the bridge can write beyond username, names and business e-mail, with
/// their defaults and the PVWA's limits (docs/vendors/cyberark.md, docs/mapping.md).
pub static FIELDS: [FieldSpec; 19] = [
    FieldSpec::new("personalDetails.middleName", Some("name.middleName"), Some(29)),
    FieldSpec::new("personalDetails.title", Some("title"), Some(49)),
    FieldSpec::new(
        "personalDetails.department",
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        Some(49),
    ),
    FieldSpec::new(
        "personalDetails.organization",
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization"),
        Some(49),
    ),
    FieldSpec::new("personalDetails.profession", None, Some(49)),
    FieldSpec::new("internet.homeEmail", Some(r#"emails[type eq "home"].value"#), Some(319)),
    FieldSpec::new(
        "internet.otherEmail",
        Some(r#"emails[type eq "other"].value"#),
        Some(319),
    ),
    FieldSpec::new(
        "phones.businessNumber",
        Some(r#"phoneNumbers[type eq "work"].value"#),
        Some(24),
    ),
    FieldSpec::new(
        "phones.cellularNumber",
        Some(r#"phoneNumbers[type eq "mobile"].value"#),
        Some(24),
    ),
    FieldSpec::new(
        "phones.faxNumber",
        Some(r#"phoneNumbers[type eq "fax"].value"#),
        Some(24),
    ),
    FieldSpec::new(
        "phones.pagerNumber",
        Some(r#"phoneNumbers[type eq "pager"].value"#),
        Some(24),
    ),
    FieldSpec::new(
        "phones.homeNumber",
        Some(r#"phoneNumbers[type eq "home"].value"#),
        Some(24),
    ),
    FieldSpec::new(
        "businessAddress.workStreet",
        Some(r#"addresses[type eq "work"].streetAddress"#),
        Some(29),
    ),
    FieldSpec::new(
        "businessAddress.workCity",
        Some(r#"addresses[type eq "work"].locality"#),
        Some(19),
    ),
    FieldSpec::new(
        "businessAddress.workState",
        Some(r#"addresses[type eq "work"].region"#),
        Some(19),
    ),
    FieldSpec::new(
        "businessAddress.workZip",
        Some(r#"addresses[type eq "work"].postalCode"#),
        Some(19),
    ),
    FieldSpec::new(
        "businessAddress.workCountry",
        Some(r#"addresses[type eq "work"].country"#),
        Some(19),
    ),
    FieldSpec::new("description", Some("displayName"), Some(99)),
    FieldSpec::new("location", None, None),
];

/// `GET /API/UserGroups`: `{"value": [{"id": 7, "groupName": "Auditors", …}], "count": n}`.
#[derive(Debug, Default, Deserialize)]
pub struct GroupList {
    #[serde(default)]
    pub value: Vec<VaultGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultGroup {
    #[serde(default)]
    pub id: Option<VendorId>,
    #[serde(default)]
    pub group_name: Option<String>,
}

/// `POST /API/UserGroups/{id}/Members/`: a vault user as a member.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMember<'a> {
    pub member_id: &'a str,
    pub member_type: &'a str,
}

/// The vault groups a user is in, by name, as `GET /API/Users/{id}/` lists them
/// (`groupsMembership: [{groupID, groupName, groupType}]`); `None` when the answer has no list.
pub fn groups_of(user: &VaultUser) -> Option<std::collections::BTreeSet<String>> {
    let list = user.rest.get("groupsMembership")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|g| g.get("groupName").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
    )
}
