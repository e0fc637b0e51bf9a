//! The two databases the store runs on, behind the few primitives every query goes through: read
//! rows, write rows, run a statement, and the same inside a transaction. The rest of the store
//! writes each statement once, with numbered parameters (`$1`: both SQLite and PostgreSQL read
//! them), and asks `Dialect` for the few fragments that differ.
use super::timestamp::Timestamp;
use super::warm::Warm;
use crate::clock::Clock;
use sqlx::postgres::{PgArguments, PgPool, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArguments, SqlitePool, SqliteRow};
use sqlx::{Arguments, FromRow, Transaction};
use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A row type both backends can read.
pub(super) trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// One parameter value, typed (PostgreSQL does not compare a number with text), `None` a typed NULL.
#[derive(Debug, Clone)]
pub(super) enum Arg<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
    Bytes(Option<&'a [u8]>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Self::Text(Some(Cow::Borrowed(s)))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Self::Text(Some(Cow::Borrowed(s)))
    }
}
impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Self::Text(Some(Cow::Owned(s)))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Self::Text(s.map(Cow::Borrowed))
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(s: &'a Option<String>) -> Self {
        Self::Text(s.as_deref().map(Cow::Borrowed))
    }
}
impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Self::Int(Some(n))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(n: Option<i64>) -> Self {
        Self::Int(n)
    }
}
impl From<f64> for Arg<'_> {
    fn from(x: f64) -> Self {
        Self::Real(Some(x))
    }
}
impl From<bool> for Arg<'_> {
    fn from(b: bool) -> Self {
        Self::Bool(Some(b))
    }
}
impl From<Option<bool>> for Arg<'_> {
    fn from(b: Option<bool>) -> Self {
        Self::Bool(b)
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(b: &'a [u8]) -> Self {
        Self::Bytes(Some(b))
    }
}
impl From<Timestamp> for Arg<'_> {
    fn from(t: Timestamp) -> Self {
        Self::Text(Some(Cow::Owned(super::format_timestamp(t.0))))
    }
}
impl From<Option<Timestamp>> for Arg<'_> {
    fn from(t: Option<Timestamp>) -> Self {
        t.map_or(Self::Text(None), Self::from)
    }
}

/// `args![a, b, c]`: the parameters `$1`, `$2`, `$3` of a statement.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::db::Arg::from($value)),*]
    };
}
pub(super) use args;

/// Adds `args` to a backend's argument buffer, in order.
///
/// PostgreSQL holds no U+0000 in text and refuses a statement that carries one, so a text keeps it
/// as U+FFFD, on both backends alike. SCIM bodies and filters never bring one this far
/// (resource/coerce.rs, members.rs and grammar.rs refuse it); what may is a vendor's words or remote
/// id, or an id in a URL or a console search, which then matches nothing stored instead of failing
/// the statement.
fn bind_all<'q, A>(mut out: A, args: &'q [Arg<'_>]) -> Result<A, sqlx::Error>
where
    A: Arguments<'q>,
    Option<&'q str>: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<String>: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<i64>: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<f64>: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<bool>: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<&'q [u8]>: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
{
    for arg in args {
        let added = match arg {
            Arg::Text(Some(s)) if s.contains('\0') => out.add(Some(s.replace('\0', "\u{fffd}"))),
            Arg::Text(s) => out.add(s.as_deref()),
            Arg::Int(n) => out.add(*n),
            Arg::Real(x) => out.add(*x),
            Arg::Bool(b) => out.add(*b),
            Arg::Bytes(b) => out.add(*b),
        };
        added.map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

/// Binds `args` to a statement of rusqlite's (`Db::execute_each`), as `bind_all` does for sqlx.
fn bind_rusqlite(statement: &mut rusqlite::CachedStatement<'_>, args: &[Arg<'_>]) -> rusqlite::Result<()> {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    for (index, arg) in args.iter().enumerate() {
        let value = match arg {
            Arg::Text(Some(s)) if s.contains('\0') => ToSqlOutput::Owned(Value::Text(s.replace('\0', "\u{fffd}"))),
            Arg::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Int(Some(n)) => ToSqlOutput::Owned(Value::Integer(*n)),
            Arg::Real(Some(x)) => ToSqlOutput::Owned(Value::Real(*x)),
            Arg::Bool(Some(b)) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            Arg::Bytes(Some(b)) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Arg::Text(None) | Arg::Int(None) | Arg::Real(None) | Arg::Bool(None) | Arg::Bytes(None) => {
                ToSqlOutput::Owned(Value::Null)
            }
        };
        statement.raw_bind_parameter(index + 1, value)?;
    }
    Ok(())
}

fn sqlite_args<'q>(args: &'q [Arg<'_>]) -> Result<SqliteArguments<'q>, sqlx::Error> {
    bind_all(SqliteArguments::default(), args)
}

fn pg_args(args: &[Arg<'_>]) -> Result<PgArguments, sqlx::Error> {
    bind_all(PgArguments::default(), args)
}

/// Which SQL a backend speaks, for the fragments that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `a = b`, case-insensitively: SQLite's NOCASE (ASCII), PostgreSQL's `scim_fold` (Unicode
    /// lower case where the server has ICU; migrations/postgres/).
    pub fn ci_eq(self, a: &str, b: &str) -> String {
        match self {
            Self::Sqlite => format!("{a} = {b} COLLATE NOCASE"),
            Self::Postgres => format!("scim_fold({a}) = scim_fold({b})"),
        }
    }

    /// `a = b` where `a` is a column that is case-insensitive by itself (SQLite's `COLLATE NOCASE`
    /// columns, PostgreSQL's `scim_fold` indexes), in the form its index serves.
    pub fn ci_column_eq(self, column: &str, b: &str) -> String {
        match self {
            Self::Sqlite => format!("{column} = {b}"),
            Self::Postgres => format!("scim_fold({column}) = scim_fold({b})"),
        }
    }

    /// `user_emails.value = param` (PostgreSQL keeps the values folded).
    pub fn email_eq(self, param: &str) -> String {
        match self {
            Self::Sqlite => format!("value = {param}"),
            Self::Postgres => format!("value = scim_fold({param})"),
        }
    }

    /// A top-level string member of a JSON document stored as text.
    pub fn doc_text(self, doc: &str, key: &str) -> String {
        match self {
            Self::Sqlite => format!("json_extract({doc}, '$.{key}')"),
            Self::Postgres => format!("({doc}::json ->> '{key}')"),
        }
    }

    /// The primary (else the first) `emails.value` of a SCIM document stored as text, as a scalar
    /// subquery (NULL when it has none).
    pub fn primary_email(self, doc: &str) -> String {
        match self {
            Self::Sqlite => format!(
                "(SELECT json_extract(e.value, '$.value') FROM json_each({doc}, '$.emails') AS e
                  ORDER BY coalesce(json_extract(e.value, '$.primary'), 0) DESC, e.key LIMIT 1)"
            ),
            Self::Postgres => format!(
                "(SELECT e.value ->> 'value' FROM json_array_elements({doc}::json -> 'emails') WITH ORDINALITY AS e(value, n)
                  ORDER BY coalesce(e.value ->> 'primary', 'false') = 'true' DESC, e.n LIMIT 1)"
            ),
        }
    }

    /// The strings of a JSON array parameter, as a subquery of one column `value`.
    pub fn json_texts(self, param: &str) -> String {
        match self {
            Self::Sqlite => format!("SELECT value FROM json_each({param})"),
            Self::Postgres => format!("SELECT value FROM json_array_elements_text({param}::json) AS j(value)"),
        }
    }

    /// A JSON array (as text) of the groups user `param` is a direct member of: their ids and
    /// the names recorded for them in `scope_groups`.
    pub fn member_of(self, param: &str) -> String {
        let refs = format!(
            "SELECT gm.group_id AS r FROM group_members gm WHERE gm.member_id = {param}
             UNION SELECT s.name FROM group_members gm JOIN scope_groups s ON s.group_id = gm.group_id
             WHERE gm.member_id = {param}"
        );
        match self {
            Self::Sqlite => format!("(SELECT json_group_array(r) FROM ({refs}) AS q)"),
            Self::Postgres => format!("(SELECT COALESCE(json_agg(r), '[]')::text FROM ({refs}) AS q)"),
        }
    }

    /// The column that numbers a table's rows in insertion order.
    pub fn row_number(self, alias: &str) -> String {
        match self {
            Self::Sqlite => format!("{alias}.rowid"),
            Self::Postgres => format!("{alias}.seq"),
        }
    }

    /// What a read that is followed by a write in the same transaction must add, so that a
    /// concurrent writer waits for it (SQLite has one writer at a time anyway).
    pub fn for_update(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }
}

/// The pools of one database.
#[derive(Clone, Debug)]
enum Pools {
    /// WAL readers, and a single-connection writer pool so that writers queue in the application
    /// rather than meet "database is locked". `batches` (a file's, not an in-memory database's)
    /// writes many rows of one statement (`Db::execute_each`) while holding the writer's turn.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        batches: Option<Arc<Mutex<rusqlite::Connection>>>,
    },
    /// One pool: PostgreSQL serves concurrent writers itself. Single statements run on warm
    /// connections (no ping between them, `warm.rs`); transactions take theirs from the pool.
    Postgres(Arc<Warm>),
}

/// How long a PostgreSQL connection may sit unused before it is pinged on the way out: only a
/// connection that sat idle can have been dropped by a restart or a failover.
pub(super) const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// One database: its pools, and the clock its timestamps are read from.
#[derive(Clone, Debug)]
pub(super) struct Db {
    pools: Pools,
    clock: Arc<Clock>,
}

impl Db {
    pub fn sqlite(read: SqlitePool, write: SqlitePool, batches: Option<rusqlite::Connection>) -> Self {
        Self {
            pools: Pools::Sqlite {
                read,
                write,
                batches: batches.map(|c| Arc::new(Mutex::new(c))),
            },
            clock: Arc::default(),
        }
    }

    pub fn postgres(pool: PgPool) -> Self {
        Self {
            pools: Pools::Postgres(Arc::new(Warm::new(pool))),
            clock: Arc::default(),
        }
    }

    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// Now, in the stored form.
    pub fn now(&self) -> String {
        super::format_timestamp(self.clock.now_utc())
    }

    pub fn dialect(&self) -> Dialect {
        match &self.pools {
            Pools::Sqlite { .. } => Dialect::Sqlite,
            Pools::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Rows of a query that only reads.
    pub async fn read<T: Row>(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, sqlx::Error> {
        match &self.pools {
            Pools::Sqlite { read, .. } => {
                sqlx::query_as_with::<Sqlite, T, _>(sql, sqlite_args(args)?)
                    .fetch_all(read)
                    .await
            }
            Pools::Postgres(warm) => pg_rows(warm, sql, args).await,
        }
    }

    /// Rows of a statement that writes (`RETURNING`), in a transaction of its own.
    pub async fn write<T: Row>(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, sqlx::Error> {
        match &self.pools {
            Pools::Sqlite { write, .. } => {
                sqlx::query_as_with::<Sqlite, T, _>(sql, sqlite_args(args)?)
                    .fetch_all(write)
                    .await
            }
            Pools::Postgres(warm) => pg_rows(warm, sql, args).await,
        }
    }

    /// Runs a statement that writes; how many rows it touched.
    pub async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        let done = match &self.pools {
            Pools::Sqlite { write, .. } => sqlx::query_with::<Sqlite, _>(sql, sqlite_args(args)?)
                .execute(write)
                .await?
                .rows_affected(),
            Pools::Postgres(warm) => {
                let arguments = pg_args(args)?;
                let mut lent = warm.lend(IDLE_BEFORE_PING).await?;
                let done = sqlx::query_with::<Postgres, _>(sql, arguments)
                    .execute(&mut *lent.connection)
                    .await?;
                warm.keep(lent);
                done.rows_affected()
            }
        };
        Ok(done)
    }

    /// On SQLite the write lock is taken at `BEGIN`: a deferred transaction that reads and then
    /// writes fails at once with "database is locked" (the busy timeout does not apply) when
    /// another process (the CLI beside `serve`) wrote in between.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let inner = match &self.pools {
            Pools::Sqlite { write, .. } => TxInner::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres(warm) => TxInner::Postgres(warm.pool.begin().await?),
        };
        Ok(Tx { inner, now: self.now() })
    }

    /// Runs `sql` once for each parameter row, prepared once and bound natively, in one
    /// `BEGIN IMMEDIATE` transaction, on a SQLite file's batch connection; `None` elsewhere
    /// (PostgreSQL, an in-memory database). Through sqlx each row would be a round trip to the
    /// connection's thread, and a batch sent as one JSON parameter pays SQLite's JSON parser
    /// (docs/audit.md: about 2 µs of a request-log row). The writer pool's one connection is
    /// held, unused, meanwhile: SQLite writers still take turns in the application rather than
    /// poll the file lock.
    pub async fn execute_each<'a, const N: usize>(
        &self,
        sql: &str,
        rows: impl IntoIterator<Item = [Arg<'a>; N]>,
    ) -> Option<Result<(), super::StoreError>> {
        let Pools::Sqlite {
            write,
            batches: Some(batches),
            ..
        } = &self.pools
        else {
            return None;
        };
        let run = async {
            let _turn = write.acquire().await?;
            let work = || -> rusqlite::Result<()> {
                let mut connection = batches.lock().unwrap_or_else(PoisonError::into_inner);
                let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                {
                    let mut statement = tx.prepare_cached(sql)?;
                    for args in rows {
                        bind_rusqlite(&mut statement, &args)?;
                        statement.raw_execute()?;
                    }
                }
                tx.commit()
            };
            // The batch's milliseconds block this thread: other tasks move to another worker
            // where the runtime has one (a test's single-threaded runtime just waits).
            match tokio::runtime::Handle::current().runtime_flavor() {
                tokio::runtime::RuntimeFlavor::CurrentThread => work()?,
                _ => tokio::task::block_in_place(work)?,
            }
            Ok(())
        };
        Some(run.await)
    }

    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { read, write, .. } => {
                write.close().await;
                read.close().await;
            }
            Pools::Postgres(warm) => warm.close().await,
        }
    }
}

/// Rows of one statement on a warm connection (kept again only when the statement ran to its end).
async fn pg_rows<T: Row>(warm: &Warm, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, sqlx::Error> {
    let arguments = pg_args(args)?;
    let mut lent = warm.lend(IDLE_BEFORE_PING).await?;
    let rows = sqlx::query_as_with::<Postgres, T, _>(sql, arguments)
        .fetch_all(&mut *lent.connection)
        .await?;
    warm.keep(lent);
    Ok(rows)
}

/// A write transaction; dropped without `commit`, it rolls back.
pub(super) struct Tx {
    inner: TxInner,
    /// The transaction's time: every timestamp it writes is this one.
    now: String,
}

enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        match self.inner {
            TxInner::Sqlite(_) => Dialect::Sqlite,
            TxInner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The transaction's time, in the stored form.
    pub fn now(&self) -> String {
        self.now.clone()
    }

    pub async fn rows<T: Row>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, sqlx::Error> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => {
                sqlx::query_as_with::<Sqlite, T, _>(sql, sqlite_args(args)?)
                    .fetch_all(&mut **tx)
                    .await
            }
            TxInner::Postgres(tx) => {
                sqlx::query_as_with::<Postgres, T, _>(sql, pg_args(args)?)
                    .fetch_all(&mut **tx)
                    .await
            }
        }
    }

    pub async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        let done = match &mut self.inner {
            TxInner::Sqlite(tx) => sqlx::query_with::<Sqlite, _>(sql, sqlite_args(args)?)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            TxInner::Postgres(tx) => sqlx::query_with::<Postgres, _>(sql, pg_args(args)?)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        };
        Ok(done)
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.commit().await,
            TxInner::Postgres(tx) => tx.commit().await,
        }
    }
}
