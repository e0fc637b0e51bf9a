//! `sync plan`: what the bridge would do at one target's vendor, user by user, from read-only calls,
//! writing nothing to the vendor or the database (README "Rehearsing", docs/troubleshooting.md).
//! Exit code 0: everything in sync; 2: something would change; 1: an error.
use super::inspect::known_target;
use super::{Exit, PlanFormat};
use crate::config::{kind_name, OnDelete, Settings, TargetSettings};
use crate::store::Store;
use crate::sync::connectors::Connector;
use crate::sync::desired::desired_of;
use crate::sync::mapping::Mapping;
use crate::sync::plan::Step;
use crate::sync::{client, LinkState};
use serde::Serialize;
use std::collections::BTreeMap;

/// One user's plan, or why it could not be made.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    id: String,
    user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<Step>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What explains a vendor user: the linked id, and the keys the bridge looks users up by.
    #[serde(skip)]
    explains: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    target: String,
    kind: &'static str,
    users: Vec<Line>,
    /// Vendor users no SCIM user explains, left alone; `None` when the vendor cannot list users.
    orphans: Option<Vec<Orphan>>,
    summary: BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct Orphan {
    id: String,
    key: String,
}

pub(super) async fn plan(
    settings: &Settings,
    store: &Store,
    target: &str,
    user: Option<&str>,
    format: PlanFormat,
) -> anyhow::Result<()> {
    known_target(settings, target)?;
    let Some(settings_of_target) = settings.target.iter().find(|t| t.name == target) else {
        return Ok(());
    };
    let mapping = settings_of_target.mapping(settings.user_schema()?)?;
    let (timeout, connect_timeout) = settings_of_target.timeouts();
    let http = client::http_client_with(timeout, connect_timeout)?;
    let connector = Connector::build(settings_of_target, http, Default::default(), Default::default(), None)?;
    let subjects = store.plan_subjects(target, user).await?;
    if let (Some(key), true) = (user, subjects.is_empty()) {
        anyhow::bail!("no user '{key}' (by id, userName or e-mail)");
    }
    if user.is_none() {
        connector.prefetch().await?;
    }
    let bar = indicatif::ProgressBar::new(subjects.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut lines = Vec::with_capacity(subjects.len());
    for (id, user_name) in subjects {
        if let Some(line) = plan_one(store, settings_of_target, &mapping, &connector, id, user_name).await {
            lines.push(line);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let orphans = match user {
        Some(_) => None,
        None => orphans(&connector, &lines).await?,
    };
    connector.shutdown().await;
    let report = Report {
        target: target.to_owned(),
        kind: kind_name(settings_of_target.kind()),
        summary: summary(&lines),
        users: lines,
        orphans,
    };
    match format {
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        PlanFormat::Text => print_text(&report),
    }
    let changes = report
        .users
        .iter()
        .any(|l| l.steps.as_ref().is_some_and(|s| s != &[Step::InSync]));
    match (report.summary.get("error").copied().unwrap_or(0), changes) {
        (0, false) => Ok(()),
        (0, true) => Err(Exit(2).into()),
        _ => Err(Exit(1).into()),
    }
}

/// The plan for one user; `None` when it is neither in the target's scope nor at the vendor.
async fn plan_one(
    store: &Store,
    target: &TargetSettings,
    mapping: &Mapping,
    connector: &Connector,
    id: String,
    user_name: String,
) -> Option<Line> {
    let failed = |error: String| Line {
        id: id.clone(),
        user_name: user_name.clone(),
        steps: None,
        error: Some(error),
        explains: Vec::new(),
    };
    let view = match store.sync_view(&id, &target.name).await {
        Ok(view) => view,
        Err(e) => return Some(failed(format!("store: {e}"))),
    };
    let linked = view.link.as_ref().is_some_and(|l| l.state != LinkState::Gone);
    let on_delete = target.on_delete.unwrap_or(OnDelete::Delete);
    let tombstone = match (view.document.is_none(), on_delete) {
        (true, OnDelete::Deactivate) => store.tombstone(&id).await.ok().flatten(),
        _ => None,
    };
    let desired = desired_of(
        &id,
        view.document.as_ref(),
        view.in_scope,
        linked,
        on_delete,
        tombstone.as_ref(),
        mapping,
    )?;
    let mut explains: Vec<String> = view.link.iter().filter_map(|l| l.remote_id.clone()).collect();
    explains.extend(view.link.iter().filter_map(|l| l.remote_key.clone()));
    if let crate::sync::Desired::Present(state) = &desired {
        explains.extend([state.email.clone(), state.user_name.clone()]);
    }
    Some(match connector.plan(&desired, view.link.as_ref()).await {
        Ok(steps) => {
            explains.extend(steps.iter().filter_map(|s| match s {
                Step::Adopt { id } => Some(id.clone()),
                _ => None,
            }));
            Line {
                id,
                user_name,
                steps: Some(steps),
                error: None,
                explains: explains.into_iter().map(|k| k.to_lowercase()).collect(),
            }
        }
        Err(e) => failed(e.to_string()),
    })
}

/// The vendor's users that no line explains (by linked id, adopted id, e-mail or username).
async fn orphans(connector: &Connector, lines: &[Line]) -> anyhow::Result<Option<Vec<Orphan>>> {
    let Some(users) = connector.vendor_users().await? else {
        return Ok(None);
    };
    let explained: std::collections::HashSet<&str> = lines
        .iter()
        .flat_map(|l| l.explains.iter().map(String::as_str))
        .collect();
    Ok(Some(
        users
            .into_iter()
            .filter(|(id, key)| {
                !explained.contains(id.to_lowercase().as_str()) && !explained.contains(key.to_lowercase().as_str())
            })
            .map(|(id, key)| Orphan { id, key })
            .collect(),
    ))
}

fn summary(lines: &[Line]) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> = [
        "create",
        "adopt",
        "update",
        "deactivate",
        "reactivate",
        "delete",
        "in sync",
        "error",
    ]
    .into_iter()
    .map(|w| (w, 0))
    .collect();
    for line in lines {
        match &line.steps {
            Some(steps) => steps.iter().for_each(|s| *counts.entry(s.word()).or_default() += 1),
            None => *counts.entry("error").or_default() += 1,
        }
    }
    counts
}

fn print_text(report: &Report) {
    println!(
        "plan for target '{}' ({}): {} user(s) looked at, nothing written",
        report.target,
        report.kind,
        report.users.len()
    );
    for line in &report.users {
        let text = match (&line.steps, &line.error) {
            (Some(steps), _) if steps == &[Step::InSync] => continue,
            (Some(steps), _) => Step::describe_all(steps),
            (None, Some(error)) => format!("error: {error}"),
            (None, None) => continue,
        };
        println!("  {:<28} {text}", line.user_name);
    }
    match &report.orphans {
        None => println!("orphans: {} cannot list its users", report.kind),
        Some(orphans) => {
            println!("orphans (at the vendor, no SCIM user; left alone): {}", orphans.len());
            for orphan in orphans {
                println!("  {:<28} id {}", orphan.key, orphan.id);
            }
        }
    }
    let counts: Vec<String> = report.summary.iter().map(|(word, n)| format!("{n} {word}")).collect();
    println!("summary: {}", counts.join(", "));
}
