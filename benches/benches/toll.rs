//! Toll-fraud guard: `check_call` with 10k active accounts and a
//! 5k-entry cost table (each iteration checks one call and ends it, so
//! the live-call table stays flat).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use okcc_core::TenantId;
use okcc_core::toll::{
    CallAttempt, CallOutcome, CostEntry, LocalTime, Threshold, TollConfig, TollGuard, TollPolicy,
};

const ACCOUNTS: usize = 10_000;
const COSTS: usize = 5_000;

fn policy() -> TollPolicy {
    let mut p = TollPolicy::default();
    p.destinations.allow_international = true;
    p.destinations.premium_prefixes = (0..50).map(|i| format!("0900{i:02}")).collect();
    p.destinations.denied_prefixes = (0..50).map(|i| format!("+999{i:02}")).collect();
    p.account_limits.calls_per_minute = Some(Threshold::new(Some(1_000), 100_000));
    p.account_limits.calls_per_day = Some(Threshold::new(Some(100_000), 1_000_000));
    p.account_limits.spend_per_day = Some(Threshold::new(Some(1 << 40), 1 << 41));
    p.tenant_limits.calls_per_minute = Some(Threshold::new(None, 1_000_000));
    p.walking.consecutive = None;
    p.walking.burst = None;
    p.costs.default_per_minute = 2;
    p.costs.prefixes = (0..COSTS)
        .map(|i| CostEntry {
            prefix: format!("+{}", 1000 + i * 7),
            per_minute: (i % 97) as u64 + 1,
        })
        .collect();
    p
}

fn bench_check_call(c: &mut Criterion) {
    let mut guard = TollGuard::new(TollConfig::default(), policy().validate().unwrap());
    let tenant = TenantId::new("acme").unwrap();
    let local = LocalTime::new(20_000, 600);
    let t0 = Instant::now();
    let accounts: Vec<String> = (0..ACCOUNTS).map(|i| format!("{}", 10_000 + i)).collect();
    let dests: Vec<String> = (0..1024)
        .map(|i| format!("+{} {:07}", 1000 + (i * 13) % (COSTS * 7), i * 7919))
        .collect();
    // Warm every account up.
    for (i, a) in accounts.iter().enumerate() {
        let id = format!("w{i}");
        let v = guard.check_call(
            &CallAttempt::new(&tenant, a, &id, &dests[i % 1024]),
            t0,
            local,
        );
        assert!(v.decision.is_allow(), "{v:?}");
        guard.on_call_ended(&id, t0, CallOutcome::Failed);
    }
    assert_eq!(guard.tracked().0, ACCOUNTS);
    let mut n = 0usize;
    let ids: Vec<String> = (0..4096).map(|i| format!("b{i}")).collect();
    c.bench_function("toll/check_call_10k_accounts_5k_costs", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let now = t0 + Duration::from_millis(n as u64);
            let id = &ids[n % ids.len()];
            let a = CallAttempt::new(&tenant, &accounts[n % ACCOUNTS], id, &dests[n % 1024]);
            let v = guard.check_call(black_box(&a), now, local);
            guard.on_call_ended(id, now, CallOutcome::Cancelled);
            black_box(v)
        });
    });
    c.bench_function("toll/explain_10k_accounts_5k_costs", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let a = CallAttempt::new(&tenant, &accounts[n % ACCOUNTS], "x", &dests[n % 1024]);
            black_box(guard.explain(black_box(&a), t0, local))
        });
    });
}

criterion_group!(benches, bench_check_call);
criterion_main!(benches);
