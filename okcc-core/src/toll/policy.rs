//! Toll-fraud policy: what a tenant's accounts may dial, how much, when.
//!
//! [`TollPolicy`] is the serde shape (JSON or TOML: only tables, strings,
//! integers, booleans and arrays). [`TollPolicy::validate`] checks all of
//! it and lists every problem at once ([`PolicyErrors`]), returning the
//! compiled [`ValidPolicy`] the guard runs on.
//!
//! ```
//! use okcc_core::toll::TollPolicy;
//!
//! let json = r#"{
//!   "destinations": { "allowed_prefixes": ["+44"], "premium_prefixes": ["0900"] },
//!   "account_limits": { "calls_per_minute": { "warn": 8, "critical": 10 } },
//!   "costs": { "default_per_minute": 2, "prefixes": [{ "prefix": "+44", "per_minute": 5 }] },
//!   "accounts": { "1001": { "destinations": { "allow_international": true } } }
//! }"#;
//! let policy: TollPolicy = serde_json::from_str(json).unwrap();
//! let valid = policy.validate().unwrap();
//! assert_eq!(valid.cost_per_minute("+442079460958"), 5);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::number::{DestinationError, normalise_prefix};

/// The most entries a prefix list or the cost table may hold.
pub const MAX_PREFIXES: usize = 1_000_000;
/// The largest count threshold (calls per minute/day, concurrent calls,
/// walking runs).
pub const MAX_COUNT: u64 = 1_000_000;
/// The largest burst threshold (distinct destinations remembered per
/// account).
pub const MAX_BURST: u64 = 256;

/// A limit with an optional warning level: a value above `warn` raises a
/// warn alert (the call goes on), a value above `critical` denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Warn when the value goes above this (must be below `critical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<u64>,
    /// Deny when the value would go above this.
    pub critical: u64,
}

impl Threshold {
    /// A limit of `critical` with a warning above `warn`.
    pub fn new(warn: Option<u64>, critical: u64) -> Self {
        Self { warn, critical }
    }
}

/// Limits counted per account or per tenant. `None` means no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Calls started in any 60-second window.
    pub calls_per_minute: Option<Threshold>,
    /// Calls started per local calendar day.
    pub calls_per_day: Option<Threshold>,
    /// Calls in progress (ringing or answered).
    pub concurrent_calls: Option<Threshold>,
    /// Spend per local calendar day in minor currency units (cents),
    /// including the running cost of answered calls.
    pub spend_per_day: Option<Threshold>,
}

/// Lowercase three-letter weekday names, as in configuration files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    /// The weekday of day `days` since 1970-01-01 (a Thursday).
    pub fn from_days_since_epoch(days: i64) -> Self {
        match (days + 3).rem_euclid(7) {
            0 => Self::Mon,
            1 => Self::Tue,
            2 => Self::Wed,
            3 => Self::Thu,
            4 => Self::Fri,
            5 => Self::Sat,
            _ => Self::Sun,
        }
    }
}

/// When outbound calls are allowed: on `days`, from `start` (inclusive) to
/// `end` (exclusive), `"HH:MM"` in the tenant's local time. `end` before
/// `start` wraps past midnight (the part after midnight belongs to the
/// window's day too, e.g. `fri 22:00-02:00` covers Saturday 01:00).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// The days the window opens on.
    pub days: Vec<Weekday>,
    /// Opening time, `"HH:MM"`.
    pub start: String,
    /// Closing time, `"HH:MM"` (`"24:00"` for end of day).
    pub end: String,
}

/// Destination rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DestinationRules {
    /// International calls (`+` / `00`) allowed at all (default `false`).
    pub allow_international: bool,
    /// Only destinations under an allowed prefix may be called (default
    /// `false`: allowed prefixes are exceptions to the other rules).
    pub restrict_to_allowed: bool,
    /// Prefixes always allowed unless a longer denied prefix matches:
    /// exceptions to `allow_international = false` and to premium lists.
    pub allowed_prefixes: Vec<String>,
    /// Prefixes refused unless a longer allowed prefix matches.
    pub denied_prefixes: Vec<String>,
    /// Premium-rate prefixes, refused unless a longer (or equal) allowed
    /// prefix matches; number-walking bursts are counted per premium range.
    pub premium_prefixes: Vec<String>,
    /// When calls may be made; empty means at any time.
    pub time_windows: Vec<TimeWindow>,
}

/// Number-walking detection (always per account).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalkingRules {
    /// Consecutive destinations (each one more or one less than the last,
    /// same length) in a run; default warn 3, critical 5.
    pub consecutive: Option<Threshold>,
    /// A run breaks when calls are more than this many seconds apart
    /// (default 300).
    pub consecutive_gap_secs: u64,
    /// Distinct destinations within one international or premium range in
    /// `burst_window_secs`; default warn 6, critical 10.
    pub burst: Option<Threshold>,
    /// The burst window in seconds (default 600).
    pub burst_window_secs: u64,
    /// An international range is the first this many digits after `+`
    /// (default 4); a premium range is the matched premium prefix.
    pub burst_range_digits: u8,
}

impl Default for WalkingRules {
    fn default() -> Self {
        Self {
            consecutive: Some(Threshold::new(Some(3), 5)),
            consecutive_gap_secs: 300,
            burst: Some(Threshold::new(Some(6), 10)),
            burst_window_secs: 600,
            burst_range_digits: 4,
        }
    }
}

/// One cost-table row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostEntry {
    /// Destination prefix (`+44`, `0044`, `0900`).
    pub prefix: String,
    /// Cost per minute in minor currency units.
    pub per_minute: u64,
}

/// Cost per prefix: the longest matching prefix wins, else the default.
/// Integer minor units; answered time is billed per second, rounded up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostTable {
    /// Cost per minute when no prefix matches.
    pub default_per_minute: u64,
    /// The table.
    pub prefixes: Vec<CostEntry>,
}

/// Overrides for one account: each group present replaces the tenant's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountOverride {
    /// Replaces the tenant's destination rules for this account.
    pub destinations: Option<DestinationRules>,
    /// Replaces the tenant's per-account limits for this account.
    pub limits: Option<Limits>,
}

/// One tenant's toll-fraud policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TollPolicy {
    /// Destination rules for every account of the tenant.
    pub destinations: DestinationRules,
    /// Limits per account (default: 10 calls/minute warn 6, 4 concurrent
    /// warn 3, 500 calls/day warn 300).
    pub account_limits: Limits,
    /// Limits over all the tenant's accounts together (default none).
    pub tenant_limits: Limits,
    /// Number-walking detection.
    pub walking: WalkingRules,
    /// Cost per prefix, for spend caps.
    pub costs: CostTable,
    /// Numbers always allowed, compared with the digits as dialed
    /// (default 112, 911, 999, 110, 119, 120, 000).
    pub emergency_numbers: Vec<String>,
    /// A critical limit or walking violation locks the account's outbound
    /// calling until an admin unlocks it (default `true`).
    pub lock_on_critical: bool,
    /// Per-account overrides, keyed by account name.
    pub accounts: BTreeMap<String, AccountOverride>,
}

impl Default for TollPolicy {
    fn default() -> Self {
        Self {
            destinations: DestinationRules::default(),
            account_limits: Limits {
                calls_per_minute: Some(Threshold::new(Some(6), 10)),
                calls_per_day: Some(Threshold::new(Some(300), 500)),
                concurrent_calls: Some(Threshold::new(Some(3), 4)),
                spend_per_day: None,
            },
            tenant_limits: Limits::default(),
            walking: WalkingRules::default(),
            costs: CostTable::default(),
            emergency_numbers: ["112", "911", "999", "110", "119", "120", "000"]
                .map(String::from)
                .to_vec(),
            lock_on_critical: true,
            accounts: BTreeMap::new(),
        }
    }
}

/// One problem found in a policy; `field` is a dotted path such as
/// `accounts.1001.destinations.allowed_prefixes[2]`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyIssue {
    /// A prefix or emergency number that is not a dial string.
    #[error("{field}: {error}")]
    BadNumber {
        /// Where.
        field: String,
        /// Why.
        error: DestinationError,
    },
    /// The same prefix twice in one list.
    #[error("{field}: prefix {prefix} is listed twice")]
    DuplicatePrefix {
        /// Where.
        field: String,
        /// The canonical prefix.
        prefix: String,
    },
    /// A list longer than [`MAX_PREFIXES`].
    #[error("{field}: more than {max} entries")]
    TooMany {
        /// Where.
        field: String,
        /// The limit.
        max: usize,
    },
    /// `warn` is not below `critical`.
    #[error("{field}: warn {warn} must be below critical {critical}")]
    WarnNotBelowCritical {
        /// Where.
        field: String,
        /// The warn level.
        warn: u64,
        /// The critical level.
        critical: u64,
    },
    /// A threshold above its maximum.
    #[error("{field}: {value} is above the maximum {max}")]
    AboveMaximum {
        /// Where.
        field: String,
        /// The value.
        value: u64,
        /// The maximum.
        max: u64,
    },
    /// A time that is not `HH:MM` within `00:00..=24:00`.
    #[error("{field}: {value:?} is not a time HH:MM between 00:00 and 24:00")]
    BadTime {
        /// Where.
        field: String,
        /// The text.
        value: String,
    },
    /// A window with no days or with `start == end`.
    #[error("{field}: the window is empty")]
    EmptyWindow {
        /// Where.
        field: String,
    },
    /// A window or duration that must be positive is zero.
    #[error("{field}: must be positive")]
    Zero {
        /// Where.
        field: String,
    },
}

/// Every problem found in a policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid toll policy: {}", .issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PolicyErrors {
    /// The problems, in field order.
    pub issues: Vec<PolicyIssue>,
}

/// A set (or map) of canonical prefixes with longest-match lookup: one
/// hash lookup per distinct prefix length, longest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct PrefixMap<V> {
    map: HashMap<Box<str>, V>,
    lengths: Vec<usize>,
}

impl<V: Copy> PrefixMap<V> {
    fn insert(&mut self, prefix: &str, v: V) -> bool {
        if self.map.insert(prefix.into(), v).is_some() {
            return false;
        }
        if !self.lengths.contains(&prefix.len()) {
            self.lengths.push(prefix.len());
            self.lengths.sort_unstable_by(|a, b| b.cmp(a));
        }
        true
    }

    /// The longest prefix of `s` in the map, with its value.
    pub(crate) fn longest(&self, s: &str) -> Option<(&str, V)> {
        self.lengths.iter().find_map(|&l| {
            let p = s.get(..l)?;
            self.map.get_key_value(p).map(|(k, v)| (&**k, *v))
        })
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A compiled time window (minutes of day, `end` may be below `start`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    days: [bool; 7],
    start: u16,
    end: u16,
}

/// Compiled destination rules.
#[derive(Clone, Debug)]
pub(crate) struct CompiledDestinations {
    pub(crate) allow_international: bool,
    pub(crate) restrict_to_allowed: bool,
    pub(crate) allowed: PrefixMap<()>,
    pub(crate) denied: PrefixMap<()>,
    pub(crate) premium: PrefixMap<()>,
    pub(crate) windows: Vec<Window>,
}

impl CompiledDestinations {
    /// `true` when calls are allowed at `local`.
    pub(crate) fn open_at(&self, local: LocalTime) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let today = local.weekday() as usize;
        let yesterday = (today + 6) % 7;
        let m = local.minute_of_day();
        self.windows.iter().any(|w| {
            if w.start < w.end {
                w.days[today] && m >= w.start && m < w.end
            } else {
                (w.days[today] && m >= w.start) || (w.days[yesterday] && m < w.end)
            }
        })
    }
}

/// A validated, compiled [`TollPolicy`].
#[derive(Clone, Debug)]
pub struct ValidPolicy {
    pub(crate) destinations: CompiledDestinations,
    pub(crate) account_limits: Limits,
    pub(crate) tenant_limits: Limits,
    pub(crate) walking: WalkingRules,
    pub(crate) costs: PrefixMap<u64>,
    pub(crate) default_cost: u64,
    pub(crate) emergency: Vec<Box<str>>,
    pub(crate) lock_on_critical: bool,
    pub(crate) accounts: HashMap<Box<str>, (Option<CompiledDestinations>, Option<Limits>)>,
    source: TollPolicy,
}

impl Default for ValidPolicy {
    fn default() -> Self {
        TollPolicy::default()
            .validate()
            .unwrap_or_else(|_| unreachable!("the default policy is valid"))
    }
}

impl ValidPolicy {
    /// The policy this was compiled from.
    pub fn policy(&self) -> &TollPolicy {
        &self.source
    }

    /// Cost per minute (minor units) of calling the canonical destination
    /// `canonical` (longest prefix wins).
    pub fn cost_per_minute(&self, canonical: &str) -> u64 {
        self.costs
            .longest(canonical)
            .map_or(self.default_cost, |(_, c)| c)
    }

    /// `true` when `dialed` (digits as dialed) is an emergency number.
    pub fn is_emergency(&self, dialed: &str) -> bool {
        self.emergency.iter().any(|e| **e == *dialed)
    }

    pub(crate) fn destinations_for(&self, account: &str) -> &CompiledDestinations {
        match self.accounts.get(account) {
            Some((Some(d), _)) => d,
            _ => &self.destinations,
        }
    }

    pub(crate) fn limits_for(&self, account: &str) -> &Limits {
        match self.accounts.get(account) {
            Some((_, Some(l))) => l,
            _ => &self.account_limits,
        }
    }

    pub(crate) fn consecutive_gap(&self) -> Duration {
        Duration::from_secs(self.walking.consecutive_gap_secs)
    }

    pub(crate) fn burst_window(&self) -> Duration {
        Duration::from_secs(self.walking.burst_window_secs)
    }
}

/// The tenant's local time, as the caller computes it (core reads no
/// clock and knows no time zones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    day: i64,
    minute: u16,
}

impl LocalTime {
    /// Local day `days_since_epoch` (days since 1970-01-01 in the tenant's
    /// zone) at `minute_of_day` (clamped to `0..1440`).
    pub fn new(days_since_epoch: i64, minute_of_day: u16) -> Self {
        Self {
            day: days_since_epoch,
            minute: minute_of_day.min(1439),
        }
    }

    /// From Unix seconds and the zone's UTC offset in seconds at that
    /// instant.
    pub fn from_unix(unix_secs: i64, utc_offset_secs: i32) -> Self {
        let local = unix_secs.saturating_add(i64::from(utc_offset_secs));
        let minute = u16::try_from(local.rem_euclid(86_400) / 60).unwrap_or(0);
        Self::new(local.div_euclid(86_400), minute)
    }

    /// The local day number (days since 1970-01-01).
    pub fn day(self) -> i64 {
        self.day
    }

    /// Minutes since local midnight.
    pub fn minute_of_day(self) -> u16 {
        self.minute
    }

    /// The local weekday.
    pub fn weekday(self) -> Weekday {
        Weekday::from_days_since_epoch(self.day)
    }
}

struct Check {
    issues: Vec<PolicyIssue>,
}

impl Check {
    fn threshold(&mut self, field: &str, t: Option<&Threshold>, max: u64) {
        let Some(t) = t else { return };
        if t.critical > max {
            self.issues.push(PolicyIssue::AboveMaximum {
                field: format!("{field}.critical"),
                value: t.critical,
                max,
            });
        }
        if let Some(w) = t.warn
            && w >= t.critical
        {
            self.issues.push(PolicyIssue::WarnNotBelowCritical {
                field: field.to_owned(),
                warn: w,
                critical: t.critical,
            });
        }
    }

    fn limits(&mut self, field: &str, l: &Limits) {
        self.threshold(
            &format!("{field}.calls_per_minute"),
            l.calls_per_minute.as_ref(),
            MAX_COUNT,
        );
        self.threshold(
            &format!("{field}.calls_per_day"),
            l.calls_per_day.as_ref(),
            MAX_COUNT,
        );
        self.threshold(
            &format!("{field}.concurrent_calls"),
            l.concurrent_calls.as_ref(),
            MAX_COUNT,
        );
        self.threshold(
            &format!("{field}.spend_per_day"),
            l.spend_per_day.as_ref(),
            u64::MAX / 2,
        );
    }

    fn prefixes<V: Copy>(&mut self, field: &str, list: &[(String, V)]) -> PrefixMap<V> {
        let mut map = PrefixMap {
            map: HashMap::new(),
            lengths: Vec::new(),
        };
        if list.len() > MAX_PREFIXES {
            self.issues.push(PolicyIssue::TooMany {
                field: field.to_owned(),
                max: MAX_PREFIXES,
            });
            return map;
        }
        map.map.reserve(list.len());
        for (i, (p, v)) in list.iter().enumerate() {
            match normalise_prefix(p) {
                Ok(c) => {
                    if !map.insert(&c, *v) {
                        self.issues.push(PolicyIssue::DuplicatePrefix {
                            field: format!("{field}[{i}]"),
                            prefix: c,
                        });
                    }
                }
                Err(error) => self.issues.push(PolicyIssue::BadNumber {
                    field: format!("{field}[{i}]"),
                    error,
                }),
            }
        }
        map
    }

    fn time(&mut self, field: &str, s: &str) -> Option<u16> {
        let parsed = (|| {
            let (h, m) = s.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let h: u16 = h.parse().ok()?;
            let m: u16 = m.parse().ok()?;
            (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
        })();
        if parsed.is_none() {
            self.issues.push(PolicyIssue::BadTime {
                field: field.to_owned(),
                value: s.chars().take(32).collect(),
            });
        }
        parsed
    }

    fn destinations(&mut self, field: &str, d: &DestinationRules) -> CompiledDestinations {
        let plain = |v: &[String]| v.iter().map(|p| (p.clone(), ())).collect::<Vec<_>>();
        let allowed = self.prefixes(
            &format!("{field}.allowed_prefixes"),
            &plain(&d.allowed_prefixes),
        );
        let denied = self.prefixes(
            &format!("{field}.denied_prefixes"),
            &plain(&d.denied_prefixes),
        );
        let premium = self.prefixes(
            &format!("{field}.premium_prefixes"),
            &plain(&d.premium_prefixes),
        );
        let mut windows = Vec::new();
        for (i, w) in d.time_windows.iter().enumerate() {
            let f = format!("{field}.time_windows[{i}]");
            let start = self.time(&format!("{f}.start"), &w.start);
            let end = self.time(&format!("{f}.end"), &w.end);
            if let (Some(start), Some(end)) = (start, end) {
                if w.days.is_empty() || start == end {
                    self.issues.push(PolicyIssue::EmptyWindow { field: f });
                    continue;
                }
                let mut days = [false; 7];
                for d in &w.days {
                    days[*d as usize] = true;
                }
                windows.push(Window { days, start, end });
            }
        }
        CompiledDestinations {
            allow_international: d.allow_international,
            restrict_to_allowed: d.restrict_to_allowed,
            allowed,
            denied,
            premium,
            windows,
        }
    }
}

impl TollPolicy {
    /// Checks the whole policy and compiles it; every problem is listed.
    pub fn validate(self) -> Result<ValidPolicy, PolicyErrors> {
        let mut c = Check { issues: Vec::new() };
        let destinations = c.destinations("destinations", &self.destinations);
        c.limits("account_limits", &self.account_limits);
        c.limits("tenant_limits", &self.tenant_limits);
        c.threshold(
            "walking.consecutive",
            self.walking.consecutive.as_ref(),
            MAX_COUNT,
        );
        c.threshold("walking.burst", self.walking.burst.as_ref(), MAX_BURST);
        if self.walking.consecutive_gap_secs == 0 {
            c.issues.push(PolicyIssue::Zero {
                field: "walking.consecutive_gap_secs".into(),
            });
        }
        if self.walking.burst_window_secs == 0 {
            c.issues.push(PolicyIssue::Zero {
                field: "walking.burst_window_secs".into(),
            });
        }
        if self.walking.burst_range_digits == 0 {
            c.issues.push(PolicyIssue::Zero {
                field: "walking.burst_range_digits".into(),
            });
        }
        let cost_rows: Vec<_> = self
            .costs
            .prefixes
            .iter()
            .map(|e| (e.prefix.clone(), e.per_minute))
            .collect();
        let costs = c.prefixes("costs.prefixes", &cost_rows);
        let mut emergency = Vec::new();
        for (i, e) in self.emergency_numbers.iter().enumerate() {
            match super::number::Destination::parse(e) {
                Ok(d) => emergency.push(Box::from(d.dialed())),
                Err(error) => c.issues.push(PolicyIssue::BadNumber {
                    field: format!("emergency_numbers[{i}]"),
                    error,
                }),
            }
        }
        let mut accounts = HashMap::with_capacity(self.accounts.len());
        for (name, o) in &self.accounts {
            let f = format!("accounts.{name}");
            let d = o
                .destinations
                .as_ref()
                .map(|d| c.destinations(&format!("{f}.destinations"), d));
            if let Some(l) = &o.limits {
                c.limits(&format!("{f}.limits"), l);
            }
            accounts.insert(Box::from(name.as_str()), (d, o.limits.clone()));
        }
        if !c.issues.is_empty() {
            return Err(PolicyErrors { issues: c.issues });
        }
        Ok(ValidPolicy {
            destinations,
            account_limits: self.account_limits.clone(),
            tenant_limits: self.tenant_limits.clone(),
            walking: self.walking.clone(),
            costs,
            default_cost: self.costs.default_per_minute,
            emergency,
            lock_on_critical: self.lock_on_critical,
            accounts,
            source: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_what_a_call_center_wants() {
        let p = ValidPolicy::default();
        assert!(!p.destinations.allow_international);
        assert!(p.destinations.premium.is_empty());
        for n in ["112", "911", "999", "110", "119", "120", "000"] {
            assert!(p.is_emergency(n), "{n}");
        }
        assert!(!p.is_emergency("0123"));
    }

    #[test]
    fn every_error_is_listed() {
        let json = r#"{
          "destinations": {
            "allowed_prefixes": ["+44", "0044", "x1"],
            "time_windows": [{ "days": ["mon"], "start": "25:00", "end": "08:00" },
                             { "days": [], "start": "08:00", "end": "09:00" }]
          },
          "account_limits": { "calls_per_minute": { "warn": 10, "critical": 10 } },
          "walking": { "burst": { "critical": 1000 }, "burst_window_secs": 0 },
          "costs": { "prefixes": [{ "prefix": "+", "per_minute": 1 }, { "prefix": "+1a", "per_minute": 1 }] },
          "emergency_numbers": ["112", "11 2#"],
          "accounts": { "1001": { "limits": { "concurrent_calls": { "warn": 5, "critical": 2 } } } }
        }"#;
        let p: TollPolicy = serde_json::from_str(json).unwrap();
        let err = p.validate().unwrap_err();
        let fields: Vec<String> = err
            .issues
            .iter()
            .map(|i| i.to_string().split(':').next().unwrap().to_owned())
            .collect();
        assert_eq!(
            fields,
            [
                "destinations.allowed_prefixes[1]",
                "destinations.allowed_prefixes[2]",
                "destinations.time_windows[0].start",
                "destinations.time_windows[1]",
                "account_limits.calls_per_minute",
                "walking.burst.critical",
                "walking.burst_window_secs",
                "costs.prefixes[1]",
                "emergency_numbers[1]",
                "accounts.1001.limits.concurrent_calls",
            ]
        );
        assert!(err.to_string().starts_with("invalid toll policy: "));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<TollPolicy, _> = serde_json::from_str(r#"{"allow_internationl": true}"#);
        assert!(r.is_err());
    }

    #[test]
    fn cost_table_longest_prefix_wins() {
        let mut p = TollPolicy::default();
        p.costs.default_per_minute = 1;
        p.costs.prefixes = vec![
            CostEntry {
                prefix: "+4".into(),
                per_minute: 3,
            },
            CostEntry {
                prefix: "0044 7".into(),
                per_minute: 20,
            },
        ];
        let v = p.validate().unwrap();
        assert_eq!(v.cost_per_minute("+447700900123"), 20);
        assert_eq!(v.cost_per_minute("+442079460958"), 3);
        assert_eq!(v.cost_per_minute("02079460958"), 1);
    }

    #[test]
    fn windows_wrap_past_midnight() {
        let mut p = TollPolicy::default();
        p.destinations.time_windows = vec![TimeWindow {
            days: vec![Weekday::Fri],
            start: "22:00".into(),
            end: "02:00".into(),
        }];
        let v = p.validate().unwrap();
        // 1970-01-02 was a Friday (day 1), Saturday is day 2.
        assert_eq!(LocalTime::new(1, 0).weekday(), Weekday::Fri);
        assert!(v.destinations.open_at(LocalTime::new(1, 22 * 60)));
        assert!(v.destinations.open_at(LocalTime::new(2, 60)));
        assert!(!v.destinations.open_at(LocalTime::new(2, 3 * 60)));
        assert!(!v.destinations.open_at(LocalTime::new(1, 60)));
        assert_eq!(
            LocalTime::from_unix(86_400 + 3600, 3600).minute_of_day(),
            120
        );
        assert_eq!(LocalTime::from_unix(-60, 0).day(), -1);
    }
}
