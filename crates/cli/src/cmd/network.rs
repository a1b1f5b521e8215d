//! `atmpflow network solve|check`: plan the manufacturing network of a region's patients
//! (which sites, which concept, which patients where) and check the plan by simulating every
//! open site.
//!
//! Exit status: 0 on a plan, 1 on an error or when no plan meets the rules (the message says
//! which demand or rule stands in the way), [`common::EXIT_PARTIAL`] (3) when a check was
//! cancelled with Ctrl-C (the outputs cover the rounds finished).

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::common;

/// The `network` subcommands.
pub type Args = super::common::Subcommands<Sub>;

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Solve the network (capacitated facility location with HiGHS) and its what-if
    /// scenarios; writes results.json, sites.csv, flows.csv, scenarios.csv and report.html.
    Solve(SolveArgs),
    /// Solve, then simulate every open site as a plant with its allocated patients and the
    /// transport legs; tighten failing sites and solve again (the rule is in the report).
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct SolveArgs {
    /// Network file (TOML).
    pub network: PathBuf,
    #[command(flatten)]
    pub output: common::Output,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Network file (TOML); every site that may open needs a `concept` scenario file.
    pub network: PathBuf,
    #[command(flatten)]
    pub run: common::Replicate,
    #[command(flatten)]
    pub output: common::Output,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Solve(a) => solve(a),
        Sub::Check(a) => check(a),
    }
}

struct Loaded {
    net: network::Network,
    sha256: String,
    file: String,
}

fn load(path: &Path) -> anyhow::Result<Loaded> {
    let bytes = common::read_limited(path)?;
    let src = model::SourceFile::from_bytes(path.display().to_string(), &bytes)
        .map_err(common::reported)?;
    let net = network::load(&src).map_err(common::reported)?;
    Ok(Loaded {
        net,
        sha256: common::hex(&Sha256::digest(&bytes)),
        file: path.display().to_string(),
    })
}

fn plan(l: &Loaded) -> anyhow::Result<network::Plan> {
    network::solve(&l.net, &network::SolveOptions::default())
        .with_context(|| format!("network {}", l.file))
}

fn meta(l: &Loaded) -> report::NetworkMeta {
    report::NetworkMeta {
        file: l.file.clone(),
        sha256: l.sha256.clone(),
        program_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

fn whatif(l: &Loaded, p: &network::Plan) -> Option<network::WhatIf> {
    let s = &l.net.scenarios;
    (!s.demand_growth.is_empty() || s.site_down_quarter).then(|| network::what_if(&l.net, p))
}

fn results_json(
    l: &Loaded,
    p: &network::Plan,
    w: Option<&network::WhatIf>,
    c: Option<&network::CheckReport>,
) -> anyhow::Result<String> {
    let v = serde_json::json!({
        "program_version": env!("CARGO_PKG_VERSION"),
        "network_file": l.file,
        "network_sha256": l.sha256,
        "solver": "HiGHS",
        "network": l.net,
        "plan": p,
        "what_if": w,
        "check": c,
    });
    Ok(serde_json::to_string_pretty(&v)?)
}

fn write_all(
    dir: &Path,
    l: &Loaded,
    p: &network::Plan,
    w: Option<&network::WhatIf>,
    c: Option<&network::CheckReport>,
) -> anyhow::Result<()> {
    crate::output::write(&dir.join("results.json"), results_json(l, p, w, c)?)?;
    for (name, text) in report::network_csv(p, w, c) {
        crate::output::write(&dir.join(name), text)?;
    }
    crate::output::write(
        &dir.join("report.html"),
        report::network_html(&l.net, p, w, c, &meta(l)),
    )
}

fn solve(a: SolveArgs) -> anyhow::Result<()> {
    let l = load(&a.network)?;
    let dir = crate::output::dir(&a.output.out)?;
    crate::output::check_writable(&dir)?;
    let p = plan(&l)?;
    let w = whatif(&l, &p);
    write_all(&dir, &l, &p, w.as_ref(), None)?;
    if !a.output.quiet {
        print_plan(&l.net, &p);
        println!("wrote {}", dir.join("report.html").display());
    }
    Ok(())
}

fn check(a: CheckArgs) -> anyhow::Result<()> {
    let l = load(&a.network)?;
    let dir = crate::output::dir(&a.output.out)?;
    crate::output::check_writable(&dir)?;
    let base_dir = a.network.parent().unwrap_or(Path::new("."));
    let concepts = l
        .net
        .sites
        .iter()
        .map(|s| {
            s.concept
                .as_ref()
                .map(|c| load_concept(&base_dir.join(c), &s.name))
                .transpose()
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let p = plan(&l)?;
    let w = whatif(&l, &p);
    let opts = network::CheckOptions {
        replications: a.run.replications,
        threads: a.run.threads,
    };
    let reps = opts.replications.unwrap_or(l.net.check.replications);
    let pb = common::progress_bar(
        u64::from(reps),
        a.output.quiet,
        "simulating",
        "replications",
    );
    let progress = |site: &str, done: u32, _total: u32| {
        pb.set_prefix(site.chars().take(12).collect::<String>());
        pb.set_position(u64::from(done));
    };
    let cancel = common::cancel_flag();
    let c = network::check(&l.net, &p, &concepts, &opts, &progress, &cancel)
        .with_context(|| format!("network {}", l.file))?;
    pb.finish_and_clear();
    write_all(&dir, &l, &p, w.as_ref(), Some(&c))?;
    if !a.output.quiet {
        print_plan(&l.net, &p);
        for r in &c.rounds {
            println!(
                "round {}: network vein-to-vein {} days (optimiser {:.1}), on time {}",
                r.round,
                fmt_est(&r.network.v2v_days, 1),
                r.network.planned_v2v_days,
                fmt_est(&r.network.on_time, 3)
            );
            for s in &r.sites {
                println!(
                    "  {:<24} {:>6.1} patients/yr  vein-to-vein {} (optimiser {:.1})  on time {}  {}",
                    s.name,
                    s.patients_per_year,
                    fmt_est(&s.v2v_days, 1),
                    s.planned_v2v_days,
                    fmt_est(&s.on_time, 3),
                    if s.passes { "passes" } else { "misses" }
                );
            }
        }
        println!("{}", c.ended);
        println!("wrote {}", dir.join("report.html").display());
    }
    if c.cancelled {
        return Err(common::Coded {
            code: common::EXIT_PARTIAL,
            message: "cancelled: the outputs cover the rounds finished before".to_string(),
        }
        .into());
    }
    Ok(())
}

fn fmt_est(e: &network::check::Estimate, d: usize) -> String {
    format!("{:.d$} [{:.d$}, {:.d$}]", e.mean, e.ci95[0], e.ci95[1])
}

/// Reads a site's concept scenario: parsed and checked like any scenario file, errors located
/// in that file.
fn load_concept(path: &Path, site: &str) -> anyhow::Result<model::Scenario> {
    let src = common::read_source(path).with_context(|| format!("concept of site `{site}`"))?;
    let scenario: model::Scenario = src.parse().map_err(common::reported)?;
    model::compile(&scenario).map_err(|problems| common::reported(src.errors(&problems)))?;
    Ok(scenario)
}

fn print_plan(net: &network::Network, p: &network::Plan) {
    println!(
        "{} — {:?}, total {:.0} {} per year ({:.0} per patient), gap {:.4} %",
        net.name,
        p.status,
        p.cost.total,
        net.currency,
        p.cost.per_patient,
        p.gap * 100.0
    );
    for s in p.sites.iter().filter(|s| s.open) {
        println!(
            "  {:<24} {:>6.1} of {:>6.1} patients/yr, mean vein-to-vein {} days",
            s.name,
            s.patients,
            s.capacity,
            s.mean_v2v_days
                .map_or("–".to_string(), |v| format!("{v:.1}"))
        );
    }
}
