//! Blocklist feeds: plain lists of addresses and networks (APIBAN, 3CX's
//! global blocklist, Spamhaus DROP, …) imported as one named list.

use std::net::IpAddr;

use super::net::Cidr;
use super::parse::{LineError, MAX_LINE, MAX_LISTED_ERRORS, RuleFileError};
use super::rule::{RuleError, clip};
use super::table::PrefixTable;
use crate::decision::RuleId;
use crate::ids::IdError;

/// A compiled, immutable blocklist feed. Every entry's rule id is
/// `feed:<name>`.
#[derive(Debug)]
pub struct BlocklistFeed {
    name: String,
    rule: RuleId,
    table: PrefixTable<()>,
}

impl BlocklistFeed {
    /// Parses a feed: one address or network per line; blank lines and
    /// comments (`#` or `;`, whole-line or trailing) are skipped. The name
    /// follows the id rules (`apiban`, `3cx-global`).
    ///
    /// All-or-nothing: any bad line refuses the whole feed, listing every
    /// bad line.
    pub fn parse(name: &str, text: &str) -> Result<Self, FeedError> {
        crate::ids::TenantId::new(name).map_err(FeedError::BadName)?;
        let mut nets = Vec::new();
        let mut errors = Vec::new();
        let mut more = 0;
        for (i, raw) in text.lines().enumerate() {
            let body = raw.split(['#', ';']).next().unwrap_or_default().trim();
            if body.is_empty() {
                continue;
            }
            let err = if raw.len() > MAX_LINE {
                RuleError::LineTooLong { max: MAX_LINE }
            } else {
                match body.parse::<Cidr>() {
                    Ok(net) => {
                        nets.push((net, ()));
                        continue;
                    }
                    Err(source) => RuleError::BadNetwork {
                        text: clip(body),
                        source,
                    },
                }
            };
            if errors.len() < MAX_LISTED_ERRORS {
                errors.push(LineError {
                    line: i + 1,
                    error: err,
                });
            } else {
                more += 1;
            }
        }
        if !errors.is_empty() {
            return Err(FeedError::BadLines(RuleFileError::BadLines {
                errors,
                more,
            }));
        }
        Self::from_networks(name, nets.into_iter().map(|(n, ())| n)).map_err(FeedError::BadName)
    }

    /// A feed from networks already parsed.
    pub fn from_networks(
        name: &str,
        nets: impl IntoIterator<Item = Cidr>,
    ) -> Result<Self, IdError> {
        crate::ids::TenantId::new(name)?;
        Ok(Self {
            name: name.to_owned(),
            rule: RuleId::new(format!("feed:{name}")),
            table: PrefixTable::build(nets.into_iter().map(|n| (n, ()))),
        })
    }

    /// The feed's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule id its entries carry (`feed:apiban`).
    pub fn rule(&self) -> &RuleId {
        &self.rule
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// `true` if the feed is empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// `true` if the feed lists `ip` (alone or in a network).
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.table.longest(ip).is_some()
    }

    /// Heap memory held, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }
}

/// Why a feed was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The feed name is not a valid id.
    #[error("bad feed name: {0}")]
    BadName(#[source] IdError),
    /// Some lines are bad.
    #[error("{0}")]
    BadLines(RuleFileError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_2_1_feed_parses_plain_lists() {
        let f = BlocklistFeed::parse(
            "apiban",
            "# APIBAN\n1.2.3.4\n5.6.0.0/16 ; drop\n\n2001:db8::1\n",
        )
        .unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f.rule().as_str(), "feed:apiban");
        assert!(f.contains("1.2.3.4".parse().unwrap()));
        assert!(f.contains("::ffff:5.6.7.8".parse().unwrap()));
        assert!(f.contains("2001:db8::1".parse().unwrap()));
        assert!(!f.contains("1.2.3.5".parse().unwrap()));
    }

    #[test]
    fn req_2_1_feed_is_all_or_nothing() {
        match BlocklistFeed::parse("x", "1.2.3.4\n300.1.1.1\n1.2.3.0/33\n") {
            Err(FeedError::BadLines(e)) => assert_eq!(e.bad_lines(), [2, 3]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            BlocklistFeed::parse("bad name", "1.2.3.4"),
            Err(FeedError::BadName(_))
        ));
    }
}
