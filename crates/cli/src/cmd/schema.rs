//! `atmpflow schema`: print the JSON Schema of the scenario format.

/// Print the JSON Schema of scenario files, generated from the types that read them.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    let schema = schemars::schema_for!(model::Scenario);
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
