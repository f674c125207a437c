//! The SIP guard pipeline: stages 1–7 alone with 100k access rules (target
//! ≤ 1 µs), parse + guard + SHA-256 digest for an allowed REGISTER, and the
//! ban table at 1 M sources (memory printed, lookup timed).

use std::future::Future;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use okcc_core::PasswordPolicy;
use okcc_core::access::{AccessControl, Cidr, Rule, RuleEntry, RuleSet, Target};
use okcc_core::credential::{
    CredentialStore, DigestAlgorithm, Ha1, MemoryCredentialStore, SipCredential,
};
use okcc_core::guard::{BanConfig, BanKind, BanTable, FloodGuard};
use okcc_sip::digest::{DigestAuthorization, DigestConfig, DigestServer, response};
use okcc_sip::pipeline::{Guard, GuardConfig, Now};
use okcc_sip::view::{Limits, SipRequestView};

const PASSWORD: &str = "TAV#1532afhj@qF344";

/// Polls a future that never waits (the memory credential store).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return v;
        }
    }
}

/// 100k deny rules on /24s in 100.64.0.0/10 .. (never the bench sources).
fn guard_with_100k_rules() -> Guard {
    let mut set = RuleSet::new();
    let mut x: u32 = 0x9e37_79b9;
    for i in 0..100_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        // 11.0.0.0 .. 126.255.255.0: away from 192.0.2.0/24 and 198.51.100.0/24.
        let a = 11 + (x % 116);
        let net = Ipv4Addr::from((a << 24) | ((x >> 8) & 0x00ff_ff00));
        let cidr = Cidr::new(IpAddr::V4(net), 24).expect("cidr");
        set.push(RuleEntry::new(
            format!("r:{i}").as_str(),
            Rule::Deny {
                target: Target::Network(cidr),
                channels: Default::default(),
            },
        ));
    }
    let access = Arc::new(AccessControl::new(None));
    access.replace_rules(&set).expect("policy");
    let store = MemoryCredentialStore::new();
    let accepted = PasswordPolicy::default().check(PASSWORD, &[]).expect("ok");
    ready(store.set_sip_credential(SipCredential::derive("1001", "example.com", &accepted)))
        .expect("stored");
    Guard::new(
        GuardConfig::default(),
        access,
        Arc::new(DigestServer::new(DigestConfig::new(
            "example.com",
            vec![7; 32],
        ))),
        Arc::new(store),
    )
}

fn register(auth: &str) -> Vec<u8> {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Agent 1001\" <sip:1001@example.com>;tag=456248\r\n\
To: <sip:1001@example.com>\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:1001@192.0.2.10:5060;transport=udp>;expires=3600\r\n\
User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\
{auth}Expires: 3600\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn signed(server: &DigestServer, nonce: &str, nc: u32) -> String {
    let draft = format!(
        "Digest username=\"1001\", realm=\"example.com\", nonce=\"{nonce}\", uri=\"sip:example.com\", \
         algorithm=SHA-256, qop=auth, nc={nc:08x}, cnonce=\"0a4f113b\", response=\"{}\"",
        "0".repeat(64)
    );
    let Ok(auth) = DigestAuthorization::parse(&draft) else {
        return draft;
    };
    let ha1 = Ha1::dangerous_from_unchecked_secret(
        DigestAlgorithm::Sha256,
        "1001",
        server.realm(),
        PASSWORD,
    );
    let r = response(&auth, "REGISTER", b"", &ha1);
    format!("Authorization: {}\r\n", draft.replace(&"0".repeat(64), &r))
}

fn guard_alone(c: &mut Criterion) {
    let guard = guard_with_100k_rules();
    let msg = register("");
    let view = SipRequestView::parse(&msg, &Limits::default()).expect("parses");
    let sources: Vec<IpAddr> = (0..4096u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0xc000_0200 | (i & 0xff) | ((i >> 8) << 16))))
        .collect();
    let t0 = Instant::now();
    let mut i = 0usize;
    c.bench_function("guard/stages_1_7_100k_rules", |b| {
        b.iter(|| {
            i += 1;
            let src = sources[i & 4095];
            let now = t0 + Duration::from_micros(i as u64 * 100);
            let (d, _) = guard.check(black_box(&view), src, now);
            black_box(d)
        });
    });
    assert!(
        guard
            .check(&view, sources[1], t0 + Duration::from_secs(3600))
            .0
            .is_allow()
    );
}

fn parse_guard_digest(c: &mut Criterion) {
    let guard = guard_with_100k_rules();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let nonce = guard.digest().nonce(wall);
    let source: IpAddr = "192.0.2.10".parse().expect("ip");
    let t0 = Instant::now();
    let mut nc = 0u32;
    c.bench_function("guard/parse_guard_sha256_digest_allowed_register", |b| {
        b.iter_batched(
            || {
                nc += 1;
                (register(&signed(guard.digest(), &nonce, nc)), nc)
            },
            |(msg, n)| {
                let now = Now::new(t0 + Duration::from_millis(u64::from(n) * 100), wall);
                let view = SipRequestView::parse(&msg, &Limits::default()).expect("parses");
                let d = ready(guard.evaluate(&view, source, now));
                debug_assert!(d.is_allow(), "{d:?}");
                black_box(d)
            },
            BatchSize::SmallInput,
        );
    });
    let m = guard.metrics().snapshot();
    assert_eq!(m.auth_failure, 0, "every bench REGISTER authenticated");
}

fn ban_table_1m(c: &mut Criterion) {
    let model = BanTable::table_bytes(1_000_000) + FloodGuard::table_bytes(1_000_000);
    eprintln!(
        "guard/memory: ban table 1M = {} B, flood table 1M = {} B, together {} B ({:.1} MiB)",
        BanTable::table_bytes(1_000_000),
        FloodGuard::table_bytes(1_000_000),
        model,
        model as f64 / (1024.0 * 1024.0)
    );
    let t0 = Instant::now();
    let mut cfg = BanConfig::default();
    cfg.max_bans = 1_000_000;
    let mut bans = BanTable::new(cfg);
    for i in 0..1_000_000u32 {
        bans.ban(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            BanKind::Flood,
            Duration::from_secs(600),
            Duration::from_secs(3600),
            1,
            t0,
        );
    }
    assert_eq!(bans.len(), 1_000_000);
    let mut i = 0u32;
    c.bench_function("guard/ban_lookup_1m_bans", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919) % 2_000_000;
            black_box(bans.is_banned(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), t0))
        });
    });
}

criterion_group!(benches, guard_alone, parse_guard_digest, ban_table_1m);
criterion_main!(benches);
