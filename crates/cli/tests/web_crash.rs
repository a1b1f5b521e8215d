//! Crash safety of web sessions: people log in to the pages of `atmpflow
//! serve`, the server is killed with SIGKILL while log-ins go on, and a server
//! restarted on the same database (a SQLite file, and PostgreSQL when
//! ATMPFLOW_TEST_PG is set) still knows every session whose cookie it had
//! handed out — nobody acknowledged is logged out by a crash — while a session
//! ended by log-out before the crash stays ended.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

#[path = "support/serve.rs"]
mod serve;
use serve::Server;

const PASSWORD: &str = "web crash test password";
/// Log-ins tried while the server is killed.
const LOGINS: usize = 12;

/// A page's answer: status, the `Location` header, the session id a
/// `Set-Cookie` carries, and the body.
struct Page {
    status: u16,
    location: Option<String>,
    cookie: Option<String>,
    body: String,
}

/// One request to a page (connection closed after it); a form `POST` carries
/// the server's own `Origin`, as a browser does. `None` when the server died
/// before a whole answer arrived.
fn page(host: &str, method: &str, path: &str, cookie: Option<&str>, form: &str) -> Option<Page> {
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        head.push_str(&format!("Cookie: atmpflow_session={c}\r\n"));
    }
    if method == "POST" {
        head.push_str(&format!(
            "Origin: http://{host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        ));
    }
    write!(s, "{head}Content-Length: {}\r\n\r\n{form}", form.len()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let cookie = header("set-cookie").and_then(|c| {
        let v = c.strip_prefix("atmpflow_session=")?.split(';').next()?;
        (!v.is_empty()).then(|| v.to_string())
    });
    Some(Page {
        status,
        location: header("location"),
        cookie,
        body: body.to_string(),
    })
}

fn login(host: &str, user: &str) -> Option<Page> {
    let form = format!("user={user}&password={}", PASSWORD.replace(' ', "+"));
    page(host, "POST", "/login", None, &form)
}

/// The CSRF token a page's forms carry.
fn csrf(body: &str) -> String {
    let at = body
        .find("name=\"csrf\"")
        .expect("a form with a CSRF token");
    let value = &body[at..];
    let start = value.find("value=\"").expect("token value") + 7;
    let len = value[start..].find('"').expect("end of token");
    value[start..start + len].to_string()
}

/// The board answers 200 to a live session and sends anyone else to log in.
fn logged_in(host: &str, cookie: &str) -> bool {
    let p = page(host, "GET", "/", Some(cookie), "").expect("board answers");
    match p.status {
        200 => true,
        303 | 302 => {
            assert_eq!(p.location.as_deref(), Some("/login"));
            false
        }
        s => panic!("board answered {s}: {}", p.body),
    }
}

#[test]
fn sessions_handed_out_survive_a_killed_server_and_ended_ones_stay_ended() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in store::testing::urls(dir.path()) {
        serve::add_user(&db, "ana", "operator", Some(PASSWORD));
        let server = Server::start(&db, &[]);
        let host = server.host.clone();
        // a session ended before the crash
        let ended = login(&host, "ana").expect("log-in answers");
        assert_eq!(ended.status, 303, "{db}: {}", ended.body);
        let ended = ended.cookie.expect("a session cookie");
        assert!(logged_in(&host, &ended), "{db}");
        let board = page(&host, "GET", "/", Some(&ended), "").expect("board");
        let out = page(
            &host,
            "POST",
            "/logout",
            Some(&ended),
            &format!("csrf={}", csrf(&board.body)),
        )
        .expect("log-out answers");
        assert_eq!(
            out.location.as_deref(),
            Some("/login"),
            "{db}: {}",
            out.body
        );
        assert!(!logged_in(&host, &ended), "{db}: ended session still live");
        // log-ins go on while the server is killed
        let (tx, rx) = mpsc::channel();
        let client = {
            let host = host.clone();
            std::thread::spawn(move || {
                for _ in 0..LOGINS {
                    match login(&host, "ana") {
                        Some(p) => {
                            if let Some(c) = p.cookie {
                                let _ = tx.send(c);
                            }
                        }
                        None => break,
                    }
                }
            })
        };
        let first = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("a log-in acknowledged");
        let mut handed_out = vec![first];
        handed_out.extend(rx.recv_timeout(Duration::from_secs(120)));
        server.kill();
        client.join().expect("client thread");
        handed_out.extend(rx.try_iter());
        assert!(handed_out.len() >= 2, "{db}: {handed_out:?}");
        // restarted on the same database
        let server = Server::start(&db, &[]);
        for c in &handed_out {
            assert!(
                logged_in(&server.host, c),
                "{db}: session lost in the crash"
            );
            // a live session asking for the log-in page is sent to the board
            let p = page(&server.host, "GET", "/login", Some(c), "").expect("login page");
            assert_eq!(p.location.as_deref(), Some("/"), "{db}");
        }
        assert!(
            !logged_in(&server.host, &ended),
            "{db}: a crash revived an ended session"
        );
        assert!(!logged_in(&server.host, "not-a-session"), "{db}");
    }
}
