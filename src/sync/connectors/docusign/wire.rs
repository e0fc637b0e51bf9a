//! DocuSign's request and answer bodies for the calls the connector makes (eSignature REST v2.1,
//! `…/accounts/{accountId}/users`; docs/vendors/docusign.md). DocuSign writes most numbers and
//! booleans as strings; only the fields read here are declared.
use crate::sync::mapping::{Empty, FieldSpec};
use crate::sync::UserState;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The profile DocuSign holds: `userName` is its display name, not a login.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub user_name: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// The mapped fields (`FIELDS` but `userName`), `""` where SCIM holds nothing.
    #[serde(flatten)]
    pub mapped: Map<String, Value>,
}

impl Profile {
    pub fn of(user: &UserState) -> Self {
        let display = format!("{} {}", user.given_name, user.family_name);
        let user_name = match (user.fields.get("userName"), display.trim()) {
            (Some(mapped), _) => mapped.to_owned(),
            (None, "") => user.user_name.clone(),
            (None, name) => name.to_owned(),
        };
        let mut mapped = Map::new();
        user.fields.without("userName").merge_into(&mut mapped, Empty::Clear);
        Self {
            user_name,
            email: user.email.clone(),
            first_name: user.given_name.clone(),
            last_name: user.family_name.clone(),
            mapped,
        }
    }
}

/// `POST …/users`: `{"newUsers": [...]}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUsers<'a> {
    pub new_users: Vec<&'a Profile>,
}

/// An item of the seed's `PUT …/users`: the userId and the changed fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileUpdate<'a> {
    pub user_id: &'a str,
    #[serde(flatten)]
    pub profile: &'a Profile,
}

/// An item of `DELETE …/users` (close).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef<'a> {
    pub user_id: &'a str,
}

/// `{"users": [...]}`, the body of `PUT` and `DELETE …/users`.
#[derive(Serialize)]
pub struct Users<T> {
    pub users: Vec<T>,
}

/// A user as DocuSign answers it: in a listing, or as an item of a bulk answer (which may carry
/// its own `errorDetails` inside a 2xx).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserItem {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub user_status: Option<String>,
    #[serde(default)]
    pub error_details: Option<ErrorDetails>,
    /// The profile's other fields (read by `sync plan`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl UserItem {
    pub fn is_closed(&self) -> bool {
        self.user_status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("closed"))
    }

    pub fn has_email(&self, email: &str) -> bool {
        self.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email))
    }

    /// The item's `errorDetails` as `CODE: message`.
    pub fn error(&self) -> Option<String> {
        let details = self.error_details.as_ref()?;
        let code = details.error_code.clone()?;
        Some(match &details.message {
            Some(message) => format!("{code}: {message}"),
            None => code,
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// The answer of `POST …/users`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUsersAnswer {
    #[serde(default)]
    pub new_users: Vec<UserItem>,
}

/// The answer of `GET`, `PUT` and `DELETE …/users`.
#[derive(Debug, Default, Deserialize)]
pub struct UsersAnswer {
    #[serde(default)]
    pub users: Vec<UserItem>,
}

/// A 4xx body: `{"errorCode": …, "message": …}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /oauth/token`.
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `POST /oauth/token` refused: `{"error": "consent_required"}`.
#[derive(Default, Deserialize)]
pub struct OauthError {
    #[serde(default)]
    pub error: Option<String>,
}

/// `GET /oauth/userinfo`.
#[derive(Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub accounts: Vec<Account>,
}

#[derive(Deserialize)]
pub struct Account {
    pub account_id: String,
    #[serde(default)]
    pub base_uri: Option<String>,
}

/// The profile's fields the bridge can write beyond e-mail and names (docs/vendors/docusign.md,
/// docs/mapping.md). `userName` is DocuSign's display name: when SCIM has no value for it, it is
/// "givenName familyName", else the SCIM userName.
/// `permissionProfileName` is set by entitlement rules (docs/entitlements.md) and sent as the
/// profile's `permissionProfileId`.
pub static FIELDS: [FieldSpec; 6] = [
    FieldSpec::new("userName", Some("displayName"), None),
    FieldSpec::new("middleName", Some("name.middleName"), Some(50)),
    FieldSpec::new("suffixName", Some("name.honorificSuffix"), Some(50)),
    FieldSpec::new("jobTitle", Some("title"), None),
    FieldSpec::new("title", None, None),
    FieldSpec::new("permissionProfileName", None, None),
];

/// `GET …/groups`: `{"groups": [{"groupId", "groupName", "groupType"}], …}`.
#[derive(Debug, Default, Deserialize)]
pub struct GroupsAnswer {
    #[serde(default)]
    pub groups: Vec<GroupItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupItem {
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub group_name: Option<String>,
}

/// `GET …/permission_profiles`: `{"permissionProfiles": [{"permissionProfileId", "permissionProfileName"}]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfilesAnswer {
    #[serde(default)]
    pub permission_profiles: Vec<ProfileItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileItem {
    #[serde(default)]
    pub permission_profile_id: Option<String>,
    #[serde(default)]
    pub permission_profile_name: Option<String>,
}

impl UserItem {
    /// The groups a user is in, by name (`groupList`, listed with `additional_info=true`);
    /// `None` when the answer has no list.
    pub fn groups(&self) -> Option<std::collections::BTreeSet<String>> {
        let list = self.rest.get("groupList")?.as_array()?;
        Some(
            list.iter()
                .filter_map(|g| g.get("groupName").and_then(Value::as_str))
                .map(str::to_owned)
                .collect(),
        )
    }
}
