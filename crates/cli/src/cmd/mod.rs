//! One module per subcommand.

pub mod aas;
pub mod batch;
pub mod common;
pub mod compare;
pub mod db;
pub mod device;
pub mod lot;
pub mod network;
pub mod network_study;
pub mod pat;
pub mod plant;
pub mod recipe;
pub mod rehearsal_db;
pub mod rehearse_api;
pub mod schedule;
pub mod schema;
pub mod serve;
pub mod simulate;
pub mod study;
pub mod token;
pub mod user;
pub mod validate;

/// Prints an error: scenario errors with source excerpts, others with their cause chain.
pub fn print_error(e: &anyhow::Error) {
    if let Some(r) = e.downcast_ref::<common::Reported>() {
        match r.0.downcast_ref::<model::FileErrors>() {
            // One excerpt per error, each headed by `file:line:column: field …`.
            Some(all) => {
                for one in &all.errors {
                    eprintln!("{:?}", miette::Report::new(one.clone()));
                }
                eprintln!("{}: {} error(s)", all.file, all.errors.len());
            }
            None => eprintln!("{:?}", r.0),
        }
    } else {
        eprintln!("error: {e:#}");
    }
}
