//! What can go wrong in the store, named by what happened rather than by the library's error.
use sqlx::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique index refused the write; `constraint` names what was duplicated, `value` (when the
    /// store knows it) the value that is taken.
    #[error("conflict on {constraint}")]
    Conflict {
        constraint: &'static str,
        value: Option<String>,
    },
    /// The resource changed since the version the caller read (If-Match, or a concurrent PATCH).
    #[error("version mismatch")]
    VersionMismatch,
    /// The request cannot be expressed as a query (e.g. a filter comparing a boolean with `gt`).
    #[error(transparent)]
    Invalid(crate::scim::ScimError),
    /// The database could not be reached or gave up on the statement for a reason that passes
    /// (a dropped connection, a full pool, a server shutting down, a deadlock): worth a retry.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A stored value the code does not know (a newer version's word, a hand edit): refused,
    /// never taken for a default.
    #[error("a stored value cannot be read: {0}")]
    Unreadable(String),
    #[error("stored document is not valid JSON")]
    Corrupt(#[from] serde_json::Error),
    #[error(transparent)]
    Sealing(#[from] crate::secrets::SealError),
    /// A statement run through rusqlite (`Db::execute_each`, the request log's batches).
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the database file")]
    File(#[source] std::io::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                let constraint = if db.message().contains("user_name") {
                    "userName"
                } else if db.message().contains("display_name") {
                    "displayName"
                } else if db.message().contains("tokens.name") || db.constraint() == Some("tokens_current_name") {
                    "token name"
                } else {
                    "a unique value"
                };
                Self::Conflict {
                    constraint,
                    value: None,
                }
            }
            // A U+0000 escaped in a JSON document (PostgreSQL's JSON refuses it). Input checks refuse
            // it first; should one miss it, the client hears why rather than a 500.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22P05") => Self::Invalid(
                crate::scim::ScimError::invalid_value("a value holds U+0000 (NUL), which cannot be stored"),
            ),
            sqlx::Error::ColumnDecode { index, source } => Self::Unreadable(format!("column {index}: {source}")),
            _ if is_transient(&e) => Self::Unavailable(e),
            _ => Self::Database(e),
        }
    }
}

/// Errors after which the same statement may well succeed: the connection or the pool failed,
/// or PostgreSQL refused for the moment (SQLSTATE class 08 connection exception, 57P01-57P03
/// shutting down or starting, 40001 serialization failure, 40P01 deadlock).
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || ["57P01", "57P02", "57P03", "40001", "40P01"].contains(&&*code)
        }),
        _ => false,
    }
}

impl StoreError {
    /// A conflict on `field` said with the value that is taken (a conflict on another constraint
    /// is left as it is).
    pub fn naming(self, field: &str, value: &str) -> Self {
        match self {
            Self::Conflict { constraint, .. } if constraint == field => Self::Conflict {
                constraint,
                value: Some(value.to_owned()),
            },
            other => other,
        }
    }
}
