//! Model test of the toll guard's call counters (requirement 9.1): random
//! attempts, answers, ends, cancels, failures, duplicates, unknown events
//! and sweeps. The concurrent counters always equal the model's live
//! calls, never underflow, and after every call ends and a late sweep,
//! every map is empty.

#![allow(clippy::disallowed_methods)] // tests may read the clock

use std::collections::HashMap;
use std::time::{Duration, Instant};

use okcc_core::TenantId;
use okcc_core::toll::{
    CallAttempt, CallOutcome, CollectCuts, LocalTime, Threshold, TollConfig, TollGuard, TollPolicy,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Attempt {
        tenant: usize,
        account: usize,
        call: usize,
        dest: usize,
    },
    Answer {
        call: usize,
    },
    End {
        call: usize,
        outcome: usize,
    },
    Unknown,
    Sweep,
    Wait {
        secs: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..3usize, 0..12usize, 0..6usize)
            .prop_map(|(tenant, account, call, dest)| Op::Attempt { tenant, account, call, dest }),
        2 => (0..12usize).prop_map(|call| Op::Answer { call }),
        3 => (0..12usize, 0..4usize).prop_map(|(call, outcome)| Op::End { call, outcome }),
        1 => Just(Op::Unknown),
        1 => Just(Op::Sweep),
        2 => (0..120u64).prop_map(|secs| Op::Wait { secs }),
    ]
}

const DESTS: [&str; 6] = ["0201", "0202", "+44 20 1", "112", "bad#", "0900 1"];
const OUTCOMES: [CallOutcome; 4] = [
    CallOutcome::Completed,
    CallOutcome::Failed,
    CallOutcome::Cancelled,
    CallOutcome::Abnormal,
];

#[derive(Clone, Debug)]
struct Live {
    key: (usize, usize),
    started: u64,
    answered: Option<u64>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn req_9_1_counters_match_the_model_and_never_leak(ops in proptest::collection::vec(op(), 1..120)) {
        let mut p = TollPolicy::default();
        p.account_limits.concurrent_calls = Some(Threshold::new(Some(1), 2));
        p.tenant_limits.concurrent_calls = Some(Threshold::new(None, 4));
        p.destinations.premium_prefixes = vec!["0900".into()];
        p.lock_on_critical = false;
        let cfg = TollConfig::default();
        let max_ring = cfg.max_ring.as_secs();
        let mut g = TollGuard::new(cfg, p.validate().unwrap());
        let tenants = [TenantId::new("t0").unwrap(), TenantId::new("t1").unwrap()];
        let t0 = Instant::now();
        let local = LocalTime::new(20_000, 600);
        let mut now = 0u64;
        let mut model: HashMap<String, Live> = HashMap::new();
        let mut cuts = CollectCuts::default();
        for op in ops {
            let at = t0 + Duration::from_secs(now);
            match op {
                Op::Attempt { tenant, account, call, dest } => {
                    let id = format!("c{call}");
                    let acc = format!("a{account}");
                    let v = g.check_call(
                        &CallAttempt::new(&tenants[tenant], &acc, &id, DESTS[dest]),
                        at,
                        local,
                    );
                    if v.decision.is_allow() && !v.emergency && !model.contains_key(&id) {
                        model.insert(id, Live { key: (tenant, account), started: now, answered: None });
                    }
                }
                Op::Answer { call } => {
                    let id = format!("c{call}");
                    let expect = model.get(&id).is_some_and(|l| l.answered.is_none());
                    prop_assert_eq!(g.on_call_answered(&id, at), expect);
                    if let Some(l) = model.get_mut(&id) {
                        l.answered.get_or_insert(now);
                    }
                }
                Op::End { call, outcome } => {
                    let id = format!("c{call}");
                    let known = model.remove(&id).is_some();
                    prop_assert_eq!(g.on_call_ended(&id, at, OUTCOMES[outcome]).is_some(), known);
                }
                Op::Unknown => {
                    prop_assert!(g.on_call_ended("nobody", at, CallOutcome::Abnormal).is_none());
                    prop_assert!(!g.on_call_answered("nobody", at));
                }
                Op::Sweep => {
                    let before = model.len();
                    model.retain(|_, l| l.answered.is_some() || now - l.started <= max_ring);
                    let r = g.sweep(at, local, &mut cuts);
                    prop_assert_eq!(r.reaped, before - model.len());
                }
                Op::Wait { secs } => now += secs,
            }
            prop_assert_eq!(g.live_calls(), model.len());
            let n = model.len() as u64;
            prop_assert_eq!(g.concurrent_total(), (n, n));
            for (ti, t) in tenants.iter().enumerate() {
                let tn = model.values().filter(|l| l.key.0 == ti).count() as u64;
                prop_assert_eq!(g.tenant_concurrent(t), tn);
                for a in 0..3 {
                    let an = model.values().filter(|l| l.key == (ti, a)).count() as u64;
                    prop_assert_eq!(g.concurrent(t, &format!("a{a}")), an);
                }
            }
        }
        let end = t0 + Duration::from_secs(now + 1);
        for id in model.keys() {
            prop_assert!(g.on_call_ended(id, end, CallOutcome::Completed).is_some());
        }
        prop_assert_eq!(g.live_calls(), 0);
        prop_assert_eq!(g.concurrent_total(), (0, 0));
        g.sweep(t0 + Duration::from_secs(now + 30 * 3600), local, &mut cuts);
        prop_assert_eq!(g.tracked(), (0, 0));
    }
}
