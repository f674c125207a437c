//! Brute-force defence: failed authentications counted per source address
//! and per account, bans that escalate on repeat offences.
//!
//! Signals carry weights: a request that carried no credentials is simply
//! not reported (it counts 0, so a call center behind one carrier-grade NAT
//! is not banned for being challenged); a success resets the source's score.
//!
//! # Per source
//! `max_failures` failures within `window` from one address ban it for
//! `ban`; each repeat offence multiplies the ban by `escalation`, up to
//! `max_ban`. Bans go into the shared [`BanTable`] (kind
//! [`BanKind::BruteForce`]).
//!
//! # Per account
//! Failures for one account are also counted across all sources. When
//! `account_max_failures` arrive within `account_window` (a distributed
//! guess at one extension), the guard raises an [`AccountAlert`] and, for
//! `account_alert_for`, tightens the per-source limit **for failures on
//! that account** to `tightened_max_failures`. Addresses from which the
//! account authenticated successfully within `known_address_for` keep the
//! normal limit, so an attacker cannot lock the user out of the addresses
//! it normally registers from. The account itself is never locked.
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::{Duration, Instant};
//! use okcc_core::guard::{BanConfig, BanTable, BruteForceConfig, BruteForceGuard};
//!
//! let mut guard = BruteForceGuard::new(BruteForceConfig::default());
//! let mut bans = BanTable::new(BanConfig::default());
//! let ip: IpAddr = "203.0.113.7".parse().unwrap();
//! let t0 = Instant::now();
//! for i in 0..5 {
//!     guard.record_failure(ip, Some("1001"), t0 + Duration::from_secs(i), &mut bans);
//! }
//! assert!(guard.check(ip, t0 + Duration::from_secs(6), &bans).is_some());
//! ```

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::ban::{Ban, BanKind, BanTable};

/// The rule id of brute-force bans.
pub const BRUTE_FORCE_RULE: &str = "guard:brute-force";

/// Limits of the brute-force guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BruteForceConfig {
    /// Failures from one source within `window` that trigger a ban (default 5).
    pub max_failures: u32,
    /// The counting window (default 60 s).
    pub window: Duration,
    /// The first ban (default 10 min).
    pub ban: Duration,
    /// Each repeat offence multiplies the ban by this (default 4).
    pub escalation: u32,
    /// Bans never exceed this (default 24 h).
    pub max_ban: Duration,
    /// Offences are forgotten after this long without one (default 24 h).
    pub forget_after: Duration,
    /// At most this many sources are tracked (default 1 000 000).
    pub max_sources: usize,
    /// Failures for one account, from any sources, within `account_window`
    /// that raise an alert and tighten the per-source limit (default 20).
    pub account_max_failures: u32,
    /// The per-account counting window (default 10 min).
    pub account_window: Duration,
    /// How long an account stays under tightened limits after an alert
    /// (default 1 h).
    pub account_alert_for: Duration,
    /// The per-source limit for failures on an account under attack, from
    /// addresses the account has not recently authenticated from (default 2).
    pub tightened_max_failures: u32,
    /// How long a successful authentication makes its address "known" for
    /// the account (default 7 days).
    pub known_address_for: Duration,
    /// Known addresses remembered per account (default 8, most recent kept).
    pub max_known_addresses: usize,
    /// At most this many accounts are tracked (default 100 000).
    pub max_accounts: usize,
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(600),
            escalation: 4,
            max_ban: Duration::from_secs(24 * 3600),
            forget_after: Duration::from_secs(24 * 3600),
            max_sources: 1_000_000,
            account_max_failures: 20,
            account_window: Duration::from_secs(600),
            account_alert_for: Duration::from_secs(3600),
            tightened_max_failures: 2,
            known_address_for: Duration::from_secs(7 * 24 * 3600),
            max_known_addresses: 8,
            max_accounts: 100_000,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Source {
    failures: u32,
    window_start: Instant,
    offences: u32,
    last_offence: Option<Instant>,
}

#[derive(Clone, Debug)]
struct Account {
    failures: u32,
    window_start: Instant,
    alert_until: Option<Instant>,
    /// Addresses of recent successes, with the time of the last one.
    known: Vec<(IpAddr, Instant)>,
}

/// Raised once when one account sees `account_max_failures` failures
/// within `account_window` (a distributed attack on it).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountAlert {
    /// The account (as the requests named it).
    pub account: String,
    /// Failures counted in the window.
    pub failures: u32,
    /// Tightened limits apply until then.
    pub until: Instant,
}

/// What one failure led to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailureOutcome {
    /// The ban this failure triggered, if any.
    pub ban: Option<Ban>,
    /// The account alert this failure raised, if any.
    pub alert: Option<AccountAlert>,
}

/// Per-source and per-account failure counting with escalating bans
/// (`&mut self`; wrap it in a mutex).
#[derive(Debug)]
pub struct BruteForceGuard {
    config: BruteForceConfig,
    hasher: RandomState,
    sources: HashMap<IpAddr, Source>,
    accounts: HashMap<u64, Account>,
}

impl BruteForceGuard {
    /// A guard with `config`.
    pub fn new(config: BruteForceConfig) -> Self {
        Self {
            config,
            hasher: RandomState::new(),
            sources: HashMap::new(),
            accounts: HashMap::new(),
        }
    }

    /// `ip`'s brute-force ban in force at `now`, if any.
    pub fn check(&self, ip: IpAddr, now: Instant, bans: &BanTable) -> Option<Ban> {
        bans.banned(ip, now)
            .filter(|b| b.kind == BanKind::BruteForce)
    }

    fn account_key(&self, account: &str) -> u64 {
        self.hasher.hash_one(account)
    }

    /// `true` while `account` is under tightened limits after an alert.
    pub fn under_attack(&self, account: &str, now: Instant) -> bool {
        self.accounts
            .get(&self.account_key(account))
            .and_then(|a| a.alert_until)
            .is_some_and(|u| u > now)
    }

    /// `true` if `account` authenticated from `ip` within `known_address_for`.
    pub fn is_known_address(&self, account: &str, ip: IpAddr, now: Instant) -> bool {
        let ip = ip.to_canonical();
        let keep = self.config.known_address_for;
        self.accounts
            .get(&self.account_key(account))
            .is_some_and(|a| {
                a.known
                    .iter()
                    .any(|(k, t)| *k == ip && now.saturating_duration_since(*t) < keep)
            })
    }

    /// The per-source failure limit that applies to failures from `ip` on
    /// `account` at `now`.
    pub fn limit_for(&self, ip: IpAddr, account: Option<&str>, now: Instant) -> u32 {
        match account {
            Some(a) if self.under_attack(a, now) && !self.is_known_address(a, ip, now) => self
                .config
                .tightened_max_failures
                .clamp(1, self.config.max_failures.max(1)),
            _ => self.config.max_failures.max(1),
        }
    }

    /// Failures counted for `ip` in its current window at `now`.
    pub fn failures(&self, ip: IpAddr, now: Instant) -> u32 {
        self.sources
            .get(&ip.to_canonical())
            .filter(|s| now.saturating_duration_since(s.window_start) < self.config.window)
            .map_or(0, |s| s.failures)
    }

    /// Records one failed authentication (wrong secret, unknown user,
    /// replay) from `ip` on `account` (the user the credentials named).
    /// Returns the ban and the account alert it triggered, if any.
    pub fn record_failure(
        &mut self,
        ip: IpAddr,
        account: Option<&str>,
        now: Instant,
        bans: &mut BanTable,
    ) -> FailureOutcome {
        let ip = ip.to_canonical();
        let mut out = FailureOutcome::default();
        if let Some(name) = account {
            out.alert = self.count_account(name, now);
        }
        if self.check(ip, now, bans).is_some() {
            return out;
        }
        let limit = self.limit_for(ip, account, now);
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.config.max_sources {
            self.evict(now);
        }
        let cfg = self.config;
        let s = self.sources.entry(ip).or_insert(Source {
            failures: 0,
            window_start: now,
            offences: 0,
            last_offence: None,
        });
        if now.saturating_duration_since(s.window_start) >= cfg.window {
            s.failures = 0;
            s.window_start = now;
        }
        if s.last_offence
            .is_some_and(|t| now.saturating_duration_since(t) >= cfg.forget_after)
        {
            s.offences = 0;
        }
        s.failures = s.failures.saturating_add(1);
        if s.failures < limit {
            return out;
        }
        let factor = cfg.escalation.max(1).saturating_pow(s.offences.min(16));
        let ban = cfg.ban.saturating_mul(factor).min(cfg.max_ban);
        s.offences = s.offences.saturating_add(1);
        s.last_offence = Some(now);
        s.failures = 0;
        s.window_start = now;
        let offences = s.offences;
        out.ban = Some(bans.ban(ip, BanKind::BruteForce, ban, ban, offences, now));
        out
    }

    fn count_account(&mut self, name: &str, now: Instant) -> Option<AccountAlert> {
        let k = self.account_key(name);
        let cfg = self.config;
        if !self.accounts.contains_key(&k) && self.accounts.len() >= cfg.max_accounts.max(1) {
            self.evict_accounts(now);
        }
        let a = self.accounts.entry(k).or_insert_with(|| Account {
            failures: 0,
            window_start: now,
            alert_until: None,
            known: Vec::new(),
        });
        if now.saturating_duration_since(a.window_start) >= cfg.account_window {
            a.failures = 0;
            a.window_start = now;
        }
        a.failures = a.failures.saturating_add(1);
        let alerting = a.alert_until.is_some_and(|u| u > now);
        if a.failures < cfg.account_max_failures.max(1) || alerting {
            return None;
        }
        let until = now + cfg.account_alert_for;
        a.alert_until = Some(until);
        Some(AccountAlert {
            account: name.chars().take(128).collect(),
            failures: a.failures,
            until,
        })
    }

    /// Records a successful authentication from `ip` as `account`: the
    /// source's failure score resets (its offence history, which drives
    /// escalation, is kept) and `ip` becomes a known address of the account.
    pub fn record_success(&mut self, ip: IpAddr, account: Option<&str>, now: Instant) {
        let ip = ip.to_canonical();
        if let Some(s) = self.sources.get_mut(&ip) {
            s.failures = 0;
        }
        let Some(name) = account else {
            return;
        };
        let k = self.account_key(name);
        let cfg = self.config;
        if !self.accounts.contains_key(&k) && self.accounts.len() >= cfg.max_accounts.max(1) {
            self.evict_accounts(now);
        }
        let a = self.accounts.entry(k).or_insert_with(|| Account {
            failures: 0,
            window_start: now,
            alert_until: None,
            known: Vec::new(),
        });
        a.known
            .retain(|(k, t)| *k != ip && now.saturating_duration_since(*t) < cfg.known_address_for);
        a.known.push((ip, now));
        let max = cfg.max_known_addresses.max(1);
        if a.known.len() > max {
            let drop = a.known.len() - max;
            a.known.drain(..drop);
        }
    }

    /// Forgets `ip`'s failure count (operator action, with an unban).
    pub fn forget(&mut self, ip: IpAddr) -> bool {
        self.sources.remove(&ip.to_canonical()).is_some()
    }

    /// How many sources are tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// How many accounts are tracked.
    pub fn tracked_accounts(&self) -> usize {
        self.accounts.len()
    }

    /// Drops sources with nothing left to remember; if still full, drops
    /// an eighth of the table, oldest window first (bans live on in the
    /// [`BanTable`]).
    fn evict(&mut self, now: Instant) {
        let cfg = self.config;
        self.sources.retain(|_, s| {
            let counting = now.saturating_duration_since(s.window_start) < cfg.window;
            let remembered = s
                .last_offence
                .is_some_and(|t| now.saturating_duration_since(t) < cfg.forget_after);
            counting || remembered
        });
        if self.sources.len() >= cfg.max_sources {
            let target = cfg.max_sources - cfg.max_sources / 8 - 1;
            let mut ranked: Vec<_> = self
                .sources
                .iter()
                .map(|(ip, s)| (s.window_start, *ip))
                .collect();
            ranked.sort_unstable();
            let excess = self.sources.len().saturating_sub(target);
            for (_, ip) in ranked.into_iter().take(excess) {
                self.sources.remove(&ip);
            }
        }
    }

    /// Drops accounts with nothing left to remember; if still full, an
    /// eighth of them, oldest window first (alerting accounts last).
    fn evict_accounts(&mut self, now: Instant) {
        let cfg = self.config;
        self.accounts.retain(|_, a| {
            now.saturating_duration_since(a.window_start) < cfg.account_window
                || a.alert_until.is_some_and(|u| u > now)
                || a.known
                    .iter()
                    .any(|(_, t)| now.saturating_duration_since(*t) < cfg.known_address_for)
        });
        let max = cfg.max_accounts.max(1);
        if self.accounts.len() >= max {
            let target = max - (max / 8).max(1);
            let mut ranked: Vec<_> = self
                .accounts
                .iter()
                .map(|(k, a)| (a.alert_until.is_some_and(|u| u > now), a.window_start, *k))
                .collect();
            ranked.sort_unstable();
            let excess = self.accounts.len().saturating_sub(target);
            for (_, _, k) in ranked.into_iter().take(excess) {
                self.accounts.remove(&k);
            }
        }
    }
}

// Tests may read the clock to get an `Instant` origin; the guard never does.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use crate::guard::BanConfig;
    use proptest::prelude::*;

    /// A brute-force guard with its ban table, as the pipeline holds them.
    struct G {
        g: BruteForceGuard,
        b: BanTable,
    }

    impl G {
        fn new(cfg: BruteForceConfig) -> Self {
            Self {
                g: BruteForceGuard::new(cfg),
                b: BanTable::new(BanConfig::default()),
            }
        }
        fn record_failure(&mut self, ip: IpAddr, now: Instant) -> Option<Instant> {
            self.g
                .record_failure(ip, None, now, &mut self.b)
                .ban
                .map(|b| b.until)
        }
        fn fail_as(&mut self, ip: IpAddr, user: &str, now: Instant) -> FailureOutcome {
            self.g.record_failure(ip, Some(user), now, &mut self.b)
        }
        fn record_success(&mut self, ip: IpAddr) {
            self.g.record_success(ip, None, Instant::now());
        }
        fn check(&self, ip: IpAddr, now: Instant) -> Option<Instant> {
            self.g.check(ip, now, &self.b).map(|b| b.until)
        }
        fn unban(&mut self, ip: IpAddr, now: Instant) -> bool {
            self.b.unban(ip, now).is_some()
        }
        fn bans(&self, now: Instant) -> Vec<(IpAddr, Instant)> {
            self.b.list_kind(BanKind::BruteForce, now)
        }
        fn tracked(&self) -> usize {
            self.g.tracked()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn req_9_1_five_failures_in_60s_ban_for_10_min_then_expire() {
        let t0 = Instant::now();
        let mut g = G::new(BruteForceConfig::default());
        let a = ip("203.0.113.7");
        for i in 0..4 {
            assert_eq!(g.record_failure(a, t0 + secs(i)), None);
        }
        assert_eq!(g.check(a, t0 + secs(4)), None);
        assert_eq!(g.record_failure(a, t0 + secs(4)), Some(t0 + secs(604)));
        assert_eq!(g.check(a, t0 + secs(5)), Some(t0 + secs(604)));
        assert_eq!(g.check(a, t0 + secs(604)), None);
        assert_eq!(g.bans(t0 + secs(5)), vec![(a, t0 + secs(604))]);
    }

    #[test]
    fn req_9_1_failures_outside_the_window_and_successes_reset() {
        let t0 = Instant::now();
        let mut g = G::new(BruteForceConfig::default());
        let a = ip("198.51.100.1");
        for i in 0..4 {
            g.record_failure(a, t0 + secs(i));
        }
        assert_eq!(g.record_failure(a, t0 + secs(61)), None, "window restarted");
        for i in 0..3 {
            g.record_failure(a, t0 + secs(62 + i));
        }
        g.record_success(a);
        assert_eq!(
            g.record_failure(a, t0 + secs(70)),
            None,
            "success reset the score"
        );
    }

    #[test]
    fn req_9_1_repeat_offences_escalate_x4_capped_at_24h() {
        let t0 = Instant::now();
        let mut g = G::new(BruteForceConfig::default());
        let a = ip("2001:db8::7");
        let mut now = t0;
        let mut bans = Vec::new();
        for _ in 0..5 {
            let mut until = None;
            for _ in 0..5 {
                until = g.record_failure(a, now).or(until);
            }
            let until = until.expect("banned");
            bans.push(until - now);
            now = until + secs(1);
        }
        assert_eq!(
            bans,
            vec![secs(600), secs(2400), secs(9600), secs(38400), secs(86400)]
        );
    }

    #[test]
    fn req_9_1_manual_unban_and_v4_mapped_sources() {
        let t0 = Instant::now();
        let mut g = G::new(BruteForceConfig::default());
        for _ in 0..5 {
            g.record_failure(ip("::ffff:203.0.113.9"), t0);
        }
        assert!(g.check(ip("203.0.113.9"), t0).is_some());
        assert!(g.unban(ip("203.0.113.9"), t0));
        assert!(g.check(ip("203.0.113.9"), t0).is_none());
        assert!(!g.unban(ip("203.0.113.9"), t0));
    }

    #[test]
    fn memory_stays_bounded_and_bans_survive_eviction() {
        let t0 = Instant::now();
        let cfg = BruteForceConfig {
            max_sources: 64,
            ..BruteForceConfig::default()
        };
        let mut g = G::new(cfg);
        let banned = ip("192.0.2.1");
        for _ in 0..5 {
            g.record_failure(banned, t0);
        }
        for i in 0..10_000u32 {
            let spoofed = IpAddr::from(i.to_be_bytes());
            g.record_failure(spoofed, t0 + secs(1));
            assert!(g.tracked() <= 64);
        }
        assert!(g.check(banned, t0 + secs(2)).is_some());
    }

    #[test]
    fn req_9_1_account_attack_from_many_sources_alerts_and_tightens_the_limit() {
        let t0 = Instant::now();
        let mut g = G::new(BruteForceConfig::default());
        let mut alerts = Vec::new();
        // 20 sources, one failure each, all on account 1001.
        for i in 0..20u8 {
            let out = g.fail_as(
                IpAddr::from([198, 51, 100, i]),
                "1001",
                t0 + secs(u64::from(i)),
            );
            assert!(out.ban.is_none(), "one failure never bans");
            alerts.extend(out.alert);
        }
        assert_eq!(alerts.len(), 1, "one alert, not one per failure");
        assert_eq!(alerts[0].account, "1001");
        assert_eq!(alerts[0].failures, 20);
        assert!(g.g.under_attack("1001", t0 + secs(30)));
        assert!(!g.g.under_attack("1002", t0 + secs(30)));
        // Now a new source is banned after 2 failures on 1001 ...
        let attacker = ip("203.0.113.50");
        assert!(g.fail_as(attacker, "1001", t0 + secs(40)).ban.is_none());
        assert!(g.fail_as(attacker, "1001", t0 + secs(41)).ban.is_some());
        // ... but failures on other accounts keep the normal limit.
        let other = ip("203.0.113.51");
        for i in 0..4 {
            assert!(g.fail_as(other, "1002", t0 + secs(42 + i)).ban.is_none());
        }
        assert!(g.fail_as(other, "1002", t0 + secs(46)).ban.is_some());
    }

    #[test]
    fn req_9_1_attacker_cannot_lock_the_user_out_of_its_known_address() {
        let t0 = Instant::now();
        let mut g = G::new(BruteForceConfig::default());
        let office = ip("192.0.2.10");
        g.g.record_success(office, Some("1001"), t0);
        for i in 0..40u8 {
            g.fail_as(IpAddr::from([198, 51, 100, i]), "1001", t0 + secs(1));
        }
        assert!(g.g.under_attack("1001", t0 + secs(2)));
        assert!(g.g.is_known_address("1001", office, t0 + secs(2)));
        assert_eq!(g.g.limit_for(office, Some("1001"), t0 + secs(2)), 5);
        // The user mistypes its password 4 times from the office: not banned.
        for i in 0..4 {
            assert!(g.fail_as(office, "1001", t0 + secs(3 + i)).ban.is_none());
        }
        assert!(g.check(office, t0 + secs(8)).is_none());
        // The account itself is never locked: a success still counts.
        g.g.record_success(office, Some("1001"), t0 + secs(9));
        assert_eq!(g.g.failures(office, t0 + secs(9)), 0);
    }

    #[test]
    fn req_9_1_account_alert_ends_and_known_addresses_expire() {
        let t0 = Instant::now();
        let cfg = BruteForceConfig {
            account_max_failures: 3,
            known_address_for: secs(100),
            ..BruteForceConfig::default()
        };
        let mut g = G::new(cfg);
        g.g.record_success(ip("192.0.2.1"), Some("7"), t0);
        for i in 0..3u8 {
            g.fail_as(IpAddr::from([10, 9, 9, i]), "7", t0);
        }
        assert!(g.g.under_attack("7", t0 + secs(3599)));
        assert!(!g.g.under_attack("7", t0 + secs(3600)));
        assert!(g.g.is_known_address("7", ip("::ffff:192.0.2.1"), t0 + secs(99)));
        assert!(!g.g.is_known_address("7", ip("192.0.2.1"), t0 + secs(100)));
    }

    #[test]
    fn memory_of_accounts_stays_bounded() {
        let t0 = Instant::now();
        let cfg = BruteForceConfig {
            max_accounts: 50,
            max_known_addresses: 3,
            ..BruteForceConfig::default()
        };
        let mut g = G::new(cfg);
        for i in 0..5_000u32 {
            g.fail_as(
                ip("203.0.113.1"),
                &format!("user{i}"),
                t0 + secs(u64::from(i)),
            );
            g.g.record_success(IpAddr::from(i.to_be_bytes()), Some("1001"), t0);
            assert!(g.g.tracked_accounts() <= 50);
        }
        assert!(g.g.accounts.values().all(|a| a.known.len() <= 3));
    }

    proptest! {
        #[test]
        fn req_9_1_known_address_never_banned_before_the_normal_limit(
            attackers in proptest::collection::vec(0u32..1000, 0..200),
            own_failures in 0u32..5,
        ) {
            let t0 = Instant::now();
            let mut g = G::new(BruteForceConfig::default());
            let home = ip("192.0.2.77");
            g.g.record_success(home, Some("1001"), t0);
            for a in attackers {
                g.fail_as(IpAddr::from((a | 0x0a00_0000).to_be_bytes()), "1001", t0 + secs(1));
            }
            for i in 0..own_failures {
                g.fail_as(home, "1001", t0 + secs(2 + u64::from(i)));
            }
            prop_assert!(g.check(home, t0 + secs(10)).is_none());
        }

        #[test]
        fn req_9_1_ban_length_follows_escalation_and_cap(offences in 1usize..12) {
            let t0 = Instant::now();
            // Offences are remembered long enough to keep escalating.
            let cfg = BruteForceConfig { forget_after: secs(30 * 86_400), ..BruteForceConfig::default() };
            let mut g = G::new(cfg);
            let a = ip("203.0.113.99");
            let mut now = t0;
            let mut prev = Duration::ZERO;
            for _ in 0..offences {
                let mut until = None;
                for _ in 0..5 {
                    until = g.record_failure(a, now).or(until);
                }
                let until = until.expect("banned");
                let len = until - now;
                prop_assert!(len >= prev && len <= secs(86_400));
                prev = len;
                now = until + secs(1);
            }
        }
    }
}
