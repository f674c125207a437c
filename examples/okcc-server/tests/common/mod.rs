//! Shared by the black-box HTTP tests: start the real `okcc-server serve`
//! on loopback ports, read its stdout, and speak plain HTTP/1.1 to it.
#![allow(dead_code, reason = "each test binary uses a part")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_okcc-server");
/// The password tests/sipp/register_md5.xml answers with.
pub(crate) const SIP_PASSWORD: &str = "TAV#1532afhj@qF344";
pub(crate) const ADMIN_PASSWORD: &str = "Correct-Horse-Battery-9-Staple";

pub(crate) fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

pub(crate) fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) sip: SocketAddr,
    pub(crate) http: SocketAddr,
    pub(crate) stdout: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(crate) fn start(dir: &Path, sip_port: u16, http_port: u16) -> Self {
        // sipp answers only the first challenge and knows only MD5.
        let cfg = dir.join("okcc.toml");
        std::fs::write(&cfg, "digest_algorithms = [\"MD5\", \"SHA-256\"]\n").unwrap();
        let sip: SocketAddr = format!("127.0.0.1:{sip_port}").parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&cfg)
            .arg("--data-dir")
            .arg(dir)
            .args(["--sip-udp", &sip.to_string(), "--sip-tcp", "off"])
            .args(["--http", &http.to_string()])
            .env(
                "RUST_LOG",
                std::env::var("TEST_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let server = Self {
            child,
            sip,
            http,
            stdout: rx,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(r) = server.try_request("GET", "/healthz", None, None)
                && r.status == 200
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server did not start");
    }

    /// The bootstrap password printed on stdout, if one is printed within `wait`.
    pub(crate) fn bootstrap_password(&self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.stdout.recv_timeout(left).ok()?;
            if let Some((_, pw)) = line.split_once("one-time password: ") {
                return Some(pw.trim().to_owned());
            }
        }
    }

    pub(crate) fn try_request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Option<Reply> {
        let mut s = TcpStream::connect_timeout(&self.http, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let body = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.http,
            body.len()
        );
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).ok()?;
        s.write_all(&body).ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        Some(Reply::parse(&raw))
    }

    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.try_request(method, path, token, body.as_ref())
            .unwrap_or_else(|| panic!("{method} {path}: no answer"))
    }
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: String,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> Self {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("HTTP head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut body = raw[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&body).into_owned();
        Self {
            status,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            headers: head,
            text,
        }
    }
}

pub(crate) fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
}

pub(crate) fn login(server: &Server, user: &str, password: &str) -> Reply {
    server.request(
        "POST",
        "/api/v1/sessions",
        None,
        Some(json!({"user": user, "password": password})),
    )
}

/// Runs the CLI with `args`, `stdin` on standard input.
pub(crate) fn cli(args: &[&str], dir: &Path, stdin: &str) -> std::process::Output {
    let mut c = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(mut i) = c.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    c.wait_with_output().unwrap()
}
