//! The PVWA's JSON, typed (docs/vendors/cyberark.md). A vault user keeps every field the bridge does
//! not map (`rest`): a PUT replaces the whole object, so what is left out would be cleared.
use crate::sync::connectors::VendorId;
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
