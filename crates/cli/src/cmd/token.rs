//! `atmpflow token`: API tokens for `Authorization: Bearer` — create (the
//! token is printed once, on standard output, and stored only as a hash),
//! revoke, list.

use anyhow::Context;
use store::auth::{self, Timestamp};

use super::user::{DbArg, actor, open_existing, parse_roles, roles_text};

/// The `token` subcommands.
pub type Args = super::common::Subcommands<Sub>;

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Make a token for a user and print it (once: only its hash is kept).
    Create {
        /// The user the token acts for.
        #[arg(long, value_name = "NAME")]
        user: String,
        /// Roles the token carries, repeatable or comma-separated (each one the
        /// user holds); default: all the user's roles.
        #[arg(long = "role", value_name = "ROLE", value_delimiter = ',')]
        roles: Vec<String>,
        /// What the token is for (shown in lists).
        #[arg(long, value_name = "TEXT", default_value = "")]
        label: String,
        /// Days until the token stops working.
        #[arg(
            long,
            value_name = "DAYS",
            default_value_t = 90,
            conflicts_with = "never_expires"
        )]
        expires_in_days: u32,
        /// The token never expires (revoke it when it is no longer needed).
        #[arg(long)]
        never_expires: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Revoke a token at once, named by its prefix (as `token list` shows it).
    Revoke {
        /// Token prefix (`atf_` and 12 hex digits) or the whole token.
        prefix: String,
        /// Why (kept in the audit trail).
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// List tokens (prefix, owner, roles, state, dates); never the tokens.
    List {
        /// Only the tokens of this user.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Create {
            user,
            roles,
            label,
            expires_in_days,
            never_expires,
            db,
        } => {
            let roles = parse_roles(&roles)?;
            if expires_in_days == 0 && !never_expires {
                anyhow::bail!("--expires-in-days: must be at least 1 (or use --never-expires)");
            }
            let store = open_existing(&db.db)?;
            let now = Timestamp::now();
            let expires = (!never_expires).then(|| now.plus_days(expires_in_days));
            let t = auth::create_token(&store, &actor(), &user, &roles, &label, expires, now)
                .with_context(|| format!("cannot make a token for `{user}`"))?;
            println!("{}", t.secret);
            eprintln!(
                "token {} for {} with roles {}, expires {}; it is shown only this once — \
                 send it as `Authorization: Bearer TOKEN`",
                t.info.prefix,
                t.info.owner,
                roles_text(&t.info.roles),
                t.info.expires_at.as_deref().unwrap_or("never")
            );
            Ok(())
        }
        Sub::Revoke { prefix, reason, db } => {
            let store = open_existing(&db.db)?;
            let t = auth::revoke_token(&store, &actor(), prefix.trim(), &reason, Timestamp::now())
                .with_context(|| format!("cannot revoke token {}", shown_prefix(&prefix)))?;
            eprintln!(
                "token {} of {} revoked at {}",
                t.prefix,
                t.owner,
                t.revoked_at.as_deref().unwrap_or("?")
            );
            Ok(())
        }
        Sub::List { user, db } => {
            let store = open_existing(&db.db)?;
            let now = Timestamp::now();
            println!(
                "prefix\towner\troles\tstate\tlabel\tcreated_at\tcreated_by\texpires_at\trevoked_at"
            );
            for t in auth::list_tokens(&store, user.as_deref())? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.prefix,
                    t.owner,
                    roles_text(&t.roles),
                    t.state(now),
                    t.label,
                    t.created_at,
                    t.created_by,
                    t.expires_at.as_deref().unwrap_or("never"),
                    t.revoked_at.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
    }
}

/// A token named in a message: only its public prefix, even when the whole
/// token was given.
fn shown_prefix(s: &str) -> &str {
    s.get(..auth::PREFIX_LEN).unwrap_or(s)
}
