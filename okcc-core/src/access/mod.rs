//! IP, network and region access control (requirement 2).
//!
//! Rules ([`RuleSet`], from a rule file, JSON or code) are compiled into an
//! immutable [`AccessPolicy`]; [`AccessControl`] holds the live one and
//! swaps in a new one atomically on every change, so readers never block
//! and never see half a rule set. [`AccessPolicy::check`] judges a source
//! address on a [`Channel`], optionally for a tenant and account, and the
//! [`AccessDecision`] names the rule ([`RuleId`](crate::RuleId)) and reason.
//!
//! # Precedence
//!
//! The access rows of the request pipeline in DESIGN.md, checked in this
//! order; the first row that decides wins. Only rules for the request's
//! channel count. Addresses are canonicalised first: `::ffff:1.2.3.4` is
//! judged as `1.2.3.4`.
//!
//! | # | Row | Matches when | Verdict | Reason | Rule id |
//! |---|-----|--------------|---------|--------|---------|
//! | 1 | trusted (`trust`) | source in a trusted network | **allow, skip every later check** | `trusted` | the trust line |
//! | 2 | global blacklist, networks (`deny NET`) | source in a denied network (most specific rule named) | deny | `blocked-network` | the deny line |
//! | 3 | blocklist feeds | source listed in a feed | deny | `blocked-network` | `feed:<name>` |
//! | 4 | global blacklist, countries (`deny country:CC`) | GeoIP country denied | deny | `blocked-region` | the deny line |
//! | 5 | block all foreign (`block-foreign on` + `home CC`) | switch on, source public and its country not home | deny | `foreign-region` | the switch line or `switch:block-foreign` |
//! | 6 | block all foreign, unknown country | switch on, source public, GeoIP does not know it, `unknown-region deny` (default) | deny | `unknown-region` | as row 5 |
//! | 7 | tenant whitelist (`allow tenant:T …`) | the tenant has entries for the channel and none matches | deny | `not-allowlisted` | `allowlist:tenant:T` |
//! | 8 | account whitelist (`allow account:A …`) | the account has entries for the channel and none matches | deny | `not-allowlisted` | `allowlist:account:A` |
//! | 9 | default | nothing above decided | allow | `allowlisted` (a whitelist entry matched) or `no-rule` | the matching allow line, or none |
//!
//! Loopback, private (RFC 1918), link-local and unique-local sources count
//! as home in rows 5 and 6. Dynamic bans, flood and scanner defence sit
//! between rows 1 and 2 in the SIP guard pipeline; they are not part of
//! this policy.
//!
//! # Example
//!
//! ```
//! use okcc_core::access::{AccessControl, AccessRequest, Channel, RuleSet};
//!
//! let control = AccessControl::new(None);
//! control.load_rule_text("rules.txt", "deny 203.0.113.0/24  # scanner net\n").unwrap();
//! let d = control.check(&AccessRequest::new("203.0.113.9".parse().unwrap(), Channel::SipRegister));
//! assert_eq!(d.rule().unwrap().as_str(), "rules.txt:1");
//! assert_eq!(d.reason(), "blocked-network");
//! // A bad file changes nothing and names every bad line.
//! let err = control.load_rule_text("rules.txt", "deny 300.1.1.1\ndeny 10.0.0.0/33\n").unwrap_err();
//! assert!(err.to_string().contains("line 2"));
//! assert!(!control.check(&AccessRequest::new("203.0.113.9".parse().unwrap(), Channel::WebLogin)).is_allowed());
//! ```

mod control;
mod feed;
mod net;
mod parse;
mod policy;
mod rule;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
mod store;
mod table;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;

pub use control::{AccessControl, AccessError};
pub use feed::{BlocklistFeed, FeedError};
pub use net::{Cidr, CidrError, fuzz_ip_cidr, is_local_range};
pub use parse::{
    LineError, MAX_LINE, MAX_LISTED_ERRORS, RuleFileError, fuzz_rule_file, parse_rule,
};
pub use policy::{AccessDecision, AccessPolicy, AccessRequest, PolicyError, SWITCH_RULE, Verdict};
pub use rule::{
    AllowScope, Channel, ChannelSet, Rule, RuleEntry, RuleError, RuleSet, Target, UnknownRegion,
};
pub use store::{
    AccessDocChange, AccessDocError, AccessDocKind, AccessDocSummary, AccessRuleDoc,
    AccessRuleStore, MAX_DOC_BYTES, MemoryAccessRuleStore, StoredAccessDoc,
};
pub use table::{Matches, PrefixTable};

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sql::PostgresAccessRuleStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sql::SqliteAccessRuleStore;

#[cfg(test)]
mod precedence_tests;
