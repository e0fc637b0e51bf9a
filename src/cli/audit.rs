//! `scim-bridge audit --user …`: one user's history, live or deleted: every SCIM request that
//! wrote it and every step the bridge took at each vendor, in time order (docs/audit.md).
use super::PlanFormat;
use crate::app::open_store;
use crate::config::Settings;
use crate::store::{AuditEvent, AuditTrail, RequestRow};
use anyhow::{bail, Context};
use time::OffsetDateTime;

/// The most requests and the most events one history prints (the newest).
pub(super) const HISTORY: i64 = 5_000;

pub(super) async fn audit(
    settings: &Settings,
    user: &str,
    target: Option<&str>,
    since: Option<&str>,
    format: PlanFormat,
) -> anyhow::Result<()> {
    if let Some(name) = target {
        super::inspect::known_target(settings, name)?;
    }
    let since = since
        .map(parse_since)
        .transpose()?
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let store = open_store(settings).await?;
    let trail = store.audit_trail(user, target, since, HISTORY).await?;
    store.close().await;
    if trail.users.is_empty() {
        bail!("no user, live or deleted, was ever known by id, userName or e-mail '{user}' (within the retention of audit.retain_days)");
    }
    match format {
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&trail)?),
        PlanFormat::Text => print!("{}", render(&trail)),
    }
    Ok(())
}

/// `7d`, `24h`, `30m` back from now, or an RFC 3339 instant.
fn parse_since(text: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(at);
    }
    let back = humantime::parse_duration(text).with_context(|| {
        format!("--since '{text}': give a duration back from now (7d, 24h, 30m) or an RFC 3339 time")
    })?;
    Ok(OffsetDateTime::now_utc() - back)
}

/// The trail as text: the users it is about, then requests and events merged in time order.
pub(super) fn render(trail: &AuditTrail) -> String {
    let mut out = String::new();
    for user in &trail.users {
        let state = if user.deleted { "deleted" } else { "live" };
        out.push_str(&format!(
            "user {} ({}) {state}\n",
            user.user_name.as_deref().unwrap_or("(name unknown)"),
            user.id
        ));
    }
    let mut lines: Vec<(&str, String)> = trail
        .requests
        .iter()
        .map(|r| (r.at.as_str(), request_line(r)))
        .chain(trail.events.iter().map(|e| (e.at.as_str(), event_line(e))))
        .collect();
    lines.sort_by(|a, b| a.0.cmp(b.0));
    if lines.is_empty() {
        out.push_str("no requests or events in that time\n");
    }
    for (_, line) in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn request_line(r: &RequestRow) -> String {
    let error = match (&r.scim_type, &r.detail) {
        (Some(kind), Some(detail)) => format!("  {kind}: {detail}"),
        (None, Some(detail)) => format!("  {detail}"),
        _ => String::new(),
    };
    format!(
        "{}  request  {} {} -> {}  token {}  request {}  {:.1} ms{error}",
        r.at,
        r.method,
        r.path,
        r.status,
        r.token.as_deref().unwrap_or("-"),
        r.request_id,
        r.latency_ms
    )
}

fn event_line(e: &AuditEvent) -> String {
    let mut line = format!(
        "{}    {:<14} {:<10} {:<8}",
        e.at,
        e.target,
        e.action.as_str(),
        e.outcome.map_or("-", |o| o.as_str())
    );
    if let Some(id) = &e.remote_id {
        line.push_str(&format!("  vendor id {id}"));
    }
    if let Some(changes) = &e.changes {
        line.push_str(&format!("  {changes}"));
    }
    if let Some(status) = e.http_status {
        line.push_str(&format!("  HTTP {status}"));
    }
    if let Some(error) = &e.error {
        line.push_str(&format!("  error: {error}"));
    }
    if let Some(note) = &e.note {
        line.push_str(&format!("  ({note})"));
    }
    if let Some(request) = &e.request_id {
        line.push_str(&format!("  request {request}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_a_duration_back_or_an_instant() {
        let now = OffsetDateTime::now_utc();
        let week = parse_since("7d").unwrap();
        assert!((now - week - time::Duration::days(7)).abs() < time::Duration::seconds(5));
        assert_eq!(
            parse_since("2026-12-01T00:00:00Z").unwrap(),
            time::macros::datetime!(2026-12-01 00:00 UTC)
        );
        let refused = parse_since("last tuesday").unwrap_err().to_string();
        assert!(refused.contains("7d, 24h, 30m"), "{refused}");
    }
}
