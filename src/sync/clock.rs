//! The time the sync engine reads: the system's, which tests move forward (`advance`) to see what
//! a breaker or a vendor's reset does after minutes, without waiting for them.
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[derive(Debug, Default)]
pub struct Clock {
    ahead: Mutex<Duration>,
}

impl Clock {
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + *self.ahead.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `now` as the store's timestamps want it.
    pub fn now_utc(&self) -> time::OffsetDateTime {
        self.now().into()
    }

    /// Moves this clock (and only it) `by` into the future.
    pub fn advance(&self, by: Duration) {
        *self.ahead.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}
