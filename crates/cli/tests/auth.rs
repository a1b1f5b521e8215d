//! `atmpflow user` and `atmpflow token` against a database file: passwords
//! only from standard input or a prompt, the token printed once and stored
//! as a hash, errors that name what is wrong.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_atmpflow"));
    c.args(args)
        .current_dir(dir)
        .env_remove("ATMPFLOW_DB")
        .env("USER", "tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn atmpflow");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            // a command refused before it reads its input (say, a missing
            // database) may exit first: a closed pipe is its answer, not a
            // failure of the test
            match input.write_all(s.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                r => r.expect("write stdin"),
            }
        }
    }
    child.wait_with_output().expect("wait")
}

fn ok(dir: &Path, args: &[&str], stdin: Option<&str>) -> (String, String) {
    let o = run(dir, args, stdin);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{args:?} failed:\n{err}");
    (out, err)
}

/// `user add NAME --role ROLE… --no-password --db DB`, which must succeed.
fn add_without_password(dir: &Path, db: &str, name: &str, roles: &[&str]) {
    let mut args = vec!["user", "add", name];
    for role in roles {
        args.extend(["--role", role]);
    }
    args.extend(["--no-password", "--db", db]);
    ok(dir, &args, None);
}

fn fails(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let o = run(dir, args, stdin);
    assert!(!o.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn users_and_tokens_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let db = "auth.db";
    let pw = "a long enough passphrase\n";
    let (_, err) = ok(
        d,
        &[
            "user",
            "add",
            "ana",
            "--role",
            "admin,qa",
            "--display-name",
            "Dr. Ana Müller",
            "--password-stdin",
            "--db",
            db,
        ],
        Some(pw),
    );
    assert!(
        err.contains("added user ana (Dr. Ana Müller) with roles admin,qa"),
        "{err}"
    );
    add_without_password(d, db, "mes", &["reader", "writer"]);
    let (out, _) = ok(d, &["user", "list", "--db", db], None);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[1].starts_with("ana\tDr. Ana Müller\tadmin,qa\tactive\tset\t"),
        "{out}"
    );
    assert!(lines[1].contains("\tos:tester\t"), "{out}");
    assert!(
        lines[2].starts_with("mes\tmes\treader,writer\tactive\tnone\t"),
        "{out}"
    );

    // the token is the only thing on standard output
    let (token, err) = ok(
        d,
        &[
            "token", "create", "--user", "mes", "--role", "reader", "--label", "MES", "--db", db,
        ],
        None,
    );
    let token = token.trim().to_string();
    assert!(token.starts_with("atf_") && token.len() == 68, "{token}");
    assert!(err.contains("shown only this once"), "{err}");
    assert!(err.contains("roles reader"), "{err}");
    let raw = std::fs::read(d.join(db)).expect("read db");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.contains(&token[16..]),
        "the token is in the database file"
    );

    let (out, _) = ok(d, &["token", "list", "--db", db], None);
    let prefix = &token[..16];
    assert!(
        out.contains(&format!("{prefix}\tmes\treader\tactive\tMES\t")),
        "{out}"
    );
    assert!(!out.contains(&token), "{out}");
    ok(
        d,
        &["token", "revoke", prefix, "--reason", "test", "--db", db],
        None,
    );
    let (out, _) = ok(d, &["token", "list", "--user", "mes", "--db", db], None);
    assert!(out.contains("\trevoked\t"), "{out}");

    ok(
        d,
        &["user", "disable", "mes", "--reason", "replaced", "--db", db],
        None,
    );
    let (out, _) = ok(d, &["user", "list", "--db", db], None);
    assert!(out.contains("mes\tmes\treader,writer\tdisabled"), "{out}");
    let (out, _) = ok(d, &["user", "audit", "--db", db], None);
    for action in ["user.add", "token.create", "token.revoke", "user.disable"] {
        assert!(out.contains(&format!("\t{action}\t")), "{action}: {out}");
    }
    assert!(
        out.contains("\tos:tester\tuser.disable\tmes\treplaced"),
        "{out}"
    );
}

/// One refused command: its arguments (split at spaces), what it reads from
/// standard input, and the pieces of the message it must print.
type Refusal = (&'static str, Option<&'static str>, &'static [&'static str]);

fn refused(dir: &Path, db: &str, cases: &[Refusal]) {
    for (line, stdin, expected) in cases {
        let args: Vec<&str> = line
            .split(' ')
            .map(|a| if a == "DB" { db } else { a })
            .collect();
        let e = fails(dir, &args, *stdin);
        for piece in *expected {
            assert!(e.contains(piece), "{line}: expected {piece:?} in:\n{e}");
        }
    }
}

/// Refused before any user exists.
#[rustfmt::skip]
const BEFORE_USERS: &[Refusal] = &[
    // no password flag exists: a password is never an argument
    ("user add ana --role qa --password x --db DB", None, &["--password"]),
    ("user add ana --role root --password-stdin --db DB", PASS, &["--role: role: unknown role \"root\""]),
    ("user add Ana --role qa --password-stdin --db DB", PASS, &["user name: \"Ana\""]),
    ("user add ana --role qa --password-stdin --db DB", Some("short\n"), &["password: has 5 characters; at least 12"]),
    ("user add ana --role qa --password-stdin --db DB", Some(""), &["standard input holds no password"]),
    // read-only commands never create a database
    ("user list --db missing.db", None, &["no database at missing.db"]),
    ("token create --user ana --db missing.db", None, &["no database at missing.db"]),
];

/// Refused once the user `dev` (writer) exists: unknown user, role not held,
/// unknown token, a name taken.
#[rustfmt::skip]
const WITH_DEV: &[Refusal] = &[
    ("token create --user nobody --db DB", None, &["cannot make a token for `nobody`", "no user `nobody`"]),
    ("token create --user dev --role admin --db DB", None, &["does not hold the role admin"]),
    ("token revoke atf_000000000000 --db DB", None, &["no token `atf_000000000000`"]),
    ("user disable nobody --db DB", None, &["no user `nobody`"]),
    ("user add dev --role reader --no-password --db DB", None, &["already exists"]),
];

const PASS: Option<&str> = Some("a long enough passphrase\n");

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let db = "auth.db";
    refused(d, db, BEFORE_USERS);
    assert!(!d.join("missing.db").exists());
    add_without_password(d, db, "dev", &["writer"]);
    refused(d, db, WITH_DEV);
}
