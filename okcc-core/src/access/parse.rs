//! The rule-file parser (text and JSON). Loading is all-or-nothing: one
//! bad line refuses the whole file, and the error lists every bad line.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::rule::{
    AllowScope, ChannelSet, Rule, RuleEntry, RuleError, RuleSet, Target, UnknownRegion, clip,
};
use crate::decision::RuleId;

/// Longest line the parser accepts.
pub const MAX_LINE: usize = 4096;
/// At most this many bad lines are listed; the rest are only counted.
pub const MAX_LISTED_ERRORS: usize = 1000;

/// One bad line (or JSON entry, numbered from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LineError {
    /// Line number (text) or entry number (JSON), from 1.
    pub line: usize,
    /// What is wrong.
    pub error: RuleError,
}

/// A refused rule file: every bad line, none of the rules applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleFileError {
    /// One or more lines are bad.
    #[error("{}", ListDisplay(.errors, *.more))]
    BadLines {
        /// The bad lines, in order (at most [`MAX_LISTED_ERRORS`]).
        errors: Vec<LineError>,
        /// How many more bad lines were not listed.
        more: usize,
    },
    /// The file is not UTF-8.
    #[error("the rule file is not valid UTF-8")]
    NotUtf8,
    /// The JSON document does not have the expected shape.
    #[error("invalid JSON rule document: {0}")]
    Json(String),
}

impl RuleFileError {
    /// The numbers of the bad lines listed.
    pub fn bad_lines(&self) -> Vec<usize> {
        match self {
            Self::BadLines { errors, .. } => errors.iter().map(|e| e.line).collect(),
            _ => Vec::new(),
        }
    }
}

struct ListDisplay<'a>(&'a [LineError], usize);

impl fmt::Display for ListDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bad line(s), nothing applied:", self.0.len() + self.1)?;
        for e in self.0 {
            write!(f, "\n  line {}: {}", e.line, e.error)?;
        }
        if self.1 > 0 {
            write!(f, "\n  … and {} more", self.1)?;
        }
        Ok(())
    }
}

struct Collector {
    errors: Vec<LineError>,
    more: usize,
}

impl Collector {
    fn push(&mut self, line: usize, error: RuleError) {
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(LineError { line, error });
        } else {
            self.more += 1;
        }
    }

    fn finish(self, set: RuleSet) -> Result<RuleSet, RuleFileError> {
        if self.errors.is_empty() {
            Ok(set)
        } else {
            Err(RuleFileError::BadLines {
                errors: self.errors,
                more: self.more,
            })
        }
    }
}

fn syntax(msg: impl Into<String>) -> RuleError {
    RuleError::Syntax(msg.into())
}

/// Parses the words of one rule (after the verb is split off).
fn parse_words(verb: &str, words: &[&str]) -> Result<Rule, RuleError> {
    let mut channels: Option<ChannelSet> = None;
    let mut plain: Vec<&str> = Vec::new();
    for w in words {
        if let Some(list) = w.strip_prefix("channel:") {
            let set: ChannelSet = list.parse()?;
            channels = Some(channels.map_or(set, |c| set.iter().fold(c, ChannelSet::with)));
        } else {
            plain.push(w);
        }
    }
    let takes_channels = matches!(verb, "deny" | "trust" | "allow");
    if channels.is_some() && !takes_channels {
        return Err(syntax(format!("`{verb}` does not take a channel")));
    }
    let channels = channels.unwrap_or_default();
    let one = |what: &str| -> Result<&str, RuleError> {
        match plain.as_slice() {
            [x] => Ok(x),
            [] => Err(syntax(format!("`{verb}` needs {what}"))),
            [_, extra, ..] => Err(syntax(format!(
                "unexpected `{}` after `{verb}` {what}",
                clip(extra)
            ))),
        }
    };
    match verb {
        "deny" => Ok(Rule::Deny {
            target: one("an address, network or country:CC")?.parse()?,
            channels,
        }),
        "trust" => match one("an address or network")?.parse()? {
            Target::Network(network) => Ok(Rule::DangerouslyTrust { network, channels }),
            _ => Err(RuleError::TrustCountry),
        },
        "allow" => {
            let (scope, target) = match plain.as_slice() {
                [scope, target] => (*scope, *target),
                [_] | [] => {
                    return Err(syntax("`allow` needs tenant:ID or account:ID and a target"));
                }
                [_, _, extra, ..] => {
                    return Err(syntax(format!(
                        "unexpected `{}` after the allow target",
                        clip(extra)
                    )));
                }
            };
            let bad_id = |text: &str, source| RuleError::BadId {
                text: clip(text),
                source,
            };
            let scope = if let Some(t) = scope.strip_prefix("tenant:") {
                AllowScope::Tenant(t.parse().map_err(|e| bad_id(t, e))?)
            } else if let Some(a) = scope.strip_prefix("account:") {
                AllowScope::Account(a.parse().map_err(|e| bad_id(a, e))?)
            } else {
                return Err(syntax(format!(
                    "`allow` applies to a whitelist: expected tenant:ID or account:ID, found `{}`",
                    clip(scope)
                )));
            };
            Ok(Rule::Allow {
                scope,
                target: target.parse()?,
                channels,
            })
        }
        "home" => {
            let cc = one("a country code")?;
            let cc = cc.strip_prefix("country:").unwrap_or(cc);
            cc.parse()
                .map(Rule::Home)
                .map_err(|e| RuleError::BadCountry {
                    text: clip(cc),
                    source: e,
                })
        }
        "block-foreign" => match one("on or off")? {
            "on" => Ok(Rule::BlockForeign(true)),
            "off" => Ok(Rule::BlockForeign(false)),
            other => Err(syntax(format!(
                "`block-foreign` takes on or off, not `{}`",
                clip(other)
            ))),
        },
        "unknown-region" => match one("allow or deny")? {
            "allow" => Ok(Rule::UnknownRegion(UnknownRegion::Allow)),
            "deny" => Ok(Rule::UnknownRegion(UnknownRegion::Deny)),
            other => Err(syntax(format!(
                "`unknown-region` takes allow or deny, not `{}`",
                clip(other)
            ))),
        },
        other => Err(RuleError::UnknownVerb(clip(other))),
    }
}

/// Parses one rule from its text form (`deny country:RU channel:sip-register`).
pub fn parse_rule(text: &str) -> Result<Rule, RuleError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.split_first() {
        Some((verb, rest)) => parse_words(verb, rest),
        None => Err(syntax("empty rule")),
    }
}

impl RuleSet {
    /// Parses a rule file. `source` names the file in rule ids
    /// (`rules.txt` gives `rules.txt:12` for line 12).
    ///
    /// All-or-nothing: if any line is bad, the error lists every bad line
    /// (up to [`MAX_LISTED_ERRORS`]) and no rule set is returned.
    pub fn parse_text(source: &str, text: &str) -> Result<Self, RuleFileError> {
        let mut set = Self::new();
        let mut errors = Collector {
            errors: Vec::new(),
            more: 0,
        };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.len() > MAX_LINE {
                errors.push(line, RuleError::LineTooLong { max: MAX_LINE });
                continue;
            }
            let (body, comment) = match raw.split_once('#') {
                Some((b, c)) => (b, Some(c.trim())),
                None => (raw, None),
            };
            if body.trim().is_empty() {
                continue;
            }
            match parse_rule(body) {
                Ok(rule) => set.entries.push(RuleEntry {
                    id: RuleId::new(format!("{source}:{line}")),
                    rule,
                    comment: comment.filter(|c| !c.is_empty()).map(str::to_owned),
                }),
                Err(e) => errors.push(line, e),
            }
        }
        errors.finish(set)
    }

    /// Parses rule-file bytes (refuses non-UTF-8).
    pub fn parse_bytes(source: &str, bytes: &[u8]) -> Result<Self, RuleFileError> {
        let text = std::str::from_utf8(bytes).map_err(|_| RuleFileError::NotUtf8)?;
        Self::parse_text(source, text)
    }

    /// Parses the JSON form:
    /// `{"rules": [{"verb": "deny", "target": "203.0.113.0/24", "channels": ["sip-register"], "comment": "scanner net"}, …]}`.
    /// Entries may carry an `"id"`; otherwise they are named `source#N`.
    /// All-or-nothing, like [`RuleSet::parse_text`]; entries are numbered from 1.
    pub fn from_json(source: &str, json: &str) -> Result<Self, RuleFileError> {
        let doc: JsonDoc =
            serde_json::from_str(json).map_err(|e| RuleFileError::Json(e.to_string()))?;
        let mut set = Self::new();
        let mut errors = Collector {
            errors: Vec::new(),
            more: 0,
        };
        for (i, r) in doc.rules.into_iter().enumerate() {
            let n = i + 1;
            let mut words: Vec<String> = Vec::new();
            words.extend(r.tenant.map(|t| format!("tenant:{t}")));
            words.extend(r.account.map(|a| format!("account:{a}")));
            words.extend(r.target);
            if let Some(ch) = r.channels {
                if ch.is_empty() {
                    errors.push(
                        n,
                        syntax("`channels` is empty; leave it out for all channels"),
                    );
                    continue;
                }
                words.push(format!("channel:{}", ch.join(",")));
            }
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            let id = match r.id {
                Some(id) if id.is_empty() || id.len() > 128 => {
                    errors.push(n, syntax("`id` must be 1 to 128 characters"));
                    continue;
                }
                Some(id) => RuleId::new(id),
                None => RuleId::new(format!("{source}#{n}")),
            };
            match parse_words(&r.verb, &refs) {
                Ok(rule) => set.entries.push(RuleEntry {
                    id,
                    rule,
                    comment: r.comment,
                }),
                Err(e) => errors.push(n, e),
            }
        }
        errors.finish(set)
    }

    /// The JSON form of the rule set (see [`RuleSet::from_json`]).
    pub fn to_json(&self) -> String {
        let rules = self.entries.iter().map(JsonRule::from_entry).collect();
        // Serialising plain strings and vectors cannot fail.
        serde_json::to_string_pretty(&JsonDoc { rules }).unwrap_or_default()
    }

    /// The text form; parsing it with the same `source` gives equal rules.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&e.rule.to_string());
            if let Some(c) = &e.comment {
                out.push_str("  # ");
                out.push_str(&c.replace(['\n', '\r'], " "));
            }
            out.push('\n');
        }
        out
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDoc {
    rules: Vec<JsonRule>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    verb: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

impl JsonRule {
    fn from_entry(e: &RuleEntry) -> Self {
        let mut j = Self {
            id: Some(e.id.to_string()),
            verb: String::new(),
            tenant: None,
            account: None,
            target: None,
            channels: None,
            comment: e.comment.clone(),
        };
        let chans =
            |c: ChannelSet| (!c.is_all()).then(|| c.iter().map(|c| c.name().to_owned()).collect());
        match &e.rule {
            Rule::Allow {
                scope,
                target,
                channels,
            } => {
                j.verb = "allow".into();
                match scope {
                    AllowScope::Tenant(t) => j.tenant = Some(t.to_string()),
                    AllowScope::Account(a) => j.account = Some(a.to_string()),
                }
                j.target = Some(target.to_string());
                j.channels = chans(*channels);
            }
            Rule::BlockForeign(on) => {
                j.verb = "block-foreign".into();
                j.target = Some(if *on { "on" } else { "off" }.into());
            }
            Rule::DangerouslyTrust { network, channels } => {
                j.verb = "trust".into();
                j.target = Some(Target::Network(*network).to_string());
                j.channels = chans(*channels);
            }
            Rule::Deny { target, channels } => {
                j.verb = "deny".into();
                j.target = Some(target.to_string());
                j.channels = chans(*channels);
            }
            Rule::Home(c) => {
                j.verb = "home".into();
                j.target = Some(c.to_string());
            }
            Rule::UnknownRegion(u) => {
                j.verb = "unknown-region".into();
                j.target = Some(match u {
                    UnknownRegion::Allow => "allow".into(),
                    UnknownRegion::Deny => "deny".into(),
                });
            }
        }
        j
    }
}

/// Parses rule-file bytes as the `access_rules` fuzz target does, and
/// checks that what parses survives a text and a JSON round trip.
#[doc(hidden)]
pub fn fuzz_rule_file(data: &[u8]) {
    if let Ok(set) = RuleSet::parse_bytes("fuzz", data) {
        let text = set.to_text();
        let again =
            RuleSet::parse_text("fuzz", &text).unwrap_or_else(|e| panic!("text round trip: {e}"));
        let rules = |s: &RuleSet| s.entries.iter().map(|e| e.rule.clone()).collect::<Vec<_>>();
        assert_eq!(rules(&set), rules(&again));
        let json = RuleSet::from_json("fuzz", &set.to_json())
            .unwrap_or_else(|e| panic!("json round trip: {e}"));
        assert_eq!(rules(&set), rules(&json));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::rule::Channel;

    #[test]
    fn req_2_1_parses_the_issue_examples() {
        let text = "\
# comment line
deny 203.0.113.0/24  # scanner net
deny country:RU
trust 198.51.100.7
home CN
block-foreign on
allow tenant:acme 10.0.0.0/8
allow account:1001 country:CN
deny 2001:db8::/32 channel:sip-register
unknown-region allow
";
        let set = RuleSet::parse_text("rules.txt", text).unwrap();
        assert_eq!(set.entries.len(), 9);
        assert_eq!(set.entries[0].id.as_str(), "rules.txt:2");
        assert_eq!(set.entries[0].comment.as_deref(), Some("scanner net"));
        assert_eq!(
            set.entries[7].rule,
            parse_rule("deny 2001:db8::/32 channel:sip-register").unwrap()
        );
        match &set.entries[7].rule {
            Rule::Deny { channels, .. } => {
                assert!(channels.contains(Channel::SipRegister));
                assert!(!channels.contains(Channel::WebLogin));
            }
            other => panic!("{other:?}"),
        }
        // Round trips.
        let rules = |s: &RuleSet| s.entries.iter().map(|e| e.rule.clone()).collect::<Vec<_>>();
        assert_eq!(
            rules(&RuleSet::parse_text("x", &set.to_text()).unwrap()),
            rules(&set)
        );
        let json = RuleSet::from_json("x", &set.to_json()).unwrap();
        assert_eq!(json, set);
    }

    #[test]
    fn req_2_1_one_bad_line_refuses_the_file_listing_every_bad_line() {
        let text = "deny 1.2.3.4\ndeny 300.1.1.1\ndeny 10.0.0.0/33\n\ndeny country:XX\nfrobnicate 1.2.3.4\ndeny 5.6.7.8\n";
        let err = RuleSet::parse_text("rules.txt", text).unwrap_err();
        assert_eq!(err.bad_lines(), [2, 3, 5, 6]);
        let msg = err.to_string();
        assert!(
            msg.contains("line 2: `300.1.1.1` is not a valid address"),
            "{msg}"
        );
        assert!(msg.contains("line 3:") && msg.contains("/33"), "{msg}");
        assert!(
            msg.contains("line 5:") && msg.contains("XX is not an assigned"),
            "{msg}"
        );
        assert!(msg.contains("line 6: unknown verb `frobnicate`"), "{msg}");
    }

    #[test]
    fn req_2_1_rejects_malformed_rules() {
        for bad in [
            "deny",
            "deny 1.2.3.4 5.6.7.8",
            "trust country:CN",
            "allow 10.0.0.0/8",
            "allow tenant: 10.0.0.0/8",
            "allow user:x 10.0.0.0/8",
            "home XX",
            "home",
            "block-foreign maybe",
            "home CN channel:sip-call",
            "deny 1.2.3.4 channel:sms",
            "unknown-region perhaps",
        ] {
            assert!(parse_rule(bad).is_err(), "{bad}");
        }
        let long = format!("deny 1.2.3.4 # {}", "x".repeat(MAX_LINE));
        assert_eq!(
            RuleSet::parse_text("f", &long).unwrap_err().bad_lines(),
            [1]
        );
        assert_eq!(
            RuleSet::parse_bytes("f", b"deny \xff"),
            Err(RuleFileError::NotUtf8)
        );
    }

    #[test]
    fn req_2_1_json_is_all_or_nothing() {
        let ok = r#"{"rules":[{"id":"office","verb":"trust","target":"198.51.100.7"},
            {"verb":"deny","target":"country:RU","channels":["sip-register","web-login"]}]}"#;
        let set = RuleSet::from_json("api", ok).unwrap();
        assert_eq!(set.entries[0].id.as_str(), "office");
        assert_eq!(set.entries[1].id.as_str(), "api#2");
        let bad = r#"{"rules":[{"verb":"deny","target":"300.1.1.1"},{"verb":"deny","target":"1.1.1.1"},{"verb":"nope"}]}"#;
        assert_eq!(
            RuleSet::from_json("api", bad).unwrap_err().bad_lines(),
            [1, 3]
        );
        assert!(matches!(
            RuleSet::from_json("api", r#"{"rules":[{"verb":"deny","x":1}]}"#),
            Err(RuleFileError::Json(_))
        ));
    }

    #[test]
    fn req_2_1_error_list_is_bounded() {
        let text = "bad\n".repeat(MAX_LISTED_ERRORS + 5);
        match RuleSet::parse_text("f", &text).unwrap_err() {
            RuleFileError::BadLines { errors, more } => {
                assert_eq!(errors.len(), MAX_LISTED_ERRORS);
                assert_eq!(more, 5);
            }
            other => panic!("{other:?}"),
        }
    }
}
