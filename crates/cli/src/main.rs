//! `atmpflow`: the command-line edge of the workspace. Every subcommand lives in
//! `cmd/<name>.rs` with its own `clap::Args` struct and a `run` function; this
//! file only dispatches.

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Debug, Parser)]
#[command(name = "atmpflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    // One variant per subcommand; keep them in alphabetical order.
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
