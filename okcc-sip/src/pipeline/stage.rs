//! The stages, their verdicts and the dry-run explanation.

use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use okcc_core::Decision;
use serde::Serialize;

use crate::view::SipMethod;

/// The stages of the guard pipeline, in the order they run (DESIGN.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Stage {
    /// 1: trusted sources (SBCs, operator office): allow and skip the rest.
    Trusted,
    /// 2: dynamic bans (brute force, flood, scanner, manual).
    Bans,
    /// 3: scanner signatures and sweeps.
    Scanner,
    /// 4: flood rate per source.
    Flood,
    /// 5: global blacklist: IP, CIDR, feeds, country.
    Blacklist,
    /// 6: home regions ("block all foreign").
    Region,
    /// 7: tenant and account whitelists.
    Whitelist,
    /// 8: digest authentication (feeds the brute-force counters).
    Digest,
    /// 9: INVITE only: toll-fraud rules.
    TollFraud,
}

impl Stage {
    /// Every stage in order.
    pub const ALL: [Self; 9] = [
        Self::Trusted,
        Self::Bans,
        Self::Scanner,
        Self::Flood,
        Self::Blacklist,
        Self::Region,
        Self::Whitelist,
        Self::Digest,
        Self::TollFraud,
    ];

    /// The stage's kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trusted => "trusted",
            Self::Bans => "bans",
            Self::Scanner => "scanner",
            Self::Flood => "flood",
            Self::Blacklist => "blacklist",
            Self::Region => "region",
            Self::Whitelist => "whitelist",
            Self::Digest => "digest",
            Self::TollFraud => "toll-fraud",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one stage said (or that it did not run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StageVerdict {
    /// The stage.
    pub stage: Stage,
    /// Its decision; `None` when it did not run (an earlier stage decided,
    /// or it does not apply).
    pub decision: Option<Decision>,
    /// Why, in a few words (`trusted by rules.txt:3`, `4 of 5 failures`).
    pub note: String,
}

impl StageVerdict {
    pub(crate) fn new(stage: Stage, decision: Option<Decision>, note: impl Into<String>) -> Self {
        Self {
            stage,
            decision,
            note: note.into(),
        }
    }
}

/// A dry-run question: "would `source` sending `method` as `user` (to
/// `to`) be allowed?"
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExplainQuery {
    /// The source address.
    pub source: IpAddr,
    /// REGISTER or INVITE (any method works).
    pub method: SipMethod,
    /// The account the request claims (To user of a REGISTER, From user of an INVITE).
    pub user: Option<String>,
    /// The dialled number (INVITE).
    pub to: Option<String>,
    /// The User-Agent, if one should be judged.
    pub user_agent: Option<String>,
    /// Whether the request carries credentials that would verify (default
    /// `false`: the digest stage then answers with its challenge).
    pub with_valid_credentials: bool,
}

impl ExplainQuery {
    /// A query for `source` sending `method`.
    pub fn new(source: IpAddr, method: SipMethod) -> Self {
        Self {
            source,
            method,
            user: None,
            to: None,
            user_agent: None,
            with_valid_credentials: false,
        }
    }

    /// Sets the claimed account.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the dialled number.
    #[must_use]
    pub fn to(mut self, to: impl Into<String>) -> Self {
        self.to = Some(to.into());
        self
    }

    /// Sets the User-Agent.
    #[must_use]
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// Assumes the credentials would verify (explains what follows auth).
    #[must_use]
    pub fn with_valid_credentials(mut self) -> Self {
        self.with_valid_credentials = true;
        self
    }
}

/// The answer to an [`ExplainQuery`]: the decision and every stage's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The source judged.
    pub source: IpAddr,
    /// The method judged.
    pub method: String,
    /// The account claimed.
    pub user: Option<String>,
    /// The number dialled.
    pub to: Option<String>,
    /// The overall decision (the first stage that did not allow).
    pub decision: Decision,
    /// The stage that decided, if one refused or challenged (or `trusted`).
    pub decided_by: Option<Stage>,
    /// Every stage in order.
    pub stages: Vec<StageVerdict>,
}

/// One call attempt, as the toll-fraud stage (9) sees it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CallAttempt<'a> {
    /// The source address.
    pub source: IpAddr,
    /// The calling account (authenticated user, else the From user).
    pub caller: Option<&'a str>,
    /// The dialled number (Request-URI user).
    pub callee: Option<&'a str>,
    /// The request's Call-ID (absent in a dry run).
    pub call_id: Option<&'a str>,
}

impl<'a> CallAttempt<'a> {
    /// A call from `source` by `caller` to `callee`.
    pub fn new(source: IpAddr, caller: Option<&'a str>, callee: Option<&'a str>) -> Self {
        Self {
            source,
            caller,
            callee,
            call_id: None,
        }
    }

    /// The same attempt, carrying the request's Call-ID.
    #[must_use]
    pub fn with_call_id(mut self, call_id: &'a str) -> Self {
        self.call_id = Some(call_id);
        self
    }
}

/// Stage 9: judges INVITEs after authentication (toll-fraud rules plug in
/// here with [`Guard::with_call_check`](super::Guard::with_call_check)).
pub trait CallCheck: fmt::Debug + Send + Sync {
    /// Judges one call and counts it.
    fn check(&self, call: &CallAttempt<'_>, now: Instant) -> Decision;
    /// What [`CallCheck::check`] would say, with no side effect (dry run).
    fn would_check(&self, call: &CallAttempt<'_>, now: Instant) -> Decision;
}
