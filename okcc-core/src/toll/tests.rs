//! One test per rule kind and threshold level (requirement 9.1 toll fraud,
//! 10.5 alerts).

use std::time::{Duration, Instant};

use super::*;
use crate::{DenyReason, TenantId};

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

/// Monday 1970-01-05 12:00.
fn noon() -> LocalTime {
    LocalTime::new(4, 12 * 60)
}

fn quiet() -> TollPolicy {
    TollPolicy {
        account_limits: Limits::default(),
        walking: WalkingRules {
            consecutive: None,
            burst: None,
            ..WalkingRules::default()
        },
        ..TollPolicy::default()
    }
}

fn guard(p: TollPolicy) -> TollGuard {
    TollGuard::new(TollConfig::default(), p.validate().unwrap())
}

struct Env {
    g: TollGuard,
    t: TenantId,
    t0: Instant,
    n: u64,
}

impl Env {
    fn new(p: TollPolicy) -> Self {
        Self {
            g: guard(p),
            t: acme(),
            t0: Instant::now(),
            n: 0,
        }
    }
    fn at(&self, s: u64) -> Instant {
        self.t0 + Duration::from_secs(s)
    }
    fn call(&mut self, account: &str, dest: &str, s: u64) -> (String, TollVerdict) {
        self.n += 1;
        let id = format!("call-{}", self.n);
        let v = self.g.check_call(
            &CallAttempt::new(&self.t, account, &id, dest),
            self.at(s),
            noon(),
        );
        (id, v)
    }
}

fn rule(v: &TollVerdict) -> Option<&str> {
    v.decision.denial().map(|d| d.rule.as_str())
}

fn has_alert(v: &TollVerdict, level: AlertLevel, r: TollRule) -> bool {
    v.alerts.iter().any(|a| a.level == level && a.rule == r)
}

#[test]
fn req_9_1_international_off_by_default_and_allowed_prefix_opens_it() {
    let mut p = quiet();
    p.destinations.allowed_prefixes = vec!["+44".into()];
    let mut e = Env::new(p);
    let (_, v) = e.call("1001", "0033 1 23 45 67 89", 0);
    assert_eq!(rule(&v), Some("toll:international"));
    assert_eq!(v.decision.denial().unwrap().reason, DenyReason::TollFraud);
    assert!(e.call("1001", "+44 20 7946 0958", 0).1.decision.is_allow());
    assert!(e.call("1001", "020 7946 0958", 0).1.decision.is_allow());
}

#[test]
fn req_9_1_denied_and_premium_prefixes() {
    let mut p = quiet();
    p.destinations.allow_international = true;
    p.destinations.denied_prefixes = vec!["+882".into(), "+44".into()];
    p.destinations.allowed_prefixes = vec!["+4420".into(), "0900 1".into()];
    p.destinations.premium_prefixes = vec!["0900".into()];
    let mut e = Env::new(p);
    assert_eq!(
        rule(&e.call("1", "+882 123456", 0).1),
        Some("toll:denied-prefix")
    );
    assert_eq!(
        rule(&e.call("1", "+44 7700 900123", 0).1),
        Some("toll:denied-prefix")
    );
    // A longer allowed prefix beats a denied one.
    assert!(e.call("1", "+44 20 7946 0958", 0).1.decision.is_allow());
    assert_eq!(
        rule(&e.call("1", "0900 555 123", 0).1),
        Some("toll:premium")
    );
    assert!(e.call("1", "0900 155 123", 0).1.decision.is_allow());
}

#[test]
fn req_9_1_restrict_to_allowed() {
    let mut p = quiet();
    p.destinations.restrict_to_allowed = true;
    p.destinations.allowed_prefixes = vec!["020".into()];
    let mut e = Env::new(p);
    assert_eq!(
        rule(&e.call("1", "0161 496 0000", 0).1),
        Some("toll:not-allowed")
    );
    assert!(e.call("1", "020 7946 0000", 0).1.decision.is_allow());
}

#[test]
fn req_9_1_junk_destination_is_malformed_not_a_panic() {
    let mut e = Env::new(quiet());
    let (_, v) = e.call("1", "sip:evil@x;user=phone", 0);
    assert_eq!(rule(&v), Some("toll:malformed"));
    assert_eq!(v.decision.denial().unwrap().reason, DenyReason::Malformed);
    assert_eq!(e.g.live_calls(), 0);
}

#[test]
fn req_9_1_time_windows_in_local_time() {
    let mut p = quiet();
    p.destinations.time_windows = vec![TimeWindow {
        days: vec![Weekday::Mon, Weekday::Tue],
        start: "08:00".into(),
        end: "18:00".into(),
    }];
    let mut e = Env::new(p);
    let t = e.t.clone();
    assert!(e.call("1", "0201", 0).1.decision.is_allow());
    let night = LocalTime::new(4, 23 * 60);
    let v =
        e.g.check_call(&CallAttempt::new(&t, "1", "n1", "0202"), e.t0, night);
    assert_eq!(rule(&v), Some("toll:time-window"));
    let sunday = LocalTime::new(3, 12 * 60);
    let v =
        e.g.check_call(&CallAttempt::new(&t, "1", "n2", "0202"), e.t0, sunday);
    assert_eq!(rule(&v), Some("toll:time-window"));
}

#[test]
fn req_9_1_calls_per_minute_warn_then_critical_locks() {
    let mut p = quiet();
    p.account_limits.calls_per_minute = Some(Threshold::new(Some(2), 3));
    let mut e = Env::new(p);
    for (i, want_warn) in [(0, false), (1, false), (2, true)] {
        let (id, v) = e.call("1", &format!("0201{i}"), 0);
        assert!(v.decision.is_allow());
        assert_eq!(
            has_alert(&v, AlertLevel::Warn, TollRule::AccountCallsPerMinute),
            want_warn
        );
        e.g.on_call_ended(&id, e.at(0), CallOutcome::Failed);
    }
    let (_, v) = e.call("1", "02019", 1);
    assert_eq!(rule(&v), Some("toll:account-calls-per-minute"));
    assert!(has_alert(
        &v,
        AlertLevel::Critical,
        TollRule::AccountCallsPerMinute
    ));
    assert!(v.locked);
    assert_eq!(e.g.locked_accounts().len(), 1);
    // Locked: even after the minute, until an admin unlocks.
    assert_eq!(
        rule(&e.call("1", "0201", 120).1),
        Some("toll:account-locked")
    );
    // Emergency numbers always go through.
    let (_, v) = e.call("1", "112", 120);
    assert!(v.decision.is_allow() && v.emergency);
    assert!(e.g.unlock(&e.t.clone(), "1"));
    assert!(!e.g.unlock(&e.t.clone(), "1"));
    assert!(e.g.locked_accounts().is_empty());
    assert!(e.call("1", "0201", 120).1.decision.is_allow());
    assert_eq!(
        e.g.stats().denied.get(&TollRule::AccountCallsPerMinute),
        Some(&1)
    );
    assert_eq!(e.g.stats().denied.get(&TollRule::AccountLocked), Some(&1));
}

#[test]
fn req_9_1_calls_per_day_resets_next_local_day() {
    let mut p = quiet();
    p.account_limits.calls_per_day = Some(Threshold::new(None, 2));
    p.lock_on_critical = false;
    let mut e = Env::new(p);
    let t = e.t.clone();
    for i in 0..2 {
        let (id, v) = e.call("1", "0201", i * 100);
        assert!(v.decision.is_allow());
        e.g.on_call_ended(&id, e.at(i * 100), CallOutcome::Completed);
    }
    let (_, v) = e.call("1", "0201", 300);
    assert_eq!(rule(&v), Some("toll:account-calls-per-day"));
    assert!(!v.locked);
    let tomorrow = LocalTime::new(5, 60);
    let v =
        e.g.check_call(&CallAttempt::new(&t, "1", "x", "0201"), e.at(400), tomorrow);
    assert!(v.decision.is_allow());
}

#[test]
fn req_9_1_concurrent_calls_per_account_and_tenant() {
    let mut p = quiet();
    p.account_limits.concurrent_calls = Some(Threshold::new(Some(1), 2));
    p.tenant_limits.concurrent_calls = Some(Threshold::new(None, 3));
    p.lock_on_critical = false;
    let mut e = Env::new(p);
    let (a, _) = e.call("1", "0201", 0);
    let (b, v) = e.call("1", "0202", 0);
    assert!(has_alert(&v, AlertLevel::Warn, TollRule::AccountConcurrent));
    assert_eq!(
        rule(&e.call("1", "0203", 0).1),
        Some("toll:account-concurrent")
    );
    assert!(e.call("2", "0204", 0).1.decision.is_allow());
    assert_eq!(
        rule(&e.call("3", "0205", 0).1),
        Some("toll:tenant-concurrent")
    );
    e.g.on_call_answered(&a, e.at(1));
    e.g.on_call_ended(&a, e.at(5), CallOutcome::Completed);
    e.g.on_call_ended(&b, e.at(5), CallOutcome::Cancelled);
    assert_eq!(e.g.concurrent(&e.t.clone(), "1"), 0);
    assert!(e.call("3", "0205", 6).1.decision.is_allow());
}

#[test]
fn req_9_1_spend_cap_denies_and_sweep_cuts_live_calls() {
    let mut p = quiet();
    p.costs.default_per_minute = 60; // 1 unit per second
    p.account_limits.spend_per_day = Some(Threshold::new(Some(50), 100));
    let mut e = Env::new(p);
    let t = e.t.clone();
    let (id, v) = e.call("1", "0201", 0);
    assert!(v.decision.is_allow());
    e.g.on_call_answered(&id, e.at(0));
    let mut cuts = CollectCuts::default();
    assert!(e.g.sweep(e.at(30), noon(), &mut cuts).cut.is_empty());
    // Running cost 60 >= warn 50: a new attempt warns, once.
    let (id2, v) = e.call("1", "0202", 60);
    assert!(has_alert(&v, AlertLevel::Warn, TollRule::AccountSpend));
    let (id3, v) = e.call("1", "0203", 60);
    assert!(!v.alerts.iter().any(|a| a.rule == TollRule::AccountSpend));
    e.g.on_call_ended(&id3, e.at(60), CallOutcome::Failed);
    e.g.on_call_ended(&id2, e.at(60), CallOutcome::Cancelled);
    let r = e.g.sweep(e.at(101), noon(), &mut cuts);
    assert_eq!(r.cut, vec![id.clone()]);
    assert_eq!(cuts.0, vec![(id.clone(), TollRule::AccountSpend)]);
    assert!(r.alerts.iter().any(|a| a.level == AlertLevel::Critical));
    // Cut only once; the integrator then reports the end.
    assert!(e.g.sweep(e.at(102), noon(), &mut cuts).cut.is_empty());
    assert_eq!(
        e.g.on_call_ended(&id, e.at(103), CallOutcome::Completed),
        Some(103)
    );
    assert_eq!(e.g.spend(&t, "1", e.at(103), 4), 103);
    assert_eq!(e.g.locked_accounts().len(), 1);
    e.g.unlock(&t, "1");
    assert_eq!(
        rule(&e.call("1", "0204", 104).1),
        Some("toll:account-spend")
    );
}

#[test]
fn req_9_1_number_walking_consecutive_numbers() {
    let mut p = quiet();
    p.walking.consecutive = Some(Threshold::new(Some(2), 4));
    let mut e = Env::new(p);
    let mut warned = false;
    for i in 0..4 {
        let (id, v) = e.call("1", &format!("020 7946 010{i}"), i);
        assert!(v.decision.is_allow(), "{i}");
        warned |= has_alert(&v, AlertLevel::Warn, TollRule::NumberWalking);
        e.g.on_call_ended(&id, e.at(i), CallOutcome::Failed);
    }
    assert!(warned);
    let (_, v) = e.call("1", "020 7946 0104", 5);
    assert_eq!(rule(&v), Some("toll:number-walking"));
    assert!(v.locked);
    // Unrelated numbers do not build a run.
    assert!(e.call("2", "020 7946 0100", 0).1.decision.is_allow());
    assert!(e.call("2", "020 7946 0500", 1).1.decision.is_allow());
}

#[test]
fn req_9_1_number_walking_burst_in_one_international_range() {
    let mut p = quiet();
    p.destinations.allow_international = true;
    p.walking.burst = Some(Threshold::new(Some(2), 3));
    let mut e = Env::new(p);
    for (i, d) in ["+2327 111", "+2327 555", "+2327 999"].iter().enumerate() {
        let (id, v) = e.call("1", d, i as u64);
        assert!(v.decision.is_allow(), "{d}");
        e.g.on_call_ended(&id, e.at(i as u64), CallOutcome::Failed);
    }
    // Another range does not add up.
    assert!(e.call("1", "+4420 1234", 4).1.decision.is_allow());
    let (_, v) = e.call("1", "+2327 321", 5);
    assert_eq!(rule(&v), Some("toll:destination-burst"));
}

#[test]
fn req_9_1_emergency_numbers_are_exempt_and_not_counted() {
    let mut p = quiet();
    p.account_limits.concurrent_calls = Some(Threshold::new(None, 1));
    p.destinations.time_windows = vec![TimeWindow {
        days: vec![Weekday::Sun],
        start: "00:00".into(),
        end: "01:00".into(),
    }];
    let mut e = Env::new(p);
    for _ in 0..5 {
        let (_, v) = e.call("1", "911", 0);
        assert!(v.decision.is_allow() && v.emergency);
    }
    assert_eq!(e.g.live_calls(), 0);
    assert_eq!(e.g.stats().emergency, 5);
}

#[test]
fn req_9_1_explain_has_no_side_effects() {
    let mut p = quiet();
    p.account_limits.calls_per_minute = Some(Threshold::new(None, 1));
    let mut e = Env::new(p);
    let t = e.t.clone();
    let a = CallAttempt::new(&t, "1", "x1", "0201");
    for _ in 0..3 {
        assert!(e.g.explain(&a, e.t0, noon()).decision.is_allow());
    }
    assert_eq!(e.g.stats(), &TollStats::default());
    assert_eq!(e.g.live_calls(), 0);
    assert!(e.call("1", "0201", 0).1.decision.is_allow());
    let b = CallAttempt::new(&t, "1", "x2", "0202");
    let v = e.g.explain(&b, e.t0, noon());
    assert_eq!(rule(&v), Some("toll:account-calls-per-minute"));
    assert!(v.locked, "explain says the call would lock");
    assert!(e.g.locked_accounts().is_empty());
    assert_eq!(e.g.stats().checks, 1);
}

#[test]
fn req_9_1_events_are_idempotent_and_never_underflow() {
    let mut e = Env::new(quiet());
    let (id, _) = e.call("1", "0201", 0);
    // Retransmitted INVITE: allowed, not counted twice.
    let t = e.t.clone();
    let again =
        e.g.check_call(&CallAttempt::new(&t, "1", &id, "0201"), e.at(0), noon());
    assert!(again.decision.is_allow());
    let other =
        e.g.check_call(&CallAttempt::new(&t, "2", &id, "0201"), e.at(0), noon());
    assert_eq!(rule(&other), Some("toll:call-id-in-use"));
    assert_eq!(e.g.concurrent(&t, "1"), 1);
    assert!(e.g.on_call_answered(&id, e.at(1)));
    assert!(!e.g.on_call_answered(&id, e.at(2)));
    assert!(
        e.g.on_call_ended(&id, e.at(3), CallOutcome::Completed)
            .is_some()
    );
    assert!(
        e.g.on_call_ended(&id, e.at(3), CallOutcome::Completed)
            .is_none()
    );
    assert!(!e.g.on_call_answered(&id, e.at(4)));
    assert!(
        e.g.on_call_ended("never-seen", e.at(4), CallOutcome::Abnormal)
            .is_none()
    );
    assert_eq!(e.g.concurrent(&t, "1"), 0);
    assert_eq!(e.g.tenant_concurrent(&t), 0);
}

#[test]
fn req_9_1_sweep_reaps_stale_calls_and_evicts_idle_entries() {
    let mut e = Env::new(quiet());
    let (ring, _) = e.call("1", "0201", 0);
    let (talk, _) = e.call("2", "0202", 0);
    e.g.on_call_answered(&talk, e.at(1));
    let mut cuts = CollectCuts::default();
    let r = e.g.sweep(e.at(181), noon(), &mut cuts);
    assert_eq!(r.reaped, 1);
    assert!(
        e.g.on_call_ended(&ring, e.at(182), CallOutcome::Cancelled)
            .is_none()
    );
    let r = e.g.sweep(e.at(4 * 3600 + 2), noon(), &mut cuts);
    assert_eq!((r.reaped, r.cut), (1, vec![talk.clone()]));
    assert_eq!(e.g.live_calls(), 0);
    assert_eq!(e.g.concurrent_total(), (0, 0));
    let r = e.g.sweep(e.at(30 * 3600 + 2), noon(), &mut cuts);
    assert_eq!(r.evicted, 3);
    assert_eq!(e.g.tracked(), (0, 0));
}

#[test]
fn req_9_1_full_tables_evict_idle_and_fail_closed() {
    let cfg = TollConfig {
        max_accounts: 8,
        max_live_calls: 8,
        ..TollConfig::default()
    };
    let mut g = TollGuard::new(cfg, quiet().validate().unwrap());
    let t = acme();
    let t0 = Instant::now();
    for i in 0..8 {
        let v = g.check_call(
            &CallAttempt::new(&t, &format!("a{i}"), &format!("c{i}"), "0201"),
            t0,
            noon(),
        );
        assert!(v.decision.is_allow());
    }
    let v = g.check_call(&CallAttempt::new(&t, "a9", "c9", "0201"), t0, noon());
    assert_eq!(rule(&v), Some("toll:capacity"));
    g.on_call_ended("c0", t0, CallOutcome::Failed);
    let v = g.check_call(&CallAttempt::new(&t, "a9", "c9", "0201"), t0, noon());
    assert!(v.decision.is_allow());
    assert_eq!(g.tracked().0, 8);
    assert_eq!(g.stats().evicted, 1);
}

#[test]
fn req_9_1_per_account_override_and_per_tenant_policy() {
    let mut p = quiet();
    p.accounts.insert(
        "intl".into(),
        AccountOverride {
            destinations: Some(DestinationRules {
                allow_international: true,
                ..DestinationRules::default()
            }),
            limits: None,
        },
    );
    let mut e = Env::new(quiet());
    let t = e.t.clone();
    e.g.set_policy(&t, p.validate().unwrap());
    assert!(e.call("intl", "+33 1 2345", 0).1.decision.is_allow());
    assert_eq!(
        rule(&e.call("other", "+33 1 2345", 0).1),
        Some("toll:international")
    );
    e.g.remove_policy(&t);
    assert_eq!(
        rule(&e.call("intl", "+33 1 2346", 0).1),
        Some("toll:international")
    );
}

#[test]
fn req_10_5_alerts_and_metrics_by_reason() {
    let mut e = Env::new(quiet());
    e.call("1", "+1 555", 0);
    e.call("1", "bad!", 0);
    e.call("1", "0201", 0);
    let s = e.g.stats();
    assert_eq!((s.checks, s.allowed), (3, 1));
    assert_eq!(s.denied.get(&TollRule::International), Some(&1));
    assert_eq!(s.denied.get(&TollRule::Malformed), Some(&1));
    assert_eq!(
        TollRule::ALL.len(),
        TollRule::ALL
            .iter()
            .map(|r| r.code())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
}
