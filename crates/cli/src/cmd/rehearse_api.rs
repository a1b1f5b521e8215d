//! `atmpflow batch dry-run --server URL --people FILE`: the rehearsal sent,
//! request by request, through the batch API of a rehearsal server
//! (`atmpflow serve --rehearsal-clock`), each by the person whose part it is
//! (their own token; signatures with their password re-entered). Before each
//! request the server's simulated clock is moved to the rehearsal's time, so
//! the record the server keeps must be the record the rehearsal computed:
//! every entry the server answers is compared, hash by hash, with the
//! rehearsal's, and the first difference stops the run.

use std::path::Path;

use anyhow::{Context, bail};
use batch::engine::Command;
use batch::rehearsal::{Cast, Journaled};
use batch::{Actor, Entry, Role};
use serde::Deserialize;
use serde_json::{Value, json};
use server::batch_client::{Answer, BatchClient};

use super::common::read;

/// The people file: who plays which part.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleFile {
    planner: Person,
    operator: Person,
    qc: Person,
    qa: Person,
    qp: Person,
    clinic: Person,
    /// An administrator: moves the server's simulated clock.
    clock: Person,
}

/// One part: an API token and, for whoever signs, the password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Person {
    token: String,
    #[serde(default)]
    password: Option<String>,
}

/// A rehearsal server and its cast.
pub struct Remote {
    client: BatchClient,
    /// (part, who the server says the token is, the person).
    parts: Vec<(&'static str, Actor, Person)>,
    clock: Person,
    recipe_text: String,
    clock_at: i64,
    /// Calls made (clock moves included).
    pub calls: usize,
    /// Entries the server made, all equal to the rehearsal's.
    pub entries: u64,
}

/// Who a token belongs to, as the batch engine sees it.
#[derive(Debug, Deserialize)]
struct Me {
    user: String,
    name: String,
    roles: Vec<String>,
    batch_roles: Vec<Role>,
}

fn failed(what: &str, a: &Answer) -> anyhow::Error {
    anyhow::anyhow!("{what}: HTTP {}: {}", a.status, a.error_text())
}

/// Reads the people file, asks the server who each token is and checks that
/// the server is a rehearsal server; answers the server's clock time.
pub fn connect(
    server: &str,
    people: &Path,
    ca_cert: Option<&Path>,
    recipe_text: &str,
) -> anyhow::Result<(Remote, Cast, recipe::DateTime)> {
    let text = read(people)?;
    warn_if_shared(people);
    let file: PeopleFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", people.display()))?;
    let mut client = BatchClient::new(server)?;
    if let Some(ca) = ca_cert {
        let certs = server::tls::read_certificates(ca).context("--ca-cert")?;
        client = client.trusting(&certs);
    }
    let clock = client.call(&file.clock.token, "GET", "/clock", None)?;
    if !clock.is_success() {
        return Err(failed(
            &format!("{}: people.clock", people.display()),
            &clock,
        ));
    }
    if clock.body["simulated"] != Value::Bool(true) {
        bail!(
            "{} is not a rehearsal server: it writes the system clock into batch records; \
             rehearse through a server started with --rehearsal-clock on a database of its own",
            client.root()
        );
    }
    let now = clock.body["now"]
        .as_str()
        .and_then(recipe::DateTime::parse)
        .with_context(|| format!("{}: GET /clock: no time in {}", client.root(), clock.body))?;
    let wanted: [(&'static str, &Person, Option<Role>); 7] = [
        ("planner", &file.planner, Some(Role::Planner)),
        ("operator", &file.operator, Some(Role::Operator)),
        ("qc", &file.qc, Some(Role::Qc)),
        ("qa", &file.qa, Some(Role::Qa)),
        ("qp", &file.qp, Some(Role::QualifiedPerson)),
        ("clinic", &file.clinic, Some(Role::Clinic)),
        ("clock", &file.clock, None),
    ];
    let mut parts = Vec::new();
    for (part, person, role) in wanted {
        let a = client.call(&person.token, "GET", "/me", None)?;
        if !a.is_success() {
            return Err(failed(&format!("{}: {part}.token", people.display()), &a));
        }
        let me: Me = serde_json::from_value(a.body.clone())
            .with_context(|| format!("{}: GET /me answered {}", client.root(), a.body))?;
        match role {
            Some(r) if !me.batch_roles.contains(&r) => bail!(
                "{}: {part}.token belongs to {} ({}), who does not hold the {r} role on {}",
                people.display(),
                me.user,
                me.name,
                client.root()
            ),
            None if !me.roles.iter().any(|r| r == "admin") => bail!(
                "{}: clock.token belongs to {} ({}), who is not an administrator: only an \
                 administrator moves the rehearsal clock",
                people.display(),
                me.user,
                me.name
            ),
            _ => {}
        }
        if role.is_some() {
            let actor = Actor {
                user: me.user,
                name: me.name,
                roles: me.batch_roles,
            };
            parts.push((part, actor, person.clone()));
        }
    }
    let actor = |part: &str| {
        parts
            .iter()
            .find(|(p, _, _)| *p == part)
            .map(|(_, a, _)| a.clone())
            .expect("every part is read")
    };
    let cast = Cast {
        planner: actor("planner"),
        operator: actor("operator"),
        qc: actor("qc"),
        qa: actor("qa"),
        qp: actor("qp"),
        clinic: actor("clinic"),
    };
    Ok((
        Remote {
            client,
            parts,
            clock: file.clock,
            recipe_text: recipe_text.to_string(),
            clock_at: now.unix_seconds(),
            calls: 0,
            entries: 0,
        },
        cast,
        now,
    ))
}

/// A file holding tokens and passwords should be its owner's alone.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "warning: {} holds API tokens and passwords but others may read it \
                 (chmod 600)",
                path.display()
            );
        }
    }
}

impl Remote {
    /// The equipment the server binds orders to: its AAS registry.
    pub fn inventory(&self) -> anyhow::Result<recipe::Inventory> {
        let reg = server::HttpRegistry::new(&self.client.aas_base())?.with_token(&self.clock.token);
        Ok(server::equipment_inventory(&reg)?.inventory)
    }

    /// The server's address.
    pub fn root(&self) -> &str {
        self.client.root()
    }

    fn person(&self, actor: &Actor) -> Result<(&'static str, &Person), String> {
        self.parts
            .iter()
            .find(|(_, a, _)| a.user == actor.user)
            .map(|(p, _, person)| (*p, person))
            .ok_or_else(|| format!("no part of the people file is played by {}", actor.user))
    }

    fn move_clock(&mut self, at: recipe::DateTime) -> Result<(), String> {
        let t = at.unix_seconds();
        if t == self.clock_at {
            return Ok(());
        }
        let a = self
            .client
            .call(
                &self.clock.token,
                "PUT",
                "/clock",
                Some(&json!({"now": at.to_string()})),
            )
            .map_err(|e| e.to_string())?;
        self.calls += 1;
        if !a.is_success() {
            return Err(format!(
                "moving the clock to {at}: HTTP {}: {}",
                a.status,
                a.error_text()
            ));
        }
        self.clock_at = t;
        Ok(())
    }

    /// Sends one journaled request of the rehearsal and checks that the
    /// server made the same entries.
    pub fn send(&mut self, j: &Journaled<'_>) -> Result<(), String> {
        self.move_clock(j.at)?;
        let (part, person) = self.person(j.actor)?;
        let token = person.token.clone();
        let password = person.password.clone();
        let need_password = || {
            password
                .clone()
                .ok_or_else(|| format!("the people file gives no password for {part}, who signs"))
        };
        let what;
        let (path, body) = if let Some(order) = j.order {
            what = "order".to_string();
            (
                "/batches".to_string(),
                json!({"order": order, "recipe": self.recipe_text}),
            )
        } else {
            let req = j
                .request
                .ok_or("a journaled request without request or order")?;
            what = req.command.name().to_string();
            let base = BatchClient::batch_path(j.batch.id());
            match &req.command {
                Command::Sign {
                    target,
                    target_hash,
                    meaning,
                } => (
                    format!("{base}/signatures"),
                    json!({"target": target, "target_hash": target_hash, "meaning": meaning,
                           "password": need_password()?, "expected_seq": req.expected_seq}),
                ),
                Command::Dispose { decision, reason } => (
                    format!("{base}/disposition"),
                    json!({"decision": decision, "reason": reason,
                           "password": need_password()?, "expected_seq": req.expected_seq}),
                ),
                Command::Watch => return Err("the watch is the server's own request".into()),
                _ => (
                    format!("{base}/requests"),
                    serde_json::to_value(req).map_err(|e| e.to_string())?,
                ),
            }
        };
        let a = self
            .client
            .call(&token, "POST", &path, Some(&body))
            .map_err(|e| e.to_string())?;
        self.calls += 1;
        let at = format!("{what} by {part} at {}", j.at);
        match (j.refusal, a.is_success()) {
            (None, false) => {
                return Err(format!(
                    "{at}: the server refused: HTTP {}: {}",
                    a.status,
                    a.error_text()
                ));
            }
            (Some(r), true) => {
                return Err(format!(
                    "{at}: the rehearsal refused it ({r}) but the server applied it"
                ));
            }
            _ => {}
        }
        if j.order.is_some() {
            let last = j.entries.last().ok_or("an order without entries")?;
            let (seq, hash) = (a.body["head_seq"].as_u64(), a.body["head_hash"].as_str());
            if seq != Some(last.seq) || hash != Some(last.hash.as_str()) {
                return Err(format!(
                    "{at}: the server's batch head is entry {seq:?} {hash:?}, the rehearsal's is \
                     entry {} {}",
                    last.seq, last.hash
                ));
            }
        } else {
            let got: Vec<Entry> = serde_json::from_value(a.body["entries"].clone())
                .map_err(|e| format!("{at}: the answer's entries do not read: {e}"))?;
            compare(&at, &got, j.entries)?;
        }
        self.entries += j.entries.len() as u64;
        Ok(())
    }
}

/// The first entry where the server's record differs from the rehearsal's.
fn compare(at: &str, server: &[Entry], local: &[Entry]) -> Result<(), String> {
    for (s, l) in server.iter().zip(local) {
        if s.hash != l.hash || s.seq != l.seq {
            return Err(format!(
                "{at}: the server's entry {} differs from the rehearsal's entry {}:\n  server:    {}\n  rehearsal: {}",
                s.seq,
                l.seq,
                serde_json::to_string(s).unwrap_or_default(),
                serde_json::to_string(l).unwrap_or_default()
            ));
        }
    }
    if server.len() != local.len() {
        return Err(format!(
            "{at}: the server made {} entries, the rehearsal {}",
            server.len(),
            local.len()
        ));
    }
    Ok(())
}
