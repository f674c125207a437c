//! The toll-fraud state machine: [`TollGuard`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::number::Destination;
use super::policy::{CompiledDestinations, LocalTime, Threshold, ValidPolicy};
use crate::{Decision, DenyReason, RuleId, TenantId};

/// The longest account name accepted, in bytes.
pub const MAX_ACCOUNT: usize = 128;
/// The longest call id accepted, in bytes.
pub const MAX_CALL_ID: usize = 256;

/// Per-minute counting: 10-second slots, a window of 6 slots plus the
/// current one (so the span counted is always at least 60 s).
const SLOT_MS: u64 = 10_000;
const RING: usize = 7;

/// Which toll rule decided: the stable label of denials, alerts and the
/// metrics counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TollRule {
    /// The destination, account or call id is not well formed.
    Malformed,
    /// The call id is already in use by another account or destination.
    CallIdInUse,
    /// The account's outbound calling is locked.
    AccountLocked,
    /// Outside every allowed time window.
    TimeWindow,
    /// Under a denied prefix.
    DeniedPrefix,
    /// Under a premium-rate prefix.
    Premium,
    /// International while international calls are off.
    International,
    /// Not under an allowed prefix while calls are restricted to them.
    NotAllowed,
    /// Consecutive destination numbers (number walking).
    NumberWalking,
    /// Many distinct destinations in one international or premium range.
    DestinationBurst,
    /// Account calls per minute.
    AccountCallsPerMinute,
    /// Account calls per day.
    AccountCallsPerDay,
    /// Account concurrent calls.
    AccountConcurrent,
    /// Account spend per day.
    AccountSpend,
    /// Tenant calls per minute.
    TenantCallsPerMinute,
    /// Tenant calls per day.
    TenantCallsPerDay,
    /// Tenant concurrent calls.
    TenantConcurrent,
    /// Tenant spend per day.
    TenantSpend,
    /// The guard's tables are full of live or locked entries (fail closed).
    Capacity,
}

impl TollRule {
    /// Every rule, in declaration order.
    pub const ALL: [Self; 19] = [
        Self::Malformed,
        Self::CallIdInUse,
        Self::AccountLocked,
        Self::TimeWindow,
        Self::DeniedPrefix,
        Self::Premium,
        Self::International,
        Self::NotAllowed,
        Self::NumberWalking,
        Self::DestinationBurst,
        Self::AccountCallsPerMinute,
        Self::AccountCallsPerDay,
        Self::AccountConcurrent,
        Self::AccountSpend,
        Self::TenantCallsPerMinute,
        Self::TenantCallsPerDay,
        Self::TenantConcurrent,
        Self::TenantSpend,
        Self::Capacity,
    ];

    /// A stable kebab-case code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::CallIdInUse => "call-id-in-use",
            Self::AccountLocked => "account-locked",
            Self::TimeWindow => "time-window",
            Self::DeniedPrefix => "denied-prefix",
            Self::Premium => "premium",
            Self::International => "international",
            Self::NotAllowed => "not-allowed",
            Self::NumberWalking => "number-walking",
            Self::DestinationBurst => "destination-burst",
            Self::AccountCallsPerMinute => "account-calls-per-minute",
            Self::AccountCallsPerDay => "account-calls-per-day",
            Self::AccountConcurrent => "account-concurrent",
            Self::AccountSpend => "account-spend",
            Self::TenantCallsPerMinute => "tenant-calls-per-minute",
            Self::TenantCallsPerDay => "tenant-calls-per-day",
            Self::TenantConcurrent => "tenant-concurrent",
            Self::TenantSpend => "tenant-spend",
            Self::Capacity => "capacity",
        }
    }

    /// The [`RuleId`] denials carry: `toll:<code>`.
    pub fn rule_id(self) -> RuleId {
        RuleId::new(format!("toll:{}", self.code()))
    }

    /// `true` for the rules whose critical level may lock the account
    /// (limits and number walking; not a misdial or a closed window).
    pub fn locks(self) -> bool {
        matches!(
            self,
            Self::NumberWalking
                | Self::DestinationBurst
                | Self::AccountCallsPerMinute
                | Self::AccountCallsPerDay
                | Self::AccountConcurrent
                | Self::AccountSpend
                | Self::TenantCallsPerMinute
                | Self::TenantCallsPerDay
                | Self::TenantConcurrent
                | Self::TenantSpend
        )
    }
}

impl fmt::Display for TollRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How loud an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    /// Above a warn threshold: the call goes on.
    Warn,
    /// Above a critical threshold: the call is denied (or cut).
    Critical,
}

/// One alert raised by the guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TollAlert {
    /// Warn or critical.
    pub level: AlertLevel,
    /// The rule that fired.
    pub rule: TollRule,
    /// The tenant.
    pub tenant: TenantId,
    /// The account.
    pub account: String,
    /// The call, if one is concerned.
    pub call_id: Option<String>,
    /// The measured value (count, or spend in minor units).
    pub value: u64,
    /// The threshold it crossed.
    pub limit: u64,
}

/// The answer to one call attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TollVerdict {
    /// Allow, or deny by `toll:<rule>` ([`DenyReason::TollFraud`], or
    /// [`DenyReason::Malformed`] for junk input). Map a denial to `403`.
    pub decision: Decision,
    /// The rule that denied, for metrics (`None` when allowed).
    pub rule: Option<TollRule>,
    /// Alerts raised (warn alerts also come with allowed calls).
    pub alerts: Vec<TollAlert>,
    /// This attempt locked the account's outbound calling.
    pub locked: bool,
    /// The destination is an emergency number (always allowed).
    pub emergency: bool,
}

impl TollVerdict {
    fn allow(alerts: Vec<TollAlert>, emergency: bool) -> Self {
        Self {
            decision: Decision::Allow,
            rule: None,
            alerts,
            locked: false,
            emergency,
        }
    }

    fn deny(rule: TollRule, alerts: Vec<TollAlert>) -> Self {
        let reason = if matches!(rule, TollRule::Malformed | TollRule::CallIdInUse) {
            DenyReason::Malformed
        } else {
            DenyReason::TollFraud
        };
        Self {
            decision: Decision::deny(rule.rule_id(), reason),
            rule: Some(rule),
            alerts,
            locked: false,
            emergency: false,
        }
    }
}

/// One outbound call attempt (an INVITE from an authenticated account).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CallAttempt<'a> {
    /// The account's tenant.
    pub tenant: &'a TenantId,
    /// The calling account (SIP user), 1 to [`MAX_ACCOUNT`] bytes.
    pub account: &'a str,
    /// The call's id (SIP Call-ID), 1 to [`MAX_CALL_ID`] bytes.
    pub call_id: &'a str,
    /// The dialed destination as received (untrusted).
    pub destination: &'a str,
}

impl<'a> CallAttempt<'a> {
    /// An attempt by `account` of `tenant` to call `destination`.
    pub fn new(
        tenant: &'a TenantId,
        account: &'a str,
        call_id: &'a str,
        destination: &'a str,
    ) -> Self {
        Self {
            tenant,
            account,
            call_id,
            destination,
        }
    }
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallOutcome {
    /// Hung up normally after being answered.
    Completed,
    /// Failed before or after answer (4xx/5xx/6xx).
    Failed,
    /// Cancelled before answer.
    Cancelled,
    /// Ended abnormally (timeout, lost transport, crash).
    Abnormal,
}

/// Why the guard asks for a live call to be cut.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CutReason {
    /// The rule that crossed its critical level (or
    /// [`TollRule::AccountLocked`] when the account was locked).
    pub rule: TollRule,
    /// The rule as a [`RuleId`].
    pub rule_id: RuleId,
}

/// Implemented by the integrator to end a live call (send BYE / CANCEL).
/// The guard calls it from [`TollGuard::sweep`]; the integrator then
/// reports the end with [`TollGuard::on_call_ended`] as for any call.
pub trait CallControl {
    /// End the call `call_id`.
    fn cut(&mut self, call_id: &str, reason: &CutReason);
}

/// A [`CallControl`] that records the calls to cut (handy when the cut
/// happens outside the lock around the guard).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectCuts(pub Vec<(String, TollRule)>);

impl CallControl for CollectCuts {
    fn cut(&mut self, call_id: &str, reason: &CutReason) {
        self.0.push((call_id.to_owned(), reason.rule));
    }
}

/// Sizes and timeouts of the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TollConfig {
    /// Accounts tracked at most (default 100 000).
    pub max_accounts: usize,
    /// Tenants tracked at most (default 10 000).
    pub max_tenants: usize,
    /// Live calls tracked at most (default 100 000); beyond, calls are
    /// denied by [`TollRule::Capacity`].
    pub max_live_calls: usize,
    /// A call not answered within this is reaped by `sweep` (default 3 min).
    pub max_ring: Duration,
    /// An answered call older than this is cut and reaped by `sweep`, and
    /// billing stops there (default 4 h).
    pub max_call_duration: Duration,
    /// Entries with no live call, no lock and no activity for this long
    /// are dropped by `sweep` (default 26 h, past a local day).
    pub idle_eviction: Duration,
}

impl Default for TollConfig {
    fn default() -> Self {
        Self {
            max_accounts: 100_000,
            max_tenants: 10_000,
            max_live_calls: 100_000,
            max_ring: Duration::from_secs(180),
            max_call_duration: Duration::from_secs(4 * 3600),
            idle_eviction: Duration::from_secs(26 * 3600),
        }
    }
}

/// Counters shared by accounts and tenants.
#[derive(Clone, Debug, Default)]
struct Counters {
    minute: [u32; RING],
    last_slot: u64,
    day: i64,
    calls_today: u64,
    spend_today: u64,
    spend_warned: bool,
    live: u64,
    /// Sum of per-minute rates of answered live calls.
    rate_sum: u64,
    /// Sum of rate x answered-at (ms) of answered live calls.
    rate_time_sum: u128,
    last_seen_ms: u64,
}

impl Counters {
    fn per_minute(&self, now_ms: u64) -> u64 {
        let slot = now_ms / SLOT_MS;
        let age = slot.saturating_sub(self.last_slot);
        if age >= RING as u64 {
            return 0;
        }
        // Slots last_slot-(RING-1-age) ..= last_slot are still in the window.
        (0..RING as u64 - age)
            .filter_map(|back| {
                let s = self.last_slot.checked_sub(back)?;
                self.minute.get((s % RING as u64) as usize)
            })
            .map(|c| u64::from(*c))
            .sum()
    }

    fn count_minute(&mut self, now_ms: u64) {
        let slot = now_ms / SLOT_MS;
        if slot < self.last_slot {
            // Time went backwards for this entry: count in the newest slot.
        } else if slot - self.last_slot >= RING as u64 {
            self.minute = [0; RING];
            self.last_slot = slot;
        } else {
            for s in self.last_slot + 1..=slot {
                if let Some(c) = self.minute.get_mut((s % RING as u64) as usize) {
                    *c = 0;
                }
            }
            self.last_slot = slot;
        }
        if let Some(c) = self.minute.get_mut((self.last_slot % RING as u64) as usize) {
            *c = c.saturating_add(1);
        }
    }

    fn calls_on(&self, day: i64) -> u64 {
        if day > self.day { 0 } else { self.calls_today }
    }

    fn roll(&mut self, day: i64) {
        if day > self.day {
            self.day = day;
            self.calls_today = 0;
            self.spend_today = 0;
            self.spend_warned = false;
        }
    }

    /// Spend so far today plus the running cost of answered live calls.
    fn spend(&self, day: i64, now_ms: u64) -> u64 {
        let base = if day > self.day { 0 } else { self.spend_today };
        let running = (u128::from(self.rate_sum) * u128::from(now_ms))
            .saturating_sub(self.rate_time_sum)
            / 60_000;
        base.saturating_add(u64::try_from(running).unwrap_or(u64::MAX))
    }

    fn idle(&self) -> bool {
        self.live == 0
    }
}

/// A recent destination, for number-walking detection.
#[derive(Clone, Debug)]
struct Recent {
    dest: Box<str>,
    range_len: u8,
    at_ms: u64,
}

#[derive(Clone, Debug, Default)]
struct Walk {
    last: Option<(Box<str>, u64)>,
    run: u64,
    burst: VecDeque<Recent>,
}

#[derive(Clone, Debug)]
struct Account {
    tenant: TenantId,
    name: Box<str>,
    c: Counters,
    walk: Walk,
    locked: Option<TollRule>,
}

#[derive(Clone, Debug)]
struct LiveCall {
    key: Box<str>,
    tenant: Box<str>,
    dest: Box<str>,
    started_ms: u64,
    answered_ms: Option<u64>,
    rate: u64,
    cut: bool,
}

/// A locked account, as [`TollGuard::locked_accounts`] lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LockedAccount {
    /// The tenant.
    pub tenant: TenantId,
    /// The account.
    pub account: String,
    /// The rule whose critical level locked it.
    pub rule: TollRule,
}

/// Metrics counters (monotonic; [`TollGuard::explain`] never moves them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TollStats {
    /// Attempts checked.
    pub checks: u64,
    /// Attempts allowed (emergency included).
    pub allowed: u64,
    /// Emergency calls allowed.
    pub emergency: u64,
    /// Denials by rule.
    pub denied: BTreeMap<TollRule, u64>,
    /// Warn alerts raised.
    pub warn_alerts: u64,
    /// Critical alerts raised.
    pub critical_alerts: u64,
    /// Accounts locked.
    pub locks: u64,
    /// Cuts requested through [`CallControl`].
    pub cuts: u64,
    /// Live calls reaped by `sweep` with no end event.
    pub reaped: u64,
    /// Calls ended by outcome (`completed`, `failed`, `cancelled`, `abnormal`).
    pub ended: BTreeMap<&'static str, u64>,
    /// Idle entries evicted (by `sweep` or because a table was full).
    pub evicted: u64,
}

/// What a [`TollGuard::sweep`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Calls the guard asked [`CallControl`] to cut.
    pub cut: Vec<String>,
    /// Live calls released with no end event (stale).
    pub reaped: usize,
    /// Idle account and tenant entries dropped.
    pub evicted: usize,
    /// Alerts raised.
    pub alerts: Vec<TollAlert>,
}

/// The toll-fraud guard. See the [module documentation](super).
#[derive(Debug)]
pub struct TollGuard {
    config: TollConfig,
    origin: Option<Instant>,
    default_policy: Arc<ValidPolicy>,
    policies: HashMap<Box<str>, Arc<ValidPolicy>>,
    accounts: HashMap<Box<str>, Account>,
    tenants: HashMap<Box<str>, Counters>,
    live: HashMap<Box<str>, LiveCall>,
    stats: TollStats,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn account_key(tenant: &TenantId, account: &str) -> String {
    // Tenant ids never hold '/', so the key is unambiguous.
    let mut k = String::with_capacity(tenant.as_str().len() + 1 + account.len());
    k.push_str(tenant.as_str());
    k.push('/');
    k.push_str(account);
    k
}

/// Cost of `dur_ms` answered at `rate` per minute: per second, rounded up.
fn bill(dur_ms: u64, rate: u64) -> u64 {
    let secs = dur_ms.div_ceil(1000);
    let c = (u128::from(secs) * u128::from(rate)).div_ceil(60);
    u64::try_from(c).unwrap_or(u64::MAX)
}

/// `a` and `b` are the same length and differ by exactly one as numbers.
fn consecutive(a: &str, b: &str) -> bool {
    if a.len() != b.len() || a == b {
        return false;
    }
    // Compare the last 18 digits as integers; the rest must be equal.
    let split = a.len().saturating_sub(18);
    let (Some((ah, at)), Some((bh, bt))) = (
        a.get(..split).zip(a.get(split..)),
        b.get(..split).zip(b.get(split..)),
    ) else {
        return false;
    };
    if ah != bh {
        return false;
    }
    let digits = |s: &str| s.trim_start_matches('+').parse::<u64>().ok();
    match (digits(at), digits(bt)) {
        (Some(x), Some(y)) => x.abs_diff(y) == 1,
        _ => false,
    }
}

/// What evaluating an attempt decided, and what applying it must change.
struct Plan {
    verdict: TollVerdict,
    kind: PlanKind,
}

enum PlanKind {
    /// Nothing to record (junk, emergency, duplicate attempt).
    Nothing,
    /// Denied: record the walking state, maybe lock.
    Denied {
        walk: Option<Walk>,
        lock: Option<TollRule>,
    },
    /// Allowed: record walking, count the call, register it live.
    Allowed {
        walk: Option<Walk>,
        dest: Box<str>,
        rate: u64,
        spend_warned: (bool, bool),
    },
}

impl TollGuard {
    /// A guard with `config`, applying `default_policy` to tenants that
    /// have none of their own.
    pub fn new(config: TollConfig, default_policy: ValidPolicy) -> Self {
        Self {
            config,
            origin: None,
            default_policy: Arc::new(default_policy),
            policies: HashMap::new(),
            accounts: HashMap::new(),
            tenants: HashMap::new(),
            live: HashMap::new(),
            stats: TollStats::default(),
        }
    }

    /// Sets `tenant`'s policy (counters are kept).
    pub fn set_policy(&mut self, tenant: &TenantId, policy: ValidPolicy) {
        self.policies
            .insert(tenant.as_str().into(), Arc::new(policy));
    }

    /// Drops `tenant`'s own policy: it falls back to the default one.
    pub fn remove_policy(&mut self, tenant: &TenantId) {
        self.policies.remove(tenant.as_str());
    }

    /// The policy in force for `tenant`.
    pub fn policy(&self, tenant: &TenantId) -> &ValidPolicy {
        self.policy_of(tenant.as_str())
    }

    fn policy_of(&self, tenant: &str) -> &ValidPolicy {
        self.policies.get(tenant).unwrap_or(&self.default_policy)
    }

    fn now_ms(&mut self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_insert(now);
        ms(now.saturating_duration_since(origin))
    }

    fn peek_ms(&self, now: Instant) -> u64 {
        self.origin
            .map_or(0, |o| ms(now.saturating_duration_since(o)))
    }

    /// Checks one call attempt and records it: counts it when allowed,
    /// registers it as live (ringing) under `attempt.call_id`, updates the
    /// number-walking state, and may lock the account. A repeated attempt
    /// with a live call id (an INVITE retransmission) is allowed again
    /// without being counted twice.
    pub fn check_call(
        &mut self,
        attempt: &CallAttempt<'_>,
        now: Instant,
        local: LocalTime,
    ) -> TollVerdict {
        let now_ms = self.now_ms(now);
        let mut plan = self.evaluate(attempt, now_ms, local);
        // Fail closed when a table is full of live or locked entries.
        if matches!(plan.kind, PlanKind::Allowed { .. }) && !self.make_room(attempt) {
            plan = Plan {
                verdict: TollVerdict::deny(TollRule::Capacity, Vec::new()),
                kind: PlanKind::Nothing,
            };
        }
        self.apply(attempt, now_ms, local, &mut plan);
        self.record(&plan.verdict);
        plan.verdict
    }

    /// The answer [`TollGuard::check_call`] would give now, with no side
    /// effect: no counter, walking state, lock or metric moves.
    pub fn explain(
        &self,
        attempt: &CallAttempt<'_>,
        now: Instant,
        local: LocalTime,
    ) -> TollVerdict {
        let mut plan = self.evaluate(attempt, self.peek_ms(now), local);
        if matches!(plan.kind, PlanKind::Allowed { .. }) && !self.has_room(attempt) {
            return TollVerdict::deny(TollRule::Capacity, Vec::new());
        }
        if let PlanKind::Denied { lock: Some(_), .. } = plan.kind {
            plan.verdict.locked = true;
        }
        plan.verdict
    }

    fn record(&mut self, v: &TollVerdict) {
        let s = &mut self.stats;
        s.checks += 1;
        match v.rule {
            None => {
                s.allowed += 1;
                s.emergency += u64::from(v.emergency);
            }
            Some(r) => *s.denied.entry(r).or_insert(0) += 1,
        }
        s.locks += u64::from(v.locked);
        for a in &v.alerts {
            match a.level {
                AlertLevel::Warn => s.warn_alerts += 1,
                AlertLevel::Critical => s.critical_alerts += 1,
            }
        }
    }

    fn evaluate(&self, a: &CallAttempt<'_>, now_ms: u64, local: LocalTime) -> Plan {
        let nothing = |verdict| Plan {
            verdict,
            kind: PlanKind::Nothing,
        };
        if a.account.is_empty()
            || a.account.len() > MAX_ACCOUNT
            || a.account.chars().any(char::is_control)
            || a.call_id.is_empty()
            || a.call_id.len() > MAX_CALL_ID
            || a.call_id.chars().any(char::is_control)
        {
            return nothing(TollVerdict::deny(TollRule::Malformed, Vec::new()));
        }
        let Ok(dest) = Destination::parse(a.destination) else {
            return nothing(TollVerdict::deny(TollRule::Malformed, Vec::new()));
        };
        let policy = self.policy_of(a.tenant.as_str());
        if policy.is_emergency(dest.dialed()) {
            return nothing(TollVerdict::allow(Vec::new(), true));
        }
        let key = account_key(a.tenant, a.account);
        if let Some(call) = self.live.get(a.call_id) {
            return nothing(if *call.key == *key && *call.dest == *dest.canonical() {
                TollVerdict::allow(Vec::new(), false)
            } else {
                TollVerdict::deny(TollRule::CallIdInUse, Vec::new())
            });
        }
        let account = self.accounts.get(key.as_str());
        if account.is_some_and(|acc| acc.locked.is_some()) {
            return nothing(TollVerdict::deny(TollRule::AccountLocked, Vec::new()));
        }
        let rules = policy.destinations_for(a.account);
        if !rules.open_at(local) {
            return nothing(TollVerdict::deny(TollRule::TimeWindow, Vec::new()));
        }
        if let Some(rule) = destination_rule(rules, &dest) {
            return nothing(TollVerdict::deny(rule, Vec::new()));
        }

        let mut found: Vec<(AlertLevel, TollRule, u64, u64)> = Vec::new();

        // Number walking.
        let walk = self.walk_state(account.map(|acc| &acc.walk), policy, rules, &dest, now_ms);
        let w = &policy.walking;
        judge(&mut found, TollRule::NumberWalking, walk.run, w.consecutive);
        let burst = burst_count(&walk, &dest, now_ms, ms(policy.burst_window()));
        judge(&mut found, TollRule::DestinationBurst, burst, w.burst);

        // Rates, concurrency and spend: the account's, then the tenant's.
        let empty = Counters::default();
        let ac = account.map_or(&empty, |acc| &acc.c);
        let tc = self.tenants.get(a.tenant.as_str()).unwrap_or(&empty);
        let day = local.day();
        let mut spend_warned = [false, false];
        let scopes = [
            (
                policy.limits_for(a.account),
                ac,
                [
                    TollRule::AccountCallsPerMinute,
                    TollRule::AccountCallsPerDay,
                    TollRule::AccountConcurrent,
                    TollRule::AccountSpend,
                ],
            ),
            (
                &policy.tenant_limits,
                tc,
                [
                    TollRule::TenantCallsPerMinute,
                    TollRule::TenantCallsPerDay,
                    TollRule::TenantConcurrent,
                    TollRule::TenantSpend,
                ],
            ),
        ];
        for ((limits, c, [cpm, cpd, conc, spend]), warned) in
            scopes.into_iter().zip(spend_warned.iter_mut())
        {
            judge(
                &mut found,
                cpm,
                c.per_minute(now_ms) + 1,
                limits.calls_per_minute,
            );
            judge(&mut found, cpd, c.calls_on(day) + 1, limits.calls_per_day);
            judge(&mut found, conc, c.live + 1, limits.concurrent_calls);
            // Spend: deny once the spend so far has reached the cap; warn
            // once per day when it reaches the warn level.
            if let Some(t) = limits.spend_per_day {
                let s = c.spend(day, now_ms);
                let already = c.spend_warned && day <= c.day;
                if s >= t.critical {
                    found.push((AlertLevel::Critical, spend, s, t.critical));
                } else if let Some(w) = t.warn
                    && s >= w
                {
                    if !already {
                        found.push((AlertLevel::Warn, spend, s, w));
                    }
                    *warned = true;
                }
            }
        }
        let critical = found
            .iter()
            .find(|f| f.0 == AlertLevel::Critical)
            .map(|f| f.1);
        let alerts: Vec<TollAlert> = found
            .into_iter()
            .map(|(level, rule, value, limit)| TollAlert {
                level,
                rule,
                tenant: a.tenant.clone(),
                account: a.account.to_owned(),
                call_id: Some(a.call_id.to_owned()),
                value,
                limit,
            })
            .collect();
        let spend_warned = (spend_warned[0], spend_warned[1]);

        let walk = Some(walk);
        match critical {
            Some(rule) => {
                let lock = (policy.lock_on_critical && rule.locks()).then_some(rule);
                Plan {
                    verdict: TollVerdict::deny(rule, alerts),
                    kind: PlanKind::Denied { walk, lock },
                }
            }
            None => Plan {
                verdict: TollVerdict::allow(alerts, false),
                kind: PlanKind::Allowed {
                    walk,
                    dest: dest.canonical().into(),
                    rate: policy.cost_per_minute(dest.canonical()),
                    spend_warned,
                },
            },
        }
    }

    /// The account's walking state with this destination added.
    fn walk_state(
        &self,
        old: Option<&Walk>,
        policy: &ValidPolicy,
        rules: &CompiledDestinations,
        dest: &Destination,
        now_ms: u64,
    ) -> Walk {
        let mut w = old.cloned().unwrap_or_default();
        let gap = ms(policy.consecutive_gap());
        let c = dest.canonical();
        w.run = match &w.last {
            Some((last, at)) if now_ms.saturating_sub(*at) <= gap && consecutive(last, c) => {
                w.run.saturating_add(1)
            }
            Some((last, at)) if now_ms.saturating_sub(*at) <= gap && **last == *c => w.run.max(1),
            _ => 1,
        };
        w.last = Some((c.into(), now_ms));
        let range_len = match rules.premium.longest(c) {
            Some((p, ())) => Some(p.len()),
            None if dest.is_international() => {
                Some((1 + usize::from(policy.walking.burst_range_digits)).min(c.len()))
            }
            None => None,
        };
        if let (Some(range_len), Some(t)) = (range_len, policy.walking.burst) {
            let window = ms(policy.burst_window());
            w.burst
                .retain(|r| now_ms.saturating_sub(r.at_ms) <= window && *r.dest != *c);
            w.burst.push_back(Recent {
                dest: c.into(),
                range_len: u8::try_from(range_len).unwrap_or(u8::MAX),
                at_ms: now_ms,
            });
            let cap = usize::try_from(t.critical)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            // At most critical + 1 entries per range (enough to see the
            // burst) and four times that in all, oldest dropped first.
            let range = c.get(..range_len).unwrap_or(c);
            let in_range = |r: &Recent| r.dest.get(..usize::from(r.range_len)) == Some(range);
            while w.burst.iter().filter(|r| in_range(r)).count() > cap {
                if let Some(i) = w.burst.iter().position(in_range) {
                    w.burst.remove(i);
                }
            }
            while w.burst.len() > cap.saturating_mul(4) {
                w.burst.pop_front();
            }
        }
        w
    }

    /// Makes room for the attempt's account, tenant and live call; `false`
    /// when a table is full of entries that cannot be evicted.
    fn make_room(&mut self, a: &CallAttempt<'_>) -> bool {
        if self.live.len() >= self.config.max_live_calls {
            return false;
        }
        let key = account_key(a.tenant, a.account);
        if !self.accounts.contains_key(key.as_str())
            && self.accounts.len() >= self.config.max_accounts
        {
            let n = evict_oldest(
                &mut self.accounts,
                |acc| acc.c.idle() && acc.locked.is_none(),
                |acc| acc.c.last_seen_ms,
            );
            self.stats.evicted += n as u64;
            if self.accounts.len() >= self.config.max_accounts {
                return false;
            }
        }
        if !self.tenants.contains_key(a.tenant.as_str())
            && self.tenants.len() >= self.config.max_tenants
        {
            let n = evict_oldest(&mut self.tenants, Counters::idle, |c| c.last_seen_ms);
            self.stats.evicted += n as u64;
            if self.tenants.len() >= self.config.max_tenants {
                return false;
            }
        }
        true
    }

    fn has_room(&self, a: &CallAttempt<'_>) -> bool {
        if self.live.len() >= self.config.max_live_calls {
            return false;
        }
        let key = account_key(a.tenant, a.account);
        let acc_ok = self.accounts.contains_key(key.as_str())
            || self.accounts.len() < self.config.max_accounts
            || self
                .accounts
                .values()
                .any(|acc| acc.c.idle() && acc.locked.is_none());
        let ten_ok = self.tenants.contains_key(a.tenant.as_str())
            || self.tenants.len() < self.config.max_tenants
            || self.tenants.values().any(Counters::idle);
        acc_ok && ten_ok
    }

    fn apply(&mut self, a: &CallAttempt<'_>, now_ms: u64, local: LocalTime, plan: &mut Plan) {
        let (walk, lock, allowed) = match &mut plan.kind {
            PlanKind::Nothing => return,
            PlanKind::Denied { walk, lock } => (walk.take(), *lock, None),
            PlanKind::Allowed {
                walk,
                dest,
                rate,
                spend_warned,
            } => (
                walk.take(),
                None,
                Some((dest.clone(), *rate, *spend_warned)),
            ),
        };
        let key = account_key(a.tenant, a.account);
        if !self.accounts.contains_key(key.as_str()) {
            if allowed.is_none() && self.accounts.len() >= self.config.max_accounts {
                // A denied attempt never evicts anyone; its walking state
                // is simply not kept. A lock still needs an entry.
                if lock.is_none() {
                    return;
                }
                let n = evict_oldest(
                    &mut self.accounts,
                    |acc| acc.c.idle() && acc.locked.is_none(),
                    |acc| acc.c.last_seen_ms,
                );
                self.stats.evicted += n as u64;
            }
            self.accounts.insert(
                key.clone().into(),
                Account {
                    tenant: a.tenant.clone(),
                    name: a.account.into(),
                    c: Counters {
                        day: local.day(),
                        last_slot: now_ms / SLOT_MS,
                        last_seen_ms: now_ms,
                        ..Counters::default()
                    },
                    walk: Walk::default(),
                    locked: None,
                },
            );
        }
        let Some(acc) = self.accounts.get_mut(key.as_str()) else {
            return;
        };
        acc.c.last_seen_ms = now_ms;
        if let Some(w) = walk {
            acc.walk = w;
        }
        if let Some(rule) = lock {
            acc.locked = Some(rule);
            plan.verdict.locked = true;
        }
        let Some((dest, rate, (acc_warned, ten_warned))) = allowed else {
            return;
        };
        acc.c.roll(local.day());
        acc.c.count_minute(now_ms);
        acc.c.calls_today = acc.c.calls_today.saturating_add(1);
        acc.c.live += 1;
        acc.c.spend_warned |= acc_warned;
        let tc = self
            .tenants
            .entry(a.tenant.as_str().into())
            .or_insert_with(|| Counters {
                day: local.day(),
                last_slot: now_ms / SLOT_MS,
                ..Counters::default()
            });
        tc.last_seen_ms = now_ms;
        tc.roll(local.day());
        tc.count_minute(now_ms);
        tc.calls_today = tc.calls_today.saturating_add(1);
        tc.live += 1;
        tc.spend_warned |= ten_warned;
        self.live.insert(
            a.call_id.into(),
            LiveCall {
                key: key.into(),
                tenant: a.tenant.as_str().into(),
                dest,
                started_ms: now_ms,
                answered_ms: None,
                rate,
                cut: false,
            },
        );
    }

    /// The call `call_id` was answered at `now`: billing starts. Unknown,
    /// ended or already answered calls are ignored (returns `false`).
    pub fn on_call_answered(&mut self, call_id: &str, now: Instant) -> bool {
        let now_ms = self.now_ms(now);
        let Some(call) = self.live.get_mut(call_id) else {
            return false;
        };
        if call.answered_ms.is_some() {
            return false;
        }
        let at = now_ms.max(call.started_ms);
        call.answered_ms = Some(at);
        let (rate, key, tenant) = (call.rate, call.key.clone(), call.tenant.clone());
        for c in [
            self.accounts.get_mut(&key).map(|acc| &mut acc.c),
            self.tenants.get_mut(&tenant),
        ]
        .into_iter()
        .flatten()
        {
            c.rate_sum = c.rate_sum.saturating_add(rate);
            c.rate_time_sum = c
                .rate_time_sum
                .saturating_add(u128::from(rate) * u128::from(at));
        }
        true
    }

    /// The call `call_id` ended at `now` with `outcome`: it is released and
    /// its answered time (capped at `max_call_duration`) is billed to the
    /// account's and tenant's spend. Returns the amount billed, or `None`
    /// for an unknown or already ended call (duplicates are harmless).
    pub fn on_call_ended(
        &mut self,
        call_id: &str,
        now: Instant,
        outcome: CallOutcome,
    ) -> Option<u64> {
        let now_ms = self.now_ms(now);
        let call = self.live.remove(call_id)?;
        let code = match outcome {
            CallOutcome::Completed => "completed",
            CallOutcome::Failed => "failed",
            CallOutcome::Cancelled => "cancelled",
            CallOutcome::Abnormal => "abnormal",
        };
        *self.stats.ended.entry(code).or_insert(0) += 1;
        Some(self.release(&call, now_ms))
    }

    fn release(&mut self, call: &LiveCall, now_ms: u64) -> u64 {
        let billed = call.answered_ms.map_or(0, |at| {
            let dur = now_ms
                .saturating_sub(at)
                .min(ms(self.config.max_call_duration));
            bill(dur, call.rate)
        });
        for c in [
            self.accounts.get_mut(&call.key).map(|acc| &mut acc.c),
            self.tenants.get_mut(&call.tenant),
        ]
        .into_iter()
        .flatten()
        {
            c.live = c.live.saturating_sub(1);
            if let Some(at) = call.answered_ms {
                c.rate_sum = c.rate_sum.saturating_sub(call.rate);
                c.rate_time_sum = c
                    .rate_time_sum
                    .saturating_sub(u128::from(call.rate) * u128::from(at));
            }
            c.spend_today = c.spend_today.saturating_add(billed);
            c.last_seen_ms = c.last_seen_ms.max(now_ms);
        }
        billed
    }

    /// Housekeeping, to call every few seconds: reaps stale calls (never
    /// answered within `max_ring`, or answered longer than
    /// `max_call_duration`, which are also cut), asks `control` to cut
    /// answered calls whose account or tenant spend (running cost
    /// included) reached its critical cap and every live call of a locked
    /// account, rolls the local day, and drops entries idle for
    /// `idle_eviction`.
    pub fn sweep(
        &mut self,
        now: Instant,
        local: LocalTime,
        control: &mut dyn CallControl,
    ) -> SweepReport {
        let now_ms = self.now_ms(now);
        let mut report = SweepReport::default();
        let ring = ms(self.config.max_ring);
        let max_dur = ms(self.config.max_call_duration);
        for acc in self.accounts.values_mut() {
            acc.c.roll(local.day());
        }
        for c in self.tenants.values_mut() {
            c.roll(local.day());
        }

        // Stale calls.
        let stale: Vec<Box<str>> = self
            .live
            .iter()
            .filter(|(_, c)| match c.answered_ms {
                None => now_ms.saturating_sub(c.started_ms) > ring,
                Some(at) => now_ms.saturating_sub(at) > max_dur,
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(call) = self.live.remove(&id) {
                if call.answered_ms.is_some() && !call.cut {
                    control.cut(
                        &id,
                        &CutReason {
                            rule: TollRule::AccountSpend,
                            rule_id: RuleId::new("toll:max-call-duration"),
                        },
                    );
                    report.cut.push(id.to_string());
                }
                self.release(&call, now_ms);
                report.reaped += 1;
            }
        }

        // Spend caps and locks on live calls.
        let mut cuts: Vec<(Box<str>, TollRule)> = Vec::new();
        let mut lock: Vec<(Box<str>, TollRule)> = Vec::new();
        for (id, call) in &self.live {
            if call.cut {
                continue;
            }
            let Some(acc) = self.accounts.get(&call.key) else {
                continue;
            };
            if acc.locked.is_some() {
                cuts.push((id.clone(), TollRule::AccountLocked));
                continue;
            }
            if call.answered_ms.is_none() {
                continue;
            }
            let policy = self.policy_of(&call.tenant);
            let checks = [
                (
                    TollRule::AccountSpend,
                    policy.limits_for(&acc.name).spend_per_day,
                    Some(&acc.c),
                ),
                (
                    TollRule::TenantSpend,
                    policy.tenant_limits.spend_per_day,
                    self.tenants.get(&call.tenant),
                ),
            ];
            for (rule, t, c) in checks {
                let (Some(t), Some(c)) = (t, c) else { continue };
                let spent = c.spend(local.day(), now_ms);
                if spent >= t.critical {
                    report.alerts.push(TollAlert {
                        level: AlertLevel::Critical,
                        rule,
                        tenant: acc.tenant.clone(),
                        account: acc.name.to_string(),
                        call_id: Some(id.to_string()),
                        value: spent,
                        limit: t.critical,
                    });
                    cuts.push((id.clone(), rule));
                    if policy.lock_on_critical {
                        lock.push((call.key.clone(), rule));
                    }
                    break;
                }
            }
        }
        for (key, rule) in lock {
            if let Some(acc) = self.accounts.get_mut(&key)
                && acc.locked.is_none()
            {
                acc.locked = Some(rule);
                self.stats.locks += 1;
            }
        }
        for (id, rule) in cuts {
            if let Some(call) = self.live.get_mut(&id) {
                call.cut = true;
                control.cut(
                    &id,
                    &CutReason {
                        rule,
                        rule_id: rule.rule_id(),
                    },
                );
                report.cut.push(id.to_string());
            }
        }

        // Idle entries.
        let idle = ms(self.config.idle_eviction);
        let before = self.accounts.len() + self.tenants.len();
        self.accounts.retain(|_, acc| {
            !(acc.c.idle()
                && acc.locked.is_none()
                && now_ms.saturating_sub(acc.c.last_seen_ms) >= idle)
        });
        self.tenants
            .retain(|_, c| !(c.idle() && now_ms.saturating_sub(c.last_seen_ms) >= idle));
        report.evicted = before - self.accounts.len() - self.tenants.len();

        self.stats.reaped += report.reaped as u64;
        self.stats.evicted += report.evicted as u64;
        self.stats.cuts += report.cut.len() as u64;
        self.stats.critical_alerts += report.alerts.len() as u64;
        report
    }

    /// Unlocks `account`'s outbound calling (an admin action). Returns
    /// `false` when it was not locked.
    pub fn unlock(&mut self, tenant: &TenantId, account: &str) -> bool {
        let key = account_key(tenant, account);
        match self.accounts.get_mut(key.as_str()) {
            Some(acc) if acc.locked.is_some() => {
                acc.locked = None;
                acc.walk = Walk::default();
                true
            }
            _ => false,
        }
    }

    /// Every locked account, sorted by tenant then account.
    pub fn locked_accounts(&self) -> Vec<LockedAccount> {
        let mut v: Vec<_> = self
            .accounts
            .values()
            .filter_map(|acc| {
                acc.locked.map(|rule| LockedAccount {
                    tenant: acc.tenant.clone(),
                    account: acc.name.to_string(),
                    rule,
                })
            })
            .collect();
        v.sort_by(|a, b| (&a.tenant, &a.account).cmp(&(&b.tenant, &b.account)));
        v
    }

    /// The metrics counters.
    pub fn stats(&self) -> &TollStats {
        &self.stats
    }

    /// Live (ringing or answered) calls tracked.
    pub fn live_calls(&self) -> usize {
        self.live.len()
    }

    /// Live calls of `account` (its concurrent-call counter).
    pub fn concurrent(&self, tenant: &TenantId, account: &str) -> u64 {
        let key = account_key(tenant, account);
        self.accounts.get(key.as_str()).map_or(0, |acc| acc.c.live)
    }

    /// Live calls of all of `tenant`'s accounts.
    pub fn tenant_concurrent(&self, tenant: &TenantId) -> u64 {
        self.tenants.get(tenant.as_str()).map_or(0, |c| c.live)
    }

    /// `account`'s spend on local day `day` (minor units), running cost of
    /// answered calls included.
    pub fn spend(&self, tenant: &TenantId, account: &str, now: Instant, day: i64) -> u64 {
        let key = account_key(tenant, account);
        self.accounts
            .get(key.as_str())
            .map_or(0, |acc| acc.c.spend(day, self.peek_ms(now)))
    }

    /// Account and tenant entries tracked (for memory monitoring).
    pub fn tracked(&self) -> (usize, usize) {
        (self.accounts.len(), self.tenants.len())
    }

    /// Sum of every account's and tenant's concurrent-call counter (equals
    /// twice [`Self::live_calls`] when consistent; for tests and checks).
    pub fn concurrent_total(&self) -> (u64, u64) {
        (
            self.accounts.values().map(|a| a.c.live).sum(),
            self.tenants.values().map(|c| c.live).sum(),
        )
    }
}

/// The destination-class rule that refuses `dest`, if any: the longest
/// matching allowed or denied prefix wins (a tie denies), then premium,
/// international and restrict-to-allowed.
fn destination_rule(rules: &CompiledDestinations, dest: &Destination) -> Option<TollRule> {
    let c = dest.canonical();
    let allowed = rules.allowed.longest(c).map(|(p, ())| p.len());
    let denied = rules.denied.longest(c).map(|(p, ())| p.len());
    let premium = rules.premium.longest(c).map(|(p, ())| p.len());
    let beats = |other: Option<usize>| match (allowed, other) {
        (Some(a), Some(o)) => a > o,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if denied.is_some() && !beats(denied) {
        return Some(TollRule::DeniedPrefix);
    }
    if premium.is_some() && !(allowed.is_some() && allowed >= premium) {
        return Some(TollRule::Premium);
    }
    if allowed.is_some() {
        return None;
    }
    if dest.is_international() && !rules.allow_international {
        return Some(TollRule::International);
    }
    if rules.restrict_to_allowed {
        return Some(TollRule::NotAllowed);
    }
    None
}

/// Records a critical finding when `value` is above the critical level,
/// or a warn finding when it has just gone above the warn level.
fn judge(
    out: &mut Vec<(AlertLevel, TollRule, u64, u64)>,
    rule: TollRule,
    value: u64,
    t: Option<Threshold>,
) {
    let Some(t) = t else { return };
    if value > t.critical {
        out.push((AlertLevel::Critical, rule, value, t.critical));
    } else if let Some(w) = t.warn
        && value == w.saturating_add(1)
    {
        out.push((AlertLevel::Warn, rule, value, w));
    }
}

/// Distinct destinations in `dest`'s range within the window (the walk
/// state already holds `dest`).
fn burst_count(w: &Walk, dest: &Destination, now_ms: u64, window: u64) -> u64 {
    let c = dest.canonical();
    let Some(mine) = w.burst.iter().rev().find(|r| *r.dest == *c) else {
        return 0;
    };
    let range = c.get(..usize::from(mine.range_len)).unwrap_or(c);
    w.burst
        .iter()
        .filter(|r| {
            now_ms.saturating_sub(r.at_ms) <= window
                && r.dest.get(..usize::from(r.range_len)) == Some(range)
        })
        .count() as u64
}

/// Evicts an eighth of `map` (at least one entry) among the evictable
/// entries with the oldest `age` key; returns how many were dropped.
fn evict_oldest<V>(
    map: &mut HashMap<Box<str>, V>,
    evictable: impl Fn(&V) -> bool,
    age: impl Fn(&V) -> u64,
) -> usize {
    let mut ages: Vec<u64> = map.values().filter(|v| evictable(v)).map(&age).collect();
    if ages.is_empty() {
        return 0;
    }
    let n = (map.len() / 8).clamp(1, ages.len());
    let (_, cut, _) = ages.select_nth_unstable(n - 1);
    let cut = *cut;
    let mut left = n;
    let before = map.len();
    map.retain(|_, v| {
        if left > 0 && evictable(v) && age(v) <= cut {
            left -= 1;
            false
        } else {
            true
        }
    });
    before - map.len()
}
