//! The one owner of SQL. SQLite in WAL mode: a pool of readers and a single-connection writer pool,
//! so writers queue in the application instead of meeting "database is locked".
//!
//! Every query here runs to completion (`fetch_all`, `execute`), never `fetch_one`/`fetch_optional`:
//! those stop after the first row and leave the SQLite statement active, which keeps its implicit
//! transaction open, so the WAL can never be reset and grows without bound (3.8 GB in a two-minute
//! create benchmark before this rule; see `tests/api/locking.rs`).
mod claims;
mod error;
mod groups;
mod links;
mod operators;
mod permissions;
mod query;
mod resource;
mod sessions;
mod sync_queue;
mod target_state;
mod timestamp;
mod tokens;
pub use sessions::AdminSession;
pub use tokens::TokenScope;
mod users;

pub use claims::{Claim, Event, Success, SyncView};
pub use error::StoreError;
pub use groups::{GroupChange, MemberRow, StoredGroup};
pub use links::{Link, LinkState};
pub use operators::{DeadRow, EventFilter, EventRow, ListedEvent, LookedUp, TargetStatus};
pub use resource::{Page, StoredResource};
pub use sync_queue::{SyncRow, TargetScope};
pub use target_state::TargetStateRow;
pub use tokens::TokenRecord;
pub use users::StoredUser;

use crate::secrets::Sealer;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    read: SqlitePool,
    write: SqlitePool,
    /// Bumped whenever this process changes the tokens table, so credential caches can drop at once.
    tokens_changed: Arc<AtomicU64>,
    url: Arc<str>,
    /// The configured targets, whose fan-out every change queues in its own transaction.
    targets: Arc<Vec<TargetScope>>,
    /// Woken after a commit that queued fan-out work (the sync worker waits on it).
    sync_wakeup: Arc<Notify>,
    /// Seals passwords on their way to the targets that take them; without it they are not kept.
    sealer: Option<Sealer>,
    user_schema: &'static crate::scim::schema::ResourceSchema,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
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
        sqlx::migrate!("./migrations").run(&write).await?;
        // Each sqlx SQLite connection has its own thread; a few more readers than cores keeps
        // requests from queueing behind one slow page.
        let readers = std::thread::available_parallelism().map_or(4, |n| (n.get() * 2).clamp(4, 16));
        let read = SqlitePoolOptions::new()
            .max_connections(readers as u32)
            .test_before_acquire(false)
            .connect_with(options.pragma("cache_size", "-2000"))
            .await?;
        Ok(Self {
            read,
            write,
            tokens_changed: Arc::new(AtomicU64::new(0)),
            url: url.into(),
            targets: Arc::new(Vec::new()),
            sync_wakeup: Arc::new(Notify::new()),
            sealer: None,
            user_schema: crate::scim::schema::user(),
        })
    }

    /// The same store, queueing fan-out for these targets on every change.
    /// The same store, listing and filtering users by `schema` (declared extensions included).
    pub fn with_user_schema(mut self, schema: &'static crate::scim::schema::ResourceSchema) -> Self {
        self.user_schema = schema;
        self
    }

    pub fn with_targets(mut self, targets: Vec<TargetScope>) -> Self {
        self.targets = Arc::new(targets);
        self
    }

    /// The same store, holding IdP passwords sealed with `sealer` until the targets that take them have them.
    pub fn with_sealer(mut self, sealer: Option<Sealer>) -> Self {
        self.sealer = sealer;
        self
    }

    /// Whether a password a client sends reaches a vendor (ServiceProviderConfig `changePassword`).
    pub fn delivers_passwords(&self) -> bool {
        self.sealer.is_some() && self.targets.iter().any(|t| t.takes_passwords)
    }

    /// The configured targets' names.
    pub fn target_names(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|t| t.name.as_str())
    }

    /// What the sync worker waits on for new work.
    pub fn sync_wakeup(&self) -> Arc<Notify> {
        self.sync_wakeup.clone()
    }

    /// The same, for the targets `which` selects.
    async fn enqueue_for_and_commit(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
        ids: &[&str],
        which: impl Fn(&TargetScope) -> bool,
    ) -> Result<(), StoreError> {
        let queued = self.enqueue(&mut tx, ids, which).await?;
        self.commit_and_wake(tx, queued).await
    }

    /// Queues user `id` and, when the client sent a password, seals it for each queued target that
    /// takes passwords, then commits: the password travels with the change or not at all.
    async fn enqueue_user_and_commit(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
        id: &str,
        password: Option<&str>,
    ) -> Result<(), StoreError> {
        let queued = self.enqueue_user(&mut tx, id, password).await?;
        self.commit_and_wake(tx, queued).await
    }

    /// Queues user `id` (and seals its password) in `tx`; how many rows were queued.
    async fn enqueue_user(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        id: &str,
        password: Option<&str>,
    ) -> Result<u64, StoreError> {
        let queued = self.enqueue(tx, &[id], |_| true).await?;
        if let (Some(password), Some(sealer)) = (password, &self.sealer) {
            for target in self.targets.iter().filter(|t| t.takes_passwords) {
                let sealed = sealer.seal(password, id, &target.name)?;
                sync_queue::hand_over_password(tx, id, &target.name, &sealed).await?;
            }
        }
        Ok(queued)
    }

    async fn enqueue(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        ids: &[&str],
        which: impl Fn(&TargetScope) -> bool,
    ) -> Result<u64, StoreError> {
        let targets: Vec<&TargetScope> = self.targets.iter().filter(|t| which(t)).collect();
        let mut queued = 0;
        for id in ids {
            queued += sync_queue::enqueue_user(tx, &targets, id).await?;
        }
        Ok(queued)
    }

    async fn commit_and_wake(&self, tx: sqlx::Transaction<'_, sqlx::Sqlite>, queued: u64) -> Result<(), StoreError> {
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
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// The current time as stored: RFC 3339, UTC, millisecond precision (so text order is time order).
pub fn now_timestamp() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

/// Formats an instant in the stored form, converted to UTC.
pub fn format_timestamp(at: time::OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    utc.format(&format).unwrap_or_else(|_| utc.unix_timestamp().to_string())
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
