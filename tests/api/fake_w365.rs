//! A stateful Workspace365 for tests that need the vendor's final state: it holds users by e-mail
//! as the seed's calls change them, and records every call. State changes when a request arrives,
//! before the (optional) delay, as a real vendor commits before its answer can be lost.
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

/// A bare Provisioning API for tests that mount their own answers: it lists the tests'
/// environment `example` (`GET /Environment/`), which the connector asks before it reads a 404
/// as "no such user" (docs/vendors/workspace365.md).
pub async fn provisioning_api() -> MockServer {
    let server = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/Provisioning/Environment/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"Name": "example"}])))
        .mount(&server)
        .await;
    server
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorUser {
    pub first_name: String,
    pub last_name: String,
    pub active: bool,
}

#[derive(Default)]
pub struct State {
    pub users: BTreeMap<String, VendorUser>,
    /// "METHOD path" of every call, in arrival order.
    pub calls: Vec<String>,
    /// Creates refused because the e-mail already existed (a duplicate create).
    pub duplicate_creates: usize,
    /// The e-mail of every create received, in arrival order.
    pub created: Vec<String>,
    /// When each call arrived.
    pub arrivals: Vec<Instant>,
    /// The e-mails of administrators (made in the portal, or by a body's `IsAdministrator: true`);
    /// a body without `IsAdministrator` leaves the flag as it is (the bridge's GUESS, issue 29 #2).
    pub administrators: std::collections::BTreeSet<String>,
    /// The next create is carried out but answered 500, as when the answer is lost.
    pub lose_next_create_answer: bool,
    next_id: u64,
}

#[derive(Clone)]
pub struct FakeWorkspace365 {
    pub state: Arc<Mutex<State>>,
    delay: Duration,
    weather: Arc<Mutex<Option<Arc<crate::weather::Faults>>>>,
}

impl FakeWorkspace365 {
    /// Serves the fake under `/Provisioning/example/`; every answer waits `delay`.
    pub async fn start(delay: Duration) -> (MockServer, Self) {
        let server = MockServer::start().await;
        let fake = Self {
            state: Arc::default(),
            delay,
            weather: Arc::default(),
        };
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    pub fn users(&self) -> BTreeMap<String, VendorUser> {
        self.state.lock().unwrap().users.clone()
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn created(&self) -> Vec<String> {
        self.state.lock().unwrap().created.clone()
    }

    /// From now on a share of calls fails as `faults` deals them (tests/api/weather.rs).
    pub fn set_weather(&self, faults: Arc<crate::weather::Faults>) {
        *self.weather.lock().unwrap() = Some(faults);
    }

    /// The most calls in flight at once (see `max_overlap`).
    pub fn max_in_flight(&self) -> usize {
        crate::fake_vendors::max_overlap(&self.state.lock().unwrap().arrivals, self.delay)
    }

    pub fn duplicate_creates(&self) -> usize {
        self.state.lock().unwrap().duplicate_creates
    }

    fn answer(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        let mut state = self.state.lock().unwrap();
        state.calls.push(format!("{} {path}", request.method));
        state.arrivals.push(Instant::now());
        if path == "/Provisioning/Environment/" {
            return ResponseTemplate::new(200).set_body_json(json!([{"Name": "example"}]));
        }
        // An unknown user is a bare 404 (seed 001: "The resource is not found"); a route the API
        // does not have (a wrong environment) answers the framework's own 404 page. Neither body is
        // documented, so the connector reads neither: a 404 is "no such user" only once
        // `GET /Environment/` lists the configured environment.
        let Some(rest) = path.strip_prefix("/Provisioning/example/User/") else {
            return ResponseTemplate::new(404)
                .insert_header("Content-Type", "text/html")
                .set_body_string("<html><body><h1>404 - File or directory not found.</h1></body></html>");
        };
        let segments: Vec<String> = rest
            .trim_end_matches('/')
            .split('/')
            .map(|s| s.replace("%2B", "+"))
            .collect();
        let body: Value = request.body_json().unwrap_or(Value::Null);
        let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
        let administrator = body["IsAdministrator"].as_bool();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", [empty]) if empty.is_empty() => {
                let email = text("EmailAddress");
                state.created.push(email.clone());
                if state.users.contains_key(&email) {
                    state.duplicate_creates += 1;
                    let error = json!([{"MemberNames": ["EmailAddress"], "ErrorMessage": "already exists"}]);
                    return ResponseTemplate::new(400).set_body_json(error);
                }
                state.next_id += 1;
                let user = VendorUser {
                    first_name: text("FirstName"),
                    last_name: text("LastName"),
                    active: true,
                };
                if administrator == Some(true) {
                    state.administrators.insert(email.clone());
                }
                state.users.insert(email, user);
                if std::mem::take(&mut state.lose_next_create_answer) {
                    return ResponseTemplate::new(500);
                }
                ResponseTemplate::new(200).set_body_string(state.next_id.to_string())
            }
            ("PUT", [email, action]) => match (state.users.get_mut(email), action.as_str()) {
                (None, _) => ResponseTemplate::new(404),
                (Some(_), "Validate") => ResponseTemplate::new(200),
                (Some(user), "Activate") => {
                    user.active = true;
                    ResponseTemplate::new(200)
                }
                (Some(user), "Deactivate") => {
                    user.active = false;
                    ResponseTemplate::new(200)
                }
                _ => ResponseTemplate::new(404),
            },
            ("PUT", [email]) => {
                let Some(mut user) = state.users.remove(email) else {
                    return ResponseTemplate::new(404);
                };
                user.first_name = text("FirstName");
                user.last_name = text("LastName");
                let was_administrator = state.administrators.remove(email.as_str());
                if administrator.unwrap_or(was_administrator) {
                    state.administrators.insert(text("EmailAddress"));
                }
                state.users.insert(text("EmailAddress"), user);
                ResponseTemplate::new(200)
            }
            ("DELETE", [email]) => match state.users.remove(email) {
                Some(_) => ResponseTemplate::new(200),
                None => ResponseTemplate::new(404),
            },
            _ => ResponseTemplate::new(405),
        }
    }
}

impl Respond for FakeWorkspace365 {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let weather = self.weather.lock().unwrap().clone();
        let fault = weather.as_ref().and_then(|f| f.roll());
        match (fault, &weather) {
            (Some(fault), Some(faults)) => match crate::weather::Faults::refusal(fault, false) {
                Some(refusal) => refusal,
                None => self.answer(request).set_delay(faults.hang()),
            },
            _ => self.answer(request).set_delay(self.delay),
        }
    }
}
