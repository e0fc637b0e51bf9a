//! `sync plan` for Workspace365, which has no read API: the documented dry run (`PUT
//! …/User/{email}/Validate/`) says whether the user exists; what it holds cannot be read, so an
//! update is planned whenever the link's fingerprint is behind.
use super::Workspace365;
use crate::sync::plan::{fields_of, VendorView};
use crate::sync::{ConnectorError, Desired, Link, UserState};
use std::collections::BTreeMap;

impl Workspace365 {
    /// Whether Workspace365 has the user (its fields and state cannot be read).
    pub async fn observe(&self, desired: &Desired, link: Option<&Link>) -> Result<Option<VendorView>, ConnectorError> {
        let (probe, user) = match desired {
            Desired::Present(user) => (link.cloned().unwrap_or_else(|| Link::creating(&user.email)), user),
            Desired::Absent => {
                let id = link.and_then(|l| l.remote_id.as_deref().or(l.remote_key.as_deref()));
                return Ok(id.map(unread));
            }
        };
        let found = self.adopt_if_present(&probe, user).await?;
        Ok(found.and_then(|l| {
            let email = l.remote_key?;
            Some(unread(l.remote_id.as_deref().unwrap_or(&email)))
        }))
    }

    /// The fields an update sends for `user`.
    pub fn wanted(&self, user: &UserState) -> BTreeMap<String, String> {
        let value = serde_json::to_value(self.body(user)).unwrap_or_default();
        fields_of(
            &value,
            ["EmailAddress", "FirstName", "LastName", "IsAdministrator"].map(str::to_owned),
        )
    }
}

fn unread(id: &str) -> VendorView {
    VendorView {
        id: id.to_owned(),
        active: None,
        fields: None,
    }
}
