//! A keep-alive HTTP/1.1 client connection to `atmpflow serve` with a bearer token, for the
//! load benchmarks and the load-and-kill test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A keep-alive HTTP/1.1 connection; any IO error means the server is gone.
pub struct Conn {
    host: String,
    prefix: String,
    token: String,
    r: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(base: &str, token: &str) -> std::io::Result<Conn> {
        let rest = base.strip_prefix("http://").expect("http base");
        let (host, prefix) = rest.split_once('/').expect("base path");
        let s = TcpStream::connect(host)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Conn {
            host: host.to_string(),
            prefix: prefix.to_string(),
            token: token.to_string(),
            r: BufReader::new(s),
        })
    }

    pub fn call(&mut self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let req = format!(
            "{method} /{}{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.prefix,
            self.host,
            self.token,
            body.len()
        );
        self.r.get_mut().write_all(req.as_bytes())?;
        let broken = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no answer");
        let mut status_line = String::new();
        if self.r.read_line(&mut status_line)? == 0 {
            return Err(broken());
        }
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(broken)?;
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if self.r.read_line(&mut h)? == 0 {
                return Err(broken());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().map_err(|_| broken())?;
            }
        }
        let mut buf = vec![0u8; len];
        self.r.read_exact(&mut buf)?;
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}
