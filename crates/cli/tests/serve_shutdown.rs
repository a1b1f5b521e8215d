//! Ctrl-C (SIGINT) stops `atmpflow serve` within its grace period (10 s) even while a
//! client is half-way through sending a request; once such a request kept the process
//! alive for ever, holding the database. (SIGTERM takes the same path,
//! `server::shutdown_signal`.)

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/serve.rs"]
mod serve;

#[cfg(unix)]
#[test]
fn a_signal_stops_serve_despite_a_half_sent_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db").display().to_string();
    let token = serve::account(&db, "w", "writer", None);
    for signal in ["-INT"] {
        let mut server = serve::Server::start(&db, &[]);
        let host = server.host.clone();
        let child = &mut server.child;
        let mut half = TcpStream::connect(&host).expect("connect");
        write!(
            half,
            "POST /api/v3.0/concept-descriptions HTTP/1.1\r\nHost: {host}\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{"
        )
        .expect("send half a request");
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        let k = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(k.success());
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break Some(s);
            }
            if sent.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let took = sent.elapsed();
        assert!(
            status.is_some(),
            "serve {signal}: still running after {took:?}"
        );
        // the grace period is 10 s; the half-sent request is cut, not waited for
        assert!(
            took < Duration::from_secs(12),
            "serve {signal}: took {took:?}"
        );
        assert!(
            TcpStream::connect(&host).is_err(),
            "{signal}: the port is closed"
        );
        drop(half);
    }
    // the database is free: a write command works at once
    let o = serve::add_user(&db, "after", "reader", None);
    assert!(o.status.success(), "{}", serve::text(&o));
}
