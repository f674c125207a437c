//! Toll-fraud defence for outbound calls (issue 8; requirement 9.1, alerts
//! per 10.5): stage 9 of the SIP guard pipeline, INVITE only.
//!
//! - [`TollPolicy`] (serde, validated by [`TollPolicy::validate`] into a
//!   [`ValidPolicy`]) holds one tenant's rules: allowed / denied /
//!   premium destination prefixes (international off by default), time
//!   windows in the tenant's local time, per-account and per-tenant limits
//!   (calls per minute, calls per day, concurrent calls, spend per day)
//!   each with a warn and a critical level, number-walking detection, a
//!   cost-per-prefix table (integer minor units per minute), emergency
//!   numbers and per-account overrides.
//! - [`TollGuard`] is the `&mut self` state machine (wrap it in a mutex):
//!   [`TollGuard::check_call`] on every outbound INVITE,
//!   [`TollGuard::on_call_answered`] on 200 OK,
//!   [`TollGuard::on_call_ended`] on BYE / CANCEL / failure / timeout,
//!   [`TollGuard::sweep`] every few seconds (cuts calls through your
//!   [`CallControl`], reaps stale calls, evicts idle entries), and
//!   [`TollGuard::explain`] for dry runs (no side effect at all).
//!
//! # Rules, in order
//!
//! 1. Junk destination, account or call id: deny `toll:malformed`
//!    ([`DenyReason::Malformed`](crate::DenyReason::Malformed)).
//! 2. Emergency number (compared with the digits as dialed): **always
//!    allowed**, even when the account is locked or over every limit; not
//!    counted.
//! 3. Locked account: deny `toll:account-locked`.
//! 4. Outside every time window: deny `toll:time-window`.
//! 5. Destination prefixes: the longest allowed or denied prefix wins (a
//!    tie denies); premium prefixes deny unless an allowed prefix at least
//!    as long matches; international (`+`/`00`) denies when off unless an
//!    allowed prefix matches; with `restrict_to_allowed` anything not
//!    allowed denies.
//! 6. Number walking: a run of consecutive numbers (each one apart from the
//!    last, calls at most `consecutive_gap_secs` apart), or a burst of
//!    distinct destinations within one international range (first
//!    `burst_range_digits` digits) or premium prefix in `burst_window_secs`.
//! 7. Account then tenant limits: calls per minute (sliding, 10 s slots),
//!    calls per local day, concurrent calls, spend per local day.
//!
//! Counts are compared with this call included: above `critical` denies
//! (`toll:<rule>`, [`DenyReason::TollFraud`](crate::DenyReason::TollFraud))
//! with a critical alert; just above `warn` raises a warn alert and the
//! call goes on. Spend denies once the day's spend (running cost of
//! answered calls included) has reached `critical`, and warns once a day at
//! `warn`. A critical limit or walking violation locks the account when
//! `lock_on_critical` is on, until [`TollGuard::unlock`]; `sweep` then cuts
//! its live calls. Denied attempts are not counted in the rates.
//!
//! # Counters never leak or underflow
//!
//! A call is live from the allowed `check_call` until its first end event
//! (duplicates, late and unknown events return `None`/`false` and change
//! nothing; a repeated `check_call` with a live call id is a retransmission
//! and is not counted again). Calls never answered are released by
//! fail/cancel, or by `sweep` after `max_ring`; answered calls with no end
//! event are cut and released after `max_call_duration`, and billing stops
//! there. Decrements saturate at zero, and every release subtracts exactly
//! what the call added.
//!
//! # Memory
//!
//! Three maps with caps from [`TollConfig`]: accounts (`max_accounts`,
//! about 200 bytes each plus up to `burst.critical + 1` recent
//! destinations per range and four times that in all, about 50 bytes each), tenants (`max_tenants`, about 120
//! bytes) and live calls (`max_live_calls`, about 150 bytes). `sweep` drops
//! entries with no live call and no lock that were idle for
//! `idle_eviction`. When the account or tenant map is full, an eighth of
//! it is evicted at once, oldest activity first, among entries with no live
//! call and no lock (their day counters restart); if none can go, or the
//! live-call map is full, the call is denied by `toll:capacity` (fail
//! closed). Policies are per tenant, so their size is the operator's.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use okcc_core::TenantId;
//! use okcc_core::toll::{CallAttempt, CallOutcome, CollectCuts, LocalTime, TollConfig, TollGuard, TollPolicy};
//!
//! let mut guard = TollGuard::new(TollConfig::default(), TollPolicy::default().validate().unwrap());
//! let acme = TenantId::new("acme").unwrap();
//! let t0 = Instant::now();
//! let local = LocalTime::from_unix(1_767_260_000, 3600);
//! let v = guard.check_call(&CallAttempt::new(&acme, "1001", "c1", "020 7946 0958"), t0, local);
//! assert!(v.decision.is_allow());
//! guard.on_call_answered("c1", t0 + Duration::from_secs(2));
//! guard.on_call_ended("c1", t0 + Duration::from_secs(60), CallOutcome::Completed);
//! // International is off by default; emergency numbers always go through.
//! let v = guard.check_call(&CallAttempt::new(&acme, "1001", "c2", "+44 20 7946 0958"), t0, local);
//! assert_eq!(v.decision.denial().unwrap().rule.as_str(), "toll:international");
//! assert!(guard.check_call(&CallAttempt::new(&acme, "1001", "c3", "112"), t0, local).emergency);
//! let report = guard.sweep(t0 + Duration::from_secs(61), local, &mut CollectCuts::default());
//! assert!(report.cut.is_empty());
//! ```

mod guard;
pub mod number;
mod policy;

pub use guard::{
    AlertLevel, CallAttempt, CallControl, CallOutcome, CollectCuts, CutReason, LockedAccount,
    MAX_ACCOUNT, MAX_CALL_ID, SweepReport, TollAlert, TollConfig, TollGuard, TollRule, TollStats,
    TollVerdict,
};
pub use number::{Destination, DestinationError};
pub use policy::{
    AccountOverride, CostEntry, CostTable, DestinationRules, Limits, LocalTime, MAX_BURST,
    MAX_COUNT, MAX_PREFIXES, PolicyErrors, PolicyIssue, Threshold, TimeWindow, TollPolicy,
    ValidPolicy, WalkingRules, Weekday,
};

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may read the clock
mod tests;
