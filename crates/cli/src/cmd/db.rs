//! `atmpflow db`: the database behind `serve` — status, migration from the
//! earlier file format or between engines, online backup and restore.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The `db` subcommands.
pub type Args = super::common::Subcommands<Sub>;

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
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
        /// Backup file to create (an existing file is replaced only with --force; written
        /// under a temporary name and renamed when complete, readable by its owner only).
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

/// Opens an existing database for a command that only reads: a SQLite path
/// with no file behind it is refused ("no database at PATH") instead of
/// creating an empty database. Commands that write use [`open`], which
/// creates a missing file (readable by its owner only).
pub fn open_existing(url: &str) -> anyhow::Result<store::Db> {
    if let store::Location::Sqlite(p) = store::Location::parse(url)
        && !p.to_str().is_some_and(|s| s.starts_with("file:"))
        && !p.is_file()
    {
        bail!(
            "no database at {} (a command that only reads never creates one; \
             check --db or ATMPFLOW_DB)",
            p.display()
        );
    }
    open(url)
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
    match args.command {
        Sub::Status { db } => {
            let d = open_existing(&db)?;
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
            let src = open_existing(&db)?;
            // a temporary file in the target folder, renamed into place once
            // the copy is complete and verified (--force to replace a file)
            let file = crate::output::Streamed::create_private(&out)?;
            let tmp = file.temp_path().to_path_buf();
            match src.engine() {
                store::Engine::Sqlite => src
                    .backup_sqlite_into(&tmp)
                    .with_context(|| format!("cannot back up {}", shown(&db)))?,
                store::Engine::Postgres => {
                    // copied into a scratch SQLite database beside the target,
                    // then written into the temporary file as one consistent
                    // file (its write-ahead log included)
                    let folder = match out.parent() {
                        Some(p) if !p.as_os_str().is_empty() => p,
                        _ => Path::new("."),
                    };
                    let scratch = tempfile::Builder::new()
                        .prefix(".atmpflow-backup.")
                        .tempdir_in(folder)
                        .with_context(|| format!("cannot write to {}", folder.display()))?;
                    let path = scratch.path().join("copy.db");
                    let dst = open(path.to_str().context("backup path is not UTF-8")?)?;
                    store::copy::copy(&src, &dst)
                        .with_context(|| format!("cannot back up {}", shown(&db)))?;
                    dst.backup_sqlite_into(&tmp)
                        .with_context(|| format!("cannot back up {}", shown(&db)))?;
                }
            }
            // SQLite would take a journal left beside the target name for
            // the new file's own: such a name is not replaced
            for suffix in ["-wal", "-journal"] {
                let mut j = out.clone().into_os_string();
                j.push(suffix);
                let j = PathBuf::from(j);
                if std::fs::symlink_metadata(&j).is_ok() {
                    bail!(
                        "{} exists: {} is open or was not closed cleanly; back up to another name",
                        j.display(),
                        out.display()
                    );
                }
            }
            file.finish()?;
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
