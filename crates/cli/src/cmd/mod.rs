//! One module per subcommand.

pub mod aas;
pub mod common;
pub mod compare;
pub mod recipe;
pub mod schedule;
pub mod schema;
pub mod serve;
pub mod simulate;
pub mod study;
pub mod validate;

/// Prints an error: scenario errors with source excerpts, others with their cause chain.
pub fn print_error(e: &anyhow::Error) {
    if let Some(r) = e.downcast_ref::<common::Reported>() {
        eprintln!("{:?}", r.0);
    } else {
        eprintln!("error: {e:#}");
    }
}
