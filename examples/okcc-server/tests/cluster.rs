//! Two real `okcc-server serve` processes on one PostgreSQL database see
//! each other's rule changes and bans within a second (LISTEN/NOTIFY), and
//! one server survives its database going away: readiness false, REGISTER
//! of a known account still 200 from memory, audit events in the spill
//! file, replayed into the store (chain verifying) when it is back.
//!
//! Each test makes a fresh database on the server `OKCC_TEST_POSTGRES_URL`
//! names (and drops it at the end); without the variable the tests print
//! a skip notice. The outage test puts a TCP proxy it controls between the
//! server and PostgreSQL and stops it.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, BIN, SIP_PASSWORD, Server, free_port, free_tcp_port, login};
use okcc_core::credential::DigestAlgorithm;
use serde_json::{Value, json};

const VAR: &str = "OKCC_TEST_POSTGRES_URL";

/// A fresh database, dropped on drop.
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `url` with its database name replaced by `db`.
fn with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDb {
    fn create() -> Option<Self> {
        let Ok(admin) = std::env::var(VAR) else {
            eprintln!("skipped: set {VAR} to run the cluster tests");
            return None;
        };
        let name = format!("okcc_cluster_{:016x}", rand::random::<u64>());
        runtime().block_on(async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("{VAR} is set but PostgreSQL is unreachable: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        });
        let url = with_db(&admin, &name);
        Some(Self { admin, name, url })
    }

    /// Host and port of the server.
    fn addr(&self) -> SocketAddr {
        let opts: sqlx::postgres::PgConnectOptions = self.admin.parse().unwrap();
        let host = if opts.get_host() == "localhost" {
            "127.0.0.1"
        } else {
            opts.get_host()
        };
        format!("{host}:{}", opts.get_port()).parse().unwrap()
    }

    /// The database's URL through `proxy` instead of the server's address.
    fn url_via(&self, proxy: SocketAddr) -> String {
        let opts: sqlx::postgres::PgConnectOptions = self.url.parse().unwrap();
        let user = opts.get_username();
        format!("postgres://{user}@{proxy}/{}", self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        runtime().block_on(async move {
            if let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&admin)
                .await
            {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&pool)
                .await;
                pool.close().await;
            }
        });
    }
}

/// Starts `serve` on PostgreSQL `url` with its own data directory.
fn start(dir: &Path, url: &str) -> Server {
    let cfg = dir.join("okcc.toml");
    std::fs::write(&cfg, "digest_algorithms = [\"MD5\", \"SHA-256\"]\n").unwrap();
    let sip: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir)
        .args(["--database-url", url])
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
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let server = Server {
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

/// Logs in as `admin`, changing the bootstrap password first when `first`
/// is given; the bearer token.
fn admin_token(server: &Server, first: Option<&str>) -> String {
    if let Some(first) = first {
        let r = login(server, "admin", first);
        assert_eq!(r.status, 201, "{}", r.text);
        let token = r.body["token"].as_str().unwrap().to_owned();
        let c = server.request(
            "PUT",
            "/api/v1/me/password",
            Some(&token),
            Some(json!({"current": first, "new": ADMIN_PASSWORD})),
        );
        assert_eq!(c.status, 204, "{}", c.text);
    }
    let r = login(server, "admin", ADMIN_PASSWORD);
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["token"].as_str().unwrap().to_owned()
}

/// Polls `f` every 20 ms for up to `limit`; how long it took to hold.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if f() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn register_verdict(server: &Server, token: &str, ip: &str) -> String {
    let r = server.request(
        "GET",
        &format!("/api/v1/access/explain?ip={ip}"),
        Some(token),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == json!("sip-register"))
        .map(|c| c["verdict"].as_str().unwrap().to_owned())
        .unwrap()
}

fn banned(server: &Server, token: &str, ip: &str) -> bool {
    let r = server.request("GET", "/api/v1/bans", Some(token), None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["ip"] == json!(ip))
}

/// A SIP user agent on a loopback address.
struct Ua {
    sock: UdpSocket,
    server: SocketAddr,
}

impl Ua {
    fn on(ip: &str, server: SocketAddr) -> Self {
        Self {
            sock: UdpSocket::bind((ip, 0)).unwrap(),
            server,
        }
    }

    fn exchange(&self, msg: &str, wait: Duration) -> Option<String> {
        self.sock.send_to(msg.as_bytes(), self.server).unwrap();
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 8192];
        self.sock
            .recv_from(&mut buf)
            .ok()
            .map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn register(&self, user: &str, call_id: &str, cseq: u32, extra: &str) -> String {
        let l = self.sock.local_addr().unwrap();
        format!(
            "REGISTER sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{call_id}{cseq}\r\nMax-Forwards: 70\r\n\
             From: <sip:{user}@{s}>;tag=a{cseq}\r\nTo: <sip:{user}@{s}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{l}>\r\nExpires: 300\r\nUser-Agent: okcc-test\r\n{extra}Content-Length: 0\r\n\r\n",
            s = self.server
        )
    }

    /// A digest REGISTER of `user`; the final status (0: no answer).
    fn register_auth(&self, user: &str, password: &str, call_id: &str) -> u16 {
        let Some(r) = self.exchange(&self.register(user, call_id, 1, ""), Duration::from_secs(5))
        else {
            return 0;
        };
        if status(&r) != 401 {
            return status(&r);
        }
        let challenge = r
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case("WWW-Authenticate"))
            .map(|(_, v)| v.trim().to_owned())
            .find(|c| c.contains("algorithm=MD5"))
            .expect("MD5 challenge");
        let param = |key: &str| {
            let i = challenge.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
            challenge[i..][..challenge[i..].find('"').unwrap()].to_owned()
        };
        let (realm, nonce) = (param("realm"), param("nonce"));
        let alg = DigestAlgorithm::Md5;
        let uri = format!("sip:{}", self.server);
        let ha1 = alg.hex_digest(format!("{user}:{realm}:{password}").as_bytes());
        let ha2 = alg.hex_digest(format!("REGISTER:{uri}").as_bytes());
        let resp = alg.hex_digest(format!("{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}").as_bytes());
        let auth = format!(
            "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"\r\n"
        );
        self.exchange(
            &self.register(user, call_id, 2, &auth),
            Duration::from_secs(8),
        )
        .map_or(0, |r| status(&r))
    }
}

fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn add_extension(dir: &Path, url: &str, user: &str) {
    let mut c = Command::new(BIN)
        .args(["extension", "add", user, "--password-stdin"])
        .arg("--data-dir")
        .arg(dir)
        .args(["--database-url", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("{SIP_PASSWORD}\n").as_bytes())
        .unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn req_7_two_processes_on_one_postgres_see_rules_and_bans_within_a_second() {
    let Some(db) = TestDb::create() else { return };
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(da.path(), &db.url);
    let first = a
        .bootstrap_password(Duration::from_secs(10))
        .expect("bootstrap password");
    let b = start(dbb.path(), &db.url);
    let ta = admin_token(&a, Some(&first));
    let tb = admin_token(&b, None);
    let limit = Duration::from_secs(1);

    // A deny rule added on A: B refuses the source within a second, over
    // REST (explain) and over SIP (a REGISTER from it gets no answer).
    let source = "127.0.0.77";
    let ua = Ua::on(source, b.sip);
    assert_eq!(
        status(
            &ua.exchange(&ua.register("1001", "pre", 1, ""), Duration::from_secs(5))
                .expect("B answers before the rule")
        ),
        401
    );
    assert_eq!(register_verdict(&b, &tb, source), "allowed");
    let r = a.request(
        "PUT",
        "/api/v1/access/rules",
        Some(&ta),
        Some(json!({"text": format!("deny {source}  # cluster test\n")})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let took = within(limit, || register_verdict(&b, &tb, source) == "denied")
        .expect("B did not apply A's rule within 1 s");
    eprintln!("rule change reached the other node in {took:?}");
    assert!(
        ua.exchange(
            &ua.register("1001", "post", 1, ""),
            Duration::from_millis(700)
        )
        .is_none(),
        "B still answers a denied source"
    );
    let other = Ua::on("127.0.0.78", b.sip);
    assert!(
        other
            .exchange(
                &other.register("1001", "other", 1, ""),
                Duration::from_secs(5)
            )
            .is_some()
    );
    let rb = b.request("GET", "/api/v1/access/rules", Some(&tb), None);
    assert_eq!(
        rb.body["text"],
        json!(format!("deny {source}  # cluster test\n"))
    );

    // A ban made on B is in A's ban list within a second; unbanning on A
    // lifts it on B within a second.
    let ip = "192.0.2.55";
    let r = b.request(
        "POST",
        "/api/v1/bans",
        Some(&tb),
        Some(json!({"ip": ip, "duration_secs": 600, "reason": "cluster test"})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let took = within(limit, || banned(&a, &ta, ip)).expect("A did not get B's ban within 1 s");
    eprintln!("ban reached the other node in {took:?}");
    let r = a.request("DELETE", &format!("/api/v1/bans/{ip}"), Some(&ta), None);
    assert_eq!(r.status, 204, "{}", r.text);
    let took = within(limit, || !banned(&b, &tb, ip)).expect("B kept the ban lifted on A");
    eprintln!("unban reached the other node in {took:?}");

    // Rule removal propagates too.
    let r = b.request(
        "PUT",
        "/api/v1/access/rules",
        Some(&tb),
        Some(json!({"text": ""})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    within(limit, || register_verdict(&a, &ta, source) == "allowed")
        .expect("A did not apply B's rule removal within 1 s");
}

/// A TCP proxy the test can stop (closing every connection) and restart
/// on the same port.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
        let mut p = Self {
            addr,
            upstream,
            up: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
            acceptor: None,
        };
        p.resume();
        p
    }

    fn resume(&mut self) {
        let listener = TcpListener::bind(self.addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        self.up.store(true, Ordering::SeqCst);
        let (up, conns, upstream) = (Arc::clone(&self.up), Arc::clone(&self.conns), self.upstream);
        self.acceptor = Some(std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(upstream) else {
                            continue;
                        };
                        let mut c = conns.lock().unwrap();
                        c.push(client.try_clone().unwrap());
                        c.push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
    }

    /// Stops accepting and cuts every connection.
    fn stop(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            h.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

fn spill_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("audit-spill.jsonl"))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

/// The stored events whose action is `action` (every page).
fn audit_events(server: &Server, token: &str, action: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/audit/events?scope=platform&limit=500".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = server.request("GET", &path, Some(token), None);
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        out.extend(
            items
                .into_iter()
                .filter(|e| e.to_string().contains(&format!("\"{action}\""))),
        );
        match r.body["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

#[test]
fn req_7_database_outage_readiness_false_register_from_memory_audit_spilled_and_replayed() {
    let Some(db) = TestDb::create() else { return };
    let mut proxy = Proxy::start(db.addr());
    let url = db.url_via(proxy.addr);
    let dir = tempfile::tempdir().unwrap();
    add_extension(dir.path(), &url, "1001");
    let server = start(dir.path(), &url);
    let first = server
        .bootstrap_password(Duration::from_secs(10))
        .expect("bootstrap password");
    let token = admin_token(&server, Some(&first));
    assert_eq!(server.request("GET", "/readyz", None, None).status, 200);
    let ua = Ua::on("127.0.0.1", server.sip);
    assert_eq!(ua.register_auth("1001", SIP_PASSWORD, "up-1"), 200);
    // Every authenticated REGISTER is a sip.auth-success; the first one
    // also adds a binding (sip.register), the renewals below from the same
    // address do not.
    within(Duration::from_secs(10), || {
        audit_events(&server, &token, "sip.auth-success").len() == 1
            && audit_events(&server, &token, "sip.register").len() == 1
    })
    .expect("a REGISTER is audited");
    let before = 1;

    // The database goes away.
    proxy.stop();
    within(Duration::from_secs(15), || {
        server
            .try_request("GET", "/readyz", None, None)
            .is_some_and(|r| r.status == 503)
    })
    .expect("readiness stayed true with the database gone");
    let asked = Instant::now();
    let ready = server.request("GET", "/readyz", None, None);
    assert_eq!(ready.body["code"], json!("not-ready"), "{}", ready.text);
    // The probe is answered within its own bound (2 s), not after the
    // pool's acquire timeout once per store.
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "/readyz took {:?} with the database gone",
        asked.elapsed()
    );
    // SIP keeps serving from memory, and the audit events go to the spill file.
    for i in 0..3 {
        assert_eq!(
            ua.register_auth("1001", SIP_PASSWORD, &format!("down-{i}")),
            200,
            "REGISTER {i} of a known account during the outage"
        );
        let want = i + 1;
        within(Duration::from_secs(20), || spill_lines(dir.path()) >= want)
            .unwrap_or_else(|| panic!("the spill file did not grow to {want} events"));
    }
    // An unknown account cannot be checked: 503, never a wrong-password count.
    let stranger = Ua::on("127.0.0.1", server.sip);
    let r = stranger
        .exchange(
            &stranger.register("1999", "x", 1, ""),
            Duration::from_secs(8),
        )
        .expect("an answer");
    assert_eq!(status(&r), 503, "{r}");

    // The database comes back: ready again, spill replayed, chain intact.
    proxy.resume();
    within(Duration::from_secs(20), || {
        server
            .try_request("GET", "/readyz", None, None)
            .is_some_and(|r| r.status == 200)
    })
    .expect("not ready again after the database came back");
    within(Duration::from_secs(20), || spill_lines(dir.path()) == 0)
        .expect("the spill file was not replayed");
    let token = admin_token(&server, None);
    let events = audit_events(&server, &token, "sip.auth-success");
    assert_eq!(events.len(), before + 3, "{events:?}");
    assert!(
        events.iter().all(|e| e.to_string().contains("127.0.0.1")),
        "{events:?}"
    );
    let v = server.request("GET", "/api/v1/audit/verify", Some(&token), None);
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["intact"], json!(true), "{}", v.text);
}

#[test]
fn req_7_unreachable_database_at_start_is_one_clear_line_and_a_failure_exit() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let port = free_tcp_port();
    let url = format!("postgres://okcc:s3cret-pw@127.0.0.1:{port}/okccdb");
    let out = Command::new(BIN)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--database-url", &url])
        // One transport (an ephemeral loopback port): a server with none
        // is refused before the database is opened.
        .args([
            "--sip-udp",
            "127.0.0.1:0",
            "--sip-tcp",
            "off",
            "--http",
            "off",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // The log line aside, one line for the operator.
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: cannot open the database"),
        "{err}"
    );
    assert!(
        lines[0].contains(&format!("PostgreSQL at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("s3cret-pw"), "the password leaked: {err}");
}
