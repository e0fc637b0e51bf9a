//! The id-mapping table `links`: one row per (user, target), what the bridge last made the vendor
//! hold there, its state typed in the column.
use super::db::{args, Tx};
use super::{Store, StoreError};

pub use super::states::LinkState;

/// The id-mapping record for one (user, target), a `links` row: what we last made the vendor hold.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Link {
    pub state: LinkState,
    /// The vendor's own id, when it told us one.
    pub remote_id: Option<String>,
    /// The key the vendor's paths use (an e-mail for Workspace365).
    pub remote_key: Option<String>,
    /// A fingerprint of the attributes last pushed, to tell whether an update is due.
    pub pushed_hash: Option<String>,
    pub pushed_active: Option<bool>,
    /// The mapped fields the bridge last wrote a value to, one vendor name per line: only those
    /// are cleared when SCIM no longer holds a value (`None`: none, or not known for a link made
    /// before the column: nothing is cleared). Where entitlement rules manage vendor groups, a
    /// `groups:` line follows, then one `group:NAME` line per group the bridge holds the user in.
    pub written_fields: Option<String>,
}

/// The line that says a link records the user's vendor groups (those follow as `group:NAME`).
const GROUPS_RECORDED: &str = "groups:";
const GROUP_LINE: &str = "group:";

/// `written_fields` as a link records it: the field names, then the vendor groups (when managed).
pub fn written_record(fields: &str, groups: Option<&std::collections::BTreeSet<String>>) -> Option<String> {
    let mut lines: Vec<String> = fields.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if let Some(groups) = groups {
        lines.push(GROUPS_RECORDED.to_owned());
        lines.extend(groups.iter().map(|g| format!("{GROUP_LINE}{g}")));
    }
    Some(lines.join("\n")).filter(|w| !w.is_empty())
}

impl Link {
    /// The vendor groups the bridge last held the user in, where the link records them.
    pub fn recorded_groups(&self) -> Option<std::collections::BTreeSet<String>> {
        let written = self.written_fields.as_deref()?;
        written.lines().any(|l| l == GROUPS_RECORDED).then(|| {
            written
                .lines()
                .filter_map(|l| l.strip_prefix(GROUP_LINE))
                .map(str::to_owned)
                .collect()
        })
    }

    /// Whether the bridge last wrote a value to mapped field `name` at this record.
    pub fn wrote(&self, name: &str) -> bool {
        self.written_fields
            .as_deref()
            .is_some_and(|w| w.lines().any(|l| l == name))
    }
}

impl Store {
    pub async fn link(&self, resource_id: &str, target: &str) -> Result<Option<Link>, StoreError> {
        Ok(self
            .db
            .read::<Link>(
                "SELECT state, remote_id, remote_key, pushed_hash, pushed_active, written_fields FROM links
                 WHERE resource_id = $1 AND target = $2",
                args![resource_id, target],
            )
            .await?
            .pop())
    }

    /// Records the link in one statement (before a create, as `creating`: if the process dies after
    /// the vendor answered, the next attempt looks the user up instead of creating it twice).
    /// Returns the link's new revision.
    pub async fn save_link(&self, resource_id: &str, target: &str, link: &Link) -> Result<i64, StoreError> {
        let mut tx = self.db.begin().await?;
        let revision = upsert_link(&mut tx, resource_id, target, link).await?;
        tx.commit().await?;
        Ok(revision)
    }

    /// Forgets the `creating` link a leased row recorded before a call that was never sent (the
    /// vendor refused the sign-in): the row is back to unlinked, as before.
    pub async fn undo_creating(&self, claim: &super::Claim) -> Result<(), StoreError> {
        self.db
            .execute(
                "DELETE FROM links WHERE resource_id = $1 AND target = $2 AND state = 'creating'",
                args![&claim.resource_id, &claim.target],
            )
            .await?;
        Ok(())
    }

    /// Whether a user other than `resource_id` is linked at `target` to the same vendor record: the
    /// same vendor id, or the same key (an e-mail) where one of the two links has no id (a record
    /// adopted by e-mail). A deleted user's record that a new user with the same e-mail took over is
    /// then not removed from under it.
    pub async fn linked_elsewhere(&self, resource_id: &str, target: &str, link: &Link) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT 1 FROM links WHERE target = $2 AND resource_id <> $1 AND state <> 'gone'
               AND (remote_id = $3 OR ({} AND (remote_id IS NULL OR $3 IS NULL)))
             LIMIT 1",
            self.db.dialect().ci_eq("remote_key", "$4")
        );
        let rows: Vec<(i32,)> = self
            .db
            .read(&sql, args![resource_id, target, &link.remote_id, &link.remote_key])
            .await?;
        Ok(!rows.is_empty())
    }
}

/// Writes a link, moving its revision; returns the new revision.
pub(super) async fn upsert_link(tx: &mut Tx, resource_id: &str, target: &str, link: &Link) -> Result<i64, StoreError> {
    let revision: Vec<(i64,)> = tx
        .rows(
        "INSERT INTO links (resource_id, target, state, remote_id, remote_key, pushed_hash, pushed_active, updated_at, revision, written_fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)
         ON CONFLICT (resource_id, target) DO UPDATE SET state = excluded.state, remote_id = excluded.remote_id,
             remote_key = excluded.remote_key, pushed_hash = excluded.pushed_hash,
             pushed_active = excluded.pushed_active, updated_at = excluded.updated_at,
             written_fields = excluded.written_fields,
             revision = links.revision + 1
         RETURNING revision",
            args![
                resource_id,
                target,
                link.state.as_str(),
                &link.remote_id,
                &link.remote_key,
                &link.pushed_hash,
                link.pushed_active,
                tx.now(),
                &link.written_fields
            ],
        )
        .await?;
    Ok(revision.first().map_or(0, |(r,)| *r))
}
