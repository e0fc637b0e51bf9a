//! CPU work that grows with a request body (parsing JSON, normalising a resource, applying a PATCH).
//! An actix worker serves every connection it holds on one thread, so a 1 MiB PATCH computed there
//! would stall all of them. Small bodies (the IdPs' everyday requests) are handled in place; large
//! ones run on the blocking pool, no more of them at once than leaves a core for the workers.
use super::ApiError;
use crate::scim::ScimError;
use std::sync::LazyLock;
use tokio::sync::Semaphore;

/// Bodies up to this size are cheap enough (well under a millisecond) to handle in place.
pub const IN_PLACE_BYTES: usize = 16 * 1024;

static LARGE_BODY_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Semaphore::new(cores.saturating_sub(1).max(1))
});

/// Runs `work` for a request whose body is `body_len` bytes: in place when small, else on the
/// blocking pool once a slot is free (waiting for one does not hold the worker).
pub async fn run<T: Send + 'static>(
    body_len: usize,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if body_len <= IN_PLACE_BYTES {
        return work();
    }
    let _slot = LARGE_BODY_SLOTS.acquire().await.map_err(|_| unavailable())?;
    actix_web::web::block(work).await.map_err(|_| unavailable())?
}

fn unavailable() -> ApiError {
    tracing::error!("the blocking pool refused work (shutting down?)");
    ScimError::new(503, None, "the server is shutting down; retry the request").into()
}
