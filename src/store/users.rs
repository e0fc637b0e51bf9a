//! The `users` table and its `user_emails` index rows.
use super::query::{order_by, Bind, Compiler};
use super::{now_timestamp, Store, StoreError};
use crate::scim::list::ListQuery;
use crate::scim::resource::{Document, Version};
use crate::scim::schema;
use crate::scim::ScimError;
use serde_json::Value;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, FromRow, Sqlite, Transaction};

/// A stored user row.
#[derive(Debug, Clone, FromRow)]
pub struct StoredUser {
    pub id: String,
    pub doc: String,
    pub version: i64,
    pub created: String,
    pub last_modified: String,
}

impl StoredUser {
    pub fn document(&self) -> Result<Document, StoreError> {
        Ok(serde_json::from_str(&self.doc)?)
    }

    pub fn version(&self) -> Version {
        Version(self.version)
    }
}

/// One page of a list request.
#[derive(Debug)]
pub struct UserPage {
    pub total: usize,
    pub users: Vec<StoredUser>,
}

/// The values of a document that have columns or index rows of their own.
struct Indexed<'d> {
    user_name: &'d str,
    external_id: Option<&'d str>,
    emails: Vec<&'d str>,
}

fn indexed(document: &Document) -> Indexed<'_> {
    let emails = document
        .get("emails")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|e| e.get("value").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    Indexed {
        user_name: document.get("userName").and_then(Value::as_str).unwrap_or_default(),
        external_id: document.get("externalId").and_then(Value::as_str),
        emails,
    }
}

const COLUMNS: &str = "u.id, u.doc, u.version, u.created, u.last_modified";

impl Store {
    /// Inserts a new user; `Conflict` when the userName is taken (case-insensitively).
    pub async fn insert_user(&self, document: &Document) -> Result<StoredUser, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_timestamp();
        let doc = serde_json::to_string(document)?;
        let fields = indexed(document);
        let mut tx = self.write.begin().await?;
        let user = sqlx::query_as::<_, StoredUser>(
            "INSERT INTO users (id, user_name, external_id, doc, version, created, last_modified)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5) RETURNING id, doc, version, created, last_modified",
        )
        .bind(&id)
        .bind(fields.user_name)
        .bind(fields.external_id)
        .bind(&doc)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        insert_emails(&mut tx, &id, &fields.emails).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn get_user(&self, id: &str) -> Result<StoredUser, StoreError> {
        Ok(
            sqlx::query_as::<_, StoredUser>(&format!("SELECT {COLUMNS} FROM users u WHERE u.id = ?1"))
                .bind(id)
                .fetch_one(&self.read)
                .await?,
        )
    }

    /// Reads user `id` and writes the document `change` computes from it, in one write transaction,
    /// so that concurrent changes apply one after the other and none is lost. `change` returning the
    /// same document writes nothing and keeps the version.
    pub async fn modify_user<E: From<StoreError>>(
        &self,
        id: &str,
        change: impl FnOnce(&StoredUser, Document) -> Result<Document, E>,
    ) -> Result<StoredUser, E> {
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        let current = sqlx::query_as::<_, StoredUser>(&format!("SELECT {COLUMNS} FROM users u WHERE u.id = ?1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let before = current.document()?;
        let after = change(&current, before.clone())?;
        if after == before {
            return Ok(current);
        }
        let user = update_in(&mut tx, id, &after).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(user)
    }

    /// Deletes user `id`; with `expected`, only if its version still matches.
    pub async fn delete_user(&self, id: &str, expected: Option<Version>) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM users WHERE id = ?1 AND (?2 IS NULL OR version = ?2)")
            .bind(id)
            .bind(expected.map(|v| v.0))
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(missing_or_changed(&mut tx, id).await);
        }
        tx.commit().await?;
        Ok(())
    }

    /// One page of users matching the query's filter, in its order, and the total count.
    pub async fn list_users(&self, query: &ListQuery) -> Result<UserPage, StoreError> {
        let schema = schema::user();
        let filter = match &query.filter {
            Some(f) => Some(Compiler::new(schema).filter(f).map_err(StoreError::Invalid)?),
            None => None,
        };
        let (where_sql, where_binds) = filter.map_or((String::from("1"), Vec::new()), |f| (f.text, f.binds));
        let count_sql = format!("SELECT count(*) FROM users u WHERE {where_sql}");
        let (total,): (i64,) = sqlx::query_as_with(&count_sql, arguments(&where_binds)?)
            .fetch_one(&self.read)
            .await?;
        if query.count == 0 {
            return Ok(UserPage {
                total: total as usize,
                users: Vec::new(),
            });
        }
        let mut binds = where_binds;
        let order =
            order_by(schema, query.sort_by.as_ref(), query.sort_order, &mut binds).map_err(StoreError::Invalid)?;
        binds.push(Bind::Int(query.count as i64));
        binds.push(Bind::Int(query.start_index as i64 - 1));
        let sql = format!("SELECT {COLUMNS} FROM users u WHERE {where_sql} ORDER BY {order} LIMIT ? OFFSET ?");
        let users = sqlx::query_as_with::<_, StoredUser, _>(&sql, arguments(&binds)?)
            .fetch_all(&self.read)
            .await?;
        Ok(UserPage {
            total: total as usize,
            users,
        })
    }
}

async fn update_in(tx: &mut Transaction<'_, Sqlite>, id: &str, document: &Document) -> Result<StoredUser, StoreError> {
    let fields = indexed(document);
    let user = sqlx::query_as::<_, StoredUser>(
        "UPDATE users SET user_name = ?1, external_id = ?2, doc = ?3, version = version + 1, last_modified = ?4
         WHERE id = ?5 RETURNING id, doc, version, created, last_modified",
    )
    .bind(fields.user_name)
    .bind(fields.external_id)
    .bind(serde_json::to_string(document)?)
    .bind(now_timestamp())
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM user_emails WHERE user_id = ?1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    insert_emails(tx, id, &fields.emails).await?;
    Ok(user)
}

async fn insert_emails(tx: &mut Transaction<'_, Sqlite>, id: &str, emails: &[&str]) -> Result<(), StoreError> {
    for email in emails {
        sqlx::query("INSERT INTO user_emails (user_id, value) VALUES (?1, ?2)")
            .bind(id)
            .bind(email)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// After a conditional write touched nothing: was the row gone, or at another version?
async fn missing_or_changed(tx: &mut Transaction<'_, Sqlite>, id: &str) -> StoreError {
    match sqlx::query_as::<_, (i64,)>("SELECT version FROM users WHERE id = ?1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
    {
        Ok(Some(_)) => StoreError::VersionMismatch,
        Ok(None) => StoreError::NotFound,
        Err(e) => e.into(),
    }
}

fn arguments(binds: &[Bind]) -> Result<SqliteArguments<'static>, StoreError> {
    let mut args = SqliteArguments::default();
    for b in binds {
        let added = match b {
            Bind::Text(s) => args.add(s.clone()),
            Bind::Int(i) => args.add(*i),
            Bind::Real(f) => args.add(*f),
        };
        added.map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
    }
    Ok(args)
}

/// Kept for symmetry with the other tables: a filter that cannot be compiled is the client's error.
impl From<ScimError> for StoreError {
    fn from(e: ScimError) -> Self {
        StoreError::Invalid(e)
    }
}
