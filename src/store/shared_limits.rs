//! A target's `concurrency` and `rate_limit` as rows every replica on one PostgreSQL database shares
//! (migrations/postgres/…_shared_target_limits.sql). Times are the database's clock.
use super::db::args;
use super::{Store, StoreError};
use std::time::Duration;

const DB_NOW: &str = "extract(epoch from clock_timestamp())::float8";

impl Store {
    /// Makes sure `target` has `concurrency` slots (more may exist from a larger setting; only the
    /// first `concurrency` are taken).
    pub async fn prepare_slots(&self, target: &str, concurrency: usize) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO target_slots (target, slot) SELECT $1, n FROM generate_series(1, $2) AS n
                 ON CONFLICT DO NOTHING",
                args![target, concurrency as i64],
            )
            .await?;
        Ok(())
    }

    /// Takes a free slot of `target` for `holder` for `lease`; `None` when all are held.
    pub async fn take_slot(
        &self,
        target: &str,
        concurrency: usize,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "WITH free AS (
                 SELECT slot FROM target_slots
                 WHERE target = $1 AND slot <= $2 AND (holder IS NULL OR until < {DB_NOW})
                 ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)
             UPDATE target_slots s SET holder = $3, until = {DB_NOW} + $4
             FROM free WHERE s.target = $1 AND s.slot = free.slot
             RETURNING s.slot"
        );
        let rows: Vec<(i64,)> = self
            .db
            .write(&sql, args![target, concurrency as i64, holder, lease.as_secs_f64()])
            .await?;
        Ok(rows.first().map(|(slot,)| *slot))
    }

    /// Keeps `holder`'s slot for another `lease`.
    pub async fn renew_slot(&self, target: &str, slot: i64, holder: &str, lease: Duration) -> Result<(), StoreError> {
        let sql =
            format!("UPDATE target_slots SET until = {DB_NOW} + $4 WHERE target = $1 AND slot = $2 AND holder = $3");
        self.db
            .execute(&sql, args![target, slot, holder, lease.as_secs_f64()])
            .await?;
        Ok(())
    }

    pub async fn free_slot(&self, target: &str, slot: i64, holder: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE target_slots SET holder = NULL, until = NULL WHERE target = $1 AND slot = $2 AND holder = $3",
                args![target, slot, holder],
            )
            .await?;
        Ok(())
    }

    /// Reserves `target`'s next call, `interval` after the one before it: how long to wait before
    /// sending it (zero when the target has been idle).
    pub async fn reserve_call(&self, target: &str, interval: Duration) -> Result<Duration, StoreError> {
        let sql = format!(
            "INSERT INTO target_rate (target, tat) VALUES ($1, {DB_NOW} + $2)
             ON CONFLICT (target) DO UPDATE SET tat = GREATEST(target_rate.tat, {DB_NOW}) + $2
             RETURNING tat - $2 - {DB_NOW}"
        );
        let rows: Vec<(f64,)> = self.db.write(&sql, args![target, interval.as_secs_f64()]).await?;
        let wait = rows.first().map_or(0.0, |(w,)| *w);
        Ok(Duration::from_secs_f64(wait.max(0.0)))
    }
}
