//! Calls through the real `okcc-server serve` proxy on loopback: a sipp
//! call between two registered UAs (INVITE, 407, 200, ACK, BYE), a blocked
//! international number (403, never forwarded), an unserved domain
//! (refused, never forwarded), masking toward a masked callee, and the
//! concurrent-call counter released by a failed call.
//!
//! Every test feeds the server foreign SIP, so each runs in a network
//! namespace of its own with only loopback up (`unshare -n`).

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod netns;
mod sip_msg;
use netns::in_own_netns;
use sip_msg::{PASSWORD, authorization, challenge, header, status};

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

fn add_extension(dir: &Path, user: &str) {
    add_extension_in(dir, user, None);
}

/// Adds `user` with the test password, in `tenant` when given.
fn add_extension_in(dir: &Path, user: &str, tenant: Option<&str>) {
    let mut c = Command::new(BIN)
        .args(["extension", "add", user, "--password-stdin", "--data-dir"])
        .arg(dir)
        .args(tenant.map(|t| ["--tenant", t]).into_iter().flatten())
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
    start_with(dir, config, &[])
}

/// [`start`] with more command-line arguments.
fn start_with(dir: &Path, config: &str, args: &[&str]) -> Server {
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
        .args(args)
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
        Self::bound("127.0.0.1:0", server)
    }

    fn bound(addr: &str, server: SocketAddr) -> Self {
        Self {
            sock: UdpSocket::bind(addr).unwrap(),
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

    /// The next response, skipping 100 Trying.
    fn final_or_ringing(&self) -> String {
        loop {
            let r = self
                .recv_timeout(Duration::from_secs(20))
                .expect("no response");
            if status(&r) != 100 {
                return r;
            }
        }
    }

    /// The next request whose method is `method` (skips retransmissions
    /// of anything else).
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
        let msg = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKreg{user}{cseq}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{user}@{s}>;tag=r{cseq}\r\nTo: <sip:{user}@{s}>\r\n\
                 Call-ID: reg-{user}@t\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{l}>\r\n\
                 Expires: 600\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        };
        self.send(&msg(1, ""));
        let r = self.final_or_ringing();
        assert_eq!(status(&r), 401, "{r}");
        let ch = challenge(&r, "WWW-Authenticate");
        let auth = authorization("Authorization", &ch, user, "REGISTER", &format!("sip:{s}"));
        self.send(&msg(2, &auth));
        let r = self.final_or_ringing();
        assert_eq!(status(&r), 200, "{r}");
    }

    fn invite(&self, uri: &str, call_id: &str, cseq: u32, branch: &str, extra: &str) -> String {
        let l = self.local();
        format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
             From: <sip:1001@{s}>;tag=caller\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} INVITE\r\nContact: <sip:1001@{l}>\r\n{extra}Content-Length: 0\r\n\r\n",
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

    /// INVITE as 1001 to `uri`: 407, ACK, INVITE with credentials; returns
    /// the first answer other than 100 to the authenticated INVITE.
    fn call(&self, uri: &str, call_id: &str, extra: &str) -> String {
        self.send(&self.invite(uri, call_id, 1, &format!("{call_id}1"), extra));
        let r = self.final_or_ringing();
        assert_eq!(status(&r), 407, "{r}");
        self.ack(uri, call_id, 1, &format!("{call_id}1"), &r);
        let ch = challenge(&r, "Proxy-Authenticate");
        let auth = authorization("Proxy-Authorization", &ch, "1001", "INVITE", uri);
        self.send(&self.invite(
            uri,
            call_id,
            2,
            &format!("{call_id}2"),
            &format!("{extra}{auth}"),
        ));
        self.final_or_ringing()
    }
}

/// sipp, or `None` with a message when it is missing outside CI.
fn sipp() -> Option<&'static str> {
    if Command::new("sipp").arg("-v").output().is_ok() {
        return Some("sipp");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "sipp is missing (apt-get install sip-tester)"
    );
    eprintln!("skipping: sipp is not installed (apt-get install sip-tester)");
    None
}

/// MD5 first: sipp answers only the first challenge and knows only MD5.
const MD5_FIRST: &str = "digest_algorithms = [\"MD5\", \"SHA-256\"]\n";

#[test]
fn req_9_sipp_call_between_two_registered_uas_with_bye() {
    let Some(sipp) = sipp() else { return };
    if !in_own_netns("req_9_sipp_call_between_two_registered_uas_with_bye") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_extension(dir.path(), "1001");
    add_extension(dir.path(), "1002");
    let server = start(dir.path(), MD5_FIRST);
    // The callee's phone address is registered, then sipp answers on it.
    let callee_port = {
        let ua = Ua::new(server.sip);
        ua.register("1002");
        ua.local().port()
    };
    let sdir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp");
    let uas = Command::new(sipp)
        .arg("-sf")
        .arg(sdir.join("call_uas.xml"))
        .args([
            "-s",
            "1002",
            "-i",
            "127.0.0.1",
            "-p",
            &callee_port.to_string(),
        ])
        .args(["-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let uac = Command::new(sipp)
        .arg("-sf")
        .arg(sdir.join("call_uac.xml"))
        .args([
            "-s",
            "1002",
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-m", "1", "-timeout", "15s", "-timeout_error", "-nostdin"])
        .arg(server.sip.to_string())
        .output()
        .unwrap();
    let uas = uas.wait_with_output().unwrap();
    assert!(
        uac.status.success(),
        "caller sipp failed: {}\n{}",
        String::from_utf8_lossy(&uac.stdout),
        String::from_utf8_lossy(&uac.stderr)
    );
    assert!(
        uas.status.success(),
        "callee sipp failed: {}\n{}",
        String::from_utf8_lossy(&uas.stdout),
        String::from_utf8_lossy(&uas.stderr)
    );
}

#[test]
fn req_9_call_to_blocked_international_number_is_403_and_never_forwarded() {
    if !in_own_netns("req_9_call_to_blocked_international_number_is_403_and_never_forwarded") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_extension(dir.path(), "1001");
    let trunk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = start(
        dir.path(),
        &format!("[trunk]\naddress = \"{}\"\n", trunk.local_addr().unwrap()),
    );
    let ua = Ua::new(server.sip);
    for (i, number) in ["00442071234567", "+442071234567"].into_iter().enumerate() {
        let uri = format!("sip:{number}@{}", server.sip);
        let r = ua.call(&uri, &format!("intl{i}"), "");
        assert_eq!(status(&r), 403, "{r}");
        ua.ack(&uri, &format!("intl{i}"), 2, &format!("intl{i}2"), &r);
    }
    trunk
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        trunk.recv_from(&mut buf).is_err(),
        "a refused call never reaches the trunk"
    );
}

#[test]
fn req_9_tenant_whitelist_applies_to_calls_from_its_extensions() {
    if !in_own_netns("req_9_tenant_whitelist_applies_to_calls_from_its_extensions") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_extension_in(dir.path(), "1001", Some("acme"));
    add_extension(dir.path(), "1002");
    // acme's phones may only use its office network, not loopback.
    let rules = dir.path().join("access.rules");
    std::fs::write(&rules, "allow tenant:acme 192.0.2.0/24\n").unwrap();
    let server = start(
        dir.path(),
        &format!("rules = {:?}\n", rules.to_str().unwrap()),
    );
    let ua = Ua::new(server.sip);
    let uri = format!("sip:1002@{}", server.sip);
    ua.send(&ua.invite(&uri, "wl", 1, "wl1", ""));
    let r = ua.final_or_ringing();
    // Refused by the tenant whitelist before any challenge (a 407 here
    // would mean the rule was judged without the caller's tenant).
    assert_eq!(status(&r), 403, "{r}");
    ua.ack(&uri, "wl", 1, "wl1", &r);
}

#[test]
fn req_9_call_to_unserved_domain_or_unknown_number_is_refused_never_forwarded() {
    if !in_own_netns("req_9_call_to_unserved_domain_or_unknown_number_is_refused_never_forwarded") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_extension(dir.path(), "1001");
    add_extension(dir.path(), "1002");
    let server = start(dir.path(), "");
    let callee = Ua::new(server.sip);
    callee.register("1002");
    let ua = Ua::new(server.sip);
    // Another domain: refused at once, before any challenge.
    for uri in [
        "sip:1002@evil.example.com".to_owned(),
        format!("sip:1002@{}", callee.local()),
    ] {
        ua.send(&ua.invite(&uri, "relay", 1, "relay1", ""));
        let r = ua.final_or_ringing();
        assert_eq!(status(&r), 403, "{uri}: {r}");
        ua.ack(&uri, "relay", 1, "relay1", &r);
    }
    // An unknown user or an external number with no trunk: 404 after auth.
    for (i, user) in ["4711", "00442071234567"].into_iter().enumerate() {
        let uri = format!("sip:{user}@{}", server.sip);
        let r = ua.call(&uri, &format!("nf{i}"), "");
        assert_eq!(status(&r), 404, "{r}");
        ua.ack(&uri, &format!("nf{i}"), 2, &format!("nf{i}2"), &r);
    }
    assert!(
        callee.recv_timeout(Duration::from_millis(500)).is_none(),
        "nothing reaches a phone for a refused call"
    );
}

#[test]
fn req_9_masked_callee_sees_masked_caller_and_failed_calls_release_the_counter() {
    if !in_own_netns("req_9_masked_callee_sees_masked_caller_and_failed_calls_release_the_counter")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_extension(dir.path(), "1001");
    add_extension(dir.path(), "1002");
    let server = start(
        dir.path(),
        "[proxy]\nmask_callees = [\"1002\"]\n\n\
         [toll.account_limits]\nconcurrent_calls = { critical = 1 }\n",
    );
    let callee = Ua::new(server.sip);
    callee.register("1002");
    let ua = Ua::new(server.sip);
    let uri = format!("sip:1002@{}", server.sip);
    // Three calls one after the other, each refused by the phone: with a
    // concurrent-call limit of 1, a leaked counter would refuse call 2.
    for i in 0..3 {
        let call_id = format!("mask{i}");
        let pai = "P-Asserted-Identity: <sip:13812345678@example.com>\r\n";
        ua.send(&ua.invite(&uri, &call_id, 1, &format!("{call_id}1"), pai));
        let r = ua.final_or_ringing();
        assert_eq!(status(&r), 407, "{r}");
        ua.ack(&uri, &call_id, 1, &format!("{call_id}1"), &r);
        let ch = challenge(&r, "Proxy-Authenticate");
        let auth = authorization("Proxy-Authorization", &ch, "1001", "INVITE", &uri);
        ua.send(&ua.invite(
            &uri,
            &call_id,
            2,
            &format!("{call_id}2"),
            &format!("{pai}{auth}"),
        ));
        let inv = callee.request("INVITE");
        assert!(inv.contains("138****5678"), "masked: {inv}");
        assert!(!inv.contains("13812345678"), "no clear number: {inv}");
        assert!(!inv.contains("Proxy-Authorization"), "{inv}");
        assert_eq!(header(&inv, "Record-Route").len(), 1, "{inv}");
        let vias = header(&inv, "Via");
        assert_eq!(vias.len(), 2, "{inv}");
        assert!(vias[0].contains(&server.sip.to_string()), "{inv}");
        // The phone is busy.
        let busy = format!(
            "SIP/2.0 486 Busy Here\r\n{}To: {};tag=callee{i}\r\nFrom: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
            vias.iter()
                .map(|v| format!("Via: {v}\r\n"))
                .collect::<String>(),
            header(&inv, "To")[0],
            header(&inv, "From")[0],
            header(&inv, "Call-ID")[0],
            header(&inv, "CSeq")[0],
        );
        callee.send(&busy);
        let r = ua.final_or_ringing();
        assert_eq!(status(&r), 486, "call {i}: {r}");
        assert_eq!(header(&r, "Via").len(), 1, "our Via is gone: {r}");
        ua.ack(&uri, &call_id, 2, &format!("{call_id}2"), &r);
    }
}

/// A response of the phone to a request it received through the proxy.
fn answer(req: &str, code: &str, to_tag: &str) -> String {
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
        "SIP/2.0 {code}\r\n{vias}To: {to}\r\nFrom: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        header(req, "From")[0],
        header(req, "Call-ID")[0],
        header(req, "CSeq")[0],
    )
}

#[test]
fn req_9_cancelled_call_reaches_the_phone_and_releases_the_counter() {
    if !in_own_netns("req_9_cancelled_call_reaches_the_phone_and_releases_the_counter") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_extension(dir.path(), "1001");
    add_extension(dir.path(), "1002");
    let server = start(
        dir.path(),
        "[toll.account_limits]\nconcurrent_calls = { critical = 1 }\n",
    );
    let callee = Ua::new(server.sip);
    callee.register("1002");
    let ua = Ua::new(server.sip);
    let uri = format!("sip:1002@{}", server.sip);
    for i in 0..2 {
        let call_id = format!("cancel{i}");
        ua.send(&ua.invite(&uri, &call_id, 1, &format!("{call_id}1"), ""));
        let r = ua.final_or_ringing();
        assert_eq!(status(&r), 407, "{r}");
        ua.ack(&uri, &call_id, 1, &format!("{call_id}1"), &r);
        let ch = challenge(&r, "Proxy-Authenticate");
        let auth = authorization("Proxy-Authorization", &ch, "1001", "INVITE", &uri);
        let invite = ua.invite(&uri, &call_id, 2, &format!("{call_id}2"), &auth);
        ua.send(&invite);
        let inv = callee.request("INVITE");
        callee.send(&answer(&inv, "180 Ringing", "ph"));
        assert_eq!(status(&ua.final_or_ringing()), 180, "call {i}");
        // The caller gives up.
        let l = ua.local();
        ua.send(&format!(
            "CANCEL {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{call_id}2\r\nMax-Forwards: 70\r\n\
             From: <sip:1001@{s}>;tag=caller\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
             CSeq: 2 CANCEL\r\nContent-Length: 0\r\n\r\n",
            s = server.sip
        ));
        let r = ua.final_or_ringing();
        assert_eq!(status(&r), 200, "CANCEL answered: {r}");
        assert!(header(&r, "CSeq")[0].ends_with("CANCEL"), "{r}");
        // The phone gets the CANCEL for the same branch, answers it and
        // ends the INVITE with 487.
        let cancel = callee.request("CANCEL");
        assert_eq!(header(&cancel, "Via")[0], header(&inv, "Via")[0]);
        callee.send(&answer(&cancel, "200 OK", "ph"));
        callee.send(&answer(&inv, "487 Request Terminated", "ph"));
        let r = ua.final_or_ringing();
        assert_eq!(status(&r), 487, "call {i}: {r}");
        ua.ack(&uri, &call_id, 2, &format!("{call_id}2"), &r);
    }
}

/// A phone on SIP/TLS (rustls, trusting only the server's certificate).
struct TlsPhone {
    tls: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
    local: SocketAddr,
}

impl TlsPhone {
    fn connect(addr: SocketAddr, cert: &rcgen::Certificate) -> Self {
        let config = sip_msg::trusting(cert);
        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let local = tcp.local_addr().unwrap();
        let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
        Self {
            tls: rustls::StreamOwned::new(conn, tcp),
            local,
        }
    }

    fn send(&mut self, msg: &str) {
        self.tls.write_all(msg.as_bytes()).unwrap();
    }

    /// The next whole message (head, then `Content-Length` bytes of body).
    fn recv(&mut self) -> String {
        sip_msg::read_message(&mut self.tls).expect("connection closed")
    }

    /// The next request whose method is `method` (retransmissions of
    /// anything else are skipped).
    fn request(&mut self, method: &str) -> String {
        loop {
            let m = self.recv();
            if m.starts_with(&format!("{method} ")) {
                return m;
            }
        }
    }

    /// REGISTER `user` with digest auth over this connection.
    fn register(&mut self, user: &str) {
        let l = self.local;
        let msg = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS {l};branch=z9hG4bKtreg{cseq}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=t{cseq}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
                 Call-ID: treg-{user}@t\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{l};transport=tls>\r\n\
                 Expires: 600\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        };
        self.send(&msg(1, ""));
        let r = self.recv();
        assert_eq!(status(&r), 401, "{r}");
        let ch = challenge(&r, "WWW-Authenticate");
        let auth = authorization("Authorization", &ch, user, "REGISTER", "sip:127.0.0.1");
        self.send(&msg(2, &auth));
        let r = self.recv();
        assert_eq!(status(&r), 200, "{r}");
    }
}

/// A phone registered over SIP/TLS is called by a phone on UDP: the INVITE
/// reaches it over the connection it registered on, with two
/// Record-Routes (RFC 5658: the TLS listener first, for it; the UDP one
/// for the caller); the caller's ACK and BYE follow the route set through
/// the proxy and reach the phone over TLS without our Route values.
#[test]
fn req_9_call_to_a_phone_registered_over_tls() {
    if !in_own_netns("req_9_call_to_a_phone_registered_over_tls") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_extension(dir.path(), "1001");
    add_extension(dir.path(), "1002");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let tls_addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let server = start_with(
        dir.path(),
        &format!("tls_cert = {cert:?}\ntls_key = {key:?}\n"),
        &["--sip-tls", &tls_addr.to_string()],
    );
    let mut phone = TlsPhone::connect(tls_addr, &ck.cert);
    phone.register("1002");

    let ua = Ua::new(server.sip);
    let uri = format!("sip:1002@{}", server.sip);
    ua.send(&ua.invite(&uri, "tlscall", 1, "tls1", ""));
    let r = ua.final_or_ringing();
    assert_eq!(status(&r), 407, "{r}");
    ua.ack(&uri, "tlscall", 1, "tls1", &r);
    let ch = challenge(&r, "Proxy-Authenticate");
    let auth = authorization("Proxy-Authorization", &ch, "1001", "INVITE", &uri);
    ua.send(&ua.invite(&uri, "tlscall", 2, "tls2", &auth));

    let inv = phone.request("INVITE");
    let rr = format!("<sip:{tls_addr};transport=tls;lr>, <sip:{};lr>", server.sip);
    assert_eq!(header(&inv, "Record-Route"), [rr.as_str()], "{inv}");
    let vias = header(&inv, "Via");
    assert!(
        vias[0].starts_with(&format!("SIP/2.0/TLS {tls_addr};")),
        "{inv}"
    );
    // To the registered contact (rsipstack prints the parameter value in
    // upper case).
    assert!(
        inv.to_ascii_lowercase().starts_with(&format!(
            "invite sip:1002@{};transport=tls sip/2.0",
            phone.local
        )),
        "{inv}"
    );
    let contact = format!("<sip:1002@{};transport=tls>", phone.local);
    phone.send(&answer(&inv, "200 OK", "callee").replace(
        "Content-Length: 0\r\n",
        &format!("Record-Route: {rr}\r\nContact: {contact}\r\nContent-Length: 0\r\n"),
    ));
    let ok = ua.final_or_ringing();
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(header(&ok, "Record-Route"), [rr.as_str()], "{ok}");

    // The caller's route set is the Record-Route reversed: our UDP
    // listener first.
    let phone_at = phone.local;
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} sip:1002@{p};transport=tls SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{branch}\r\n\
             Route: <sip:{s};lr>, <sip:{tls_addr};transport=tls;lr>\r\nMax-Forwards: 70\r\n\
             From: <sip:1001@{s}>;tag=caller\r\nTo: {to}\r\nCall-ID: tlscall\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n",
            p = phone_at,
            l = ua.local(),
            s = server.sip,
            to = header(&ok, "To")[0],
        )
    };
    ua.send(&in_dialog("ACK", 2, "tlsack"));
    let ack = phone.request("ACK");
    assert!(!ack.contains("Route:"), "our Route values are gone: {ack}");
    ua.send(&in_dialog("BYE", 3, "tlsbye"));
    let bye = phone.request("BYE");
    assert!(!bye.contains("Route:"), "{bye}");
    assert!(
        header(&bye, "Via")[0].starts_with(&format!("SIP/2.0/TLS {tls_addr};")),
        "{bye}"
    );
    phone.send(&answer(&bye, "200 OK", "callee"));
    let r = ua.final_or_ringing();
    assert_eq!(status(&r), 200, "{r}");
    assert!(header(&r, "CSeq")[0].contains("BYE"), "{r}");
}
