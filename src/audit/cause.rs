//! The SCIM request a piece of work is done for. The request middleware runs each request's
//! handler within its id; the store reads it when it queues sync rows, so a reconcile's events
//! name the request that caused them without every store call carrying the id.

tokio::task_local! {
    static REQUEST: String;
}

/// Runs `work` on behalf of SCIM request `id`.
pub async fn within_request<F: std::future::Future>(id: String, work: F) -> F::Output {
    REQUEST.scope(id, work).await
}

/// The id of the SCIM request being served, if the caller runs within one.
pub fn current_request() -> Option<String> {
    REQUEST.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_within_a_request_sees_its_id_and_other_work_none() {
        assert_eq!(current_request(), None);
        let seen = within_request("req-1".into(), async { current_request() }).await;
        assert_eq!(seen.as_deref(), Some("req-1"));
        assert_eq!(current_request(), None);
    }
}
