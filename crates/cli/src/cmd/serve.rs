//! `atmpflow serve`: the AAS API v3.0 server (repositories, registries,
//! discovery) over an embedded database file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::aas::{Sources, build_twins};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Database: a SQLite file (created if missing) or a postgres:// URL
    /// (several servers may share one PostgreSQL database).
    #[arg(
        long,
        value_name = "PATH|URL",
        default_value = "atmpflow-twins.db",
        env = "ATMPFLOW_DB"
    )]
    db: String,
    /// Address to listen on (port 0: any free port; the address bound is printed).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "ATMPFLOW_BIND"
    )]
    bind: SocketAddr,
    /// Public base URL written into registry endpoints (default: http://ADDR/api/v3.0, or
    /// https://… with --tls-cert).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Another `Host` value to answer to (a DNS name or address of this machine, as clients
    /// write it; `name` allows any port, `name:port` one). Repeatable. The bound address (and
    /// `localhost` on a loopback address) and the host of --public-url are always allowed.
    #[arg(long = "allowed-host", value_name = "HOST")]
    allowed_hosts: Vec<String>,
    /// A web origin (`https://app.example.org`) whose pages may call the API from a browser.
    /// Repeatable; none by default (CORS off, browser requests from other origins refused).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Connections served at once (more wait in the backlog).
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_connections: usize,
    /// Largest request body in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 16)]
    max_body_mib: usize,
    /// Memory in MiB that the records of the batches kept replayed between requests may take
    /// (as `Batch::memory_estimate` counts them: 1 KiB an entry, 12 bytes a series sample);
    /// a batch dropped from it is replayed from the database at its next request. Raise it
    /// when many batches stream device series for days (docs/benchmarks.md, device stream).
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 2048,
        value_parser = clap::value_parser!(u64).range(1..=1_048_576),
        env = "ATMPFLOW_BATCH_CACHE_MIB"
    )]
    batch_cache_mib: u64,
    /// Serve HTTPS with this certificate chain (PEM: the server's certificate first, then
    /// any intermediates). Needs --tls-key. A renewed certificate takes effect on restart.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_key",
        env = "ATMPFLOW_TLS_CERT"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, RSA or EC). Keep it readable by the
    /// server's user only.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_cert",
        env = "ATMPFLOW_TLS_KEY"
    )]
    tls_key: Option<PathBuf>,
    /// Run the batch engine on the simulated clock of a rehearsal database, starting at this
    /// time (UTC, RFC 3339) or where the database's clock stopped. An administrator moves it
    /// forward (`PUT /api/batch/v1/clock`), so a whole batch can be rehearsed through the API
    /// in minutes. The database is marked as a rehearsal database for good: a server on the
    /// system clock refuses it, and a database with batches made on the system clock is
    /// refused here. For training and recipe rehearsal only, never for a live batch.
    #[arg(long, value_name = "TIME")]
    rehearsal_clock: Option<String>,
    /// Seconds between the engine's watches of the open batches (a running step beyond its
    /// longest duration, a hold time between steps exceeded: each raised once as a deviation,
    /// entered by the engine's own user `engine`). 0 turns the watch off.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    watch_interval: u64,
    /// Server-sent event streams (`…/batches/{id}/events`) open at once; more are refused
    /// with 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_event_streams: usize,
    #[command(flatten)]
    sources: Sources,
}

/// The clock the batch engine of this server runs on (see --rehearsal-clock).
fn batch_clock(args: &Args, db: &store::Db) -> anyhow::Result<server::Clock> {
    use store::auth::Timestamp;
    let Some(start) = &args.rehearsal_clock else {
        if let Some(t) = db.read(store::clock::now)? {
            anyhow::bail!(
                "{} is a rehearsal database (its simulated clock reads {t}); its records carry \
                 simulated times, so it is served only with --rehearsal-clock",
                db.location()
            );
        }
        return Ok(server::Clock::system());
    };
    let start = recipe::DateTime::parse(start).with_context(|| {
        format!("--rehearsal-clock `{start}`: expected RFC 3339 with an offset, e.g. 2026-12-01T08:00:00Z")
    })?;
    let now = store::clock::begin(
        db,
        Timestamp(start.unix_seconds()),
        &super::user::actor(),
        Timestamp::now(),
    )?;
    eprintln!(
        "rehearsal: the batch engine runs on the simulated clock of {}, now {now}; never use \
         this database for a live batch",
        db.location()
    );
    Ok(server::Clock::rehearsal(now.0))
}

/// The demo's administrator and read-only users (no passwords: tokens only).
const DEMO_ADMIN: &str = "demo-admin";
const DEMO_READER: &str = "demo-reader";
/// How long a demo token lives.
const DEMO_TOKEN_DAYS: u32 = 1;

/// Creates the demo users unless they exist and makes a new token for the
/// demo administrator.
fn demo_users(db: &store::Db) -> anyhow::Result<String> {
    use store::auth::{self, AuthError, NewUser, Role, Timestamp};
    let now = Timestamp::now();
    for (name, display_name, roles) in [
        (DEMO_ADMIN, "Demo administrator", &[Role::Admin][..]),
        (DEMO_READER, "Demo reader", &[Role::Reader][..]),
    ] {
        let new = NewUser {
            name,
            display_name,
            password: None,
            roles,
        };
        match auth::add_user(db, "serve --demo", &new, now) {
            Ok(_) | Err(AuthError::UserExists(_)) => {}
            Err(e) => return Err(e).context("cannot create the demo users"),
        }
    }
    let t = auth::create_token(
        db,
        "serve --demo",
        DEMO_ADMIN,
        &[],
        "serve --demo",
        Some(now.plus_days(DEMO_TOKEN_DAYS)),
        now,
    )
    .context("cannot make the demo token")?;
    Ok(t.secret)
}

/// The demo's people for the web pages: user name, printed name and batch
/// role. Each start gives them fresh random passwords, printed once.
const DEMO_PEOPLE: [(&str, &str, store::auth::Role); 4] = [
    (
        "demo-operator",
        "Demo operator",
        store::auth::Role::Operator,
    ),
    ("demo-qa", "Demo QA", store::auth::Role::Qa),
    (
        "demo-qp",
        "Demo qualified person",
        store::auth::Role::QualifiedPerson,
    ),
    ("demo-planner", "Demo planner", store::auth::Role::Planner),
];

/// Creates the demo's people (or resets their passwords): the name, role and
/// new password of each.
fn demo_people(db: &store::Db) -> anyhow::Result<Vec<(&'static str, &'static str, String)>> {
    use store::auth::{self, AuthError, NewUser, Timestamp};
    let now = Timestamp::now();
    let mut out = Vec::new();
    for (name, display_name, role) in DEMO_PEOPLE {
        let password = store::session::random_password().context("demo passwords")?;
        let new = NewUser {
            name,
            display_name,
            password: Some(&password),
            roles: &[role],
        };
        match auth::add_user(db, "serve --demo", &new, now) {
            Ok(_) => {}
            Err(AuthError::UserExists(_)) => {
                auth::set_password(db, "serve --demo", name, &password, now)
                    .with_context(|| format!("cannot set the password of {name}"))?;
            }
            Err(e) => return Err(e).context("cannot create the demo people"),
        }
        out.push((name, role.as_str(), password));
    }
    Ok(out)
}

/// The host part of a URL (`http://name:8080/x` → `name:8080`).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then_some(host)
}

/// Log lines of the running server (the batch watch, event streams) go to
/// standard error at the level of `ATMPFLOW_LOG` (error, warn, info, debug,
/// trace; default info).
fn init_log() -> anyhow::Result<()> {
    let level = match std::env::var("ATMPFLOW_LOG") {
        Ok(v) => v.parse::<tracing::Level>().map_err(|_| {
            anyhow::anyhow!(
                "ATMPFLOW_LOG: {v:?} is not a log level (error, warn, info, debug, trace)"
            )
        })?,
        Err(_) => tracing::Level::INFO,
    };
    // a second server in the same process (tests) keeps the first subscriber
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    init_log()?;
    // certificate problems are reported before anything is opened or bound
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            server::tls::server_config(cert, key)
                .context("cannot set up TLS (--tls-cert, --tls-key)")?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut store = super::db::open(&args.db)?;
    store.limit_batch_cache(
        store::batch::CACHE_CAPACITY,
        usize::try_from(args.batch_cache_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Listen first: with port 0 the registry endpoints must name the port actually bound.
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(args.bind))
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    let state = Arc::new(app_state(&args, store, scheme, addr)?);
    let gate = gate(&args, addr);
    let demo = if args.sources.demo {
        Some((demo_users(&state.store)?, demo_people(&state.store)?))
    } else {
        None
    };
    warn_open(&state, addr, tls.is_some())?;
    announce(scheme, addr, demo);
    let grace = gate.limits.shutdown_grace;
    // the engine's watch of hold times and step durations, until shutdown
    let watch = (args.watch_interval > 0).then(|| {
        let interval = std::time::Duration::from_secs(args.watch_interval);
        eprintln!(
            "batch watch: every {} s (hold times, step durations)",
            args.watch_interval
        );
        rt.spawn(server::watch::run(
            state.clone(),
            interval,
            state.live.stop_signal(),
        ))
    });
    let served = rt.block_on(async {
        let stop = async {
            server::shutdown_signal().await;
            eprintln!(
                "shutting down: no new connections; open requests get {} s to finish",
                grace.as_secs()
            );
        };
        let served = match tls {
            Some(tls) => server::serve_tls(listener, state, gate, tls, stop).await,
            None => server::serve(listener, state, gate, stop).await,
        }
        .context("server failed");
        // serve has signalled the shutdown: a watch tick in progress finishes
        if let Some(w) = watch {
            let _ = tokio::time::timeout(grace, w).await;
        }
        served
    });
    // the state (and the database) is released once serve returns; blocking
    // store calls still running finish within the grace period
    rt.shutdown_timeout(grace);
    served
}

/// The server's state on the opened database: its public base URL (--public-url, or the
/// address bound), the batch engine's clock and the twins of the --demo, --inventory,
/// --batch and --record sources loaded.
fn app_state(
    args: &Args,
    store: store::Db,
    scheme: &str,
    addr: SocketAddr,
) -> anyhow::Result<server::AppState> {
    let base = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}{}", server::BASE_PATH));
    let clock = batch_clock(args, &store)?;
    let mut state = server::AppState::new(store, base.trim_end_matches('/').to_string());
    state.clock = clock;
    let s = &args.sources;
    if s.demo || !s.inventories.is_empty() || !s.batches.is_empty() || !s.records.is_empty() {
        let twins = build_twins(s)?;
        let env = aas::twins::environment(&twins);
        server::load_environment(&state, &env)
            .map_err(|e| anyhow::anyhow!("cannot load twins: {}", e.text))?;
        eprintln!(
            "loaded {} shells and {} submodels into {}",
            env.asset_administration_shells.len(),
            env.submodels.len(),
            state.store.location()
        );
    }
    Ok(state)
}

/// What the server lets in: the hosts it answers to (the address bound, the host of
/// --public-url, every --allowed-host), the --cors-origin pages and its limits.
fn gate(args: &Args, addr: SocketAddr) -> server::Gate {
    let mut allowed_hosts = server::http::default_hosts(addr);
    allowed_hosts.extend(
        args.public_url
            .as_deref()
            .and_then(url_host)
            .map(str::to_string),
    );
    allowed_hosts.extend(args.allowed_hosts.iter().cloned());
    server::Gate {
        allowed_hosts,
        cors_origins: args.cors_origins.clone(),
        limits: server::Limits {
            max_connections: args.max_connections,
            max_body: args.max_body_mib.saturating_mul(1 << 20),
            max_event_streams: args.max_event_streams,
            ..server::Limits::default()
        },
    }
}

/// Warns of a server that refuses every request (a database without users) or that sends
/// tokens and data in clear over the network (no TLS on an address other than loopback).
fn warn_open(state: &server::AppState, addr: SocketAddr, tls: bool) -> anyhow::Result<()> {
    if !store::auth::has_users(&state.store)? {
        eprintln!(
            "warning: {} has no users, so every request except /description and /health is \
             refused (401); add one with `atmpflow user add NAME --role admin --db …` and make \
             a token with `atmpflow token create --user NAME --db …`",
            state.store.location()
        );
    }
    if !addr.ip().is_loopback() && !tls {
        eprintln!(
            "warning: listening on {addr} without TLS: API tokens and data cross the network in \
             clear; give --tls-cert and --tls-key, or put a TLS-terminating reverse proxy in \
             front (docs/aas.md, Deployment and security)"
        );
    }
    Ok(())
}

/// The demo administrator's API token and the demo people (name, role, password).
type DemoLogins = (String, Vec<(&'static str, &'static str, String)>);

/// Prints the address the API listens on (the line scripts read first), the web pages and,
/// with --demo, the demo token and the demo people's passwords.
fn announce(scheme: &str, addr: SocketAddr, demo: Option<DemoLogins>) {
    println!(
        "AAS API v3.0 listening on {scheme}://{addr}{}",
        server::BASE_PATH
    );
    eprintln!("web pages: {scheme}://{addr}/ (log in with a user's name and password)");
    if let Some((token, people)) = demo {
        // after the address line, which scripts read first; a reader that
        // has closed the pipe after that line must not stop the server
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "demo API token (user {DEMO_ADMIN}, roles admin): {token}"
        )
        .and_then(|()| {
            for (name, role, password) in &people {
                writeln!(
                    out,
                    "demo web user {name} (role {role}) password: {password}"
                )?;
            }
            out.flush()
        });
        eprintln!(
            "demo users {DEMO_ADMIN} (admin) and {DEMO_READER} (reader) have no password; the \
             demo token above expires in {DEMO_TOKEN_DAYS} day(s): send it as \
             `Authorization: Bearer TOKEN`"
        );
    }
}
