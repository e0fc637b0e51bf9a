//! A cached credential or discovered value (a CyberArk session, a DocuSign token, an Eloqua API
//! base): fetched once by whoever needs it first, while the others wait, and forgotten when the
//! vendor refuses it, so that the next caller fetches a fresh one.
use super::client::VendorResponse;
use super::ConnectorError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct Cached<T> {
    slot: Mutex<Option<(T, Option<Instant>)>>,
    /// Fetches the vendor refused as a wrong credential, and its words: callers that waited on
    /// such a fetch take its answer instead of signing in again (a vault locks an account after a
    /// few failed sign-ins; the target's breaker then paces the next attempt).
    refusals: AtomicU64,
    last_refusal: std::sync::Mutex<String>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Self {
            slot: Mutex::new(None),
            refusals: AtomicU64::new(0),
            last_refusal: std::sync::Mutex::new(String::new()),
        }
    }
}

impl<T: Clone + PartialEq> Cached<T> {
    /// The cached value while it lives, else the one `fetch` returns with its lifetime (`None`: until
    /// forgotten). The lock is held across `fetch`, so concurrent callers share one fetch.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<T, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Option<Duration>), ConnectorError>>,
    {
        let refusals_seen = self.refusals.load(Ordering::SeqCst);
        let mut slot = self.slot.lock().await;
        if let Some((value, expires)) = slot.as_ref() {
            if expires.is_none_or(|at| Instant::now() < at) {
                return Ok(value.clone());
            }
        }
        if self.refusals.load(Ordering::SeqCst) != refusals_seen {
            let words = self.last_refusal.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Err(ConnectorError::refused(words));
        }
        let (value, lifetime) = match fetch().await {
            Err(ConnectorError::CredentialsRefused { detail }) => {
                detail.clone_into(&mut self.last_refusal.lock().unwrap_or_else(|p| p.into_inner()));
                self.refusals.fetch_add(1, Ordering::SeqCst);
                return Err(ConnectorError::refused(detail));
            }
            other => other?,
        };
        *slot = Some((value.clone(), lifetime.map(|l| Instant::now() + l)));
        Ok(value)
    }

    /// One vendor call made with the cached credential (`fetch` gets one when none lives); when
    /// the vendor `refused` it, the credential is forgotten and the call made once more with a fresh
    /// one. A second refusal is `ConnectorError::CredentialsRefused` with `again` as its detail: a
    /// credential the vendor has just issued and refuses at once will not do better on a retry.
    pub async fn renewing<F, Fut, S, SFut>(
        &self,
        fetch: F,
        send: S,
        refused: impl Fn(&VendorResponse) -> bool,
        again: &str,
    ) -> Result<VendorResponse, ConnectorError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(T, Option<Duration>), ConnectorError>>,
        S: Fn(T) -> SFut,
        SFut: Future<Output = Result<VendorResponse, ConnectorError>>,
    {
        for _ in 0..2 {
            let credential = self.get(&fetch).await?;
            let response = send(credential.clone()).await?;
            if !refused(&response) {
                return Ok(response);
            }
            self.forget(&credential).await;
        }
        Err(ConnectorError::refused(again))
    }

    /// The cached value if it is still alive, without fetching.
    pub async fn peek(&self) -> Option<T> {
        let slot = self.slot.lock().await;
        let (value, expires) = slot.as_ref()?;
        expires.is_none_or(|at| Instant::now() < at).then(|| value.clone())
    }

    /// Forgets `stale` (only if it is still the cached value: another caller may have renewed it).
    pub async fn forget(&self, stale: &T) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|(value, _)| value == stale) {
            *slot = None;
        }
    }

    /// Empties the cache and returns what it held (a session to close on shutdown).
    pub async fn take(&self) -> Option<T> {
        self.slot.lock().await.take().map(|(value, _)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn one_fetch_serves_until_forgotten_or_expired() {
        let fetches = AtomicU32::new(0);
        let cache = Cached::<u32>::default();
        let fetch = |ttl: Option<Duration>| {
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok((n, ttl)) }
        };
        assert_eq!(cache.get(|| fetch(None)).await.unwrap(), 1);
        assert_eq!(cache.get(|| fetch(None)).await.unwrap(), 1);
        cache.forget(&7).await;
        assert_eq!(
            cache.get(|| fetch(None)).await.unwrap(),
            1,
            "a stale value another caller saw"
        );
        cache.forget(&1).await;
        assert_eq!(cache.get(|| fetch(Some(Duration::ZERO))).await.unwrap(), 2);
        assert_eq!(
            cache.get(|| fetch(None)).await.unwrap(),
            3,
            "an expired value is fetched again"
        );
        assert_eq!(cache.take().await, Some(3));
        assert_eq!(cache.take().await, None);
    }
}
