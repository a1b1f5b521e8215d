//! `atmpflow db`: the database behind `serve` — status, migration from the
//! earlier file format or between engines, online backup and restore.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Show the engine, schema version and number of records of a database.
    Status {
        /// SQLite file or postgres:// URL.
        #[arg(long, value_name = "PATH|URL", env = "ATMPFLOW_DB")]
        db: String,
    },
    /// Copy every record into a new, empty database and verify counts and
    /// content hashes. The source is a database file of the earlier format
    /// (redb) or any database; the target is refused if it holds data.
    Migrate {
        /// Earlier-format file (OLD.redb), SQLite file or postgres:// URL.
        #[arg(long, value_name = "PATH|URL")]
        from: String,
        /// SQLite file (created) or postgres:// URL of an empty database.
        #[arg(long, value_name = "PATH|URL")]
        to: String,
    },
    /// Write a consistent copy of a running database into a new SQLite file
    /// (online: the server keeps serving).
    Backup {
        /// SQLite file or postgres:// URL.
        #[arg(long, value_name = "PATH|URL", env = "ATMPFLOW_DB")]
        db: String,
        /// Backup file to create (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Copy a backup file into an empty database and verify it.
    Restore {
        /// Backup file written by `db backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// SQLite file (created) or postgres:// URL of an empty database.
        #[arg(long, value_name = "PATH|URL")]
        to: String,
    },
}

/// Opens (and migrates) the database at `url`, with the location in errors.
pub fn open(url: &str) -> anyhow::Result<store::Db> {
    store::Db::connect(url).with_context(|| format!("cannot open database {}", store::redact(url)))
}

fn print_report(r: &store::copy::Report) {
    for t in &r.tables {
        println!("{}\t{}\tsha256:{}", t.table, t.rows, t.sha256);
    }
}

fn existing_file(p: &Path) -> anyhow::Result<()> {
    if !p.is_file() {
        bail!("{}: no such file", p.display());
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let shown = store::redact;
    match args.cmd {
        Sub::Status { db } => {
            let d = open(&db)?;
            println!("engine\t{}", d.engine());
            println!("location\t{}", d.location());
            println!("schema_version\t{}", d.schema_version());
            for k in store::Kind::ALL {
                println!("{}\t{}", k.table(), d.count(k)?);
            }
            Ok(())
        }
        Sub::Migrate { from, to } => {
            let from_path = Path::new(&from);
            let report = if store::legacy::is_redb(from_path) {
                let dst = open(&to)?;
                store::copy::from_legacy(from_path, &dst)
                    .with_context(|| format!("cannot migrate {} to {}", shown(&from), shown(&to)))?
            } else {
                if !from.starts_with("postgres") {
                    existing_file(from_path)?;
                }
                let src = open(&from)?;
                let dst = open(&to)?;
                store::copy::copy(&src, &dst)
                    .with_context(|| format!("cannot copy {} to {}", shown(&from), shown(&to)))?
            };
            print_report(&report);
            eprintln!(
                "copied and verified {} rows from {} to {}",
                report.rows(),
                shown(&from),
                shown(&to)
            );
            Ok(())
        }
        Sub::Backup { db, out } => {
            if out.exists() {
                bail!(
                    "{} exists; a backup is never written over a file",
                    out.display()
                );
            }
            let src = open(&db)?;
            match src.engine() {
                store::Engine::Sqlite => src
                    .backup_sqlite(&out)
                    .with_context(|| format!("cannot back up {}", shown(&db)))?,
                store::Engine::Postgres => {
                    let path = out.to_str().context("backup path is not UTF-8")?;
                    let dst = open(path)?;
                    let r = store::copy::copy(&src, &dst);
                    drop(dst);
                    if let Err(e) = r {
                        let _ = std::fs::remove_file(&out);
                        return Err(e).with_context(|| format!("cannot back up {}", shown(&db)));
                    }
                }
            }
            // the backup is checked by opening it as a database
            let check = open(out.to_str().context("backup path is not UTF-8")?)?;
            let n: u64 = store::Kind::ALL
                .iter()
                .map(|k| check.count(*k))
                .sum::<Result<u64, _>>()?;
            eprintln!(
                "backed up {} to {} ({n} AAS records)",
                shown(&db),
                out.display()
            );
            Ok(())
        }
        Sub::Restore { from, to } => {
            existing_file(&from)?;
            let src = open(from.to_str().context("backup path is not UTF-8")?)?;
            let dst = open(&to)?;
            let report = store::copy::copy(&src, &dst)
                .with_context(|| format!("cannot restore {} to {}", from.display(), shown(&to)))?;
            print_report(&report);
            eprintln!(
                "restored and verified {} rows from {} into {}",
                report.rows(),
                from.display(),
                shown(&to)
            );
            Ok(())
        }
    }
}
