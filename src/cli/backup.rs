//! `backup` and `restore`: a consistent copy of the SQLite database while `serve` runs, checked
//! and readable by its owner only; and putting one back with the server stopped, keeping the
//! database it replaces (README, "Backup and restore"). PostgreSQL has its own tools.
use crate::config::Settings;
use crate::store::{redacted_url, sqlite_file, Store};
use anyhow::{bail, Context};
use sqlx::{ConnectOptions, Connection};
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What a database file holds, as `backup` and `restore` report it.
struct Contents {
    users: i64,
    groups: i64,
    tokens: i64,
}

pub async fn backup(settings: &Settings, to: &Path) -> anyhow::Result<()> {
    let url = &settings.database.url;
    let Some(database) = sqlite_file(url) else {
        bail!(
            "the database is PostgreSQL: back it up with its own tool, for example\n    \
             pg_dump --format=custom --file='{}' '{}'\n(the password from PGPASSWORD or ~/.pgpass)",
            to.display(),
            redacted_url(url).replace(":***@", "@")
        );
    };
    crate::app::require_database(url)?;
    create_private(to)?;
    let copied = copy_into(url, to).await;
    let checked = match copied {
        Ok(()) => contents(to).await,
        Err(e) => Err(e),
    };
    let contents = match checked {
        Ok(contents) => contents,
        Err(e) => {
            let _ = std::fs::remove_file(to);
            return Err(e.context(format!("the backup failed; {} is removed", to.display())));
        }
    };
    let size = std::fs::metadata(to)?.len();
    println!(
        "Backed up {} to {}: {} users, {} groups, {} tokens, {:.1} MiB; integrity checked; readable by its owner only (0600).",
        database.display(),
        to.display(),
        contents.users,
        contents.groups,
        contents.tokens,
        size as f64 / 1_048_576.0
    );
    println!(
        "Keep the secrets key (sync.secrets_key_*) too, apart from this file: without it the passwords \
         sealed in it cannot be delivered."
    );
    Ok(())
}

pub async fn restore(settings: &Settings, from: &Path) -> anyhow::Result<()> {
    let url = &settings.database.url;
    let Some(database) = sqlite_file(url) else {
        bail!("the database is PostgreSQL: restore it with its own tool (pg_restore)");
    };
    if same_file(from, &database) {
        bail!("{} is the database itself: name a backup", from.display());
    }
    let contents = contents(from)
        .await
        .with_context(|| format!("{} is not a scim-bridge database that can be restored", from.display()))?;
    let _held = hold_exclusively(&database)?;
    // The copy is made beside the database first, so a failure before the swap changes nothing.
    let staged = staging_path(&database);
    let _ = std::fs::remove_file(&staged);
    if let Err(e) = copy_private(from, &staged) {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    let kept = move_aside(&database)?;
    if let Err(e) = std::fs::rename(&staged, &database) {
        if let Some(kept) = &kept {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::rename(with_suffix(kept, suffix), with_suffix(&database, suffix));
            }
        }
        return Err(e).with_context(|| {
            format!(
                "cannot put the backup at {}; the database is as it was",
                database.display()
            )
        });
    }
    println!(
        "Restored {} from {}: {} users, {} groups, {} tokens.",
        database.display(),
        from.display(),
        contents.users,
        contents.groups,
        contents.tokens
    );
    if let Some(kept) = kept {
        println!("The database it replaced is kept at {}.", kept.display());
    }
    println!("Start the server; it brings an older backup's schema up to date.");
    Ok(())
}

/// A new file readable and writable by its owner only; never an existing one.
fn create_private(path: &Path) -> anyhow::Result<()> {
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            bail!("{} exists: a backup never overwrites a file", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Copies `from` into a new file readable by its owner only, whatever `from`'s mode, and syncs it.
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    create_private(to)?;
    let mut target = OpenOptions::new().write(true).open(to)?;
    let mut source = File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    std::io::copy(&mut source, &mut target).with_context(|| format!("cannot write {}", to.display()))?;
    target.sync_all()?;
    Ok(())
}

/// `VACUUM INTO`: one read transaction, so the copy is consistent while the server writes.
async fn copy_into(url: &str, to: &Path) -> anyhow::Result<()> {
    let store = Store::connect(url)
        .await
        .with_context(|| format!("cannot open {}", redacted_url(url)))?;
    let done = store.backup_into(to).await;
    store.close().await;
    done.with_context(|| format!("cannot write {}", to.display()))
}

/// Opens `file` read-only, checks its integrity and that it is a scim-bridge database, and counts
/// what it holds.
async fn contents(file: &Path) -> anyhow::Result<Contents> {
    if !file.is_file() {
        bail!("no file at {}", file.display());
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .disable_statement_logging();
    let mut db = options.connect().await.context("cannot open it as SQLite")?;
    let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&mut db).await?;
    if integrity != "ok" {
        bail!("its integrity check failed: {integrity}");
    }
    let count = |table: &'static str| format!("SELECT count(*) FROM {table}");
    let mut counted = Vec::new();
    for table in ["users", "groups", "tokens"] {
        let (n,): (i64,) = sqlx::query_as(&count(table))
            .fetch_one(&mut db)
            .await
            .with_context(|| format!("it has no {table} table"))?;
        counted.push(n);
    }
    db.close().await?;
    Ok(Contents {
        users: counted[0],
        groups: counted[1],
        tokens: counted[2],
    })
}

/// While `serve` runs it holds a shared lock on the database file (`hold_while_serving`);
/// restoring takes it exclusively, so neither happens during the other.
fn hold_exclusively(database: &Path) -> anyhow::Result<Option<File>> {
    let file = match File::open(database) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", database.display())),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "a server is running on {}: stop it first (restore replaces the database under it)",
            database.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Held by `serve` for as long as it runs: `restore` refuses while it is held, and `serve`
/// refuses to start during a restore. `None` for PostgreSQL, or while there is no database file.
pub fn hold_while_serving(url: &str) -> anyhow::Result<Option<File>> {
    let Some(database) = sqlite_file(url) else {
        return Ok(None);
    };
    let file = match File::open(&database) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", database.display())),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!(
                "{} is being restored: start the server once the restore is done",
                database.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Renames the database and its WAL files to `<name>.before-restore-<UTC time>`; the path it
/// kept, if there was a database.
fn move_aside(database: &Path) -> anyhow::Result<Option<PathBuf>> {
    if !database.exists() {
        return Ok(None);
    }
    let stamp = time::OffsetDateTime::now_utc().format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))?;
    let kept = with_suffix(database, &format!(".before-restore-{stamp}"));
    for suffix in ["-wal", "-shm"] {
        let side = with_suffix(database, suffix);
        if side.exists() {
            std::fs::rename(&side, with_suffix(&kept, suffix))?;
        }
    }
    std::fs::rename(database, &kept)?;
    Ok(Some(kept))
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

fn staging_path(database: &Path) -> PathBuf {
    with_suffix(database, ".restoring")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
