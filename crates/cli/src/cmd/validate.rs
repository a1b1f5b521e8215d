//! `atmpflow validate`: check a scenario file without simulating it.

use std::path::PathBuf;

use super::common;

/// Check a scenario file and report every error with file, line and field.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files (TOML).
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut failed = 0;
    for path in &args.scenarios {
        match common::load_scenario(path) {
            Ok(l) => println!(
                "{}: ok — {} product(s), {} resource(s), {} demand stream(s), sha256 {}",
                path.display(),
                l.model.products.len(),
                l.model.resources.len(),
                l.model.demand.len(),
                l.sha256
            ),
            Err(e) => {
                failed += 1;
                super::print_error(&e);
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) failed", args.scenarios.len());
    }
    Ok(())
}
