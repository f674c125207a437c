//! okcc-sip: view parse of a typical REGISTER, printing an rsipstack
//! request back to bytes (what the server's hooks do per request), and
//! digest verification.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use okcc_core::credential::Ha1;
use okcc_sip::digest::{Algorithm, DigestAuthorization, DigestConfig, DigestServer, response};
use okcc_sip::view::{Limits, SipRequestView};

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
Authorization: {auth}\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn signed(server: &DigestServer, alg: Algorithm, nonce: &str, nc: u32) -> String {
    let draft = format!(
        "Digest username=\"1001\", realm=\"example.com\", nonce=\"{nonce}\", uri=\"sip:example.com\", \
         algorithm={}, qop=auth, nc={nc:08x}, cnonce=\"0a4f113b\", response=\"{}\"",
        alg.token(),
        "0".repeat(alg.hex_len())
    );
    let Ok(auth) = DigestAuthorization::parse(&draft) else {
        return draft;
    };
    let ha1 = Ha1::dangerous_from_unchecked_secret(
        alg.hash(),
        "1001",
        server.realm(),
        "TAV#1532afhj@qF344",
    );
    let r = response(&auth, "REGISTER", b"", &ha1);
    draft.replace(&"0".repeat(alg.hex_len()), &r)
}

fn bench_parse(c: &mut Criterion) {
    let server = DigestServer::new(DigestConfig::new("example.com", vec![7; 32]));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let msg = register(&signed(&server, Algorithm::Md5, &server.nonce(now), 1));
    let limits = Limits::default();
    let mut g = c.benchmark_group("sip");
    // rsip 0.4 must accept the message, or the comparison is meaningless
    // (it rejects `algorithm=SHA-256`, hence the MD5 credentials here).
    assert!(
        rsip::SipMessage::try_from(&msg[..]).is_ok(),
        "rsip parses the bench message"
    );
    g.bench_function(format!("view_parse_register_{}b", msg.len()), |b| {
        b.iter(|| SipRequestView::parse(black_box(&msg), &limits).map(|v| v.call_id.len()));
    });
    g.bench_function(format!("rsip_parse_register_{}b", msg.len()), |b| {
        b.iter(|| rsip::SipMessage::try_from(black_box(&msg[..])).map(|m| m.body().len()));
    });
    g.finish();
}

/// rsipstack's own printing against okcc-sip's `request_bytes` (the same
/// bytes, written into one buffer): the inspector and the transaction loop
/// each print every request once.
fn bench_print(c: &mut Criterion) {
    let server = DigestServer::new(DigestConfig::new("example.com", vec![7; 32]));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let msg = register(&signed(&server, Algorithm::Md5, &server.nonce(now), 1));
    let req = rsipstack::sip::Request::try_from(&msg[..]).expect("rsipstack parses the message");
    let ours = okcc_sip::adapter::rsipstack::request_bytes(&req);
    assert_eq!(ours, req.to_bytes(), "the same bytes");
    let mut g = c.benchmark_group("sip");
    g.bench_function("rsipstack_to_bytes_register", |b| {
        b.iter(|| black_box(&req).to_bytes().len());
    });
    g.bench_function("okcc_request_bytes_register", |b| {
        b.iter(|| okcc_sip::adapter::rsipstack::request_bytes(black_box(&req)).len());
    });
    g.finish();
}

fn bench_digest(c: &mut Criterion) {
    let server = DigestServer::new(DigestConfig::new("example.com", vec![7; 32]));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut g = c.benchmark_group("digest");
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let ha1 = Ha1::dangerous_from_unchecked_secret(
            alg.hash(),
            "1001",
            "example.com",
            "TAV#1532afhj@qF344",
        );
        // nc increases per request, as a real client's does.
        let mut nc = 0u32;
        let nonce = server.nonce(now);
        g.bench_function(format!("parse_and_verify_{}", alg.token()), |b| {
            b.iter_batched(
                || {
                    nc = nc.wrapping_add(1);
                    signed(&server, alg, &nonce, nc)
                },
                |header| {
                    let auth = DigestAuthorization::parse(black_box(&header)).ok()?;
                    server.verify(&auth, "REGISTER", b"", Some(&ha1), now).ok()
                },
                criterion::BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

/// A new nonce verified when the nonce-count tracker is full (100,000
/// nonces, the default): the oldest is dropped to make room. A busy
/// registrar is in this state all the time (one new nonce per
/// registration).
fn bench_digest_full_tracker(c: &mut Criterion) {
    let server = DigestServer::new(DigestConfig::new("example.com", vec![7; 32]));
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let ha1 = Ha1::dangerous_from_unchecked_secret(
        Algorithm::Md5.hash(),
        "1001",
        "example.com",
        "TAV#1532afhj@qF344",
    );
    // 10,000 new nonces per (simulated) second, each used once.
    let mut k = 0u64;
    let mut fresh = |server: &DigestServer| {
        k += 1;
        let now = start + Duration::from_micros(k * 100);
        (signed(server, Algorithm::Md5, &server.nonce(now), 1), now)
    };
    for _ in 0..DigestConfig::new("example.com", vec![7; 32]).max_tracked_nonces {
        let (header, now) = fresh(&server);
        let auth = DigestAuthorization::parse(&header).expect("valid");
        server
            .verify(&auth, "REGISTER", b"", Some(&ha1), now)
            .expect("fills the tracker");
    }
    let mut g = c.benchmark_group("digest");
    g.bench_function("verify_new_nonce_full_tracker_MD5", |b| {
        b.iter_batched(
            || fresh(&server),
            |(header, now)| {
                let auth = DigestAuthorization::parse(black_box(&header)).ok()?;
                server.verify(&auth, "REGISTER", b"", Some(&ha1), now).ok()
            },
            criterion::BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_print,
    bench_digest,
    bench_digest_full_tracker
);
criterion_main!(benches);
