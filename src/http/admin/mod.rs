//! The operator console (README "Operator console"): server-rendered pages under `server.admin_path`
//! (default `/admin`), opened only with an admin-scoped token. Signing in (`POST …/login`, form
//! field `token`) makes a session kept in an HttpOnly, SameSite=Strict cookie (`Secure` over
//! https); every state-changing form carries the session's CSRF token. A SCIM token cannot sign in.
mod pages;

use super::auth::{generate_token, token_hash, Authenticator, Principal};
use super::origin::is_https;
use super::{ApiError, AppState};
use crate::store::{TargetState, TokenScope};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

pub use pages::TargetCard;

const COOKIE: &str = "scim_bridge_session";
/// How long a session lasts after sign-in.
const SESSION_HOURS: i64 = 8;

pub fn configure(cfg: &mut web::ServiceConfig, admin_path: &str) {
    cfg.service(
        web::scope(admin_path)
            .app_data(web::FormConfig::default().limit(4096))
            .route("", web::get().to(targets))
            .route("/users", web::get().to(users))
            .route("/dead", web::get().to(dead))
            .route("/events", web::get().to(events))
            .route("/requests", web::get().to(requests))
            .route("/check", web::post().to(check))
            .route("/reload", web::post().to(reload))
            .route("/dead/retry", web::post().to(retry))
            .route("/held", web::post().to(held))
            .route("/login", web::get().to(login_page))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout)),
    );
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    csrf: String,
}

fn page(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ))
        .body(markup.into_string())
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The signed-in session of the request, if any.
async fn session(req: &HttpRequest, state: &AppState) -> Result<Option<crate::store::AdminSession>, ApiError> {
    let Some(cookie) = req.cookie(COOKIE) else {
        return Ok(None);
    };
    Ok(state
        .store
        .find_session(&token_hash(cookie.value()), OffsetDateTime::now_utc())
        .await?)
}

/// The request's session, or the answer to give instead (the sign-in form).
async fn signed_in(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Result<crate::store::AdminSession, Box<HttpResponse>>, ApiError> {
    Ok(session(req, state)
        .await?
        .ok_or_else(|| Box::new(redirect(&format!("{}/login", state.admin_path)))))
}

/// The same for a form that changes something: its `csrf` must be the session's.
async fn signed_form(
    req: &HttpRequest,
    state: &AppState,
    csrf: &str,
) -> Result<Result<crate::store::AdminSession, Box<HttpResponse>>, ApiError> {
    Ok(signed_in(req, state).await?.and_then(|session| {
        if bool::from(session.csrf.as_bytes().ct_eq(csrf.as_bytes())) {
            Ok(session)
        } else {
            let why = "the form is stale: reload the page and try again";
            Err(Box::new(page(
                StatusCode::FORBIDDEN,
                pages::refused(&state.admin_path, why),
            )))
        }
    }))
}

async fn login_page(state: web::Data<AppState>) -> HttpResponse {
    page(StatusCode::OK, pages::login(&state.admin_path, None))
}

async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let name = match auth.authenticate(Some(&format!("Bearer {}", form.token.trim()))).await {
        Ok(Principal::Token {
            name,
            scope: TokenScope::Admin,
        }) => name,
        Ok(principal) => {
            let why = match principal {
                Principal::Token {
                    scope: TokenScope::Metrics,
                    ..
                } => "a metrics token cannot sign in: it opens /metrics alone. Make an admin token with `scim-bridge token create NAME --scope admin`",
                _ => "a SCIM token cannot sign in: make an admin token with `scim-bridge token create NAME --scope admin`",
            };
            return Ok(page(StatusCode::FORBIDDEN, pages::login(root, Some(why))));
        }
        Err(_) => {
            return Ok(page(
                StatusCode::UNAUTHORIZED,
                pages::login(root, Some("not a valid token")),
            ))
        }
    };
    let (id, csrf) = (generate_token(), generate_token());
    let now = OffsetDateTime::now_utc();
    let expires = now + time::Duration::hours(SESSION_HOURS);
    state
        .store
        .create_session(&token_hash(&id), &name, &csrf, now, expires)
        .await?;
    tracing::info!(token = %name, "console: signed in");
    let cookie = Cookie::build(COOKIE, id)
        .path(root.to_owned())
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(is_https(&req, &state))
        .max_age(CookieDuration::hours(SESSION_HOURS))
        .finish();
    let mut response = redirect(root);
    response
        .add_cookie(&cookie)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    Ok(response)
}

async fn logout(
    req: HttpRequest,
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    if let Err(answer) = signed_form(&req, &state, &form.csrf).await? {
        return Ok(*answer);
    }
    if let Some(cookie) = req.cookie(COOKIE) {
        state.store.delete_session(&token_hash(cookie.value())).await?;
    }
    let mut gone = Cookie::build(COOKIE, "").path(root.to_owned()).finish();
    gone.make_removal();
    let mut response = redirect(&format!("{root}/login"));
    response
        .add_cookie(&gone)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    Ok(response)
}

#[derive(serde::Deserialize)]
struct UserQuery {
    #[serde(default)]
    q: String,
}

/// The Users page: `lookup` on a page (the SCIM document never holds a password).
async fn users(
    req: HttpRequest,
    query: web::Query<UserQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let session = match signed_in(&req, &state).await? {
        Ok(session) => session,
        Err(answer) => return Ok(*answer),
    };
    let q = query.q.trim();
    let found = match q.is_empty() {
        true => None,
        false => state.store.lookup(q, 20).await?,
    };
    // What each target's entitlement rules give the user's groups.
    // Everything the request log and the events know of the key, also of a deleted user.
    let trail = match q.is_empty() {
        true => None,
        false => Some(
            state
                .store
                .audit_trail(q, None, time::OffsetDateTime::UNIX_EPOCH, HISTORY_ROWS)
                .await?,
        ),
    };
    let known = trail.as_ref().is_some_and(|t| !t.users.is_empty());
    // No exact match: the users whose userName, e-mail or name starts with what was typed; no
    // query at all: the list, by userName.
    let listed = match (&found, known) {
        (None, false) => list_users(&state, q).await?,
        _ => Vec::new(),
    };
    let grants: Vec<(String, String)> = match &found {
        Some(user) => state
            .targets
            .load()
            .iter()
            .filter_map(|t| Some((t.name.clone(), t.entitlements.describe(&user.member_of)?)))
            .collect(),
        None => Vec::new(),
    };
    Ok(page(
        StatusCode::OK,
        pages::users(root, &session.csrf, q, found.as_ref(), &grants, trail.as_ref(), &listed),
    ))
}

/// Users the Users page lists.
const USERS_LISTED: usize = 50;

/// Up to `USERS_LISTED` users by userName: all of them, or those whose userName, an e-mail or a
/// name starts with `prefix` (`Store::users_by_prefix`).
async fn list_users(state: &AppState, prefix: &str) -> Result<Vec<pages::ListedUser>, ApiError> {
    // PostgreSQL refuses a NUL in any text; no userName holds one.
    if prefix.contains('\0') {
        return Ok(Vec::new());
    }
    let found = state.store.users_by_prefix(prefix, USERS_LISTED as i64).await?;
    Ok(found
        .iter()
        .filter_map(|(id, doc)| Some((id, serde_json::from_str::<serde_json::Value>(doc).ok()?)))
        .map(|(id, doc)| pages::ListedUser::from_document(id, &doc))
        .collect())
}

/// Dead rows per page of the console's list.
const DEAD_PAGE: i64 = 50;

#[derive(serde::Deserialize)]
struct DeadQuery {
    #[serde(default)]
    target: String,
    #[serde(default)]
    page: i64,
}

#[derive(serde::Deserialize)]
struct RetryForm {
    csrf: String,
    target: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

async fn dead(
    req: HttpRequest,
    query: web::Query<DeadQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let session = match signed_in(&req, &state).await? {
        Ok(session) => session,
        Err(answer) => return Ok(*answer),
    };
    let target = Some(query.target.trim()).filter(|t| !t.is_empty());
    let page_no = query.page.max(0);
    let mut rows = state
        .store
        .dead_rows(target, DEAD_PAGE + 1, page_no * DEAD_PAGE)
        .await?;
    let more = rows.len() as i64 > DEAD_PAGE;
    rows.truncate(DEAD_PAGE as usize);
    let names: Vec<String> = state.targets.load().iter().map(|t| t.name.clone()).collect();
    Ok(page(
        StatusCode::OK,
        pages::dead(root, &session.csrf, target, &names, &rows, page_no, more),
    ))
}

/// Retry a dead row, or every dead row of a target: asked once more, then done.
async fn retry(
    req: HttpRequest,
    form: web::Form<RetryForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let session = match signed_form(&req, &state, &form.csrf).await? {
        Ok(session) => session,
        Err(answer) => return Ok(*answer),
    };
    // Only a configured target: its name then also goes safely into the redirect below.
    if !state.targets.load().iter().any(|t| t.name == form.target) {
        return Ok(page(StatusCode::NOT_FOUND, pages::refused(root, "no such target")));
    }
    let user = form.user.as_deref().filter(|u| !u.is_empty());
    if form.confirm.as_deref() != Some("yes") {
        let what = match user {
            Some(user) => format!("the row of user {user} at {}", form.target),
            None => format!("every dead row of {}", form.target),
        };
        return Ok(page(
            StatusCode::OK,
            pages::confirm_retry(root, &session.csrf, &form.target, user, &what),
        ));
    }
    let n = state.store.retry_now(Some(&form.target), user).await?;
    tracing::info!(token = %session.token_name, target = %form.target, rows = n, "console: retry");
    Ok(redirect(&format!("{root}/dead?target={}", form.target)))
}

#[derive(serde::Deserialize)]
struct HeldForm {
    csrf: String,
    target: String,
    /// `release` or `discard`.
    action: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// Release or discard a target's held removals (as `sync release` / `sync discard`): the users are
/// shown once more, then it is done.
async fn held(
    req: HttpRequest,
    form: web::Form<HeldForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let session = match signed_form(&req, &state, &form.csrf).await? {
        Ok(session) => session,
        Err(answer) => return Ok(*answer),
    };
    if !state.targets.load().iter().any(|t| t.name == form.target) {
        return Ok(page(StatusCode::NOT_FOUND, pages::refused(root, "no such target")));
    }
    let release = match form.action.as_str() {
        "release" => true,
        "discard" => false,
        _ => return Ok(page(StatusCode::BAD_REQUEST, pages::refused(root, "unknown action"))),
    };
    if form.confirm.as_deref() != Some("yes") {
        let users = state.store.held_rows(&form.target, None).await?;
        return Ok(page(
            StatusCode::OK,
            pages::confirm_held(root, &session.csrf, &form.target, release, &users),
        ));
    }
    let n = if release {
        state.store.release_held(&form.target, None).await?
    } else {
        state.store.discard_held(&form.target, None).await?
    };
    tracing::warn!(token = %session.token_name, target = %form.target, rows = n, action = %form.action, "console: held removals");
    Ok(redirect(root))
}

/// Requests and events the user page's history shows (the newest).
const HISTORY_ROWS: i64 = 100;

/// Events per page of the console's list.
const EVENTS_PAGE: i64 = 100;

#[derive(serde::Deserialize)]
struct EventsQuery {
    #[serde(default)]
    target: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    request: String,
    before: Option<i64>,
}

async fn events(
    req: HttpRequest,
    query: web::Query<EventsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let session = match signed_in(&req, &state).await? {
        Ok(session) => session,
        Err(answer) => return Ok(*answer),
    };
    let given = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
    let (target, user, outcome) = (given(&query.target), given(&query.user), given(&query.outcome));
    let request = given(&query.request);
    let filter = crate::store::EventFilter {
        before: query.before,
        target: target.as_deref(),
        user: user.as_deref(),
        outcome: outcome.as_deref(),
        request: request.as_deref(),
    };
    let mut rows = state.store.events_page(&filter, EVENTS_PAGE + 1).await?;
    let next = (rows.len() as i64 > EVENTS_PAGE).then(|| rows[EVENTS_PAGE as usize - 1].id);
    rows.truncate(EVENTS_PAGE as usize);
    let shown = (
        query.target.trim(),
        query.user.trim(),
        query.outcome.trim(),
        query.request.trim(),
    );
    Ok(page(
        StatusCode::OK,
        pages::events(root, &session.csrf, shown, &rows, next),
    ))
}

/// Logged requests per page of the console's list.
const REQUESTS_PAGE: i64 = 100;
/// Repeated failures the console shows (the most repeated first).
const REPEATED_SHOWN: i64 = 20;

#[derive(serde::Deserialize)]
struct RequestsQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    failed: String,
    #[serde(default)]
    request: String,
    before: Option<i64>,
}

/// The repeated failures of the last 24 hours.
async fn repeated_failures(state: &AppState) -> Result<Vec<crate::store::RepeatedFailure>, ApiError> {
    let day_ago = OffsetDateTime::now_utc() - time::Duration::hours(24);
    Ok(state.store.repeated_failures(day_ago, REPEATED_SHOWN).await?)
}

async fn requests(
    req: HttpRequest,
    query: web::Query<RequestsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let session = match signed_in(&req, &state).await? {
        Ok(session) => session,
        Err(answer) => return Ok(*answer),
    };
    fn given(s: &str) -> Option<&str> {
        Some(s.trim()).filter(|s| !s.is_empty())
    }
    let since = match query.since.trim() {
        "1h" => Some(time::Duration::hours(1)),
        "24h" => Some(time::Duration::hours(24)),
        "7d" => Some(time::Duration::days(7)),
        _ => None,
    };
    let filter = crate::store::RequestFilter {
        before: query.before,
        user: given(&query.user),
        failed: !query.failed.is_empty(),
        token: given(&query.token),
        since: since.map(|ago| OffsetDateTime::now_utc() - ago),
        request_id: given(&query.request),
    };
    let mut rows = state.store.requests_page(&filter, REQUESTS_PAGE + 1).await?;
    let next = (rows.len() as i64 > REQUESTS_PAGE).then(|| rows[REQUESTS_PAGE as usize - 1].id);
    rows.truncate(REQUESTS_PAGE as usize);
    // Repeated failures head the unfiltered list; a filtered one shows only what was asked for.
    let unfiltered =
        filter.user.is_none() && filter.token.is_none() && filter.request_id.is_none() && filter.before.is_none();
    let repeated = match unfiltered {
        true => repeated_failures(&state).await?,
        false => Vec::new(),
    };
    let shown = pages::RequestsShown {
        user: query.user.trim(),
        token: query.token.trim(),
        since: if since.is_some() { query.since.trim() } else { "" },
        failed: filter.failed,
        request: query.request.trim(),
    };
    Ok(page(
        StatusCode::OK,
        pages::requests(root, &session.csrf, &shown, &repeated, &rows, next),
    ))
}

#[derive(serde::Deserialize)]
struct CheckForm {
    csrf: String,
    target: String,
}

/// `scim-bridge check` for one target, on demand: its read-only probe, the outcome on the page.
async fn check(
    req: HttpRequest,
    form: web::Form<CheckForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let session = match signed_form(&req, &state, &form.csrf).await? {
        Ok(session) => session,
        Err(answer) => return Ok(*answer),
    };
    let Some(outcome) = state.check_target.check(&form.target).await else {
        return Ok(page(StatusCode::NOT_FOUND, pages::refused(root, "no such target")));
    };
    Ok(page(
        StatusCode::OK,
        pages::checked(root, &session.csrf, &form.target, &outcome),
    ))
}

#[derive(serde::Deserialize)]
struct ReloadForm {
    csrf: String,
}

/// What SIGHUP does: the configuration file and the `*_file` secrets read again, what changed on
/// the page (names, never values), or why the running configuration stays.
async fn reload(
    req: HttpRequest,
    form: web::Form<ReloadForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let session = match signed_form(&req, &state, &form.csrf).await? {
        Ok(session) => session,
        Err(answer) => return Ok(*answer),
    };
    tracing::info!(token = %session.token_name, "console: reading the configuration again");
    let outcome = state.reload.reload().await;
    let status = match outcome {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    Ok(page(status, pages::reloaded(root, &session.csrf, &outcome)))
}

/// The targets page: one card per configured target.
async fn targets(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let root = state.admin_path.as_str();
    let session = match signed_in(&req, &state).await? {
        Ok(session) => session,
        Err(answer) => return Ok(*answer),
    };
    let status = state.store.target_status().await?;
    let hour_ago = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let activity = state.store.calls_since(hour_ago).await?;
    let cards: Vec<TargetCard> = state
        .targets
        .load()
        .iter()
        .map(|target| {
            let name = &target.name;
            let row = status.iter().find(|s| &s.target == name);
            let (calls, failures) = activity
                .iter()
                .find(|(t, _, _)| t == name)
                .map_or((0, 0), |(_, c, f)| (*c, *f));
            TargetCard {
                name: name.clone(),
                kind: target.kind,
                mode: target.mode,
                state: row.map_or(TargetState::Closed, |r| r.state),
                pending: row.map_or(0, |r| r.pending),
                dead: row.map_or(0, |r| r.dead),
                planned: row.map_or(0, |r| r.planned),
                held: row.map_or(0, |r| r.held),
                refused: row.and_then(|r| r.refused.clone()),
                open_until: row.and_then(|r| r.open_until.clone()),
                paused_until: row.and_then(|r| r.paused_until.clone()),
                pause_reason: row.and_then(|r| r.pause_reason.clone()),
                oldest_due: row.and_then(|r| r.oldest_due.clone()),
                last_success: row.and_then(|r| r.last_success.clone()),
                calls_last_hour: calls,
                failures_last_hour: failures,
            }
        })
        .collect();
    let repeated = repeated_failures(&state).await?;
    let tls = state.tls.as_ref().map(crate::tls::Tls::status);
    Ok(page(
        StatusCode::OK,
        pages::targets(root, &session.csrf, &cards, &repeated, tls.as_ref()),
    ))
}
