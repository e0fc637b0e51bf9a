//! The console's HTML (maud, no JavaScript): one layout, a small stylesheet, readable on a phone.
use crate::store::{EventAction, TargetState};
use maud::{html, Markup, PreEscaped, DOCTYPE};

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1d2430;background:#f4f6f8}\
header{background:#1d2430;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center;flex-wrap:wrap}\
header a{color:#fff}main{padding:1em;max-width:70em;margin:auto}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(17em,1fr));gap:1em}\
.card{background:#fff;border-radius:6px;padding:1em;box-shadow:0 1px 2px #0002}.card.alarm{border:2px solid #b3261e}\
.card h2{margin:0 0 .4em;font-size:1.1em}dl{display:grid;grid-template-columns:auto 1fr;gap:.2em .8em;margin:0}\
dt{color:#5a6472}dd{margin:0}.bad{color:#b3261e}.ok{color:#17733a}\
form.inline{display:inline}table{border-collapse:collapse;width:100%;margin:.4em 0}td,th{border-bottom:1px solid #dde;padding:.2em .4em;text-align:left;vertical-align:top}pre{white-space:pre-wrap;word-break:break-all;background:#f4f6f8;padding:.5em}button{font:inherit;padding:.3em .8em}input{font:inherit;padding:.3em;width:100%;box-sizing:border-box}\
time{text-decoration:underline dotted;white-space:nowrap}\
@media (max-width:40em){main{padding:.5em}table,tbody,tr,td{display:block;width:auto}tr:has(th){display:none}\
tr{background:#fff;border-radius:6px;margin:.5em 0;padding:.3em .5em;box-shadow:0 1px 2px #0002}td{border:0;padding:.1em 0;overflow-wrap:anywhere}\
td[data-label]::before{content:attr(data-label) \": \";color:#5a6472}}";

/// A whole page; `csrf` present when signed in (the sign-out form needs it).
pub fn layout(title: &str, admin_root: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · scim-bridge" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "scim-bridge" }
                    @if let Some(csrf) = csrf {
                        a href=(admin_root) { "Targets" }
                        a href={ (admin_root) "/users" } { "Users" }
                        a href={ (admin_root) "/dead" } { "Dead rows" }
                        a href={ (admin_root) "/events" } { "Events" }
                        a href={ (admin_root) "/requests" } { "Requests" }
                        form.inline method="post" action={ (admin_root) "/logout" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn login(admin_root: &str, problem: Option<&str>) -> Markup {
    layout(
        "Sign in",
        admin_root,
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(problem) = problem { p.bad { (problem) } }
            form method="post" action={ (admin_root) "/login" } {
                p { label { "Admin token " input type="password" name="token" autocomplete="off" required; } }
                p { button type="submit" { "Sign in" } }
            }
            p { "An admin token is made with " code { "scim-bridge token create NAME --scope admin" } "; an IdP's SCIM token cannot sign in." }
        },
    )
}

/// What a target card shows.
pub struct TargetCard {
    pub name: String,
    pub kind: &'static str,
    pub mode: &'static str,
    pub state: TargetState,
    pub pending: i64,
    pub dead: i64,
    pub planned: i64,
    /// Removals the guard holds for an operator.
    pub held: i64,
    /// The vendor's words while it refuses the bridge's credentials.
    pub refused: Option<String>,
    /// When an open breaker lets the next probe go.
    pub open_until: Option<String>,
    pub paused_until: Option<String>,
    pub pause_reason: Option<String>,
    pub oldest_due: Option<String>,
    pub last_success: Option<String>,
    pub calls_last_hour: i64,
    pub failures_last_hour: i64,
}

/// A target's state in the words an operator reads at a glance, and whether it is healthy.
fn state_words(card: &TargetCard) -> (Markup, bool) {
    let words = match card.state {
        TargetState::Closed => html! { "healthy" },
        TargetState::Open => html! {
            "failing — retrying"
            @if let Some(at) = &card.open_until { " " (when(at)) }
        },
        TargetState::HalfOpen => html! { "probing (one call decides whether it is back)" },
        TargetState::Paused => html! {
            "paused"
            @if let Some(at) = &card.paused_until { " until " (when(at)) }
            @if let Some(why) = &card.pause_reason { " (" (why) ")" }
        },
        TargetState::CredentialsRefused => html! { "credentials refused" },
    };
    (words, card.state == TargetState::Closed)
}

pub fn targets(
    admin_root: &str,
    csrf: &str,
    cards: &[TargetCard],
    repeated: &[crate::store::RepeatedFailure],
    tls: Option<&crate::tls::TlsStatus>,
) -> Markup {
    layout(
        "Targets",
        admin_root,
        Some(csrf),
        html! {
            h1 { "Targets" }
            form method="post" action={ (admin_root) "/reload" } {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" title="Read the configuration file and the *_file secrets again (as SIGHUP does)" { "Reload configuration" }
            }
            @if let Some(tls) = tls { (tls_card(tls)) }
            @if cards.is_empty() { p { "No target is configured." } }
            @if !repeated.is_empty() {
                section.card.alarm {
                    h2 { "Repeated failures" }
                    p.bad {
                        (repeated.len()) " IdP request(s) keep failing the same way ("
                        (repeated.iter().map(|r| r.times).sum::<i64>()) " times in the last 24 hours). "
                        a href={ (admin_root) "/requests" } { "See them" }
                    }
                }
            }
            div.cards {
                @for card in cards {
                    section.card.alarm[card.held > 0 || card.refused.is_some()] {
                        h2 { (card.name) }
                        @if let Some(words) = &card.refused {
                            p.bad { strong { "Credentials refused" } ": " (words) ". Rows wait; one sign-in attempt per auth_retry_secs; the target resumes by itself once one succeeds." }
                        }
                        @if card.held > 0 {
                            p.bad { strong { (card.held) " removals held" } " by the removal guard (max_removals reached)" }
                            (held_form(admin_root, csrf, &card.name, "release", "Release (carry them out)", false))
                            " "
                            (held_form(admin_root, csrf, &card.name, "discard", "Discard (keep the users)", false))
                        }
                        dl {
                            dt { "kind" } dd { (card.kind) }
                            dt { "mode" } dd { (card.mode) }
                            @let (words, healthy) = state_words(card);
                            dt { "state" } dd class=(if healthy { "ok" } else { "bad" }) title=(card.state) { (words) }
                            dt { "pending" } dd { (card.pending) }
                            dt { "dead" } dd class=(if card.dead > 0 { "bad" } else { "" }) {
                                @if card.dead > 0 { a href={ (admin_root) "/dead?" (query(&[("target", card.name.as_str())])) } { (card.dead) } }
                                @else { "0" }
                            }
                            @if card.planned > 0 {
                                dt { "planned" }
                                dd { a href={ (admin_root) "/events?" (query(&[("target", card.name.as_str()), ("outcome", "planned")])) } { (card.planned) } }
                            }
                            dt { "oldest due" } dd { (when_or(card.oldest_due.as_deref(), "-")) }
                            dt { "last success" } dd { (when_or(card.last_success.as_deref(), "never")) }
                            dt { "last hour" } dd { (card.calls_last_hour) " calls, " (card.failures_last_hour) " failed" }
                        }
                        form method="post" action={ (admin_root) "/check" } {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="target" value=(card.name);
                            button type="submit" { "Check" }
                        }
                    }
                }
            }
        },
    )
}

/// A refusal as a page (sign-in problems, a stale form).
pub fn refused(admin_root: &str, message: &str) -> Markup {
    layout(
        "Refused",
        admin_root,
        None,
        html! { h1 { "Refused" } p.bad { (message) } p { a href={ (admin_root) "/login" } { "Sign in" } } },
    )
}

/// The Users page: a search box, and what `scim-bridge lookup` shows of the user found.
pub fn users(
    admin_root: &str,
    csrf: &str,
    query: &str,
    found: Option<&crate::store::LookedUp>,
    grants: &[(String, String)],
    trail: Option<&crate::store::AuditTrail>,
    listed: &[ListedUser],
) -> Markup {
    layout(
        "Users",
        admin_root,
        Some(csrf),
        html! {
            h1 { "Users" }
            form method="get" action={ (admin_root) "/users" } {
                p { label { "id, userName, e-mail or name (or how it starts) " input type="search" name="q" value=(query); } }
                p { button type="submit" { "Find" } }
            }
            @let known = trail.is_some_and(|t| !t.users.is_empty());
            @match (query.is_empty(), found) {
                (true, _) => {}
                (false, None) if known => { p { "No user has that id, userName or e-mail now: it was deleted. Its history follows." } }
                (false, None) if !listed.is_empty() => { p { "No user has exactly that id, userName or e-mail; these start with it:" } }
                (false, None) => { p.bad { "No user has that id, userName or e-mail, and none starts with it." } }
                (false, Some(user)) => { (user_card(user, grants)) }
            }
            @if !listed.is_empty() {
                table {
                    tr { th { "userName" } th { "name" } th { "e-mail" } th { "active" } }
                    @for user in listed {
                        tr {
                            td data-label="userName" { a href={ (admin_root) "/users?" (self::query(&[("q", user.id.as_str())])) } { (user.user_name) } }
                            td data-label="name" { (user.name) }
                            td data-label="e-mail" { (user.email) }
                            td data-label="active" class=(if user.active { "ok" } else { "bad" }) { (if user.active { "active" } else { "inactive" }) }
                        }
                    }
                }
                @if listed.len() >= 50 { p { "The first 50 by userName; type more to narrow." } }
                p { small { "userName and e-mail match among all users; names among the " (crate::store::NAME_SEARCH_USERS) " newest." } }
            }
            @if let Some(trail) = trail.filter(|_| known) { (history(admin_root, trail)) }
        },
    )
}

/// A user as the Users page lists it.
pub struct ListedUser {
    pub id: String,
    pub user_name: String,
    pub name: String,
    pub email: String,
    pub active: bool,
}

impl ListedUser {
    pub fn from_document(id: &str, doc: &serde_json::Value) -> Self {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let emails = doc["emails"].as_array().cloned().unwrap_or_default();
        let email = emails
            .iter()
            .find(|e| e["primary"] == true)
            .or(emails.first())
            .map_or_else(String::new, |e| text(&e["value"]));
        let name = match text(&doc["name"]["formatted"]) {
            formatted if !formatted.is_empty() => formatted,
            _ => format!(
                "{} {}",
                text(&doc["name"]["givenName"]),
                text(&doc["name"]["familyName"])
            )
            .trim()
            .to_owned(),
        };
        Self {
            id: id.to_owned(),
            user_name: text(&doc["userName"]),
            name,
            email,
            active: doc["active"].as_bool().unwrap_or(true),
        }
    }
}

/// A user's history (docs/audit.md): the users the key named, then the SCIM requests and the
/// vendor steps they caused, newest first.
fn history(admin_root: &str, trail: &crate::store::AuditTrail) -> Markup {
    enum Line<'a> {
        Request(&'a crate::store::RequestRow),
        Event(&'a crate::store::AuditEvent),
    }
    let mut lines: Vec<(&str, Line<'_>)> = trail
        .requests
        .iter()
        .map(|r| (r.at.as_str(), Line::Request(r)))
        .chain(trail.events.iter().map(|e| (e.at.as_str(), Line::Event(e))))
        .collect();
    lines.sort_by(|a, b| b.0.cmp(a.0));
    html! {
        section.card {
            h2 { "History" }
            ul {
                @for user in &trail.users {
                    li { (user.user_name.as_deref().unwrap_or("(name unknown)")) " " code { (user.id) } " "
                         (if user.deleted { "deleted" } else { "live" }) }
                }
            }
            table {
                tr { th { "at" } th { "what" } th { "outcome" } th { "details" } th { "request" } }
                @for (at, line) in &lines {
                    @match line {
                        Line::Request(r) => tr {
                            td data-label="at" { (when(at)) }
                            td data-label="what" { "SCIM " (r.method) " " (r.path) }
                            td data-label="outcome" class=(if r.status >= 400 { "bad" } else { "" }) { (r.status) }
                            td data-label="details" { (r.scim_type.as_deref().unwrap_or("")) " " (r.detail.as_deref().unwrap_or("")) " token " (r.token.as_deref().unwrap_or("-")) }
                            td data-label="request" { (request_link(admin_root, &r.request_id)) }
                        },
                        Line::Event(e) => tr {
                            td data-label="at" { (when(at)) }
                            td data-label="what" { (e.target) " " (e.action) }
                            td data-label="outcome" class=(if e.error.is_some() { "bad" } else { "" }) { (e.outcome.map_or("-", |o| o.as_str())) }
                            td data-label="details" {
                                @if let Some(id) = &e.remote_id { "vendor id " (id) " " }
                                (e.changes.as_deref().unwrap_or("")) " "
                                (e.error.as_deref().or(e.note.as_deref()).unwrap_or(""))
                            }
                            td data-label="request" { @if let Some(r) = &e.request_id { (request_link(admin_root, r)) } }
                        },
                    }
                }
            }
        }
    }
}

fn user_card(user: &crate::store::LookedUp, grants: &[(String, String)]) -> Markup {
    let document = serde_json::from_str::<serde_json::Value>(&user.doc)
        .ok()
        .and_then(|d| serde_json::to_string_pretty(&d).ok())
        .unwrap_or_default();
    html! {
        section.card {
            h2 { (user.user_name) }
            dl {
                dt { "id" } dd { code { (user.id) } }
                @if let Some(at) = &user.deleted_at { dt { "deleted" } dd.bad { (at) " (still being fanned out)" } }
            }
            h3 { "Per target" }
            table {
                tr { th { "target" } th { "link" } th { "vendor id" } th { "row" } th { "last error" } }
                @for (target, link) in &user.links {
                    @let row = user.queued.iter().find(|r| &r.target == target);
                    tr {
                        td { (target) }
                        td { (link.state.as_str()) }
                        td { (link.remote_id.as_deref().unwrap_or("-")) }
                        td { (row.map_or("done", |r| r.state.as_str())) }
                        td.bad { (row.and_then(|r| r.last_error.as_deref()).unwrap_or("")) }
                    }
                }
                @for row in user.queued.iter().filter(|r| !user.links.iter().any(|(t, _)| t == &r.target)) {
                    tr { td { (row.target) } td { "-" } td { "-" } td { (row.state) } td.bad { (row.last_error.as_deref().unwrap_or("")) } }
                }
            }
            @if !grants.is_empty() {
                h3 { "Grants" }
                p { "What each target's entitlement rules give this user's groups (docs/entitlements.md)." }
                table {
                    tr { th { "target" } th { "grants" } }
                    @for (target, grant) in grants {
                        tr { td { (target) } td { (grant) } }
                    }
                }
            }
            h3 { "Last vendor calls" }
            table {
                tr { th { "at" } th { "target" } th { "action" } th { "status" } th { "ms" } th { "vendor's words / note" } }
                @for event in &user.events {
                    tr {
                        td data-label="at" { (when(&event.at)) }
                        td data-label="target" { (event.target) }
                        td data-label="action" { (event.action) }
                        td data-label="status" { (status_cell(event.action, event.http_status, event.error.as_deref())) }
                        td data-label="ms" { (event.latency_ms.map(|l| format!("{l:.0}")).unwrap_or_default()) }
                        td data-label="vendor's words" class=(if event.error.is_some() { "bad" } else { "" }) { (event.error.as_deref().or(event.note.as_deref()).unwrap_or("")) }
                    }
                }
            }
            h3 { "SCIM document" }
            pre { (document) }
        }
    }
}

/// The Dead rows page: the vendor's words per row, Retry per row and per target (confirmed first).
pub fn dead(
    admin_root: &str,
    csrf: &str,
    target: Option<&str>,
    targets: &[String],
    rows: &[crate::store::DeadRow],
    page: i64,
    more: bool,
) -> Markup {
    layout(
        "Dead rows",
        admin_root,
        Some(csrf),
        html! {
            h1 { "Dead rows" }
            form method="get" action={ (admin_root) "/dead" } {
                label { "target " select name="target" {
                    option value="" { "all" }
                    @for name in targets { option value=(name) selected[target == Some(name.as_str())] { (name) } }
                } }
                " " button type="submit" { "Show" }
            }
            @if let Some(target) = target {
                (retry_form(admin_root, csrf, target, None, &format!("Retry every dead row of {target}")))
            }
            @if rows.is_empty() { p { "No dead row." } }
            table {
                tr { th { "user" } th { "target" } th { "attempts" } th { "vendor's words" } th {} }
                @for row in rows {
                    tr {
                        td data-label="user" { a href={ (admin_root) "/users?" (query(&[("q", row.resource_id.as_str())])) } { (row.user_name) } }
                        td data-label="target" { (row.target) }
                        td data-label="attempts" { (row.attempts) }
                        td.bad data-label="vendor's words" { (row.last_error.as_deref().unwrap_or("")) }
                        td { (retry_form(admin_root, csrf, &row.target, Some(&row.resource_id), "Retry")) }
                    }
                }
            }
            p {
                @if page > 0 { a href={ (admin_root) "/dead?" (query(&[("page", &(page - 1).to_string()), ("target", target.unwrap_or(""))])) } { "newer" } " " }
                @if more { a href={ (admin_root) "/dead?" (query(&[("page", &(page + 1).to_string()), ("target", target.unwrap_or(""))])) } { "more" } }
            }
        },
    )
}

fn held_form(admin_root: &str, csrf: &str, target: &str, action: &str, label: &str, confirmed: bool) -> Markup {
    html! {
        form.inline method="post" action={ (admin_root) "/held" } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="target" value=(target);
            input type="hidden" name="action" value=(action);
            @if confirmed { input type="hidden" name="confirm" value="yes"; }
            button type="submit" { (label) }
        }
    }
}

/// "Are you sure?" for held removals, naming the users.
pub fn confirm_held(admin_root: &str, csrf: &str, target: &str, release: bool, users: &[(String, String)]) -> Markup {
    let (title, what, label) = if release {
        (
            "Release held removals?",
            "carried out at the vendor (deleted or deactivated, as the target's on_delete says)",
            "Yes, release",
        )
    } else {
        (
            "Discard held removals?",
            "dropped: the vendor keeps these users and their links stay",
            "Yes, discard",
        )
    };
    layout(
        title,
        admin_root,
        Some(csrf),
        html! {
            h1 { (title) }
            p { "These " (users.len()) " removal(s) at " strong { (target) } " will be " (what) ":" }
            ul { @for (id, name) in users { li { (name) " " small { "(" (id) ")" } } } }
            (held_form(admin_root, csrf, target, if release { "release" } else { "discard" }, label, true))
            " " a href={ (admin_root) } { "Cancel" }
        },
    )
}

fn retry_form(admin_root: &str, csrf: &str, target: &str, user: Option<&str>, label: &str) -> Markup {
    html! {
        form.inline method="post" action={ (admin_root) "/dead/retry" } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="target" value=(target);
            @if let Some(user) = user { input type="hidden" name="user" value=(user); }
            button type="submit" { (label) }
        }
    }
}

/// "Are you sure?": the same form again with `confirm`.
pub fn confirm_retry(admin_root: &str, csrf: &str, target: &str, user: Option<&str>, what: &str) -> Markup {
    layout(
        "Retry?",
        admin_root,
        Some(csrf),
        html! {
            h1 { "Retry?" }
            p { "Make " (what) " due now, as " code { "scim-bridge sync retry" } " does." }
            form method="post" action={ (admin_root) "/dead/retry" } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="target" value=(target);
                @if let Some(user) = user { input type="hidden" name="user" value=(user); }
                input type="hidden" name="confirm" value="yes";
                button type="submit" { "Yes, retry" } " " a href={ (admin_root) "/dead" } { "Cancel" }
            }
        },
    )
}

/// The Events page: the newest vendor calls, filtered, a page at a time (`before` the last id shown).
pub fn events(
    admin_root: &str,
    csrf: &str,
    filter: (&str, &str, &str, &str),
    rows: &[crate::store::ListedEvent],
    next: Option<i64>,
) -> Markup {
    let (target, user, outcome, request) = filter;
    layout(
        "Events",
        admin_root,
        Some(csrf),
        html! {
            h1 { "Events" }
            form method="get" action={ (admin_root) "/events" } {
                label { "target " input name="target" value=(target); } " "
                label { "user (id, userName or e-mail) " input name="user" value=(user); } " "
                label { "outcome " select name="outcome" {
                    @for choice in ["", "ok", "failed", "create", "update", "grant", "revoke", "deactivate", "delete", "held", "planned", "unchanged"] {
                        option value=(choice) selected[outcome == choice] { (if choice.is_empty() { "all" } else { choice }) }
                    }
                } } " "
                @if !request.is_empty() {
                    label { "caused by request " input name="request" value=(request); } " "
                    a href={ (admin_root) "/requests?" (query(&[("request", request)])) } { "the request" } " "
                }
                button type="submit" { "Show" }
            }
            @if rows.is_empty() { p { "No event." } }
            table {
                tr { th { "at" } th { "target" } th { "user" } th { "action" } th { "status" } th { "vendor id" } th { "changes" } th { "ms" } th { "vendor's words / note" } th { "request" } }
                @for e in rows {
                    tr {
                        td data-label="at" { (when(&e.at)) } td data-label="target" { (e.target) }
                        td data-label="user" { a href={ (admin_root) "/users?" (query(&[("q", e.resource_id.as_str())])) } { (e.user_name) } }
                        td data-label="action" { (e.action) }
                        td data-label="status" { (status_cell(e.action, e.http_status, e.error.as_deref())) }
                        td data-label="vendor id" { (e.remote_id.as_deref().unwrap_or("")) }
                        td data-label="changes" { (e.changes.as_deref().unwrap_or("")) }
                        td data-label="ms" { (e.latency_ms.map(|l| format!("{l:.0}")).unwrap_or_default()) }
                        td data-label="vendor's words" class=(if e.error.is_some() { "bad" } else { "" }) { (e.error.as_deref().or(e.note.as_deref()).unwrap_or("")) }
                        td data-label="request" { @if let Some(r) = &e.request_id { (request_link(admin_root, r)) } }
                    }
                }
            }
            @if let Some(next) = next {
                p { a href={ (admin_root) "/events?" (query(&[("before", &next.to_string()), ("target", target), ("user", user), ("outcome", outcome), ("request", request)])) } { "older" } }
            }
        },
    )
}

/// A target's on-demand `check`: `ok` with the read-only call that succeeded, or why it failed.
pub fn checked(admin_root: &str, csrf: &str, target: &str, outcome: &Result<String, String>) -> Markup {
    layout(
        "Check",
        admin_root,
        Some(csrf),
        html! {
            h1 { "Check: " (target) }
            @match outcome {
                Ok(what) => p.ok { "ok: " (what) },
                Err(why) => p.bad { "FAIL: " (why) },
            }
            p { a href=(admin_root) { "Back to the targets" } }
        },
    )
}

/// The outcome of the Reload button: each change, or why the running configuration stays.
pub fn reloaded(admin_root: &str, csrf: &str, outcome: &Result<Vec<String>, String>) -> Markup {
    layout(
        "Reload",
        admin_root,
        Some(csrf),
        html! {
            h1 { "Reload" }
            @match outcome {
                Ok(lines) => {
                    p.ok { "The configuration was read again." }
                    ul { @for line in lines { li { (line) } } }
                }
                Err(why) => p.bad { (why) },
            }
            p { a href=(admin_root) { "Back to the targets" } }
        },
    )
}

/// An event's status cell: the vendor's HTTP status when the event has one (failures), `ok` for a
/// reconcile that succeeded (it may have made several calls), and nothing for rows that made no call.
fn status_cell(action: EventAction, http_status: Option<i64>, error: Option<&str>) -> String {
    match (http_status, error) {
        (Some(status), _) => status.to_string(),
        (None, Some(_)) => "failed".into(),
        (None, None) if EventAction::CALLS.contains(&action) => "ok".into(),
        (None, None) => String::new(),
    }
}

/// The Requests page (docs/audit.md): what the IdPs sent and were answered, filtered, a page at a
/// time; repeated failures first, each once with its count.
pub fn requests(
    admin_root: &str,
    csrf: &str,
    filter: &RequestsShown<'_>,
    repeated: &[crate::store::RepeatedFailure],
    rows: &[crate::store::RequestRow],
    next: Option<i64>,
) -> Markup {
    layout(
        "Requests",
        admin_root,
        Some(csrf),
        html! {
            h1 { "Requests" }
            form method="get" action={ (admin_root) "/requests" } {
                label { "user (id, userName or e-mail) " input name="user" value=(filter.user); } " "
                label { "token " input name="token" value=(filter.token); } " "
                label { "since " select name="since" {
                    @for (value, label) in SINCE_CHOICES {
                        option value=(value) selected[filter.since == *value] { (label) }
                    }
                } } " "
                label { input type="checkbox" name="failed" value="1" checked[filter.failed] style="width:auto"; " failures only (status 400 and above)" } " "
                @if !filter.request.is_empty() { input type="hidden" name="request" value=(filter.request); }
                button type="submit" { "Show" }
            }
            @if !repeated.is_empty() {
                section.card.alarm {
                    h2 { "Repeated failures" }
                    p { "The same request, answered the same way, " (crate::store::REPEATED_AT_LEAST) " times or more in the last 24 hours: an IdP retrying what the bridge refuses. Fix the cause at the IdP (or the mapping) once." }
                    table {
                        tr { th { "times" } th { "token" } th { "request" } th { "answer" } th { "first" } th { "last" } }
                        @for r in repeated {
                            tr {
                                td.bad data-label="times" { (r.times) " ×" }
                                td data-label="token" { (r.token.as_deref().unwrap_or("-")) }
                                td data-label="request" { (r.method) " " (r.path) }
                                td.bad data-label="answer" { (r.status) " " (r.scim_type.as_deref().unwrap_or("")) " " (r.detail.as_deref().unwrap_or("")) }
                                td data-label="first" { (when(&r.first_at)) }
                                td data-label="last" { (when(&r.last_at)) }
                            }
                        }
                    }
                }
            }
            @if rows.is_empty() { p { "No request." } }
            table {
                tr { th { "at" } th { "token" } th { "request" } th { "status" } th { "detail" } th { "ms" } th { "user or group" } th { "request id" } }
                @for r in rows {
                    tr {
                        td data-label="at" { (when(&r.at)) }
                        td data-label="token" { (r.token.as_deref().unwrap_or("-")) }
                        td data-label="request" { (r.method) " " (r.path) }
                        td data-label="status" class=(if r.status >= 400 { "bad" } else { "ok" }) { (r.status) " " (r.scim_type.as_deref().unwrap_or("")) }
                        td.bad data-label="detail" { (r.detail.as_deref().unwrap_or("")) }
                        td data-label="ms" { (format!("{:.1}", r.latency_ms)) }
                        td data-label="user or group" {
                            @if let Some(id) = &r.resource_id {
                                @if r.resource_type.as_deref() == Some("User") {
                                    a href={ (admin_root) "/users?" (query(&[("q", id.as_str())])) } { (r.user_name.as_deref().unwrap_or(id)) }
                                } @else { (r.user_name.as_deref().unwrap_or(id)) }
                            }
                        }
                        td data-label="request id" {
                            a href={ (admin_root) "/events?" (query(&[("request", r.request_id.as_str())])) } title="the vendor steps this request caused" { (r.request_id) }
                        }
                    }
                }
            }
            @if let Some(next) = next {
                p { a href={ (admin_root) "/requests?" (query(&[("before", next.to_string().as_str()), ("user", filter.user), ("token", filter.token),
                    ("since", filter.since), ("failed", if filter.failed { "1" } else { "" }), ("request", filter.request)])) } { "older" } }
            }
        },
    )
}

/// What the Requests page was asked for, as typed.
pub struct RequestsShown<'a> {
    pub user: &'a str,
    pub token: &'a str,
    pub since: &'a str,
    pub failed: bool,
    pub request: &'a str,
}

/// The Requests page's time choices: the form's value, and what it says.
pub const SINCE_CHOICES: &[(&str, &str)] = &[
    ("", "any time"),
    ("1h", "the last hour"),
    ("24h", "the last 24 hours"),
    ("7d", "the last 7 days"),
];

/// A request id, linking to the Requests page's row.
fn request_link(admin_root: &str, request_id: &str) -> Markup {
    html! { a href={ (admin_root) "/requests?" (query(&[("request", request_id)])) } title="the SCIM request" { (request_id) } }
}

/// A stored time as an operator reads it: how long ago, the exact UTC time on hover. Browsers do
/// not tell a page without JavaScript their time zone, so the exact time says UTC.
fn when(at: &str) -> Markup {
    when_at(at, time::OffsetDateTime::now_utc())
}

fn when_or(at: Option<&str>, otherwise: &str) -> Markup {
    match at {
        Some(at) => when(at),
        None => html! { (otherwise) },
    }
}

fn when_at(at: &str, now: time::OffsetDateTime) -> Markup {
    let Some(instant) = crate::scim::resource::parse_datetime(at) else {
        return html! { (at) };
    };
    let exact = format!(
        "{} {:02}:{:02}:{:02} UTC",
        instant.date(),
        instant.hour(),
        instant.minute(),
        instant.second()
    );
    html! { time datetime=(at) title=(exact) { (relative(instant, now)) } }
}

/// "just now", "5 min ago", "in 3 h", "2 days ago".
fn relative(at: time::OffsetDateTime, now: time::OffsetDateTime) -> String {
    let seconds = (now - at).whole_seconds();
    let (span, past) = (seconds.unsigned_abs(), seconds >= 0);
    let amount = match span {
        0..=44 => return "just now".into(),
        45..=5_399 => format!("{} min", (span + 30) / 60),
        5_400..=129_599 => format!("{} h", (span + 1_800) / 3_600),
        _ => format!("{} days", (span + 43_200) / 86_400),
    };
    if past {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// A query string with each value percent-encoded (what an operator typed may hold `&` or `#`).
fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// The served certificate (`server.tls`): where it comes from, what it names, when it ends, and the
/// last failure to read or obtain one.
fn tls_card(tls: &crate::tls::TlsStatus) -> Markup {
    let serving = !tls.names.is_empty();
    html! {
        section.card.alarm[!serving || tls.last_error.is_some()] #tls {
            h2 { "TLS certificate" }
            @if let Some(error) = &tls.last_error {
                p.bad { strong { "Last attempt failed" } " (" (when_or(tls.last_error_at.as_deref(), "-")) "): " (error) }
            }
            dl {
                dt { "source" } dd { (tls.source) }
                dt { "names" } dd class=(if serving { "ok" } else { "bad" }) {
                    @if serving { (tls.names.join(", ")) } @else { "none yet: TLS handshakes fail until a certificate is obtained" }
                }
                dt { "valid until" } dd { (when_or(tls.not_after.as_deref(), "-")) }
                @if let Some(renew) = &tls.renew_after { dt { "renewed after" } dd { (when_or(Some(renew), "-")) } }
                dt { "loaded" } dd { (when_or(tls.loaded_at.as_deref(), "-")) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_read_as_how_long_ago_with_the_exact_utc_time_on_hover() {
        let now = datetime!(2026-12-05 12:00:00 UTC);
        let cases = [
            (datetime!(2026-12-05 11:59:50 UTC), "just now"),
            (datetime!(2026-12-05 11:55:00 UTC), "5 min ago"),
            (datetime!(2026-12-05 09:00:00 UTC), "3 h ago"),
            (datetime!(2026-12-02 12:00:00 UTC), "3 days ago"),
            (datetime!(2026-12-05 12:10:00 UTC), "in 10 min"),
        ];
        for (at, expected) in cases {
            assert_eq!(relative(at, now), expected);
        }
        let html = when_at("2026-12-05T11:55:00.123Z", now).into_string();
        assert_eq!(
            html,
            r#"<time datetime="2026-12-05T11:55:00.123Z" title="2026-12-05 11:55:00 UTC">5 min ago</time>"#
        );
        assert_eq!(when_at("not a time", now).into_string(), "not a time");
    }
}
