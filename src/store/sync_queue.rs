//! Enqueueing fan-out work in the transaction of the change that causes it (docs/architecture.md: the row
//! is written with the change, so a committed change always has its work queued).
use super::db::{args, Arg, Dialect, Tx};
use super::query::{Compiler, Sql, USERS_IN_SCOPE};
use super::resource::arguments;
use super::states::QueueState;
use super::StoreError;
use crate::scim::{schema, Filter, ScimError};

/// Parameters before a scope's own in the statements that embed it (`enqueue_user`, `sync_view`).
pub(super) const ENQUEUE_PARAMS: usize = 4;
pub(super) const VIEW_PARAMS: usize = 2;

/// A target as the store needs it: its name, and its scope compiled to SQL over `users u`, once
/// for each statement that embeds it (their parameters are numbered).
#[derive(Debug)]
pub struct TargetScope {
    pub name: String,
    pub(super) enqueue_scope: Option<Sql>,
    pub(super) view_scope: Option<Sql>,
    /// The scope names `groups`, so membership changes move users in or out of it.
    pub uses_groups: bool,
    /// The scope tests groups' names other than by `eq`: a rename moves users.
    pub uses_group_names: bool,
    /// The names it compares with `groups.display eq`, followed by the group they first meant.
    pub group_names: Vec<String>,
    /// The vendor takes users' passwords, so one the IdP sends is held (sealed) until delivered.
    pub takes_passwords: bool,
    /// The SCIM groups its entitlement rules name (displayName or id): a membership change of one
    /// of them queues the members that joined or left, and reading a row reads the user's groups.
    pub entitlement_groups: Vec<String>,
}

impl TargetScope {
    /// The same scope, told what it says of groups.
    pub fn with_groups(self, groups: super::ScopeGroups) -> Self {
        Self {
            uses_group_names: groups.loosely,
            group_names: groups.names,
            ..self
        }
    }

    /// The same scope, told which SCIM groups its entitlement rules name. Their names are recorded
    /// with their group like a scope's (`Store::group_named`), so a rename changes nothing.
    pub fn with_entitlement_groups(mut self, groups: Vec<String>) -> Self {
        self.group_names.extend(groups.iter().cloned());
        self.entitlement_groups = groups;
        self
    }

    /// Whether a rule names the group known by `refs` (its id and the names recorded for it).
    pub fn entitles(&self, refs: &[String]) -> bool {
        self.entitlement_groups.iter().any(|g| refs.contains(g))
    }

    pub fn new(
        name: &str,
        scope: Option<&Filter>,
        takes_passwords: bool,
        schema: &schema::ResourceSchema,
        dialect: Dialect,
    ) -> Result<Self, ScimError> {
        let uses_groups = scope.is_some_and(|f| f.paths().iter().any(|p| p.name.eq_ignore_ascii_case("groups")));
        let compiled = |before: usize| {
            scope
                .map(|f| {
                    Compiler::new(schema, &USERS_IN_SCOPE, dialect)
                        .numbered_from(before + 1)
                        .filter(f)
                })
                .transpose()
        };
        Ok(Self {
            name: name.to_owned(),
            enqueue_scope: compiled(ENQUEUE_PARAMS)?,
            view_scope: compiled(VIEW_PARAMS)?,
            uses_groups,
            uses_group_names: false,
            group_names: Vec::new(),
            takes_passwords,
            entitlement_groups: Vec::new(),
        })
    }
}

/// Queues user `id` for every target it is in (by scope) or still linked to (it may just have
/// left the scope, or been deleted). A row already waiting is coalesced: its generation moves on and
/// it is due now. The row records the SCIM request being served, if any, as its cause (its
/// events name it). Returns how many rows were queued or moved.
pub(super) async fn enqueue_user(tx: &mut Tx, targets: &[&TargetScope], id: &str) -> Result<u64, StoreError> {
    let mut queued = 0;
    let now = tx.now();
    let cause = crate::audit::current_request();
    for target in targets {
        let (scope, scope_binds) = target
            .enqueue_scope
            .as_ref()
            .map_or(("TRUE", &[][..]), |s| (s.text.as_str(), &s.binds[..]));
        // A row already queued (perhaps in flight, its create not yet linked) moves on too, so that
        // the worker looks again after a delete that raced with it. The scope's parameters follow
        // the ENQUEUE_PARAMS of the statement.
        let sql = format!(
            "INSERT INTO sync_queue (resource_id, target, due_at, enqueued_at, cause)
             SELECT $1, $2, $3, $3, $4
             WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND ({scope}))
                OR EXISTS (SELECT 1 FROM links l WHERE l.resource_id = $1 AND l.target = $2 AND l.state <> 'gone')
                OR EXISTS (SELECT 1 FROM sync_queue q WHERE q.resource_id = $1 AND q.target = $2)
             ON CONFLICT (resource_id, target) DO UPDATE SET
                 due_at = excluded.due_at, generation = sync_queue.generation + 1,
                 state = 'pending', attempts = 0, last_error = NULL, cause = excluded.cause"
        );
        let mut binds: Vec<Arg<'_>> = args![id, &target.name, &now, &cause].to_vec();
        binds.extend(arguments(scope_binds));
        queued += tx.execute(&sql, &binds).await?;
    }
    Ok(queued)
}

/// Holds a sealed password for (user, target) while that target has a row queued for the user (a
/// newer password replaces an undelivered one).
pub(super) async fn hand_over_password(tx: &mut Tx, id: &str, target: &str, sealed: &[u8]) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO password_handover (resource_id, target, sealed, created)
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM sync_queue WHERE resource_id = $1 AND target = $2)
         ON CONFLICT (resource_id, target) DO UPDATE SET sealed = excluded.sealed, created = excluded.created",
        args![id, target, sealed, tx.now()],
    )
    .await?;
    Ok(())
}

/// Drops user `id`'s tombstone once no target has a row queued for it (pending or dead: a dead row
/// may be retried by an operator, and needs the document).
pub(super) async fn purge_tombstone(tx: &mut Tx, id: &str) -> Result<(), StoreError> {
    // PostgreSQL: two targets finishing the same deleted user at once would each still see the
    // other's row and both keep the tombstone; the lock makes the second look after the first commits.
    if tx.dialect() == super::db::Dialect::Postgres {
        let _: Vec<(i32,)> = tx
            .rows("SELECT 1 FROM user_tombstones WHERE id = $1 FOR UPDATE", args![id])
            .await?;
    }
    tx.execute(
        "DELETE FROM user_tombstones WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM sync_queue WHERE resource_id = $1)",
        args![id],
    )
    .await?;
    Ok(())
}

/// One queued (user, target) row, as operators and tests see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncRow {
    pub resource_id: String,
    pub target: String,
    pub state: QueueState,
    pub generation: i64,
    pub attempts: i64,
    pub due_at: String,
    pub last_error: Option<String>,
}

impl super::Store {
    /// Queued rows counted by (target, state), for `/metrics` and `sync status`.
    pub async fn queue_counts(&self) -> Result<Vec<(String, QueueState, i64)>, StoreError> {
        Ok(self
            .db
            .read(
                "SELECT target, state, count(*) FROM sync_queue GROUP BY target, state ORDER BY target, state",
                args![],
            )
            .await?)
    }

    /// When each target's oldest pending row was first queued: how long the slowest change has
    /// waited to reach the vendor (`scim_bridge_sync_oldest_pending_seconds`).
    pub async fn oldest_pending(&self) -> Result<Vec<(String, time::OffsetDateTime)>, StoreError> {
        let rows: Vec<(String, super::timestamp::Timestamp)> = self
            .db
            .read(
                "SELECT target, min(enqueued_at) FROM sync_queue WHERE state = 'pending' GROUP BY target ORDER BY target",
                args![],
            )
            .await?;
        Ok(rows.into_iter().map(|(target, at)| (target, at.0)).collect())
    }

    /// Every queued row, by target then user.
    pub async fn sync_rows(&self) -> Result<Vec<SyncRow>, StoreError> {
        Ok(self
            .db
            .read(
                "SELECT resource_id, target, state, generation, attempts, due_at, last_error FROM sync_queue
                 ORDER BY target, resource_id",
                args![],
            )
            .await?)
    }
}
