//! `atmpflow compare`: key figures of several scenarios side by side.

use std::path::PathBuf;

use super::common;

/// Simulate several scenarios and put their key figures side by side, with intervals.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files (TOML), two or more.
    #[arg(required = true, num_args = 2..)]
    pub scenarios: Vec<PathBuf>,
    #[command(flatten)]
    pub sim: common::SeededRun,
    #[command(flatten)]
    pub output: common::Output,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Check every file first, so a typo in the last one is found before any simulation.
    let loaded = args
        .scenarios
        .iter()
        .map(|p| common::load_scenario(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opts = args.sim.options();
    let mut all = Vec::new();
    for (l, path) in loaded.iter().zip(&args.scenarios) {
        let label = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        all.push(common::simulate(l, &opts, args.output.quiet, &label)?);
    }
    print_table(&all);
    let dir = crate::output::dir(&args.output.out)?;
    crate::output::write(
        &dir.join("compare.json"),
        &serde_json::to_string_pretty(&all)?,
    )?;
    crate::output::write(&dir.join("compare.csv"), report::comparison_csv(&all))?;
    // Per resource, only when some resource kept units for blocked batches.
    if let Some(csv) = report::comparison_resources_csv(&all) {
        crate::output::write(&dir.join("compare_resources.csv"), &csv)?;
    }
    crate::output::write(&dir.join("compare.html"), report::comparison_html(&all))?;
    if !args.output.quiet {
        println!("wrote {}", dir.join("compare.html").display());
    }
    Ok(())
}

fn print_table(all: &[sim::Results]) {
    let w = all
        .iter()
        .map(|r| r.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<w$}  {:>24}  {:>24}  {:>8}  {:>22}  {:>20}",
        "scenario",
        "doses/year [95% CI]",
        "v2v days mean [95% CI]",
        "v2v p95",
        "on time [95% CI]",
        "lost [95% CI]"
    );
    for r in all {
        println!(
            "{:<w$}  {:>24}  {:>24}  {:>8.1}  {:>22}  {:>20}",
            r.scenario,
            common::fmt_stat(&r.throughput_per_year, 1),
            common::fmt_stat(
                &sim::Stat {
                    mean: r.vein_to_vein_days.mean,
                    ci95: r.vein_to_vein_days.ci95
                },
                1
            ),
            r.vein_to_vein_days.p95,
            common::fmt_stat(&r.on_time_fraction, 3),
            common::fmt_stat(&r.patients_lost, 1),
        );
    }
    // Units kept by blocked batches (`blocking`, `keep`), apart from utilisation, only when
    // some resource was blocked.
    if report::comparison_has_blocking(all) {
        println!("utilisation (processing and cleaning) and share kept by blocked batches:");
        let rw = all
            .iter()
            .flat_map(|r| r.resources.iter().map(|x| x.name.len()))
            .max()
            .unwrap_or(8)
            .max(8);
        for r in all {
            for x in &r.resources {
                println!(
                    "  {:<w$}  {:<rw$}  {:>22}  blocked {:>22}",
                    r.scenario,
                    x.name,
                    common::fmt_stat(&x.utilisation, 3),
                    common::fmt_stat(&x.blocked, 3),
                );
            }
        }
    }
}
