//! Audit benches: append throughput through the sink into the memory
//! store (durable on flush), and verify of 1,000,000 events.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use okcc_audit::{
    Action, Actor, AuditEvent, AuditSink, AuditStore, EventId, MemoryAuditStore, Outcome,
    SinkConfig, Target, VerifyOptions,
};
use okcc_core::{DenyReason, RuleId, TenantId, UserId};

fn event(n: u64) -> AuditEvent {
    let t0 = time::OffsetDateTime::from_unix_timestamp(1_790_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    AuditEvent::at(
        EventId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1)),
        t0 + time::Duration::milliseconds(i64::try_from(n).unwrap_or(0)),
        Actor::sip_account(
            UserId::new("1001").unwrap_or_else(|_| unreachable!()),
            TenantId::new("acme").ok(),
        ),
        Action::SipAuthFailure,
        Outcome::denied(RuleId::new("guard:brute-force"), DenyReason::BruteForce),
    )
    .with_source(std::net::IpAddr::from([192, 0, 2, (n % 250) as u8]))
    .with_target(Target::new("extension", "1001").unwrap_or_else(|_| unreachable!()))
}

fn sink_append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    const BATCH: u64 = 10_000;
    let events: Vec<AuditEvent> = (0..BATCH).map(event).collect();
    let mut g = c.benchmark_group("audit");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    g.bench_function("sink_append_10k_then_flush", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let store = Arc::new(MemoryAuditStore::new());
                let batch = events.clone();
                total += rt.block_on(async {
                    let (sink, _h) = AuditSink::spawn(store.clone(), SinkConfig::default());
                    let start = Instant::now();
                    for e in batch {
                        let _ = sink.record(e).await;
                    }
                    let _ = black_box(sink.flush().await);
                    start.elapsed()
                });
                assert_eq!(store.len() as u64, BATCH);
            }
            total
        });
    });
    g.finish();
}

fn verify_million(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let store = MemoryAuditStore::new();
    rt.block_on(async {
        for chunk in 0..100u64 {
            let batch: Vec<_> = (chunk * 10_000..(chunk + 1) * 10_000).map(event).collect();
            let _ = store.append(batch).await;
        }
    });
    let mut g = c.benchmark_group("audit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("verify_1m", |b| {
        b.iter(|| {
            let report = rt.block_on(store.verify(&VerifyOptions::all()));
            assert!(
                report
                    .as_ref()
                    .is_ok_and(|r| r.is_intact() && r.checked == 1_000_000)
            );
            black_box(report)
        });
    });
    g.finish();
}

criterion_group!(benches, sink_append, verify_million);
criterion_main!(benches);
