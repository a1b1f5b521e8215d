//! `atmpflow`: the command-line edge of the workspace. Every subcommand lives in
//! `cmd/<name>.rs` with its own `clap::Args` struct and a `run` function; this
//! file only dispatches.

use clap::{Parser, Subcommand};

mod cmd;
mod output;

#[derive(Debug, Parser)]
#[command(name = "atmpflow", version, about, long_about = None)]
struct Cli {
    /// Replace output files that already exist (otherwise an existing file is an error).
    #[arg(long, global = true)]
    force: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    // One variant per subcommand; keep them in alphabetical order.
    /// Build, export, check and search Asset Administration Shell twins.
    Aas(cmd::aas::Args),
    /// Rehearse a batch end to end, verify a batch record's hash chain, write its report.
    Batch(cmd::batch::Args),
    /// Simulate several scenarios and compare their key figures.
    Compare(cmd::compare::Args),
    /// The database behind `serve`: status, migration, backup and restore.
    Db(cmd::db::Args),
    /// Bound devices and their twins in a server's AAS registry: register, check, counters.
    Device(cmd::device::Args),
    /// Material lots of the plant: register, list, release, quarantine or reject.
    Lot(cmd::lot::Args),
    /// Plan the manufacturing network of a region's patients, check the plan by simulation.
    Network(cmd::network::Args),
    /// Process analytical technology: calibrate a spectral soft sensor and estimate with it.
    Pat(cmd::pat::Args),
    /// The virtual plant: orders through the execution engine with simulated devices, following
    /// and re-planning the scheduler's plan.
    Plant(cmd::plant::Args),
    /// Process descriptions: check, bind to equipment, compare executed records, plan.
    Recipe(cmd::recipe::Args),
    /// Print the JSON Schema of the scenario format.
    Schema(cmd::schema::Args),
    /// Plan patient batches: benchmark instances, or orders of several products on a scenario's plant
    /// (with capable-to-promise, booking and re-planning).
    Schedule(Box<cmd::schedule::Args>),
    /// Serve the twins over the AAS API v3.0 (repositories, registries, discovery).
    Serve(cmd::serve::Args),
    /// Simulate a scenario (Monte-Carlo) and write its report.
    Simulate(cmd::simulate::Args),
    /// Sweep scenario parameters, price every point, compare concepts (`study merge` joins shards).
    Study(cmd::study::Args),
    /// API tokens of the server: create (printed once), revoke, list.
    Token(cmd::token::Args),
    /// Users of the server: add, list, disable, enable, set passwords, audit trail.
    User(cmd::user::Args),
    /// Check scenario files.
    Validate(cmd::validate::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    output::set_force(cli.force);
    let result = match cli.command {
        Command::Aas(a) => cmd::aas::run(a),
        Command::Batch(a) => cmd::batch::run(a),
        Command::Compare(a) => cmd::compare::run(a),
        Command::Db(a) => cmd::db::run(a),
        Command::Device(a) => cmd::device::run(a),
        Command::Lot(a) => cmd::lot::run(a),
        Command::Network(a) => cmd::network::run(a),
        Command::Pat(a) => cmd::pat::run(a),
        Command::Plant(a) => cmd::plant::run(a),
        Command::Recipe(a) => cmd::recipe::run(a),
        Command::Schema(a) => cmd::schema::run(a),
        Command::Schedule(a) => cmd::schedule::run(*a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Study(a) => cmd::study::run(a),
        Command::Token(a) => cmd::token::run(a),
        Command::User(a) => cmd::user::run(a),
        Command::Validate(a) => cmd::validate::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            cmd::print_error(&e);
            match e.downcast_ref::<cmd::common::Coded>() {
                Some(c) => std::process::ExitCode::from(c.code),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
