//! The one ban table every guard writes to and the pipeline reads first.
//!
//! A [`BanTable`] maps a source address to at most one [`Ban`]: which kind
//! of defence made it ([`BanKind`]), its rule, when it ends, how many
//! offences led to it and whether an operator set it by hand. The
//! brute-force, flood and scanner guards detect; this table remembers.
//!
//! - **Sliding but capped:** banning a source that is already banned
//!   extends the ban to `now + duration`, never shortens it, and never
//!   moves it past the cap fixed when the ban started (`start + max`).
//! - **Manual bans** (operator) are never shortened or replaced by a
//!   guard and are evicted last.
//! - **Bounded memory:** at most `max_bans` entries of
//!   [`BanTable::ENTRY_BYTES`] bytes. When full, expired bans go first,
//!   then the guard bans that end soonest; manual bans only when nothing
//!   else is left.
//!
//! Times are stored in milliseconds since the table's first use; nothing
//! here reads a clock.
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::{Duration, Instant};
//! use okcc_core::guard::{BanConfig, BanKind, BanTable};
//!
//! let mut bans = BanTable::new(BanConfig::default());
//! let ip: IpAddr = "203.0.113.7".parse().unwrap();
//! let t0 = Instant::now();
//! bans.ban_manually(ip, Duration::from_secs(3600), t0);
//! assert_eq!(bans.banned(ip, t0).map(|b| b.kind), Some(BanKind::Manual));
//! assert!(bans.unban(ip, t0).is_some());
//! assert!(bans.banned(ip, t0).is_none());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{Decision, Denial, DenyReason, RuleId};

/// Rule id of a manual (operator) ban.
pub const MANUAL_BAN_RULE: &str = "manual:ban";

/// Which defence made a ban.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum BanKind {
    /// Too many failed authentications ([`super::BruteForceGuard`]).
    BruteForce,
    /// Too many requests ([`super::FloodGuard`]).
    Flood,
    /// Set by an operator.
    Manual,
    /// A scanner signature or sweep ([`super::ScannerGuard`]).
    Scanner,
}

impl BanKind {
    /// The rule id denials under this ban name.
    pub fn rule(self) -> &'static str {
        match self {
            Self::BruteForce => super::brute_force::BRUTE_FORCE_RULE,
            Self::Flood => super::flood::FLOOD_RULE,
            Self::Manual => MANUAL_BAN_RULE,
            Self::Scanner => super::scanner::SCANNER_BAN_RULE,
        }
    }

    /// The reason denials under this ban give.
    pub fn reason(self) -> DenyReason {
        match self {
            Self::BruteForce => DenyReason::BruteForce,
            Self::Flood => DenyReason::Flood,
            Self::Manual => DenyReason::Banned,
            Self::Scanner => DenyReason::Scanner,
        }
    }

    /// A stable kebab-case code.
    pub fn code(self) -> &'static str {
        match self {
            Self::BruteForce => "brute-force",
            Self::Flood => "flood",
            Self::Manual => "manual",
            Self::Scanner => "scanner",
        }
    }

    /// Parses [`BanKind::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::BruteForce, Self::Flood, Self::Manual, Self::Scanner]
            .into_iter()
            .find(|k| k.code() == code)
    }
}

/// One ban in force.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ban {
    /// The banned source (IPv4-mapped IPv6 is stored as IPv4).
    pub source: IpAddr,
    /// Which defence made it.
    pub kind: BanKind,
    /// When it ends.
    pub until: Instant,
    /// Offences that led to it (brute-force escalation level; 1 otherwise).
    pub offences: u32,
}

impl Ban {
    /// The rule that made the ban.
    pub fn rule(&self) -> RuleId {
        RuleId::new(self.kind.rule())
    }

    /// `true` for operator bans.
    pub fn is_manual(&self) -> bool {
        self.kind == BanKind::Manual
    }

    /// The denial a request from the banned source gets.
    pub fn denial(&self) -> Denial {
        Denial::new(self.kind.rule(), self.kind.reason())
    }

    /// The same, as a [`Decision`].
    pub fn decision(&self) -> Decision {
        Decision::Deny(self.denial())
    }
}

/// Limits of the ban table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BanConfig {
    /// At most this many bans are held (default 250 000).
    pub max_bans: usize,
}

impl Default for BanConfig {
    fn default() -> Self {
        Self { max_bans: 250_000 }
    }
}

/// One entry: 24 bytes.
#[derive(Clone, Copy, Debug)]
struct Entry {
    until_ms: u64,
    cap_ms: u64,
    offences: u32,
    kind: BanKind,
}

/// Told of every ban a guard starts ([`BanTable::ban`] on a source not
/// banned before), e.g. to write it to a [`BanStore`](super::BanStore)
/// for the other nodes. Called with the table's lock held: it must not
/// block (hand the ban to a bounded queue and return).
///
/// Not called for slides and escalations of a ban in force, for manual
/// bans ([`BanTable::ban_manually`]: the operator's request writes those
/// itself) nor for bans learned from elsewhere ([`BanTable::restore`]), so
/// bans read from a store are never written back to it.
pub trait BanObserver: Send + Sync {
    /// A guard started `ban`.
    fn banned(&self, ban: &Ban);
}

/// Bans by source address (`&mut self`; the pipeline keeps it behind one mutex
/// with the guards).
pub struct BanTable {
    config: BanConfig,
    origin: Option<Instant>,
    entries: HashMap<[u8; 16], Entry>,
    observer: Option<Arc<dyn BanObserver>>,
}

impl fmt::Debug for BanTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BanTable")
            .field("config", &self.config)
            .field("origin", &self.origin)
            .field("entries", &self.entries.len())
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

pub(crate) fn key(ip: IpAddr) -> [u8; 16] {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn ip_of(key: [u8; 16]) -> IpAddr {
    IpAddr::from(key).to_canonical()
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl BanTable {
    /// Bytes one ban takes in the table: key, entry and one control byte.
    pub const ENTRY_BYTES: usize = std::mem::size_of::<([u8; 16], Entry)>() + 1;

    /// An empty table.
    pub fn new(config: BanConfig) -> Self {
        Self {
            config,
            origin: None,
            entries: HashMap::new(),
            observer: None,
        }
    }

    /// Tells `observer` of every ban a guard starts from now on (see
    /// [`BanObserver`]); `None` stops that.
    pub fn set_observer(&mut self, observer: Option<Arc<dyn BanObserver>>) {
        self.observer = observer;
    }

    /// The most memory the table takes at its capacity, in bytes (the hash
    /// table rounds its slot count up to a power of two at 7/8 load).
    pub const fn table_bytes(capacity: usize) -> usize {
        let buckets = if capacity < 8 {
            8
        } else {
            (capacity.saturating_mul(8) / 7).next_power_of_two()
        };
        buckets.saturating_mul(Self::ENTRY_BYTES).saturating_add(16)
    }

    fn at(&self, now: Instant) -> u64 {
        self.origin
            .map_or(0, |o| ms(now.saturating_duration_since(o)))
    }

    fn at_mut(&mut self, now: Instant) -> (Instant, u64) {
        let origin = *self.origin.get_or_insert(now);
        (origin, ms(now.saturating_duration_since(origin)))
    }

    fn make(origin: Instant, k: [u8; 16], e: &Entry) -> Ban {
        Ban {
            source: ip_of(k),
            kind: e.kind,
            until: origin + Duration::from_millis(e.until_ms),
            offences: e.offences,
        }
    }

    /// `None` only before the first write, when no entry exists.
    fn to_ban(&self, k: [u8; 16], e: &Entry) -> Option<Ban> {
        Some(Self::make(self.origin?, k, e))
    }

    /// The ban on `ip` in force at `now`, if any (no side effect).
    pub fn banned(&self, ip: IpAddr, now: Instant) -> Option<Ban> {
        if self.entries.is_empty() {
            return None;
        }
        let k = key(ip);
        let now_ms = self.at(now);
        self.entries
            .get(&k)
            .filter(|e| e.until_ms > now_ms)
            .and_then(|e| self.to_ban(k, e))
    }

    /// `true` if `ip` is banned at `now` (the hot-path check: no allocation).
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        !self.entries.is_empty()
            && self
                .entries
                .get(&key(ip))
                .is_some_and(|e| e.until_ms > self.at(now))
    }

    /// Bans `ip` for `duration` from `now` on behalf of `kind`, capped at
    /// `max` from the ban's start. An existing ban in force slides (is
    /// extended, never shortened, never past its cap); a manual ban keeps
    /// its kind and end. Returns the ban now in force.
    pub fn ban(
        &mut self,
        ip: IpAddr,
        kind: BanKind,
        duration: Duration,
        max: Duration,
        offences: u32,
        now: Instant,
    ) -> Ban {
        let k = key(ip);
        let (origin, now_ms) = self.at_mut(now);
        self.make_room(k, now_ms);
        let want = now_ms.saturating_add(ms(duration.min(max)));
        let e = self.entries.entry(k).or_insert(Entry {
            until_ms: 0,
            cap_ms: 0,
            offences: 0,
            kind,
        });
        let started = if e.until_ms > now_ms {
            if e.kind != BanKind::Manual {
                e.until_ms = e.until_ms.max(want.min(e.cap_ms));
                e.kind = kind;
                e.offences = e.offences.max(offences);
            }
            false
        } else {
            *e = Entry {
                until_ms: want,
                cap_ms: now_ms.saturating_add(ms(max)),
                offences,
                kind,
            };
            true
        };
        let e = *e;
        let ban = Self::make(origin, k, &e);
        if started && let Some(o) = &self.observer {
            o.banned(&ban);
        }
        ban
    }

    /// Extends `ip`'s ban in force to `duration` from `now` (within its
    /// cap). Returns the ban, or `None` if `ip` is not banned.
    pub fn slide(&mut self, ip: IpAddr, duration: Duration, now: Instant) -> Option<Ban> {
        let k = key(ip);
        let now_ms = self.at(now);
        let e = self.entries.get_mut(&k).filter(|e| e.until_ms > now_ms)?;
        if e.kind != BanKind::Manual {
            e.until_ms = e
                .until_ms
                .max(now_ms.saturating_add(ms(duration)).min(e.cap_ms));
        }
        let e = *e;
        self.to_ban(k, &e)
    }

    /// An operator ban of `ip` for `duration` (replaces any guard ban).
    pub fn ban_manually(&mut self, ip: IpAddr, duration: Duration, now: Instant) -> Ban {
        let k = key(ip);
        let (origin, now_ms) = self.at_mut(now);
        self.make_room(k, now_ms);
        let until_ms = now_ms.saturating_add(ms(duration));
        let e = Entry {
            until_ms,
            cap_ms: until_ms,
            offences: 1,
            kind: BanKind::Manual,
        };
        self.entries.insert(k, e);
        Self::make(origin, k, &e)
    }

    /// Restores a ban known from elsewhere (another node, a store) to end
    /// at `until`; it replaces a shorter local one. Returns the ban in force.
    pub fn restore(
        &mut self,
        ip: IpAddr,
        kind: BanKind,
        until: Instant,
        offences: u32,
        now: Instant,
    ) -> Option<Ban> {
        let k = key(ip);
        let (origin, now_ms) = self.at_mut(now);
        let until_ms = ms(until.saturating_duration_since(origin));
        if until_ms <= now_ms {
            return None;
        }
        self.make_room(k, now_ms);
        let e = self.entries.entry(k).or_insert(Entry {
            until_ms: 0,
            cap_ms: 0,
            offences,
            kind,
        });
        if e.until_ms <= now_ms || until_ms > e.until_ms || kind == BanKind::Manual {
            *e = Entry {
                until_ms,
                cap_ms: until_ms,
                offences,
                kind,
            };
        }
        let e = *e;
        Some(Self::make(origin, k, &e))
    }

    /// Lifts `ip`'s ban (operator action). Returns the ban that was in
    /// force, if any.
    pub fn unban(&mut self, ip: IpAddr, now: Instant) -> Option<Ban> {
        let was = self.banned(ip, now);
        self.entries.remove(&key(ip));
        was
    }

    /// Every ban in force at `now`, sorted by address.
    pub fn list(&self, now: Instant) -> Vec<Ban> {
        let now_ms = self.at(now);
        let mut v: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.until_ms > now_ms)
            .filter_map(|(k, e)| self.to_ban(*k, e))
            .collect();
        v.sort_by_key(|b| b.source);
        v
    }

    /// Bans of `kind` in force at `now`, with their ends, sorted by address.
    pub fn list_kind(&self, kind: BanKind, now: Instant) -> Vec<(IpAddr, Instant)> {
        self.list(now)
            .into_iter()
            .filter(|b| b.kind == kind)
            .map(|b| (b.source, b.until))
            .collect()
    }

    /// How many entries are held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Makes room for `k` when the table is full: drops expired bans, then
    /// an eighth of the table, guard bans ending soonest first.
    fn make_room(&mut self, k: [u8; 16], now_ms: u64) {
        let max = self.config.max_bans.max(1);
        if self.entries.len() < max || self.entries.contains_key(&k) {
            return;
        }
        self.entries.retain(|_, e| e.until_ms > now_ms);
        if self.entries.len() < max {
            return;
        }
        let target = max - (max / 8).max(1);
        let mut ranked: Vec<_> = self
            .entries
            .iter()
            .map(|(k, e)| (e.kind == BanKind::Manual, e.until_ms, *k))
            .collect();
        ranked.sort_unstable();
        let excess = self.entries.len().saturating_sub(target);
        for (_, _, k) in ranked.into_iter().take(excess) {
            self.entries.remove(&k);
        }
    }
}

// Tests may read the clock to get an `Instant` origin; the table never does.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn observer_hears_started_guard_bans_only() {
        #[derive(Default)]
        struct Heard(std::sync::Mutex<Vec<(IpAddr, BanKind)>>);
        impl BanObserver for Heard {
            fn banned(&self, ban: &Ban) {
                self.0.lock().unwrap().push((ban.source, ban.kind));
            }
        }
        let heard = Arc::new(Heard::default());
        let mut t = BanTable::new(BanConfig::default());
        t.set_observer(Some(Arc::clone(&heard) as Arc<dyn BanObserver>));
        let (a, b, c) = (ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3"));
        let t0 = Instant::now();
        t.ban(a, BanKind::Flood, secs(10), secs(25), 1, t0);
        // A slide or an escalation of a ban in force is not a new ban.
        t.ban(a, BanKind::Flood, secs(10), secs(25), 2, t0 + secs(1));
        t.slide(a, secs(10), t0 + secs(2));
        // Manual bans and bans learned from a store are not reported.
        t.ban_manually(b, secs(60), t0);
        t.restore(c, BanKind::Scanner, t0 + secs(60), 1, t0);
        // After expiry a new ban starts again.
        t.ban(a, BanKind::BruteForce, secs(10), secs(25), 1, t0 + secs(40));
        assert_eq!(
            *heard.0.lock().unwrap(),
            vec![(a, BanKind::Flood), (a, BanKind::BruteForce)]
        );
        t.set_observer(None);
        t.ban(c, BanKind::Flood, secs(10), secs(25), 1, t0 + secs(100));
        assert_eq!(heard.0.lock().unwrap().len(), 2);
    }

    #[test]
    fn req_9_1_bans_slide_but_are_capped() {
        let t0 = Instant::now();
        let mut t = BanTable::new(BanConfig::default());
        let a = ip("203.0.113.7");
        let b = t.ban(a, BanKind::Flood, secs(10), secs(25), 1, t0);
        assert_eq!(b.until, t0 + secs(10));
        assert_eq!(
            t.slide(a, secs(10), t0 + secs(5)).map(|b| b.until),
            Some(t0 + secs(15))
        );
        // A shorter ban never shortens it.
        t.ban(a, BanKind::Flood, secs(1), secs(25), 1, t0 + secs(6));
        assert_eq!(
            t.banned(a, t0 + secs(6)).map(|b| b.until),
            Some(t0 + secs(15))
        );
        for s in 6..25 {
            t.slide(a, secs(10), t0 + secs(s));
        }
        assert_eq!(
            t.banned(a, t0 + secs(24)).map(|b| b.until),
            Some(t0 + secs(25))
        );
        assert!(t.banned(a, t0 + secs(25)).is_none(), "expired at the cap");
    }

    #[test]
    fn req_9_1_operator_lists_bans_bans_manually_and_unbans() {
        let t0 = Instant::now();
        let mut t = BanTable::new(BanConfig::default());
        t.ban(
            ip("::ffff:198.51.100.1"),
            BanKind::Scanner,
            secs(60),
            secs(60),
            1,
            t0,
        );
        t.ban(
            ip("2001:db8::1"),
            BanKind::BruteForce,
            secs(600),
            secs(600),
            2,
            t0,
        );
        let m = t.ban_manually(ip("192.0.2.1"), secs(3600), t0);
        assert!(m.is_manual());
        assert_eq!(m.rule().as_str(), MANUAL_BAN_RULE);
        assert_eq!(m.denial().reason, DenyReason::Banned);
        // A guard cannot shorten or replace a manual ban.
        t.ban(ip("192.0.2.1"), BanKind::Flood, secs(1), secs(1), 1, t0);
        assert_eq!(
            t.banned(ip("192.0.2.1"), t0).map(|b| b.kind),
            Some(BanKind::Manual)
        );
        let list = t.list(t0 + secs(1));
        let sources: Vec<_> = list.iter().map(|b| b.source).collect();
        assert_eq!(
            sources,
            vec![ip("192.0.2.1"), ip("198.51.100.1"), ip("2001:db8::1")]
        );
        assert_eq!(list[2].offences, 2);
        assert_eq!(
            t.banned(ip("198.51.100.1"), t0).map(|b| b.denial()),
            Some(Denial::new("guard:scanner", DenyReason::Scanner))
        );
        assert!(t.unban(ip("198.51.100.1"), t0).is_some());
        assert!(t.unban(ip("198.51.100.1"), t0).is_none());
        assert_eq!(t.list(t0 + secs(61)).len(), 2);
        assert_eq!(t.list(t0 + secs(3600)).len(), 0);
    }

    #[test]
    fn bans_restored_from_elsewhere_keep_their_end() {
        let t0 = Instant::now();
        let mut t = BanTable::new(BanConfig::default());
        let a = ip("203.0.113.9");
        assert!(
            t.restore(a, BanKind::Scanner, t0, 1, t0).is_none(),
            "already over"
        );
        let b = t.restore(a, BanKind::Scanner, t0 + secs(90), 1, t0);
        assert_eq!(b.map(|b| b.until), Some(t0 + secs(90)));
        assert!(t.is_banned(a, t0 + secs(89)));
        assert!(!t.is_banned(a, t0 + secs(90)));
    }

    #[test]
    fn req_9_1_ban_memory_is_bounded_and_manual_bans_go_last() {
        let t0 = Instant::now();
        let mut t = BanTable::new(BanConfig { max_bans: 32 });
        t.ban_manually(ip("192.0.2.1"), secs(10), t0);
        for i in 0..10_000u32 {
            let src = IpAddr::from(i.to_be_bytes());
            t.ban(
                src,
                BanKind::Flood,
                secs(60 + u64::from(i)),
                secs(3600),
                1,
                t0,
            );
            assert!(t.len() <= 32);
        }
        assert!(t.is_banned(ip("192.0.2.1"), t0), "manual ban survives");
        // The latest (longest) guard bans survive too.
        assert!(t.is_banned(IpAddr::from(9_999u32.to_be_bytes()), t0));
    }

    #[test]
    fn req_9_1_one_million_banned_sources_fit_the_budget() {
        assert_eq!(BanTable::ENTRY_BYTES, 41);
        assert!(BanTable::table_bytes(1_000_000) <= 96 << 20);
    }

    proptest! {
        #[test]
        fn req_9_1_a_ban_never_outlives_its_cap_and_never_shrinks(
            ops in proptest::collection::vec((0u64..50, 0u64..100, any::<bool>()), 1..200),
        ) {
            let t0 = Instant::now();
            let mut t = BanTable::new(BanConfig::default());
            let a = ip("203.0.113.1");
            let cap = secs(120);
            let mut now = t0;
            let mut start: Option<Instant> = None;
            let mut last_until: Option<Instant> = None;
            for (gap, dur, slide) in ops {
                now += secs(gap);
                if last_until.is_some_and(|u| u <= now) {
                    start = None;
                    last_until = None;
                }
                let b = if slide {
                    t.slide(a, secs(dur), now)
                } else {
                    Some(t.ban(a, BanKind::Flood, secs(dur), cap, 1, now))
                };
                if let Some(b) = b {
                    let s = *start.get_or_insert(now);
                    prop_assert!(b.until <= s + cap);
                    if let Some(u) = last_until {
                        prop_assert!(b.until >= u);
                    }
                    last_until = Some(b.until);
                    if b.until <= now { start = None; last_until = None; }
                }
            }
        }
    }
}
