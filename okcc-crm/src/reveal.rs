//! Reveal requests (requirement 8.2: "a user can ask to see a full
//! number when needed").
//!
//! | step | who | result |
//! |---|---|---|
//! | request with a reason | holder of `number.reveal.request` | pending, or approved at once while the requester has auto-approvals left today ([`RevealPolicy::auto_approve_per_day`], default 0) |
//! | approve / deny | holder of `number.reveal.approve`, never the requester | approved with a grant of [`RevealPolicy::grant_ttl`] (default 15 minutes), or denied |
//! | reveal | the requester only, for that record only, before the grant expires | the full numbers |
//!
//! [`RevealBook`] is a sans-IO state machine (time is passed in); the CRM
//! service keeps it behind a mutex and audits every step.

use std::collections::{BTreeMap, HashMap};
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

/// How long decided requests are kept in memory.
const KEEP_DECIDED: Duration = Duration::from_secs(24 * 60 * 60);

fn utc_day(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

/// Reveal requests and grants (see the module docs).
#[derive(Debug, Default)]
pub struct RevealBook {
    policy: RevealPolicy,
    next: u64,
    requests: BTreeMap<RevealId, RevealRequest>,
    auto_used: HashMap<(TenantId, UserId), (u64, u32)>,
}

impl RevealBook {
    /// An empty book with `policy`.
    pub fn new(policy: RevealPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RevealPolicy {
        &self.policy
    }

    /// Drops requests decided (or expired) more than a day ago, and
    /// pending ones older than a day, so memory stays bounded.
    pub fn prune(&mut self, now: SystemTime) {
        let keep_after = now
            .checked_sub(KEEP_DECIDED)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.requests.retain(|_, r| match &r.state {
            RevealState::Pending => r.requested_at >= keep_after,
            RevealState::Approved { expires, .. } => *expires >= keep_after,
            RevealState::Denied { at, .. } => *at >= keep_after,
        });
        let today = utc_day(now);
        self.auto_used.retain(|_, (day, _)| *day == today);
    }

    /// Files a request; approves it at once while the requester has
    /// auto-approvals left today.
    pub fn request(
        &mut self,
        tenant: &TenantId,
        customer: CustomerId,
        requester: &UserId,
        reason: &str,
        now: SystemTime,
    ) -> Result<&RevealRequest, RevealError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control)
        {
            return Err(RevealError::BadReason);
        }
        self.prune(now);
        let pending = self
            .requests
            .values()
            .filter(|r| {
                &r.requester == requester && &r.tenant == tenant && r.state == RevealState::Pending
            })
            .count();
        if pending >= self.policy.max_pending_per_user {
            return Err(RevealError::TooManyPending {
                max: self.policy.max_pending_per_user,
            });
        }
        let today = utc_day(now);
        let used = self
            .auto_used
            .entry((tenant.clone(), requester.clone()))
            .or_insert((today, 0));
        if used.0 != today {
            *used = (today, 0);
        }
        let state = if used.1 < self.policy.auto_approve_per_day {
            used.1 += 1;
            RevealState::Approved {
                by: None,
                at: now,
                expires: now + self.policy.grant_ttl,
            }
        } else {
            RevealState::Pending
        };
        self.next += 1;
        let id = RevealId(self.next);
        let request = RevealRequest {
            id,
            tenant: tenant.clone(),
            customer,
            requester: requester.clone(),
            reason: reason.to_owned(),
            requested_at: now,
            state,
        };
        Ok(self.requests.entry(id).or_insert(request))
    }

    /// Approves or denies a pending request of `tenant`.
    pub fn decide(
        &mut self,
        tenant: &TenantId,
        id: RevealId,
        approver: &UserId,
        approve: bool,
        now: SystemTime,
    ) -> Result<&RevealRequest, RevealError> {
        let ttl = self.policy.grant_ttl;
        let r = self
            .requests
            .get_mut(&id)
            .filter(|r| &r.tenant == tenant)
            .ok_or(RevealError::NotFound)?;
        if r.state != RevealState::Pending {
            return Err(RevealError::NotPending);
        }
        if &r.requester == approver {
            return Err(RevealError::SelfDecision);
        }
        r.state = if approve {
            RevealState::Approved {
                by: Some(approver.clone()),
                at: now,
                expires: now + ttl,
            }
        } else {
            RevealState::Denied {
                by: approver.clone(),
                at: now,
            }
        };
        Ok(r)
    }

    /// The active grant letting `user` see `customer`'s numbers at `now`.
    pub fn grant(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        user: &UserId,
        now: SystemTime,
    ) -> Option<&RevealRequest> {
        self.requests.values().find(|r| {
            &r.tenant == tenant
                && r.customer == customer
                && &r.requester == user
                && matches!(r.state, RevealState::Approved { at, expires, .. } if at <= now && now < expires)
        })
    }

    /// Pending requests of `tenant`, oldest first.
    pub fn pending(&self, tenant: &TenantId) -> Vec<&RevealRequest> {
        self.requests
            .values()
            .filter(|r| &r.tenant == tenant && r.state == RevealState::Pending)
            .collect()
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
    fn req_8_2_approved_grant_is_for_that_user_and_record_for_15_minutes() {
        let a = TenantId::new("acme").unwrap();
        let mut book = RevealBook::new(RevealPolicy::default());
        let id = book
            .request(&a, CustomerId(1), &u("agent"), "callback", t(0))
            .unwrap()
            .id;
        assert!(book.grant(&a, CustomerId(1), &u("agent"), t(1)).is_none());
        assert_eq!(
            book.decide(&a, id, &u("agent"), true, t(1)),
            Err(RevealError::SelfDecision)
        );
        book.decide(&a, id, &u("boss"), true, t(10)).unwrap();
        assert!(book.grant(&a, CustomerId(1), &u("agent"), t(10)).is_some());
        assert!(
            book.grant(&a, CustomerId(1), &u("agent"), t(10 + 899))
                .is_some()
        );
        assert!(
            book.grant(&a, CustomerId(1), &u("agent"), t(10 + 900))
                .is_none()
        );
        assert!(book.grant(&a, CustomerId(2), &u("agent"), t(11)).is_none());
        assert!(book.grant(&a, CustomerId(1), &u("other"), t(11)).is_none());
        assert_eq!(
            book.decide(&a, id, &u("boss"), false, t(12)),
            Err(RevealError::NotPending)
        );
        let other = TenantId::new("globex").unwrap();
        assert!(
            book.grant(&other, CustomerId(1), &u("agent"), t(11))
                .is_none()
        );
    }

    #[test]
    fn req_8_2_auto_approval_up_to_n_per_day() {
        let a = TenantId::new("acme").unwrap();
        let policy = RevealPolicy {
            auto_approve_per_day: 2,
            ..RevealPolicy::default()
        };
        let mut book = RevealBook::new(policy);
        let states: Vec<bool> = (0..3)
            .map(|i| {
                let r = book
                    .request(&a, CustomerId(i), &u("agent"), "why", t(i))
                    .unwrap();
                matches!(r.state, RevealState::Approved { by: None, .. })
            })
            .collect();
        assert_eq!(states, vec![true, true, false]);
        let next_day = book
            .request(&a, CustomerId(9), &u("agent"), "why", t(86_400))
            .unwrap();
        assert!(matches!(next_day.state, RevealState::Approved { .. }));
        assert_eq!(
            book.request(&a, CustomerId(9), &u("agent"), " ", t(0))
                .unwrap_err(),
            RevealError::BadReason
        );
    }
}
