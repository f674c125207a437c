//! The outcome of one check, shared by every policy in okcc.
//!
//! Every denial names the rule that made it ([`RuleId`]) and why
//! ([`DenyReason`]), so the audit log and the admin view can say
//! "blocked by country rule CN→deny (rules.txt:12)" (requirement 2.4).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Names the configured rule (or built-in defence) that made a decision.
///
/// Rule ids are short, human-readable and stable for as long as the rule
/// exists: `rules.txt:12` for line 12 of a rule file, `feed:apiban` for an
/// imported blocklist, `guard:brute-force` for a built-in defence. Cloning
/// is cheap (a reference count).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleId(Arc<str>);

impl RuleId {
    /// Wraps a rule name.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self(name.into())
    }

    /// The rule's name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RuleId({:?})", &*self.0)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RuleId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive] // new reasons will come
pub enum DenyReason {
    /// Digest authentication failed (wrong secret, unknown user, bad nonce).
    AuthenticationFailed,
    /// The source is under a dynamic ban (brute force, flood, scanner or manual).
    Banned,
    /// The source address or network is on a blacklist.
    BlockedNetwork,
    /// The source's country is on a blacklist.
    BlockedRegion,
    /// Too many failed authentications.
    BruteForce,
    /// Too many requests from one source.
    Flood,
    /// The principal lacks the permission, or reached outside its tenant
    /// (see `rbac::authorize`).
    Forbidden,
    /// "Block all foreign" is on and the source is outside the home regions.
    ForeignRegion,
    /// The request could not be parsed.
    Malformed,
    /// A tenant or account whitelist exists and the source is not on it.
    NotAllowlisted,
    /// The request looks like a scanner (User-Agent or behaviour).
    Scanner,
    /// A toll-fraud rule refused the call.
    TollFraud,
    /// "Block all foreign" is on and GeoIP does not know the public source.
    UnknownRegion,
}

impl DenyReason {
    /// A stable kebab-case code for logs, metrics and APIs.
    pub fn code(self) -> &'static str {
        match self {
            Self::AuthenticationFailed => "authentication-failed",
            Self::Banned => "banned",
            Self::BlockedNetwork => "blocked-network",
            Self::BlockedRegion => "blocked-region",
            Self::BruteForce => "brute-force",
            Self::Flood => "flood",
            Self::Forbidden => "forbidden",
            Self::ForeignRegion => "foreign-region",
            Self::Malformed => "malformed",
            Self::NotAllowlisted => "not-allowlisted",
            Self::Scanner => "scanner",
            Self::TollFraud => "toll-fraud",
            Self::UnknownRegion => "unknown-region",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Which configured rule refused, and why (requirement 2.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Denial {
    /// The rule that made the decision.
    pub rule: RuleId,
    /// Why the rule refused.
    pub reason: DenyReason,
}

impl Denial {
    /// A denial by `rule` for `reason`.
    pub fn new(rule: impl Into<RuleId>, reason: DenyReason) -> Self {
        Self {
            rule: rule.into(),
            reason,
        }
    }
}

/// The request must authenticate (SIP `401`/`407`, or a second factor).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Challenge {
    /// The credentials were right but the nonce expired (`stale=true`).
    pub stale: bool,
}

impl Challenge {
    /// A fresh challenge (`stale = false`).
    pub fn fresh() -> Self {
        Self { stale: false }
    }

    /// A challenge for an expired nonce (`stale = true`).
    pub fn stale() -> Self {
        Self { stale: true }
    }
}

/// One check's outcome. Complete by design, so exhaustive on purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Go on with the next stage.
    Allow,
    /// Ask for (new) credentials.
    Challenge(Challenge),
    /// Refuse, naming the rule.
    Deny(Denial),
}

impl Decision {
    /// A denial by `rule` for `reason`.
    pub fn deny(rule: impl Into<RuleId>, reason: DenyReason) -> Self {
        Self::Deny(Denial::new(rule, reason))
    }

    /// `true` for [`Decision::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow)
    }

    /// The denial, if this is one.
    pub fn denial(&self) -> Option<&Denial> {
        match self {
            Self::Deny(d) => Some(d),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_names_rule_and_reason() {
        let d = Decision::deny("rules.txt:12", DenyReason::BlockedRegion);
        let denial = d.denial().expect("a denial");
        assert_eq!(denial.rule.as_str(), "rules.txt:12");
        assert_eq!(denial.reason.code(), "blocked-region");
        assert!(!d.is_allow());
    }

    #[test]
    fn decision_serializes_with_a_tag() {
        let json =
            serde_json::to_string(&Decision::deny("feed:apiban", DenyReason::BlockedNetwork))
                .expect("serializes");
        assert_eq!(
            json,
            r#"{"decision":"deny","rule":"feed:apiban","reason":"blocked-network"}"#
        );
    }
}
