//! Vault group membership, as entitlement rules grant it (docs/vendors/cyberark.md,
//! "Entitlements"): `POST /API/UserGroups/{id}/Members/` adds a vault user, `DELETE
//! /API/UserGroups/{id}/Members/{username}/` removes one. Groups are named in the rules and found
//! by `GET /API/UserGroups`. "Already a member" (409, `ITATS262E`/`PASWS213E`) on an add and "not
//! a member" (404) on a removal are what was asked, so they count as done.
use super::session::done;
use super::wire::{GroupList, NewMember};
use super::Cyberark;
use crate::sync::connectors::segment;
use crate::sync::ConnectorError;
use reqwest::Method;

impl Cyberark {
    /// Adds vault user `username` to the vault groups `add` and removes them from `remove`.
    pub(super) async fn entitle(&self, username: &str, add: &[String], remove: &[String]) -> Result<(), ConnectorError> {
        for name in add {
            let id = self.group_id(name).await?;
            let body = NewMember {
                member_id: username,
                member_type: "Vault",
            };
            let url = self.api(&format!("UserGroups/{id}/Members/"));
            let response = self.call(Method::POST, &url, Some(&body)).await?;
            if response.status == 409 {
                continue;
            }
            if response.status == 404 {
                // The group is gone (deleted by hand): looked up afresh next time.
                self.groups.forget().await;
            }
            done(&response, &format!("add to vault group '{name}'"))?;
        }
        for name in remove {
            let id = self.group_id(name).await?;
            let url = self.api(&format!("UserGroups/{id}/Members/{}/", segment(username)));
            let response = self.call(Method::DELETE, &url, None::<&()>).await?;
            if response.status == 404 {
                continue;
            }
            done(&response, &format!("remove from vault group '{name}'"))?;
        }
        Ok(())
    }

    /// Every vault group the rules name exists (`scim-bridge check`).
    pub(super) async fn check_groups(&self) -> Result<(), ConnectorError> {
        let names: Vec<String> = self.managed_groups.iter().cloned().collect();
        self.groups.check(&names, || self.list_groups()).await
    }

    async fn group_id(&self, name: &str) -> Result<String, ConnectorError> {
        self.groups.id(name, || self.list_groups()).await
    }

    /// `GET /API/UserGroups`: every vault group as (id, name).
    async fn list_groups(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        let list: GroupList = self
            .call_json(Method::GET, &self.api("UserGroups"), None::<&()>, "list vault groups")
            .await?;
        Ok(list
            .value
            .into_iter()
            .filter_map(|g| Some((g.id?.to_string(), g.group_name?)))
            .collect())
    }
}
