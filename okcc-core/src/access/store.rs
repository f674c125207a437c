//! Where named rule sets and blocklist feeds are kept: the
//! [`AccessRuleStore`] trait and its [`MemoryAccessRuleStore`].
//!
//! A document is a rule file (the text format of [`RuleSet::parse_text`])
//! or a blocklist feed (the format of [`BlocklistFeed::parse`]), stored as
//! text under a kind and a name. [`AccessRuleDoc`] can only be made by
//! parsing, so a store never holds a document that does not compile.
//! Every write is version-checked ([`StoreError::Conflict`] when it loses a
//! race), and every write gets a sequence number so that cluster nodes can
//! follow each other with [`AccessRuleStore::changes_since`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::feed::{BlocklistFeed, FeedError};
use super::parse::RuleFileError;
use super::rule::RuleSet;
use crate::ids::{IdError, TenantId};
use crate::store::{Page, PageOf, StoreError};

/// Largest document text accepted (a 1M-line feed fits).
pub const MAX_DOC_BYTES: usize = 64 * 1024 * 1024;

/// What a stored document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AccessDocKind {
    /// A rule file.
    RuleSet,
    /// A blocklist feed.
    Feed,
}

impl AccessDocKind {
    /// Stable text form for storage: `rules` or `feed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RuleSet => "rules",
            Self::Feed => "feed",
        }
    }

    /// The kind from [`AccessDocKind::as_str`]'s text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rules" => Some(Self::RuleSet),
            "feed" => Some(Self::Feed),
            _ => None,
        }
    }
}

impl fmt::Display for AccessDocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a document was refused before it reached a store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessDocError {
    /// The name is not a valid id.
    #[error("bad document name: {0}")]
    BadName(#[source] IdError),
    /// The text is larger than [`MAX_DOC_BYTES`].
    #[error("document is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The rule file has bad lines.
    #[error(transparent)]
    Rules(#[from] RuleFileError),
    /// The feed has bad lines.
    #[error(transparent)]
    Feed(#[from] FeedError),
}

/// A named rule file or feed whose text parses; what a store keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessRuleDoc {
    kind: AccessDocKind,
    name: String,
    text: String,
}

impl fmt::Debug for AccessRuleDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessRuleDoc")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("bytes", &self.text.len())
            .finish()
    }
}

impl AccessRuleDoc {
    /// Checks `text` with the rule-file parser (or the feed parser) and
    /// makes a document of it. Nothing that fails to parse gets in.
    pub fn new(kind: AccessDocKind, name: &str, text: &str) -> Result<Self, AccessDocError> {
        TenantId::new(name).map_err(AccessDocError::BadName)?;
        if text.len() > MAX_DOC_BYTES {
            return Err(AccessDocError::TooLarge {
                len: text.len(),
                max: MAX_DOC_BYTES,
            });
        }
        match kind {
            AccessDocKind::RuleSet => {
                RuleSet::parse_text(name, text)?;
            }
            AccessDocKind::Feed => {
                BlocklistFeed::parse(name, text)?;
            }
        }
        Ok(Self {
            kind,
            name: name.to_owned(),
            text: text.to_owned(),
        })
    }

    /// A rule file document.
    pub fn rule_set(name: &str, text: &str) -> Result<Self, AccessDocError> {
        Self::new(AccessDocKind::RuleSet, name, text)
    }

    /// A blocklist feed document.
    pub fn feed(name: &str, text: &str) -> Result<Self, AccessDocError> {
        Self::new(AccessDocKind::Feed, name, text)
    }

    /// The kind.
    pub fn kind(&self) -> AccessDocKind {
        self.kind
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text, as stored.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Compiles a rule-set document (`None` for a feed).
    pub fn to_rule_set(&self) -> Option<Result<RuleSet, RuleFileError>> {
        (self.kind == AccessDocKind::RuleSet).then(|| RuleSet::parse_text(&self.name, &self.text))
    }

    /// Compiles a feed document (`None` for a rule set).
    pub fn to_feed(&self) -> Option<Result<BlocklistFeed, FeedError>> {
        (self.kind == AccessDocKind::Feed).then(|| BlocklistFeed::parse(&self.name, &self.text))
    }
}

/// A document with its version (1 on creation, +1 on every replace) and
/// the sequence number of the write that produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredAccessDoc {
    /// The document.
    pub doc: AccessRuleDoc,
    /// Its version.
    pub version: u64,
    /// Sequence number of the write (see [`AccessRuleStore::changes_since`]).
    pub seq: u64,
}

impl StoredAccessDoc {
    /// A stored document, as a backend reads it back.
    pub fn new(doc: AccessRuleDoc, version: u64, seq: u64) -> Self {
        Self { doc, version, seq }
    }
}

/// One entry of a listing: no text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessDocSummary {
    /// The kind.
    pub kind: AccessDocKind,
    /// The name.
    pub name: String,
    /// Current version.
    pub version: u64,
    /// Size of the text in bytes.
    pub bytes: usize,
}

impl AccessDocSummary {
    /// A summary.
    pub fn new(kind: AccessDocKind, name: String, version: u64, bytes: usize) -> Self {
        Self {
            kind,
            name,
            version,
            bytes,
        }
    }
}

/// The latest write to one document after a cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessDocChange {
    /// Sequence number of the write (strictly increasing per store).
    pub seq: u64,
    /// The kind.
    pub kind: AccessDocKind,
    /// The name.
    pub name: String,
    /// The version written, or `None` if the document was deleted.
    pub version: Option<u64>,
}

impl AccessDocChange {
    /// A change record.
    pub fn new(seq: u64, kind: AccessDocKind, name: String, version: Option<u64>) -> Self {
        Self {
            seq,
            kind,
            name,
            version,
        }
    }
}

/// Storage of named rule sets and feeds, for every node of a cluster.
#[async_trait::async_trait]
pub trait AccessRuleStore: fmt::Debug + Send + Sync + 'static {
    /// Creates (`expected_version: None`, [`StoreError::Conflict`] if the
    /// name is taken) or replaces (`Some(v)`: [`StoreError::Conflict`]
    /// unless the stored version is `v`, [`StoreError::NotFound`] if there
    /// is none) a document. Returns what was stored.
    async fn put(
        &self,
        doc: AccessRuleDoc,
        expected_version: Option<u64>,
    ) -> Result<StoredAccessDoc, StoreError>;

    /// The document `kind`/`name`, if any.
    async fn get(
        &self,
        kind: AccessDocKind,
        name: &str,
    ) -> Result<Option<StoredAccessDoc>, StoreError>;

    /// The documents of `kind`, ordered by name; the cursor is the last name.
    async fn list(
        &self,
        kind: AccessDocKind,
        page: Page,
    ) -> Result<PageOf<AccessDocSummary>, StoreError>;

    /// Deletes a document at `expected_version` ([`StoreError::Conflict`]
    /// if it changed, [`StoreError::NotFound`] if it is gone).
    async fn delete(
        &self,
        kind: AccessDocKind,
        name: &str,
        expected_version: u64,
    ) -> Result<(), StoreError>;

    /// The latest write of every document written after `cursor` (a `seq`;
    /// 0 for everything), in `seq` order, at most `limit` (capped at
    /// [`Page::MAX_LIMIT`]). Older writes to the same document are folded
    /// into the latest; deletions are reported with `version: None`.
    async fn changes_since(
        &self,
        cursor: u64,
        limit: u32,
    ) -> Result<Vec<AccessDocChange>, StoreError>;
}

type Key = (AccessDocKind, String);

#[derive(Debug, Default)]
struct Inner {
    docs: HashMap<Key, StoredAccessDoc>,
    /// Latest write per document, by seq (tombstones for deletions).
    log: BTreeMap<u64, (Key, Option<u64>)>,
    /// The seq of each document's latest write, to fold the log.
    last_seq: HashMap<Key, u64>,
    seq: u64,
}

impl Inner {
    fn record(&mut self, key: Key, version: Option<u64>) -> u64 {
        self.seq += 1;
        let seq = self.seq;
        if let Some(old) = self.last_seq.insert(key.clone(), seq) {
            self.log.remove(&old);
        }
        self.log.insert(seq, (key, version));
        seq
    }
}

/// An [`AccessRuleStore`] in memory, for tests and single-node use.
///
/// Keeps one change record per document name ever written (deletions
/// included), so its memory is bounded by the number of names.
#[derive(Debug, Default)]
pub struct MemoryAccessRuleStore {
    inner: Mutex<Inner>,
}

impl MemoryAccessRuleStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every write below checks first and then changes the maps without
        // a fallible step, so a poisoned lock holds consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl AccessRuleStore for MemoryAccessRuleStore {
    async fn put(
        &self,
        doc: AccessRuleDoc,
        expected_version: Option<u64>,
    ) -> Result<StoredAccessDoc, StoreError> {
        let mut inner = self.lock();
        let key = (doc.kind, doc.name.clone());
        let version = match (inner.docs.get(&key), expected_version) {
            (None, None) => 1,
            (Some(_), None) => {
                return Err(StoreError::conflict(format!(
                    "{} {} exists",
                    doc.kind, doc.name
                )));
            }
            (None, Some(_)) => return Err(StoreError::NotFound),
            (Some(cur), Some(v)) if cur.version == v => v.saturating_add(1),
            (Some(cur), Some(v)) => {
                return Err(StoreError::conflict(format!(
                    "{} {} is at version {}, not {v}",
                    doc.kind, doc.name, cur.version
                )));
            }
        };
        let seq = inner.record(key.clone(), Some(version));
        let stored = StoredAccessDoc::new(doc, version, seq);
        inner.docs.insert(key, stored.clone());
        Ok(stored)
    }

    async fn get(
        &self,
        kind: AccessDocKind,
        name: &str,
    ) -> Result<Option<StoredAccessDoc>, StoreError> {
        Ok(self.lock().docs.get(&(kind, name.to_owned())).cloned())
    }

    async fn list(
        &self,
        kind: AccessDocKind,
        page: Page,
    ) -> Result<PageOf<AccessDocSummary>, StoreError> {
        let inner = self.lock();
        let mut docs: Vec<&StoredAccessDoc> = inner
            .docs
            .values()
            .filter(|d| d.doc.kind == kind)
            .filter(|d| {
                page.after
                    .as_deref()
                    .is_none_or(|a| d.doc.name.as_str() > a)
            })
            .collect();
        docs.sort_by(|a, b| a.doc.name.cmp(&b.doc.name));
        let limit = page.effective_limit();
        let next = (docs.len() > limit)
            .then(|| docs.get(limit - 1).map(|d| d.doc.name.clone()))
            .flatten();
        let items = docs
            .into_iter()
            .take(limit)
            .map(|d| AccessDocSummary::new(kind, d.doc.name.clone(), d.version, d.doc.text.len()))
            .collect();
        Ok(PageOf::new(items, next))
    }

    async fn delete(
        &self,
        kind: AccessDocKind,
        name: &str,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = (kind, name.to_owned());
        match inner.docs.get(&key) {
            None => return Err(StoreError::NotFound),
            Some(cur) if cur.version != expected_version => {
                return Err(StoreError::conflict(format!(
                    "{kind} {name} is at version {}, not {expected_version}",
                    cur.version
                )));
            }
            Some(_) => {}
        }
        inner.docs.remove(&key);
        inner.record(key, None);
        Ok(())
    }

    async fn changes_since(
        &self,
        cursor: u64,
        limit: u32,
    ) -> Result<Vec<AccessDocChange>, StoreError> {
        let limit = limit.clamp(1, Page::MAX_LIMIT) as usize;
        let inner = self.lock();
        Ok(inner
            .log
            .range(cursor.saturating_add(1)..)
            .take(limit)
            .map(|(&seq, ((kind, name), version))| {
                AccessDocChange::new(seq, *kind, name.clone(), *version)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_2_1_docs_are_parsed_before_they_are_stored() {
        assert!(AccessRuleDoc::rule_set("main", "deny 10.0.0.0/8\n").is_ok());
        assert!(matches!(
            AccessRuleDoc::rule_set("main", "deny 300.1.1.1\n"),
            Err(AccessDocError::Rules(_))
        ));
        assert!(matches!(
            AccessRuleDoc::feed("apiban", "1.2.3.4\nnope\n"),
            Err(AccessDocError::Feed(_))
        ));
        assert!(matches!(
            AccessRuleDoc::feed("bad name", "1.2.3.4\n"),
            Err(AccessDocError::BadName(_))
        ));
        let doc = AccessRuleDoc::feed("apiban", "1.2.3.4\n").unwrap();
        assert!(
            doc.to_feed()
                .unwrap()
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(doc.to_rule_set().is_none());
        assert_eq!(
            AccessDocKind::parse(doc.kind().as_str()),
            Some(AccessDocKind::Feed)
        );
        assert_eq!(AccessDocKind::parse("x"), None);
        // Debug never prints the text.
        assert!(!format!("{doc:?}").contains("1.2.3.4"));
    }
}

#[cfg(all(test, feature = "testkit"))]
mod contract {
    async fn fresh() -> super::MemoryAccessRuleStore {
        super::MemoryAccessRuleStore::new()
    }
    crate::access_rule_store_contract!(fresh());
}
