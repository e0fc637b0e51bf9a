//! The one owner of SQL, on SQLite (the default: WAL mode, a pool of readers and a single-connection
//! writer pool, so writers queue in the application instead of meeting "database is locked") or on
//! PostgreSQL (`postgres://…`: several replicas may share one database). `db` holds the primitives
//! every statement goes through.
//!
//! Every query here runs to completion (`fetch_all`, `execute`), never `fetch_one`/`fetch_optional`:
//! those stop after the first row and leave the SQLite statement active, which keeps its implicit
//! transaction open, so the WAL can never be reset and grows without bound (3.8 GB in a two-minute
//! create benchmark before this rule; see `tests/api/locking.rs`).
mod audit;
mod claims;
pub(crate) mod db;
mod error;
mod groups;
mod guard;
mod links;
mod operators;
mod permissions;
mod query;
mod resource;
mod scope_groups;
mod sessions;
mod shared_limits;
mod states;
mod sync_queue;
mod target_state;
mod timestamp;
mod tokens;
pub use sessions::AdminSession;
pub use tokens::{Rotated, TokenRecord, TokenScope};
mod users;
mod warm;

pub use audit::{
    AuditEvent, AuditSubject, AuditTable, AuditTrail, RepeatedFailure, RequestFilter, RequestRow, REPEATED_AT_LEAST,
};
pub use claims::{Claim, Event, Success, SyncView};
pub use error::StoreError;
pub use groups::{GroupChange, MemberRow, StoredGroup};
pub use guard::{RemovalLimit, RemovalVerdict};
pub use links::{written_record, Link};
pub use operators::{DeadRow, EventFilter, EventRow, ListedEvent, LookedUp, TargetStatus, NAME_SEARCH_USERS};
pub use resource::{Page, StoredResource};
pub use scope_groups::ScopeGroups;
pub use states::{BreakerState, EventAction, EventOutcome, GuardMark, LinkState, QueueState, TargetState};
pub use sync_queue::{SyncRow, TargetScope};
pub use target_state::TargetStateRow;
pub use users::StoredUser;

use crate::secrets::Sealer;
use arc_swap::ArcSwap;
pub use db::Dialect;
use db::{args, Db, Tx};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A type kept as text in a column (a word, a timestamp), read on both backends through `parse`
/// (`&str -> Option<Self>`); it is bound as text (`db::Arg`).
macro_rules! text_column {
    ($ty:ty, $parse:expr) => {
        impl sqlx::Type<sqlx::Sqlite> for $ty {
            fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
                <&str as sqlx::Type<sqlx::Sqlite>>::type_info()
            }
            fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
            }
        }
        impl sqlx::Type<sqlx::Postgres> for $ty {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for $ty {
            fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Sqlite>>::decode(value)?;
                ($parse)(text).ok_or_else(|| format!("'{text}' is not a {}", stringify!($ty)).into())
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $ty {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                ($parse)(text).ok_or_else(|| format!("'{text}' is not a {}", stringify!($ty)).into())
            }
        }
    };
}
pub(crate) use text_column;

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// Bumped whenever this process changes the tokens table, so credential caches can drop at once.
    tokens_changed: Arc<AtomicU64>,
    url: Arc<str>,
    /// Which replica this is, as it signs the leases it takes (`sync_queue.lease_owner`).
    replica: Arc<str>,
    /// The configured targets, whose fan-out every change queues in its own transaction; a
    /// configuration reload replaces them for every clone at once (`replace_targets`).
    targets: Arc<ArcSwap<Vec<TargetScope>>>,
    /// Woken after a commit that queued fan-out work (the sync worker waits on it).
    sync_wakeup: Arc<Notify>,
    /// Seals passwords on their way to the targets that take them; without it they are not kept.
    sealer: Option<Sealer>,
    user_schema: &'static crate::scim::schema::ResourceSchema,
}

impl Store {
    /// Opens the database at `url` and runs its migrations: PostgreSQL for a `postgres://` or
    /// `postgresql://` URL, SQLite (the file created if needed) otherwise.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let db = if is_postgres(url) {
            connect_postgres(url).await?
        } else {
            connect_sqlite(url).await?
        };
        Ok(Self {
            db,
            tokens_changed: Arc::new(AtomicU64::new(0)),
            url: url.into(),
            replica: replica_id().into(),
            targets: Arc::new(ArcSwap::from_pointee(Vec::new())),
            sync_wakeup: Arc::new(Notify::new()),
            sealer: None,
            user_schema: crate::scim::schema::user(),
        })
    }

    /// The database URL fit for a log line (no password).
    pub fn redacted_url(&self) -> String {
        redacted_url(&self.url)
    }

    /// Which replica this process is: the host name (a Kubernetes pod's name) and the process id,
    /// and `#n` for each store after the first one a process opens (as tests do).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Which backend this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// The clock this store's timestamps are read from; its worker reads the same one.
    /// Now by the store's clock, in the stored form.
    pub fn now(&self) -> String {
        self.db.now()
    }

    pub fn clock(&self) -> std::sync::Arc<crate::clock::Clock> {
        self.db.clock().clone()
    }

    /// Whether other processes (replicas) may work this database at the same time: then leases,
    /// concurrency slots, rate limits, breakers and probes are held with them through it. A SQLite
    /// file is one `serve`'s own.
    pub fn is_shared(&self) -> bool {
        self.db.dialect() == Dialect::Postgres
    }

    /// The same store, queueing fan-out for these targets on every change.
    /// The same store, listing and filtering users by `schema` (declared extensions included).
    pub fn with_user_schema(mut self, schema: &'static crate::scim::schema::ResourceSchema) -> Self {
        self.user_schema = schema;
        self
    }

    pub fn with_targets(mut self, targets: Vec<TargetScope>) -> Self {
        self.targets = Arc::new(ArcSwap::from_pointee(targets));
        self
    }

    /// Queues fan-out for these targets from now on, in this store and every clone of it (a
    /// configuration reload); a change being committed meanwhile queues for the ones it read.
    pub fn replace_targets(&self, targets: Vec<TargetScope>) {
        self.targets.store(Arc::new(targets));
    }

    /// The targets as configured now (kept by a change that is being committed).
    fn scopes(&self) -> Arc<Vec<TargetScope>> {
        self.targets.load_full()
    }

    /// The same store, holding IdP passwords sealed with `sealer` until the targets that take them have them.
    pub fn with_sealer(mut self, sealer: Option<Sealer>) -> Self {
        self.sealer = sealer;
        self
    }

    /// Whether a password a client sends reaches a vendor (ServiceProviderConfig `changePassword`).
    pub fn delivers_passwords(&self) -> bool {
        self.sealer.is_some() && self.scopes().iter().any(|t| t.takes_passwords)
    }

    /// The configured targets' names.
    pub fn target_names(&self) -> Vec<String> {
        self.scopes().iter().map(|t| t.name.clone()).collect()
    }

    /// What the sync worker waits on for new work.
    pub fn sync_wakeup(&self) -> Arc<Notify> {
        self.sync_wakeup.clone()
    }

    /// The same, for the targets `which` selects.
    async fn enqueue_for_and_commit(
        &self,
        mut tx: Tx,
        ids: &[&str],
        which: impl Fn(&TargetScope) -> bool,
    ) -> Result<(), StoreError> {
        let queued = self.enqueue(&mut tx, ids, which).await?;
        self.commit_and_wake(tx, queued).await
    }

    /// Queues user `id` and, when the client sent a password, seals it for each queued target that
    /// takes passwords, then commits: the password travels with the change or not at all.
    async fn enqueue_user_and_commit(&self, mut tx: Tx, id: &str, password: Option<&str>) -> Result<(), StoreError> {
        let queued = self.enqueue_user(&mut tx, id, password).await?;
        self.commit_and_wake(tx, queued).await
    }

    /// Queues user `id` (and seals its password) in `tx`; how many rows were queued.
    async fn enqueue_user(&self, tx: &mut Tx, id: &str, password: Option<&str>) -> Result<u64, StoreError> {
        let queued = self.enqueue(tx, &[id], |_| true).await?;
        if let (Some(password), Some(sealer)) = (password, &self.sealer) {
            for target in self.scopes().iter().filter(|t| t.takes_passwords) {
                let sealed = sealer.seal(password, id, &target.name)?;
                sync_queue::hand_over_password(tx, id, &target.name, &sealed).await?;
            }
        }
        Ok(queued)
    }

    async fn enqueue(
        &self,
        tx: &mut Tx,
        ids: &[&str],
        which: impl Fn(&TargetScope) -> bool,
    ) -> Result<u64, StoreError> {
        let scopes = self.scopes();
        let targets: Vec<&TargetScope> = scopes.iter().filter(|t| which(t)).collect();
        let mut queued = 0;
        for id in ids {
            queued += sync_queue::enqueue_user(tx, &targets, id).await?;
        }
        Ok(queued)
    }

    async fn commit_and_wake(&self, tx: Tx, queued: u64) -> Result<(), StoreError> {
        tx.commit().await?;
        if queued > 0 {
            self.sync_wakeup.notify_one();
        }
        Ok(())
    }

    /// The database URL this store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Changes with every token this process creates or revokes.
    pub fn tokens_generation(&self) -> u64 {
        self.tokens_changed.load(Ordering::Acquire)
    }

    fn tokens_did_change(&self) {
        self.tokens_changed.fetch_add(1, Ordering::AcqRel);
    }

    /// A cheap query proving the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: Vec<(i32,)> = self.db.read("SELECT 1", args![]).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.db.close().await;
    }

    /// SQLite: a consistent copy of the whole database into `file`, which must be new or empty
    /// (`VACUUM INTO`, one read transaction: writers go on meanwhile).
    pub async fn backup_into(&self, file: &Path) -> Result<(), StoreError> {
        let file = file.to_string_lossy();
        self.db.execute("VACUUM INTO $1", args![file.as_ref()]).await?;
        Ok(())
    }
}

/// The current time as stored: RFC 3339, UTC, millisecond precision (so text order is time order).
pub fn now_timestamp() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

/// Formats an instant in the stored form, converted to UTC.
pub fn format_timestamp(at: time::OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    if !(0..=9999).contains(&utc.year()) {
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        return utc.format(&format).unwrap_or_else(|_| utc.unix_timestamp().to_string());
    }
    // Digit by digit: every stored row and every request-log row formats one, and `time`'s
    // general formatter took a third of a microsecond of each.
    let mut out = String::with_capacity(24);
    let mut push = |value: u32, width: u32, after: char| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
        out.push(after);
    };
    push(utc.year().unsigned_abs(), 4, '-');
    push(u32::from(u8::from(utc.month())), 2, '-');
    push(u32::from(utc.day()), 2, 'T');
    push(u32::from(utc.hour()), 2, ':');
    push(u32::from(utc.minute()), 2, ':');
    push(u32::from(utc.second()), 2, '.');
    push(u32::from(utc.millisecond()), 3, 'Z');
    out
}

/// `url` fit for a log line: a password in it is replaced by `***`.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        _ => url.to_owned(),
    }
}

/// The file a SQLite URL names; `None` for PostgreSQL or an in-memory database.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if is_postgres(url) {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (!file.as_os_str().is_empty() && file != Path::new(":memory:")).then(|| file.to_path_buf())
}

fn replica_id() -> String {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    match OPENED.fetch_add(1, Ordering::Relaxed) {
        0 => format!("{host}/{}", std::process::id()),
        n => format!("{host}/{}#{n}", std::process::id()),
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

async fn connect_sqlite(url: &str) -> Result<Db, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?;
    secure(options.get_filename())?;
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        // Another process (the CLI) may hold the write lock for a moment.
        .busy_timeout(Duration::from_secs(10));
    // The one writer gets a larger page cache (random inserts into big indexes); readers little.
    // No ping before each acquire (sqlx's default): an in-process SQLite connection cannot have
    // dropped, and the ping is one more round trip to the connection's thread per statement.
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(options.clone().pragma("cache_size", "-16000"))
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&write).await?;
    // Each sqlx SQLite connection has its own thread; a few more readers than cores keeps
    // requests from queueing behind one slow page.
    let readers = std::thread::available_parallelism().map_or(4, |n| (n.get() * 2).clamp(4, 16));
    let read = SqlitePoolOptions::new()
        .max_connections(readers as u32)
        .test_before_acquire(false)
        .connect_with(options.clone().pragma("cache_size", "-2000"))
        .await?;
    Ok(Db::sqlite(read, write, batch_connection(&options)?))
}

/// The connection `Db::execute_each` writes batches with, to a database file (none to an
/// in-memory database, which no second connection can open).
fn batch_connection(options: &SqliteConnectOptions) -> Result<Option<rusqlite::Connection>, StoreError> {
    let file = options.get_filename();
    if file.as_os_str().is_empty() || file == Path::new(":memory:") {
        return Ok(None);
    }
    let connection = rusqlite::Connection::open(file)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(Some(connection))
}

/// PostgreSQL: one pool; the migrations run under sqlx's advisory lock, so replicas starting at
/// once apply them one after the other (each sees the others' work and skips it).
async fn connect_postgres(url: &str) -> Result<Db, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection it hands out: one more round trip to the server per
        // statement (filter-eq 5,900 -> 7,600 req/s without it). Only a connection that sat idle
        // can have been dropped by a restart or a failover, so only that one is pinged.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= db::IDLE_BEFORE_PING {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect(url)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(Db::postgres(pool))
}

/// Creates the database file private to its owner and warns about one that others can read
/// (see `permissions`). In-memory databases have no file.
fn secure(file: &Path) -> Result<(), StoreError> {
    if file.as_os_str().is_empty() || file == Path::new(":memory:") {
        return Ok(());
    }
    let exposed = permissions::secure_database_file(file).map_err(StoreError::File)?;
    for (path, mode) in exposed {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{mode:o}"),
            "the database file is readable by other local accounts; it holds hashed tokens, sealed \
             passwords and every user's data: chmod 600 it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{redacted_url, Store};

    /// `serve` and a CLI command on one SQLite file: a transaction that reads, then writes, must
    /// wait for the other process's write rather than fail with "database is locked".
    #[tokio::test]
    async fn a_transaction_that_reads_then_writes_waits_for_another_process_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
        let (serve, cli) = (Store::connect(&url).await.unwrap(), Store::connect(&url).await.unwrap());
        serve.db.execute("CREATE TABLE probe (n INTEGER)", &[]).await.unwrap();

        let mut tx = serve.db.begin().await.unwrap();
        let before: Vec<(i64,)> = tx.rows("SELECT count(*) FROM probe", &[]).await.unwrap();
        let other = tokio::spawn(async move { cli.db.execute("INSERT INTO probe (n) VALUES (2)", &[]).await });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        tx.execute("INSERT INTO probe (n) VALUES (1)", &[]).await.unwrap();
        tx.commit().await.unwrap();
        other.await.unwrap().unwrap();

        let order: Vec<(i64,)> = serve.db.read("SELECT n FROM probe ORDER BY rowid", &[]).await.unwrap();
        assert_eq!((before, order), (vec![(0,)], vec![(1,), (2,)]));
    }

    #[test]
    fn a_database_url_in_a_log_line_shows_no_password() {
        assert_eq!(
            redacted_url("postgres://bridge:s3cr:et@db.internal:5432/scim?sslmode=require"),
            "postgres://bridge:***@db.internal:5432/scim?sslmode=require"
        );
        assert_eq!(redacted_url("postgres://bridge@db/scim"), "postgres://bridge@db/scim");
        assert_eq!(redacted_url("sqlite://scim-bridge.db"), "sqlite://scim-bridge.db");
        assert_eq!(redacted_url("sqlite:///var/lib/a@b.db"), "sqlite:///var/lib/a@b.db");
    }
}
