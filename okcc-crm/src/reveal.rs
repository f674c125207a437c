//! Reveal requests (requirement 8.2: "a user can ask to see a full
//! number when needed").
//!
//! | step | who | result |
//! |---|---|---|
//! | request with a reason | holder of `number.reveal.request` | pending, or approved at once while the requester has auto-approvals left today ([`RevealPolicy::auto_approve_per_day`], default 0) |
//! | approve / deny | holder of `number.reveal.approve`, never the requester | approved with a grant of [`RevealPolicy::grant_ttl`] (default 15 minutes), or denied |
//! | reveal | the requester only, for that record only, before the grant expires | the full numbers |
//!
//! [`RevealBook`] holds the rules, sans-IO (time and the stored state are
//! passed in); requests live in a [`RevealStore`](crate::store::RevealStore)
//! (memory, SQLite or PostgreSQL), so they survive a restart and are
//! shared by several nodes. The CRM service runs each step against the
//! store and audits it.

use std::time::{Duration, SystemTime};

use okcc_core::{TenantId, UserId};
use serde::Serialize;

use crate::customer::CustomerId;

/// Reveal settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevealPolicy {
    /// Requests approved automatically per user per UTC day (0: every
    /// request waits for an approver).
    pub auto_approve_per_day: u32,
    /// How long an approved reveal lasts. Default: 15 minutes.
    pub grant_ttl: Duration,
    /// Most pending requests one user may have open.
    pub max_pending_per_user: usize,
}

impl Default for RevealPolicy {
    fn default() -> Self {
        Self {
            auto_approve_per_day: 0,
            grant_ttl: Duration::from_secs(15 * 60),
            max_pending_per_user: 20,
        }
    }
}

/// A reveal request's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RevealId(pub u64);

impl std::fmt::Display for RevealId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reveal-{}", self.0)
    }
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum RevealState {
    /// Waiting for an approver.
    Pending,
    /// Approved; the grant lasts until `expires`.
    Approved {
        /// The approver; `None` when the policy approved it automatically.
        by: Option<UserId>,
        /// When.
        at: SystemTime,
        /// End of the grant.
        expires: SystemTime,
    },
    /// Denied.
    Denied {
        /// The approver who denied it.
        by: UserId,
        /// When.
        at: SystemTime,
    },
}

/// One request to see one record's full numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RevealRequest {
    /// The id.
    pub id: RevealId,
    /// The tenant of the record.
    pub tenant: TenantId,
    /// The record.
    pub customer: CustomerId,
    /// Who asked.
    pub requester: UserId,
    /// Why (1–500 characters).
    pub reason: String,
    /// When.
    pub requested_at: SystemTime,
    /// Where it stands.
    pub state: RevealState,
}

/// Why a reveal step was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevealError {
    /// The reason is empty, too long or holds control characters.
    #[error("a reason of 1 to 500 characters is required")]
    BadReason,
    /// The request was already decided.
    #[error("request was already decided")]
    NotPending,
    /// No such request in this tenant.
    #[error("no such reveal request")]
    NotFound,
    /// No active grant for this user and record.
    #[error("no active reveal grant for this record")]
    NoGrant,
    /// The requester tried to decide their own request.
    #[error("a requester cannot decide their own request")]
    SelfDecision,
    /// Too many open requests.
    #[error("too many pending reveal requests (limit {max})")]
    TooManyPending {
        /// The limit.
        max: usize,
    },
}

/// How long decided (or expired, or unanswered) requests are kept.
pub const KEEP_DECIDED: Duration = Duration::from_secs(24 * 60 * 60);

/// The start of the UTC day holding `t` (auto-approvals count per day).
pub fn utc_day_start(t: SystemTime) -> SystemTime {
    let days = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    SystemTime::UNIX_EPOCH + Duration::from_secs(days * 86_400)
}

impl RevealRequest {
    /// Whether this request is an approved grant in force at `now`.
    pub fn is_active_grant(&self, now: SystemTime) -> bool {
        matches!(self.state, RevealState::Approved { at, expires, .. } if at <= now && now < expires)
    }

    /// The code of the state: `pending`, `approved` or `denied`.
    pub fn state_code(&self) -> &'static str {
        match self.state {
            RevealState::Pending => "pending",
            RevealState::Approved { .. } => "approved",
            RevealState::Denied { .. } => "denied",
        }
    }
}

/// What the store holds about one requester when a request is filed: the
/// decision is taken on these numbers, and the store files the request
/// only if they are still the same ([`RevealStore::insert`](crate::store::RevealStore::insert)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevealCounts {
    /// The requester's pending requests in the tenant.
    pub pending: u64,
    /// The requester's requests approved automatically since the start of
    /// the UTC day.
    pub auto_approved_today: u64,
}

impl RevealCounts {
    /// Counts of `pending` and `auto_approved_today`.
    pub fn new(pending: u64, auto_approved_today: u64) -> Self {
        Self {
            pending,
            auto_approved_today,
        }
    }
}

/// A request about to be filed (the store gives it its id).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewReveal {
    /// The tenant of the record.
    pub tenant: TenantId,
    /// The record.
    pub customer: CustomerId,
    /// Who asked.
    pub requester: UserId,
    /// Why (checked).
    pub reason: String,
    /// When.
    pub requested_at: SystemTime,
    /// Pending, or approved by the policy.
    pub state: RevealState,
}

impl NewReveal {
    /// The request under `id` (for store backends).
    pub fn into_request(self, id: RevealId) -> RevealRequest {
        RevealRequest {
            id,
            tenant: self.tenant,
            customer: self.customer,
            requester: self.requester,
            reason: self.reason,
            requested_at: self.requested_at,
            state: self.state,
        }
    }
}

/// The reveal rules (see the module docs), sans-IO: each step takes what
/// the [`RevealStore`](crate::store::RevealStore) holds and the time, and
/// says what to store.
#[derive(Clone, Copy, Debug, Default)]
pub struct RevealBook {
    policy: RevealPolicy,
}

impl RevealBook {
    /// The rules of `policy`.
    pub fn new(policy: RevealPolicy) -> Self {
        Self { policy }
    }

    /// The policy.
    pub fn policy(&self) -> &RevealPolicy {
        &self.policy
    }

    /// Requests decided (or expired) before this, and pending ones filed
    /// before it, may be dropped.
    pub fn prune_before(&self, now: SystemTime) -> SystemTime {
        now.checked_sub(KEEP_DECIDED)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// A new request of `requester` for `customer`, given what the store
    /// holds about the requester (`counts`, since [`utc_day_start`] of
    /// `now`): refused with too many pending; approved at once while the
    /// requester has auto-approvals left today; pending otherwise.
    pub fn request(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        requester: &UserId,
        reason: &str,
        counts: RevealCounts,
        now: SystemTime,
    ) -> Result<NewReveal, RevealError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control)
        {
            return Err(RevealError::BadReason);
        }
        let max = self.policy.max_pending_per_user;
        if counts.pending >= u64::try_from(max).unwrap_or(u64::MAX) {
            return Err(RevealError::TooManyPending { max });
        }
        let state = if counts.auto_approved_today < u64::from(self.policy.auto_approve_per_day) {
            RevealState::Approved {
                by: None,
                at: now,
                expires: now + self.policy.grant_ttl,
            }
        } else {
            RevealState::Pending
        };
        Ok(NewReveal {
            tenant: tenant.clone(),
            customer,
            requester: requester.clone(),
            reason: reason.to_owned(),
            requested_at: now,
            state,
        })
    }

    /// The new state of `request` (of `tenant`) when `approver` approves
    /// or denies it at `now`: only a pending request, never by its
    /// requester.
    pub fn decide(
        &self,
        tenant: &TenantId,
        request: &RevealRequest,
        approver: &UserId,
        approve: bool,
        now: SystemTime,
    ) -> Result<RevealState, RevealError> {
        if &request.tenant != tenant {
            return Err(RevealError::NotFound);
        }
        if request.state != RevealState::Pending {
            return Err(RevealError::NotPending);
        }
        if &request.requester == approver {
            return Err(RevealError::SelfDecision);
        }
        Ok(if approve {
            RevealState::Approved {
                by: Some(approver.clone()),
                at: now,
                expires: now + self.policy.grant_ttl,
            }
        } else {
            RevealState::Denied {
                by: approver.clone(),
                at: now,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_006_400 + s)
    }
    fn u(s: &str) -> UserId {
        UserId::new(s).unwrap()
    }

    #[test]
    fn req_8_2_approval_by_someone_else_gives_a_15_minute_grant() {
        let a = TenantId::new("acme").unwrap();
        let book = RevealBook::new(RevealPolicy::default());
        let new = book
            .request(
                &a,
                CustomerId(1),
                &u("agent"),
                " callback ",
                RevealCounts::default(),
                t(0),
            )
            .unwrap();
        assert_eq!(new.state, RevealState::Pending);
        assert_eq!(new.reason, "callback");
        let mut r = new.into_request(RevealId(1));
        assert!(!r.is_active_grant(t(1)));
        assert_eq!(
            book.decide(&a, &r, &u("agent"), true, t(1)),
            Err(RevealError::SelfDecision)
        );
        let other = TenantId::new("globex").unwrap();
        assert_eq!(
            book.decide(&other, &r, &u("boss"), true, t(1)),
            Err(RevealError::NotFound)
        );
        r.state = book.decide(&a, &r, &u("boss"), true, t(10)).unwrap();
        assert!(r.is_active_grant(t(10)));
        assert!(r.is_active_grant(t(10 + 899)));
        assert!(!r.is_active_grant(t(10 + 900)));
        assert!(!r.is_active_grant(t(9)));
        assert_eq!(
            book.decide(&a, &r, &u("boss"), false, t(12)),
            Err(RevealError::NotPending)
        );
    }

    #[test]
    fn req_8_2_auto_approval_up_to_n_per_day_and_pending_limit() {
        let a = TenantId::new("acme").unwrap();
        let policy = RevealPolicy {
            auto_approve_per_day: 2,
            max_pending_per_user: 3,
            ..RevealPolicy::default()
        };
        let book = RevealBook::new(policy);
        let ask = |counts| book.request(&a, CustomerId(1), &u("agent"), "why", counts, t(0));
        let auto = |r: Result<NewReveal, RevealError>| {
            matches!(r.unwrap().state, RevealState::Approved { by: None, .. })
        };
        assert!(auto(ask(RevealCounts::new(0, 0))));
        assert!(auto(ask(RevealCounts::new(2, 1))));
        assert!(!auto(ask(RevealCounts::new(2, 2))));
        assert_eq!(
            ask(RevealCounts::new(3, 0)),
            Err(RevealError::TooManyPending { max: 3 })
        );
        assert_eq!(
            book.request(
                &a,
                CustomerId(1),
                &u("agent"),
                " ",
                RevealCounts::default(),
                t(0)
            ),
            Err(RevealError::BadReason)
        );
        assert_eq!(utc_day_start(t(86_400 + 5)), t(86_400));
        assert_eq!(book.prune_before(t(86_400)), t(0));
    }
}
