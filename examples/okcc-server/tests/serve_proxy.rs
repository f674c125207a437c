//! The proxy of the real `okcc-server serve` on loopback: the trunk over
//! TLS (a call reaches a trunk whose certificate checks out; a certificate
//! for another name or from an unknown CA is refused with 503 and nothing
//! is sent in clear), OPTIONS to extensions (proxied to the phone, 480 when
//! not registered, the server's own OPTIONS 200) and parallel forking to
//! every contact of an extension (first 2xx wins, the others are
//! cancelled; otherwise the best final answer).
//!
//! Every test feeds the server foreign SIP, so each runs in a network
//! namespace of its own with only loopback up (`unshare -n`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

mod netns;
mod sip_msg;
use netns::in_own_netns;
use sip_msg::{PASSWORD, authorization, challenge, header, status};

const BIN: &str = env!("CARGO_BIN_EXE_okcc-server");
/// A national number: external (prefix `0`), allowed by the toll policy.
const NATIONAL: &str = "0301234567";

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

fn add_extension(dir: &Path, user: &str) {
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
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the server with `config` (TOML) on a free loopback UDP port.
fn start(dir: &Path, config: &str) -> Server {
    let cfg = dir.join("okcc.toml");
    std::fs::write(&cfg, config).unwrap();
    let sip: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
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
        .env(
            "RUST_LOG",
            std::env::var("TEST_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server { child, sip };
    let ua = Ua::new(server.sip);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        ua.send(&format!(
            "OPTIONS sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKready\r\nMax-Forwards: 70\r\n\
             From: <sip:probe@{l}>;tag=1\r\nTo: <sip:{s}>\r\nCall-ID: ready@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            s = server.sip,
            l = ua.local()
        ));
        if let Some(r) = ua.recv_timeout(Duration::from_millis(200)) {
            assert_eq!(status(&r), 200, "the server's own OPTIONS: {r}");
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
        Self {
            sock: UdpSocket::bind("127.0.0.1:0").unwrap(),
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

    /// The next response that is not 100 Trying.
    fn response(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(r) = self.recv_timeout(Duration::from_millis(500))
                && r.starts_with("SIP/2.0 ")
                && status(&r) != 100
            {
                return r;
            }
        }
        panic!("no response");
    }

    /// The next response with status `code` (skips others, e.g. 180 or a
    /// retransmission).
    fn response_with(&self, code: u16) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let r = self.response();
            if status(&r) == code {
                return r;
            }
        }
        panic!("no {code} arrived");
    }

    /// The next request whose method is `method`.
    fn request(&self, method: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(m) = self.recv_timeout(Duration::from_millis(500))
                && m.starts_with(&format!("{method} "))
            {
                return m;
            }
        }
        panic!("no {method} arrived");
    }

    /// REGISTER `user` with digest auth and this socket as contact.
    fn register(&self, user: &str) {
        let l = self.local();
        let s = self.server;
        let p = l.port();
        let msg = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKreg{user}{p}{cseq}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{user}@{s}>;tag=r{cseq}\r\nTo: <sip:{user}@{s}>\r\n\
                 Call-ID: reg-{user}-{p}@t\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{l}>\r\n\
                 Expires: 600\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        };
        self.send(&msg(1, ""));
        let r = self.response();
        assert_eq!(status(&r), 401, "{r}");
        let ch = challenge(&r, "WWW-Authenticate");
        let auth = authorization("Authorization", &ch, user, "REGISTER", &format!("sip:{s}"));
        self.send(&msg(2, &auth));
        let r = self.response();
        assert_eq!(status(&r), 200, "{r}");
    }

    /// A request of 1001 outside a dialog.
    fn out_of_dialog(
        &self,
        method: &str,
        uri: &str,
        call_id: &str,
        cseq: u32,
        branch: &str,
        extra: &str,
    ) -> String {
        let l = self.local();
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
             From: <sip:1001@{s}>;tag=caller\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:1001@{l}>\r\n{extra}Content-Length: 0\r\n\r\n",
            s = self.server
        )
    }

    /// ACK of a non-2xx answer to the INVITE with `branch`.
    fn ack(&self, uri: &str, call_id: &str, cseq: u32, branch: &str, resp: &str) {
        let l = self.local();
        let to = header(resp, "To")[0].to_owned();
        self.send(&format!(
            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
             From: <sip:1001@{s}>;tag=caller\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
            s = self.server
        ));
    }

    /// `method` as 1001 to `uri`: 407 (ACKed for an INVITE), then again
    /// with credentials (CSeq 2, branch `{call_id}2`); returns the first
    /// answer other than 100 to the authenticated request.
    fn authenticated(&self, method: &str, uri: &str, call_id: &str) -> String {
        self.send(&self.out_of_dialog(method, uri, call_id, 1, &format!("{call_id}1"), ""));
        let r = self.response();
        assert_eq!(status(&r), 407, "{r}");
        if method == "INVITE" {
            self.ack(uri, call_id, 1, &format!("{call_id}1"), &r);
        }
        let ch = challenge(&r, "Proxy-Authenticate");
        let auth = authorization("Proxy-Authorization", &ch, "1001", method, uri);
        self.send(&self.out_of_dialog(method, uri, call_id, 2, &format!("{call_id}2"), &auth));
        self.response()
    }
}

/// A response of a phone (or the trunk) to `req`.
fn answer(req: &str, code: &str, to_tag: &str, extra: &str) -> String {
    let vias: String = header(req, "Via")
        .iter()
        .map(|v| format!("Via: {v}\r\n"))
        .collect();
    let to = header(req, "To")[0];
    let to = if to.contains("tag=") {
        to.to_owned()
    } else {
        format!("{to};tag={to_tag}")
    };
    format!(
        "SIP/2.0 {code}\r\n{vias}To: {to}\r\nFrom: {}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
        header(req, "From")[0],
        header(req, "Call-ID")[0],
        header(req, "CSeq")[0],
    )
}

// ---------------------------------------------------------------- TLS trunk

/// A CA and a leaf certificate it signed for `name`.
struct Pki {
    ca_pem: String,
    leaf_pem: String,
    leaf_key_pem: String,
}

fn pki(name: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        leaf_pem: leaf.pem(),
        leaf_key_pem: leaf_key.serialize_pem(),
    }
}

/// Records every byte read from the TCP stream (what the proxy sent).
struct Tee {
    inner: TcpStream,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What the TLS trunk saw on one connection.
#[derive(Debug)]
struct TrunkSeen {
    /// Every raw byte the proxy sent on the TCP connection.
    raw: Vec<u8>,
    /// The SIP request read after a completed handshake, if any.
    request: Option<String>,
    /// The handshake error, if it failed.
    handshake_error: Option<String>,
}

/// A SIP/TLS trunk on `listener` presenting `pki`'s leaf: handles one
/// connection; after a handshake it reads one request, answers it with
/// `code` and reports it.
fn tls_trunk(listener: TcpListener, pki: &Pki, code: &'static str) -> mpsc::Receiver<TrunkSeen> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain = vec![CertificateDer::from_pem_slice(pki.leaf_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.leaf_key_pem.as_bytes()).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut tee = Tee {
            inner: tcp,
            seen: Arc::clone(&seen),
        };
        let mut conn = rustls::ServerConnection::new(config).unwrap();
        let mut handshake_error = None;
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut tee) {
                handshake_error = Some(e.to_string());
                break;
            }
        }
        let mut request = None;
        if handshake_error.is_none() {
            let mut tls = rustls::Stream::new(&mut conn, &mut tee);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let req = String::from_utf8_lossy(&buf).into_owned();
            if req.starts_with("INVITE ") {
                let _ = tls.write_all(answer(&req, code, "trunk", "").as_bytes());
                let _ = tls.flush();
            }
            request = Some(req);
            // Let the proxy's ACK of the final answer arrive.
            let _ = tls.read(&mut chunk);
        }
        let raw = seen.lock().unwrap().clone();
        let _ = tx.send(TrunkSeen {
            raw,
            request,
            handshake_error,
        });
    });
    rx
}

/// Starts a server whose trunk is `trunk_port` over TLS checked against
/// `ca_pem` for the name `trunk.test` (plus `extra` settings).
fn start_tls_trunk_server(dir: &Path, trunk_port: u16, ca_pem: &str, extra: &str) -> Server {
    add_extension(dir, "1001");
    let ca = dir.join("trunk-ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    start(
        dir,
        &format!(
            "digest_algorithms = [\"MD5\", \"SHA-256\"]\n\n[trunk]\naddress = \"127.0.0.1:{trunk_port}\"\n\
             transport = \"tls\"\ntls_server_name = \"trunk.test\"\ntls_ca_file = \"{}\"\n{extra}",
            ca.display()
        ),
    )
}

#[test]
fn req_9_call_reaches_a_trunk_over_verified_tls() {
    if !in_own_netns("req_9_call_reaches_a_trunk_over_verified_tls") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki("trunk.test");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = tls_trunk(listener, &pki, "486 Busy Here");
    let server = start_tls_trunk_server(dir.path(), port, &pki.ca_pem, "");
    let ua = Ua::new(server.sip);
    let uri = format!("sip:{NATIONAL}@{}", server.sip);
    let r = ua.authenticated("INVITE", &uri, "tls-ok");
    assert_eq!(status(&r), 486, "the trunk's answer is relayed: {r}");
    ua.ack(&uri, "tls-ok", 2, "tls-ok2", &r);
    let seen = seen.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(seen.handshake_error, None);
    let req = seen.request.unwrap();
    assert!(
        // Parameter values are case-insensitive (RFC 3261 §19.1.4);
        // rsipstack writes `transport=TLS`.
        req.to_ascii_lowercase().starts_with(&format!(
            "invite sip:{NATIONAL}@trunk.test:{port};transport=tls sip/2.0\r\n"
        )),
        "{req}"
    );
    assert!(
        header(&req, "Via")[0].starts_with("SIP/2.0/TLS "),
        "our Via names TLS: {req}"
    );
    assert!(!req.contains("Proxy-Authorization"), "{req}");
    let raw = String::from_utf8_lossy(&seen.raw);
    assert!(!raw.contains("INVITE"), "the request went encrypted");
}

/// A trunk presenting `pki`'s leaf while the server trusts `ca_pem` for
/// `trunk.test`: the call gets 503 and the trunk sees no byte of SIP.
fn refused_trunk(test: &str, pki: &Pki, ca_pem: &str) {
    if !in_own_netns(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Plain UDP on the same port: nothing may fall back to it.
    let udp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let seen = tls_trunk(listener, pki, "200 OK");
    let server = start_tls_trunk_server(dir.path(), port, ca_pem, "");
    let ua = Ua::new(server.sip);
    let uri = format!("sip:{NATIONAL}@{}", server.sip);
    let r = ua.authenticated("INVITE", &uri, "tls-bad");
    assert_eq!(status(&r), 503, "{r}");
    ua.ack(&uri, "tls-bad", 2, "tls-bad2", &r);
    let seen = seen.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(seen.handshake_error.is_some(), "{seen:?}");
    assert!(seen.request.is_none(), "{seen:?}");
    let raw = String::from_utf8_lossy(&seen.raw);
    assert!(
        !raw.contains("INVITE") && !raw.contains("SIP/2.0") && !raw.contains(NATIONAL),
        "nothing in clear: {raw}"
    );
    udp.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 2048];
    assert!(udp.recv_from(&mut buf).is_err(), "no plain-UDP fallback");
}

#[test]
fn req_9_trunk_certificate_for_another_name_is_refused_with_503() {
    let other = pki("other.test");
    refused_trunk(
        "req_9_trunk_certificate_for_another_name_is_refused_with_503",
        &other,
        &other.ca_pem,
    );
}

#[test]
fn req_9_trunk_certificate_from_an_unknown_ca_is_refused_with_503() {
    let trusted = pki("trunk.test");
    let rogue = pki("trunk.test");
    refused_trunk(
        "req_9_trunk_certificate_from_an_unknown_ca_is_refused_with_503",
        &rogue,
        &trusted.ca_pem,
    );
}

#[test]
fn req_9_trunk_insecure_skip_verify_accepts_an_unknown_ca() {
    if !in_own_netns("req_9_trunk_insecure_skip_verify_accepts_an_unknown_ca") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trusted = pki("trunk.test");
    let rogue = pki("rogue.test");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = tls_trunk(listener, &rogue, "486 Busy Here");
    let server = start_tls_trunk_server(
        dir.path(),
        port,
        &trusted.ca_pem,
        "insecure_skip_verify = true\n",
    );
    let ua = Ua::new(server.sip);
    let uri = format!("sip:{NATIONAL}@{}", server.sip);
    let r = ua.authenticated("INVITE", &uri, "tls-insecure");
    assert_eq!(status(&r), 486, "{r}");
    ua.ack(&uri, "tls-insecure", 2, "tls-insecure2", &r);
    let seen = seen.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(seen.handshake_error, None);
    assert!(seen.request.unwrap().starts_with("INVITE "));
}

// ------------------------------------------------------------------ OPTIONS

#[test]
fn req_9_options_to_an_extension_reaches_its_phone_or_is_480() {
    if !in_own_netns("req_9_options_to_an_extension_reaches_its_phone_or_is_480") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for u in ["1001", "1002", "1003"] {
        add_extension(dir.path(), u);
    }
    let server = start(dir.path(), "digest_algorithms = [\"MD5\", \"SHA-256\"]\n");
    let phone = Ua::new(server.sip);
    phone.register("1002");
    let ua = Ua::new(server.sip);
    // Registered: the phone gets it (authenticated; our Via on top) and its
    // answer comes back.
    let uri = format!("sip:1002@{}", server.sip);
    ua.send(&ua.out_of_dialog("OPTIONS", &uri, "opt1", 1, "opt11", ""));
    let r = ua.response();
    assert_eq!(status(&r), 407, "who asks must authenticate: {r}");
    assert!(
        phone.recv_timeout(Duration::from_millis(300)).is_none(),
        "nothing reaches the phone before authentication"
    );
    let ch = challenge(&r, "Proxy-Authenticate");
    let auth = authorization("Proxy-Authorization", &ch, "1001", "OPTIONS", &uri);
    ua.send(&ua.out_of_dialog("OPTIONS", &uri, "opt1", 2, "opt12", &auth));
    let req = phone.request("OPTIONS");
    assert!(
        req.starts_with(&format!("OPTIONS sip:1002@{} SIP/2.0", phone.local())),
        "{req}"
    );
    assert_eq!(header(&req, "Via").len(), 2, "{req}");
    assert!(!req.contains("Proxy-Authorization"), "{req}");
    phone.send(&answer(&req, "200 OK", "ph", "Allow: INVITE, ACK, BYE\r\n"));
    let r = ua.response();
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(
        header(&r, "Allow"),
        ["INVITE, ACK, BYE"],
        "the phone's: {r}"
    );
    assert_eq!(header(&r, "Via").len(), 1, "{r}");
    // An extension with no phone registered: 480.
    let r = ua.authenticated("OPTIONS", &format!("sip:1003@{}", server.sip), "opt2");
    assert_eq!(status(&r), 480, "{r}");
    // No such extension: 404.
    let r = ua.authenticated("OPTIONS", &format!("sip:4711@{}", server.sip), "opt3");
    assert_eq!(status(&r), 404, "{r}");
    // Another domain: 403 at once (never relayed).
    ua.send(&ua.out_of_dialog(
        "OPTIONS",
        "sip:1002@evil.example.com",
        "opt4",
        1,
        "opt41",
        "",
    ));
    assert_eq!(status(&ua.response()), 403);
    assert!(phone.recv_timeout(Duration::from_millis(300)).is_none());
}

// ------------------------------------------------------------------ forking

/// INVITE of 1001 to 1002 with credentials, after the 407 round.
fn invite_1002(ua: &Ua, server: &Server, call_id: &str) -> String {
    let uri = format!("sip:1002@{}", server.sip);
    ua.send(&ua.out_of_dialog("INVITE", &uri, call_id, 1, &format!("{call_id}1"), ""));
    let r = ua.response();
    assert_eq!(status(&r), 407, "{r}");
    ua.ack(&uri, call_id, 1, &format!("{call_id}1"), &r);
    let ch = challenge(&r, "Proxy-Authenticate");
    let auth = authorization("Proxy-Authorization", &ch, "1001", "INVITE", &uri);
    ua.send(&ua.out_of_dialog("INVITE", &uri, call_id, 2, &format!("{call_id}2"), &auth));
    uri
}

#[test]
fn req_9_invite_forks_to_every_contact_first_2xx_wins_the_rest_is_cancelled() {
    if !in_own_netns("req_9_invite_forks_to_every_contact_first_2xx_wins_the_rest_is_cancelled") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_extension(dir.path(), "1001");
    add_extension(dir.path(), "1002");
    let server = start(dir.path(), "digest_algorithms = [\"MD5\", \"SHA-256\"]\n");
    let desk = Ua::new(server.sip);
    desk.register("1002");
    let soft = Ua::new(server.sip);
    soft.register("1002");
    let ua = Ua::new(server.sip);
    let uri = invite_1002(&ua, &server, "fork1");
    let inv_desk = desk.request("INVITE");
    let inv_soft = soft.request("INVITE");
    assert!(
        inv_desk.starts_with(&format!("INVITE sip:1002@{} ", desk.local())),
        "{inv_desk}"
    );
    assert!(
        inv_soft.starts_with(&format!("INVITE sip:1002@{} ", soft.local())),
        "{inv_soft}"
    );
    assert_ne!(
        header(&inv_desk, "Via")[0],
        header(&inv_soft, "Via")[0],
        "one branch each"
    );
    desk.send(&answer(&inv_desk, "180 Ringing", "desk", ""));
    assert_eq!(status(&ua.response()), 180);
    // The soft phone answers first.
    let contact = format!("Contact: <sip:1002@{}>\r\n", soft.local());
    soft.send(&answer(&inv_soft, "200 OK", "soft", &contact));
    let ok = ua.response_with(200);
    assert!(header(&ok, "To")[0].contains("tag=soft"), "{ok}");
    assert_eq!(header(&ok, "Via").len(), 1, "{ok}");
    // The desk phone is cancelled on its branch and ends its INVITE.
    let cancel = desk.request("CANCEL");
    assert_eq!(header(&cancel, "Via")[0], header(&inv_desk, "Via")[0]);
    desk.send(&answer(&cancel, "200 OK", "desk", ""));
    desk.send(&answer(&inv_desk, "487 Request Terminated", "desk", ""));
    // The caller's ACK and BYE go to the soft phone only.
    let l = ua.local();
    let s = server.sip;
    let to = header(&ok, "To")[0];
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} sip:1002@{soft} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{branch}\r\n\
             Route: <sip:{s};lr>\r\nMax-Forwards: 70\r\nFrom: <sip:1001@{s}>;tag=caller\r\n\
             To: {to}\r\nCall-ID: fork1\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            soft = soft.local()
        )
    };
    ua.send(&in_dialog("ACK", 2, "fork1ack"));
    let ack = soft.request("ACK");
    assert!(header(&ack, "To")[0].contains("tag=soft"), "{ack}");
    ua.send(&in_dialog("BYE", 3, "fork1bye"));
    let bye = soft.request("BYE");
    soft.send(&answer(&bye, "200 OK", "soft", ""));
    assert_eq!(status(&ua.response_with(200)), 200);
    // Nothing of this dialog reaches the desk phone (the 487's ACK is
    // hop-by-hop and may come; no ACK of a 2xx, no BYE).
    let deadline = Instant::now() + Duration::from_millis(700);
    while Instant::now() < deadline {
        if let Some(m) = desk.recv_timeout(Duration::from_millis(100)) {
            assert!(!m.starts_with("BYE "), "{m}");
            assert!(!(m.starts_with("ACK ") && m.contains("tag=soft")), "{m}");
        }
    }
    let _ = uri;
}

#[test]
fn req_9_forked_invite_without_2xx_gets_the_best_final_answer() {
    if !in_own_netns("req_9_forked_invite_without_2xx_gets_the_best_final_answer") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_extension(dir.path(), "1001");
    add_extension(dir.path(), "1002");
    let server = start(dir.path(), "digest_algorithms = [\"MD5\", \"SHA-256\"]\n");
    let desk = Ua::new(server.sip);
    desk.register("1002");
    let soft = Ua::new(server.sip);
    soft.register("1002");
    let ua = Ua::new(server.sip);
    let uri = invite_1002(&ua, &server, "fork2");
    let inv_desk = desk.request("INVITE");
    let inv_soft = soft.request("INVITE");
    // 5xx first, then 4xx: the lower class (486) is the answer, and only
    // once both have answered.
    desk.send(&answer(&inv_desk, "500 Server Internal Error", "desk", ""));
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        if let Some(m) = ua.recv_timeout(Duration::from_millis(100)) {
            assert!(
                status(&m) < 200,
                "no final answer while a branch is open: {m}"
            );
        }
    }
    soft.send(&answer(&inv_soft, "486 Busy Here", "soft", ""));
    let r = ua.response();
    assert_eq!(status(&r), 486, "{r}");
    assert!(header(&r, "To")[0].contains("tag=soft"), "{r}");
    ua.ack(&uri, "fork2", 2, "fork22", &r);
}
