//! `POST /Bulk` (RFC 7644 §3.7): the operations of a `BulkRequest`, each run as the same request
//! on its own endpoint would be (atomic, its fan-out queued with it), in the order
//! `scim::bulk::order` gives, `bulkId:` references resolved as the POSTs that define them run.
//! The answer is a `BulkResponse` with one entry per operation run.
use super::request::{check_media_type, parse_json};
use super::resource::{GROUP, USER};
use super::{cpu, groups, scim_json, users, ApiError, AppState};
use crate::scim::bulk::{self, BulkRequest, Deferred, Endpoint, Entry, Method, Operation, ResourceRef, Step};
use crate::scim::resource::normalize;
use crate::scim::{members, patch, schema, ScimError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/Bulk").route(web::post().to(bulk_request)));
}

async fn bulk_request(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_media_type(&req)?;
    let max_operations = state.limits.max_bulk_operations;
    let request = cpu::run(body.len(), move || {
        Ok(bulk::parse_request(&parse_json(&body)?, max_operations)?)
    })
    .await?;
    let mut run = Run::new(&req, &state, &request);
    let steps = bulk::order(&request.entries);
    let mut next = 0;
    while next < steps.len() {
        if request.fail_on_errors.is_some_and(|limit| run.errors >= limit) {
            break;
        }
        // With failOnErrors the operations run one by one, so that none runs after the last error.
        let batch = match request.fail_on_errors {
            None => run.batch_from(&steps[next..]),
            Some(_) => Vec::new(),
        };
        if batch.len() > 1 {
            next += batch.len();
            run.create_users(&batch).await;
        } else {
            run.step(steps[next]).await;
            next += 1;
        }
    }
    Ok(scim_json(StatusCode::OK, &run.response()))
}

/// User creates written in one transaction at most (each in its own savepoint): the writer is
/// held for a few milliseconds, not for the whole request.
const CREATES_PER_TRANSACTION: usize = 250;

/// A resource an operation wrote: where it is, and its version.
struct Written {
    status: u16,
    location: String,
    version: Option<String>,
}

/// A bulk request being run: what each operation answered, and the ids its POSTs created.
struct Run<'r> {
    state: &'r AppState,
    request: &'r BulkRequest,
    collections: (String, String),
    answers: Vec<Option<Value>>,
    created: HashMap<String, String>,
    deferred: HashMap<usize, Deferred>,
    errors: usize,
}

impl<'r> Run<'r> {
    fn new(req: &HttpRequest, state: &'r AppState, request: &'r BulkRequest) -> Self {
        Self {
            state,
            request,
            collections: (USER.collection_url(req, state), GROUP.collection_url(req, state)),
            answers: vec![None; request.entries.len()],
            created: HashMap::new(),
            deferred: HashMap::new(),
            errors: 0,
        }
    }

    fn collection(&self, endpoint: Endpoint) -> &str {
        match endpoint {
            Endpoint::Users => &self.collections.0,
            Endpoint::Groups => &self.collections.1,
        }
    }

    async fn step(&mut self, step: Step) {
        let (i, deferring) = match step {
            Step::Run(i) => (i, false),
            Step::RunDeferring(i) => (i, true),
            Step::Complete(i) => return self.complete(i).await,
        };
        let request = self.request;
        let entry = &request.entries[i];
        let outcome = match &entry.operation {
            Err(error) => Err((error.clone(), None)),
            Ok(operation) => self.run(i, operation, deferring).await,
        };
        self.answer(i, entry, outcome);
    }

    /// The entries of the user creates that `steps` starts with and that name no bulkId: they run
    /// together (`create_users`).
    fn batch_from(&self, steps: &[Step]) -> Vec<usize> {
        steps
            .iter()
            .map_while(|step| match step {
                Step::Run(i) => Some(*i),
                _ => None,
            })
            .take_while(|&i| {
                matches!(&self.request.entries[i].operation,
                    Ok(op) if op.method == Method::Post && op.endpoint == Endpoint::Users && op.needs.is_empty())
            })
            .take(CREATES_PER_TRANSACTION)
            .collect()
    }

    /// User creates in one transaction (`Store::insert_users`), each answering as its own POST.
    async fn create_users(&mut self, batch: &[usize]) {
        let request = self.request;
        let mut valid = Vec::with_capacity(batch.len());
        for &i in batch {
            let entry = &request.entries[i];
            let data = entry.operation.as_ref().ok().and_then(|op| op.data.as_ref());
            match normalize(data.unwrap_or(&Value::Null), self.state.user_schema) {
                Ok(normalized) => valid.push((i, normalized)),
                Err(error) => self.answer(i, entry, Err((error, None))),
            }
        }
        let users: Vec<_> = valid
            .iter()
            .map(|(_, n)| (&n.document, n.password.as_deref()))
            .collect();
        let outcomes = match self.state.store.insert_users(&users).await {
            Ok(outcomes) => outcomes.into_iter().map(|o| o.map_err(ApiError::from)).collect(),
            Err(e) => {
                let error = ApiError::from(e);
                tracing::error!(%error, "bulk: a transaction of user creates failed");
                let scim = error.scim();
                valid
                    .iter()
                    .map(|_| Err(ApiError::Scim(scim.clone())))
                    .collect::<Vec<_>>()
            }
        };
        for ((i, _), outcome) in valid.iter().zip(outcomes) {
            let entry = &request.entries[*i];
            let outcome = match outcome {
                Ok(user) => {
                    if let Some(bulk_id) = &entry.named.bulk_id {
                        self.created.insert(bulk_id.clone(), user.id.clone());
                    }
                    Ok(Written {
                        status: 201,
                        location: format!("{}/{}", self.collections.0, user.id),
                        version: Some(user.version().to_string()),
                    })
                }
                Err(e) => Err((e.scim(), None)),
            };
            self.answer(*i, entry, outcome);
        }
    }

    /// One operation, its references resolved (or, deferring, the unresolvable ones left for later).
    async fn run(
        &mut self,
        i: usize,
        operation: &Operation,
        deferring: bool,
    ) -> Result<Written, (ScimError, Option<String>)> {
        let mut data = operation.data.clone();
        if let (true, Some(data)) = (deferring, data.as_mut()) {
            let created = &self.created;
            if let Some(deferred) = bulk::defer_references(data, &|b| !created.contains_key(b)) {
                self.deferred.insert(i, deferred);
            }
        }
        let id = match &operation.resource {
            None => None,
            Some(ResourceRef::Id(id)) => Some(id.clone()),
            Some(ResourceRef::BulkId(b)) => {
                Some(self.created.get(b).cloned().ok_or_else(|| (self.unresolved(b), None))?)
            }
        };
        let location = id
            .as_ref()
            .map(|id| format!("{}/{id}", self.collection(operation.endpoint)));
        if let Some(data) = data.as_mut() {
            bulk::resolve_references(data, &self.created);
            if let Some(b) = still_named(data).into_iter().next() {
                return Err((self.unresolved(&b), location));
            }
        }
        let written = execute(self.state, operation, id.as_deref(), data).await;
        let written = written.map_err(|e| (e.scim(), location.clone()))?;
        if let (Method::Post, Some(bulk_id)) = (operation.method, &operation.bulk_id) {
            self.created.insert(bulk_id.clone(), written.0.clone());
        }
        Ok(Written {
            status: written.1,
            location: format!("{}/{}", self.collection(operation.endpoint), written.0),
            version: written.2,
        })
    }

    /// Why `bulkId:{b}` cannot be resolved: no POST of the request defines it (400), or the one that
    /// does has failed (409, RFC 7644 §3.7.1).
    fn unresolved(&self, b: &str) -> ScimError {
        let defined = self.request.entries.iter().position(|e| {
            e.named.bulk_id.as_deref() == Some(b) && matches!(&e.operation, Ok(op) if op.method == Method::Post)
        });
        match defined {
            Some(n) => ScimError::new(
                409,
                None,
                format!("bulkId:{b} names no resource: its POST (operation {}) failed", n + 1),
            ),
            None => ScimError::invalid_value(format!("bulkId:{b} is not the bulkId of any POST in this request")),
        }
    }

    /// Adds back what a POST in a cycle left out, now that the others exist.
    async fn complete(&mut self, i: usize) {
        let Some(Deferred(mut patch_body)) = self.deferred.remove(&i) else {
            return;
        };
        let Some(Some(answer)) = self.answers.get(i) else {
            return;
        };
        if !answer["status"].as_str().is_some_and(|s| s.starts_with('2')) {
            return;
        }
        let request = self.request;
        let Ok(operation) = &request.entries[i].operation else {
            return;
        };
        let (id, location) = match operation.bulk_id.as_ref().and_then(|b| self.created.get(b)) {
            Some(id) => (id.clone(), format!("{}/{id}", self.collection(operation.endpoint))),
            None => return,
        };
        bulk::resolve_references(&mut patch_body, &self.created);
        let outcome = match still_named(&patch_body).into_iter().next() {
            Some(b) => Err((self.unresolved(&b), Some(location.clone()))),
            None => {
                let completion = Operation {
                    method: Method::Patch,
                    resource: Some(ResourceRef::Id(id.clone())),
                    data: Some(patch_body.clone()),
                    version: None,
                    ..operation.clone()
                };
                match execute(self.state, &completion, Some(&id), Some(patch_body)).await {
                    Ok((_, _, version)) => Ok(Written {
                        status: 201,
                        location,
                        version,
                    }),
                    Err(e) => Err((e.scim(), Some(location))),
                }
            }
        };
        let entry = &request.entries[i];
        if outcome.is_err() {
            self.answers[i] = None;
        }
        self.answer(i, entry, outcome);
    }

    fn answer(&mut self, i: usize, entry: &Entry, outcome: Result<Written, (ScimError, Option<String>)>) {
        let mut answer = Map::new();
        let method = entry
            .operation
            .as_ref()
            .map(|op| op.method.as_str().to_owned())
            .ok()
            .or_else(|| entry.named.method.clone());
        if let Some(method) = method {
            answer.insert("method".into(), method.into());
        }
        if let Some(bulk_id) = &entry.named.bulk_id {
            answer.insert("bulkId".into(), bulk_id.clone().into());
        }
        match outcome {
            Ok(written) => {
                if let Some(version) = written.version {
                    answer.insert("version".into(), version.into());
                }
                answer.insert("location".into(), written.location.into());
                answer.insert("status".into(), written.status.to_string().into());
            }
            Err((error, location)) => {
                self.errors += 1;
                if error.status >= 500 {
                    tracing::error!(operation = i + 1, %error, "bulk operation failed");
                }
                if let Some(location) = location {
                    answer.insert("location".into(), location.into());
                }
                answer.insert("status".into(), error.status.to_string().into());
                answer.insert("response".into(), error.to_json());
            }
        }
        self.answers[i] = Some(Value::Object(answer));
    }

    /// The `BulkResponse`: the operations run, in the request's order.
    fn response(self) -> Value {
        let operations: Vec<Value> = self.answers.into_iter().flatten().collect();
        json!({"schemas": [bulk::BULK_RESPONSE], "Operations": operations})
    }
}

/// The bulkIds `value` still names.
fn still_named(value: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(text) => {
                if let Some(b) = text.strip_prefix(bulk::BULK_ID_PREFIX) {
                    names.insert(b.to_owned());
                }
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    names
}

/// Runs one operation through its endpoint's own write: (id, status, ETag).
async fn execute(
    state: &AppState,
    operation: &Operation,
    id: Option<&str>,
    data: Option<Value>,
) -> Result<(String, u16, Option<String>), ApiError> {
    let if_match = operation.version.as_deref();
    let id = id.unwrap_or_default();
    let data = data.unwrap_or(Value::Null);
    let written = match (operation.endpoint, operation.method) {
        (Endpoint::Users, Method::Post) => (
            users::insert_user(state, &normalize(&data, state.user_schema)?).await?,
            201,
        ),
        (Endpoint::Users, Method::Put) => {
            let normalized = normalize(&data, state.user_schema)?;
            (users::replace_user_with(state, id, normalized, if_match).await?, 200)
        }
        (Endpoint::Users, Method::Patch) => {
            let operations = patch::parse_request(&data, &state.limits)?;
            (users::patch_user_with(state, id, operations, if_match, 0).await?, 200)
        }
        (Endpoint::Groups, Method::Post) => {
            let (document, members) = group_input(data)?;
            (groups::insert_group(state, &document, &members).await?, 201)
        }
        (Endpoint::Groups, Method::Put) => {
            let (document, members) = group_input(data)?;
            (
                groups::replace_group_with(state, id, document, members, if_match).await?,
                200,
            )
        }
        (Endpoint::Groups, Method::Patch) => {
            let plan = members::plan(patch::parse_request(&data, &state.limits)?)?;
            (groups::patch_group_with(state, id, plan, if_match).await?, 204)
        }
        (Endpoint::Users, Method::Delete) => {
            users::delete_user_if(state, id, if_match).await?;
            return Ok((id.to_owned(), 204, None));
        }
        (Endpoint::Groups, Method::Delete) => {
            groups::delete_group_if(state, id, if_match).await?;
            return Ok((id.to_owned(), 204, None));
        }
    };
    let (resource, status) = written;
    Ok((resource.id.clone(), status, Some(resource.version().to_string())))
}

fn group_input(mut data: Value) -> Result<(crate::scim::resource::Document, Vec<members::MemberRef>), ApiError> {
    let members = members::take_members(&mut data)?;
    Ok((normalize(&data, schema::group())?.document, members))
}
