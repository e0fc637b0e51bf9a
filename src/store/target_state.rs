//! Each target's health as the worker last recorded it (table `target_state`, migration 9): the
//! circuit breaker and a vendor's announced reset, so that both survive a restart and operators see
//! them (`sync status`, `v_target_status`, `/metrics`).
use super::{now_timestamp, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TargetStateRow {
    pub target: String,
    /// `closed`, `open` or `half_open`.
    pub breaker: String,
    pub failures: i64,
    pub trips: i64,
    pub open_until: Option<String>,
    pub paused_until: Option<String>,
    pub pause_reason: Option<String>,
}

impl Store {
    pub async fn save_target_state(&self, row: &TargetStateRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO target_state (target, breaker, failures, trips, open_until, paused_until, pause_reason, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (target) DO UPDATE SET breaker = excluded.breaker, failures = excluded.failures,
                 trips = excluded.trips, open_until = excluded.open_until, paused_until = excluded.paused_until,
                 pause_reason = excluded.pause_reason, updated_at = excluded.updated_at",
        )
        .bind(&row.target)
        .bind(&row.breaker)
        .bind(row.failures)
        .bind(row.trips)
        .bind(&row.open_until)
        .bind(&row.paused_until)
        .bind(&row.pause_reason)
        .bind(now_timestamp())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn target_states(&self) -> Result<Vec<TargetStateRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT target, breaker, failures, trips, open_until, paused_until, pause_reason FROM target_state ORDER BY target",
        )
        .fetch_all(&self.read)
        .await?)
    }
}
