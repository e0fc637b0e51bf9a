//! Each target's health as the worker last recorded it (table `target_state`, migration 9): the
//! circuit breaker and a vendor's announced reset, so that both survive a restart and operators see
//! them (`sync status`, `v_target_status`, `/metrics`).
use super::db::args;
use super::states::BreakerState;
use super::timestamp::Timestamp;
use super::{Store, StoreError};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStateRow {
    pub target: String,
    pub breaker: BreakerState,
    pub failures: i64,
    pub trips: i64,
    pub open_until: Option<OffsetDateTime>,
    pub paused_until: Option<OffsetDateTime>,
    pub pause_reason: Option<String>,
    /// The vendor's words while it refuses the bridge's credentials.
    pub refused: Option<String>,
}

impl Store {
    /// Records each configured target (a closed breaker) unless its state is already recorded, so
    /// that `v_target_status` lists it from `target_state` alone (migration 14).
    pub async fn record_targets(&self) -> Result<(), StoreError> {
        self.record_target_names(&self.target_names()).await
    }

    /// The same for the targets `names` (a reload, before they replace the configured ones).
    pub async fn record_target_names(&self, names: &[String]) -> Result<(), StoreError> {
        for name in names {
            self.db
                .execute(
                    "INSERT INTO target_state (target, breaker, updated_at) VALUES ($1, 'closed', $2)
                     ON CONFLICT (target) DO NOTHING",
                    args![name, self.db.now()],
                )
                .await?;
        }
        Ok(())
    }

    /// Records a target's health. A closed breaker still counting failures does not overwrite an
    /// open or half-open one: with replicas, that is another replica's trip, recorded later than
    /// this one's count (a probe's success, or any success, writes a closed breaker with none).
    pub async fn save_target_state(&self, row: &TargetStateRow) -> Result<(), StoreError> {
        self.db
            .execute(
            "INSERT INTO target_state (target, breaker, failures, trips, open_until, paused_until, pause_reason, updated_at, refused)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (target) DO UPDATE SET breaker = excluded.breaker, failures = excluded.failures,
                 trips = excluded.trips, open_until = excluded.open_until, paused_until = excluded.paused_until,
                 pause_reason = excluded.pause_reason, updated_at = excluded.updated_at, refused = excluded.refused
             WHERE NOT (target_state.breaker <> 'closed' AND excluded.breaker = 'closed' AND excluded.failures > 0)",
                args![
                    &row.target,
                    row.breaker.as_str(),
                    row.failures,
                    row.trips,
                    row.open_until.map(Timestamp),
                    row.paused_until.map(Timestamp),
                    &row.pause_reason,
                    self.db.now(),
                    &row.refused
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn target_states(&self) -> Result<Vec<TargetStateRow>, StoreError> {
        type Columns = (
            String,
            BreakerState,
            i64,
            i64,
            Option<Timestamp>,
            Option<Timestamp>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Columns> = self
            .db
            .read(
                "SELECT target, breaker, failures, trips, open_until, paused_until, pause_reason, refused FROM target_state ORDER BY target",
                args![],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(target, breaker, failures, trips, open_until, paused_until, pause_reason, refused)| TargetStateRow {
                    target,
                    breaker,
                    failures,
                    trips,
                    open_until: open_until.map(|t| t.0),
                    paused_until: paused_until.map(|t| t.0),
                    pause_reason,
                    refused,
                },
            )
            .collect())
    }

    /// Takes the right to send `target`'s half-open probe until `until`, unless another replica
    /// holds it, or the record says the breaker is closed or open for longer (another replica's
    /// probe decided meanwhile: this one takes up its verdict instead). Whether this one may
    /// probe. (SQLite has one process: always.)
    pub async fn take_probe(
        &self,
        target: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if !self.is_shared() {
            return Ok(true);
        }
        let taken = self
            .db
            .execute(
                "UPDATE target_state SET probe_owner = $4, probe_until = $3
                 WHERE target = $1 AND breaker <> 'closed' AND (open_until IS NULL OR open_until <= $2)
                   AND (probe_until IS NULL OR probe_until < $2 OR probe_owner = $4)",
                args![target, Timestamp(now), Timestamp(until), self.replica()],
            )
            .await?;
        Ok(taken == 1)
    }

    /// Gives back the probe right once its verdict is recorded.
    pub async fn release_probe(&self, target: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE target_state SET probe_owner = NULL, probe_until = NULL WHERE target = $1 AND probe_owner = $2",
                args![target, self.replica()],
            )
            .await?;
        Ok(())
    }
}
