//! A target's health: a circuit breaker over its vendor calls, and a pause until a rate-limit reset
//! the vendor announced. Both are waits the bridge chooses itself: a row that meets them is put
//! back without counting an attempt. Only a reconcile whose vendor call failed counts, once.
//!
//! closed ──10 failures in a row──▶ open ──wait ends──▶ half-open: one probe reconcile
//!   ▲                              ▲                      │
//!   └────────── probe succeeds ────┼──────────────────────┤
//!                                  └── probe fails: open again, the wait doubled (to a minute)
//!
//! A vendor refusing the bridge's credentials opens the breaker at once, for the target's fixed
//! `auth_retry_secs`, with the vendor's words (`credentials_refused`): the probe is then the one
//! sign-in attempt per wait, and its success resumes the target by itself.
//!
//! Time is passed in (`now`), so tests move it; the worker persists every change (`Snapshot`) so
//! that a restart keeps an open breaker and a known reset.
use crate::store::BreakerState;
use rand::Rng;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Failures in a row (reconciles whose vendor call failed, no success between) that open the
/// breaker: a vendor that is down fails every call, one that drops a third of them does not get
/// ten in a row (bench/weather.sh: five opened it needlessly at 30% random faults).
pub const FAILURES_TO_OPEN: u32 = 10;
const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaker {
    Closed {
        failures: u32,
    },
    /// No calls until `until`; then one probe. `trips` counts the openings in a row.
    Open {
        until: SystemTime,
        trips: u32,
    },
    /// One probe may run (`probing` while it does); its verdict closes or re-opens the breaker.
    HalfOpen {
        trips: u32,
        probing: bool,
    },
}

impl Breaker {
    pub fn state(&self) -> BreakerState {
        match self {
            Self::Closed { .. } => BreakerState::Closed,
            Self::Open { .. } => BreakerState::Open,
            Self::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// What a reconcile tells the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The vendor answered (a success, or a refusal that retrying cannot change).
    Answered,
    /// A vendor call failed in a way worth retrying (timeout, reset, 5xx, 429, refused credential).
    Failed,
    /// No vendor call decided anything (the row was put back by a wait of the bridge's own).
    None,
}

/// Whether rows of the target may be claimed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimable {
    All,
    /// One row, as the half-open probe.
    Probe,
    /// None until then.
    Not(SystemTime),
}

/// A known reset: no calls until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub until: SystemTime,
    pub reason: String,
}

/// The persisted form (table `target_state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub breaker: Breaker,
    pub pause: Option<Pause>,
    /// The vendor's words when it refused the bridge's credentials (the breaker is then open).
    pub refused: Option<String>,
}

/// A state change worth one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub until: Option<SystemTime>,
}

pub struct Health {
    state: Mutex<Snapshot>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            breaker: Breaker::Closed { failures: 0 },
            pause: None,
            refused: None,
        }
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::restore(Snapshot::default())
    }
}

impl Health {
    pub fn restore(snapshot: Snapshot) -> Self {
        Self {
            state: Mutex::new(snapshot),
        }
    }

    /// Takes up a recorded state (after a restart).
    pub fn replace(&self, snapshot: Snapshot) {
        *self.lock() = snapshot;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }

    /// Whether rows may be claimed: not while paused or open; one probe when an open wait is over.
    pub fn claimable(&self, now: SystemTime) -> Claimable {
        let state = self.lock();
        if let Some(pause) = state.pause.as_ref().filter(|p| p.until > now) {
            return Claimable::Not(pause.until);
        }
        match state.breaker {
            Breaker::Closed { .. } => Claimable::All,
            Breaker::Open { until, .. } if until > now => Claimable::Not(until),
            Breaker::Open { .. } | Breaker::HalfOpen { probing: false, .. } => Claimable::Probe,
            Breaker::HalfOpen { probing: true, .. } => Claimable::Not(now + FIRST_WAIT),
        }
    }

    /// A probe row was claimed: the breaker is half-open until its verdict.
    pub fn probe_started(&self) -> Option<Transition> {
        let mut state = self.lock();
        let trips = match state.breaker {
            Breaker::Open { trips, .. } | Breaker::HalfOpen { trips, .. } => trips,
            Breaker::Closed { .. } => return None,
        };
        let from = state.breaker.state();
        state.breaker = Breaker::HalfOpen { trips, probing: true };
        (from != BreakerState::HalfOpen).then_some(Transition {
            from,
            to: BreakerState::HalfOpen,
            until: None,
        })
    }

    /// Whether a claimed row may call the vendor now (checked again once it holds a permit: the
    /// target may have paused or opened while it waited). `Some(wait)` puts it back.
    pub fn admit(&self, probe: bool, now: SystemTime) -> Option<Duration> {
        let state = self.lock();
        let wait_until = |until: SystemTime| {
            until
                .duration_since(now)
                .unwrap_or_default()
                .max(Duration::from_millis(10))
        };
        if let Some(pause) = state.pause.as_ref().filter(|p| p.until > now) {
            return Some(wait_until(pause.until));
        }
        match state.breaker {
            Breaker::Closed { .. } => None,
            Breaker::HalfOpen { .. } if probe => None,
            Breaker::Open { until, .. } => Some(wait_until(until)),
            Breaker::HalfOpen { .. } => Some(FIRST_WAIT),
        }
    }

    /// Records a reconcile's verdict; returns the transition it caused, if any.
    pub fn record(&self, verdict: Verdict, probe: bool, now: SystemTime) -> Option<Transition> {
        let mut state = self.lock();
        let from = state.breaker.state();
        let next = match (state.breaker, verdict) {
            (_, Verdict::None) => match state.breaker {
                // A probe that decided nothing: another probe may go.
                Breaker::HalfOpen { trips, .. } if probe => Breaker::HalfOpen { trips, probing: false },
                other => other,
            },
            (Breaker::Closed { .. }, Verdict::Answered) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, Verdict::Failed) if failures + 1 >= FAILURES_TO_OPEN => open(1, now),
            (Breaker::Closed { failures }, Verdict::Failed) => Breaker::Closed { failures: failures + 1 },
            (Breaker::HalfOpen { .. }, Verdict::Answered) if probe => Breaker::Closed { failures: 0 },
            (Breaker::HalfOpen { trips, .. }, Verdict::Failed) if probe => open(trips + 1, now),
            // Rows that were in flight when the breaker opened: their outcomes do not move it.
            (other, _) => other,
        };
        state.breaker = next;
        if matches!(next, Breaker::Closed { .. }) {
            state.refused = None;
        }
        let until = match next {
            Breaker::Open { until, .. } => Some(until),
            _ => None,
        };
        (from != next.state()).then_some(Transition {
            from,
            to: next.state(),
            until,
        })
    }

    /// The vendor refused the bridge's credentials: open for exactly `wait` (no doubling: the pace
    /// of sign-in attempts is the operator's `auth_retry_secs`), with the vendor's words. Rows in
    /// flight from before that meet an open breaker change nothing.
    pub fn refuse(&self, wait: Duration, reason: &str, probe: bool, now: SystemTime) -> Option<Transition> {
        let mut state = self.lock();
        let from = state.breaker.state();
        let trips = match state.breaker {
            Breaker::Open { .. } | Breaker::HalfOpen { .. } if !probe => return None,
            Breaker::Open { trips, .. } | Breaker::HalfOpen { trips, .. } => trips + 1,
            Breaker::Closed { .. } => 1,
        };
        let until = now + wait;
        state.breaker = Breaker::Open { until, trips };
        state.refused = Some(reason.to_owned());
        Some(Transition {
            from,
            to: BreakerState::Open,
            until: Some(until),
        })
    }

    /// A sign-in outside the worker's rows succeeded (the probe at start): a refusal recorded
    /// before is over. Whether there was one.
    pub fn signed_in(&self) -> bool {
        let mut state = self.lock();
        if state.refused.take().is_none() {
            return false;
        }
        state.breaker = Breaker::Closed { failures: 0 };
        true
    }

    /// Takes up what another replica recorded (`target_state`): a later reset, and an open breaker
    /// while this one is closed. When the record is `newer` than what this replica last wrote or
    /// read, it also takes up the verdict of the probe another replica sent (one probe goes for all
    /// replicas): closed, or open again for longer. Its own probe in flight decides for itself.
    pub fn adopt(&self, recorded: &Snapshot, newer: bool, now: SystemTime) -> Option<Transition> {
        let mut state = self.lock();
        if let Some(pause) = recorded.pause.as_ref().filter(|p| p.until > now) {
            if state.pause.as_ref().is_none_or(|p| p.until < pause.until) {
                state.pause = Some(pause.clone());
            }
        }
        let from = state.breaker.state();
        let next = match (state.breaker, recorded.breaker) {
            (Breaker::Closed { .. }, Breaker::Open { until, trips }) if until > now => Breaker::Open { until, trips },
            (Breaker::Open { until: mine, .. }, Breaker::Open { until, trips }) if newer && until > mine => {
                Breaker::Open { until, trips }
            }
            (Breaker::Open { .. } | Breaker::HalfOpen { probing: false, .. }, Breaker::Closed { failures: 0 })
                if newer =>
            {
                Breaker::Closed { failures: 0 }
            }
            _ => return None,
        };
        state.breaker = next;
        // The other replica's reason comes with its breaker (none once it closed).
        state.refused = recorded
            .refused
            .clone()
            .filter(|_| !matches!(next, Breaker::Closed { .. }));
        let until = match next {
            Breaker::Open { until, .. } => Some(until),
            _ => None,
        };
        Some(Transition {
            from,
            to: next.state(),
            until,
        })
    }

    /// A reset the vendor announced: no calls until `until` (a later reset wins).
    pub fn pause(&self, until: SystemTime, reason: &str) -> bool {
        let mut state = self.lock();
        if state.pause.as_ref().is_some_and(|p| p.until >= until) {
            return false;
        }
        state.pause = Some(Pause {
            until,
            reason: reason.to_owned(),
        });
        true
    }

    /// How long the target is still paused, if it is.
    pub fn pause_left(&self, now: SystemTime) -> Option<(Duration, String)> {
        let state = self.lock();
        let pause = state.pause.as_ref()?;
        let left = pause.until.duration_since(now).ok().filter(|d| !d.is_zero())?;
        Some((left, pause.reason.clone()))
    }
}

/// Open for the `trips`-th time in a row: the wait doubles each time, with jitter, up to a minute.
fn open(trips: u32, now: SystemTime) -> Breaker {
    let ceiling = FIRST_WAIT
        .saturating_mul(2u32.saturating_pow(trips.saturating_sub(1).min(20)))
        .min(LONGEST_WAIT);
    let wait = ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
    Breaker::Open {
        until: now + wait,
        trips,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + seconds)
    }

    fn open_until(health: &Health) -> SystemTime {
        match health.snapshot().breaker {
            Breaker::Open { until, .. } => until,
            other => panic!("not open: {other:?}"),
        }
    }

    #[test]
    fn another_replicas_later_reset_and_open_breaker_are_taken_up_but_not_its_older_ones() {
        let health = Health::default();
        health.pause(at(100), "mine");
        let recorded = Snapshot {
            breaker: Breaker::Open {
                until: at(50),
                trips: 2,
            },
            pause: Some(Pause {
                until: at(200),
                reason: "theirs".into(),
            }),
            refused: None,
        };
        let opened = health.adopt(&recorded, false, at(0)).unwrap();
        assert_eq!(
            (opened.from, opened.to, opened.until),
            (BreakerState::Closed, BreakerState::Open, Some(at(50)))
        );
        assert_eq!(health.snapshot(), recorded);
        // An earlier reset and a breaker whose wait is over change nothing.
        let older = Snapshot {
            breaker: Breaker::Open {
                until: at(10),
                trips: 1,
            },
            pause: Some(Pause {
                until: at(150),
                reason: "old".into(),
            }),
            refused: None,
        };
        let half_open = Health::restore(Snapshot {
            breaker: Breaker::HalfOpen {
                trips: 1,
                probing: true,
            },
            pause: None,
            refused: None,
        });
        assert_eq!(half_open.adopt(&older, true, at(20)), None);
        assert_eq!(
            half_open.snapshot().breaker,
            Breaker::HalfOpen {
                trips: 1,
                probing: true
            }
        );
        assert_eq!(health.adopt(&older, false, at(20)), None);
        assert_eq!(health.pause_left(at(20)).unwrap().1, "theirs");
    }

    #[test]
    fn the_verdict_of_another_replicas_probe_is_taken_up_once_it_is_newer_than_this_ones_record() {
        let open = |until| Snapshot {
            breaker: Breaker::Open { until, trips: 1 },
            pause: None,
            refused: None,
        };
        let closed = Snapshot::default();
        // Open here, closed in the record this replica wrote itself: its own probe decides.
        let health = Health::restore(open(at(10)));
        assert_eq!(health.adopt(&closed, false, at(5)), None);
        // Another replica's probe closed it.
        let taken = health.adopt(&closed, true, at(12)).unwrap();
        assert_eq!((taken.from, taken.to), (BreakerState::Open, BreakerState::Closed));
        assert_eq!(health.snapshot().breaker, Breaker::Closed { failures: 0 });
        // Another replica's probe failed: open again, until its later time (an earlier one is not).
        let health = Health::restore(open(at(10)));
        assert_eq!(health.adopt(&open(at(8)), true, at(5)), None);
        assert_eq!(health.adopt(&open(at(30)), true, at(11)).unwrap().until, Some(at(30)));
        assert_eq!(open_until(&health), at(30));
    }

    #[test]
    fn failures_in_a_row_open_it_and_an_answer_in_between_resets_the_count() {
        let health = Health::default();
        for _ in 1..FAILURES_TO_OPEN {
            assert_eq!(health.record(Verdict::Failed, false, at(0)), None);
        }
        health.record(Verdict::Answered, false, at(0));
        for _ in 1..FAILURES_TO_OPEN {
            health.record(Verdict::Failed, false, at(0));
        }
        assert_eq!(health.claimable(at(0)), Claimable::All);
        let opened = health.record(Verdict::Failed, false, at(0)).unwrap();
        assert_eq!((opened.from, opened.to), (BreakerState::Closed, BreakerState::Open));
        assert!(matches!(health.claimable(at(0)), Claimable::Not(_)));
    }

    #[test]
    fn after_the_wait_exactly_one_probe_decides() {
        let health = Health::default();
        for _ in 0..FAILURES_TO_OPEN {
            health.record(Verdict::Failed, false, at(0));
        }
        let first_wait = open_until(&health).duration_since(at(0)).unwrap();
        assert!(first_wait <= FIRST_WAIT, "{first_wait:?}");
        assert_eq!(health.claimable(at(2)), Claimable::Probe);
        assert_eq!(health.probe_started().unwrap().to, BreakerState::HalfOpen);
        // Only the probe may call; the rows in flight wait, and their outcomes change nothing.
        assert!(matches!(health.claimable(at(2)), Claimable::Not(_)));
        assert_eq!(health.admit(true, at(2)), None);
        assert!(health.admit(false, at(2)).is_some());
        assert_eq!(health.record(Verdict::Failed, false, at(2)), None);
        // The probe fails: open again, for longer.
        let reopened = health.record(Verdict::Failed, true, at(2)).unwrap();
        assert_eq!(
            (reopened.from, reopened.to),
            (BreakerState::HalfOpen, BreakerState::Open)
        );
        let second_wait = open_until(&health).duration_since(at(2)).unwrap();
        assert!(second_wait >= FIRST_WAIT, "{second_wait:?}");
        // The next probe succeeds: closed.
        assert_eq!(health.claimable(at(10)), Claimable::Probe);
        health.probe_started();
        let closed = health.record(Verdict::Answered, true, at(10)).unwrap();
        assert_eq!((closed.from, closed.to), (BreakerState::HalfOpen, BreakerState::Closed));
        assert_eq!(health.claimable(at(10)), Claimable::All);
    }

    #[test]
    fn a_probe_that_decides_nothing_lets_another_go() {
        let health = Health::default();
        for _ in 0..FAILURES_TO_OPEN {
            health.record(Verdict::Failed, false, at(0));
        }
        health.probe_started();
        assert_eq!(health.record(Verdict::None, true, at(2)), None);
        assert_eq!(health.claimable(at(2)), Claimable::Probe);
    }

    #[test]
    fn a_pause_holds_every_row_until_the_reset_and_the_later_reset_wins() {
        let health = Health::default();
        assert!(health.pause(at(30), "HOURLY_APIINVOCATION_LIMIT_EXCEEDED"));
        assert!(!health.pause(at(10), "burst"));
        assert_eq!(health.claimable(at(5)), Claimable::Not(at(30)));
        assert_eq!(health.admit(false, at(5)), Some(Duration::from_secs(25)));
        let (left, reason) = health.pause_left(at(5)).unwrap();
        assert_eq!(
            (left, reason.as_str()),
            (Duration::from_secs(25), "HOURLY_APIINVOCATION_LIMIT_EXCEEDED")
        );
        assert_eq!(health.claimable(at(31)), Claimable::All);
        assert_eq!(health.pause_left(at(31)), None);
    }

    #[test]
    fn a_restored_snapshot_keeps_an_open_breaker_and_a_pause() {
        let snapshot = Snapshot {
            breaker: Breaker::Open {
                until: at(60),
                trips: 3,
            },
            pause: Some(Pause {
                until: at(90),
                reason: "Retry-After".into(),
            }),
            refused: None,
        };
        let health = Health::restore(snapshot.clone());
        assert_eq!(health.snapshot(), snapshot);
        assert_eq!(health.claimable(at(70)), Claimable::Not(at(90)));
        assert_eq!(health.claimable(at(95)), Claimable::Probe);
    }
}
