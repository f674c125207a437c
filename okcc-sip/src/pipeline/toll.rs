//! Stage 9 backed by okcc-core's toll-fraud guard.
//!
//! [`TollStage`] adapts [`okcc_core::toll::TollGuard`] to the pipeline's
//! [`CallCheck`] hook: it finds the caller's tenant, reads the tenant's local
//! time, runs the guard and keeps the alerts the guard raised for the
//! integrator to collect ([`TollStage::drain_alerts`]). The integrator still
//! reports call progress ([`TollStage::on_call_answered`],
//! [`TollStage::on_call_ended`]) and calls [`TollStage::sweep`] every few
//! seconds so live calls over a cap are cut through its
//! [`CallControl`](okcc_core::toll::CallControl).
//!
//! ```
//! use std::sync::Arc;
//! use okcc_core::TenantId;
//! use okcc_core::toll::{TollConfig, TollGuard, TollPolicy};
//! use okcc_sip::pipeline::TollStage;
//!
//! let policy = TollPolicy::default().validate().expect("defaults are valid");
//! let guard = TollGuard::new(TollConfig::default(), policy);
//! let tenant = TenantId::new("acme").expect("valid tenant");
//! let stage = Arc::new(TollStage::new(guard, tenant, 0));
//! // guard_builder.with_call_check(stage.clone());
//! # let _ = stage;
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use okcc_core::toll::{
    CallAttempt as TollAttempt, CallControl, CallOutcome, LocalTime, SweepReport, TollAlert,
    TollGuard,
};
use okcc_core::{Decision, TenantId};

use super::stage::{CallAttempt, CallCheck};

/// Alerts kept for [`TollStage::drain_alerts`] before the oldest are dropped.
pub const MAX_PENDING_ALERTS: usize = 1024;

/// Finds the tenant an account belongs to (`None`: the stage's default tenant).
pub type TenantOf = Arc<dyn Fn(&str) -> Option<TenantId> + Send + Sync>;

/// The pipeline's stage 9 over a [`TollGuard`]: finds the tenant, reads
/// local time, runs the guard and queues its alerts.
pub struct TollStage {
    inner: Mutex<Inner>,
    default_tenant: TenantId,
    tenant_of: Option<TenantOf>,
    utc_offset_secs: i32,
}

struct Inner {
    guard: TollGuard,
    alerts: VecDeque<TollAlert>,
    dropped_alerts: u64,
}

impl fmt::Debug for TollStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TollStage")
            .field("default_tenant", &self.default_tenant)
            .field("utc_offset_secs", &self.utc_offset_secs)
            .finish_non_exhaustive()
    }
}

impl TollStage {
    /// A stage judging every caller as an account of `default_tenant`, whose
    /// time windows are read at `utc_offset_secs` from UTC.
    pub fn new(guard: TollGuard, default_tenant: TenantId, utc_offset_secs: i32) -> Self {
        Self {
            inner: Mutex::new(Inner {
                guard,
                alerts: VecDeque::new(),
                dropped_alerts: 0,
            }),
            default_tenant,
            tenant_of: None,
            utc_offset_secs,
        }
    }

    /// Looks each caller's tenant up with `tenant_of` (multi-tenant servers).
    #[must_use]
    pub fn with_tenant_of(mut self, tenant_of: TenantOf) -> Self {
        self.tenant_of = Some(tenant_of);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn local_now(&self) -> LocalTime {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        LocalTime::from_unix(unix, self.utc_offset_secs)
    }

    fn tenant(&self, account: &str) -> TenantId {
        self.tenant_of
            .as_ref()
            .and_then(|f| f(account))
            .unwrap_or_else(|| self.default_tenant.clone())
    }

    /// Runs the toll guard with `f` (admin actions: `unlock`,
    /// `locked_accounts`, `stats`, policy changes).
    pub fn with_guard<R>(&self, f: impl FnOnce(&mut TollGuard) -> R) -> R {
        f(&mut self.lock().guard)
    }

    /// The call was answered (starts its spend clock).
    pub fn on_call_answered(&self, call_id: &str, now: Instant) -> bool {
        self.lock().guard.on_call_answered(call_id, now)
    }

    /// The call ended (any outcome); returns what it cost in minor units,
    /// or `None` for an unknown or already ended call.
    pub fn on_call_ended(&self, call_id: &str, now: Instant, outcome: CallOutcome) -> Option<u64> {
        self.lock().guard.on_call_ended(call_id, now, outcome)
    }

    /// Cuts live calls over a cap (through `control`), reaps stale calls and
    /// evicts idle counters; call it every few seconds.
    pub fn sweep(&self, now: Instant, control: &mut dyn CallControl) -> SweepReport {
        let local = self.local_now();
        let mut inner = self.lock();
        let report = inner.guard.sweep(now, local, control);
        for alert in report.alerts.iter().cloned() {
            inner.push_alert(alert);
        }
        report
    }

    /// Takes the alerts raised since the last call, oldest first, and how
    /// many were dropped because nobody collected them in time.
    pub fn drain_alerts(&self) -> (Vec<TollAlert>, u64) {
        let mut inner = self.lock();
        let dropped = std::mem::take(&mut inner.dropped_alerts);
        (inner.alerts.drain(..).collect(), dropped)
    }

    fn run(&self, call: &CallAttempt<'_>, now: Instant, dry_run: bool) -> Decision {
        // No caller or no destination: stage 8 already made sure the INVITE
        // is authenticated, so this only happens for malformed requests,
        // which the toll guard refuses as malformed destinations.
        let account = call.caller.unwrap_or("");
        let tenant = self.tenant(account);
        let attempt = TollAttempt::new(
            &tenant,
            account,
            call.call_id.unwrap_or("dry-run"),
            call.callee.unwrap_or(""),
        );
        let local = self.local_now();
        let mut inner = self.lock();
        if dry_run {
            return inner.guard.explain(&attempt, now, local).decision;
        }
        let verdict = inner.guard.check_call(&attempt, now, local);
        for alert in verdict.alerts {
            inner.push_alert(alert);
        }
        verdict.decision
    }
}

impl Inner {
    fn push_alert(&mut self, alert: TollAlert) {
        if self.alerts.len() >= MAX_PENDING_ALERTS {
            self.alerts.pop_front();
            self.dropped_alerts = self.dropped_alerts.saturating_add(1);
        }
        self.alerts.push_back(alert);
    }
}

impl CallCheck for TollStage {
    fn check(&self, call: &CallAttempt<'_>, now: Instant) -> Decision {
        self.run(call, now, false)
    }

    fn would_check(&self, call: &CallAttempt<'_>, now: Instant) -> Decision {
        self.run(call, now, true)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use okcc_core::DenyReason;
    use okcc_core::toll::{CollectCuts, TollConfig, TollPolicy};

    use super::*;

    fn stage() -> TollStage {
        let policy = TollPolicy::default().validate().expect("defaults");
        let guard = TollGuard::new(TollConfig::default(), policy);
        TollStage::new(guard, TenantId::new("acme").expect("tenant"), 0)
    }

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

    #[test]
    fn req_9_1_international_call_denied_by_stage_nine_local_allowed() {
        let s = stage();
        let now = Instant::now();
        let intl = CallAttempt::new(SRC, Some("1001"), Some("+4930123456")).with_call_id("c1");
        let d = s.check(&intl, now);
        assert_eq!(d.denial().map(|x| x.reason), Some(DenyReason::TollFraud));
        let local = CallAttempt::new(SRC, Some("1001"), Some("1002")).with_call_id("c2");
        assert!(s.check(&local, now).is_allow());
        assert_eq!(s.on_call_ended("c2", now, CallOutcome::Failed), Some(0));
        let mut cuts = CollectCuts::default();
        let _ = s.sweep(now, &mut cuts);
    }

    #[test]
    fn req_9_1_dry_run_counts_nothing() {
        let s = stage();
        let now = Instant::now();
        let call = CallAttempt::new(SRC, Some("1001"), Some("1002"));
        for _ in 0..50 {
            assert!(s.would_check(&call, now).is_allow());
        }
        assert!(s.with_guard(|g| g.locked_accounts().is_empty()));
    }

    #[test]
    fn req_9_1_alerts_are_kept_for_the_integrator() {
        let s = stage();
        let now = Instant::now();
        // The default per-minute limit is 10: the 11th call in a minute is
        // over the critical threshold and raises an alert.
        for i in 0..12 {
            let id = format!("call-{i}");
            let call = CallAttempt::new(SRC, Some("1001"), Some("1002")).with_call_id(&id);
            let _ = s.check(&call, now);
            let _ = s.on_call_ended(&id, now, CallOutcome::Cancelled);
        }
        let (alerts, dropped) = s.drain_alerts();
        assert!(!alerts.is_empty(), "a critical alert is raised");
        assert_eq!(dropped, 0);
        assert!(s.drain_alerts().0.is_empty(), "drained once");
    }
}
