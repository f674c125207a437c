//! The audit event: who did what to which target, from where, with which
//! result (requirement 5.1).

use std::fmt;
use std::net::IpAddr;

use okcc_core::{Denial, DenyReason, RuleId, TenantId};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::action::Action;
use crate::actor::Actor;
use crate::detail::{Detail, DetailValue};
use crate::label::{Label, RequestId, Text};

/// Why an event (or one of its fields) is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// A label is empty, too long or holds a character outside
    /// `a-z 0-9 . _ -`.
    #[error(
        "{field} must be 1 to 64 characters from a-z 0-9 . _ - starting with a letter or digit"
    )]
    InvalidLabel {
        /// Which field.
        field: &'static str,
    },
    /// An action code is not a built-in code nor a valid custom code.
    #[error(
        "action code must be a built-in code or a namespaced code like `x-vendor.thing` (a-z 0-9 . _ -)"
    )]
    InvalidAction,
    /// A text is too long.
    #[error("text is longer than {max} bytes")]
    TextTooLong {
        /// The limit.
        max: usize,
    },
    /// A text holds a control character (newline, tab, escape).
    #[error("text holds a control character")]
    ControlCharacter,
    /// A request id is empty, too long or holds a non-visible character.
    #[error("request id must be 1 to 128 visible ASCII characters")]
    InvalidRequestId,
    /// A target id is empty.
    #[error("target id is empty")]
    EmptyTargetId,
    /// A detail key names a secret.
    #[error("detail key names a secret; secrets never enter the audit log")]
    SecretKey,
    /// A phone number is not masked.
    #[error(
        "phone number is not masked (hide at least four digits with `*`, or all of them as `0`)"
    )]
    NotMasked,
    /// Too many detail entries.
    #[error("more than {max} detail entries")]
    TooManyDetails {
        /// The limit.
        max: usize,
    },
}

/// The unique id of an event: a UUID v7, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    /// A fresh UUID v7 id (reads the clock).
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps an existing UUID.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// What an event acted on: a kind (`customer`, `extension`, `rule`,
/// `review-item`, `ip`) and an id within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Target {
    /// The kind of thing.
    pub kind: Label,
    /// Its id (bounded text; never a raw phone number).
    pub id: Text,
}

impl Target {
    /// A target of `kind` with `id`.
    pub fn new(kind: &str, id: &str) -> Result<Self, EventError> {
        if id.is_empty() {
            return Err(EventError::EmptyTargetId);
        }
        Ok(Self {
            kind: Label::checked(kind, "target kind")?,
            id: Text::new(id)?,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// The result of the operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Outcome {
    /// It worked.
    Success,
    /// It failed (wrong password, validation error, not found).
    Failure {
        /// Why, as a short text or code.
        reason: Text,
    },
    /// A rule refused it (requirement 2.4).
    Denied {
        /// The rule that refused.
        rule: RuleId,
        /// Why the rule refused.
        reason: DenyReason,
    },
}

impl Outcome {
    /// A failure for `reason`.
    pub fn failure(reason: &str) -> Result<Self, EventError> {
        Ok(Self::Failure {
            reason: Text::new(reason)?,
        })
    }

    /// A denial by `rule` for `reason`.
    pub fn denied(rule: RuleId, reason: DenyReason) -> Self {
        Self::Denied { rule, reason }
    }

    /// A stable code: `success`, `failure`, `denied`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure { .. } => "failure",
            Self::Denied { .. } => "denied",
        }
    }

    /// The rule that denied, for denials.
    pub fn rule(&self) -> Option<&RuleId> {
        match self {
            Self::Denied { rule, .. } => Some(rule),
            _ => None,
        }
    }
}

impl From<Denial> for Outcome {
    fn from(d: Denial) -> Self {
        Self::Denied {
            rule: d.rule,
            reason: d.reason,
        }
    }
}

impl From<&Denial> for Outcome {
    fn from(d: &Denial) -> Self {
        Self::Denied {
            rule: d.rule.clone(),
            reason: d.reason,
        }
    }
}

/// One audit event (requirement 5.1): time, actor, source, action,
/// target, result, request id and free structured detail.
///
/// Build one with [`AuditEvent::new`] (fresh id, current time) or
/// [`AuditEvent::at`], then the `with_*` methods:
///
/// ```
/// use okcc_audit::{Action, Actor, AuditEvent, Outcome, Target};
/// use okcc_core::{TenantId, UserId};
///
/// let tenant = TenantId::new("acme")?;
/// let event = AuditEvent::new(
///     Actor::user(UserId::new("alice")?, Some(tenant.clone())),
///     Action::CrmDelete,
///     Outcome::Success,
/// )
/// .with_source("192.0.2.7".parse()?)
/// .with_target(Target::new("customer", "c-1042")?)
/// .with_detail("records", 1i64.into())?;
/// assert_eq!(event.tenant, Some(tenant));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// Unique id (UUID v7).
    pub id: EventId,
    /// When it happened, in UTC.
    #[serde(with = "utc_rfc3339")]
    pub time: OffsetDateTime,
    /// The tenant the event belongs to (`None`: the platform). Queries by
    /// tenant use this field; it defaults to the actor's tenant.
    pub tenant: Option<TenantId>,
    /// Who did it.
    pub actor: Actor,
    /// Where from (the client or SIP source address).
    pub source: Option<IpAddr>,
    /// What was done.
    pub action: Action,
    /// What it was done to.
    pub target: Option<Target>,
    /// How it ended.
    pub outcome: Outcome,
    /// The request that caused it.
    pub request_id: Option<RequestId>,
    /// Free structured detail.
    #[serde(default)]
    pub detail: Detail,
}

impl AuditEvent {
    /// A new event with a fresh id, the current UTC time and the actor's
    /// tenant.
    pub fn new(actor: Actor, action: Action, outcome: Outcome) -> Self {
        Self::at(
            EventId::generate(),
            OffsetDateTime::now_utc(),
            actor,
            action,
            outcome,
        )
    }

    /// An event with a given id and time (converted to UTC).
    pub fn at(
        id: EventId,
        time: OffsetDateTime,
        actor: Actor,
        action: Action,
        outcome: Outcome,
    ) -> Self {
        Self {
            id,
            time: time.to_offset(UtcOffset::UTC),
            tenant: actor.tenant().cloned(),
            actor,
            source: None,
            action,
            target: None,
            outcome,
            request_id: None,
            detail: Detail::new(),
        }
    }

    /// Sets the tenant the event belongs to.
    #[must_use]
    pub fn with_tenant(mut self, tenant: Option<TenantId>) -> Self {
        self.tenant = tenant;
        self
    }

    /// Sets the source address (IPv4-mapped IPv6 is stored as IPv4).
    #[must_use]
    pub fn with_source(mut self, source: IpAddr) -> Self {
        self.source = Some(source.to_canonical());
        self
    }

    /// Sets the target.
    #[must_use]
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: RequestId) -> Self {
        self.request_id = Some(request_id);
        self
    }

    /// Adds one detail entry (see [`crate::detail`] for what is refused).
    pub fn with_detail(mut self, key: &str, value: DetailValue) -> Result<Self, EventError> {
        self.detail.insert(key, value)?;
        Ok(self)
    }

    /// Replaces the whole detail.
    #[must_use]
    pub fn with_details(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }
}

/// RFC 3339 in UTC with nanoseconds, normalised to UTC when read.
mod utc_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::{OffsetDateTime, UtcOffset};

    pub(super) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = t
            .to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(|t| t.to_offset(UtcOffset::UTC))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use okcc_core::UserId;
    use time::macros::datetime;

    fn sample() -> AuditEvent {
        AuditEvent::at(
            EventId::from_uuid(Uuid::from_u128(1)),
            datetime!(2026-11-23 10:00:00.123456789 +02:00),
            Actor::sip_account(
                UserId::new("1001").expect("id"),
                Some(TenantId::new("acme").expect("t")),
            ),
            Action::SipAuthFailure,
            Outcome::denied(RuleId::new("guard:brute-force"), DenyReason::BruteForce),
        )
        .with_source("::ffff:192.0.2.9".parse().expect("ip"))
        .with_request_id(RequestId::new("call-1@host").expect("rid"))
    }

    #[test]
    fn req_5_1_event_records_time_operator_result_and_source() {
        let e = sample();
        assert_eq!(e.time.offset(), UtcOffset::UTC);
        assert_eq!(e.source, Some("192.0.2.9".parse().expect("ip")));
        assert_eq!(e.tenant.as_ref().map(TenantId::as_str), Some("acme"));
        assert_eq!(
            e.outcome.rule().map(RuleId::as_str),
            Some("guard:brute-force")
        );
    }

    #[test]
    fn req_5_1_event_json_round_trips_in_utc() {
        let e = sample();
        let json = serde_json::to_string(&e).expect("ser");
        assert!(
            json.contains(r#""time":"2026-11-23T08:00:00.123456789Z""#),
            "{json}"
        );
        assert!(
            json.contains(r#""result":"denied","rule":"guard:brute-force","reason":"brute-force""#),
            "{json}"
        );
        let back: AuditEvent = serde_json::from_str(&json).expect("de");
        assert_eq!(back, e);
    }

    #[test]
    fn req_2_4_denial_becomes_outcome_with_rule() {
        let d = Denial::new("rules.txt:12", DenyReason::BlockedRegion);
        let o: Outcome = (&d).into();
        assert_eq!(o.rule().map(RuleId::as_str), Some("rules.txt:12"));
        assert_eq!(o.code(), "denied");
    }
}
