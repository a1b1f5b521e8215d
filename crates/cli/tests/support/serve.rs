//! What the tests and benchmarks of a running `atmpflow serve` share: the
//! binary run as an operator would run it, accounts with API tokens, a server
//! child on a free port (killed with SIGKILL when dropped) and one raw HTTP/1.1
//! call. Included with `#[path]` by each test crate that needs it; each uses
//! a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `atmpflow` with `args`, writing `stdin` (when given) to its standard
/// input; a command refused before it reads its input may close the pipe
/// first, which is not an error here.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atmpflow"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("atmpflow runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        let _ = input.write_all(text.as_bytes());
    }
    drop(input);
    child.wait_with_output().expect("atmpflow output")
}

/// Standard output and error of a run, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `atmpflow` and answers its standard output; fails the test with the
/// output unless it succeeded.
pub fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let o = run(args, stdin);
    assert!(o.status.success(), "atmpflow {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Adds the user `name` with `roles` (comma-separated) to `db`: with
/// `password`, or a token-only account without. Answers the run (a user who
/// exists already is refused; callers that start several servers on one
/// database may ignore that).
pub fn add_user(db: &str, name: &str, roles: &str, password: Option<&str>) -> Output {
    let mut args = vec!["user", "add", name, "--role", roles, "--db", db];
    match password {
        Some(_) => args.push("--password-stdin"),
        None => args.push("--no-password"),
    }
    run(&args, password.map(|p| format!("{p}\n")).as_deref())
}

/// A new API token of the user `name` of `db`.
pub fn token(db: &str, name: &str) -> String {
    ok(
        &[
            "token", "create", "--user", name, "--label", "test", "--db", db,
        ],
        None,
    )
    .trim()
    .to_string()
}

/// Adds a user and answers a token of theirs.
pub fn account(db: &str, name: &str, roles: &str, password: Option<&str>) -> String {
    let o = add_user(db, name, roles, password);
    assert!(o.status.success(), "user add {name}: {}", text(&o));
    token(db, name)
}

/// `atmpflow serve` on 127.0.0.1:0; SIGKILLed when dropped.
pub struct Server {
    pub child: Child,
    /// The AAS API base, e.g. `http://127.0.0.1:40000/api/v3.0`.
    pub base: String,
    /// `127.0.0.1:40000`.
    pub host: String,
}

impl Server {
    /// Starts `atmpflow serve --bind 127.0.0.1:0 --db DB EXTRA…` and waits
    /// for the address it prints.
    pub fn start(db: &str, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--bind", "127.0.0.1:0", "--db", db];
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_atmpflow"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("serve prints its address");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        let host = base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("host")
            .to_string();
        Server { child, base, host }
    }

    /// `http://host:port` without the API path.
    pub fn root(&self) -> String {
        format!("http://{}", self.host)
    }

    /// `kill -9`: no shutdown handler runs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, response head and body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// One HTTP/1.1 request to `host` (connection closed after it) with a bearer
/// token and extra header lines (each ending in CRLF). `None` when the
/// connection failed or broke before the whole answer arrived (a server that
/// died).
pub fn http(
    host: &str,
    token: &str,
    method: &str,
    path: &str,
    extra: &str,
    body: &str,
) -> Option<Answer> {
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(body.len());
    if body.len() < len {
        return None;
    }
    Some(Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}
