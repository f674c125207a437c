use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use okcc_audit::DetailValue;
use okcc_core::access::AccessControl;
use okcc_core::credential::{CredentialStore, MemoryCredentialStore, SipCredential};
use okcc_core::{Decision, DenyReason, PasswordPolicy};

use super::*;
use crate::digest::{DigestConfig, response};

const REALM: &str = "example.com";
const PASSWORD: &str = "TAV#1532afhj@qF344";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

struct Fixture {
    guard: Guard,
    audit: Arc<MemoryGuardAudit>,
    t0: Instant,
    w0: SystemTime,
}

impl Fixture {
    fn new(rules: &str) -> Self {
        Self::with(rules, GuardConfig::default())
    }

    fn with(rules: &str, config: GuardConfig) -> Self {
        let access = Arc::new(AccessControl::new(None));
        access.load_rule_text("rules.txt", rules).expect("rules");
        let store = MemoryCredentialStore::new();
        let accepted = PasswordPolicy::default()
            .check(PASSWORD, &[])
            .expect("accepted");
        rt().block_on(store.set_sip_credential(SipCredential::derive("1001", REALM, &accepted)))
            .expect("stored");
        let audit = Arc::new(MemoryGuardAudit::new());
        let guard = Guard::new(
            config,
            access,
            Arc::new(DigestServer::new(DigestConfig::new(REALM, vec![9; 32]))),
            Arc::new(store),
        )
        .with_audit(audit.clone());
        Self {
            guard,
            audit,
            t0: Instant::now(),
            w0: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        }
    }

    fn now(&self, secs: u64) -> Now {
        Now::new(
            self.t0 + Duration::from_secs(secs),
            self.w0 + Duration::from_secs(secs),
        )
    }

    /// A REGISTER for `user`, with credentials for `password` when given.
    fn register(&self, user: &str, password: Option<&str>, ua: &str, at: u64) -> Vec<u8> {
        let mut auth_line = String::new();
        if let Some(pw) = password {
            let nonce = self.guard.digest().nonce(self.now(at).wall);
            let template = |resp: &str| {
                format!(
                    "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"sip:{REALM}\", \
                     algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"c{at}\", response=\"{resp}\""
                )
            };
            let draft = template(&"0".repeat(64));
            let parsed = DigestAuthorization::parse(&draft).expect("draft");
            let ha1 = okcc_core::credential::Ha1::dangerous_from_unchecked_secret(
                okcc_core::credential::DigestAlgorithm::Sha256,
                user,
                REALM,
                pw,
            );
            let resp = response(&parsed, "REGISTER", b"", &ha1);
            auth_line = format!("Authorization: {}\r\n", template(&resp));
        }
        format!(
            "REGISTER sip:{REALM} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK{at}\r\n\
             Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n\
             From: <sip:{user}@{REALM}>;tag=f{at}\r\n\
             To: <sip:{user}@{REALM}>\r\n\
             Call-ID: call-{at}@192.0.2.4\r\n\
             CSeq: {at} REGISTER\r\n\
             User-Agent: {ua}\r\n\
             {auth_line}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    /// `method` from `from_user` to `to_user`, with credentials of
    /// `digest` (user, password) when given (`Authorization` on REGISTER,
    /// `Proxy-Authorization` otherwise).
    fn request(
        &self,
        method: &str,
        from_user: &str,
        to_user: &str,
        digest: Option<(&str, &str)>,
        at: u64,
    ) -> Vec<u8> {
        let mut auth_line = String::new();
        if let Some((user, pw)) = digest {
            let nonce = self.guard.digest().nonce(self.now(at).wall);
            let template = |resp: &str| {
                format!(
                    "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"sip:{to_user}@{REALM}\", \
                     algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"c{at}\", response=\"{resp}\""
                )
            };
            let draft = template(&"0".repeat(64));
            let parsed = DigestAuthorization::parse(&draft).expect("draft");
            let ha1 = okcc_core::credential::Ha1::dangerous_from_unchecked_secret(
                okcc_core::credential::DigestAlgorithm::Sha256,
                user,
                REALM,
                pw,
            );
            let resp = response(&parsed, method, b"", &ha1);
            let header = if method == "REGISTER" {
                "Authorization"
            } else {
                "Proxy-Authorization"
            };
            auth_line = format!("{header}: {}\r\n", template(&resp));
        }
        format!(
            "{method} sip:{to_user}@{REALM} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK{at}\r\n\
             From: <sip:{from_user}@{REALM}>;tag=f{at}\r\n\
             To: <sip:{to_user}@{REALM}>\r\n\
             Call-ID: call-{at}@192.0.2.4\r\n\
             CSeq: {at} {method}\r\n\
             {auth_line}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    /// The `reason` details of the `sip.auth-failure` events so far.
    fn failure_reasons(&self) -> Vec<String> {
        self.audit
            .events()
            .iter()
            .filter(|e| e.action == Action::SipAuthFailure)
            .filter_map(|e| match e.detail.get("reason") {
                Some(DetailValue::Text(t)) => Some(t.as_str().to_owned()),
                _ => None,
            })
            .collect()
    }

    fn handle(
        &self,
        msg: &[u8],
        src: &str,
        transport: Transport,
        at: u64,
    ) -> (Decision, Option<Reply>) {
        let h = rt().block_on(self.guard.handle(msg, ip(src), transport, self.now(at)));
        (h.decision, h.reply)
    }
}

fn status(reply: &Option<Reply>) -> Option<u16> {
    match reply {
        Some(Reply::Respond(r)) => Some(r.status()),
        _ => None,
    }
}

fn text(reply: &Option<Reply>) -> String {
    match reply {
        Some(Reply::Respond(r)) => String::from_utf8_lossy(r.as_bytes()).into_owned(),
        other => format!("{other:?}"),
    }
}

#[test]
fn req_8_register_is_challenged_sha256_first_then_allowed() {
    let f = Fixture::new("");
    let (d, reply) = f.handle(
        &f.register("1001", None, "Yealink", 1),
        "192.0.2.4",
        Transport::Udp,
        1,
    );
    assert_eq!(d, Decision::Challenge(Challenge::fresh()));
    let t = text(&reply);
    assert!(t.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{t}");
    let sha = t
        .find("WWW-Authenticate: Digest realm=\"example.com\"")
        .expect("challenge");
    assert!(t[sha..].starts_with("WWW-Authenticate: Digest realm=\"example.com\", nonce="));
    let sha256 = t.find("algorithm=SHA-256").expect("sha-256");
    let md5 = t.find("algorithm=MD5").expect("md5");
    assert!(sha256 < md5, "SHA-256 offered first");
    // Every Via in order, From, To with a tag, Call-ID, CSeq.
    let v1 = t
        .find("Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1")
        .expect("via 1");
    let v2 = t
        .find("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx")
        .expect("via 2");
    assert!(v1 < v2);
    assert!(t.contains("From: <sip:1001@example.com>;tag=f1\r\n"));
    assert!(t.contains("To: <sip:1001@example.com>;tag=okcc"));
    assert!(t.contains("Call-ID: call-1@192.0.2.4\r\n"));
    assert!(t.contains("CSeq: 1 REGISTER\r\n"));
    assert!(t.ends_with("Content-Length: 0\r\n\r\n"));

    let (d, reply) = f.handle(
        &f.register("1001", Some(PASSWORD), "Yealink", 2),
        "192.0.2.4",
        Transport::Udp,
        2,
    );
    assert_eq!(d, Decision::Allow);
    assert!(reply.is_none(), "the host handles allowed requests");
    let m = f.guard.metrics().snapshot();
    assert_eq!(
        (m.requests, m.allowed, m.challenged, m.auth_success),
        (2, 1, 1, 1)
    );
    let events = f.audit.events();
    assert!(
        events
            .iter()
            .any(|e| e.action.code() == AUTH_SUCCESS_ACTION && e.outcome == Outcome::Success)
    );
    // The guard never claims a registration: that is the registrar's event.
    assert!(!events.iter().any(|e| e.action == Action::SipRegister));
}

#[test]
fn req_9_1_unknown_user_and_wrong_password_get_the_same_answer() {
    let f = Fixture::new("");
    let (d1, r1) = f.handle(
        &f.register("1001", Some("wrong-Pass#1"), "X", 1),
        "192.0.2.5",
        Transport::Tcp,
        1,
    );
    let (d2, r2) = f.handle(
        &f.register("9999", Some("wrong-Pass#1"), "X", 1),
        "192.0.2.6",
        Transport::Tcp,
        1,
    );
    assert_eq!(d1, d2);
    assert_eq!(
        d1,
        Decision::deny(DIGEST_RULE, DenyReason::AuthenticationFailed)
    );
    assert_eq!(status(&r1), Some(403));
    assert_eq!(status(&r2), Some(403));
    // Same challenge too.
    let (_, c1) = f.handle(
        &f.register("1001", None, "X", 2),
        "192.0.2.5",
        Transport::Tcp,
        2,
    );
    let (_, c2) = f.handle(
        &f.register("9999", None, "X", 2),
        "192.0.2.6",
        Transport::Tcp,
        2,
    );
    // Every challenge carries its own random nonce; the rest is identical.
    let strip = |s: String| {
        s.lines()
            .filter(|l| l.starts_with("WWW-Authenticate"))
            .map(|l| match l.find("nonce=\"") {
                Some(i) => format!("{}{}", &l[..i + 7], l.get(i + 7 + 64..).unwrap_or("")),
                None => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(text(&c1)), strip(text(&c2)));
    let fails = f
        .audit
        .events()
        .into_iter()
        .filter(|e| e.action == Action::SipAuthFailure)
        .count();
    assert_eq!(fails, 2);
    // The audit trail (never the wire) tells them apart.
    assert_eq!(f.failure_reasons(), ["wrong-password", "unknown-user"]);
}

#[test]
fn req_9_1_five_wrong_passwords_ban_then_silence_and_operator_unban() {
    let f = Fixture::new("");
    let src = "198.51.100.20";
    let mut last = Decision::Allow;
    for i in 0..5 {
        last = f
            .handle(
                &f.register("1001", Some("nope-Nope#9"), "X", i),
                src,
                Transport::Udp,
                i,
            )
            .0;
    }
    assert_eq!(
        last.denial().map(|d| d.reason),
        Some(DenyReason::BruteForce)
    );
    // Banned: silence on UDP even with the right password, 403 on TCP.
    let (d, reply) = f.handle(
        &f.register("1001", Some(PASSWORD), "X", 6),
        src,
        Transport::Udp,
        6,
    );
    assert_eq!(
        d.denial().map(|d| d.rule.as_str().to_owned()),
        Some("guard:brute-force".into())
    );
    assert_eq!(reply, Some(Reply::Silence));
    let bans = f.guard.bans(f.now(7).instant);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].source, ip(src));
    assert_eq!(bans[0].until, f.now(4).instant + Duration::from_secs(600));
    assert!(f.audit.events().iter().any(|e| e.action == Action::Ban));
    assert!(f.guard.unban(ip(src), f.now(8).instant).is_some());
    let (d, _) = f.handle(
        &f.register("1001", Some(PASSWORD), "X", 9),
        src,
        Transport::Udp,
        9,
    );
    assert_eq!(d, Decision::Allow);
    let m = f.guard.metrics().snapshot();
    assert_eq!(m.bans, 1);
    assert_eq!(m.auth_failure, 5);
    assert!(m.denied.get("brute-force").copied().unwrap_or(0) >= 2);
}

#[test]
fn req_9_1_requests_without_credentials_count_zero() {
    let mut cfg = GuardConfig::default();
    cfg.flood.max_requests = u16::MAX;
    let f = Fixture::with("", cfg);
    for i in 0..200 {
        let (d, _) = f.handle(
            &f.register("1001", None, "X", i),
            "100.64.0.1",
            Transport::Udp,
            i,
        );
        assert!(matches!(d, Decision::Challenge(_)), "request {i}: {d:?}");
    }
    assert!(f.guard.bans(f.now(200).instant).is_empty());
}

#[test]
fn req_9_1_scanner_gets_silence_on_udp_and_is_banned() {
    let f = Fixture::new("");
    let (d, reply) = f.handle(
        &f.register("100", None, "friendly-scanner", 1),
        "203.0.113.66",
        Transport::Udp,
        1,
    );
    assert_eq!(d.denial().map(|d| d.reason), Some(DenyReason::Scanner));
    assert_eq!(reply, Some(Reply::Silence));
    // Banned: refused before parsing, whatever it sends, on any transport.
    let (d, reply) = f.handle(
        &f.register("100", None, "Yealink", 2),
        "203.0.113.66",
        Transport::Tcp,
        2,
    );
    assert_eq!(d, Decision::deny("guard:scanner", DenyReason::Scanner));
    assert_eq!(reply, Some(Reply::Silence));
    assert_eq!(f.guard.metrics().snapshot().silenced, 2);
    assert!(f.audit.events().iter().any(|e| e.action == Action::Ban));
}

#[test]
fn req_2_trusted_peers_are_exempt_from_every_stage() {
    let f = Fixture::new("trust 192.0.2.0/24\n");
    let sbc = ip("192.0.2.1");
    f.guard.ban(sbc, Duration::from_secs(60), f.now(0).instant);
    let (d, reply) = f.handle(
        &f.register("1001", None, "friendly-scanner", 1),
        "192.0.2.1",
        Transport::Udp,
        1,
    );
    assert_eq!(d, Decision::Allow);
    assert!(reply.is_none());
    assert!(f.guard.pre_parse(sbc, f.now(1).instant).is_allow());
}

#[test]
fn req_2_blacklist_refuses_before_parsing() {
    let f = Fixture::new("deny 203.0.113.0/24\ndeny 198.51.100.0/24 channel:sip-call\n");
    let d = f.guard.pre_parse(ip("203.0.113.9"), f.now(0).instant);
    assert_eq!(
        d.denial().map(|d| d.rule.as_str().to_owned()),
        Some("rules.txt:1".into())
    );
    // A rule for one channel only waits for the parsed method.
    assert!(
        f.guard
            .pre_parse(ip("198.51.100.9"), f.now(0).instant)
            .is_allow()
    );
    let (d, reply) = f.handle(
        b"garbage that is not parsed",
        "203.0.113.9",
        Transport::Udp,
        0,
    );
    assert_eq!(
        d.denial().map(|d| d.reason),
        Some(DenyReason::BlockedNetwork)
    );
    assert_eq!(reply, Some(Reply::Silence));
    let (d, reply) = f.handle(
        &f.register("1001", None, "X", 1),
        "198.51.100.9",
        Transport::Udp,
        1,
    );
    assert!(
        matches!(d, Decision::Challenge(_)),
        "REGISTER is not refused: {d:?}"
    );
    assert_eq!(status(&reply), Some(401));
    let m = f.guard.metrics().snapshot();
    assert_eq!(m.pre_parse_denied, 1);
}

#[test]
fn req_8_malformed_answered_400_when_addressable_else_dropped() {
    let f = Fixture::new("");
    let msg = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1\r\n\
From: <sip:1001@example.com>;tag=1\r\nTo: <sip:1001@example.com>\r\nCall-ID: a@b\r\nCSeq: 1 REGISTER\r\n\
Max-Forwards: banana\r\nContent-Length: 0\r\n\r\n";
    let (d, reply) = f.handle(msg, "192.0.2.4", Transport::Udp, 0);
    assert_eq!(d.denial().map(|d| d.reason), Some(DenyReason::Malformed));
    let t = text(&reply);
    assert!(t.starts_with("SIP/2.0 400 Bad Request\r\n"), "{t}");
    assert!(t.contains("Call-ID: a@b\r\n") && t.contains("To: <sip:1001@example.com>;tag="));
    let (_, reply) = f.handle(
        b"\x00\x01 not sip at all\r\n\r\n",
        "192.0.2.4",
        Transport::Udp,
        0,
    );
    assert!(reply.is_none());
    let big = vec![b'A'; 70 * 1024];
    let (_, reply) = f.handle(&big, "192.0.2.4", Transport::Udp, 0);
    assert!(reply.is_none());
    let m = f.guard.metrics().snapshot();
    assert_eq!(
        (m.malformed_answered, m.malformed_dropped, m.oversized),
        (1, 1, 1)
    );
}

#[test]
fn req_9_explain_has_no_side_effects_and_lists_every_stage() {
    let mut cfg = GuardConfig::default();
    cfg.flood.max_requests = 3;
    let f = Fixture::with("deny 203.0.113.0/24\n", cfg);
    let q = ExplainQuery::new(ip("198.51.100.7"), SipMethod::Register).user("1001");
    for _ in 0..50 {
        let e = f.guard.explain(&q, f.now(0).instant);
        assert_eq!(e.decision, Decision::Challenge(Challenge::fresh()));
        assert_eq!(e.decided_by, Some(Stage::Digest));
        assert_eq!(e.stages.len(), 9);
    }
    assert_eq!(f.guard.metrics().snapshot(), MetricsSnapshot::default());
    assert!(f.guard.bans(f.now(0).instant).is_empty());
    assert!(f.audit.events().is_empty());
    let e = f.guard.explain(
        &ExplainQuery::new(ip("203.0.113.7"), SipMethod::Invite)
            .user("1001")
            .to("0044"),
        f.now(0).instant,
    );
    assert_eq!(e.decided_by, Some(Stage::Blacklist));
    let json = serde_json::to_value(&e).expect("json");
    assert_eq!(json["decision"]["decision"], "deny");
    assert_eq!(json["decision"]["rule"], "rules.txt:1");
    assert_eq!(json["stages"][4]["stage"], "blacklist");
    assert!(
        json["stages"][7]["decision"].is_null(),
        "digest not reached"
    );
    // A flooder's explanation agrees with what the pipeline then does.
    let src = "192.0.2.50";
    for i in 0..3 {
        f.handle(&f.register("1001", None, "X", 1), src, Transport::Udp, i);
    }
    let e = f.guard.explain(
        &ExplainQuery::new(ip(src), SipMethod::Register),
        f.now(1).instant,
    );
    assert_eq!(e.decided_by, Some(Stage::Flood));
    let (d, _) = f.handle(&f.register("1001", None, "X", 1), src, Transport::Udp, 1);
    assert_eq!(d.denial().map(|d| d.reason), Some(DenyReason::Flood));
}

#[derive(Debug)]
struct NoInternational;

impl CallCheck for NoInternational {
    fn check(&self, call: &CallAttempt<'_>, now: Instant) -> Decision {
        self.would_check(call, now)
    }
    fn would_check(&self, call: &CallAttempt<'_>, _now: Instant) -> Decision {
        if call.callee.is_some_and(|c| c.starts_with("00")) {
            Decision::deny("toll:international", DenyReason::TollFraud)
        } else {
            Decision::Allow
        }
    }
}

#[test]
fn req_9_stage_9_call_check_runs_for_invites() {
    let mut f = Fixture::new("");
    f.guard = f.guard.with_call_check(Arc::new(NoInternational));
    let q = ExplainQuery::new(ip("192.0.2.8"), SipMethod::Invite)
        .user("1001")
        .to("0044123")
        .with_valid_credentials();
    let e = f.guard.explain(&q, f.now(0).instant);
    assert_eq!(e.decided_by, Some(Stage::TollFraud));
    assert_eq!(
        e.decision.denial().map(|d| d.reason),
        Some(DenyReason::TollFraud)
    );
    let q = ExplainQuery::new(ip("192.0.2.8"), SipMethod::Invite)
        .user("1001")
        .to("1002")
        .with_valid_credentials();
    assert!(f.guard.explain(&q, f.now(0).instant).decision.is_allow());
}

#[test]
fn req_9_1_reply_mapping_silence_only_for_dynamic_defences_on_udp() {
    let f = Fixture::new("");
    let msg = f.register("1001", None, "X", 1);
    let view = SipRequestView::parse(&msg, &Limits::default()).expect("parses");
    let wall = f.now(0).wall;
    let digest = f.guard.digest();
    for (reason, udp_silent) in [
        (DenyReason::Scanner, true),
        (DenyReason::Flood, true),
        (DenyReason::Banned, true),
        (DenyReason::BruteForce, true),
        (DenyReason::AuthenticationFailed, false),
        (DenyReason::BlockedNetwork, false),
        (DenyReason::ForeignRegion, false),
        (DenyReason::NotAllowlisted, false),
        (DenyReason::TollFraud, false),
    ] {
        let d = Decision::deny("r", reason);
        let udp = reply_for(&d, &view, Transport::Udp, digest, wall);
        let tcp = reply_for(&d, &view, Transport::Tcp, digest, wall);
        assert_eq!(udp == Some(Reply::Silence), udp_silent, "{reason}");
        assert_eq!(status(&tcp), Some(403), "{reason}");
    }
    assert!(reply_for(&Decision::Allow, &view, Transport::Udp, digest, wall).is_none());
    let stale = reply_for(
        &Decision::Challenge(Challenge::stale()),
        &view,
        Transport::Udp,
        digest,
        wall,
    );
    assert!(text(&stale).contains("stale=true"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// The dry run predicts what the pipeline then does, request after
        /// request, and a decision is never a non-Allow overridden later.
        #[test]
        fn req_9_explain_predicts_the_pipeline(
            reqs in proptest::collection::vec((0u8..4, 0u8..12, any::<bool>(), 0u64..3), 1..60),
        ) {
            let mut cfg = GuardConfig::default();
            cfg.flood.max_requests = 6;
            cfg.scanner.max_distinct_users = 4;
            let f = Fixture::with("deny 203.0.113.0/24\n", cfg);
            let mut t = 0;
            for (src, user, scanner, gap) in reqs {
                t += gap;
                let src = if src == 3 { "203.0.113.3".to_owned() } else { format!("198.51.100.{src}") };
                let user = format!("{}", 1000 + u32::from(user));
                let ua = if scanner { "sipvicious" } else { "Yealink" };
                let q = ExplainQuery::new(ip(&src), SipMethod::Register).user(&user).user_agent(ua);
                let predicted = f.guard.explain(&q, f.now(t).instant);
                let (d, reply) = f.handle(&f.register(&user, None, ua, t), &src, Transport::Udp, t);
                prop_assert_eq!(&predicted.decision, &d);
                if d.is_allow() { prop_assert!(reply.is_none()); }
                let first = predicted.stages.iter().find(|v| v.decision.as_ref().is_some_and(|x| !x.is_allow()));
                prop_assert_eq!(first.map(|v| v.stage), predicted.decided_by.filter(|s| *s != Stage::Trusted));
            }
        }

        /// Arbitrary bytes never panic the pipeline, and only parse errors
        /// that can be addressed get a reply.
        #[test]
        fn req_8_arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = crate::fuzzing::sip_pipeline(&data);
        }
    }
}

#[test]
fn req_2_account_whitelist_judges_the_account_that_authenticates() {
    // 1001 may only register from 192.0.2.0/24.
    let f = Fixture::new("allow account:1001 192.0.2.0/24\n");
    let (d, _) = f.handle(
        &f.register("1001", Some(PASSWORD), "X", 1),
        "198.51.100.9",
        Transport::Tcp,
        1,
    );
    assert_eq!(
        d.denial().map(|d| d.reason),
        Some(DenyReason::NotAllowlisted)
    );
    // Claiming another user in To does not get 1001's credentials past it.
    let msg = String::from_utf8(f.register("1001", Some(PASSWORD), "X", 2))
        .expect("utf8")
        .replace("To: <sip:1001@", "To: <sip:2002@");
    let (d, _) = f.handle(msg.as_bytes(), "198.51.100.9", Transport::Tcp, 2);
    assert_eq!(
        d.denial().map(|d| d.reason),
        Some(DenyReason::NotAllowlisted)
    );
    let (d, _) = f.handle(
        &f.register("1001", Some(PASSWORD), "X", 3),
        "192.0.2.9",
        Transport::Tcp,
        3,
    );
    assert_eq!(d, Decision::Allow);
}

#[test]
fn req_9_1_digest_user_must_be_the_aor_of_a_register() {
    let f = Fixture::new("");
    // 1001's right password, registering 1002's AOR: refused and counted.
    let msg = f.request("REGISTER", "1001", "1002", Some(("1001", PASSWORD)), 1);
    let (d, reply) = f.handle(&msg, "192.0.2.30", Transport::Udp, 1);
    assert_eq!(
        d,
        Decision::deny(DIGEST_RULE, DenyReason::AuthenticationFailed)
    );
    assert_eq!(status(&reply), Some(403));
    assert_eq!(f.failure_reasons(), ["user-mismatch"]);
    let ev = f
        .audit
        .events()
        .into_iter()
        .find(|e| e.action == Action::SipAuthFailure)
        .expect("event");
    assert_eq!(ev.source, Some(ip("192.0.2.30")));
    assert_eq!(
        ev.detail.get("user"),
        Some(&DetailValue::text("1001").expect("t"))
    );
    assert_eq!(
        ev.detail.get("claimed_user"),
        Some(&DetailValue::text("1002").expect("t"))
    );
    let st = f.guard.state();
    assert_eq!(
        st.brute_force.failures(ip("192.0.2.30"), f.now(1).instant),
        1
    );
    drop(st);
    assert_eq!(f.guard.metrics().snapshot().auth_failure, 1);
    // The From user does not matter for a REGISTER (third-party registration
    // of one's own AOR is fine).
    let msg = f.request("REGISTER", "someone", "1001", Some(("1001", PASSWORD)), 2);
    assert_eq!(
        f.handle(&msg, "192.0.2.30", Transport::Udp, 2).0,
        Decision::Allow
    );
}

#[test]
fn req_9_1_digest_user_must_be_the_caller_of_an_invite() {
    let f = Fixture::new("");
    // Spoofed From with valid credentials of another account.
    let msg = f.request("INVITE", "1002", "5551234", Some(("1001", PASSWORD)), 1);
    let (d, reply) = f.handle(&msg, "192.0.2.31", Transport::Tcp, 1);
    assert_eq!(
        d,
        Decision::deny(DIGEST_RULE, DenyReason::AuthenticationFailed)
    );
    assert_eq!(status(&reply), Some(403));
    let msg = f.request("INVITE", "1001", "5551234", Some(("1001", PASSWORD)), 2);
    let a = rt().block_on(async {
        let v = SipRequestView::parse(&msg, &Limits::default()).expect("parse");
        let tenant = TenantId::new("acme").expect("tenant");
        f.guard
            .authenticate_for(&v, ip("192.0.2.31"), f.now(2), Some(&tenant))
            .await
    });
    assert_eq!(a.decision, Decision::Allow);
    assert_eq!(a.user.as_deref(), Some("1001"));
    let ok = f
        .audit
        .events()
        .into_iter()
        .find(|e| e.action.code() == AUTH_SUCCESS_ACTION)
        .expect("success event");
    assert_eq!(ok.tenant.as_ref().map(TenantId::as_str), Some("acme"));
    assert_eq!(
        ok.detail.get("method"),
        Some(&DetailValue::text("INVITE").expect("t"))
    );
    // No secret, response or nonce in any event.
    let all = format!("{:?}", f.audit.events());
    assert!(!all.contains(PASSWORD) && !all.contains("response") && !all.contains("nonce"));
}

#[test]
fn req_9_1_user_binding_can_be_switched_off() {
    let mut cfg = GuardConfig::default();
    assert!(cfg.bind_user, "on by default");
    cfg.bind_user = false;
    let f = Fixture::with("", cfg);
    let msg = f.request("REGISTER", "1002", "1002", Some(("1001", PASSWORD)), 1);
    assert_eq!(
        f.handle(&msg, "192.0.2.32", Transport::Udp, 1).0,
        Decision::Allow
    );
}

#[test]
fn req_9_1_stale_nonce_is_rechallenged_and_audited_not_counted() {
    let f = Fixture::new("");
    let msg = f.register("1001", Some(PASSWORD), "X", 1);
    // Answered long after the nonce's lifetime.
    let (d, reply) = f.handle(&msg, "192.0.2.33", Transport::Udp, 100_000);
    assert_eq!(d, Decision::Challenge(Challenge::stale()));
    assert!(text(&reply).contains("stale=true"), "{}", text(&reply));
    assert_eq!(f.failure_reasons(), ["stale-nonce"]);
    assert_eq!(f.guard.metrics().snapshot().auth_failure, 0);
    let st = f.guard.state();
    assert_eq!(
        st.brute_force
            .failures(ip("192.0.2.33"), f.now(100_000).instant),
        0
    );
}

fn down() -> okcc_core::StoreError {
    okcc_core::StoreError::Unavailable(Box::new(std::io::Error::other("down")))
}

/// A credential store that is down.
#[derive(Debug)]
struct DownStore;

#[async_trait::async_trait]
impl CredentialStore for DownStore {
    async fn set_web_login(
        &self,
        _: &UserId,
        _: okcc_core::credential::WebLogin,
    ) -> Result<(), okcc_core::StoreError> {
        Err(down())
    }
    async fn web_login(
        &self,
        _: &UserId,
    ) -> Result<Option<okcc_core::credential::PhcHash>, okcc_core::StoreError> {
        Err(down())
    }
    async fn set_sip_credential(&self, _: SipCredential) -> Result<(), okcc_core::StoreError> {
        Err(down())
    }
    async fn sip_credential(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<SipCredential>, okcc_core::StoreError> {
        Err(down())
    }
    async fn list_sip_credentials(
        &self,
        _: okcc_core::store::Page,
    ) -> Result<okcc_core::store::PageOf<SipCredential>, okcc_core::StoreError> {
        Err(down())
    }
    async fn remove_sip_credential(&self, _: &str, _: &str) -> Result<(), okcc_core::StoreError> {
        Err(down())
    }
}

#[test]
fn req_9_1_store_outage_is_503_never_a_wrong_password() {
    let f = Fixture::new("");
    let audit = Arc::new(MemoryGuardAudit::new());
    let guard = Guard::new(
        GuardConfig::default(),
        Arc::new(AccessControl::new(None)),
        Arc::new(DigestServer::new(DigestConfig::new(REALM, vec![9; 32]))),
        Arc::new(DownStore),
    )
    .with_audit(audit.clone());
    for i in 0..20 {
        // Built by the fixture (same realm and nonce key).
        let msg = f.register("1001", Some(PASSWORD), "X", i);
        let h = rt().block_on(guard.handle(&msg, ip("192.0.2.34"), Transport::Udp, f.now(i)));
        assert_eq!(
            h.decision,
            Decision::deny(DIGEST_STORE_RULE, DenyReason::AuthenticationFailed)
        );
        assert_eq!(status(&h.reply), Some(503), "request {i}");
    }
    assert!(guard.bans(f.now(20).instant).is_empty(), "never banned");
    assert_eq!(guard.metrics().snapshot().auth_failure, 0);
    let outcomes: Vec<_> = audit
        .events()
        .into_iter()
        .filter(|e| e.action == Action::SipAuthFailure)
        .map(|e| e.outcome.code())
        .collect();
    assert_eq!(outcomes.len(), 20);
    assert!(outcomes.iter().all(|o| *o == "failure"), "{outcomes:?}");
}

mod binding_props {
    use super::*;
    use proptest::prelude::*;

    fn escape_all(s: &str) -> String {
        s.bytes().map(|b| format!("%{b:02X}")).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A URI user matches exactly the digest user it spells, escaped or
        /// not; any other user never matches.
        #[test]
        fn req_9_1_user_binding_matches_only_the_same_user(
            a in "[a-zA-Z0-9._+-]{1,12}",
            b in "[a-zA-Z0-9._+-]{1,12}",
        ) {
            prop_assert!(same_user(&a, Some(&a)));
            prop_assert!(same_user(&a, Some(&escape_all(&a))));
            prop_assert_eq!(same_user(&a, Some(&b)), a == b);
            prop_assert_eq!(same_user(&a, Some(&escape_all(&b))), a == b);
            prop_assert!(!same_user(&a, None));
        }

        /// Through the whole pipeline: credentials of `a` on a REGISTER of
        /// `b`'s AOR are allowed exactly when `a == b` (both exist).
        #[test]
        fn req_9_1_register_binding_through_the_pipeline(a in 0u8..3, b in 0u8..3) {
            let f = Fixture::new("");
            let users = ["1001", "1002", "1003"];
            for u in &users[1..] {
                let accepted = PasswordPolicy::default().check(PASSWORD, &[]).expect("ok");
                rt().block_on(f.guard.credentials.set_sip_credential(SipCredential::derive(u, REALM, &accepted))).expect("set");
            }
            let (ua, ub) = (users[usize::from(a)], users[usize::from(b)]);
            let msg = f.request("REGISTER", ub, ub, Some((ua, PASSWORD)), 1);
            let (d, _) = f.handle(&msg, "192.0.2.40", Transport::Tcp, 1);
            prop_assert_eq!(d.is_allow(), a == b);
        }
    }
}
