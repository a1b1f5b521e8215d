//! `atmpflow serve`: the AAS API v3.0 server (repositories, registries,
//! discovery) over an embedded database file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::aas::{Sources, build_twins};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Database file (created if missing; survives restarts).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "atmpflow-twins.redb",
        env = "ATMPFLOW_DB"
    )]
    db: PathBuf,
    /// Address to listen on (port 0: any free port; the address bound is printed).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "ATMPFLOW_BIND"
    )]
    bind: SocketAddr,
    /// Public base URL written into registry endpoints (default: http://ADDR/api/v3.0).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    #[command(flatten)]
    sources: Sources,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let store = store::Store::open(&args.db)
        .with_context(|| format!("cannot open database {}", args.db.display()))?;
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
    let base = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}{}", server::BASE_PATH));
    let state = Arc::new(server::AppState::new(
        store,
        base.trim_end_matches('/').to_string(),
    ));
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
            args.db.display()
        );
    }
    println!(
        "AAS API v3.0 listening on http://{addr}{}",
        server::BASE_PATH
    );
    rt.block_on(async {
        server::serve(listener, state)
            .await
            .context("server failed")
    })
}
