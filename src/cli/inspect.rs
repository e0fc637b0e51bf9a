//! `check`, `link set` and `lookup`: probing targets and reading one user's state.
use crate::app::open_store;
use crate::config::Settings;
use anyhow::{bail, Context};

/// One line per target: `ok` with the read-only call that succeeded, or `FAIL` with why. Exits
/// non-zero when any target fails.
pub(super) async fn check(settings: &Settings, only: Option<&str>) -> anyhow::Result<()> {
    if let Some(name) = only {
        known_target(settings, name)?;
    }
    println!("ok    configuration ({} target(s))", settings.target.len());
    let mut failed = 0;
    match crate::app::require_database(&settings.database.url) {
        // A PostgreSQL database is not connected to here (that would migrate it): `serve` does.
        Ok(()) if crate::store::sqlite_file(&settings.database.url).is_none() => {
            println!("--    database: PostgreSQL, not connected to by check")
        }
        Ok(()) => println!("ok    database"),
        Err(e) => {
            failed += 1;
            println!("FAIL  database: {e}");
        }
    }
    // A bad secrets key is one failed line like any other, so the targets are still probed.
    match settings.sync.sealer() {
        Ok(Some(_)) => println!("ok    sync.secrets_key (passwords are held sealed until delivered)"),
        Ok(None) => {}
        Err(e) => {
            failed += 1;
            println!("FAIL  sync.secrets_key: {e}");
        }
    }
    for target in settings
        .target
        .iter()
        .filter(|t| only.is_none_or(|name| t.name == name))
    {
        let label = format!("{} ({})", target.name, target.kind());
        let outcome =
            match target.http_client_with(crate::sync::client::CHECK_TIMEOUT, crate::sync::client::CHECK_TIMEOUT) {
                Ok(http) => crate::sync::connectors::check(target, http).await,
                Err(e) => Err(e.to_string()),
            };
        match outcome {
            Ok(what) => println!("ok    {label}: {what}"),
            Err(why) => {
                failed += 1;
                println!("FAIL  {label}: {why}");
            }
        }
        print_mapping(target, settings.user_schema()?);
    }
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}

/// The target's effective mapping, one `vendor field <- SCIM path` line each (docs/mapping.md).
fn print_mapping(target: &crate::config::TargetSettings, schema: &'static crate::scim::schema::ResourceSchema) {
    let Ok(mapping) = target.mapping(schema) else { return };
    let rules = mapping.describe();
    if rules.is_empty() {
        println!("      mapping: identity only (e-mail, userName, name.givenName, name.familyName)");
        return;
    }
    let width = rules.iter().map(|(field, _)| field.len()).max().unwrap_or(0);
    for (field, path) in rules {
        println!("      {field:<width$} <- {path}");
    }
}

pub(super) async fn link_set(settings: &Settings, user: &str, target: &str, remote_id: &str) -> anyhow::Result<()> {
    known_target(settings, target)?;
    if remote_id.trim().is_empty() {
        bail!("the remote id is empty");
    }
    let store = open_store(settings).await?;
    let found = store
        .lookup(user, 0)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .with_context(|| format!("no live user with id, userName or e-mail '{user}'"))?;
    store.set_link(&found.id, target, remote_id.trim()).await?;
    println!(
        "{} ({}) is linked to '{remote_id}' at '{target}'; a running `serve` pushes the user onto it within 5 seconds.",
        found.user_name, found.id
    );
    store.close().await;
    Ok(())
}

pub(super) fn known_target(settings: &Settings, name: &str) -> anyhow::Result<()> {
    if settings.target.iter().any(|t| t.name == name) {
        return Ok(());
    }
    let names: Vec<&str> = settings.target.iter().map(|t| t.name.as_str()).collect();
    bail!(
        "no target named '{name}' in the configuration (targets: {})",
        names.join(", ")
    )
}

pub(super) async fn lookup(settings: &Settings, key: &str, events: i64) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let Some(user) = store.lookup(key, events).await? else {
        // Deleted, and every target told: the history still knows the user by its names.
        let trail = store
            .audit_trail(key, None, time::OffsetDateTime::UNIX_EPOCH, super::audit::HISTORY)
            .await?;
        store.close().await;
        if trail.users.is_empty() {
            bail!("no user with id, userName or e-mail '{key}', live or deleted");
        }
        println!("no live user is '{key}'; the audit trail knows (`scim-bridge audit --user {key}`):");
        print!("{}", super::audit::render(&trail));
        return Ok(());
    };
    let state = user.deleted_at.as_deref().map_or_else(
        || "live".to_owned(),
        |at| format!("deleted {at} (tombstone until every target is told)"),
    );
    println!("user      {} ({})\nstate     {state}", user.user_name, user.id);
    let document: serde_json::Value = serde_json::from_str(&user.doc)?;
    println!(
        "scim      {}",
        serde_json::to_string_pretty(&document)?.replace('\n', "\n          ")
    );
    println!("links");
    for (target, link) in &user.links {
        println!(
            "  {target:<18} {:<9} remote id {:<12} key {:<30} active {}",
            link.state,
            link.remote_id.as_deref().unwrap_or("-"),
            link.remote_key.as_deref().unwrap_or("-"),
            link.pushed_active.map_or("-".to_owned(), |a| a.to_string())
        );
    }
    let grants: Vec<(String, String)> = settings
        .target
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.entitlements().ok()?.describe(&user.member_of)?)))
        .collect();
    if !grants.is_empty() {
        println!("grants (what the entitlement rules give this user's groups)");
        for (target, grant) in grants {
            println!("  {target:<18} {grant}");
        }
    }
    println!("queued");
    for row in &user.queued {
        println!(
            "  {:<18} {:<8} due {} attempts {}{}",
            row.target,
            row.state,
            row.due_at,
            row.attempts,
            row.last_error
                .as_deref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
    println!("events (newest first)");
    for e in &user.events {
        let said = [
            e.remote_id.as_deref().map(|id| format!("vendor id {id}")),
            e.changes.clone(),
            e.error.as_deref().map(|err| format!("error: {err}")),
            e.note.clone(),
            e.request_id.as_deref().map(|r| format!("request {r}")),
        ];
        let said: Vec<String> = said.into_iter().flatten().collect();
        println!(
            "  {} {:<18} {:<10} {:<8} {:>4} {:>8.1} ms  {}",
            e.at,
            e.target,
            e.action,
            e.outcome.map_or("-", |o| o.as_str()),
            e.http_status.map_or("-".to_owned(), |s| s.to_string()),
            e.latency_ms.unwrap_or_default(),
            said.join("  ")
        );
    }
    store.close().await;
    Ok(())
}
