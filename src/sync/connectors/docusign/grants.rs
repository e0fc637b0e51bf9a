//! What entitlement rules grant at DocuSign (docs/vendors/docusign.md, "Entitlements"): a
//! permission profile (one per user, `permissionProfileId` in the bodies of `POST` and `PUT
//! …/users`; rules name it, `GET …/permission_profiles` gives its id) and account groups (`PUT` and
//! `DELETE …/groups/{groupId}/users` with `{"users": [{"userId"}]}`, one call per group for the
//! whole batch; `GET …/groups` gives the ids). A linked user is not read: its groups are those the
//! link records the bridge put it in.
use super::wire::{GroupsAnswer, Profile, ProfilesAnswer, UserRef, Users, UsersAnswer};
use super::Docusign;
use crate::sync::reconcile::Step;
use crate::sync::vendor::{Applied, Applying};
use crate::sync::ConnectorError;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;

/// The profile field rules set, as read and planned; the bodies carry its id instead.
pub const PROFILE_NAME: &str = "permissionProfileName";
const PROFILE_ID: &str = "permissionProfileId";

type Outcomes = Vec<Result<Applied, ConnectorError>>;

impl Docusign {
    /// The body of `profile` as DocuSign takes it: a permission profile by its id (`ids`: name →
    /// id), and none when no rule sets one.
    pub(super) fn with_profile_id(profile: Profile, ids: &BTreeMap<String, String>) -> Profile {
        let mut profile = profile;
        if let Some(Value::String(name)) = profile.mapped.remove(PROFILE_NAME) {
            if let Some(id) = ids.get(&name.to_lowercase()) {
                profile.mapped.insert(PROFILE_ID.to_owned(), Value::String(id.clone()));
            }
        }
        profile
    }

    /// The ids of the permission profiles `at`'s users are to get (lower-cased name → id).
    pub(super) async fn profile_ids(&self, at: &[Applying<'_, ()>]) -> Result<BTreeMap<String, String>, ConnectorError> {
        let mut ids = BTreeMap::new();
        for user in at.iter().filter_map(|a| a.user) {
            let Some(name) = user.fields.get(PROFILE_NAME) else {
                continue;
            };
            if let std::collections::btree_map::Entry::Vacant(entry) = ids.entry(name.to_lowercase()) {
                entry.insert(self.profiles.id(name, || self.list_profiles()).await?);
            }
        }
        Ok(ids)
    }

    /// The group steps of a batch: for each group, one `PUT` with every user it gains and one
    /// `DELETE` with every user it loses (per `batch_size`). A user's step fails with the first
    /// call of its own that failed.
    pub(super) async fn entitle_many(&self, steps: &[(&Step, Applying<'_, ()>)]) -> Outcomes {
        let mut calls: BTreeMap<(String, bool), Vec<usize>> = BTreeMap::new();
        for (n, (step, _)) in steps.iter().enumerate() {
            if let Step::Entitle { add, remove, .. } = step {
                for group in add {
                    calls.entry((group.clone(), true)).or_default().push(n);
                }
                for group in remove {
                    calls.entry((group.clone(), false)).or_default().push(n);
                }
            }
        }
        let mut outcomes: Outcomes = steps.iter().map(|_| Ok(Applied::Done)).collect();
        for ((group, adding), users) in calls {
            for chunk in users.chunks(self.settings.batch_size.max(1)) {
                let ids: Vec<Option<&str>> = chunk.iter().map(|&n| steps[n].1.id).collect();
                let answered = self.group_call(&group, adding, &ids).await;
                for (&n, result) in chunk.iter().zip(answered) {
                    if let (Err(e), Ok(_)) = (result, &outcomes[n]) {
                        outcomes[n] = Err(e);
                    }
                }
            }
        }
        outcomes
    }

    /// `PUT` (add) or `DELETE` (remove) `…/groups/{groupId}/users` for the users `ids`; each
    /// user's outcome, from its `errorDetails` where the answer lists it.
    async fn group_call(&self, group: &str, adding: bool, ids: &[Option<&str>]) -> Vec<Result<(), ConnectorError>> {
        let what = if adding { "add to group" } else { "remove from group" };
        let answer = async {
            let group_id = self.groups.id(group, || self.list_groups()).await?;
            let users: Vec<UserRef> = ids.iter().flatten().map(|id| UserRef { user_id: id }).collect();
            let url = format!("{}/groups/{group_id}/users", self.account_url().await?);
            let method = if adding { Method::PUT } else { Method::DELETE };
            let answer: UsersAnswer = self.call_json(method, &url, Some(&Users { users }), what).await?;
            Ok::<_, ConnectorError>(answer)
        };
        match answer.await {
            Err(e) => ids.iter().map(|_| Err(e.clone())).collect(),
            Ok(answer) => ids
                .iter()
                .map(|id| {
                    let own = answer.users.iter().find(|u| u.user_id.as_deref() == *id);
                    match own.and_then(|u| u.error()) {
                        Some(error) => Err(ConnectorError::permanent(
                            Some(200),
                            format!("{what} '{group}': {error}"),
                        )),
                        None => Ok(()),
                    }
                })
                .collect(),
        }
    }

    /// Every group and permission profile the rules name exists (`scim-bridge check`).
    pub(super) async fn check_grants(&self) -> Result<(), ConnectorError> {
        let groups: Vec<String> = self.managed_groups.iter().cloned().collect();
        self.groups.check(&groups, || self.list_groups()).await?;
        let profiles: Vec<String> = self.profile_names.iter().cloned().collect();
        self.profiles.check(&profiles, || self.list_profiles()).await
    }

    /// `GET …/groups`, a page of 100 at a time: every group as (groupId, groupName).
    async fn list_groups(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        const PAGE: usize = 100;
        let base = format!("{}/groups", self.account_url().await?);
        let mut groups = Vec::new();
        for page in 0.. {
            let url = format!("{base}?count={PAGE}&start_position={}", page * PAGE);
            let answer: GroupsAnswer = self.call_json(Method::GET, &url, None::<&()>, "list groups").await?;
            let full = answer.groups.len() >= PAGE;
            groups.extend(
                answer
                    .groups
                    .into_iter()
                    .filter_map(|g| Some((g.group_id?, g.group_name?))),
            );
            if !full {
                break;
            }
        }
        Ok(groups)
    }

    /// `GET …/permission_profiles`: every profile as (permissionProfileId, permissionProfileName).
    async fn list_profiles(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        let url = format!("{}/permission_profiles", self.account_url().await?);
        let answer: ProfilesAnswer = self
            .call_json(Method::GET, &url, None::<&()>, "list permission profiles")
            .await?;
        Ok(answer
            .permission_profiles
            .into_iter()
            .filter_map(|p| Some((p.permission_profile_id?, p.permission_profile_name?)))
            .collect())
    }
}
