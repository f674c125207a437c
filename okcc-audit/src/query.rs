//! Searching the log: filters by time range, actor, action, target,
//! result and tenant, in chain order, with cursor pagination.

use okcc_core::{RuleId, TenantId, UserId};
use time::OffsetDateTime;

use crate::action::Action;
use crate::actor::Actor;
use crate::event::{AuditEvent, Outcome};
use crate::label::{Label, Text};

/// Matches the actor of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActorFilter {
    /// A user (any tenant, any role).
    User(UserId),
    /// A SIP account.
    SipAccount(UserId),
    /// A system component.
    System(Label),
    /// Anonymous actors.
    Anonymous,
}

impl ActorFilter {
    /// `true` when `actor` matches.
    pub fn matches(&self, actor: &Actor) -> bool {
        match (self, actor) {
            (Self::User(u), Actor::User { user, .. }) => u == user,
            (Self::SipAccount(a), Actor::SipAccount { account, .. }) => a == account,
            (Self::System(c), Actor::System { component }) => c == component,
            (Self::Anonymous, Actor::Anonymous) => true,
            _ => false,
        }
    }
}

/// Matches the target of an event: a kind, and optionally an id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetFilter {
    /// The kind.
    pub kind: Label,
    /// The id; `None` matches every id of the kind.
    pub id: Option<Text>,
}

impl TargetFilter {
    /// Every target of `kind`.
    pub fn kind(kind: Label) -> Self {
        Self { kind, id: None }
    }

    /// The one target `kind:id`.
    pub fn exact(kind: Label, id: Text) -> Self {
        Self { kind, id: Some(id) }
    }
}

/// Matches the result of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultFilter {
    /// Successes.
    Success,
    /// Failures.
    Failure,
    /// Denials by any rule.
    Denied,
    /// Denials by one rule.
    DeniedBy(RuleId),
}

impl ResultFilter {
    /// `true` when `outcome` matches.
    pub fn matches(&self, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (Self::Success, Outcome::Success)
            | (Self::Failure, Outcome::Failure { .. })
            | (Self::Denied, Outcome::Denied { .. }) => true,
            (Self::DeniedBy(r), Outcome::Denied { rule, .. }) => r == rule,
            _ => false,
        }
    }
}

/// A search over the log. Every set field must match; the default
/// matches everything. Results come in chain order (oldest first), or
/// newest first with [`AuditQuery::newest_first`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Events strictly before this time.
    pub until: Option<OffsetDateTime>,
    /// The actor.
    pub actor: Option<ActorFilter>,
    /// The action.
    pub action: Option<Action>,
    /// The target.
    pub target: Option<TargetFilter>,
    /// The result.
    pub result: Option<ResultFilter>,
    /// The tenant the event belongs to ([`AuditEvent::tenant`]).
    pub tenant: Option<TenantId>,
    /// Only platform events (tenant `None`); ignored when `tenant` is set.
    pub platform_only: bool,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
}

impl AuditQuery {
    /// Matches every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Events in `[since, until)`.
    #[must_use]
    pub fn between(mut self, since: OffsetDateTime, until: OffsetDateTime) -> Self {
        self.since = Some(since);
        self.until = Some(until);
        self
    }

    /// Events at or after `since`.
    #[must_use]
    pub fn since(mut self, since: OffsetDateTime) -> Self {
        self.since = Some(since);
        self
    }

    /// Events before `until`.
    #[must_use]
    pub fn until(mut self, until: OffsetDateTime) -> Self {
        self.until = Some(until);
        self
    }

    /// Events by this actor.
    #[must_use]
    pub fn by(mut self, actor: ActorFilter) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Events with this action.
    #[must_use]
    pub fn action(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }

    /// Events on this target.
    #[must_use]
    pub fn target(mut self, target: TargetFilter) -> Self {
        self.target = Some(target);
        self
    }

    /// Events with this result.
    #[must_use]
    pub fn result(mut self, result: ResultFilter) -> Self {
        self.result = Some(result);
        self
    }

    /// Events of this tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Newest first.
    #[must_use]
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    /// `true` when `event` matches every set filter.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.since.is_none_or(|t| event.time >= t)
            && self.until.is_none_or(|t| event.time < t)
            && self.actor.as_ref().is_none_or(|a| a.matches(&event.actor))
            && self.action.as_ref().is_none_or(|a| *a == event.action)
            && self.target.as_ref().is_none_or(|f| {
                event
                    .target
                    .as_ref()
                    .is_some_and(|t| t.kind == f.kind && f.id.as_ref().is_none_or(|id| *id == t.id))
            })
            && self
                .result
                .as_ref()
                .is_none_or(|r| r.matches(&event.outcome))
            && match &self.tenant {
                Some(t) => event.tenant.as_ref() == Some(t),
                None => !self.platform_only || event.tenant.is_none(),
            }
    }
}

/// The cursor format every store uses: `seq:<n>`, the position of the
/// last event of the page. Opaque to callers.
pub fn cursor_for(seq: u64) -> String {
    format!("seq:{seq}")
}

/// Parses a cursor from [`cursor_for`]; `None` for anything else.
pub fn parse_cursor(cursor: &str) -> Option<u64> {
    cursor.strip_prefix("seq:")?.parse().ok()
}
