//! Counters of the guard pipeline, by outcome and by denial reason.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use okcc_core::DenyReason;
use serde::Serialize;

/// Denial reasons with their own counter; any later reason counts as `other`.
const REASONS: [DenyReason; 13] = [
    DenyReason::AuthenticationFailed,
    DenyReason::Banned,
    DenyReason::BlockedNetwork,
    DenyReason::BlockedRegion,
    DenyReason::BruteForce,
    DenyReason::Flood,
    DenyReason::Forbidden,
    DenyReason::ForeignRegion,
    DenyReason::Malformed,
    DenyReason::NotAllowlisted,
    DenyReason::Scanner,
    DenyReason::TollFraud,
    DenyReason::UnknownRegion,
];

/// Atomic counters, updated on every request (relaxed; read with
/// [`GuardMetrics::snapshot`]). Export them with the metrics system of
/// your choice.
#[derive(Debug, Default)]
pub struct GuardMetrics {
    requests: AtomicU64,
    allowed: AtomicU64,
    challenged: AtomicU64,
    denied: [AtomicU64; REASONS.len()],
    denied_other: AtomicU64,
    pre_parse_denied: AtomicU64,
    auth_success: AtomicU64,
    auth_failure: AtomicU64,
    malformed_answered: AtomicU64,
    malformed_dropped: AtomicU64,
    oversized: AtomicU64,
    silenced: AtomicU64,
    bans: AtomicU64,
    account_alerts: AtomicU64,
    audit_dropped: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Requests judged (after parsing).
    pub requests: u64,
    /// Requests allowed.
    pub allowed: u64,
    /// Requests challenged (401/407).
    pub challenged: u64,
    /// Denials by reason code (`flood`, `brute-force`, ...), pre-parse ones included.
    pub denied: BTreeMap<&'static str, u64>,
    /// Packets refused on the source address alone, before parsing.
    pub pre_parse_denied: u64,
    /// Successful digest authentications.
    pub auth_success: u64,
    /// Failed digest authentications.
    pub auth_failure: u64,
    /// Malformed messages answered with 400 (or 505).
    pub malformed_answered: u64,
    /// Malformed messages dropped (no reply could be addressed).
    pub malformed_dropped: u64,
    /// Messages over the size cap, dropped before parsing.
    pub oversized: u64,
    /// Denials answered with silence.
    pub silenced: u64,
    /// Bans made by the guards.
    pub bans: u64,
    /// Per-account brute-force alerts raised.
    pub account_alerts: u64,
    /// Audit events the sink could not take.
    pub audit_dropped: u64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl GuardMetrics {
    /// Zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn request(&self) {
        bump(&self.requests);
    }
    pub(crate) fn allowed(&self) {
        bump(&self.allowed);
    }
    pub(crate) fn challenged(&self) {
        bump(&self.challenged);
    }
    pub(crate) fn denied(&self, reason: DenyReason) {
        match REASONS.iter().position(|r| *r == reason) {
            Some(i) => self.denied.get(i).map_or((), bump),
            None => bump(&self.denied_other),
        }
    }
    pub(crate) fn pre_parse_denied(&self) {
        bump(&self.pre_parse_denied);
    }
    pub(crate) fn auth(&self, ok: bool) {
        bump(if ok {
            &self.auth_success
        } else {
            &self.auth_failure
        });
    }
    pub(crate) fn malformed(&self, answered: bool) {
        bump(if answered {
            &self.malformed_answered
        } else {
            &self.malformed_dropped
        });
    }
    pub(crate) fn oversized(&self) {
        bump(&self.oversized);
    }
    pub(crate) fn silenced(&self) {
        bump(&self.silenced);
    }
    pub(crate) fn ban(&self) {
        bump(&self.bans);
    }
    pub(crate) fn account_alert(&self) {
        bump(&self.account_alerts);
    }
    pub(crate) fn audit_dropped(&self) {
        bump(&self.audit_dropped);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut denied: BTreeMap<&'static str, u64> = REASONS
            .iter()
            .zip(self.denied.iter())
            .map(|(r, c)| (r.code(), get(c)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let other = get(&self.denied_other);
        if other > 0 {
            denied.insert("other", other);
        }
        MetricsSnapshot {
            requests: get(&self.requests),
            allowed: get(&self.allowed),
            challenged: get(&self.challenged),
            denied,
            pre_parse_denied: get(&self.pre_parse_denied),
            auth_success: get(&self.auth_success),
            auth_failure: get(&self.auth_failure),
            malformed_answered: get(&self.malformed_answered),
            malformed_dropped: get(&self.malformed_dropped),
            oversized: get(&self.oversized),
            silenced: get(&self.silenced),
            bans: get(&self.bans),
            account_alerts: get(&self.account_alerts),
            audit_dropped: get(&self.audit_dropped),
        }
    }
}
