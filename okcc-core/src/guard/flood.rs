//! Flood defence, like Kamailio's `pike`: requests per source address in a
//! sliding window (default 30 requests / 2 s); a source that exceeds it is
//! banned, and the ban slides while the flood goes on (capped).
//!
//! Trusted peers are exempt from every layer: do not call [`FloodGuard::check`]
//! for them (that is the caller's job).
//!
//! Bans live in the shared [`BanTable`] (kind [`BanKind::Flood`]); this
//! guard only counts.
//!
//! # Window
//!
//! The window is split into 4 slots; a source's allowed requests are counted
//! in the current slot and the 4 before it, a span of at least one window
//! ending now. So no window of `window` length ever holds more than
//! `max_requests` allowed requests from one source (the limit is, if
//! anything, up to one slot stricter). Refused requests are not counted.
//!
//! # Memory
//!
//! Fixed capacity: the table is allocated once for `max_sources` entries
//! (never grown) and an entry takes [`FloodGuard::ENTRY_BYTES`] bytes
//! (key and counters; see [`FloodGuard::table_bytes`]: 1 000 000 sources
//! take about 82 MiB; the bans themselves sit in the [`BanTable`]). When the table is full and a new source arrives, an
//! eighth of the table is evicted in one linear pass with no allocation:
//! first the sources idle the longest (oldest last request) among those not
//! banned, then, only if every entry is banned, the bans that end soonest.
//! A flood from millions of spoofed addresses therefore only ever pushes
//! out idle, unbanned sources. The survivors are then moved into a fresh
//! table of the same fixed size (so deleted slots never make it grow); during
//! that move two tables exist for a moment.
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::{Duration, Instant};
//! use okcc_core::guard::{BanConfig, BanTable, FloodConfig, FloodGuard};
//!
//! let mut guard = FloodGuard::new(FloodConfig::default());
//! let mut bans = BanTable::new(BanConfig::default());
//! let ip: IpAddr = "203.0.113.7".parse().unwrap();
//! let t0 = Instant::now();
//! for i in 0..30 {
//!     assert!(guard.check(ip, t0 + Duration::from_millis(i), &mut bans).is_allow());
//! }
//! assert!(!guard.check(ip, t0 + Duration::from_millis(31), &mut bans).is_allow());
//! assert!(bans.is_banned(ip, t0 + Duration::from_millis(32)));
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::ban::{BanKind, BanTable, ms};
use crate::{Decision, DenyReason};

/// The rule id of flood denials.
pub const FLOOD_RULE: &str = "guard:flood";

/// Slots per window; the ring holds one more (the current slot).
const SLOTS_PER_WINDOW: u64 = 4;
const RING: usize = SLOTS_PER_WINDOW as usize + 1;
/// Histogram buckets used to pick eviction victims.
const BUCKETS: usize = 256;

/// Limits of the flood guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FloodConfig {
    /// Requests allowed from one source within `window` (default 30).
    pub max_requests: u16,
    /// The sliding window (default 2 s).
    pub window: Duration,
    /// A ban lasts this long after the source's last request (default 60 s).
    pub ban: Duration,
    /// A ban never lasts longer than this from its start (default 1 h).
    pub max_ban: Duration,
    /// At most this many sources are tracked (default 1 000 000).
    pub max_sources: usize,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            max_requests: 30,
            window: Duration::from_secs(2),
            ban: Duration::from_secs(60),
            max_ban: Duration::from_secs(3600),
            max_sources: 1_000_000,
        }
    }
}

/// One source's state: 24 bytes (times in ms since the guard's origin).
#[derive(Clone, Copy, Debug)]
struct Entry {
    last_ms: u64,
    counts: [u16; RING],
}

/// Requests per source in a sliding window, with sliding, capped bans
/// (`&mut self`; wrap it in a mutex).
#[derive(Debug)]
pub struct FloodGuard {
    config: FloodConfig,
    slot_ms: u64,
    origin: Option<Instant>,
    sources: HashMap<[u8; 16], Entry>,
}

use super::ban::key;

impl FloodGuard {
    /// Bytes one tracked source takes in the table: key, state and one
    /// control byte.
    pub const ENTRY_BYTES: usize = std::mem::size_of::<([u8; 16], Entry)>() + 1;

    /// A guard with `config` (its table is allocated for `max_sources` now).
    pub fn new(config: FloodConfig) -> Self {
        let slot_ms = ms(config.window).div_ceil(SLOTS_PER_WINDOW).max(1);
        Self {
            config,
            slot_ms,
            origin: None,
            sources: HashMap::with_capacity(config.max_sources),
        }
    }

    /// The table size for `capacity` sources, in bytes: the hash table
    /// rounds its slot count up to a power of two at 7/8 load, and each
    /// slot takes [`Self::ENTRY_BYTES`].
    pub const fn table_bytes(capacity: usize) -> usize {
        let buckets = if capacity < 4 {
            4
        } else if capacity < 8 {
            8
        } else {
            (capacity.saturating_mul(8) / 7).next_power_of_two()
        };
        buckets.saturating_mul(Self::ENTRY_BYTES).saturating_add(16)
    }

    fn now_ms(&mut self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_insert(now);
        ms(now.saturating_duration_since(origin))
    }

    /// Counts one request from `ip` at `now`: [`Decision::Allow`], or a
    /// denial by `guard:flood` ([`DenyReason::Flood`]) when the source is
    /// over its limit (it is then banned in `bans` for `ban`) or under a
    /// flood ban (each refused request slides the ban to `ban` from now,
    /// never past `max_ban` from the ban's start).
    pub fn check(&mut self, ip: IpAddr, now: Instant, bans: &mut BanTable) -> Decision {
        let cfg = self.config;
        if bans.is_banned(ip, now)
            && bans
                .banned(ip, now)
                .is_some_and(|b| b.kind == BanKind::Flood)
        {
            bans.slide(ip, cfg.ban, now);
            return Decision::deny(FLOOD_RULE, DenyReason::Flood);
        }
        let k = key(ip);
        let mut now_ms = self.now_ms(now);
        if self.sources.len() >= self.config.max_sources && !self.sources.contains_key(&k) {
            self.evict(now_ms);
        }
        let slot_ms = self.slot_ms;
        let e = self.sources.entry(k).or_insert(Entry {
            last_ms: now_ms,
            counts: [0; RING],
        });
        // Time never runs backwards for one source.
        now_ms = now_ms.max(e.last_ms);
        let slot = now_ms / slot_ms;
        let last_slot = e.last_ms / slot_ms;
        if slot.saturating_sub(last_slot) >= RING as u64 {
            e.counts = [0; RING];
        } else {
            for s in last_slot + 1..=slot {
                if let Some(c) = e.counts.get_mut((s % RING as u64) as usize) {
                    *c = 0;
                }
            }
        }
        e.last_ms = now_ms;
        let total: u32 = e.counts.iter().map(|c| u32::from(*c)).sum();
        if total >= u32::from(cfg.max_requests) {
            bans.ban(ip, BanKind::Flood, cfg.ban, cfg.max_ban, 1, now);
            return Decision::deny(FLOOD_RULE, DenyReason::Flood);
        }
        if let Some(c) = e.counts.get_mut((slot % RING as u64) as usize) {
            *c = c.saturating_add(1);
        }
        Decision::Allow
    }

    /// `true` if a request from `ip` at `now` would be allowed (no side
    /// effect: for dry runs).
    pub fn would_allow(&self, ip: IpAddr, now: Instant, bans: &BanTable) -> bool {
        if bans
            .banned(ip, now)
            .is_some_and(|b| b.kind == BanKind::Flood)
        {
            return false;
        }
        let Some(origin) = self.origin else {
            return true;
        };
        let Some(e) = self.sources.get(&key(ip)) else {
            return true;
        };
        let now_ms = ms(now.saturating_duration_since(origin)).max(e.last_ms);
        let slot = now_ms / self.slot_ms;
        let last_slot = e.last_ms / self.slot_ms;
        if slot.saturating_sub(last_slot) >= RING as u64 {
            return true;
        }
        // The slots `check` would clear at `now` do not count.
        let cleared = |i: usize| (last_slot + 1..=slot).any(|s| (s % RING as u64) as usize == i);
        let total: u32 = e
            .counts
            .iter()
            .enumerate()
            .filter(|(i, _)| !cleared(*i))
            .map(|(_, c)| u32::from(*c))
            .sum();
        total < u32::from(self.config.max_requests)
    }

    /// Forgets `ip`'s count (operator action, with an unban).
    pub fn forget(&mut self, ip: IpAddr) -> bool {
        self.sources.remove(&key(ip)).is_some()
    }

    /// How many sources are tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Frees an eighth of the table (at least one entry): sources idle
    /// longest first (bans are kept in the [`BanTable`], so nothing of a
    /// ban is lost).
    fn evict(&mut self, _now_ms: u64) {
        let target = (self.config.max_sources / 8).max(1);
        evict_by(&mut self.sources, target, |e| Some(e.last_ms));
        // Removal leaves tombstones that would make the table grow on the
        // next inserts: rebuild it at its fixed size instead.
        let old = std::mem::take(&mut self.sources);
        self.sources = HashMap::with_capacity(self.config.max_sources);
        self.sources.extend(old);
    }
}

/// Removes up to `want` entries with the smallest `rank` (entries ranked
/// `None` stay), in two linear passes and a fixed-size histogram. Returns
/// how many were removed.
fn evict_by(
    map: &mut HashMap<[u8; 16], Entry>,
    want: usize,
    rank: impl Fn(&Entry) -> Option<u64>,
) -> usize {
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for r in map.values().filter_map(&rank) {
        lo = lo.min(r);
        hi = hi.max(r);
    }
    if lo > hi || want == 0 {
        return 0;
    }
    let width = ((hi - lo) / BUCKETS as u64).saturating_add(1);
    let bucket = |r: u64| ((r - lo) / width) as usize;
    let mut hist = [0usize; BUCKETS];
    for r in map.values().filter_map(&rank) {
        if let Some(h) = hist.get_mut(bucket(r)) {
            *h += 1;
        }
    }
    // All buckets below `cut` go; from bucket `cut`, only `rest` entries.
    let (mut cut, mut below) = (0usize, 0usize);
    while let Some(h) = hist.get(cut) {
        if below + h >= want {
            break;
        }
        below += h;
        cut += 1;
    }
    let mut rest = want - below;
    let mut removed = 0;
    map.retain(|_, e| match rank(e) {
        Some(r) if bucket(r) < cut => {
            removed += 1;
            false
        }
        Some(r) if bucket(r) == cut && rest > 0 => {
            rest -= 1;
            removed += 1;
            false
        }
        _ => true,
    });
    removed
}

// Tests may read the clock to get an `Instant` origin; the guard never does.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use crate::guard::BanConfig;
    use proptest::prelude::*;

    /// Requirement 8 (memory): with the default configuration, the flood
    /// table (1,000,000 sources, allocated once) and the ban table (capped
    /// at its default 250,000 entries) together stay within 128 MiB, so a
    /// flood from a million spoofed sources cannot push the guard past it.
    /// (`benches/benches/guard.rs` prints the same figures and measures
    /// lookups at 1 M entries.)
    #[test]
    fn req_8_default_flood_and_ban_state_for_a_million_sources_fits_128_mib() {
        let flood = FloodConfig::default();
        let bans = BanConfig::default();
        assert!(flood.max_sources >= 1_000_000);
        let total =
            FloodGuard::table_bytes(flood.max_sources) + BanTable::table_bytes(bans.max_bans);
        assert!(
            total <= 128 << 20,
            "flood {} B + bans {} B = {total} B",
            FloodGuard::table_bytes(flood.max_sources),
            BanTable::table_bytes(bans.max_bans)
        );
        // A full flood table refuses new keys instead of growing.
        let mut g = FloodGuard::new(FloodConfig {
            max_sources: 8,
            ..FloodConfig::default()
        });
        let mut b = BanTable::new(BanConfig::default());
        let now = Instant::now();
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = g.check(ip, now, &mut b);
        }
        assert!(g.sources.len() <= 8);
    }

    /// A flood guard with its ban table, as the pipeline holds them.
    struct G {
        g: FloodGuard,
        b: BanTable,
    }

    impl G {
        fn new(cfg: FloodConfig) -> Self {
            Self {
                g: FloodGuard::new(cfg),
                b: BanTable::new(BanConfig::default()),
            }
        }
        fn check(&mut self, ip: IpAddr, now: Instant) -> Decision {
            let allowed = self.g.would_allow(ip, now, &self.b);
            let d = self.g.check(ip, now, &mut self.b);
            assert_eq!(allowed, d.is_allow(), "dry run agrees with check");
            d
        }
        fn banned_until(&self, ip: IpAddr, now: Instant) -> Option<Instant> {
            self.b.banned(ip, now).map(|b| b.until)
        }
        fn bans(&self, now: Instant) -> Vec<(IpAddr, Instant)> {
            self.b.list_kind(BanKind::Flood, now)
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

    fn msec(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn req_9_1_flood_30_requests_per_2s_then_ban_with_rule_and_reason() {
        let t0 = Instant::now();
        let mut g = G::new(FloodConfig::default());
        let a = ip("203.0.113.7");
        for i in 0..30 {
            assert_eq!(
                g.check(a, t0 + msec(i * 10)),
                Decision::Allow,
                "request {i}"
            );
        }
        assert_eq!(
            g.check(a, t0 + msec(300)),
            Decision::deny("guard:flood", DenyReason::Flood)
        );
        assert_eq!(g.banned_until(a, t0 + msec(301)), Some(t0 + msec(60_300)));
        assert_eq!(g.bans(t0 + msec(301)), vec![(a, t0 + msec(60_300))]);
        // Another source is unaffected.
        assert!(g.check(ip("203.0.113.8"), t0 + msec(301)).is_allow());
    }

    #[test]
    fn req_9_1_flood_window_slides_so_a_steady_rate_passes() {
        let t0 = Instant::now();
        let mut g = G::new(FloodConfig::default());
        let a = ip("198.51.100.1");
        // 10 requests per second (20 per 2 s) for a minute: never refused.
        for i in 0..600 {
            assert!(g.check(a, t0 + msec(i * 100)).is_allow(), "request {i}");
        }
        assert!(g.bans(t0 + msec(60_000)).is_empty());
    }

    #[test]
    fn req_9_1_flood_ban_slides_while_flooding_but_is_capped_then_expires() {
        let t0 = Instant::now();
        let cfg = FloodConfig {
            max_requests: 2,
            ban: Duration::from_secs(10),
            max_ban: Duration::from_secs(25),
            ..FloodConfig::default()
        };
        let mut g = G::new(cfg);
        let a = ip("2001:db8::1");
        g.check(a, t0);
        g.check(a, t0);
        assert!(!g.check(a, t0).is_allow());
        assert_eq!(g.banned_until(a, t0), Some(t0 + msec(10_000)));
        // Still flooding at 5 s: the ban slides to 15 s.
        assert!(!g.check(a, t0 + msec(5_000)).is_allow());
        assert_eq!(g.banned_until(a, t0), Some(t0 + msec(15_000)));
        // Flooding on and on: capped at 25 s from the start.
        for s in 6..25 {
            assert!(!g.check(a, t0 + msec(s * 1000)).is_allow());
        }
        assert_eq!(
            g.banned_until(a, t0 + msec(24_500)),
            Some(t0 + msec(25_000))
        );
        assert!(g.check(a, t0 + msec(25_000)).is_allow(), "ban expired");
    }

    #[test]
    fn req_9_1_flood_v4_mapped_sources_share_one_counter_and_unban() {
        let t0 = Instant::now();
        let cfg = FloodConfig {
            max_requests: 2,
            ..FloodConfig::default()
        };
        let mut g = G::new(cfg);
        assert!(g.check(ip("::ffff:192.0.2.9"), t0).is_allow());
        assert!(g.check(ip("192.0.2.9"), t0).is_allow());
        assert!(!g.check(ip("::ffff:192.0.2.9"), t0).is_allow());
        assert_eq!(g.bans(t0).first().map(|b| b.0), Some(ip("192.0.2.9")));
        assert!(g.unban(ip("192.0.2.9"), t0));
        assert!(!g.unban(ip("192.0.2.9"), t0));
        assert!(g.check(ip("192.0.2.9"), t0).is_allow());
    }

    #[test]
    fn req_9_1_flood_memory_stays_bounded_under_spoofed_sources_and_bans_survive() {
        let t0 = Instant::now();
        let cfg = FloodConfig {
            max_requests: 3,
            max_sources: 64,
            ..FloodConfig::default()
        };
        let mut g = G::new(cfg);
        let table = g.g.sources.capacity();
        let flooder = ip("192.0.2.1");
        for _ in 0..4 {
            g.check(flooder, t0);
        }
        for i in 0..100_000u32 {
            let spoofed = IpAddr::from(i.to_be_bytes());
            g.check(spoofed, t0 + msec(1 + u64::from(i) / 100));
            assert!(g.tracked() <= 64);
        }
        assert_eq!(g.g.sources.capacity(), table, "the table never grew");
        assert!(g.banned_until(flooder, t0 + msec(500)).is_some());
    }

    #[test]
    fn req_9_1_flood_one_million_sources_fit_in_128_mib() {
        assert_eq!(FloodGuard::ENTRY_BYTES, 41);
        let bytes = FloodGuard::table_bytes(1_000_000);
        assert!(bytes <= 128 << 20, "{bytes} bytes");
        // The model matches the real table: its capacity is 7/8 of the
        // power-of-two slot count the model assumes.
        let g = G::new(FloodConfig::default());
        let buckets = (1_000_000usize * 8 / 7).next_power_of_two();
        assert!(g.g.sources.capacity() >= 1_000_000);
        assert!(g.g.sources.capacity() <= buckets / 8 * 7);
    }

    #[test]
    fn req_9_1_flood_eviction_prefers_idle_sources_and_bans_survive() {
        let t0 = Instant::now();
        let cfg = FloodConfig {
            max_requests: 1,
            max_sources: 16,
            ..FloodConfig::default()
        };
        let mut g = G::new(cfg);
        // 8 banned sources, then 8 idle ones, then a newcomer.
        for i in 0..8u8 {
            let a = IpAddr::from([10, 0, 0, i]);
            g.check(a, t0);
            g.check(a, t0);
        }
        for i in 0..8u8 {
            g.check(IpAddr::from([10, 0, 1, i]), t0 + msec(u64::from(i)));
        }
        g.check(ip("10.0.2.1"), t0 + msec(100));
        assert_eq!(g.bans(t0 + msec(100)).len(), 8);
        assert!(g.tracked() <= 16);
        // The longest idle ones (the flooders, whose bans live on in the
        // ban table) went first; the most recent stayed.
        assert!(g.g.sources.len() < 17);
        assert!(g.g.sources.contains_key(&key(IpAddr::from([10, 0, 1, 7]))));
        assert!(g.g.sources.contains_key(&key(ip("10.0.2.1"))));
    }

    proptest! {
        #[test]
        fn req_9_1_flood_never_allows_more_than_n_in_any_window(
            gaps in proptest::collection::vec(0u64..400, 1..400),
            max in 1u16..12,
        ) {
            let t0 = Instant::now();
            let cfg = FloodConfig { max_requests: max, ban: msec(300), max_ban: msec(900), ..FloodConfig::default() };
            let mut g = G::new(cfg);
            let a = ip("203.0.113.1");
            let mut t = 0u64;
            let mut allowed = Vec::new();
            for gap in gaps {
                t += gap;
                if g.check(a, t0 + msec(t)).is_allow() {
                    allowed.push(t);
                }
            }
            for (i, start) in allowed.iter().enumerate() {
                let in_window = allowed[i..].iter().take_while(|x| **x < start + 2000).count();
                prop_assert!(in_window <= usize::from(max), "{in_window} allowed in 2 s from {start}");
            }
        }

        #[test]
        fn req_9_1_flood_memory_bound_holds_for_arbitrary_sequences(
            reqs in proptest::collection::vec((0u32..500, 0u64..50), 1..2000),
            cap in 1usize..40,
        ) {
            let t0 = Instant::now();
            let cfg = FloodConfig { max_requests: 3, max_sources: cap, ..FloodConfig::default() };
            let mut g = G::new(cfg);
            let table = g.g.sources.capacity();
            let mut t = 0u64;
            for (src, gap) in reqs {
                t += gap;
                g.check(IpAddr::from(src.to_be_bytes()), t0 + msec(t));
                prop_assert!(g.tracked() <= cap);
            }
            prop_assert_eq!(g.g.sources.capacity(), table);
        }
    }
}
