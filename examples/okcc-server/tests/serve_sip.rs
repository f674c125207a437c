//! Starts the real `okcc-server serve` on loopback and talks SIP to it over
//! UDP: digest REGISTER (MD5 and SHA-256), registrar rules, bans, scanners,
//! restart persistence, extension CLI.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use okcc_core::credential::DigestAlgorithm;

mod netns;
mod sip_msg;
use netns::in_own_netns;
use sip_msg::{PASSWORD, header, param, read_message, status};

const BIN: &str = env!("CARGO_BIN_EXE_okcc-server");

fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

struct Server {
    child: Child,
    sip: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A graceful stop (SIGTERM, as systemd does), waiting for the exit.
    fn stop(mut self) {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(term.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                assert!(st.success(), "the server stopped with {st}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn add_extension(dir: &Path, user: &str, password: &str) -> std::process::Output {
    let mut c = Command::new(BIN)
        .args(["extension", "add", user, "--password-stdin", "--data-dir"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    c.wait_with_output().unwrap()
}

fn start(dir: &Path, port: u16, extra: &[&str]) -> Server {
    let log = std::env::var("TEST_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned());
    start_logging(dir, port, extra, Some(&log), Stdio::inherit())
}

/// `start` with `RUST_LOG` set to `log` (`None`: unset, the server's own
/// default) and the server's log going to `stderr`.
fn start_logging(
    dir: &Path,
    port: u16,
    extra: &[&str],
    log: Option<&str>,
    stderr: Stdio,
) -> Server {
    let sip: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new(BIN);
    match log {
        Some(l) => cmd.env("RUST_LOG", l),
        None => cmd.env_remove("RUST_LOG"),
    };
    let child = cmd
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args([
            "--sip-udp",
            &sip.to_string(),
            "--sip-tcp",
            "off",
            "--http",
            "off",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let server = Server { child, sip };
    // wait until it answers OPTIONS
    let ua = Ua::new(server.sip);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        ua.send(&ua.options("ready"));
        if ua.recv_timeout(Duration::from_millis(200)).is_some() {
            return server;
        }
    }
    panic!("server did not start");
}

struct Ua {
    sock: UdpSocket,
    server: SocketAddr,
}

impl Ua {
    fn new(server: SocketAddr) -> Self {
        Self::on("127.0.0.1", server)
    }

    /// A UA on another loopback address (Linux routes all of 127/8 to lo).
    fn on(ip: &str, server: SocketAddr) -> Self {
        Self {
            sock: UdpSocket::bind((ip, 0)).unwrap(),
            server,
        }
    }

    fn local(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    fn send(&self, msg: &str) {
        self.sock.send_to(msg.as_bytes(), self.server).unwrap();
    }

    fn recv_timeout(&self, t: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(t)).unwrap();
        let mut buf = [0u8; 8192];
        match self.sock.recv_from(&mut buf) {
            Ok((n, _)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        }
    }

    fn recv(&self) -> String {
        self.recv_timeout(Duration::from_secs(5)).expect("no reply")
    }

    fn options(&self, branch: &str) -> String {
        let l = self.local();
        format!(
            "OPTIONS sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
             From: <sip:probe@{l}>;tag=1\r\nTo: <sip:{s}>\r\nCall-ID: {branch}@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            s = self.server
        )
    }

    fn register(
        &self,
        user: &str,
        call_id: &str,
        cseq: u32,
        contact: &str,
        extra: &str,
        ua: &str,
    ) -> String {
        let l = self.local();
        format!(
            "REGISTER sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{call_id}{cseq}\r\nMax-Forwards: 70\r\n\
             From: <sip:{user}@{s}>;tag=a{cseq}\r\nTo: <sip:{user}@{s}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: {contact}\r\nUser-Agent: {ua}\r\n{extra}Content-Length: 0\r\n\r\n",
            s = self.server
        )
    }
}

/// An Authorization value answering `challenge` for `user`/`password`.
fn authorization(
    challenge: &str,
    alg: DigestAlgorithm,
    user: &str,
    password: &str,
    uri: &str,
    nc: u32,
) -> String {
    let realm = param(challenge, "realm");
    let nonce = param(challenge, "nonce");
    let ha1 = alg.hex_digest(format!("{user}:{realm}:{password}").as_bytes());
    let ha2 = alg.hex_digest(format!("REGISTER:{uri}").as_bytes());
    let cnonce = "0a4f113b";
    let nc = format!("{nc:08x}");
    let resp = alg.hex_digest(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}").as_bytes());
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{resp}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"{cnonce}\"\r\n",
        alg.token()
    )
}

fn challenge_for(resp: &str, alg: DigestAlgorithm) -> String {
    header(resp, "WWW-Authenticate")
        .into_iter()
        .find(|c| {
            c.contains(&format!("algorithm={},", alg.token()))
                || c.contains(&format!("algorithm={}", alg.token()))
        })
        .unwrap_or_else(|| panic!("no {alg:?} challenge in {resp}"))
        .to_owned()
}

/// REGISTER with a digest answer; returns the final response.
#[allow(clippy::too_many_arguments)]
fn register_auth(
    ua: &Ua,
    user: &str,
    password: &str,
    alg: DigestAlgorithm,
    call_id: &str,
    cseq: u32,
    contact: &str,
    expires: &str,
) -> String {
    ua.send(&ua.register(user, call_id, cseq, contact, expires, "okcc-test"));
    let r = ua.recv();
    assert_eq!(status(&r), 401, "{r}");
    let ch = challenge_for(&r, alg);
    let uri = format!("sip:{}", ua.server);
    let auth = authorization(&ch, alg, user, password, &uri, 1);
    ua.send(&ua.register(
        user,
        call_id,
        cseq + 1,
        contact,
        &format!("{expires}{auth}"),
        "okcc-test",
    ));
    ua.recv()
}

/// Extension 1001 registers its UA's address for 600 s with MD5 digest.
fn register_md5(ua: &Ua, call_id: &str) -> String {
    let contact = format!("<sip:1001@{}>", ua.local());
    register_auth(
        ua,
        "1001",
        PASSWORD,
        DigestAlgorithm::Md5,
        call_id,
        1,
        &contact,
        "Expires: 600\r\n",
    )
}

#[test]
fn req_9_register_digest_md5_sha256_registrar_rules_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let out = add_extension(dir.path(), "1001", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let weak = add_extension(dir.path(), "1002", "1234");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password refused"));

    let port = free_port();
    let server = start(dir.path(), port, &[]);
    let ua = Ua::new(server.sip);
    let contact = format!("<sip:1001@{}>", ua.local());

    let r = register_md5(&ua, "c-md5");
    assert_eq!(status(&r), 200, "{r}");
    assert!(header(&r, "Contact")[0].contains("expires=600"), "{r}");

    let r = register_auth(
        &ua,
        "1001",
        PASSWORD,
        DigestAlgorithm::Sha256,
        "c-sha",
        1,
        &contact,
        "Expires: 300\r\n",
    );
    assert_eq!(status(&r), 200, "{r}");

    // too brief -> 423 + Min-Expires
    let r = register_auth(
        &ua,
        "1001",
        PASSWORD,
        DigestAlgorithm::Sha256,
        "c-brief",
        1,
        "<sip:1001@10.0.0.9>",
        "Expires: 5\r\n",
    );
    assert_eq!(status(&r), 423, "{r}");
    assert_eq!(header(&r, "Min-Expires"), vec!["60"]);

    // several contacts
    let r = register_auth(
        &ua,
        "1001",
        PASSWORD,
        DigestAlgorithm::Md5,
        "c-two",
        1,
        "<sip:1001@10.0.0.8>;expires=120",
        "",
    );
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(header(&r, "Contact").len(), 2, "{r}");

    // OPTIONS keep-alive answered; a method the server does not serve out of
    // a dialog: 405 with Allow.
    // (rsipstack 0.7's parser drops unknown method tokens such as `FOO`
    // before any hook runs, so they get no answer; see the README.)
    ua.send(&ua.options("k1"));
    assert_eq!(status(&ua.recv()), 200);
    let l = ua.local();
    ua.send(&format!(
        "MESSAGE sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKmsg\r\nMax-Forwards: 70\r\nFrom: <sip:a@{l}>;tag=1\r\n\
         To: <sip:{s}>\r\nCall-ID: msg@t\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
        s = server.sip
    ));
    let r = ua.recv();
    assert_eq!(status(&r), 405, "{r}");
    assert_eq!(
        header(&r, "Allow"),
        vec!["INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"]
    );

    // restart keeps bindings (they are written in the background; a
    // graceful stop writes the last ones): a query (no Contact) lists them
    server.stop();
    let server = start(dir.path(), port, &[]);
    let ua = Ua::new(server.sip);
    ua.send(
        &ua.register(
            "1001",
            "q",
            1,
            "<sip:1001@10.0.0.8>;expires=120",
            "",
            "okcc-test",
        )
        .replace("Contact: <sip:1001@10.0.0.8>;expires=120\r\n", ""),
    );
    let r = ua.recv();
    assert_eq!(status(&r), 401, "{r}");
    let ch = challenge_for(&r, DigestAlgorithm::Md5);
    let auth = authorization(
        &ch,
        DigestAlgorithm::Md5,
        "1001",
        PASSWORD,
        &format!("sip:{}", server.sip),
        1,
    );
    ua.send(
        &ua.register("1001", "q", 2, "x", &auth, "okcc-test")
            .replace("Contact: x\r\n", ""),
    );
    let r = ua.recv();
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(
        header(&r, "Contact").len(),
        2,
        "bindings survive a restart: {r}"
    );
}

/// With `RUST_LOG` unset the server logs at info, but not rsipstack's
/// per-message lines: those print every SIP message whole, digest
/// responses included (secrets stay out of the log).
#[test]
fn req_9_default_log_has_no_sip_messages_or_digest_responses() {
    let dir = tempfile::tempdir().unwrap();
    assert!(add_extension(dir.path(), "1001", PASSWORD).status.success());
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = start_logging(dir.path(), free_port(), &[], None, Stdio::from(log));
    let ua = Ua::new(server.sip);
    let r = register_md5(&ua, "c-log");
    assert_eq!(status(&r), 200, "{r}");
    server.stop();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("okcc-server ready"), "info is on: {text}");
    for secret in [
        "Authorization",
        "response=",
        "nonce=",
        "c-log",
        "REGISTER sip:",
    ] {
        assert!(!text.contains(secret), "`{secret}` in the log: {text}");
    }
}

#[test]
fn req_9_wrong_password_burst_bans_then_silence_and_scanner_silence() {
    if !in_own_netns("req_9_wrong_password_burst_bans_then_silence_and_scanner_silence") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(add_extension(dir.path(), "1001", PASSWORD).status.success());
    let server = start(dir.path(), free_port(), &[]);

    // scanner User-Agent: no answer at all
    let scanner = Ua::on("127.0.0.3", server.sip);
    scanner.send(&scanner.register(
        "1001",
        "s1",
        1,
        "<sip:1001@10.0.0.1>",
        "",
        "friendly-scanner",
    ));
    assert!(scanner.recv_timeout(Duration::from_millis(700)).is_none());

    // wrong passwords: 403 until the ban, then silence even for OPTIONS
    let ua = Ua::new(server.sip);
    let contact = format!("<sip:1001@{}>", ua.local());
    let mut banned = false;
    for i in 0..10u32 {
        ua.send(&ua.register("1001", &format!("w{i}"), 1, &contact, "", "okcc-test"));
        let Some(r) = ua.recv_timeout(Duration::from_secs(2)) else {
            banned = true;
            break;
        };
        assert_eq!(status(&r), 401, "{r}");
        let ch = challenge_for(&r, DigestAlgorithm::Md5);
        let auth = authorization(
            &ch,
            DigestAlgorithm::Md5,
            "1001",
            "wrong-password",
            &format!("sip:{}", server.sip),
            1,
        );
        ua.send(&ua.register("1001", &format!("w{i}"), 2, &contact, &auth, "okcc-test"));
        match ua.recv_timeout(Duration::from_secs(2)) {
            Some(r) => assert_eq!(status(&r), 403, "{r}"),
            None => {
                banned = true;
                break;
            }
        }
    }
    assert!(banned, "a wrong-password burst must end in a ban");
    ua.send(&ua.options("after-ban"));
    assert!(
        ua.recv_timeout(Duration::from_millis(700)).is_none(),
        "banned source gets silence"
    );

    // another source still gets service
    let ok = Ua::on("127.0.0.2", server.sip);
    ok.send(&ok.options("other"));
    assert_eq!(status(&ok.recv()), 200);
}

#[test]
fn req_9_never_a_relay_foreign_domain_refused() {
    if !in_own_netns("req_9_never_a_relay_foreign_domain_refused") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(add_extension(dir.path(), "1001", PASSWORD).status.success());
    let server = start(dir.path(), free_port(), &[]);
    let ua = Ua::new(server.sip);
    let msg = ua
        .register("1001", "relay", 1, "<sip:1001@10.0.0.1>", "", "okcc-test")
        .replacen(
            &format!("REGISTER sip:{}", server.sip),
            "REGISTER sip:evil.example.com",
            1,
        );
    ua.send(&msg);
    assert_eq!(status(&ua.recv()), 403);
}

#[test]
fn req_9_extension_list_and_remove_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    assert!(add_extension(dir.path(), "1001", PASSWORD).status.success());
    let list = Command::new(BIN)
        .args(["extension", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(list.status.success());
    assert!(String::from_utf8_lossy(&list.stdout).contains("1001"));
    let rm = Command::new(BIN)
        .args(["extension", "remove", "1001", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(rm.status.success());
    // Both changes are in the server's operation log (okcc.db), chain intact.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use okcc_audit::AuditStore;
        let opts = okcc_core::store::sql::SqliteOptions::default();
        let pool = okcc_core::store::sql::open_sqlite(&dir.path().join("okcc.db"), &opts)
            .await
            .unwrap();
        let store = okcc_audit::store::sqlite::SqliteAuditStore::from_pool(pool)
            .await
            .unwrap();
        let mut out = Vec::new();
        store
            .export(
                &okcc_audit::AuditQuery::all(),
                okcc_audit::ExportFormat::JsonLines,
                &mut out,
            )
            .await
            .unwrap();
        let log = String::from_utf8(out).unwrap();
        assert!(
            log.contains("auth.password-change") && log.contains("sip.extension-remove"),
            "{log}"
        );
        assert!(
            store
                .verify(&okcc_audit::VerifyOptions::all())
                .await
                .unwrap()
                .is_intact()
        );
    });
}

/// sipp, or `None` with a message when it is missing outside CI (in CI a
/// missing sipp fails the test: `.ci/run` installs it).
fn sipp() -> Option<&'static str> {
    let ok = Command::new("sipp").arg("-v").output().is_ok();
    if ok {
        return Some("sipp");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "sipp is missing (apt-get install sip-tester)"
    );
    eprintln!("skipping: sipp is not installed (apt-get install sip-tester)");
    None
}

#[test]
fn req_9_sipp_register_with_md5_digest() {
    let Some(sipp) = sipp() else { return };
    let dir = tempfile::tempdir().unwrap();
    assert!(add_extension(dir.path(), "1001", PASSWORD).status.success());
    // sipp 3.6 answers only the first challenge and knows only MD5
    let cfg = dir.path().join("okcc.toml");
    std::fs::write(&cfg, "digest_algorithms = [\"MD5\", \"SHA-256\"]\n").unwrap();
    let server = start(
        dir.path(),
        free_port(),
        &["--config", cfg.to_str().unwrap()],
    );
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/register_md5.xml");
    let out = Command::new(sipp)
        .arg("-sf")
        .arg(&scenario)
        .args([
            "-s",
            "1001",
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-m", "1", "-timeout", "15s", "-timeout_error", "-nostdin"])
        .arg(server.sip.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sipp failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the server with `config` and no UDP listener wait (TCP/TLS).
fn start_streams(dir: &Path, config: &str, args: &[&str]) -> Child {
    let cfg = dir.join("okcc.toml");
    std::fs::write(&cfg, config).unwrap();
    Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir)
        .args(["--sip-udp", "off", "--http", "off"])
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("TEST_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn options_over(local: SocketAddr, server: SocketAddr, transport: &str) -> String {
    format!(
        "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bKs{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=1\r\nTo: <sip:{server}>\r\n\
         Call-ID: s{}@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    )
}

/// Connects to `addr`, retrying while the server starts.
fn connect(addr: SocketAddr) -> std::net::TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => return s,
            Err(e) if Instant::now() > deadline => panic!("cannot connect to {addr}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn req_9_tcp_connections_per_source_are_limited_and_idle_ones_closed() {
    use std::io::{Read, Write as _};
    if !in_own_netns("req_9_tcp_connections_per_source_are_limited_and_idle_ones_closed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = start_streams(
        dir.path(),
        "max_connections_per_source = 2\ntcp_idle_timeout_secs = 2\n",
        &["--sip-tcp", &addr.to_string()],
    );
    let mut a = connect(addr);
    let mut b = connect(addr);
    std::thread::sleep(Duration::from_millis(300));
    let mut c = connect(addr);
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut one = [0u8; 1];
    assert!(
        matches!(c.read(&mut one), Ok(0) | Err(_)),
        "the third connection from one source is closed"
    );
    for s in [&mut a, &mut b] {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let local = s.local_addr().unwrap();
        s.write_all(options_over(local, addr, "TCP").as_bytes())
            .unwrap();
        let r = read_message(s).expect("an answer on an admitted connection");
        assert_eq!(status(&r), 200, "{r}");
    }
    // Idle for longer than tcp_idle_timeout_secs: closed by the server.
    a.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    assert!(
        matches!(a.read(&mut one), Ok(0) | Err(_)),
        "idle connection closed"
    );
    // Slots free up once connections are gone.
    drop(b);
    std::thread::sleep(Duration::from_millis(300));
    let mut d = connect(addr);
    d.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let local = d.local_addr().unwrap();
    d.write_all(options_over(local, addr, "TCP").as_bytes())
        .unwrap();
    assert_eq!(status(&read_message(&mut d).expect("answer")), 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// A self-signed certificate for `localhost`, written to `dir`; returns it
/// with the config lines naming its files.
fn tls_certificate(dir: &Path) -> (rcgen::CertifiedKey<rcgen::KeyPair>, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let config = format!(
        "tls_cert = {:?}\ntls_key = {:?}\n",
        cert.to_str().unwrap(),
        key.to_str().unwrap()
    );
    (ck, config)
}

/// The server with SIP/TLS only (a self-signed certificate for
/// `localhost`, config `extra` added), once it accepts connections.
fn start_tls(dir: &Path, extra: &str) -> (Child, SocketAddr, rcgen::CertifiedKey<rcgen::KeyPair>) {
    let (ck, config) = tls_certificate(dir);
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = start_streams(
        dir,
        &format!("{config}{extra}"),
        &["--sip-tcp", "off", "--sip-tls", &addr.to_string()],
    );
    connect(addr);
    (child, addr, ck)
}

type TlsClient = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// A TCP connection to `addr` from `source` (any port).
fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> std::net::TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(addr).await?.into_std()?;
        stream.set_nonblocking(false)?;
        Ok::<_, std::io::Error>(stream)
    })
    .unwrap()
}

/// A TLS session with `addr` from `source` that trusts only `cert`.
fn tls_connect(source: std::net::IpAddr, addr: SocketAddr, cert: &rcgen::Certificate) -> TlsClient {
    let config = sip_msg::trusting(cert);
    let tcp = connect_from(source, addr);
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

#[test]
fn req_9_sip_over_tls_with_a_self_signed_certificate() {
    use std::io::Write as _;
    if !in_own_netns("req_9_sip_over_tls_with_a_self_signed_certificate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, ck) = start_tls(dir.path(), "");
    let mut tls = tls_connect(addr.ip(), addr, &ck.cert);
    let local = tls.sock.local_addr().unwrap();
    tls.write_all(options_over(local, addr, "TLS").as_bytes())
        .unwrap();
    let r = read_message(&mut tls).expect("an answer over TLS");
    assert_eq!(status(&r), 200, "{r}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A request with `method` (any token) from `ua`.
fn any_method(ua: &Ua, method: &str, branch: &str, agent: &str) -> String {
    let l = ua.local();
    format!(
        "{method} sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
         From: <sip:probe@{l}>;tag=f{branch}\r\nTo: <sip:{s}>\r\nCall-ID: {branch}@t\r\nCSeq: 5 {method}\r\n\
         User-Agent: {agent}\r\nContent-Length: 0\r\n\r\n",
        s = ua.server
    )
}

#[test]
fn req_9_unknown_methods_get_501_over_udp_and_malformed_or_banned_nothing() {
    if !in_own_netns("req_9_unknown_methods_get_501_over_udp_and_malformed_or_banned_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), free_port(), &[]);
    let ua = Ua::new(server.sip);

    // Unknown methods (rsipstack cannot parse them): 501 with Allow, the
    // request's Via (same branch), a To tag, its Call-ID and CSeq.
    for (method, branch) in [("FOO", "foo1"), ("PING", "ping1"), ("XYZZY", "xyz1")] {
        ua.send(&any_method(&ua, method, branch, "okcc-test"));
        let r = ua.recv();
        assert_eq!(status(&r), 501, "{r}");
        assert!(r.starts_with("SIP/2.0 501 Not Implemented\r\n"), "{r}");
        assert_eq!(
            header(&r, "Allow"),
            ["INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"]
        );
        assert_eq!(
            header(&r, "Via"),
            [format!("SIP/2.0/UDP {};branch=z9hG4bK{branch}", ua.local())]
        );
        let to = header(&r, "To");
        assert!(
            to.len() == 1 && to[0].starts_with(&format!("<sip:{}>;tag=", server.sip)),
            "{r}"
        );
        assert_eq!(header(&r, "Call-ID"), [format!("{branch}@t")]);
        assert_eq!(header(&r, "CSeq"), [format!("5 {method}")]);
    }
    // A method rsipstack knows but this server does not allow: still 405.
    ua.send(&any_method(&ua, "MESSAGE", "msg1", "okcc-test"));
    assert_eq!(status(&ua.recv()), 405);

    // Malformed: unchanged (rsipstack drops them), and the server goes on.
    let foo = any_method(&ua, "FOO", "bad1", "okcc-test");
    for bad in [
        foo.replacen(" SIP/2.0\r\n", "\r\n", 1),
        foo.replacen("FOO sip:", "F(O) sip:", 1),
        foo.replacen(" SIP/2.0\r\n", " SIP/3.0\r\n", 1),
        foo.replace("Call-ID: bad1@t\r\n", ""),
        foo.replace("CSeq: 5 FOO", "CSeq: 5 BAR"),
    ] {
        ua.send(&bad);
        assert!(
            ua.recv_timeout(Duration::from_millis(500)).is_none(),
            "no answer to {bad:?}"
        );
    }
    ua.send(&ua.options("alive"));
    assert_eq!(status(&ua.recv()), 200);

    // A scanner's unknown method: silence, and its source is banned, so
    // even a phone-like one then gets nothing.
    let scanner = Ua::on("127.0.0.3", server.sip);
    scanner.send(&any_method(&scanner, "FOO", "s1", "friendly-scanner"));
    assert!(scanner.recv_timeout(Duration::from_millis(700)).is_none());
    scanner.send(&any_method(&scanner, "FOO", "s2", "okcc-test"));
    assert!(scanner.recv_timeout(Duration::from_millis(700)).is_none());
    scanner.send(&scanner.options("s3"));
    assert!(scanner.recv_timeout(Duration::from_millis(700)).is_none());

    // Unknown methods count toward the flood limit: a burst ends in
    // silence (and a ban) like any other.
    let flood = Ua::on("127.0.0.4", server.sip);
    for i in 0..60 {
        flood.send(&any_method(&flood, "FOO", &format!("fl{i}"), "okcc-test"));
    }
    let mut answered = 0;
    while let Some(r) = flood.recv_timeout(Duration::from_millis(700)) {
        assert_eq!(status(&r), 501, "{r}");
        answered += 1;
    }
    assert!(
        (1..60).contains(&answered),
        "{answered} of 60 answered: the flood limit did not apply"
    );
    flood.send(&flood.options("after-flood"));
    assert!(flood.recv_timeout(Duration::from_millis(700)).is_none());

    // Other sources still get answers.
    let other = Ua::on("127.0.0.2", server.sip);
    other.send(&any_method(&other, "FOO", "o1", "okcc-test"));
    assert_eq!(status(&other.recv()), 501);
}

/// On a stream connection: FOO gets 501 with `Allow`, the connection
/// then carries `options` (200); a PING with a body pipelined with an
/// OPTIONS in one write gets 501 then 200, in order.
fn unknown_methods_answered_in_order(a: &mut (impl std::io::Read + std::io::Write), options: &str) {
    a.write_all(options.replace("OPTIONS", "FOO").as_bytes())
        .unwrap();
    let r = read_message(a).expect("an answer to FOO");
    assert_eq!(status(&r), 501, "{r}");
    assert!(header(&r, "Allow")[0].contains("REGISTER"), "{r}");
    assert!(header(&r, "CSeq")[0].contains("FOO"), "{r}");
    // The same connection carries the next request.
    a.write_all(options.as_bytes()).unwrap();
    assert_eq!(status(&read_message(a).expect("OPTIONS answer")), 200);
    let ping = options
        .replace("OPTIONS", "PING")
        .replace("branch=z9hG4bKs", "branch=z9hG4bKp")
        .replace(
            "Content-Length: 0\r\n\r\n",
            "Content-Length: 5\r\n\r\nhello",
        );
    let again = options.replace("CSeq: 1", "CSeq: 2");
    a.write_all(format!("{ping}\r\n\r\n{again}").as_bytes())
        .unwrap();
    let r = read_message(a).expect("an answer to PING");
    assert_eq!(status(&r), 501, "{r}");
    assert!(header(&r, "CSeq")[0].contains("PING"), "{r}");
    let r = read_message(a).expect("an answer to the OPTIONS after it");
    assert_eq!(status(&r), 200, "{r}");
    assert!(header(&r, "CSeq")[0].starts_with('2'), "{r}");
}

/// On TCP okcc reads the socket before rsipstack (`serve/tcp_front.rs`):
/// a request with a method rsipstack cannot parse gets 501 with `Allow`,
/// alone or pipelined with other requests, and the connection stays open;
/// a message rsipstack cannot frame still closes only its connection.
#[test]
fn req_9_unknown_method_over_tcp_gets_501_and_the_connection_stays() {
    use std::io::{Read, Write as _};
    if !in_own_netns("req_9_unknown_method_over_tcp_gets_501_and_the_connection_stays") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = start_streams(dir.path(), "", &["--sip-tcp", &addr.to_string()]);
    let mut a = connect(addr);
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = a.local_addr().unwrap();
    let options = options_over(local, addr, "TCP");
    unknown_methods_answered_in_order(&mut a, &options);

    // What rsipstack cannot frame still ends that connection, unanswered.
    let mut c = connect(addr);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let bad = options.replace("Content-Length: 0", "Content-Length: lots");
    c.write_all(bad.as_bytes()).unwrap();
    let mut rest = Vec::new();
    let closed = c.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(closed.is_ok(), "the connection is closed: {closed:?}");
    // Other connections are unaffected.
    let mut b = connect(addr);
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = b.local_addr().unwrap();
    b.write_all(options_over(local, addr, "TCP").as_bytes())
        .unwrap();
    assert_eq!(status(&read_message(&mut b).expect("answer")), 200);
    a.write_all(options.replace("CSeq: 1", "CSeq: 3").as_bytes())
        .unwrap();
    assert_eq!(status(&read_message(&mut a).expect("answer")), 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// On TLS okcc terminates the client's session and relays to rsipstack
/// over a second one (`serve/tls_front.rs`): unknown methods get 501 and
/// the connection stays; rsipstack sees each client's own address (the
/// per-source limit tells them apart); what rsipstack cannot frame still
/// closes only its connection; a handshake that never ends is cut.
#[test]
fn req_9_unknown_method_over_tls_gets_501_and_the_connection_stays() {
    use std::io::{Read, Write as _};
    if !in_own_netns("req_9_unknown_method_over_tls_gets_501_and_the_connection_stays") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, ck) = start_tls(dir.path(), "max_connections_per_source = 1\n");
    // Connected, but never a ClientHello: cut after the handshake timeout.
    let mut silent = connect_from([127, 0, 0, 9].into(), addr);
    let silent_since = Instant::now();

    let five: std::net::IpAddr = [127, 0, 0, 5].into();
    let mut a = tls_connect(five, addr, &ck.cert);
    let local = a.sock.local_addr().unwrap();
    let options = options_over(local, addr, "TLS");
    unknown_methods_answered_in_order(&mut a, &options);

    // One connection per source: another source is admitted, a second
    // connection from 127.0.0.5 is not (so rsipstack sees the clients'
    // addresses, not okcc's loopback one).
    let mut b = tls_connect([127, 0, 0, 6].into(), addr, &ck.cert);
    let local_b = b.sock.local_addr().unwrap();
    b.write_all(options_over(local_b, addr, "TLS").as_bytes())
        .unwrap();
    assert_eq!(status(&read_message(&mut b).expect("answer")), 200);
    let mut c = tls_connect(five, addr, &ck.cert);
    let local_c = c.sock.local_addr().unwrap();
    let _ = c.write_all(options_over(local_c, addr, "TLS").as_bytes());
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));

    // What rsipstack cannot frame ends that connection, unanswered.
    let bad =
        options_over(local_b, addr, "TLS").replace("Content-Length: 0", "Content-Length: lots");
    b.write_all(bad.as_bytes()).unwrap();
    let mut rest = Vec::new();
    let _ = b.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    // The first connection is unaffected.
    a.write_all(options.replace("CSeq: 1", "CSeq: 3").as_bytes())
        .unwrap();
    assert_eq!(status(&read_message(&mut a).expect("answer")), 200);

    silent
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut one = [0u8; 1];
    assert!(
        matches!(silent.read(&mut one), Ok(0) | Err(_)),
        "a connection with no handshake is closed"
    );
    let waited = silent_since.elapsed();
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(14)).contains(&waited),
        "closed after {waited:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
