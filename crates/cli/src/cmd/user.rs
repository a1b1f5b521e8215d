//! `atmpflow user`: the people and devices that may use the server — add,
//! list, disable and enable them, set passwords, read the audit trail.
//! Passwords are typed at a prompt (not echoed) or read from standard input
//! with `--password-stdin`; never taken from an argument, which other users
//! of the machine could see.

use std::io::Read;

use anyhow::{Context, bail};
use store::auth::{self, NewUser, Role, Timestamp};

/// The `user` subcommands.
pub type Args = super::common::Subcommands<Sub>;

/// The database the users live in.
#[derive(Debug, clap::Args)]
pub struct DbArg {
    /// SQLite file or postgres:// URL (the database `serve` uses).
    #[arg(long, value_name = "PATH|URL", env = "ATMPFLOW_DB")]
    pub db: String,
}

/// How a password is given.
#[derive(Debug, clap::Args)]
pub struct PasswordArg {
    /// Read the password from standard input (one line) instead of a prompt.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Add a user (a person with a password, or with --no-password a device or
    /// integration that only holds tokens).
    Add {
        /// User name: a-z, 0-9, '.', '_', '@', '-' (never re-used).
        name: String,
        /// Roles, repeatable or comma-separated: reader, writer, admin, operator,
        /// qc, qa, qualified_person, planner, clinic.
        #[arg(
            long = "role",
            value_name = "ROLE",
            value_delimiter = ',',
            required = true
        )]
        roles: Vec<String>,
        /// Printed name (signature manifestations); default: the user name.
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
        /// An account without password: cannot log in or sign, only hold tokens.
        #[arg(long, conflicts_with = "password_stdin")]
        no_password: bool,
        #[command(flatten)]
        password: PasswordArg,
        #[command(flatten)]
        db: DbArg,
    },
    /// List users (name, roles, state, password, created, changed).
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Disable a user: its tokens and password stop working at once.
    Disable {
        name: String,
        /// Why (kept in the audit trail).
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Enable a disabled or locked user again.
    Enable {
        name: String,
        /// Why (kept in the audit trail).
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Set a user's password.
    Password {
        name: String,
        #[command(flatten)]
        password: PasswordArg,
        #[command(flatten)]
        db: DbArg,
    },
    /// Show the latest entries of the audit trail of users, tokens and
    /// password checks.
    Audit {
        /// How many entries (the most recent).
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        db: DbArg,
    },
}

/// Who runs this command, for the audit trail: `os:` and the login name.
pub fn actor() -> String {
    let name = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("os:{name}")
}

/// Opens an existing database (a command that only reads never creates one).
pub use super::db::open_existing;

pub fn parse_roles(names: &[String]) -> anyhow::Result<Vec<Role>> {
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| Role::parse(n).map_err(|e| anyhow::anyhow!("--role: {e}")))
        .collect()
}

pub fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// A new password: from standard input, or typed twice at the terminal.
fn new_password(p: &PasswordArg, name: &str) -> anyhow::Result<String> {
    if p.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .take(auth::MAX_PASSWORD as u64 + 2)
            .read_to_string(&mut s)
            .context("--password-stdin: cannot read standard input")?;
        let line = s.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            bail!("--password-stdin: standard input holds no password");
        }
        return Ok(line);
    }
    let first = rpassword::prompt_password(format!("Password for {name}: ")).context(
        "cannot read a password from the terminal (use --password-stdin to pipe one in)",
    )?;
    auth::check_password(&first)?;
    let again = rpassword::prompt_password("Repeat the password: ")
        .context("cannot read a password from the terminal")?;
    if first != again {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

fn set_disabled(db: &DbArg, name: &str, disabled: bool, reason: &str) -> anyhow::Result<()> {
    let store = open_existing(&db.db)?;
    let u = auth::set_disabled(&store, &actor(), name, disabled, reason, Timestamp::now())
        .with_context(|| format!("cannot change user `{name}` in {}", store.location()))?;
    eprintln!(
        "user {} is {}",
        u.name,
        if u.disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Add {
            name,
            roles,
            display_name,
            no_password,
            password,
            db,
        } => {
            let roles = parse_roles(&roles)?;
            // the values are checked before a password is asked for
            auth::check_name(&name)?;
            let password = if no_password {
                None
            } else {
                Some(new_password(&password, &name)?)
            };
            let store = super::db::open(&db.db)?;
            let u = auth::add_user(
                &store,
                &actor(),
                &NewUser {
                    name: &name,
                    display_name: display_name.as_deref().unwrap_or(&name),
                    password: password.as_deref(),
                    roles: &roles,
                },
                Timestamp::now(),
            )
            .with_context(|| format!("cannot add user `{name}` to {}", store.location()))?;
            eprintln!(
                "added user {} ({}) with roles {}{} to {}",
                u.name,
                u.display_name,
                roles_text(&u.roles),
                if u.has_password {
                    ""
                } else {
                    ", no password (tokens only)"
                },
                store.location()
            );
            Ok(())
        }
        Sub::List { db } => {
            let store = open_existing(&db.db)?;
            println!(
                "name\tdisplay_name\troles\tstate\tpassword\tcreated_at\tcreated_by\tchanged_at\tchanged_by"
            );
            for u in auth::list_users(&store)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    u.name,
                    u.display_name,
                    roles_text(&u.roles),
                    if u.disabled { "disabled" } else { "active" },
                    if u.has_password { "set" } else { "none" },
                    u.created_at,
                    u.created_by,
                    u.changed_at,
                    u.changed_by
                );
            }
            Ok(())
        }
        Sub::Disable { name, reason, db } => set_disabled(&db, &name, true, &reason),
        Sub::Enable { name, reason, db } => set_disabled(&db, &name, false, &reason),
        Sub::Password { name, password, db } => {
            let store = open_existing(&db.db)?;
            auth::user(&store, &name)?;
            let pw = new_password(&password, &name)?;
            auth::set_password(&store, &actor(), &name, &pw, Timestamp::now())
                .with_context(|| format!("cannot set the password of `{name}`"))?;
            eprintln!("password of {name} set");
            Ok(())
        }
        Sub::Audit { limit, db } => {
            let store = open_existing(&db.db)?;
            println!("seq\tat\tactor\taction\tsubject\tdetail");
            for e in auth::audit_trail(&store, limit)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    e.seq, e.at, e.actor, e.action, e.subject, e.detail
                );
            }
            Ok(())
        }
    }
}
