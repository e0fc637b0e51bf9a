//! The audit trail's SQL (docs/audit.md): the request log's batches, one user's history found by
//! id, userName or e-mail (also once the user is deleted), and pruning by age.
use super::db::{args, Arg};
use super::states::{EventAction, EventOutcome};
use super::timestamp::Timestamp;
use super::{Store, StoreError};
use crate::audit::RequestRecord;
use time::OffsetDateTime;

/// A logged SCIM request, as `audit` and the console show it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct RequestRow {
    pub id: i64,
    pub at: String,
    pub request_id: String,
    pub traceparent: Option<String>,
    pub token: Option<String>,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub latency_ms: f64,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub user_name: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

/// An event with everything the audit trail records of it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    pub target: String,
    pub resource_id: String,
    pub action: EventAction,
    pub outcome: Option<EventOutcome>,
    pub remote_id: Option<String>,
    pub changes: Option<String>,
    pub request_id: Option<String>,
    pub http_status: Option<i64>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
    pub note: Option<String>,
    pub user_name: Option<String>,
    pub email: Option<String>,
}

/// One user's history: the ids the key named (several when a userName was reused after a delete),
/// the requests that touched them and the events of their reconciles, oldest first.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AuditTrail {
    pub users: Vec<AuditSubject>,
    pub requests: Vec<RequestRow>,
    pub events: Vec<AuditEvent>,
}

/// A user the key named: its id, the userName last known, and whether it is deleted.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct AuditSubject {
    pub id: String,
    pub user_name: Option<String>,
    pub deleted: bool,
}

/// What the console's Requests page filters by; each one given narrows the list.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFilter<'a> {
    /// Rows older than this id (the next page).
    pub before: Option<i64>,
    /// An id, userName or e-mail, of a live or a deleted user.
    pub user: Option<&'a str>,
    /// Only requests answered 400 or above.
    pub failed: bool,
    pub token: Option<&'a str>,
    pub since: Option<OffsetDateTime>,
    pub request_id: Option<&'a str>,
}

/// The same IdP request failing the same way again and again (Entra retries a refused change
/// every cycle): one problem, however many times it was sent.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct RepeatedFailure {
    pub token: Option<String>,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub times: i64,
    pub first_at: String,
    pub last_at: String,
}

/// How many identical failures make a repeated one.
pub const REPEATED_AT_LEAST: i64 = 3;

const REQUEST_COLUMNS_READ: &str = "id, at, request_id, traceparent, token, method, path, status, scim_type, detail,
     latency_ms, resource_type, resource_id, user_name, request_body, response_body";

/// The most users one key may name (a userName reused many times over).
const SUBJECTS: i64 = 20;

impl Store {
    /// Stores a batch of finished requests in one transaction: on a SQLite file one prepared
    /// statement bound per row (`Db::execute_each`), elsewhere `REQUEST_ROWS` rows a statement
    /// (one statement a row cost the request path a third of its throughput: bench/ab.sh).
    pub async fn insert_requests(&self, batch: &[RequestRecord]) -> Result<(), StoreError> {
        if let Some(done) = self
            .db
            .execute_each(&insert_requests_sql(1), batch.iter().map(request_args))
            .await
        {
            return done;
        }
        let mut tx = self.db.begin().await?;
        for rows in batch.chunks(REQUEST_ROWS) {
            let args: Vec<Arg<'_>> = rows.iter().flat_map(request_args).collect();
            tx.execute(&insert_requests_sql(rows.len()), &args).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The history of the user `key` names (an id, a userName or an e-mail, live or deleted: the
    /// events keep the names the user had), since `since`, at `target` only if given: the newest
    /// `limit` requests that wrote it (reads are not indexed by user) and `limit` events.
    pub async fn audit_trail(
        &self,
        key: &str,
        target: Option<&str>,
        since: OffsetDateTime,
        limit: i64,
    ) -> Result<AuditTrail, StoreError> {
        let users = self.audit_subjects(key).await?;
        if users.is_empty() {
            return Ok(AuditTrail::default());
        }
        let dialect = self.db.dialect();
        let ids = serde_json::to_string(&users.iter().map(|u| &u.id).collect::<Vec<_>>())?;
        let since = Timestamp(since);
        let mut requests: Vec<RequestRow> = self
            .db
            .read(
                &format!(
                    "SELECT {REQUEST_COLUMNS_READ}
                     FROM requests WHERE resource_id IN ({}) AND method <> 'GET' AND at >= $2 ORDER BY id DESC LIMIT $3",
                    dialect.json_texts("$1")
                ),
                args![&ids, since, limit],
            )
            .await?;
        requests.reverse();
        let mut events: Vec<AuditEvent> = self
            .db
            .read(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE resource_id IN ({}) AND at >= $2 AND ($3 IS NULL OR target = $3) ORDER BY id DESC LIMIT $4",
                    dialect.json_texts("$1")
                ),
                args![&ids, since, target, limit],
            )
            .await?;
        events.reverse();
        Ok(AuditTrail {
            users,
            requests,
            events,
        })
    }

    /// The newest `limit` logged requests that `filter` lets through, newest first (by user: the
    /// requests that wrote it, read from the index of writes, newest back).
    pub async fn requests_page(&self, filter: &RequestFilter<'_>, limit: i64) -> Result<Vec<RequestRow>, StoreError> {
        let mut sql = format!("SELECT {REQUEST_COLUMNS_READ} FROM requests WHERE TRUE");
        let ids: String;
        let mut binds: Vec<Arg<'_>> = Vec::new();
        if let Some(user) = filter.user {
            let users = self.audit_subjects(user).await?;
            ids = serde_json::to_string(&users.iter().map(|u| &u.id).collect::<Vec<_>>())?;
            binds.push(Arg::from(&ids));
            sql.push_str(&format!(
                " AND resource_id IN ({}) AND method <> 'GET'",
                self.db.dialect().json_texts("$1")
            ));
        }
        if filter.failed {
            // A literal, so that the partial index on failures serves it.
            sql.push_str(" AND status >= 400");
        }
        let mut and = |test: &str, value: Arg<'static>| {
            binds.push(value);
            sql.push_str(&format!(" AND {test} ${}", binds.len()));
        };
        if let Some(before) = filter.before {
            and("id <", before.into());
        }
        if let Some(token) = filter.token {
            and("token =", Arg::from(token.to_owned()));
        }
        if let Some(since) = filter.since {
            and("at >=", Timestamp(since).into());
        }
        if let Some(request_id) = filter.request_id {
            and("request_id =", Arg::from(request_id.to_owned()));
        }
        and("TRUE ORDER BY id DESC LIMIT", limit.into());
        Ok(self.db.read(&sql, &binds).await?)
    }

    /// Failed requests sent at least `REPEATED_AT_LEAST` times alike (same token, method, path,
    /// status, `scimType` and detail) since `since`, the most repeated first.
    pub async fn repeated_failures(
        &self,
        since: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<RepeatedFailure>, StoreError> {
        Ok(self
            .db
            .read(
                "SELECT token, method, path, status, scim_type, detail, count(*) AS times, min(at) AS first_at, max(at) AS last_at
                 FROM requests WHERE status >= 400 AND at >= $1
                 GROUP BY token, method, path, status, scim_type, detail
                 HAVING count(*) >= $2
                 ORDER BY times DESC, last_at DESC LIMIT $3",
                args![Timestamp(since), REPEATED_AT_LEAST, limit],
            )
            .await?)
    }

    /// The users `key` names: live ones by id, userName or e-mail; deleted ones by their tombstone,
    /// or by the names their events and logged requests recorded.
    async fn audit_subjects(&self, key: &str) -> Result<Vec<AuditSubject>, StoreError> {
        let d = self.db.dialect();
        let tombstone_name = d.doc_text("doc", "userName");
        let sql = format!(
            "SELECT k.id, COALESCE(u.user_name, {tomb}, (SELECT e.user_name FROM events e WHERE e.resource_id = k.id
                                                          AND e.user_name IS NOT NULL ORDER BY e.id DESC LIMIT 1)) AS user_name,
                    u.id IS NULL AS deleted
             FROM (SELECT id FROM users WHERE id = $1 OR {live_name} OR id IN (SELECT user_id FROM user_emails WHERE {email})
                   UNION SELECT id FROM user_tombstones WHERE id = $1 OR {tomb_eq}
                   UNION SELECT resource_id FROM events WHERE {event_name} OR {event_email}
                   UNION SELECT resource_id FROM events WHERE resource_id = $1
                   UNION SELECT resource_id FROM requests WHERE resource_id = $1 AND method <> 'GET') AS k
             LEFT JOIN users u ON u.id = k.id
             LEFT JOIN user_tombstones t ON t.id = k.id
             WHERE k.id IS NOT NULL
             ORDER BY deleted, k.id LIMIT $2",
            tomb = d.doc_text("t.doc", "userName"),
            live_name = d.ci_column_eq("user_name", "$1"),
            email = d.email_eq("$1"),
            tomb_eq = d.ci_eq(&tombstone_name, "$1"),
            event_name = d.ci_column_eq("user_name", "$1"),
            event_email = d.ci_column_eq("email", "$1"),
        );
        Ok(self.db.read(&sql, args![key, SUBJECTS]).await?)
    }

    /// Deletes up to `batch` rows of `table` (events or the request log) recorded before `before`,
    /// oldest first, in one short transaction. Returns how many.
    pub async fn prune_audit(&self, table: AuditTable, before: OffsetDateTime, batch: i64) -> Result<u64, StoreError> {
        let table = table.name();
        Ok(self
            .db
            .execute(
                &format!("DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE at < $1 ORDER BY id LIMIT $2)"),
                args![Timestamp(before), batch],
            )
            .await?)
    }
}

/// The tables retention prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditTable {
    Events,
    Requests,
}

impl AuditTable {
    pub const ALL: [Self; 2] = [Self::Events, Self::Requests];

    fn name(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Requests => "requests",
        }
    }
}

/// The columns of `AuditEvent`.
pub(super) const EVENT_COLUMNS: &str = "id, at, target, resource_id, action, outcome, remote_id, changes, request_id,
     http_status, latency_ms, error, note, user_name, email";

/// The most requests one INSERT stores: 15 parameters each, well under SQLite's 32,766.
const REQUEST_ROWS: usize = 50;
const REQUEST_COLUMNS: usize = 15;

/// `INSERT INTO requests … VALUES (…), (…)` for `rows` rows.
fn insert_requests_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let first = row * REQUEST_COLUMNS + 1;
            let params: Vec<String> = (first..first + REQUEST_COLUMNS).map(|n| format!("${n}")).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO requests (at, request_id, traceparent, token, method, path, status, scim_type, detail,
                               latency_ms, resource_type, resource_id, user_name, request_body, response_body)
         VALUES {}",
        values.join(", ")
    )
}

/// One request's parameters, in `insert_requests_sql`'s column order.
fn request_args(r: &RequestRecord) -> [Arg<'_>; REQUEST_COLUMNS] {
    [
        Arg::from(Timestamp(r.at)),
        Arg::from(&r.request_id),
        Arg::from(&r.traceparent),
        Arg::from(&r.token),
        Arg::from(&r.method),
        Arg::from(&r.path),
        Arg::from(i64::from(r.status)),
        Arg::from(&r.scim_type),
        Arg::from(&r.detail),
        Arg::from(r.latency_ms),
        Arg::from(r.touched.resource_type),
        Arg::from(&r.touched.id),
        Arg::from(&r.touched.name),
        Arg::from(&r.request_body),
        Arg::from(&r.response_body),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Touched;

    fn logged(path: &str, detail: Option<&str>) -> RequestRecord {
        RequestRecord {
            at: time::macros::datetime!(2026-12-05 10:00:00.25 UTC),
            request_id: format!("req{path}"),
            traceparent: None,
            token: Some("okta".into()),
            method: "PATCH".into(),
            path: path.into(),
            status: 400,
            scim_type: Some("invalidValue".into()),
            detail: detail.map(str::to_owned),
            latency_ms: 1.5,
            touched: Touched {
                resource_type: Some("User"),
                id: Some("u1".into()),
                name: Some("alice@example.com".into()),
            },
            request_body: None,
            response_body: None,
        }
    }

    async fn file_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
        let store = Store::connect(&url).await.unwrap();
        (dir, store)
    }

    async fn paths(store: &Store) -> Vec<(String, Option<String>)> {
        let rows = store.requests_page(&RequestFilter::default(), 10).await.unwrap();
        rows.into_iter().rev().map(|r| (r.path, r.detail)).collect()
    }

    #[tokio::test]
    async fn a_batch_of_logged_requests_is_stored_whole_or_not_at_all() {
        let (_dir, store) = file_store().await;
        store
            .db
            .execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON requests WHEN NEW.path = '/boom'
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
                &[],
            )
            .await
            .unwrap();
        let refused = [logged("/a", None), logged("/boom", None), logged("/c", None)];
        assert!(store.insert_requests(&refused).await.is_err());
        assert_eq!(paths(&store).await, vec![]);

        store.insert_requests(&[logged("/d", Some("a\0b"))]).await.unwrap();
        assert_eq!(paths(&store).await, vec![("/d".into(), Some("a\u{fffd}b".into()))]);
        let row = &store.requests_page(&RequestFilter::default(), 1).await.unwrap()[0];
        assert_eq!(
            (row.at.as_str(), row.status, row.latency_ms, row.user_name.as_deref()),
            ("2026-12-05T10:00:00.250Z", 400, 1.5, Some("alice@example.com"))
        );
    }

    /// The batch connection takes its turn behind the writer pool's connection: a batch waits for
    /// the write transaction in progress, then is stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_waits_for_the_write_transaction_in_progress() {
        let (_dir, store) = file_store().await;
        let mut tx = store.db.begin().await.unwrap();
        tx.execute("UPDATE requests SET status = 0", &[]).await.unwrap();
        let writer = store.clone();
        let batch = tokio::spawn(async move { writer.insert_requests(&[logged("/a", None)]).await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!batch.is_finished());
        tx.commit().await.unwrap();
        batch.await.unwrap().unwrap();
        assert_eq!(paths(&store).await, vec![("/a".into(), None)]);
    }
}
