//! `sync status | retry | resync | release | discard | drop`: the queue as operators see and steer it.
use super::inspect::known_target;
use super::SyncCommand;
use crate::app::open_store;
use crate::config::Settings;
use crate::store::Store;
use anyhow::Context;

pub(super) async fn sync(settings: &Settings, command: SyncCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let outcome = run(settings, &store, command).await;
    store.close().await;
    outcome
}

async fn run(settings: &Settings, store: &Store, command: SyncCommand) -> anyhow::Result<()> {
    match command {
        SyncCommand::Plan { target, user, format } => {
            super::plan::plan(settings, store, &target, user.as_deref(), format).await?
        }
        SyncCommand::Status => print_status(settings, store).await?,
        SyncCommand::Retry { target, user } => {
            if let Some(t) = &target {
                known_target(settings, t)?;
            }
            let user_id = user_id(store, user.as_deref()).await?;
            let n = store.retry_now(target.as_deref(), user_id.as_deref()).await?;
            println!("{n} row(s) due now; a running `serve` picks them up within 5 seconds.");
        }
        SyncCommand::Resync { target } => {
            known_target(settings, &target)?;
            let bar = indicatif::ProgressBar::new(store.count_users().await?);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users ({per_sec}, {eta} left)")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let queued = store.resync(&target, |n| bar.inc(n)).await?;
            bar.finish_and_clear();
            println!("{queued} user(s) queued for '{target}'; a running `serve` starts on them within 5 seconds.");
        }
        SyncCommand::Release { target, user } => {
            known_target(settings, &target)?;
            let user_id = user_id(store, user.as_deref()).await?;
            let n = store.release_held(&target, user_id.as_deref()).await?;
            println!(
                "{n} held removal(s) at '{target}' released; a running `serve` carries them out within 5 seconds."
            );
        }
        SyncCommand::Discard { target, user, yes } => {
            known_target(settings, &target)?;
            let user_id = user_id(store, user.as_deref()).await?;
            let held = store.held_rows(&target, user_id.as_deref()).await?;
            if held.is_empty() {
                println!("no removal is held at '{target}'");
                return Ok(());
            }
            if !yes
                && !confirm(&format!(
                    "Discard {} held removal(s) at '{target}' (the vendor keeps the users)?",
                    held.len()
                ))?
            {
                println!("nothing discarded");
                return Ok(());
            }
            let n = store.discard_held(&target, user_id.as_deref()).await?;
            println!("{n} held removal(s) at '{target}' discarded: the vendor keeps those users; a later change of one that is still leaving is held again.");
        }
        SyncCommand::Drop { target, yes } => drop_target(settings, store, &target, yes).await?,
    }
    Ok(())
}

/// The id of the user an operator named (id, userName or e-mail).
async fn user_id(store: &Store, key: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(key) = key else { return Ok(None) };
    let found = store
        .lookup(key, 0)
        .await?
        .with_context(|| format!("no user '{key}'"))?;
    Ok(Some(found.id))
}

/// `sync status`: one line per target, then what an operator may need to act on.
async fn print_status(settings: &Settings, store: &crate::store::Store) -> anyhow::Result<()> {
    println!(
        "{:<20} {:>8} {:>6} {:>6}  {:<14} {:<25} last success",
        "target", "pending", "dead", "held", "state", "oldest due"
    );
    let rows = store.target_status().await?;
    let configured = |name: &str| settings.target.iter().any(|t| t.name == name);
    for t in &rows {
        let state = if configured(&t.target) {
            t.state.as_str()
        } else {
            "not-configured"
        };
        println!(
            "{:<20} {:>8} {:>6} {:>6}  {:<14} {:<25} {}",
            t.target,
            t.pending,
            t.dead,
            t.held,
            state,
            t.oldest_due.as_deref().unwrap_or("-"),
            t.last_success.as_deref().unwrap_or("never")
        );
    }
    for t in &rows {
        match (t.state.as_str(), &t.paused_until, &t.open_until) {
            ("paused", Some(until), _) => println!(
                "{}: paused until {until}: {}",
                t.target,
                t.pause_reason.as_deref().unwrap_or("the vendor's reset")
            ),
            ("credentials_refused", _, Some(until)) => println!(
                "{}: the vendor REFUSES the bridge's credentials: {}; rows wait (none is lost); one sign-in attempt at {until}, \
                 and the target resumes by itself when it succeeds (fix the secret; `check` tests it)",
                t.target,
                t.refused.as_deref().unwrap_or("-")
            ),
            ("open", _, Some(until)) => println!(
                "{}: circuit breaker open after repeated failures (opened {} time(s) in a row); one probe at {until}",
                t.target, t.trips
            ),
            _ => {}
        }
        if t.planned > 0 {
            println!(
                "{}: {} row(s) planned in observe mode (`scim-bridge lookup` shows each plan); with mode = \"write\" they are carried out",
                t.target, t.planned
            );
        }
        if t.held > 0 {
            print_held(store, &t.target, t.held).await?;
        }
        if !configured(&t.target) {
            println!(
                "{}: not in the configuration, but {} row(s) are queued for it; `scim-bridge sync drop --target {}` forgets them and its links",
                t.target, t.pending + t.dead, t.target
            );
        }
    }
    Ok(())
}

/// The users whose removal the guard holds at `target`, and what an operator can do.
async fn print_held(store: &Store, target: &str, count: i64) -> anyhow::Result<()> {
    println!(
        "{target}: {count} removal(s) HELD by the removal guard (max_removals reached); \
         `scim-bridge sync release --target {target}` carries them out, `sync discard --target {target}` keeps the users:"
    );
    const SHOWN: usize = 20;
    let held = store.held_rows(target, None).await?;
    for (id, user_name) in held.iter().take(SHOWN) {
        println!("  held  {user_name} ({id})");
    }
    if held.len() > SHOWN {
        println!("  … and {} more", held.len() - SHOWN);
    }
    Ok(())
}

/// `sync drop`: forgets a target that is no longer configured, after a confirmation.
async fn drop_target(settings: &Settings, store: &crate::store::Store, target: &str, yes: bool) -> anyhow::Result<()> {
    if settings.target.iter().any(|t| t.name == target) {
        anyhow::bail!("target '{target}' is configured: remove its [[target]] first (its rows would be queued again)");
    }
    let (rows, links) = store.target_footprint(target).await?;
    if rows == 0 && links == 0 {
        println!("nothing is recorded for target '{target}'");
        return Ok(());
    }
    if !yes
        && !confirm(&format!(
            "Forget {rows} queued row(s) and {links} link(s) of target '{target}'?"
        ))?
    {
        println!("nothing dropped");
        return Ok(());
    }
    let (rows, links) = store.drop_target(target).await?;
    println!("dropped {rows} row(s) and {links} link(s) of target '{target}'");
    Ok(())
}

/// Asks on the terminal; anything but `y`/`yes` (or no input) is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}
