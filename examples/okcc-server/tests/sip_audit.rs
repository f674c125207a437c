//! SIP authentication and registration reach the audit trail: a raw UDP
//! client registers a REST-made extension of tenant `acme` (and fails in
//! every way the guard tells apart), then the events are read back through
//! the REST API as the console's dashboard reads them.

mod common;
mod netns;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, SIP_PASSWORD, Server, free_port, free_tcp_port, login};
use netns::in_own_netns;
use okcc_core::credential::DigestAlgorithm;
use serde_json::{Value, json};

const OTHER_PASSWORD: &str = "Blue#Kettle-7741-Quiet";

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

    fn send(&self, msg: &str) {
        self.sock.send_to(msg.as_bytes(), self.server).unwrap();
    }

    fn recv(&self) -> String {
        self.sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 8192];
        let (n, _) = self.sock.recv_from(&mut buf).expect("no SIP reply");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn register(&self, aor: &str, call_id: &str, cseq: u32, expires: u32, extra: &str) -> String {
        let l = self.sock.local_addr().unwrap();
        format!(
            "REGISTER sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{call_id}{cseq}\r\nMax-Forwards: 70\r\n\
             From: <sip:{aor}@{s}>;tag=a{cseq}\r\nTo: <sip:{aor}@{s}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{aor}@{l}>;expires={expires}\r\nUser-Agent: okcc-test\r\n{extra}Content-Length: 0\r\n\r\n",
            s = self.server
        )
    }

    /// REGISTER of `aor` answering the MD5 challenge as `user`/`password`;
    /// the final status.
    fn register_as(
        &self,
        aor: &str,
        user: &str,
        password: &str,
        call_id: &str,
        expires: u32,
    ) -> u16 {
        self.send(&self.register(aor, call_id, 1, expires, ""));
        let r = self.recv();
        assert_eq!(status(&r), 401, "{r}");
        let challenge = r
            .lines()
            .filter_map(|l| l.strip_prefix("WWW-Authenticate: "))
            .find(|c| c.contains("algorithm=MD5"))
            .unwrap_or_else(|| panic!("no MD5 challenge: {r}"))
            .to_owned();
        let auth = authorization(&challenge, user, password, &format!("sip:{}", self.server));
        self.send(&self.register(aor, call_id, 2, expires, &auth));
        status(&self.recv())
    }
}

fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn param<'a>(challenge: &'a str, key: &str) -> &'a str {
    let i = challenge.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
    let rest = &challenge[i..];
    &rest[..rest.find('"').unwrap()]
}

fn authorization(challenge: &str, user: &str, password: &str, uri: &str) -> String {
    let alg = DigestAlgorithm::Md5;
    let realm = param(challenge, "realm");
    let nonce = param(challenge, "nonce");
    let ha1 = alg.hex_digest(format!("{user}:{realm}:{password}").as_bytes());
    let ha2 = alg.hex_digest(format!("REGISTER:{uri}").as_bytes());
    let resp = alg.hex_digest(format!("{ha1}:{nonce}:00000001:5ca1ab1e:auth:{ha2}").as_bytes());
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"5ca1ab1e\"\r\n"
    )
}

fn admin_token(server: &Server) -> String {
    let first = server
        .bootstrap_password(Duration::from_secs(10))
        .expect("bootstrap password on stdout");
    let r = login(server, "admin", &first);
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let c = server.request(
        "PUT",
        "/api/v1/me/password",
        Some(&token),
        Some(json!({"current": first, "new": ADMIN_PASSWORD})),
    );
    assert_eq!(c.status, 204, "{}", c.text);
    let r = login(server, "admin", ADMIN_PASSWORD);
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["token"].as_str().unwrap().to_owned()
}

fn text_detail<'a>(e: &'a Value, key: &str) -> Option<&'a str> {
    e["detail"][key]["text"].as_str()
}

/// The events of `scope` once `done` holds for them (the audit queue
/// writes asynchronously), or the last page after 15 s.
fn events_until(
    server: &Server,
    token: &str,
    scope: &str,
    done: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = server.request(
            "GET",
            &format!("/api/v1/audit/events?scope={scope}&limit=500"),
            Some(token),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        if done(&items) || Instant::now() > deadline {
            return (items, r.text);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn req_5_sip_auth_and_registrations_are_audited_per_tenant_and_read_over_rest() {
    if !in_own_netns("req_5_sip_auth_and_registrations_are_audited_per_tenant_and_read_over_rest") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), free_port(), free_tcp_port());
    let token = admin_token(&server);
    let t = server.request(
        "POST",
        "/api/v1/tenants",
        Some(&token),
        Some(json!({"id": "acme", "name": "Acme Ltd"})),
    );
    assert_eq!(t.status, 201, "{}", t.text);
    for (name, password) in [("1001", SIP_PASSWORD), ("1002", OTHER_PASSWORD)] {
        let e = server.request(
            "POST",
            "/api/v1/scopes/acme/extensions",
            Some(&token),
            Some(json!({"name": name, "display_name": name, "password": password})),
        );
        assert_eq!(e.status, 201, "{}", e.text);
    }

    let ua = Ua::new(server.sip);
    // Success: registered, a binding added.
    assert_eq!(ua.register_as("1001", "1001", SIP_PASSWORD, "ok", 600), 200);
    // Wrong password, unknown user and another account's valid credentials
    // on 1001's AOR: the same 403 for all three.
    assert_eq!(
        ua.register_as("1001", "1001", "Wrong#Password-123", "wp", 600),
        403
    );
    assert_eq!(ua.register_as("9999", "9999", SIP_PASSWORD, "uu", 600), 403);
    assert_eq!(
        ua.register_as("1001", "1002", OTHER_PASSWORD, "mm", 600),
        403
    );
    // Renewal (same address), then removal.
    assert_eq!(
        ua.register_as("1001", "1001", SIP_PASSWORD, "ok2", 600),
        200
    );
    assert_eq!(ua.register_as("1001", "1001", SIP_PASSWORD, "bye", 0), 200);

    let action = |e: &Value| e["action"].as_str().unwrap_or("").to_owned();
    let registers = |items: &[Value], change: &str| {
        items
            .iter()
            .filter(|e| action(e) == "sip.register" && text_detail(e, "binding") == Some(change))
            .count()
    };
    let failure = |items: &[Value], reason: &str| {
        items
            .iter()
            .find(|e| action(e) == "sip.auth-failure" && text_detail(e, "reason") == Some(reason))
            .cloned()
    };
    let (items, text) = events_until(&server, &token, "acme", |items| {
        registers(items, "removed") >= 1 && failure(items, "user-mismatch").is_some()
    });

    // Tenant acme sees its account's events.
    let successes: Vec<&Value> = items
        .iter()
        .filter(|e| action(e) == "sip.auth-success")
        .collect();
    assert_eq!(successes.len(), 3, "{text}");
    let s = successes[0];
    assert_eq!(s["tenant"], json!("acme"), "{text}");
    assert_eq!(s["source"], json!("127.0.0.1"), "{text}");
    assert_eq!(s["actor"]["kind"], json!("sip-account"), "{text}");
    assert_eq!(s["actor"]["account"], json!("1001"), "{text}");
    assert_eq!(text_detail(s, "method"), Some("REGISTER"), "{text}");
    let wp = failure(&items, "wrong-password").unwrap_or_else(|| panic!("wrong-password: {text}"));
    assert_eq!(wp["outcome"]["result"], json!("denied"), "{text}");
    assert_eq!(wp["source"], json!("127.0.0.1"), "{text}");
    assert_eq!(text_detail(&wp, "user"), Some("1001"), "{text}");
    let mm = failure(&items, "user-mismatch").unwrap();
    assert_eq!(text_detail(&mm, "user"), Some("1002"), "{text}");
    assert_eq!(text_detail(&mm, "claimed_user"), Some("1001"), "{text}");
    assert_eq!(registers(&items, "added"), 1, "{text}");
    // The renewal came from the address the binding had: no binding
    // change (its sip.auth-success above records it).
    assert_eq!(registers(&items, "refreshed"), 0, "{text}");
    assert_eq!(registers(&items, "removed"), 1, "{text}");
    // What the console's dashboard cards count (console/app.js).
    let dashboard_failures = items
        .iter()
        .filter(|e| action(e) == "sip.auth-failure" && e["outcome"]["result"] == json!("denied"))
        .count();
    assert_eq!(
        dashboard_failures, 2,
        "wrong password + mismatch in acme: {text}"
    );

    // The unknown user belongs to no tenant: platform scope only, recorded
    // as such (the wire answer was the same 403).
    let (all, all_text) = events_until(&server, &token, "platform", |items| {
        failure(items, "unknown-user").is_some()
    });
    let uu = failure(&all, "unknown-user").unwrap_or_else(|| panic!("{all_text}"));
    assert_eq!(uu["tenant"], Value::Null, "{all_text}");
    assert!(failure(&items, "unknown-user").is_none(), "{text}");

    // Never a secret: no password, digest response, nonce or HA1.
    for t in [&text, &all_text] {
        assert!(
            !t.contains(SIP_PASSWORD) && !t.contains(OTHER_PASSWORD),
            "{t}"
        );
        assert!(!t.contains("Wrong#Password-123"), "{t}");
        assert!(
            !t.contains("response") && !t.contains("nonce") && !t.contains("ha1"),
            "{t}"
        );
    }
    let m = server.request("GET", "/metrics", None, None);
    assert!(
        m.text.contains("okcc_sip_audit_dropped_total 0"),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("okcc_sip_auth_failures_total 3"),
        "{}",
        m.text
    );
}
