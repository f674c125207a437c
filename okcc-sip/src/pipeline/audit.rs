//! Where the pipeline's audit events go: a small sink trait, implemented
//! for okcc-audit's non-blocking [`AuditSink`] and for an in-memory list.
//!
//! | event | action | actor | outcome | detail |
//! |---|---|---|---|---|
//! | a request denied by a stage (not a packet from an already banned source) | `access.denied` (`sip.call-denied` for toll fraud) | anonymous | denied, rule, reason | `user` |
//! | digest failure: wrong secret, unknown user, unparsable credentials, digest user is not the request's user | `sip.auth-failure` | anonymous | denied, `guard:digest`, `authentication-failed` | `reason` (`wrong-password`, `unknown-user`, `malformed`, `user-mismatch`), `user`, `method`, `claimed_user` (mismatch) |
//! | right answer, expired nonce (re-challenged) | `sip.auth-failure` | anonymous | failure `stale-nonce` | `reason`, `user`, `method` |
//! | credential store unavailable (`503`) | `sip.auth-failure` | anonymous | failure `store-unavailable` | `reason`, `user`, `method` |
//! | digest success (any method) | `sip.auth-success` (custom) | the SIP account | success | `user`, `method` |
//! | a guard banned a source | `access.ban` | system `sip-guard` | denied, the ban's rule and reason | `offences` |
//! | an account saw a distributed brute-force attack | `alert.raise` | system `sip-guard` | success | `alert`, `user`, `failures` |
//!
//! Registrations (`sip.register`) are the registrar's events, not the
//! guard's: it cannot know whether a binding was stored. Authentication
//! events carry the tenant given to
//! [`Guard::authenticate_for`](super::Guard::authenticate_for); only
//! denied ones (`outcome.result = denied`) are the client's failures.
//! Every event carries the source address; the claimed user goes in the
//! detail (`user`). No secret, nonce or digest response is ever recorded.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use okcc_audit::{AuditEvent, AuditSink};

/// Receives the pipeline's audit events without blocking.
pub trait GuardAudit: fmt::Debug + Send + Sync {
    /// Takes one event; `false` when it had to be dropped (the pipeline
    /// counts those in `audit_dropped`).
    fn record(&self, event: AuditEvent) -> bool;
}

impl GuardAudit for AuditSink {
    fn record(&self, event: AuditEvent) -> bool {
        self.try_record(event).is_ok()
    }
}

/// Keeps events in memory (tests, the CLI, small deployments).
#[derive(Debug, Default)]
pub struct MemoryGuardAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryGuardAudit {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events recorded so far, in order.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl GuardAudit for MemoryGuardAudit {
    fn record(&self, event: AuditEvent) -> bool {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
        true
    }
}
