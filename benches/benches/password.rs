//! Password policy and credential benchmarks.
//!
//! Targets (issue 2): `check` with the default policy on a 12-character
//! candidate <= 250 µs median including zxcvbn; the rules alone <= 2 µs;
//! HA1 audit >= 2 M MD5 candidate hashes per second per core; argon2id
//! hash time at the chosen (OWASP) parameters.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use okcc_core::credential::{Ha1Audit, WebPasswordHasher, parse_ha1_line};
use okcc_core::password::{PasswordPolicy, WeakList};

const GOOD_12: &str = "Xk#9vQ2m@pLw";

fn bench_check(c: &mut Criterion) {
    let policy = PasswordPolicy::default();
    assert!(
        policy.check(GOOD_12, &[]).is_ok(),
        "bench candidate must pass"
    );
    let mut g = c.benchmark_group("password");
    g.bench_function("check_default_12_chars_with_zxcvbn", |b| {
        b.iter(|| {
            policy
                .check(black_box(GOOD_12), black_box(&["alice"]))
                .is_ok()
        });
    });
    g.bench_function("rules_only_12_chars", |b| {
        b.iter(|| policy.rule_violations(black_box(GOOD_12), black_box(&["alice"])));
    });
    g.bench_function("check_refused_by_rules", |b| {
        b.iter(|| {
            policy
                .check(black_box("abc12345!xyz"), black_box(&[]))
                .is_err()
        });
    });
    let huge = "a".repeat(1 << 20);
    g.bench_function("check_1mb_input", |b| {
        b.iter(|| policy.check(black_box(&huge), &[]).is_err());
    });
    g.finish();
}

fn bench_ha1_audit(c: &mut Criterion) {
    let candidates: Vec<&str> = WeakList::entries().take(10_000).collect();
    // An HA1 no candidate matches, so every candidate is hashed.
    let record = parse_ha1_line("100:0123456789abcdef0123456789abcdef").expect("valid line");
    let audit = Ha1Audit::new("pbx.example.com", &candidates);
    let mut g = c.benchmark_group("ha1_audit");
    g.throughput(Throughput::Elements(candidates.len() as u64));
    g.bench_function("md5_one_core_10k_candidates", |b| {
        b.iter(|| audit.check(black_box(&record)));
    });
    g.finish();
}

fn bench_argon2(c: &mut Criterion) {
    let hasher = WebPasswordHasher::default();
    let pw = PasswordPolicy::default()
        .check(GOOD_12, &[])
        .expect("accepted");
    let mut g = c.benchmark_group("argon2id");
    g.sample_size(10);
    g.bench_function("hash_owasp_m19456_t2_p1", |b| {
        b.iter(|| hasher.hash(black_box(&pw)));
    });
    g.finish();
}

criterion_group!(benches, bench_check, bench_ha1_audit, bench_argon2);
criterion_main!(benches);
