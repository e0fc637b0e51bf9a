//! PostgreSQL connections kept between statements outside sqlx's pool. sqlx pings every connection
//! it takes back (sqlx-core 0.8, `Floating::return_to_pool`): one more round trip to the server,
//! and one more wake-up of its backend, for every statement (filter-eq spent as much of the server's
//! time on that ping as on the query). A statement that ran to its end has read the server's
//! `ReadyForQuery`, so its connection is clean: the store keeps it here and the next statement
//! takes it as it is. A connection whose statement failed or was cancelled is dropped into the pool
//! instead, which pings it (and sends a pending rollback) as before.
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, Postgres};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many idle connections are kept; the others go back to the pool (so transactions, which take
/// theirs from the pool, always find some).
const KEPT: usize = 4;
/// A connection kept this long goes back to the pool once, so that the pool's checks (lifetime,
/// ping) still reach it under constant load.
const TENURE: Duration = Duration::from_secs(60);

struct Kept {
    connection: PoolConnection<Postgres>,
    /// When it left the pool.
    since: Instant,
    /// When its last statement ended.
    used: Instant,
}

/// The pool, and the connections whose last statement ended well (newest last).
pub(super) struct Warm {
    pub pool: PgPool,
    kept: Mutex<Vec<Kept>>,
}

impl std::fmt::Debug for Warm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warm").field("kept", &self.lock().len()).finish()
    }
}

/// A connection for one statement: `keep` it when the statement ended well, drop it otherwise.
pub(super) struct Lent {
    pub connection: PoolConnection<Postgres>,
    since: Instant,
}

impl Warm {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            kept: Mutex::default(),
        }
    }

    /// The connection used last, if it was used within `idle` (an older one may have been dropped
    /// by a restart or a failover: it goes back to the pool, whose `before_acquire` pings it), or
    /// one from the pool.
    pub async fn lend(&self, idle: Duration) -> Result<Lent, sqlx::Error> {
        let (fresh, returned) = self.take_fresh(Instant::now(), idle);
        drop(returned);
        match fresh {
            Some(kept) => Ok(Lent {
                connection: kept.connection,
                since: kept.since,
            }),
            None => Ok(Lent {
                connection: self.pool.acquire().await?,
                since: Instant::now(),
            }),
        }
    }

    /// Takes a connection back after a statement that ran to its end (into the pool when enough
    /// are kept, when it has been out for `TENURE`, or when the pool is closing).
    pub fn keep(&self, lent: Lent) {
        let now = Instant::now();
        if now.duration_since(lent.since) >= TENURE {
            return;
        }
        let mut kept = self.lock();
        // Read under the lock: `close` marks the pool closed before it empties `kept`.
        if kept.len() < KEPT && !self.pool.is_closed() {
            kept.push(Kept {
                connection: lent.connection,
                since: lent.since,
                used: now,
            });
        }
    }

    /// Closes the pool, which waits for every connection lent from it: the kept ones are handed
    /// back first. `Pool::close` marks the pool closed as it is called, before its future runs, so
    /// no `keep` after the emptying below can keep one.
    pub async fn close(&self) {
        let closed = self.pool.close();
        let all = std::mem::take(&mut *self.lock());
        drop(all);
        closed.await;
    }

    /// The newest connection used within `idle`, and the ones to hand back to the pool (dropped by
    /// the caller, outside the lock).
    fn take_fresh(&self, now: Instant, idle: Duration) -> (Option<Kept>, Vec<Kept>) {
        let mut kept = self.lock();
        let stale = kept.partition_point(|k| now.duration_since(k.used) >= idle);
        let returned: Vec<Kept> = kept.drain(..stale).collect();
        (kept.pop(), returned)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
