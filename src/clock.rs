//! The time the store and the sync engine read: the system's, which tests move forward
//! (`advance`) to see what a breaker, a vendor's reset or a due row does after minutes, without
//! waiting for them. One clock per store, shared by its worker, so both agree on "now".
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

    /// The wait until `at`, from `now` (none once it passed).
    pub fn until(&self, at: time::OffsetDateTime) -> std::time::Duration {
        std::time::Duration::try_from(at - self.now_utc()).unwrap_or_default()
    }

    /// Moves this clock (and only it) `by` into the future.
    pub fn advance(&self, by: Duration) {
        *self.ahead.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}
