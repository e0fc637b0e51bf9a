//! The request log: one row per SCIM request (docs/audit.md, "Requests"). The middleware hands
//! each finished request to a channel; one writer task stores them in batches, so no request waits
//! on the log's writes (a request waits only if the writer is `QUEUE` rows behind).
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::mpsc;

/// How many finished requests may wait for the writer before requests wait for it.
const QUEUE: usize = 10_000;
/// The most rows one write transaction stores.
const BATCH: usize = 500;
/// How long the writer waits for more rows before it stores a batch that is not full.
const LINGER: Duration = Duration::from_millis(100);
/// How long the writer waits before trying a batch the database refused again, and how often.
const RETRY: Duration = Duration::from_secs(1);
const ATTEMPTS: u32 = 3;
/// The longest body kept (bytes); a longer one is cut there and says so.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Which bodies the log keeps (`audit.bodies`). Passwords and secrets are redacted either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bodies {
    /// None (the default): the log says who did what, not with which values.
    #[default]
    Off,
    /// Those of requests answered with an error (4xx, 5xx): what the IdP sent that was refused.
    Errors,
    /// Every request's and response's.
    All,
}

impl Bodies {
    /// Whether the request body must be read before the answer is known.
    pub fn keeps_any(self) -> bool {
        self != Self::Off
    }

    /// Whether a request answered with `status` keeps its bodies.
    pub fn keeps(self, status: u16) -> bool {
        match self {
            Self::Off => false,
            Self::Errors => status >= 400,
            Self::All => true,
        }
    }
}

/// The resource a request created, read, changed or deleted, as its handler names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// `User` or `Group`.
    pub resource_type: Option<&'static str>,
    pub id: Option<String>,
    /// The user's userName (a group's displayName) as answered.
    pub name: Option<String>,
}

/// One SCIM request as the log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// When it arrived (formatted when stored, off the request path).
    pub at: time::OffsetDateTime,
    pub request_id: String,
    /// The W3C `traceparent` it came with, when well-formed.
    pub traceparent: Option<String>,
    /// The token's name (`jwt:<subject>` for a JWT); `None` when it was not authenticated.
    pub token: Option<String>,
    pub method: String,
    /// The path and query as sent (the query names filters, never a credential).
    pub path: String,
    pub status: u16,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub latency_ms: f64,
    pub touched: Touched,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

/// Where finished requests go: a channel to the writer task.
#[derive(Debug, Clone)]
pub struct RequestLog {
    sender: mpsc::Sender<RequestRecord>,
    bodies: Bodies,
}

impl RequestLog {
    /// Starts the writer on `store`; it stops once every `RequestLog` is dropped and the rows
    /// already handed over are stored.
    pub fn start(store: Store, bodies: Bodies) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_batches(store, receiver));
        (Self { sender, bodies }, writer)
    }

    pub fn bodies(&self) -> Bodies {
        self.bodies
    }

    /// Hands a finished request to the writer.
    pub async fn record(&self, record: RequestRecord) {
        if self.sender.send(record).await.is_err() {
            tracing::warn!("the request log's writer has stopped; a request is not logged");
        }
    }
}

async fn write_batches(store: Store, mut receiver: mpsc::Receiver<RequestRecord>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        // Under load, wait a moment for a fuller batch: fewer, larger transactions hold the
        // database's write lock less often than one per request would.
        if batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH && !receiver.is_empty() {
                let room = BATCH - batch.len();
                receiver.recv_many(&mut batch, room).await;
            }
        }
        store_batch(&store, &batch).await;
        batch.clear();
    }
}

/// Stores one batch, trying again a few times while the database refuses it; a batch it still
/// refuses is dropped with an ERROR and counted (`scim_bridge_audit_requests_dropped_total`).
async fn store_batch(store: &Store, batch: &[RequestRecord]) {
    for attempt in 1..=ATTEMPTS {
        match store.insert_requests(batch).await {
            Ok(()) => {
                metrics::counter!("scim_bridge_audit_requests_logged_total").increment(batch.len() as u64);
                return;
            }
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, rows = batch.len(), "cannot store the request log; trying again");
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => report_dropped(&e, batch.len()),
        }
    }
}

fn report_dropped(error: &StoreError, rows: usize) {
    tracing::error!(error = %error, rows, "cannot store the request log: these requests are not logged");
    metrics::counter!("scim_bridge_audit_requests_dropped_total").increment(rows as u64);
}
