//! Access rules as data: what a rule file or a JSON document holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::net::Cidr;
use crate::decision::RuleId;
use crate::geo::CountryCode;
use crate::ids::{TenantId, UserId};

/// Where a request comes in; rules can apply to some channels only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Channel {
    /// SIP INVITE (calls).
    SipCall,
    /// SIP REGISTER (extension registration).
    SipRegister,
    /// Web or REST API login.
    WebLogin,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Self; 3] = [Self::SipCall, Self::SipRegister, Self::WebLogin];

    /// The channel's name in rule files (`sip-register`).
    pub fn name(self) -> &'static str {
        match self {
            Self::SipCall => "sip-call",
            Self::SipRegister => "sip-register",
            Self::WebLogin => "web-login",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::SipCall => 1,
            Self::SipRegister => 2,
            Self::WebLogin => 4,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Channel {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, RuleError> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| RuleError::UnknownChannel(clip(s)))
    }
}

/// A set of channels a rule applies to; [`ChannelSet::ALL`] by default.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelSet(u8);

impl ChannelSet {
    /// Every channel.
    pub const ALL: Self = Self(7);
    /// No channel.
    pub const NONE: Self = Self(0);

    /// Only `channel`.
    pub fn only(channel: Channel) -> Self {
        Self(channel.bit())
    }

    /// This set plus `channel`.
    #[must_use]
    pub fn with(self, channel: Channel) -> Self {
        Self(self.0 | channel.bit())
    }

    /// `true` if the set holds `channel`.
    #[inline]
    pub fn contains(self, channel: Channel) -> bool {
        self.0 & channel.bit() != 0
    }

    /// `true` if the set holds every channel.
    pub fn is_all(self) -> bool {
        self == Self::ALL
    }

    /// The channels in the set.
    pub fn iter(self) -> impl Iterator<Item = Channel> {
        Channel::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl Default for ChannelSet {
    fn default() -> Self {
        Self::ALL
    }
}

impl fmt::Debug for ChannelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for ChannelSet {
    /// `all` or a comma-separated list (`sip-call,web-login`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.iter().map(Channel::name).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for ChannelSet {
    type Err = RuleError;

    /// `all` or a comma-separated list of channel names.
    fn from_str(s: &str) -> Result<Self, RuleError> {
        let mut set = Self::NONE;
        for name in s.split(',') {
            if name == "all" {
                set = Self::ALL;
            } else {
                set = set.with(name.parse()?);
            }
        }
        Ok(set)
    }
}

/// What a deny or allow rule matches: a network or a country.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// A country, looked up through GeoIP (`country:CN`).
    Country(CountryCode),
    /// A single address or a CIDR network (`203.0.113.0/24`).
    Network(Cidr),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Country(c) => write!(f, "country:{c}"),
            Self::Network(n) if n.prefix_len() == 32 && n.addr().is_ipv4() => {
                write!(f, "{}", n.addr())
            }
            Self::Network(n) if n.prefix_len() == 128 && n.addr().is_ipv6() => {
                write!(f, "{}", n.addr())
            }
            Self::Network(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for Target {
    type Err = RuleError;

    /// `country:CC`, an address or a network.
    fn from_str(s: &str) -> Result<Self, RuleError> {
        match s.strip_prefix("country:") {
            Some(cc) => cc
                .parse()
                .map(Self::Country)
                .map_err(|e| RuleError::BadCountry {
                    text: clip(cc),
                    source: e,
                }),
            None => s
                .parse()
                .map(Self::Network)
                .map_err(|e| RuleError::BadNetwork {
                    text: clip(s),
                    source: e,
                }),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Whose whitelist an `allow` rule extends.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllowScope {
    /// Every login and registration of the tenant (`tenant:acme`).
    Tenant(TenantId),
    /// One account: an extension or a web user (`account:1001`).
    Account(UserId),
}

impl fmt::Display for AllowScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tenant(t) => write!(f, "tenant:{t}"),
            Self::Account(a) => write!(f, "account:{a}"),
        }
    }
}

/// What a public source GeoIP does not know gets while "block all foreign"
/// is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum UnknownRegion {
    /// Let it through (weaker; for incomplete GeoIP data).
    Allow,
    /// Refuse it (the default).
    #[default]
    Deny,
}

/// One access rule.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// Whitelist entry: when a tenant's or account's whitelist exists for a
    /// channel, the source must match one of its entries (`allow tenant:acme 10.0.0.0/8`).
    Allow {
        /// Whose whitelist.
        scope: AllowScope,
        /// The network or country allowed.
        target: Target,
        /// Channels the entry applies to.
        channels: ChannelSet,
    },
    /// Turns "block all foreign" on or off (`block-foreign on`).
    BlockForeign(bool),
    /// **Dangerous**: a source in this network is allowed and skips every
    /// later check (bans, flood and scanner defence, blacklists,
    /// whitelists, even digest-auth counters in the guard pipeline). Only
    /// for the operator's own SBCs and office (`trust 198.51.100.7`).
    DangerouslyTrust {
        /// The trusted network.
        network: Cidr,
        /// Channels the trust applies to.
        channels: ChannelSet,
    },
    /// Global blacklist entry (`deny 203.0.113.0/24`, `deny country:RU`).
    Deny {
        /// The network or country refused.
        target: Target,
        /// Channels the entry applies to.
        channels: ChannelSet,
    },
    /// A home region for "block all foreign" (`home CN`).
    Home(CountryCode),
    /// What an unknown public source gets while "block all foreign" is on
    /// (`unknown-region allow`).
    UnknownRegion(UnknownRegion),
}

impl fmt::Display for Rule {
    /// The rule in rule-file syntax; parsing it gives the same rule back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn chans(f: &mut fmt::Formatter<'_>, c: ChannelSet) -> fmt::Result {
            if c.is_all() {
                Ok(())
            } else {
                write!(f, " channel:{c}")
            }
        }
        match self {
            Self::Allow {
                scope,
                target,
                channels,
            } => {
                write!(f, "allow {scope} {target}")?;
                chans(f, *channels)
            }
            Self::BlockForeign(on) => write!(f, "block-foreign {}", if *on { "on" } else { "off" }),
            Self::DangerouslyTrust { network, channels } => {
                write!(f, "trust {}", Target::Network(*network))?;
                chans(f, *channels)
            }
            Self::Deny { target, channels } => {
                write!(f, "deny {target}")?;
                chans(f, *channels)
            }
            Self::Home(c) => write!(f, "home {c}"),
            Self::UnknownRegion(UnknownRegion::Allow) => f.write_str("unknown-region allow"),
            Self::UnknownRegion(UnknownRegion::Deny) => f.write_str("unknown-region deny"),
        }
    }
}

/// A rule with its id (for decisions) and optional comment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleEntry {
    /// Names the rule in decisions: `rules.txt:12` for line 12 of a file.
    pub id: RuleId,
    /// The rule.
    pub rule: Rule,
    /// The comment after `#`, if any.
    pub comment: Option<String>,
}

impl RuleEntry {
    /// A rule entry without comment.
    pub fn new(id: impl Into<RuleId>, rule: Rule) -> Self {
        Self {
            id: id.into(),
            rule,
            comment: None,
        }
    }
}

/// A whole rule set, in order. Build it from a rule file
/// ([`RuleSet::parse_text`]), JSON ([`RuleSet::from_json`]) or code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleSet {
    /// The rules in file order.
    pub entries: Vec<RuleEntry>,
}

impl RuleSet {
    /// An empty rule set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a rule.
    pub fn push(&mut self, entry: RuleEntry) -> &mut Self {
        self.entries.push(entry);
        self
    }
}

/// Why one rule (one line or one JSON entry) is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A network that does not parse.
    #[error("`{text}` is not a valid address or network: {source}")]
    BadNetwork {
        /// The offending text (clipped).
        text: String,
        /// What is wrong with it.
        source: super::net::CidrError,
    },
    /// A country code that is not assigned.
    #[error("`{text}` is not a valid country: {source}")]
    BadCountry {
        /// The offending text (clipped).
        text: String,
        /// What is wrong with it.
        source: crate::geo::CountryCodeError,
    },
    /// A tenant or account id that does not parse.
    #[error("`{text}` is not a valid id: {source}")]
    BadId {
        /// The offending text (clipped).
        text: String,
        /// What is wrong with it.
        source: crate::ids::IdError,
    },
    /// The line is longer than the limit.
    #[error("line is longer than {max} bytes")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// A word the verb does not take, or a missing one.
    #[error("{0}")]
    Syntax(String),
    /// `trust` takes networks only, not countries.
    #[error(
        "`trust` takes an address or network, not a country (trusting a whole country would be far too broad)"
    )]
    TrustCountry,
    /// A channel name that does not exist.
    #[error("unknown channel `{0}` (expected sip-register, sip-call, web-login or all)")]
    UnknownChannel(String),
    /// A verb that does not exist.
    #[error(
        "unknown verb `{0}` (expected deny, trust, allow, home, block-foreign or unknown-region)"
    )]
    UnknownVerb(String),
}

/// Attacker-supplied text in errors is clipped to this many characters.
const CLIP: usize = 48;

pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(CLIP) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or_default()),
        None => s.to_owned(),
    }
}
