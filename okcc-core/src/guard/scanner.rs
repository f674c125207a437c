//! Scanner defence: a User-Agent signature list and behaviour detection
//! (OPTIONS / REGISTER sweeps over many users or extensions from one source).
//! A source found scanning is banned; every later request from it is denied
//! with [`DenyReason::Scanner`] until the ban ends (answer it with silence on
//! UDP).
//!
//! Signatures match as case-insensitive substrings of the User-Agent (the
//! first 1 KiB of it). A sweep is `max_distinct_users` distinct target users
//! (the To user of a REGISTER, the Request-URI user of an OPTIONS) from one
//! source within `window`; a phone re-registering its own account over and
//! over is one user and never trips it.
//!
//! Bans live in the shared [`BanTable`] (kind [`BanKind::Scanner`]).
//!
//! Memory: at most `max_sources` sources, each remembering at most
//! `max_distinct_users` 8-byte user hashes (keyed per guard, so an attacker
//! cannot aim collisions). When full, sources with nothing left to remember
//! go first, then the oldest windows.
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::Instant;
//! use okcc_core::guard::{BanConfig, BanTable, ScannerConfig, ScannerGuard};
//! use okcc_core::DenyReason;
//!
//! let mut guard = ScannerGuard::new(ScannerConfig::default());
//! let mut bans = BanTable::new(BanConfig::default());
//! let ip: IpAddr = "203.0.113.7".parse().unwrap();
//! let now = Instant::now();
//! let d = guard.check(ip, "OPTIONS", Some("friendly-scanner"), Some("100"), now, &mut bans);
//! assert_eq!(d.denial().map(|d| d.reason), Some(DenyReason::Scanner));
//! assert!(bans.is_banned(ip, now));
//! ```

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::ban::{BanKind, BanTable};
use crate::{Decision, DenyReason};

/// Rule id of a denial because the User-Agent matched a signature.
pub const SCANNER_USER_AGENT_RULE: &str = "guard:scanner:user-agent";
/// Rule id of a denial because the source swept many users.
pub const SCANNER_SWEEP_RULE: &str = "guard:scanner:sweep";
/// Rule id of a denial because the source is under a scanner ban.
pub const SCANNER_BAN_RULE: &str = "guard:scanner";

/// Only this much of a User-Agent is searched (bounded time per request).
const MAX_USER_AGENT_BYTES: usize = 1024;

/// The built-in User-Agent signatures of well-known SIP scanners.
pub const DEFAULT_SIGNATURES: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipscan",
    "vaxsipuseragent",
    "iwar",
    "sundayddr",
    "pplsip",
    "smap",
];

/// Settings of the scanner guard.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScannerConfig {
    /// User-Agent substrings (any case) that mark a scanner (default
    /// [`DEFAULT_SIGNATURES`]). Empty strings are ignored.
    pub signatures: Vec<String>,
    /// Distinct users swept within `window` that mark a scanner (default 10).
    pub max_distinct_users: u16,
    /// The sweep counting window (default 60 s).
    pub window: Duration,
    /// How long a scanner stays banned (default 1 h).
    pub ban: Duration,
    /// At most this many sources are tracked (default 100 000).
    pub max_sources: usize,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        Self {
            signatures: DEFAULT_SIGNATURES.iter().map(|s| (*s).to_owned()).collect(),
            max_distinct_users: 10,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(3600),
            max_sources: 100_000,
        }
    }
}

#[derive(Clone, Debug)]
struct Source {
    window_start: Instant,
    users: Vec<u64>,
}

/// User-Agent signatures and sweep detection with bans (`&mut self`; wrap
/// it in a mutex).
#[derive(Debug)]
pub struct ScannerGuard {
    config: ScannerConfig,
    signatures: Vec<Vec<u8>>,
    hasher: RandomState,
    sources: HashMap<IpAddr, Source>,
}

impl ScannerGuard {
    /// A guard with `config`.
    pub fn new(config: ScannerConfig) -> Self {
        let signatures = config
            .signatures
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_ascii_lowercase())
            .collect();
        Self {
            config,
            signatures,
            hasher: RandomState::new(),
            sources: HashMap::new(),
        }
    }

    /// `true` if `user_agent` contains one of the signatures (any case).
    pub fn is_scanner_user_agent(&self, user_agent: &str) -> bool {
        let ua = user_agent.as_bytes();
        let ua = ua.get(..MAX_USER_AGENT_BYTES).unwrap_or(ua);
        // Lower-case the (bounded) User-Agent once, then look for each
        // signature's first byte before comparing the rest: a few hundred
        // byte compares for a typical 30-byte User-Agent.
        let mut buf = [0u8; MAX_USER_AGENT_BYTES];
        let lower = buf.get_mut(..ua.len()).unwrap_or_default();
        for (d, s) in lower.iter_mut().zip(ua) {
            *d = s.to_ascii_lowercase();
        }
        let lower: &[u8] = lower;
        self.signatures.iter().any(|sig| contains(lower, sig))
    }

    /// Checks one request from `ip` at `now`. `method` is the SIP method,
    /// `user_agent` the User-Agent header, `target_user` the user the request
    /// probes (To user of a REGISTER, Request-URI user of an OPTIONS).
    /// Returns [`Decision::Allow`] or a [`DenyReason::Scanner`] denial (and
    /// bans the source in `bans` when this request revealed a scanner).
    pub fn check(
        &mut self,
        ip: IpAddr,
        method: &str,
        user_agent: Option<&str>,
        target_user: Option<&str>,
        now: Instant,
        bans: &mut BanTable,
    ) -> Decision {
        let ip = ip.to_canonical();
        if bans
            .banned(ip, now)
            .is_some_and(|b| b.kind == BanKind::Scanner)
        {
            return Decision::deny(SCANNER_BAN_RULE, DenyReason::Scanner);
        }
        if user_agent.is_some_and(|ua| self.is_scanner_user_agent(ua)) {
            let ban = self.config.ban;
            bans.ban(ip, BanKind::Scanner, ban, ban, 1, now);
            return Decision::deny(SCANNER_USER_AGENT_RULE, DenyReason::Scanner);
        }
        let Some(user) = Self::sweep_target(method, target_user) else {
            return Decision::Allow;
        };
        let h = self.hasher.hash_one(user);
        let cfg_window = self.config.window;
        let max = usize::from(self.config.max_distinct_users.max(1));
        let ban = self.config.ban;
        let s = self.source(ip, now);
        if now.saturating_duration_since(s.window_start) >= cfg_window {
            s.users.clear();
            s.window_start = now;
        }
        if !s.users.contains(&h) {
            s.users.push(h);
        }
        if s.users.len() >= max {
            s.users = Vec::new();
            s.window_start = now;
            bans.ban(ip, BanKind::Scanner, ban, ban, 1, now);
            return Decision::deny(SCANNER_SWEEP_RULE, DenyReason::Scanner);
        }
        Decision::Allow
    }

    fn sweep_target<'u>(method: &str, target_user: Option<&'u str>) -> Option<&'u str> {
        let sweep_method =
            method.eq_ignore_ascii_case("REGISTER") || method.eq_ignore_ascii_case("OPTIONS");
        target_user.filter(|u| sweep_method && !u.is_empty())
    }

    /// What [`ScannerGuard::check`] would answer, without counting or
    /// banning (for dry runs).
    pub fn would_check(
        &self,
        ip: IpAddr,
        method: &str,
        user_agent: Option<&str>,
        target_user: Option<&str>,
        now: Instant,
        bans: &BanTable,
    ) -> Decision {
        let ip = ip.to_canonical();
        if bans
            .banned(ip, now)
            .is_some_and(|b| b.kind == BanKind::Scanner)
        {
            return Decision::deny(SCANNER_BAN_RULE, DenyReason::Scanner);
        }
        if user_agent.is_some_and(|ua| self.is_scanner_user_agent(ua)) {
            return Decision::deny(SCANNER_USER_AGENT_RULE, DenyReason::Scanner);
        }
        let Some(user) = Self::sweep_target(method, target_user) else {
            return Decision::Allow;
        };
        let max = usize::from(self.config.max_distinct_users.max(1));
        let Some(s) = self.sources.get(&ip) else {
            return if max <= 1 {
                Decision::deny(SCANNER_SWEEP_RULE, DenyReason::Scanner)
            } else {
                Decision::Allow
            };
        };
        let fresh = now.saturating_duration_since(s.window_start) < self.config.window;
        let h = self.hasher.hash_one(user);
        let known = if fresh { s.users.len() } else { 0 };
        let seen = fresh && s.users.contains(&h);
        if known + usize::from(!seen) >= max {
            Decision::deny(SCANNER_SWEEP_RULE, DenyReason::Scanner)
        } else {
            Decision::Allow
        }
    }

    fn source(&mut self, ip: IpAddr, now: Instant) -> &mut Source {
        if self.sources.len() >= self.config.max_sources && !self.sources.contains_key(&ip) {
            self.evict(now);
        }
        self.sources.entry(ip).or_insert_with(|| Source {
            window_start: now,
            users: Vec::new(),
        })
    }

    /// Forgets the source's sweep count (operator action, with an unban).
    pub fn forget(&mut self, ip: IpAddr) -> bool {
        self.sources.remove(&ip.to_canonical()).is_some()
    }

    /// How many sources are tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Drops sources with nothing left to remember; if still full, frees an
    /// eighth of the table, oldest window first.
    fn evict(&mut self, now: Instant) {
        let window = self.config.window;
        self.sources.retain(|_, s| {
            !s.users.is_empty() && now.saturating_duration_since(s.window_start) < window
        });
        let max = self.config.max_sources;
        if self.sources.len() >= max {
            let target = max - (max / 8).max(1);
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
}

/// `true` if `needle` (non-empty) occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return false;
    };
    let Some(last_start) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    hay.iter()
        .take(last_start + 1)
        .enumerate()
        .any(|(i, &b)| b == first && hay.get(i + 1..i + needle.len()) == Some(rest))
}

// Tests may read the clock to get an `Instant` origin; the guard never does.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use crate::guard::BanConfig;
    use proptest::prelude::*;

    /// A scanner guard with its ban table, as the pipeline holds them.
    struct G {
        g: ScannerGuard,
        b: BanTable,
    }

    impl G {
        fn new(cfg: ScannerConfig) -> Self {
            Self {
                g: ScannerGuard::new(cfg),
                b: BanTable::new(BanConfig::default()),
            }
        }
        fn check(
            &mut self,
            ip: IpAddr,
            method: &str,
            ua: Option<&str>,
            user: Option<&str>,
            now: Instant,
        ) -> Decision {
            let dry = self.g.would_check(ip, method, ua, user, now, &self.b);
            let d = self.g.check(ip, method, ua, user, now, &mut self.b);
            assert_eq!(dry, d, "dry run agrees with check");
            d
        }
        fn is_scanner_user_agent(&self, ua: &str) -> bool {
            self.g.is_scanner_user_agent(ua)
        }
        fn banned_until(&self, ip: IpAddr, now: Instant) -> Option<Instant> {
            self.b.banned(ip, now).map(|b| b.until)
        }
        fn bans(&self, now: Instant) -> Vec<(IpAddr, Instant)> {
            self.b.list_kind(BanKind::Scanner, now)
        }
        fn unban(&mut self, ip: IpAddr, now: Instant) -> bool {
            self.g.forget(ip);
            self.b.unban(ip, now).is_some()
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

    fn reason(d: &Decision) -> Option<(&str, DenyReason)> {
        d.denial().map(|d| (d.rule.as_str(), d.reason))
    }

    #[test]
    fn req_9_1_scanner_user_agent_signatures_match_any_case_substring_and_ban() {
        let t0 = Instant::now();
        let mut g = G::new(ScannerConfig::default());
        for (n, ua) in [
            "friendly-scanner",
            "SIPVicious 0.3.4",
            "sipcli/v1.8",
            "sip-scan",
            "VaxSIPUserAgent/3.1",
            "iWar",
            "sundayddr",
        ]
        .iter()
        .enumerate()
        {
            let src = IpAddr::from([203, 0, 113, n as u8]);
            let d = g.check(src, "OPTIONS", Some(ua), None, t0);
            assert_eq!(
                reason(&d),
                Some((SCANNER_USER_AGENT_RULE, DenyReason::Scanner)),
                "{ua}"
            );
            // Banned now, whatever it sends next.
            let d = g.check(src, "INVITE", Some("Yealink SIP-T46S"), None, t0 + secs(1));
            assert_eq!(reason(&d), Some((SCANNER_BAN_RULE, DenyReason::Scanner)));
        }
        assert_eq!(g.bans(t0 + secs(1)).len(), 7);
        assert!(
            g.check(
                ip("192.0.2.1"),
                "REGISTER",
                Some("Yealink SIP-T46S 66.86.0.15"),
                Some("1001"),
                t0
            )
            .is_allow()
        );
    }

    #[test]
    fn req_9_1_scanner_signature_list_is_configurable() {
        let t0 = Instant::now();
        let cfg = ScannerConfig {
            signatures: vec!["EvilDialer".into(), String::new()],
            ..ScannerConfig::default()
        };
        let mut g = G::new(cfg);
        assert!(g.is_scanner_user_agent("x-evildialer-2"));
        assert!(
            !g.is_scanner_user_agent("friendly-scanner"),
            "list replaced"
        );
        assert!(
            !g.is_scanner_user_agent("Linphone"),
            "empty signature ignored"
        );
        assert!(
            !g.check(ip("192.0.2.5"), "OPTIONS", Some("EVILDIALER"), None, t0)
                .is_allow()
        );
    }

    #[test]
    fn req_9_1_scanner_register_sweep_over_many_extensions_is_banned() {
        let t0 = Instant::now();
        let mut g = G::new(ScannerConfig::default());
        let a = ip("198.51.100.7");
        for ext in 100..109 {
            let d = g.check(
                a,
                "REGISTER",
                Some("Zoiper"),
                Some(&ext.to_string()),
                t0 + secs(1),
            );
            assert!(d.is_allow(), "extension {ext}");
        }
        let d = g.check(a, "REGISTER", Some("Zoiper"), Some("109"), t0 + secs(2));
        assert_eq!(reason(&d), Some((SCANNER_SWEEP_RULE, DenyReason::Scanner)));
        assert_eq!(g.banned_until(a, t0 + secs(3)), Some(t0 + secs(3602)));
        assert!(
            g.check(a, "REGISTER", None, Some("100"), t0 + secs(3602))
                .is_allow()
        );
    }

    #[test]
    fn req_9_1_scanner_options_sweep_counts_but_invite_and_repeats_do_not() {
        let t0 = Instant::now();
        let mut g = G::new(ScannerConfig::default());
        let phone = ip("192.0.2.20");
        // A phone re-registering one account and calling many numbers.
        for i in 0..1000u64 {
            assert!(
                g.check(phone, "REGISTER", None, Some("1001"), t0 + secs(i))
                    .is_allow()
            );
            assert!(
                g.check(phone, "INVITE", None, Some(&format!("55{i}")), t0 + secs(i))
                    .is_allow()
            );
        }
        let prober = ip("2001:db8::66");
        let mut denied = None;
        for u in 0..10 {
            let d = g.check(prober, "options", None, Some(&format!("{u}")), t0);
            denied = denied.or_else(|| d.denial().cloned());
        }
        assert_eq!(denied.map(|d| d.reason), Some(DenyReason::Scanner));
    }

    #[test]
    fn req_9_1_scanner_sweep_window_expires_slow_sweeps_are_forgotten() {
        let t0 = Instant::now();
        let mut g = G::new(ScannerConfig::default());
        let a = ip("::ffff:198.51.100.9");
        // 9 distinct users per minute, forever: never a scanner.
        for i in 0..90u64 {
            let d = g.check(
                a,
                "REGISTER",
                None,
                Some(&i.to_string()),
                t0 + secs(i / 9 * 60),
            );
            assert!(d.is_allow(), "request {i}");
        }
        assert!(g.bans(t0 + secs(6000)).is_empty());
    }

    #[test]
    fn req_9_1_scanner_v4_mapped_sources_and_manual_unban() {
        let t0 = Instant::now();
        let mut g = G::new(ScannerConfig::default());
        g.check(
            ip("::ffff:203.0.113.50"),
            "OPTIONS",
            Some("sipvicious"),
            None,
            t0,
        );
        assert!(g.banned_until(ip("203.0.113.50"), t0).is_some());
        assert!(g.unban(ip("203.0.113.50"), t0));
        assert!(!g.unban(ip("203.0.113.50"), t0));
        assert!(
            g.check(ip("203.0.113.50"), "OPTIONS", None, None, t0)
                .is_allow()
        );
    }

    #[test]
    fn req_9_1_scanner_memory_stays_bounded_and_bans_survive_eviction() {
        let t0 = Instant::now();
        let cfg = ScannerConfig {
            max_sources: 64,
            ..ScannerConfig::default()
        };
        let mut g = G::new(cfg);
        let scanner = ip("192.0.2.99");
        g.check(scanner, "OPTIONS", Some("friendly-scanner"), None, t0);
        for i in 0..20_000u32 {
            let spoofed = IpAddr::from(i.to_be_bytes());
            g.check(spoofed, "REGISTER", None, Some("1001"), t0 + secs(1));
            assert!(g.tracked() <= 64);
        }
        assert!(g.banned_until(scanner, t0 + secs(2)).is_some());
    }

    proptest! {
        #[test]
        fn req_9_1_scanner_fewer_distinct_users_than_the_limit_never_ban(
            users in proptest::collection::vec(0u8..9, 1..300),
        ) {
            let t0 = Instant::now();
            let mut g = G::new(ScannerConfig::default());
            let a = ip("203.0.113.3");
            for u in users {
                let d = g.check(a, "REGISTER", Some("Grandstream GXP2160"), Some(&u.to_string()), t0);
                prop_assert!(d.is_allow());
            }
        }

        #[test]
        fn req_9_1_scanner_memory_bound_holds_for_arbitrary_sequences(
            reqs in proptest::collection::vec((0u32..300, 0u16..40, any::<bool>(), 0u64..30), 1..1500),
            cap in 1usize..32,
        ) {
            let t0 = Instant::now();
            let cfg = ScannerConfig { max_sources: cap, max_distinct_users: 5, ..ScannerConfig::default() };
            let mut g = G::new(cfg);
            let mut t = 0;
            for (src, user, bad_ua, gap) in reqs {
                t += gap;
                let ua = if bad_ua { "friendly-scanner" } else { "Linphone" };
                g.check(IpAddr::from(src.to_be_bytes()), "REGISTER", Some(ua), Some(&user.to_string()), t0 + secs(t));
                prop_assert!(g.tracked() <= cap);
                prop_assert!(g.g.sources.values().all(|s| s.users.len() <= 5));
            }
        }
    }
}
