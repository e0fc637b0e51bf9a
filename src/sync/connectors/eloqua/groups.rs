//! Security group membership, as entitlement rules grant it (docs/vendors/eloqua.md,
//! "Entitlements"): Oracle documents `PATCH /api/REST/2.0/system/security/group/{id}/users` with
//! an array of `SecurityGroupUser` items (`patchMethod`, `type`, `user`) that "adds or removes
//! users". The values of `patchMethod` are not documented: GUESS `add` and `remove`. Groups are
//! found by `GET /api/REST/2.0/system/security/groups`; a user's groups are its `securityGroups`.
use super::wire::{GroupList, SecurityGroupUser, UserRef};
use super::{done, Eloqua};
use crate::sync::ConnectorError;
use reqwest::Method;

const GROUPS: &str = "/api/REST/2.0/system/security/groups";
const GROUP: &str = "/api/REST/2.0/system/security/group";

impl Eloqua {
    /// Adds user `user_id` to the security groups `add` and removes them from `remove`: one call
    /// per group.
    pub(super) async fn entitle(&self, user_id: &str, add: &[String], remove: &[String]) -> Result<(), ConnectorError> {
        let asked = add.iter().map(|g| (g, "add")).chain(remove.iter().map(|g| (g, "remove")));
        for (name, method) in asked {
            let id = self.groups.id(name, || self.list_groups()).await?;
            let body = [SecurityGroupUser {
                patch_method: method,
                kind: "SecurityGroupUser",
                user: UserRef { kind: "User", id: user_id },
            }];
            let response = self
                .call(Method::PATCH, &format!("{GROUP}/{id}/users"), &[], Some(&body))
                .await?;
            if response.status == 404 {
                self.groups.forget().await;
            }
            done(&response, &format!("{method} security group '{name}'"))?;
        }
        Ok(())
    }

    /// Every security group the rules name exists (`scim-bridge check`).
    pub(super) async fn check_groups(&self) -> Result<(), ConnectorError> {
        let names: Vec<String> = self.managed_groups.iter().cloned().collect();
        self.groups.check(&names, || self.list_groups()).await
    }

    /// Every security group as (id, name), a page of 1,000 at a time.
    async fn list_groups(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        const PAGE: usize = 1000;
        let mut groups = Vec::new();
        for page in 1.. {
            let query = [("count", PAGE.to_string()), ("page", page.to_string())];
            let list: GroupList = self
                .call_json(Method::GET, GROUPS, &query, None::<&()>, "list security groups")
                .await?;
            let full = list.elements.len() >= PAGE;
            groups.extend(
                list.elements
                    .into_iter()
                    .filter_map(|g| Some((g.id?.to_string(), g.name?))),
            );
            if !full {
                break;
            }
        }
        Ok(groups)
    }
}
