//! `sync plan`: what the bridge would do at one target's vendor, user by user, from read-only calls,
//! writing nothing to the vendor or the database (README "Rehearsing", docs/troubleshooting.md).
//! Exit code 0: everything in sync; 2: something would change; 1: an error.
use super::inspect::known_target;
use super::{Exit, PlanFormat};
use crate::config::Settings;
use crate::store::Store;
use crate::sync::connectors::Connector;
use crate::sync::reconcile::{Step, StepKind, IN_SYNC};
use crate::sync::subject::{self, TargetRules};
use crate::sync::{Desired, Secret, UserState};
use serde::Serialize;
use std::collections::BTreeMap;

/// One user's plan, or why it could not be made.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    id: String,
    user_name: String,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "steps_or_in_sync")]
    steps: Option<Vec<Step>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The removal guard holds this user's removal (`sync release` carries it out).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    held: bool,
    /// What explains a vendor user: the linked id, and the keys the bridge looks users up by.
    #[serde(skip)]
    explains: Vec<String>,
}

/// Steps as data; an empty plan as `[{"action": "in sync"}]`, as the text report says it.
fn steps_or_in_sync<S: serde::Serializer>(steps: &Option<Vec<Step>>, serializer: S) -> Result<S::Ok, S::Error> {
    match steps {
        Some(steps) if steps.is_empty() => [BTreeMap::from([("action", IN_SYNC)])].serialize(serializer),
        other => other.serialize(serializer),
    }
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
    let entitlements = settings_of_target.entitlements()?;
    let http = settings_of_target.http_client()?;
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
    let rules = TargetRules {
        name: &settings_of_target.name,
        on_delete: settings_of_target.on_delete(),
        mapping: &mapping,
        takes_passwords: settings_of_target.takes_passwords(),
        creates_inactive: settings_of_target.creates_inactive(),
        entitlements: &entitlements,
    };
    let held: std::collections::HashSet<String> = store
        .held_rows(target, None)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut lines = Vec::with_capacity(subjects.len());
    for (id, user_name) in subjects {
        if let Some(mut line) = plan_one(store, &rules, &connector, id, user_name).await {
            line.held = held.contains(&line.id);
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
        kind: settings_of_target.kind().name(),
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
        .any(|l| l.steps.as_ref().is_some_and(|s| !s.is_empty()));
    match (report.summary.get("error").copied().unwrap_or(0), changes) {
        (0, false) => Ok(()),
        (0, true) => Err(Exit(2).into()),
        _ => Err(Exit(1).into()),
    }
}

/// The plan for one user, read as the worker reads its row and decided as the write path decides
/// (`sync::reconcile`); `None` when it is neither in the target's scope nor at the vendor.
async fn plan_one(
    store: &Store,
    rules: &TargetRules<'_>,
    connector: &Connector,
    id: String,
    user_name: String,
) -> Option<Line> {
    let failed = |error: String| Line {
        id: id.clone(),
        user_name: user_name.clone(),
        steps: None,
        error: Some(error),
        held: false,
        explains: Vec::new(),
    };
    let subject = match subject::read(store, rules, &id).await {
        Ok(subject) => subject,
        Err(e) => return Some(failed(format!("store: {e}"))),
    };
    let desired = match subject.desired? {
        // A password waiting for the vendor is delivered by the write path: the plan says so,
        // without opening it.
        Desired::Present(state) if subject.sealed_password.is_some() => Desired::Present(UserState {
            password: Some(Secret::new("")),
            ..state
        }),
        desired => desired,
    };
    let mut explains: Vec<String> = subject.link.iter().filter_map(|l| l.remote_id.clone()).collect();
    explains.extend(subject.link.iter().filter_map(|l| l.remote_key.clone()));
    if let Desired::Present(state) = &desired {
        explains.extend([state.email.clone(), state.user_name.clone()]);
    }
    let planned = connector.plan_batch(&[(desired, subject.link)]).await.pop();
    Some(match planned.unwrap_or_else(|| Ok(Vec::new())) {
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
                held: false,
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

/// Every kind of step counted (zero included), but entitle only where some user has one: a target
/// without entitlement rules never does.
fn summary(lines: &[Line]) -> BTreeMap<&'static str, usize> {
    let words = StepKind::ALL
        .iter()
        .filter(|k| **k != StepKind::Entitle)
        .map(|k| k.word())
        .chain([IN_SYNC, "error", "held"]);
    let mut counts: BTreeMap<&'static str, usize> = words.map(|w| (w, 0)).collect();
    for line in lines {
        if line.held {
            *counts.entry("held").or_default() += 1;
        }
        match &line.steps {
            Some(steps) if steps.is_empty() => *counts.entry(IN_SYNC).or_default() += 1,
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
            (Some(steps), _) if steps.is_empty() => continue,
            (Some(steps), _) => Step::describe_all(steps),
            (None, Some(error)) => format!("error: {error}"),
            (None, None) => continue,
        };
        let held = if line.held {
            "  [HELD by the removal guard: `sync release` carries it out, `sync discard` keeps the user]"
        } else {
            ""
        };
        println!("  {:<28} {text}{held}", line.user_name);
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
