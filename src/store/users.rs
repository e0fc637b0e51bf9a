//! The `users` table (its `user_emails` index rows are kept by triggers, see migrations/).
use super::db::{args, Arg, Dialect};
use super::query::USERS;
use super::resource::{Page, StoredResource};
use super::{Store, StoreError};
use crate::scim::list::ListQuery;
use crate::scim::resource::{Document, Version};
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, LazyLock};

/// A stored user row.
pub type StoredUser = StoredResource;

/// The values of a document that have columns of their own (e-mails are indexed by trigger).
struct Indexed<'d> {
    user_name: &'d str,
    external_id: Option<&'d str>,
}

fn indexed(document: &Document) -> Indexed<'_> {
    Indexed {
        user_name: document.get("userName").and_then(Value::as_str).unwrap_or_default(),
        external_id: document.get("externalId").and_then(Value::as_str),
    }
}

const COLUMNS: &str = "u.id, u.doc, u.version, u.created, u.last_modified, NULL AS related";
const RETURNING: &str = "RETURNING id, doc, version, created, last_modified, NULL AS related";

/// The columns with the user's direct groups, read in the same statement (one index probe per
/// user), as JSON `[[id, displayName], …]`.
fn columns_with_groups(dialect: Dialect) -> &'static str {
    static SQLITE: LazyLock<String> = LazyLock::new(|| {
        "u.id, u.doc, u.version, u.created, u.last_modified,
         (SELECT json_group_array(json_array(g.id, g.display_name)) FROM group_members gm
          JOIN groups g ON g.id = gm.group_id WHERE gm.member_id = u.id) AS related"
            .to_owned()
    });
    static POSTGRES: LazyLock<String> = LazyLock::new(|| {
        "u.id, u.doc, u.version, u.created, u.last_modified,
         (SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name)), '[]')::text FROM group_members gm
          JOIN groups g ON g.id = gm.group_id WHERE gm.member_id = u.id) AS related"
            .to_owned()
    });
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

/// `SELECT` of one user with its groups (`FOR UPDATE` when `locking`, inside a write).
fn select_one(dialect: Dialect, locking: bool) -> String {
    let lock = if locking { dialect.for_update() } else { "" };
    format!(
        "SELECT {} FROM users u WHERE u.id = $1{lock}",
        columns_with_groups(dialect)
    )
}

/// Rounds of read, compute, write-if-unchanged before `change_user` computes inside the writer's
/// transaction.
const OPTIMISTIC_ROUNDS: usize = 3;

/// `UPDATE users … WHERE id AND version`: the one statement that writes a user's new version.
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE users SET user_name = $1, external_id = $2, doc = $3, version = version + 1, last_modified = $4
         WHERE id = $5 AND version = $6 {RETURNING}"
    )
});

fn update_args<'q>(
    id: &'q str,
    expected: Version,
    document: &'q Document,
    now: String,
) -> Result<Vec<Arg<'q>>, StoreError> {
    let fields = indexed(document);
    Ok(vec![
        fields.user_name.into(),
        fields.external_id.into(),
        serde_json::to_string(document)?.into(),
        now.into(),
        id.into(),
        expected.0.into(),
    ])
}

/// `INSERT INTO users … RETURNING`: a new user `id` holding `document`.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO users (id, user_name, external_id, doc, version, created, last_modified)
         VALUES ($1, $2, $3, $4, 1, $5, $5) {RETURNING}"
    )
});

fn insert_args<'q>(id: &'q str, document: &'q Document, now: String) -> Result<Vec<Arg<'q>>, StoreError> {
    let fields = indexed(document);
    Ok(vec![
        id.into(),
        fields.user_name.into(),
        fields.external_id.into(),
        serde_json::to_string(document)?.into(),
        now.into(),
    ])
}

/// A userName conflict, naming the userName.
fn named(e: StoreError, document: &Document) -> StoreError {
    e.naming("userName", indexed(document).user_name)
}

/// If-Match (when sent) must name the current version.
fn precondition(if_match: Option<&str>, current: Version) -> Result<(), StoreError> {
    match if_match {
        Some(tags) if !current.matches_header(tags) => Err(StoreError::VersionMismatch),
        _ => Ok(()),
    }
}

impl Store {
    /// Inserts a new user in one statement; `Conflict` when the userName is taken (case-insensitively).
    /// A `password` is held (sealed) only for the targets that take one, and only with a secrets key.
    pub async fn insert_user(&self, document: &Document, password: Option<&str>) -> Result<StoredUser, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let args = insert_args(&id, document, self.db.now())?;
        // Without targets the write is one statement; with them, its fan-out is queued with it.
        let rows = if self.scopes().is_empty() {
            self.db
                .write(&INSERT, &args)
                .await
                .map_err(|e| named(e.into(), document))?
        } else {
            let mut tx = self.db.begin().await?;
            let rows = tx.rows(&INSERT, &args).await.map_err(|e| named(e.into(), document))?;
            self.enqueue_user_and_commit(tx, &id, password).await?;
            rows
        };
        rows.into_iter().next().ok_or(StoreError::NotFound)
    }

    /// Inserts users in one transaction with their fan-out. A user whose userName is taken is
    /// left out alone (`ON CONFLICT DO NOTHING` returns no row; the transaction goes on) and
    /// answers its conflict. `Err` when the transaction as a whole fails: then none was written.
    pub async fn insert_users(
        &self,
        users: &[(&Document, Option<&str>)],
    ) -> Result<Vec<Result<StoredUser, StoreError>>, StoreError> {
        static INSERT_UNLESS_TAKEN: LazyLock<String> =
            LazyLock::new(|| INSERT.replace("RETURNING", "ON CONFLICT DO NOTHING RETURNING"));
        let mut tx = self.db.begin().await?;
        let (mut outcomes, mut queued) = (Vec::with_capacity(users.len()), 0);
        for (document, password) in users {
            let id = uuid::Uuid::new_v4().to_string();
            let rows: Vec<StoredUser> = tx
                .rows(&INSERT_UNLESS_TAKEN, &insert_args(&id, document, tx.now())?)
                .await?;
            match rows.into_iter().next() {
                None => outcomes.push(Err(named(
                    StoreError::Conflict {
                        constraint: "userName",
                        value: None,
                    },
                    document,
                ))),
                Some(user) => {
                    queued += self.enqueue_user(&mut tx, &id, *password).await?;
                    outcomes.push(Ok(user));
                }
            }
        }
        self.commit_and_wake(tx, queued).await?;
        Ok(outcomes)
    }

    pub async fn get_user(&self, id: &str) -> Result<StoredUser, StoreError> {
        let sql = select_one(self.db.dialect(), false);
        self.db
            .read::<StoredUser>(&sql, args![id])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// Changes user `id` to what `change` computes from its current document: the new document,
    /// and a password when the client sent one. `if_match` (the request's If-Match tags) must name
    /// the current version, else `VersionMismatch`. A change that leaves the document as it was,
    /// with no password, writes nothing (Entra repeats `active` PATCHes).
    ///
    /// Each round reads, computes and writes only if the version is unchanged; a lost race without
    /// If-Match is computed again, so concurrent changes all apply. After `OPTIMISTIC_ROUNDS` lost
    /// races the change is computed inside the write transaction instead, which orders the racing
    /// writers at the cost of computing while holding it.
    pub async fn change_user<E, F, Fut>(&self, id: &str, if_match: Option<&str>, change: F) -> Result<StoredUser, E>
    where
        E: From<StoreError>,
        F: Fn(Arc<Document>) -> Fut,
        Fut: Future<Output = Result<(Document, Option<String>), E>>,
    {
        for _ in 0..OPTIMISTIC_ROUNDS {
            let current = self.get_user(id).await?;
            precondition(if_match, current.version())?;
            let before = Arc::new(current.document()?);
            let (after, password) = change(before.clone()).await?;
            if after == *before && password.is_none() {
                return Ok(current);
            }
            match self
                .write_user(id, current.version(), &after, password.as_deref())
                .await
            {
                // A change of the user's own document leaves its group memberships as they were read.
                Ok(saved) => {
                    return Ok(StoredUser {
                        related: current.related,
                        ..saved
                    })
                }
                Err(StoreError::VersionMismatch) if if_match.is_none() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.change_user_in_order(id, if_match, change).await
    }

    /// `change_user`'s last round: read, compute and write inside one write transaction.
    async fn change_user_in_order<E, F, Fut>(
        &self,
        id: &str,
        if_match: Option<&str>,
        change: F,
    ) -> Result<StoredUser, E>
    where
        E: From<StoreError>,
        F: Fn(Arc<Document>) -> Fut,
        Fut: Future<Output = Result<(Document, Option<String>), E>>,
    {
        let mut tx = self.db.begin().await.map_err(StoreError::from)?;
        let sql = select_one(tx.dialect(), true);
        let current = tx
            .rows::<StoredUser>(&sql, args![id])
            .await
            .map_err(StoreError::from)?
            .pop()
            .ok_or(StoreError::NotFound)?;
        precondition(if_match, current.version())?;
        let before = Arc::new(current.document()?);
        let (after, password) = change(before.clone()).await?;
        if after == *before && password.is_none() {
            return Ok(current);
        }
        let saved = tx
            .rows::<StoredUser>(&UPDATE, &update_args(id, current.version(), &after, tx.now())?)
            .await
            .map_err(|e| named(e.into(), &after))?
            .pop()
            .ok_or(StoreError::NotFound)?;
        self.enqueue_user_and_commit(tx, id, password.as_deref()).await?;
        Ok(StoredUser {
            related: current.related,
            ..saved
        })
    }

    /// Writes `document` as user `id`'s new version if its version is still `expected`, in one
    /// statement (with its fan-out, when there are targets); `VersionMismatch` when another write
    /// came first.
    pub async fn write_user(
        &self,
        id: &str,
        expected: Version,
        document: &Document,
        password: Option<&str>,
    ) -> Result<StoredUser, StoreError> {
        let args = update_args(id, expected, document, self.db.now())?;
        let updated = if self.scopes().is_empty() {
            self.db.write::<StoredUser>(&UPDATE, &args).await
        } else {
            let mut tx = self.db.begin().await?;
            let updated = tx.rows::<StoredUser>(&UPDATE, &args).await;
            if matches!(&updated, Ok(rows) if !rows.is_empty()) {
                self.enqueue_user_and_commit(tx, id, password).await?;
            }
            updated
        };
        match updated.map_err(|e| named(e.into(), document))?.pop() {
            Some(user) => Ok(user),
            None => Err(self.missing_or_changed(id).await),
        }
    }

    /// Deletes user `id`; with `expected`, only if its version still matches. With targets, the last
    /// document is kept as a tombstone (invisible to SCIM) until every target has been told.
    pub async fn delete_user(&self, id: &str, expected: Option<Version>) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        let expected = expected.map(|v| v.0);
        if !self.scopes().is_empty() {
            tx.execute(
                "INSERT INTO user_tombstones (id, doc, deleted_at)
                 SELECT id, doc, $3 FROM users WHERE id = $1 AND ($2 IS NULL OR version = $2)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, deleted_at = excluded.deleted_at",
                args![id, expected, tx.now()],
            )
            .await?;
        }
        let done = tx
            .execute(
                "DELETE FROM users WHERE id = $1 AND ($2 IS NULL OR version = $2)",
                args![id, expected],
            )
            .await?;
        if done == 0 {
            drop(tx);
            return Err(self.missing_or_changed(id).await);
        }
        // Still-linked targets are queued to remove (or deactivate) the user there; with nothing
        // queued, the tombstone goes at once. An undelivered password is no longer wanted.
        let queued = self.enqueue(&mut tx, &[id], |_| true).await?;
        tx.execute("DELETE FROM password_handover WHERE resource_id = $1", args![id])
            .await?;
        super::sync_queue::purge_tombstone(&mut tx, id).await?;
        self.commit_and_wake(tx, queued).await
    }

    /// A deleted user's last document, while a target still has to be told.
    pub async fn tombstone(&self, id: &str) -> Result<Option<Document>, StoreError> {
        let rows: Vec<(String,)> = self
            .db
            .read("SELECT doc FROM user_tombstones WHERE id = $1", args![id])
            .await?;
        rows.into_iter()
            .next()
            .map(|(doc,)| serde_json::from_str(&doc).map_err(StoreError::from))
            .transpose()
    }

    /// After a conditional write touched nothing: was the row gone, or at another version?
    async fn missing_or_changed(&self, id: &str) -> StoreError {
        let found = self
            .db
            .write::<(i64,)>("SELECT version FROM users WHERE id = $1", args![id])
            .await
            .map(|mut rows| rows.pop());
        match found {
            Ok(Some(_)) => StoreError::VersionMismatch,
            Ok(None) => StoreError::NotFound,
            Err(e) => e.into(),
        }
    }

    /// One page of users matching the query, with their groups when the projection may show them.
    pub async fn list_users(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let columns = if query.projection.may_include("groups") {
            columns_with_groups(self.db.dialect())
        } else {
            COLUMNS
        };
        self.list_rows(&USERS, self.user_schema, columns, query).await
    }
}
