//! `atmpflow lot`: the plant's register of material lots in a `serve`
//! database — register a lot, list lots, change a lot's status with a reason.
//! The batch engine refuses a recorded lot the register does not know, of
//! another material, expired, in quarantine or rejected (once the register
//! holds any lot). Changes are recorded as made by the login running the
//! command (`os:NAME`), like `atmpflow user`; people change lots through the
//! batch API with their own accounts and roles.

use std::path::PathBuf;

use anyhow::Context;
use batch::engine::LotStatus;
use store::lots::{self, NewLot};

use super::user::{DbArg, actor, open_existing};
use crate::output::write;

/// The `lot` subcommands.
pub type Args = super::common::Subcommands<Sub>;

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Register a lot of a material.
    Add {
        /// Material id, as the recipes name it.
        material: String,
        /// Lot number.
        lot: String,
        /// Last day the lot may be used (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        expiry: String,
        /// released, quarantined or rejected.
        #[arg(long, default_value = "quarantined")]
        status: String,
        /// Why (goods receipt, certificate of analysis, …).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
    /// List lots (material, lot, expiry, status, registered by and at, changes, updated at).
    List {
        /// Only lots of this material.
        #[arg(long)]
        material: Option<String>,
        /// Write the list (tab-separated) to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Change the status of a lot (released, quarantined or rejected), with a reason.
    Status {
        material: String,
        lot: String,
        /// The new status.
        status: String,
        /// Why (kept in the lot's history).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        db: DbArg,
    },
}

fn status(s: &str, arg: &str) -> anyhow::Result<LotStatus> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        anyhow::anyhow!("{arg}: unknown status `{s}` (released, quarantined or rejected)")
    })
}

fn line(l: &lots::Lot) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
        l.material,
        l.lot,
        l.expiry,
        lots::status_word(l.status),
        l.registered_by,
        l.registered_at,
        l.changes,
        l.updated_at
    )
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Add {
            material,
            lot,
            expiry,
            status: st,
            reason,
            db,
        } => {
            let new = NewLot {
                expiry: recipe::Date::parse(&expiry).ok_or_else(|| {
                    anyhow::anyhow!("--expiry: `{expiry}` is not a date like 2027-06-30")
                })?,
                status: status(&st, "--status")?,
                material,
                lot,
                reason,
            };
            lots::check(&new)?;
            let store = super::db::open(&db.db)?;
            let now = recipe::DateTime::from_unix_seconds(store::auth::Timestamp::now().0);
            let who = actor();
            let l = store
                .transaction(|tx| lots::register(tx, &new, &who, now))
                .with_context(|| format!("cannot register the lot in {}", store.location()))?;
            eprintln!(
                "registered lot {} of {} (expires {}, {}) in {}",
                l.lot,
                l.material,
                l.expiry,
                lots::status_word(l.status),
                store.location()
            );
            Ok(())
        }
        Sub::List { material, out, db } => {
            let store = open_existing(&db.db)?;
            let mut text = String::from(
                "material\tlot\texpiry\tstatus\tregistered_by\tregistered_at\tchanges\tupdated_at\n",
            );
            let mut cursor = None;
            loop {
                let (page, next) = store.read(|tx| {
                    lots::list(tx, material.as_deref(), cursor.as_ref(), lots::MAX_PAGE)
                })?;
                for l in &page {
                    text.push_str(&line(l));
                }
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            match out {
                Some(path) => write(&path, text)?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Sub::Status {
            material,
            lot,
            status: st,
            reason,
            db,
        } => {
            let to = status(&st, "STATUS")?;
            let store = open_existing(&db.db)?;
            let now = recipe::DateTime::from_unix_seconds(store::auth::Timestamp::now().0);
            let who = actor();
            let l = store
                .transaction(|tx| {
                    lots::set_status(tx, &material, &lot, to, &reason, None, &who, now)
                })
                .with_context(|| format!("cannot change the lot in {}", store.location()))?;
            eprintln!(
                "lot {} of {} is now {} ({} change(s))",
                l.lot,
                l.material,
                lots::status_word(l.status),
                l.changes
            );
            Ok(())
        }
    }
}
