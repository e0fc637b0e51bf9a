//! The command line: clap types and one function per subcommand.
use crate::app::Application;
use crate::config::Settings;
use crate::http::auth::{generate_token, token_hash};
use crate::store::{format_timestamp, redacted_url, Dialect, Store, StoreError, TokenRecord, TokenScope};
use crate::telemetry;
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;

mod audit;
mod backup;
mod canary;
mod inspect;
mod plan;
mod sync;

use inspect::{check, link_set, lookup};
use sync::sync;

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
    /// Copy the SQLite database to FILE while the server runs: consistent, integrity-checked, mode
    /// 0600, never over an existing file (PostgreSQL: prints the pg_dump command).
    Backup { file: PathBuf },
    /// Put a backup back, with the server stopped; the database it replaces is kept beside it.
    Restore { file: PathBuf },
    /// Show one user's SCIM state, links, queued rows and last vendor calls (by id, userName or e-mail).
    Lookup {
        key: String,
        /// How many of the newest vendor calls to show.
        #[arg(long, default_value_t = 10)]
        events: i64,
    },
    /// One user's history, live or deleted (by id, userName or any e-mail it had): every SCIM
    /// request that touched it and every step taken at each vendor, in time order (docs/audit.md).
    Audit {
        #[arg(long, value_name = "ID|USERNAME|EMAIL")]
        user: String,
        /// Only this target's events.
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
        /// Only what happened since: a duration back from now (7d, 24h, 30m) or an RFC 3339 time.
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// Validate the configuration and probe each target's credentials with a read-only call; with
    /// `--canary`, take a throw-away user through its whole life at one target (it writes).
    Check {
        /// Check this target only.
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
        /// Create, read back, update, rename, deactivate, reactivate and remove a user with this
        /// e-mail at `--target` (docs/vendors/README.md, "The canary run").
        #[arg(long, value_name = "EMAIL", requires = "target")]
        canary: Option<String>,
        /// How the canary run prints.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text, requires = "canary")]
        format: PlanFormat,
        /// Run the canary even though the tenant already has that address (it is changed, then removed).
        #[arg(long, requires = "canary")]
        yes: bool,
    },
    /// Manage the id-mapping between users and vendor records.
    #[command(subcommand)]
    Link(LinkCommand),
    /// Create the database (and run its migrations) where the configuration says; other operator
    /// commands never create one.
    Init,
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

/// How `sync plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

/// A command's verdict as an exit code other than 1, with nothing more to print.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for Exit {}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Per target: pending, dead and held rows, its state (closed, open, half_open, paused), the
    /// oldest due row, the last success; held removals by user; rows of targets no longer configured.
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
    /// Rehearse: what the bridge would do at a target's vendor, from read-only calls; writes
    /// nothing. Exit code 0 when everything is in sync, 2 when something would change, 1 on error.
    Plan {
        #[arg(long)]
        target: String,
        /// Only this user (id, userName or e-mail).
        #[arg(long)]
        user: Option<String>,
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// Carry out removals the removal guard held (all of a target's, or one user's).
    Release {
        #[arg(long)]
        target: String,
        /// Only this user (id, userName or e-mail).
        #[arg(long)]
        user: Option<String>,
    },
    /// Drop removals the removal guard held: the vendor keeps the users, their links stay.
    Discard {
        #[arg(long)]
        target: String,
        /// Only this user (id, userName or e-mail).
        #[arg(long)]
        user: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
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
    Create {
        name: String,
        /// `scim` (the default) for an IdP, `admin` for the operator console, `metrics` for
        /// Prometheus (`GET /metrics` alone); one scope per token.
        #[arg(long, value_enum, default_value_t = TokenScope::Scim)]
        scope: TokenScope,
        /// Stop working after this long (`90d`, `12h`); never, without it.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
    },
    /// List tokens: names, scopes, dates, last use, expiry and status; never secrets.
    List,
    /// Give a token a new secret, printed once; the old one keeps working for the grace.
    Rotate {
        name: String,
        /// How long the old secret keeps working (`0s` stops it now).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "24h")]
        grace: Duration,
        /// When the new secret stops working; without it, after as long as the old one was made
        /// to last (never, if it had no expiry).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
    },
    /// Revoke a token by name (every secret it has, and its console sessions). The name can then
    /// be used again.
    Revoke { name: String },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    eprintln!("scim-bridge: {}", crate::app::where_from(&settings));
    match cli.command {
        Command::Init => init(&settings).await,
        Command::Serve => serve(&settings).await,
        Command::Token(command) => token(&settings, command).await,
        Command::Sync(command) => sync(&settings, command).await,
        Command::Backup { file } => backup::backup(&settings, &file).await,
        Command::Restore { file } => backup::restore(&settings, &file).await,
        Command::Lookup { key, events } => lookup(&settings, &key, events).await,
        Command::Audit {
            user,
            target,
            since,
            format,
        } => audit::audit(&settings, &user, target.as_deref(), since.as_deref(), format).await,
        Command::Check {
            target,
            canary: Some(email),
            format,
            yes,
        } => canary::canary(&settings, target.as_deref().unwrap_or_default(), &email, format, yes).await,
        Command::Check { target, .. } => check(&settings, target.as_deref()).await,
        Command::Link(LinkCommand::Set {
            user,
            target,
            remote_id,
        }) => link_set(&settings, &user, &target, &remote_id).await,
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log.format);
    // Before the database is opened when it exists (a restore may be writing it), else once
    // `build` has created it.
    let held = backup::hold_while_serving(&settings.database.url)?;
    let app = Application::build(settings).await?;
    let _no_restore_meanwhile = match held {
        Some(file) => Some(file),
        None => backup::hold_while_serving(&settings.database.url)?,
    };
    if app.store().count_live_tokens().await? == 0 {
        let (name, secret) = create_first_token(app.store()).await?;
        let url = try_url(settings, app.port())?;
        let shown = say(&format!(
            "No token existed, so one named '{name}' was created. It is shown only this once:\n\n    {secret}\n\n\
             Give each IdP its own token (`scim-bridge token create okta`), then end this one:\n    \
             scim-bridge token revoke {name}\n\n\
             Try it:\n    curl -H 'Authorization: Bearer {secret}' '{url}/Users?count=1'\n"
        ));
        if !shown {
            tracing::warn!(
                token = %name,
                "the first token could not be printed (standard output is closed): revoke it and make one \
                 with `scim-bridge token create NAME`"
            );
        }
    }
    let backend = match app.store().dialect() {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgresql",
    };
    tracing::info!(
        base_path = %settings.server.base_path,
        backend,
        database = %app.store().redacted_url(),
        replica = %app.store().replica(),
        "starting"
    );
    app.run_until_signalled().await
}

/// The SCIM base URL to try the first token on: `server.public_url`, else the ACME domain, else the
/// listener (https when `server.tls` is on).
fn try_url(settings: &Settings, port: u16) -> anyhow::Result<String> {
    if let Some(url) = &settings.server.public_url {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    let base = &settings.server.base_path;
    let tls = settings.server.tls.as_ref();
    if let Some(domain) = tls.and_then(|t| t.acme.as_ref()).and_then(|a| a.domains.first()) {
        let port = if port == 443 { String::new() } else { format!(":{port}") };
        return Ok(format!("https://{domain}{port}{base}"));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    Ok(format!("{scheme}://{}:{port}{base}", settings.listen_addr()?.ip()))
}

/// Prints to standard output; false when it is closed (a server must not die of that).
fn say(text: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).is_ok()
}

/// Creates the start-up token under the first free name of `initial`, `initial-2`, …, and says
/// which.
async fn create_first_token(store: &Store) -> anyhow::Result<(String, String)> {
    let secret = generate_token();
    for n in 1..100 {
        let name = if n == 1 {
            "initial".to_owned()
        } else {
            format!("initial-{n}")
        };
        match store.insert_token(&name, &token_hash(&secret)).await {
            Ok(()) => return Ok((name, secret)),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("could not find a free name for the first token")
}

async fn init(settings: &Settings) -> anyhow::Result<()> {
    let existed = crate::app::require_database(&settings.database.url).is_ok();
    let store = crate::app::open_or_create_store(settings).await?;
    store.close().await;
    println!(
        "{} {}",
        if existed {
            "The database is ready (it existed):"
        } else {
            "Created the database:"
        },
        crate::app::where_from(settings)
    );
    Ok(())
}

async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    // The README's walk-through makes the IdP's token before the first `serve`.
    if !matches!(command, TokenCommand::Create { .. }) {
        crate::app::require_database(&settings.database.url)?;
    }
    let store = Store::connect(&settings.database.url)
        .await
        .with_context(|| format!("cannot open {}", redacted_url(&settings.database.url)))?;
    match command {
        TokenCommand::Create { name, scope, expires } => {
            if name.trim().is_empty() {
                bail!("a token needs a name");
            }
            let secret = generate_token();
            let expires_at = expires.map(|d| store.clock().now_utc() + d);
            match store
                .insert_expiring_token(&name, &token_hash(&secret), scope, expires_at)
                .await
            {
                Err(StoreError::Conflict { .. }) => bail!(
                    "a token named '{name}' exists: `scim-bridge token rotate {name}` gives it a new secret, \
                     `scim-bridge token revoke {name}` frees the name"
                ),
                other => other?,
            }
            println!("{secret}");
            eprintln!(
                "Token '{name}' ({} scope) created{}. This is the only time it is shown.",
                scope.as_str(),
                expires_at.map_or_else(String::new, |at| format!(", expires {}", format_timestamp(at)))
            );
        }
        TokenCommand::List => print_tokens(&store.list_tokens().await?, store.clock().now_utc()),
        TokenCommand::Rotate { name, grace, expires } => {
            let secret = generate_token();
            let expires_at = expires.map(|d| store.clock().now_utc() + d);
            let rotated = match store.rotate_token(&name, &token_hash(&secret), grace, expires_at).await {
                Err(StoreError::NotFound) => bail!("no live token named '{name}' (`scim-bridge token list`)"),
                other => other?,
            };
            println!("{secret}");
            eprintln!(
                "Token '{name}' ({} scope) has a new secret{}. This is the only time it is shown.\n\
                 The old secret works until {}: give the new one to whoever uses '{name}' before then.",
                rotated.scope.as_str(),
                rotated
                    .expires_at
                    .map_or_else(String::new, |at| format!(", which expires {}", format_timestamp(at))),
                format_timestamp(rotated.old_works_until)
            );
        }
        TokenCommand::Revoke { name } => match store.revoke_token(&name).await {
            Err(StoreError::NotFound) => bail!("no live token named '{name}'"),
            other => {
                other?;
                println!("Token '{name}' revoked, with its console sessions; the name can be used again.");
            }
        },
    }
    store.close().await;
    Ok(())
}

fn print_tokens(tokens: &[TokenRecord], now: OffsetDateTime) {
    println!(
        "{:<24} {:<7} {:<25} {:<25} {:<25} status",
        "name", "scope", "created", "last used", "expires"
    );
    for t in tokens {
        let expires = t
            .expires_at
            .map_or_else(|| "never".to_owned(), |e| format_timestamp(e.0));
        println!(
            "{:<24} {:<7} {:<25} {:<25} {:<25} {}",
            t.name,
            t.scope.as_str(),
            t.created,
            t.last_used.as_deref().unwrap_or("never"),
            expires,
            token_status(t, now)
        );
    }
}

/// A token's state in words: `live`, `expired`, `replaced, works until it expires`, `replaced`,
/// `revoked …`.
fn token_status(t: &TokenRecord, now: OffsetDateTime) -> String {
    match (&t.revoked_at, &t.replaced_at, t.is_live(now)) {
        (Some(at), _, _) => format!("revoked {at}"),
        (None, Some(_), true) => "replaced, works until it expires".to_owned(),
        (None, Some(_), false) => "replaced".to_owned(),
        (None, None, true) => "live".to_owned(),
        (None, None, false) => "expired".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::try_url;
    use crate::config::{AcmeSettings, Settings, TlsSettings};

    #[test]
    fn the_first_token_is_tried_where_the_idp_will_call() {
        let mut settings = Settings::default();
        assert_eq!(try_url(&settings, 8080).unwrap(), "http://127.0.0.1:8080/scim/v2");
        settings.server.tls = Some(TlsSettings::default());
        assert_eq!(try_url(&settings, 8443).unwrap(), "https://127.0.0.1:8443/scim/v2");
        settings.server.tls = Some(TlsSettings {
            acme: Some(AcmeSettings {
                domains: vec!["scim.example.com".into()],
                ..AcmeSettings::default()
            }),
            ..TlsSettings::default()
        });
        assert_eq!(try_url(&settings, 443).unwrap(), "https://scim.example.com/scim/v2");
        assert_eq!(
            try_url(&settings, 8443).unwrap(),
            "https://scim.example.com:8443/scim/v2"
        );
        settings.server.public_url = Some("https://bridge.example.com/scim/v2/".into());
        assert_eq!(try_url(&settings, 443).unwrap(), "https://bridge.example.com/scim/v2");
    }
}
