//! The `groups` table and membership rows (`group_members`): a membership change costs the same in a
//! group of ten or of 100,000 members, because it touches only the rows it names.
use super::db::{args, Dialect, Tx};
use super::query::GROUPS;
use super::resource::{Page, StoredResource};
use super::{Store, StoreError};
use crate::scim::eval::element_matches;
use crate::scim::list::ListQuery;
use crate::scim::members::{MemberOp, MemberRef, MemberType};
use crate::scim::resource::{Document, Version};
use crate::scim::{schema, ScimError};
use serde_json::{json, Value};

/// A stored group row (members are not in its document).
pub type StoredGroup = StoredResource;

/// One membership row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberRow {
    pub member_id: String,
    pub member_type: String,
    pub display: Option<String>,
}

/// The outcome of a group write: the group as stored, and the members that joined or left it (for
/// fan-out: a membership change is a change of the member).
#[derive(Debug)]
pub struct GroupChange {
    pub group: StoredGroup,
    pub affected_members: Vec<String>,
}

const COLUMNS: &str = "u.id, u.doc, u.version, u.created, u.last_modified, NULL AS related";
const RETURNING: &str = "RETURNING id, doc, version, created, last_modified, NULL AS related";

fn display_name(document: &Document) -> &str {
    document.get("displayName").and_then(Value::as_str).unwrap_or_default()
}

/// A displayName conflict, naming the displayName.
fn named(e: StoreError, document: &Document) -> StoreError {
    e.naming("displayName", display_name(document))
}

fn external_id(document: &Document) -> Option<&str> {
    document.get("externalId").and_then(Value::as_str)
}

impl Store {
    /// THE fan-out hook of membership: called with the transaction of every membership change of
    /// group `group_id` and the members that joined or left. A membership change is a change of the
    /// member: each affected user is queued, in this same transaction, for every target whose
    /// `scope` names groups or whose entitlement rules name this group (and no other target: a
    /// group no rule names costs those targets nothing).
    async fn members_changed(&self, mut tx: Tx, group_id: &str, affected: &[String]) -> Result<(), StoreError> {
        if affected.is_empty() {
            return self.commit_and_wake(tx, 0).await;
        }
        let refs = match self.scopes().iter().any(|t| !t.entitlement_groups.is_empty()) {
            true => group_refs(&mut tx, group_id).await?,
            false => Vec::new(),
        };
        let ids: Vec<&str> = affected.iter().map(String::as_str).collect();
        self.enqueue_for_and_commit(tx, &ids, |t| t.uses_groups || t.entitles(&refs))
            .await
    }

    /// Creates a group with its members in one transaction.
    pub async fn insert_group(&self, document: &Document, members: &[MemberRef]) -> Result<GroupChange, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "INSERT INTO groups (id, display_name, external_id, doc, version, created, last_modified)
             VALUES ($1, $2, $3, $4, 1, $5, $5) {RETURNING}"
        );
        let doc = serde_json::to_string(document)?;
        let group = tx
            .rows::<StoredGroup>(
                &sql,
                args![&id, display_name(document), external_id(document), &doc, tx.now()],
            )
            .await
            .map_err(|e| named(e.into(), document))?
            .pop()
            .ok_or(StoreError::NotFound)?;
        self.group_named(&mut tx, display_name(document), &id).await?;
        let affected = add_members(&mut tx, &id, members).await?;
        self.members_changed(tx, &id, &affected).await?;
        Ok(GroupChange {
            group,
            affected_members: affected,
        })
    }

    pub async fn get_group(&self, id: &str) -> Result<StoredGroup, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM groups u WHERE u.id = $1");
        self.db
            .read::<StoredGroup>(&sql, args![id])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// Every member of a group, in id order.
    pub async fn group_members(&self, id: &str) -> Result<Vec<MemberRow>, StoreError> {
        Ok(self
            .db
            .read(
                "SELECT member_id, member_type, display FROM group_members WHERE group_id = $1 ORDER BY member_id",
                args![id],
            )
            .await?)
    }

    pub async fn list_groups(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.list_rows(&GROUPS, schema::group(), COLUMNS, query).await
    }

    /// Changes group `id` in one write transaction: `change` gets the current document and returns
    /// the new document and the member operations to apply, in order. `if_match` (the request's
    /// If-Match tags) must name the current version, else `VersionMismatch`. The version moves when
    /// the document or any membership row changed.
    pub async fn change_group<E: From<StoreError>>(
        &self,
        id: &str,
        if_match: Option<&str>,
        change: impl FnOnce(Document) -> Result<(Document, Vec<MemberOp>), E>,
    ) -> Result<GroupChange, E> {
        let mut tx = self.db.begin().await.map_err(StoreError::from)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM groups u WHERE u.id = $1{}",
            tx.dialect().for_update()
        );
        let rows = tx
            .rows::<StoredGroup>(&sql, args![id])
            .await
            .map_err(StoreError::from)?;
        let current = rows.into_iter().next().ok_or(StoreError::NotFound)?;
        if if_match.is_some_and(|tags| !current.version().matches_header(tags)) {
            return Err(StoreError::VersionMismatch.into());
        }
        let before = current.document()?;
        let (after, member_ops) = change(before.clone())?;
        let mut affected = Vec::new();
        for op in &member_ops {
            affected.extend(apply_member_op(&mut tx, id, op).await?);
        }
        if after == before && affected.is_empty() {
            return Ok(GroupChange {
                group: current,
                affected_members: affected,
            });
        }
        let sql = format!(
            "UPDATE groups SET display_name = $1, external_id = $2, doc = $3, version = version + 1, last_modified = $4
             WHERE id = $5 {RETURNING}"
        );
        let doc = serde_json::to_string(&after).map_err(StoreError::from)?;
        let group = tx
            .rows::<StoredGroup>(
                &sql,
                args![display_name(&after), external_id(&after), &doc, tx.now(), id],
            )
            .await
            .map_err(|e| named(e.into(), &after))?
            .pop()
            .ok_or(StoreError::NotFound)?;
        let renamed = !display_name(&before).eq_ignore_ascii_case(display_name(&after));
        if renamed {
            self.group_named(&mut tx, display_name(&after), id).await?;
        }
        if renamed && self.scopes().iter().any(|t| t.uses_group_names) {
            // A scope matching this group by name may have gained or lost every member.
            let members: Vec<(String,)> = tx
                .rows("SELECT member_id FROM group_members WHERE group_id = $1", args![id])
                .await
                .map_err(StoreError::from)?;
            let ids: Vec<&str> = members.iter().map(|(m,)| m.as_str()).collect();
            self.enqueue(&mut tx, &ids, |t| t.uses_group_names).await?;
        }
        affected.sort();
        affected.dedup();
        self.members_changed(tx, id, &affected).await?;
        Ok(GroupChange {
            group,
            affected_members: affected,
        })
    }

    /// Deletes group `id` (its membership rows go with it, and it leaves the groups it was in).
    pub async fn delete_group(&self, id: &str, expected: Option<Version>) -> Result<Vec<String>, StoreError> {
        let mut tx = self.db.begin().await?;
        let members: Vec<(String,)> = tx
            .rows("SELECT member_id FROM group_members WHERE group_id = $1", args![id])
            .await?;
        let done = tx
            .execute(
                "DELETE FROM groups WHERE id = $1 AND ($2 IS NULL OR version = $2)",
                args![id, expected.map(|v| v.0)],
            )
            .await?;
        if done == 0 {
            let exists: Vec<(i32,)> = tx.rows("SELECT 1 FROM groups WHERE id = $1", args![id]).await?;
            return Err(if exists.is_empty() {
                StoreError::NotFound
            } else {
                StoreError::VersionMismatch
            });
        }
        let affected: Vec<String> = members.into_iter().map(|(m,)| m).collect();
        self.members_changed(tx, id, &affected).await?;
        Ok(affected)
    }
}

/// How rules may name group `group_id`: its id and the names recorded for it (`scope_groups`).
async fn group_refs(tx: &mut Tx, group_id: &str) -> Result<Vec<String>, StoreError> {
    let names: Vec<(String,)> = tx
        .rows("SELECT name FROM scope_groups WHERE group_id = $1", args![group_id])
        .await?;
    Ok(std::iter::once(group_id.to_owned())
        .chain(names.into_iter().map(|(n,)| n))
        .collect())
}

async fn apply_member_op(tx: &mut Tx, group_id: &str, op: &MemberOp) -> Result<Vec<String>, StoreError> {
    match op {
        MemberOp::Add(members) => add_members(tx, group_id, members).await,
        MemberOp::Remove(ids) => remove_members(tx, group_id, ids).await,
        MemberOp::RemoveAll => {
            let rows: Vec<(String,)> = tx
                .rows(
                    "DELETE FROM group_members WHERE group_id = $1 RETURNING member_id",
                    args![group_id],
                )
                .await?;
            Ok(rows.into_iter().map(|(m,)| m).collect())
        }
        MemberOp::Replace(members) => {
            let keep: Vec<&str> = members.iter().map(|m| m.value.as_str()).collect();
            let sql = format!(
                "DELETE FROM group_members WHERE group_id = $1 AND member_id NOT IN ({}) RETURNING member_id",
                tx.dialect().json_texts("$2")
            );
            let rows: Vec<(String,)> = tx.rows(&sql, args![group_id, json!(keep).to_string()]).await?;
            let mut affected: Vec<String> = rows.into_iter().map(|(m,)| m).collect();
            affected.extend(add_members(tx, group_id, members).await?);
            Ok(affected)
        }
        MemberOp::RemoveWhere(filter) => {
            let rows: Vec<MemberRow> = tx
                .rows(
                    "SELECT member_id, member_type, display FROM group_members WHERE group_id = $1",
                    args![group_id],
                )
                .await?;
            let members_def = schema::group().core.attribute("members").ok_or(StoreError::NotFound)?;
            let mut ids = Vec::new();
            for row in rows {
                let element = json!({"value": row.member_id, "type": row.member_type, "display": row.display});
                if element_matches(filter, &element, members_def).map_err(StoreError::Invalid)? {
                    ids.push(row.member_id);
                }
            }
            remove_members(tx, group_id, &ids).await
        }
    }
}

/// Adds members that are not there yet; returns those actually added. Every id must be an existing
/// User or Group (400 `invalidValue` naming the first that is not), and not the group itself.
async fn add_members(tx: &mut Tx, group_id: &str, members: &[MemberRef]) -> Result<Vec<String>, StoreError> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = members.iter().map(|m| m.value.as_str()).collect();
    let elements = match tx.dialect() {
        Dialect::Sqlite => "json_each($1) AS j",
        Dialect::Postgres => "json_array_elements_text($1::json) WITH ORDINALITY AS j(value, key)",
    };
    let sql = format!(
        "SELECT j.key, CASE WHEN EXISTS (SELECT 1 FROM users WHERE id = j.value) THEN 'User'
                            WHEN EXISTS (SELECT 1 FROM groups WHERE id = j.value) THEN 'Group' END
         FROM {elements} ORDER BY j.key"
    );
    let kinds: Vec<(i64, Option<String>)> = tx.rows(&sql, args![json!(ids).to_string()]).await?;
    let mut rows = Vec::with_capacity(members.len());
    for (member, (_, kind)) in members.iter().zip(kinds) {
        rows.push(json!([
            member.value,
            checked_kind(group_id, member, kind)?.as_str(),
            member.display
        ]));
    }
    let elements = match tx.dialect() {
        Dialect::Sqlite => "json_each($2) AS j",
        Dialect::Postgres => "json_array_elements($2::json) AS j(value)",
    };
    // `WHERE TRUE`: SQLite reads `ON CONFLICT` after a bare `FROM` as a join constraint.
    let sql = format!(
        "INSERT INTO group_members (group_id, member_id, member_type, display)
         SELECT $1, j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM {elements} WHERE TRUE
         ON CONFLICT DO NOTHING RETURNING member_id"
    );
    let added: Vec<(String,)> = tx.rows(&sql, args![group_id, Value::Array(rows).to_string()]).await?;
    Ok(added.into_iter().map(|(m,)| m).collect())
}

fn checked_kind(group_id: &str, member: &MemberRef, found: Option<String>) -> Result<MemberType, StoreError> {
    let invalid = |detail: String| StoreError::Invalid(ScimError::invalid_value(detail));
    if member.value == group_id {
        return Err(invalid("a group cannot be a member of itself".into()));
    }
    let kind = found
        .as_deref()
        .and_then(MemberType::parse)
        .ok_or_else(|| invalid(format!("member '{}' is neither a User nor a Group", member.value)))?;
    match member.kind {
        Some(claimed) if claimed != kind => Err(invalid(format!(
            "member '{}' is a {kind}, not a {claimed}",
            member.value
        ))),
        _ => Ok(kind),
    }
}

async fn remove_members(tx: &mut Tx, group_id: &str, ids: &[String]) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "DELETE FROM group_members WHERE group_id = $1 AND member_id IN ({}) RETURNING member_id",
        tx.dialect().json_texts("$2")
    );
    let rows: Vec<(String,)> = tx.rows(&sql, args![group_id, json!(ids).to_string()]).await?;
    Ok(rows.into_iter().map(|(m,)| m).collect())
}
