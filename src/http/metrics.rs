//! `GET /metrics` (Prometheus text, for a `metrics` token or any other valid credential): HTTP requests by route, status
//! and latency; sync queue depth and dead rows per target; vendor calls by target, outcome and
//! latency. Counters are kept by the `metrics` facade; the queue gauges are read at scrape time.
use super::AppState;
use crate::store::{QueueState, TargetState};
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Seconds: from a cached token check to a slow vendor.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (several servers in one test process share it).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .install_recorder();
            match recorder {
                Ok(handle) => {
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Histograms are folded into their buckets on a timer, so memory stays flat between scrapes.
fn spawn_upkeep(handle: PrometheusHandle) {
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            handle.run_upkeep();
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::warn!(error = %e, "metrics upkeep thread not started"));
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .wrap(actix_web::middleware::from_fn(super::auth::require_metrics_auth))
            .route(web::get().to(metrics)),
    );
}

/// One HTTP request, as the request log middleware saw it.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    ::metrics::counter!("scim_bridge_http_requests_total", &labels).increment(1);
    ::metrics::histogram!("scim_bridge_http_request_duration_seconds", &labels[..2]).record(seconds);
}

/// `scim_bridge_target_state{target, state}`: 1 for the state each configured target is in, 0 for
/// the others, as the worker last recorded it.
async fn record_target_states(state: &AppState) {
    let rows = match state.store.target_status().await {
        Ok(rows) => rows,
        Err(e) => return tracing::error!(error = %e, "metrics: cannot read the targets' state"),
    };
    for target in state.store.target_names() {
        let current = rows
            .iter()
            .find(|r| r.target == target)
            .map_or(TargetState::Closed, |r| r.state);
        for state in TargetState::ALL.iter().copied() {
            let value = if state == current { 1.0 } else { 0.0 };
            ::metrics::gauge!("scim_bridge_target_state", "target" => target.to_owned(), "state" => state.as_str())
                .set(value);
        }
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let Some(handle) = install() else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    record_queue(&state).await;
    record_oldest_pending(&state).await;
    record_target_states(&state).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// Rows by target and state: `scim_bridge_sync_queue_rows{state}`, and the held and dead rows
/// each as their own gauge (what an alert names).
async fn record_queue(state: &AppState) {
    let counts = match state.store.queue_counts().await {
        Ok(counts) => counts,
        Err(e) => return tracing::error!(error = %e, "metrics: cannot count the sync queue"),
    };
    let count = |target: &str, queue_state: QueueState| {
        counts
            .iter()
            .find(|(t, s, _)| t == target && *s == queue_state)
            .map_or(0, |(_, _, n)| *n) as f64
    };
    for target in &state.store.target_names() {
        for queue_state in [QueueState::Pending, QueueState::Dead] {
            let label = queue_state.as_str();
            ::metrics::gauge!("scim_bridge_sync_queue_rows", "target" => target.to_owned(), "state" => label)
                .set(count(target, queue_state));
        }
        ::metrics::gauge!("scim_bridge_sync_held_rows", "target" => target.to_owned())
            .set(count(target, QueueState::Held));
        ::metrics::gauge!("scim_bridge_sync_dead_rows", "target" => target.to_owned())
            .set(count(target, QueueState::Dead));
    }
}

/// `scim_bridge_sync_oldest_pending_seconds{target}`: how long the change that has waited longest
/// has not reached the vendor; 0 when nothing waits. The convergence alarm.
async fn record_oldest_pending(state: &AppState) {
    let oldest = match state.store.oldest_pending().await {
        Ok(rows) => rows,
        Err(e) => return tracing::error!(error = %e, "metrics: cannot read the oldest pending change"),
    };
    let now = state.store.clock().now_utc();
    for target in &state.store.target_names() {
        let waited = oldest
            .iter()
            .find(|(t, _)| t == target)
            .map_or(0.0, |(_, since)| (now - *since).as_seconds_f64().max(0.0));
        ::metrics::gauge!("scim_bridge_sync_oldest_pending_seconds", "target" => target.to_owned()).set(waited);
    }
}
