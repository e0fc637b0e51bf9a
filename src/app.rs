//! Start-up and graceful shutdown: bind, open the store, build the server.
use crate::config::{read_secret, ConfigError, ConsoleListener, JwtSettings, Settings, TargetSettings};
use crate::http::auth::{Authenticator, JwtValidator};
use crate::http::transport::GuardedStream;
use crate::http::{self, AppState};
use crate::reload::Reloader;
use crate::scim::schema::ResourceSchema;
use crate::store::{redacted_url, Store, TargetScope};
use crate::sync::worker::Worker;
use crate::tls::Tls;
use actix_http::{error::DispatchError, HttpService, Protocol};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App};
use anyhow::Context;
use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, DecodingKey};
use std::net::TcpListener;
use tokio::net::TcpStream;

/// A built, not yet running, server.
pub struct Application {
    port: u16,
    /// The console's own listener's port (`server.admin_listen` an address).
    console_port: Option<u16>,
    server: Server,
    store: Store,
    worker: Option<Worker>,
    reloader: std::sync::Arc<Reloader>,
    /// Built-in TLS, whose certificate files SIGHUP reads again.
    tls: Option<Tls>,
    shutdown_timeout: std::time::Duration,
    /// The request log's writer: it stops once the server is gone and its last rows are stored.
    request_writer: tokio::task::JoinHandle<()>,
    /// Prunes events and logged requests past `audit.retain_days`.
    pruner: Option<crate::audit::retention::Pruner>,
}

impl Application {
    /// Binds the listener (port 0 picks a free one), opens and migrates the database, builds the server.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let listeners = Listeners::bind(settings)?;
        let port = listeners.scim.local_addr()?.port();
        let console_port = listeners
            .console
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?
            .map(|a| a.port());
        let store = open_or_create_store(settings)
            .await?
            .with_sealer(settings.sync.sealer()?);
        let tls = settings
            .server
            .tls
            .as_ref()
            .map(|t| Tls::new(t, store.clock()))
            .transpose()
            .context("server.tls")?;
        if let Some(tls) = &tls {
            tls.spawn();
            let acme = settings.server.tls.as_ref().is_some_and(|t| t.acme.is_some());
            if acme && store.dialect() == crate::store::Dialect::Postgres {
                tracing::warn!(
                    "server.tls.acme with PostgreSQL: each replica orders its own certificate, and the CA's \
                     validation may reach a replica that did not ask; for several replicas behind one name, \
                     give them one certificate's files (server.tls.cert_file) instead (README \"TLS\")"
                );
            }
        }
        let jwt = settings
            .auth
            .jwt
            .as_ref()
            .map(|j| jwt_validator(j, store.clock()))
            .transpose()?;
        if let Some(jwks) = jwt.as_ref().and_then(JwtValidator::jwks) {
            // At start the keys are fetched once; a failure is not fatal (tokens made with
            // `token create` keep working, and an unknown key id fetches again).
            if let Err(e) = jwks.refresh().await {
                tracing::error!(error = %e, "the JWKS could not be fetched at start; JWTs are refused until it can be");
            }
            tokio::spawn(jwks.refresh_periodically());
        }
        http::metrics::install();
        let worker = build_worker(store.clone(), settings)?;
        let console = std::sync::Arc::new(ArcSwap::from_pointee(console_targets(&settings.target)));
        let checked = std::sync::Arc::new(ArcSwap::from_pointee(settings.target.clone()));
        let reloader = std::sync::Arc::new(Reloader::new(
            settings,
            store.clone(),
            worker.target_set(),
            console.clone(),
            checked.clone(),
        )?);
        let (requests, request_writer) = crate::audit::RequestLog::start(store.clone(), settings.audit.bodies);
        let state = AppState {
            requests,
            store: store.clone(),
            base_path: settings.server.base_path.trim_end_matches('/').to_owned(),
            public_url: settings.server.public_url.clone(),
            limits: settings.server.limits(),
            max_body_bytes: settings.server.max_body_bytes,
            trusted_proxies: settings.server.trusted_proxies()?,
            max_uri_length: settings.server.max_uri_length,
            listen_host: listeners.scim.local_addr()?.to_string(),
            user_schema: settings.user_schema()?,
            admin_path: settings.server.admin_path.trim_end_matches('/').to_owned(),
            targets: console,
            check_target: target_check(checked),
            reload: console_reload(&reloader),
            tls: tls.clone(),
        };
        let authenticator = web::Data::new(Authenticator::new(store.clone(), jwt));
        let server = http_server(settings, listeners, state, authenticator, tls.clone())?;
        take_up_scopes(&store, settings).await?;
        let shutdown_timeout = std::time::Duration::from_secs(settings.server.shutdown_timeout_secs);
        let pruner = crate::audit::retention::Pruner::new(store.clone(), settings.audit.retain_days);
        Ok(Self {
            port,
            console_port,
            server,
            store,
            worker: Some(worker),
            reloader,
            tls,
            shutdown_timeout,
            request_writer,
            pruner,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the console's own listener, when it has one.
    pub fn console_port(&self) -> Option<u16> {
        self.console_port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Takes the sync worker out, for a caller that drives it itself (tests call `run_once`).
    pub fn take_worker(&mut self) -> Option<Worker> {
        self.worker.take()
    }

    /// Serves until SIGTERM or SIGINT, then stops taking requests and lets in-flight ones finish.
    pub async fn run_until_signalled(self) -> anyhow::Result<()> {
        // Handlers first: a SIGTERM that arrives while starting must stop us cleanly, not kill us.
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .context("cannot listen for SIGINT")?;
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let pruning = self.pruner.map(|p| tokio::spawn(p.run_until_stopped(stopped.clone())));
        let worker = self.worker.map(|w| tokio::spawn(w.run_until_stopped(stopped)));
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot listen for SIGHUP")?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        match self.console_port {
            Some(console_port) => tracing::info!(
                port = self.port,
                scheme,
                console_port,
                "serving SCIM; the console on its own port"
            ),
            None => tracing::info!(port = self.port, scheme, "serving SCIM"),
        }
        loop {
            tokio::select! {
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: reading the configuration again");
                    if let Err(e) = self.reloader.reload().await {
                        tracing::error!(error = %e, "reload refused");
                    }
                    if let Some(tls) = &self.tls {
                        tls.reload();
                    }
                }
            }
        }
        tracing::info!("shutting down: finishing in-flight requests and vendor calls");
        handle.stop(true).await;
        let _ = stop.send(true);
        if let Some(worker) = worker {
            // Vendor calls in flight get the shutdown timeout; what is cut short stays queued.
            if tokio::time::timeout(self.shutdown_timeout, worker).await.is_err() {
                tracing::warn!("vendor calls still running at shutdown: their rows stay queued and are retried");
            }
        }
        server.await.context("server task failed")??;
        if tokio::time::timeout(self.shutdown_timeout, self.request_writer)
            .await
            .is_err()
        {
            tracing::warn!("the request log's last rows could not be stored before shutdown");
        }
        if let Some(pruning) = pruning {
            let _ = pruning.await;
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }

    /// Reads the configuration again, as SIGHUP does (for tests).
    pub fn reloader(&self) -> std::sync::Arc<Reloader> {
        self.reloader.clone()
    }

    /// Serves until the process ends (for tests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        if let Some(pruner) = self.pruner {
            tokio::spawn(pruner.run_until_stopped(stopped));
        }
        self.server.await
    }
}

/// The listeners a server answers on, and what each serves.
struct Listeners {
    scim: TcpListener,
    /// The console's own listener (`server.admin_listen` an address).
    console: Option<TcpListener>,
    /// Whether the SCIM listener serves the console too (`server.admin_listen = "same"`).
    console_on_scim: bool,
}

impl Listeners {
    fn bind(settings: &Settings) -> anyhow::Result<Self> {
        let addr = settings.listen_addr()?;
        let scim = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let console_listener = settings.console_listener()?;
        let console = match console_listener {
            ConsoleListener::Own(addr) => Some(TcpListener::bind(addr).with_context(|| {
                format!("cannot listen on {addr} for the console (server.admin_listen: another address, or 'off')")
            })?),
            ConsoleListener::Scim | ConsoleListener::Off => None,
        };
        Ok(Self {
            scim,
            console,
            console_on_scim: console_listener == ConsoleListener::Scim,
        })
    }
}

/// The HTTP server: actix-web's App behind `http::transport::GuardedStream`, which answers request
/// heads actix itself cannot parse with SCIM errors. (`HttpServer` takes no custom stream, so the
/// server is assembled from its parts, with `HttpServer`'s defaults.)
fn http_server(
    settings: &Settings,
    listeners: Listeners,
    state: AppState,
    authenticator: web::Data<Authenticator>,
    tls: Option<Tls>,
) -> anyhow::Result<Server> {
    let mut builder = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
    if let Some(workers) = settings.server.workers {
        builder = builder.workers(workers.max(1));
    }
    let served = Served {
        state_data: web::Data::new(state.clone()),
        state,
        authenticator,
        // Tells idle keep-alive connections to close when a graceful stop begins (as HttpServer does).
        stopping: builder.graceful_shutdown_signal(),
        max_body: settings.server.max_body_bytes,
        max_target: settings.server.max_uri_length,
    };
    let scim = http::Serves::Scim {
        console: listeners.console_on_scim,
    };
    builder = served.listen(builder, "scim-bridge", listeners.scim, scim, tls.clone())?;
    if let Some(console) = listeners.console {
        // A console on loopback is reached through an SSH tunnel as http://localhost: a
        // certificate for the public name would only bring a browser warning there.
        let loopback = console.local_addr()?.ip().is_loopback();
        let tls = tls.filter(|_| !loopback);
        builder = served.listen(builder, "scim-bridge-console", console, http::Serves::Console, tls)?;
    }
    Ok(builder.run())
}

/// What every listener's app is built from.
#[derive(Clone)]
struct Served {
    state: AppState,
    state_data: web::Data<AppState>,
    authenticator: web::Data<Authenticator>,
    stopping: actix_server::GracefulShutdownSignal,
    max_body: usize,
    max_target: usize,
}

impl Served {
    /// Serves `serves` on `listener`, over TLS when `tls` is given.
    fn listen(
        &self,
        builder: actix_server::ServerBuilder,
        name: &str,
        listener: TcpListener,
        serves: http::Serves,
        tls: Option<Tls>,
    ) -> anyhow::Result<actix_server::ServerBuilder> {
        let local = listener.local_addr()?;
        let served = self.clone();
        let max_target = self.max_target;
        let builder = match tls {
            None => builder.listen(name, listener, move || {
                fn_service(move |io: TcpStream| {
                    let peer = io.peer_addr().ok();
                    std::future::ready(Ok::<_, DispatchError>((
                        GuardedStream::new(io, max_target),
                        Protocol::Http1,
                        peer,
                    )))
                })
                .and_then(served.http_service(local, serves, false))
            })?,
            Some(tls) => builder.listen(name, listener, move || {
                let tls = tls.clone();
                fn_service(move |io: TcpStream| {
                    let tls = tls.clone();
                    async move {
                        let peer = io.peer_addr().ok();
                        let stream = tls.accept(io).await.map_err(DispatchError::Io)?;
                        Ok((GuardedStream::new(stream, max_target), Protocol::Http1, peer))
                    }
                })
                .and_then(served.http_service(local, serves, true))
            })?,
        };
        Ok(builder)
    }

    /// One connection's HTTP/1 service over `T`, a plain or a TLS stream.
    fn http_service<T>(
        &self,
        local: std::net::SocketAddr,
        serves: http::Serves,
        over_tls: bool,
    ) -> impl ServiceFactory<
        (T, Protocol, Option<std::net::SocketAddr>),
        Config = (),
        Response = (),
        Error = DispatchError,
        InitError = (),
    >
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    {
        let (state, authenticator, max_body) = (self.state.clone(), self.authenticator.clone(), self.max_body);
        let app = App::new()
            .app_data(self.state_data.clone())
            .app_data(authenticator)
            .app_data(http::OverTls(over_tls))
            .wrap(from_fn(http::front_door::front_door))
            .wrap(from_fn(http::normalize_errors))
            .wrap(from_fn(http::log_request))
            .configure(move |cfg| http::configure(cfg, &state, max_body, serves));
        let app = app.into_factory().map_err(|e: actix_web::Error| e.error_response());
        let stopping = self.stopping.clone();
        HttpService::build()
            .graceful_shutdown_signal(move || {
                let stopping = stopping.clone();
                async move { stopping.notified().await }
            })
            .client_request_timeout(std::time::Duration::from_secs(5))
            .client_disconnect_timeout(std::time::Duration::from_secs(1))
            .local_addr(local)
            .finish(map_config(app, |_| AppConfig::default()))
    }
}

/// Opens (and migrates) the configured database, which must exist: an operator command run in the
/// wrong folder stops here rather than report on a new, empty database.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    require_database(&settings.database.url)?;
    open_or_create_store(settings).await
}

/// A SQLite database file that is missing, named with the folder it was looked for in.
pub fn require_database(url: &str) -> anyhow::Result<()> {
    let Some(file) = crate::store::sqlite_file(url) else {
        return Ok(());
    };
    if file.exists() {
        return Ok(());
    }
    let absolute = std::path::absolute(&file).unwrap_or(file);
    let folder = absolute.parent().map(|p| p.display().to_string()).unwrap_or_default();
    anyhow::bail!(
        "no database at {} (looked in {folder}): run the command where `serve` runs, or name the \
         configuration with --config FILE (or the database with SCIM_BRIDGE__DATABASE__URL); \
         `scim-bridge init` creates an empty one",
        absolute.display()
    )
}

/// The configuration and database a command uses, in one line for the operator (passwords hidden).
pub fn where_from(settings: &Settings) -> String {
    let config = settings.file.as_ref().map_or_else(
        || "none (defaults and SCIM_BRIDGE__* variables)".to_owned(),
        |f| {
            std::path::absolute(f)
                .unwrap_or_else(|_| f.clone())
                .display()
                .to_string()
        },
    );
    let url = &settings.database.url;
    let database = match crate::store::sqlite_file(url) {
        Some(file) => std::path::absolute(&file).unwrap_or(file).display().to_string(),
        None => redacted_url(url),
    };
    format!("configuration {config}; database {database}")
}

/// Opens (and migrates) the configured database, creating a SQLite file that is not there (`serve`,
/// `init`, `token create`), with the targets' scopes (operator commands need no secrets key: they
/// never open a password).
pub async fn open_or_create_store(settings: &Settings) -> anyhow::Result<Store> {
    let schema = settings.user_schema()?;
    let store = Store::connect(&settings.database.url)
        .await
        .with_context(|| format!("cannot open the database {}", redacted_url(&settings.database.url)))?
        .with_user_schema(schema);
    let scopes = target_scopes(settings, schema, &store).await?;
    let store = store.with_targets(scopes);
    store.record_targets().await?;
    Ok(store)
}

/// Each `[[target]]` with its scope compiled for the store, which queues fan-out on every change;
/// groups the scope names are followed by id (`Store::resolve_scope_groups`).
pub(crate) async fn target_scopes(
    settings: &Settings,
    schema: &'static ResourceSchema,
    store: &Store,
) -> anyhow::Result<Vec<TargetScope>> {
    let mut scopes = Vec::with_capacity(settings.target.len());
    for t in &settings.target {
        let filter = t.scope_filter(schema)?;
        let groups = match &filter {
            None => Default::default(),
            Some(filter) => store
                .resolve_scope_groups(&t.name, filter)
                .await?
                .map_err(|detail| ConfigError::Invalid(format!("target '{}': {detail}", t.name)))?,
        };
        let entitled = t.entitlements()?.scim_groups();
        store.record_entitlement_groups(&t.name, &entitled).await?;
        let scope = TargetScope::new(&t.name, filter.as_ref(), t.takes_passwords(), schema, store.dialect())?;
        scopes.push(scope.with_groups(groups).with_entitlement_groups(entitled));
    }
    Ok(scopes)
}

/// A target `serve` starts with for the first time, or whose scope or entitlement rules changed,
/// has the users that scope touches queued now (not at each one's next change); any removals that
/// implies meet the removal guard. The scope and rules are compared in their canonical form.
pub(crate) async fn take_up_scopes(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let schema = settings.user_schema()?;
    for target in &settings.target {
        let scope = target.scope_filter(schema)?.map(|f| f.to_string());
        // Rules are recorded beside the scope (only when there are some, so that a target without
        // rules keeps the word it recorded before rules existed).
        let rules = target.entitlements()?.canonical();
        let scope = match (scope, rules.is_empty()) {
            (scope, true) => scope,
            (scope, false) => Some(format!("{}\nentitlements: {rules}", scope.unwrap_or_default())),
        };
        let Some(why) = store.scope_taken_up(&target.name, scope.as_deref()).await? else {
            continue;
        };
        let queued = store.queue_scope(&target.name).await?;
        tracing::info!(target = %target.name, why, queued, "users the target's scope touches are queued");
    }
    Ok(())
}

/// Builds the JWT check from `[auth.jwt]`: exactly one source of keys (a public key, an HS256
/// secret, or the issuer's JWKS), whose keys each fix their algorithm.
pub fn jwt_validator(
    jwt: &JwtSettings,
    clock: std::sync::Arc<crate::clock::Clock>,
) -> Result<JwtValidator, ConfigError> {
    let secret = read_secret(
        "auth.jwt.hs256_secret",
        jwt.hs256_secret_env.as_deref(),
        jwt.hs256_secret_file.as_deref(),
    )?;
    let (issuer, audience, leeway) = (
        jwt.issuer.as_deref(),
        jwt.audience.as_deref(),
        jwt.leeway_secs.unwrap_or(30),
    );
    let sources = usize::from(jwt.public_key_file.is_some())
        + usize::from(secret.is_some())
        + usize::from(jwt.jwks_url.is_some());
    if sources > 1 {
        return Err(ConfigError::Invalid(
            "auth.jwt: give one of public_key_file, an hs256 secret or jwks_url, not several".into(),
        ));
    }
    if let Some(url) = &jwt.jwks_url {
        let jwks = crate::http::jwks::Jwks::new(url, clock).map_err(ConfigError::Invalid)?;
        return Ok(JwtValidator::with_jwks(
            std::sync::Arc::new(jwks),
            issuer,
            audience,
            leeway,
        ));
    }
    let (key, algorithm) = match (&jwt.public_key_file, secret) {
        (None, None) => {
            return Err(ConfigError::Invalid(
                "auth.jwt needs public_key_file, hs256_secret_env, hs256_secret_file or jwks_url".into(),
            ))
        }
        (None, Some(secret)) if secret.len() < 32 => {
            return Err(ConfigError::Invalid(
                "auth.jwt: the HS256 secret must be at least 32 bytes".into(),
            ))
        }
        (None, Some(secret)) => (DecodingKey::from_secret(secret.as_bytes()), Algorithm::HS256),
        (Some(path), _) => public_key(path)?,
    };
    Ok(JwtValidator::new(key, algorithm, issuer, audience, leeway))
}

/// The sync worker for `settings`' targets on `store`.
pub fn build_worker(store: Store, settings: &Settings) -> Result<Worker, ConfigError> {
    Ok(Worker::build(
        store,
        &settings.target,
        settings.user_schema()?,
        settings.sync.sealer()?,
    )?)
}

/// The targets as the console lists them (their rules were checked when the file was read).
pub(crate) fn console_targets(targets: &[TargetSettings]) -> Vec<crate::http::ConsoleTarget> {
    targets
        .iter()
        .map(|t| {
            let mode = match t.mode {
                crate::config::TargetMode::Write => "write",
                crate::config::TargetMode::Observe => "observe",
            };
            crate::http::ConsoleTarget {
                name: t.name.clone(),
                kind: t.kind().name(),
                mode,
                entitlements: t.entitlements().unwrap_or_default(),
            }
        })
        .collect()
}

/// The console's Reload button: what SIGHUP does, its lines for the page.
fn console_reload(reloader: &std::sync::Arc<Reloader>) -> http::ConfigReload {
    let reloader = reloader.clone();
    http::ConfigReload::new(move || {
        let reloader = reloader.clone();
        Box::pin(async move {
            match reloader.reload().await {
                Ok(done) => {
                    let mut lines = done.changes;
                    if lines.is_empty() {
                        lines.push("no target changed".into());
                    }
                    lines.extend(
                        done.need_restart
                            .iter()
                            .map(|s| format!("[{s}] changed: it takes effect at the next restart")),
                    );
                    Ok(lines)
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload refused");
                    Err(e.to_string())
                }
            }
        })
    })
}

/// The console's `check` of one target, by name: `sync`'s probe, which `http` does not know.
fn target_check(targets: std::sync::Arc<ArcSwap<Vec<TargetSettings>>>) -> http::TargetCheck {
    http::TargetCheck::new(move |name: String| {
        let targets = targets.load_full();
        Box::pin(async move {
            let target = targets.iter().find(|t| t.name == name)?;
            let timeout = crate::sync::client::CHECK_TIMEOUT;
            let outcome = match target.http_client_with(timeout, timeout) {
                Ok(http) => crate::sync::connectors::check(target, http).await.map(str::to_owned),
                Err(e) => Err(e.to_string()),
            };
            Some(outcome)
        })
    })
}

fn public_key(path: &std::path::Path) -> Result<(DecodingKey, Algorithm), ConfigError> {
    let pem = std::fs::read(path).map_err(|e| crate::secrets::SecretError {
        key: "auth.jwt.public_key_file",
        what: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok((key, Algorithm::RS256));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
        return Ok((key, Algorithm::ES256));
    }
    Err(ConfigError::Invalid(format!(
        "auth.jwt.public_key_file {} is not an RSA or EC public key in PEM",
        path.display()
    )))
}
