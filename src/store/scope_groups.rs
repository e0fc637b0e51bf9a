//! Scopes that name groups follow the group they first meant (README "Targets", `scope`): each name
//! a scope compares with `groups.display eq` is recorded with the group's id (`scope_groups`) when
//! the scope is read or when a group takes that name, and a scope matches a group by its current
//! name or by a name recorded for it (`query::USERS_IN_SCOPE`). A rename at the IdP therefore moves
//! no one out of scope, across restarts too. A name no group has is refused once the bridge holds
//! groups (a typo, or a group renamed before the name was ever recorded); a bridge holding no group
//! yet (a first start, before the IdP's first push) records it when the group appears.
use super::db::{args, Tx};
use super::{Store, StoreError};
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};

/// What a scope says of groups.
#[derive(Debug, Default)]
pub struct ScopeGroups {
    /// The names it compares with `groups.display eq`, recorded with their group.
    pub names: Vec<String>,
    /// It tests a group's name other than by `eq` (`sw`, `co`, …): only the current name can
    /// decide, so a rename re-evaluates the group's members.
    pub loosely: bool,
}

/// A `groups` comparison of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GroupRef {
    Name(String),
    Id(String),
}

impl Store {
    /// Reads what `filter` (target `target`'s scope) says of groups, recording each name with the
    /// group that has it now. `Ok(Err(detail))` names a group that does not exist on a bridge that
    /// holds groups.
    pub async fn resolve_scope_groups(
        &self,
        target: &str,
        filter: &Filter,
    ) -> Result<Result<ScopeGroups, String>, StoreError> {
        let mut refs = Vec::new();
        collect(filter, false, &mut refs);
        let any_group = {
            let rows: Vec<(i64,)> = self.db.read("SELECT count(*) FROM groups", args![]).await?;
            rows.first().is_some_and(|(n,)| *n > 0)
        };
        let mut groups = ScopeGroups {
            loosely: loosely(filter, false),
            ..ScopeGroups::default()
        };
        for group in refs {
            let found = match &group {
                GroupRef::Id(id) => self.group_exists(id).await?,
                GroupRef::Name(name) => self.record_scope_name(target, name).await?,
            };
            match (found, any_group, group) {
                (true, _, GroupRef::Name(name)) => groups.names.push(name),
                (true, _, GroupRef::Id(_)) => {}
                (false, true, GroupRef::Name(name)) => {
                    return Ok(Err(format!(
                        "scope names the group \"{name}\", which the bridge does not hold (a typo, or a group renamed at the IdP: write its current name)"
                    )))
                }
                (false, true, GroupRef::Id(id)) => {
                    return Ok(Err(format!("scope names the group id '{id}', which no group has")))
                }
                (false, false, group) => {
                    tracing::warn!(target = %target, group = ?group,
                        "the scope names a group the bridge does not hold yet; it is taken up when the IdP creates it");
                    if let GroupRef::Name(name) = group {
                        groups.names.push(name);
                    }
                }
            }
        }
        Ok(Ok(groups))
    }

    /// Records the SCIM groups entitlement rules name (by displayName or id) with their group, as
    /// a scope's are. A name no group has yet is allowed (the rule starts empty), and logged.
    pub async fn record_entitlement_groups(&self, target: &str, refs: &[String]) -> Result<(), StoreError> {
        for name in refs {
            if self.group_exists(name).await? || self.record_scope_name(target, name).await? {
                continue;
            }
            tracing::warn!(target = %target, group = %name,
                "an entitlement rule names a SCIM group the bridge does not hold yet: it grants nothing until the IdP creates the group");
        }
        Ok(())
    }

    async fn group_exists(&self, id: &str) -> Result<bool, StoreError> {
        let found: Vec<(String,)> = self.db.read("SELECT id FROM groups WHERE id = $1", args![id]).await?;
        Ok(!found.is_empty())
    }

    /// Whether a group answers to scope name `name` (recorded, or by its current name, which is
    /// then recorded). A recorded group renamed since is kept, and said.
    async fn record_scope_name(&self, target: &str, name: &str) -> Result<bool, StoreError> {
        let recorded: Vec<(String, Option<String>)> = self
            .db
            .read(
                "SELECT s.group_id, g.display_name FROM scope_groups s LEFT JOIN groups g ON g.id = s.group_id WHERE s.name = $1",
                args![name],
            )
            .await?;
        match recorded.into_iter().next() {
            Some((id, Some(now_named))) => {
                if !now_named.eq_ignore_ascii_case(name) {
                    tracing::warn!(target = %target, scope_name = %name, group_id = %id, renamed_to = %now_named,
                        "the scope's group was renamed at the IdP; the target keeps following it (write the new name in the scope)");
                }
                return Ok(true);
            }
            // Deleted at the IdP since: not a typo, and no reason to refuse to start. Its members
            // left the scope when it went (their removals met the guard); a group created with
            // the name again is taken up (`group_named`).
            Some((id, None)) if !self.group_named_now(name).await? => {
                tracing::warn!(target = %target, scope_name = %name, group_id = %id,
                    "the scope's group was deleted at the IdP: no one is in this part of the scope until a group takes the name again");
                return Ok(true);
            }
            _ => {}
        }
        let found: Vec<(String,)> = self
            .db
            .read(
                "SELECT id FROM groups WHERE lower(display_name) = lower($1)",
                args![name],
            )
            .await?;
        let Some((id,)) = found.into_iter().next() else {
            return Ok(false);
        };
        let mut tx = self.db.begin().await?;
        record(&mut tx, name, &id).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn group_named_now(&self, name: &str) -> Result<bool, StoreError> {
        let found: Vec<(String,)> = self
            .db
            .read(
                "SELECT id FROM groups WHERE lower(display_name) = lower($1)",
                args![name],
            )
            .await?;
        Ok(!found.is_empty())
    }

    /// A group just took the name `display_name` (created or renamed): a scope name that no live
    /// group answers to yet now means this group.
    pub(super) async fn group_named(&self, tx: &mut Tx, display_name: &str, group_id: &str) -> Result<(), StoreError> {
        let scopes = self.scopes();
        let named = scopes
            .iter()
            .flat_map(|t| t.group_names.iter())
            .find(|n| n.eq_ignore_ascii_case(display_name));
        match named {
            Some(name) => record(tx, name, group_id).await,
            None => Ok(()),
        }
    }
}

/// Records `name` as meaning group `id`, unless it already means a group that still exists.
async fn record(tx: &mut Tx, name: &str, id: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO scope_groups (name, group_id) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET group_id = excluded.group_id
         WHERE NOT EXISTS (SELECT 1 FROM groups WHERE id = scope_groups.group_id)",
        args![name, id],
    )
    .await?;
    Ok(())
}

/// Whether `path` is `groups.<sub>` (or `<sub>` inside `groups[…]`).
fn groups_sub(path: &AttrPath, inside_groups: bool) -> Option<&str> {
    match (inside_groups, path.uri.as_deref(), &path.sub) {
        (false, None, Some(sub)) if path.name.eq_ignore_ascii_case("groups") => Some(sub.as_str()),
        (true, _, None) => Some(path.name.as_str()),
        _ => None,
    }
}

/// The groups a scope names by `display eq` or `value eq`.
fn collect(filter: &Filter, inside: bool, out: &mut Vec<GroupRef>) {
    match filter {
        Filter::Compare(path, CompareOp::Eq, CompValue::Str(text)) => match groups_sub(path, inside) {
            Some(sub) if sub.eq_ignore_ascii_case("display") => out.push(GroupRef::Name(text.clone())),
            Some(sub) if sub.eq_ignore_ascii_case("value") => out.push(GroupRef::Id(text.clone())),
            _ => {}
        },
        Filter::ValuePath(path, inner) if path.name.eq_ignore_ascii_case("groups") => collect(inner, true, out),
        Filter::And(terms) | Filter::Or(terms) => terms.iter().for_each(|t| collect(t, inside, out)),
        Filter::Not(inner) => collect(inner, inside, out),
        _ => {}
    }
}

/// Whether a scope tests a group's name other than by `eq`.
fn loosely(filter: &Filter, inside: bool) -> bool {
    let names_display = |path: &AttrPath| groups_sub(path, inside).is_some_and(|s| s.eq_ignore_ascii_case("display"));
    match filter {
        Filter::Compare(path, op, _) => *op != CompareOp::Eq && names_display(path),
        Filter::Present(path) => names_display(path),
        Filter::ValuePath(path, inner) => path.name.eq_ignore_ascii_case("groups") && loosely(inner, true),
        Filter::And(terms) | Filter::Or(terms) => terms.iter().any(|t| loosely(t, inside)),
        Filter::Not(inner) => loosely(inner, inside),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_groups_a_scope_names_are_found_wherever_they_appear() {
        let names = |scope: &str| {
            let filter: Filter = scope.parse().unwrap();
            let mut refs = Vec::new();
            collect(&filter, false, &mut refs);
            (refs, loosely(&filter, false))
        };
        let name = |n: &str| GroupRef::Name(n.into());
        assert_eq!(names(r#"groups.display eq "A""#), (vec![name("A")], false));
        assert_eq!(
            names(r#"groups[display eq "A"] or groups.value eq "g-2""#),
            (vec![name("A"), GroupRef::Id("g-2".into())], false)
        );
        assert_eq!(
            names(r#"title eq "x" and not (groups.display eq "B")"#),
            (vec![name("B")], false)
        );
        assert_eq!(names(r#"groups.display sw "Work""#), (vec![], true));
        assert_eq!(names(r#"displayName eq "A""#), (vec![], false));
    }
}
