//! Brute-force defence: failed authentications counted per source address,
//! bans that escalate on repeat offences.
//!
//! Signals carry weights: a request that carried no credentials is simply
//! not reported (it counts 0, so a call center behind one carrier-grade NAT
//! is not banned for being challenged); a success resets the source's score.
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::{Duration, Instant};
//! use okcc_core::guard::{BruteForceConfig, BruteForceGuard};
//!
//! let mut guard = BruteForceGuard::new(BruteForceConfig::default());
//! let ip: IpAddr = "203.0.113.7".parse().unwrap();
//! let t0 = Instant::now();
//! for i in 0..5 {
//!     guard.record_failure(ip, t0 + Duration::from_secs(i));
//! }
//! assert!(guard.check(ip, t0 + Duration::from_secs(6)).is_some());
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

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
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Source {
    failures: u32,
    window_start: Instant,
    offences: u32,
    last_offence: Option<Instant>,
    banned_until: Option<Instant>,
}

/// Per-source failure counting and escalating bans (`&mut self`; wrap it in a mutex).
#[derive(Debug)]
pub struct BruteForceGuard {
    config: BruteForceConfig,
    sources: HashMap<IpAddr, Source>,
}

impl BruteForceGuard {
    /// A guard with `config`.
    pub fn new(config: BruteForceConfig) -> Self {
        Self {
            config,
            sources: HashMap::new(),
        }
    }

    /// The end of `ip`'s ban, if it is banned at `now`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Option<Instant> {
        let ip = ip.to_canonical();
        self.sources
            .get(&ip)
            .and_then(|s| s.banned_until)
            .filter(|until| *until > now)
    }

    /// Records one failed authentication (wrong secret, unknown user, replay).
    /// Returns the new ban's end when this failure triggered one.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> Option<Instant> {
        let ip = ip.to_canonical();
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.config.max_sources {
            self.evict(now);
        }
        let cfg = self.config;
        let s = self.sources.entry(ip).or_insert(Source {
            failures: 0,
            window_start: now,
            offences: 0,
            last_offence: None,
            banned_until: None,
        });
        if s.banned_until.is_some_and(|u| u > now) {
            return None;
        }
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
        if s.failures < cfg.max_failures {
            return None;
        }
        let factor = cfg.escalation.max(1).saturating_pow(s.offences.min(16));
        let ban = cfg.ban.saturating_mul(factor).min(cfg.max_ban);
        let until = now + ban;
        s.offences = s.offences.saturating_add(1);
        s.last_offence = Some(now);
        s.banned_until = Some(until);
        s.failures = 0;
        s.window_start = now;
        Some(until)
    }

    /// Records a successful authentication: the source's failure score resets
    /// (its offence history, which drives escalation, is kept).
    pub fn record_success(&mut self, ip: IpAddr) {
        if let Some(s) = self.sources.get_mut(&ip.to_canonical()) {
            s.failures = 0;
        }
    }

    /// Lifts a ban (operator action). Returns `true` if `ip` was banned.
    pub fn unban(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.sources
            .get_mut(&ip.to_canonical())
            .and_then(|s| s.banned_until.take())
            .is_some_and(|u| u > now)
    }

    /// Every ban in force at `now`, with its end.
    pub fn bans(&self, now: Instant) -> Vec<(IpAddr, Instant)> {
        super::bans_in_force(self.sources.iter().map(|(ip, s)| (ip, s.banned_until)), now)
    }

    /// How many sources are tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Drops sources with nothing left to remember; if still full, drops
    /// those without a ban in force, oldest window first.
    fn evict(&mut self, now: Instant) {
        let cfg = self.config;
        self.sources.retain(|_, s| {
            let banned = s.banned_until.is_some_and(|u| u > now);
            let counting = now.saturating_duration_since(s.window_start) < cfg.window;
            let remembered = s
                .last_offence
                .is_some_and(|t| now.saturating_duration_since(t) < cfg.forget_after);
            banned || counting || remembered
        });
        if self.sources.len() >= cfg.max_sources {
            let target = cfg.max_sources - cfg.max_sources / 8 - 1;
            let mut unbanned: Vec<_> = self
                .sources
                .iter()
                .filter(|(_, s)| s.banned_until.is_none_or(|u| u <= now))
                .map(|(ip, s)| (s.window_start, *ip))
                .collect();
            unbanned.sort();
            let excess = self.sources.len().saturating_sub(target);
            for (_, ip) in unbanned.into_iter().take(excess) {
                self.sources.remove(&ip);
            }
        }
    }
}

// Tests may read the clock to get an `Instant` origin; the guard never does.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn req_9_1_five_failures_in_60s_ban_for_10_min_then_expire() {
        let t0 = Instant::now();
        let mut g = BruteForceGuard::new(BruteForceConfig::default());
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
        let mut g = BruteForceGuard::new(BruteForceConfig::default());
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
        let mut g = BruteForceGuard::new(BruteForceConfig::default());
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
        let mut g = BruteForceGuard::new(BruteForceConfig::default());
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
        let mut g = BruteForceGuard::new(cfg);
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
}
