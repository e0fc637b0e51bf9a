//! The command line: clap types and one function per subcommand.
use crate::app::{open_store, Application};
use crate::config::Settings;
use crate::http::auth::{generate_token, token_hash};
use crate::store::{Store, StoreError};
use crate::telemetry;
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "scim-bridge",
    version,
    about = "SCIM 2.0 bridge from identity providers to vendor APIs"
)]
pub struct Cli {
    /// Configuration file (default: ./scim-bridge.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the SCIM API (creates the database and a first token when there is none).
    Serve,
    /// Manage the bearer tokens identity providers use.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Inspect and steer the fan-out to vendors.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Show one user's SCIM state, links, queued rows and last vendor calls (by id, userName or e-mail).
    Lookup {
        key: String,
        /// How many of the newest vendor calls to show.
        #[arg(long, default_value_t = 10)]
        events: i64,
    },
    /// Validate the configuration and probe each target's credentials with a read-only call.
    Check,
    /// Manage the id-mapping between users and vendor records.
    #[command(subcommand)]
    Link(LinkCommand),
}

#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// Link a user (id, userName or e-mail) to an existing vendor record, so that the bridge adopts
    /// it instead of creating one (e.g. an eSign SystemUserId).
    Set {
        user: String,
        target: String,
        remote_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Per target: pending and dead rows, its state (closed, open, half_open, paused), the oldest
    /// due row, the last success; and rows of targets no longer configured.
    Status,
    /// Make queued rows due now, dead ones included.
    Retry {
        /// Only this target's rows.
        #[arg(long)]
        target: Option<String>,
        /// Only this user's rows (id, userName or e-mail).
        #[arg(long)]
        user: Option<String>,
    },
    /// Queue every user in a target's scope (or linked to it), to repair drift at the vendor.
    Resync {
        #[arg(long)]
        target: String,
    },
    /// Forget a target removed from the configuration: its queued rows, links and recorded health.
    Drop {
        #[arg(long)]
        target: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its SHA-256 is stored).
    Create { name: String },
    /// List tokens (names and dates, never secrets).
    List,
    /// Revoke a token by name.
    Revoke { name: String },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(&settings).await,
        Command::Token(command) => token(&settings, command).await,
        Command::Sync(command) => sync(&settings, command).await,
        Command::Lookup { key, events } => lookup(&settings, &key, events).await,
        Command::Check => check(&settings).await,
        Command::Link(LinkCommand::Set {
            user,
            target,
            remote_id,
        }) => link_set(&settings, &user, &target, &remote_id).await,
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log.format);
    let app = Application::build(settings).await?;
    if app.store().count_live_tokens().await? == 0 {
        let secret = create_first_token(app.store()).await?;
        let url = format!(
            "http://{}:{}{}",
            settings.listen_addr()?.ip(),
            app.port(),
            settings.server.base_path
        );
        println!("No token existed, so one was created. It is shown only this once:\n\n    {secret}\n");
        println!("Try it:\n    curl -H 'Authorization: Bearer {secret}' '{url}/Users?count=1'\n");
    }
    tracing::info!(base_path = %settings.server.base_path, database = %settings.database.url, "starting");
    app.run_until_signalled().await
}

/// Creates the start-up token under the first free name of `initial`, `initial-2`, …
async fn create_first_token(store: &Store) -> anyhow::Result<String> {
    let secret = generate_token();
    for n in 1..100 {
        let name = if n == 1 {
            "initial".to_owned()
        } else {
            format!("initial-{n}")
        };
        match store.insert_token(&name, &token_hash(&secret)).await {
            Ok(()) => return Ok(secret),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("could not find a free name for the first token")
}

async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database.url)
        .await
        .with_context(|| format!("cannot open {}", settings.database.url))?;
    match command {
        TokenCommand::Create { name } => {
            if name.trim().is_empty() {
                bail!("a token needs a name");
            }
            let secret = generate_token();
            match store.insert_token(&name, &token_hash(&secret)).await {
                Err(StoreError::Conflict { .. }) => bail!("a token named '{name}' already exists"),
                other => other?,
            }
            println!("{secret}");
            eprintln!("Token '{name}' created. This is the only time it is shown.");
        }
        TokenCommand::List => {
            println!("{:<24} {:<25} {:<25} status", "name", "created", "last used");
            for t in store.list_tokens().await? {
                let status = t
                    .revoked_at
                    .map_or_else(|| "live".to_owned(), |at| format!("revoked {at}"));
                println!(
                    "{:<24} {:<25} {:<25} {status}",
                    t.name,
                    t.created,
                    t.last_used.unwrap_or_else(|| "never".into())
                );
            }
        }
        TokenCommand::Revoke { name } => match store.revoke_token(&name).await {
            Err(StoreError::NotFound) => bail!("no live token named '{name}'"),
            other => {
                other?;
                println!("Token '{name}' revoked.");
            }
        },
    }
    store.close().await;
    Ok(())
}

async fn sync(settings: &Settings, command: SyncCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    match command {
        SyncCommand::Status => print_status(settings, &store).await?,
        SyncCommand::Retry { target, user } => {
            if let Some(t) = &target {
                known_target(settings, t)?;
            }
            let user_id = match &user {
                Some(key) => Some(
                    store
                        .lookup(key, 0)
                        .await?
                        .with_context(|| format!("no user '{key}'"))?
                        .id,
                ),
                None => None,
            };
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
        SyncCommand::Drop { target, yes } => drop_target(settings, &store, &target, yes).await?,
    }
    store.close().await;
    Ok(())
}

/// `sync status`: one line per target, then what an operator may need to act on.
async fn print_status(settings: &Settings, store: &crate::store::Store) -> anyhow::Result<()> {
    println!(
        "{:<20} {:>8} {:>6}  {:<14} {:<25} last success",
        "target", "pending", "dead", "state", "oldest due"
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
            "{:<20} {:>8} {:>6}  {:<14} {:<25} {}",
            t.target,
            t.pending,
            t.dead,
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
            ("open", _, Some(until)) => println!(
                "{}: circuit breaker open after repeated failures (opened {} time(s) in a row); one probe at {until}",
                t.target, t.trips
            ),
            _ => {}
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

/// One line per target: `ok` with the read-only call that succeeded, or `FAIL` with why. Exits
/// non-zero when any target fails.
async fn check(settings: &Settings) -> anyhow::Result<()> {
    println!("ok    configuration ({} target(s))", settings.target.len());
    let mut failed = 0;
    // A bad secrets key is one failed line like any other, so the targets are still probed.
    match settings.sync.sealer() {
        Ok(Some(_)) => println!("ok    sync.secrets_key (passwords are held sealed until delivered)"),
        Ok(None) => {}
        Err(e) => {
            failed += 1;
            println!("FAIL  sync.secrets_key: {e}");
        }
    }
    let http = crate::sync::client::http_client(std::time::Duration::from_secs(15))?;
    for target in &settings.target {
        let label = format!("{} ({})", target.name, crate::config::kind_name(target.kind()));
        let outcome = match crate::sync::connectors::Connector::build(
            target,
            http.clone(),
            Default::default(),
            Default::default(),
        ) {
            Err(e) => Err(e.to_string()),
            Ok(connector) => {
                let outcome = connector.check().await.map_err(|e| e.to_string());
                connector.shutdown().await;
                outcome
            }
        };
        match outcome {
            Ok(what) => println!("ok    {label}: {what}"),
            Err(why) => {
                failed += 1;
                println!("FAIL  {label}: {why}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}

async fn link_set(settings: &Settings, user: &str, target: &str, remote_id: &str) -> anyhow::Result<()> {
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

fn known_target(settings: &Settings, name: &str) -> anyhow::Result<()> {
    if settings.target.iter().any(|t| t.name == name) {
        return Ok(());
    }
    let names: Vec<&str> = settings.target.iter().map(|t| t.name.as_str()).collect();
    bail!(
        "no target named '{name}' in the configuration (targets: {})",
        names.join(", ")
    )
}

async fn lookup(settings: &Settings, key: &str, events: i64) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let Some(user) = store.lookup(key, events).await? else {
        bail!("no user with id, userName or e-mail '{key}'");
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
        println!(
            "  {} {:<18} {:<10} {:>4} {:>8.1} ms{}",
            e.at,
            e.target,
            e.action,
            e.http_status.map_or("-".to_owned(), |s| s.to_string()),
            e.latency_ms.unwrap_or_default(),
            e.error
                .as_deref()
                .or(e.note.as_deref())
                .map(|e| format!("  {e}"))
                .unwrap_or_default()
        );
    }
    store.close().await;
    Ok(())
}
