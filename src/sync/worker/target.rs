//! One target as the worker drives it: its connector and permits, its health (breaker and pause,
//! `sync::health`) written to `target_state` whenever it changes, and the vendor keys in flight.
use crate::store::{format_timestamp, BreakerState, Store, TargetStateRow};
use crate::sync::clock::Clock;
use crate::sync::connectors::Connector;
use crate::sync::entitlements::Entitlements;
use crate::sync::health::{Breaker, Health, Pause, Snapshot, Transition, Verdict};
use crate::sync::mapping::Mapping;
use crate::sync::shared::SharedLimits;
use crate::sync::subject::TargetRules;
use crate::sync::target::{OnDelete, TargetError, TargetMode, TargetSettings};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

pub(super) struct Target {
    pub name: String,
    pub on_delete: OnDelete,
    pub takes_passwords: bool,
    /// An inactive user the vendor never had is created (`TargetSettings::creates_inactive`).
    pub creates_inactive: bool,
    /// `mode = "observe"`: reconciles stop before every write and record it as planned.
    pub observe: bool,
    /// Removals allowed per window before the rest are held.
    pub removal_limit: crate::store::RemovalLimit,
    /// While the vendor refuses the bridge's credentials: the wait between sign-in attempts.
    pub auth_retry: std::time::Duration,
    /// Which SCIM values the vendor's fields hold.
    pub mapping: Mapping,
    /// What the users' SCIM groups grant at the vendor.
    pub entitlements: Entitlements,
    pub connector: Connector,
    /// Reconciles (a batch counts as one) in flight at once: the target's `concurrency`.
    pub permits: Arc<Semaphore>,
    pub concurrency: usize,
    /// The concurrency held with the other replicas (PostgreSQL), beside `permits`.
    pub shared: Option<SharedLimits>,
    /// Rows handed to the connector at once (`Connector::batch_size`).
    pub batch_size: usize,
    pub health: Arc<Health>,
    /// What `target_state` holds (written when the health moves away from it).
    saved: tokio::sync::Mutex<Option<Snapshot>>,
    /// Vendor keys (e-mails, lower-cased) with a reconcile in flight: a deleted user and a new one
    /// with the same e-mail are never reconciled at once, so one cannot undo the other.
    busy_keys: Arc<Mutex<HashSet<String>>>,
}

/// Holds vendor keys busy until dropped.
pub(super) struct KeyGuard<'t> {
    target: &'t Target,
    keys: Vec<String>,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut busy = self.target.busy_keys.lock().unwrap_or_else(|p| p.into_inner());
        for key in &self.keys {
            busy.remove(key);
        }
    }
}

impl Target {
    /// The target a `[[target]]` describes, with its own HTTP client (its timeouts).
    pub fn build(
        settings: &TargetSettings,
        clock: &Arc<Clock>,
        schema: &'static crate::scim::schema::ResourceSchema,
        store: &Store,
    ) -> Result<Self, TargetError> {
        let shared = SharedLimits::of(store, &settings.name, settings.concurrency());
        let http = settings.http_client()?;
        let health = Arc::new(Health::default());
        let connector = Connector::build(settings, http, health.clone(), clock.clone(), shared.clone())?;
        Ok(Self {
            name: settings.name.clone(),
            on_delete: settings.on_delete(),
            takes_passwords: settings.takes_passwords(),
            creates_inactive: settings.creates_inactive(),
            observe: settings.mode == TargetMode::Observe,
            removal_limit: settings.removal_limit(),
            auth_retry: settings.auth_retry(),
            mapping: settings.mapping(schema)?,
            entitlements: settings.entitlements()?,
            batch_size: connector.batch_size(),
            connector,
            permits: Arc::new(Semaphore::new(settings.concurrency())),
            concurrency: settings.concurrency(),
            shared,
            health,
            saved: tokio::sync::Mutex::new(None),
            busy_keys: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// This target (built by a reload) in the place of `old`: it goes on from `old`'s health
    /// (an open breaker, a vendor's reset, a refusal), shares its busy vendor keys, and its permits
    /// unless the concurrency changed.
    pub fn succeeding(mut self, old: &Target) -> Self {
        self.health.replace(old.health.snapshot());
        self.saved = tokio::sync::Mutex::new(old.saved.try_lock().ok().and_then(|s| s.clone()));
        self.busy_keys = old.busy_keys.clone();
        if self.concurrency == old.concurrency {
            self.permits = old.permits.clone();
        }
        self
    }

    /// Takes up the health recorded before a restart (an open breaker, a known reset).
    pub async fn restore(&self, row: Option<&TargetStateRow>, now: SystemTime) {
        let Some(snapshot) = row.and_then(snapshot_of) else {
            return;
        };
        self.health.replace(snapshot.clone());
        *self.saved.lock().await = Some(snapshot);
        if let Some((wait, reason)) = self.health.pause_left(now) {
            tracing::info!(target = %self.name, wait_secs = wait.as_secs_f64(), reason, "the vendor's reset recorded before the restart still holds");
        }
    }

    /// Takes up the health another replica recorded for this target (see `Health::adopt`).
    pub async fn adopt(&self, row: Option<&TargetStateRow>, now: SystemTime) {
        let Some(recorded) = row.and_then(snapshot_of) else {
            return;
        };
        let mut saved = self.saved.lock().await;
        let newer = saved.as_ref() != Some(&recorded);
        if let Some(transition) = self.health.adopt(&recorded, newer, now) {
            let until = transition.until.map(|u| format_timestamp(u.into()));
            match transition.to {
                BreakerState::Closed => {
                    tracing::info!(target = %self.name, "circuit breaker closed: another replica's probe succeeded")
                }
                _ => tracing::warn!(target = %self.name, until = ?until, "circuit breaker opened by another replica"),
            }
        }
        // What this replica has now read counts as known, so an unchanged record is not taken up
        // again; its own changes since are still saved by `save_health`.
        if newer && self.health.snapshot() == recorded {
            *saved = Some(recorded);
        }
    }

    /// What reading a row of this target needs (`sync::subject`). Passwords are looked for only
    /// where they can be held: the vendor takes them and a secrets key seals them.
    pub fn rules(&self, sealing: bool) -> TargetRules<'_> {
        TargetRules {
            name: &self.name,
            on_delete: self.on_delete,
            mapping: &self.mapping,
            takes_passwords: self.takes_passwords && sealing,
            creates_inactive: self.creates_inactive,
            entitlements: &self.entitlements,
        }
    }

    /// Marks `keys` busy, or `None` if one already is.
    pub fn lock_keys(&self, keys: Vec<String>) -> Option<KeyGuard<'_>> {
        let mut busy = self.busy_keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.iter().any(|k| busy.contains(k)) {
            return None;
        }
        busy.extend(keys.iter().cloned());
        Some(KeyGuard { target: self, keys })
    }

    /// A probe row was claimed.
    pub fn probe_started(&self) {
        if let Some(transition) = self.health.probe_started() {
            self.log(&transition);
        }
    }

    /// The vendor refused the bridge's credentials: no call for `auth_retry` (then one sign-in).
    pub fn refuse(&self, reason: &str, probe: bool, now: SystemTime) {
        if let Some(transition) = self.health.refuse(self.auth_retry, reason, probe, now) {
            let until = transition.until.map(|u| format_timestamp(u.into()));
            tracing::error!(target = %self.name, until, vendor_says = %reason,
                "the vendor refuses the bridge's credentials; rows wait, one sign-in attempt at {}", until.as_deref().unwrap_or("-"));
        }
    }

    /// Tells the breaker what a reconcile found.
    pub fn record(&self, verdict: Verdict, probe: bool, now: SystemTime) {
        if let Some(transition) = self.health.record(verdict, probe, now) {
            self.log(&transition);
        }
    }

    /// One line per breaker transition.
    fn log(&self, transition: &Transition) {
        let until = transition.until.map(|u| format_timestamp(u.into()));
        let (from, to) = (transition.from.as_str(), transition.to.as_str());
        if transition.to == BreakerState::Closed {
            tracing::info!(target = %self.name, from, to, "circuit breaker closed: the probe succeeded");
        } else {
            tracing::warn!(target = %self.name, from, to, until, "circuit breaker {from} -> {to}");
        }
    }

    /// Writes the health to `target_state` if it moved since it was last written.
    pub async fn save_health(&self, store: &Store) {
        let mut saved = self.saved.lock().await;
        let now = self.health.snapshot();
        let unchanged = match &*saved {
            Some(before) => before == &now,
            None => now == Snapshot::default(),
        };
        if unchanged {
            return;
        }
        match store.save_target_state(&row_of(&self.name, &now)).await {
            Ok(()) => *saved = Some(now),
            Err(e) => tracing::error!(target = %self.name, error = %e, "cannot record the target's health"),
        }
    }
}

fn row_of(target: &str, snapshot: &Snapshot) -> TargetStateRow {
    let stamp = OffsetDateTime::from;
    let (failures, trips, open_until) = match snapshot.breaker {
        Breaker::Closed { failures } => (failures, 0, None),
        Breaker::Open { until, trips } => (0, trips, Some(stamp(until))),
        Breaker::HalfOpen { trips, .. } => (0, trips, None),
    };
    TargetStateRow {
        target: target.to_owned(),
        breaker: snapshot.breaker.state(),
        failures: i64::from(failures),
        trips: i64::from(trips),
        open_until,
        paused_until: snapshot.pause.as_ref().map(|p| stamp(p.until)),
        pause_reason: snapshot.pause.as_ref().map(|p| p.reason.clone()),
        refused: snapshot.refused.clone(),
    }
}

fn snapshot_of(row: &TargetStateRow) -> Option<Snapshot> {
    let time = |at: &Option<OffsetDateTime>| at.map(SystemTime::from);
    let count = |n: i64| u32::try_from(n).unwrap_or(0);
    let breaker = match row.breaker {
        BreakerState::Open => Breaker::Open {
            until: time(&row.open_until)?,
            trips: count(row.trips),
        },
        // A probe in flight when the process stopped never finished: another may go.
        BreakerState::HalfOpen => Breaker::HalfOpen {
            trips: count(row.trips),
            probing: false,
        },
        BreakerState::Closed => Breaker::Closed {
            failures: count(row.failures),
        },
    };
    let pause = time(&row.paused_until).map(|until| Pause {
        until,
        reason: row.pause_reason.clone().unwrap_or_default(),
    });
    Some(Snapshot {
        breaker,
        pause,
        refused: row.refused.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_stored_form_gives_back_the_same_health() {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + s * 1000);
        for snapshot in [
            Snapshot::default(),
            Snapshot {
                breaker: Breaker::Open {
                    until: at(60),
                    trips: 2,
                },
                pause: Some(Pause {
                    until: at(90),
                    reason: "HOURLY_APIINVOCATION_LIMIT_EXCEEDED".into(),
                }),
                refused: Some("Logon refused: PASWS013E".into()),
            },
            Snapshot {
                breaker: Breaker::Closed { failures: 3 },
                pause: None,
                refused: None,
            },
        ] {
            assert_eq!(snapshot_of(&row_of("t", &snapshot)), Some(snapshot));
        }
    }
}
