//! Generic recycle-bin semantics (requirement 7): deleting moves a record
//! to the bin with who, when and why; the bin lists, restores and purges.
//!
//! Any record type can use it by implementing [`Recyclable`] (an id and the
//! unique keys it claims, e.g. its phone numbers). The rules:
//!
//! | operation | from | to | refused when |
//! |---|---|---|---|
//! | delete | live | binned, with a [`Deletion`] (who, when, why) | the record is not live ([`RecycleError::NotFound`], [`RecycleError::AlreadyDeleted`]) |
//! | restore | binned | live, unchanged | not in the bin ([`RecycleError::NotDeleted`], [`RecycleError::NotFound`]), or one of its unique keys is now held by a live record ([`RecycleError::KeyTaken`]) |
//! | purge one | binned | gone for good | not in the bin |
//! | purge all | every binned record | gone | never |
//! | purge older than | binned records deleted before `now - retention` | gone | never |
//!
//! Live records never share a unique key; binned records hold no keys, so
//! a new record may take the number of a deleted one, and restoring the
//! deleted one is then a clear conflict rather than a silent duplicate.
//! Purging needs its own permission (`crm.purge` for customers), separate
//! from delete and restore; [`BinAction`] names the four actions so a
//! service can map each to a permission.
//!
//! [`RecycleSet`] is the reference implementation of these rules in
//! memory; store backends (SQLite, PostgreSQL) must agree with it, which
//! their conformance suites check.

mod set;

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

pub use set::{Binned, Recyclable, RecycleSet};

/// The longest delete reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a record was deleted: 1 to 500 characters, no control characters
/// except tab.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeleteReason(String);

impl DeleteReason {
    /// Validates a reason (surrounding whitespace is trimmed).
    pub fn new(reason: &str) -> Result<Self, RecycleError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(RecycleError::BadReason);
        }
        if reason.chars().count() > MAX_REASON_CHARS
            || reason.chars().any(|c| c.is_control() && c != '\t')
        {
            return Err(RecycleError::BadReason);
        }
        Ok(Self(reason.to_owned()))
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeleteReason {
    type Error = RecycleError;
    fn try_from(s: String) -> Result<Self, RecycleError> {
        Self::new(&s)
    }
}

impl From<DeleteReason> for String {
    fn from(r: DeleteReason) -> Self {
        r.0
    }
}

impl fmt::Display for DeleteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who deleted a record, when and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Deletion {
    /// The user who deleted it.
    pub by: UserId,
    /// When (passed in by the caller; okcc-core reads no clock).
    pub at: SystemTime,
    /// Why.
    pub reason: DeleteReason,
}

impl Deletion {
    /// A deletion by `by` at `at` for `reason`.
    pub fn new(by: UserId, at: SystemTime, reason: DeleteReason) -> Self {
        Self { by, at, reason }
    }
}

/// How long binned records are kept before a retention purge removes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Retention {
    /// Records deleted longer ago than this are purged by
    /// [`RecycleSet::purge_older_than`]. Default: 30 days.
    pub period: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            period: Self::DEFAULT_PERIOD,
        }
    }
}

impl Retention {
    /// 30 days.
    pub const DEFAULT_PERIOD: Duration = Duration::from_secs(30 * 24 * 60 * 60);

    /// A retention of `period`.
    pub fn new(period: Duration) -> Self {
        Self { period }
    }

    /// Records deleted strictly before this instant are due for purging;
    /// `None` if `now - period` is before the clock's earliest instant.
    pub fn cutoff(&self, now: SystemTime) -> Option<SystemTime> {
        now.checked_sub(self.period)
    }

    /// Whether a record deleted by `deletion` is due for purging at `now`.
    pub fn is_due(&self, deletion: &Deletion, now: SystemTime) -> bool {
        self.cutoff(now).is_some_and(|cutoff| deletion.at < cutoff)
    }
}

/// The recycle-bin actions, each of which a service maps to its own
/// permission (for customers: `crm.delete`, `crm.read`, `crm.restore`,
/// `crm.purge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum BinAction {
    /// Move a live record to the bin.
    Delete,
    /// List the bin.
    List,
    /// Remove binned records for good (one, all, or past retention).
    Purge,
    /// Bring a binned record back.
    Restore,
}

/// Why a recycle-bin operation was refused. Messages never hold a unique
/// key (it may be a phone number), only record ids.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecycleError {
    /// The record is already in the bin.
    #[error("record is already in the recycle bin")]
    AlreadyDeleted,
    /// The delete reason is empty, too long or holds control characters.
    #[error("delete reason must be 1 to {MAX_REASON_CHARS} characters without control characters")]
    BadReason,
    /// A live record already has this id (insert).
    #[error("a record with this id exists")]
    IdTaken,
    /// A unique key of the record is held by a live record.
    #[error("a unique key of this record is held by live record {holder}")]
    KeyTaken {
        /// The id of the live record holding the key.
        holder: String,
    },
    /// The record does not exist, live or binned.
    #[error("record not found")]
    NotFound,
    /// The record is live, not in the bin (restore, purge).
    #[error("record is not in the recycle bin")]
    NotDeleted,
}

impl From<RecycleError> for crate::store::StoreError {
    fn from(e: RecycleError) -> Self {
        match e {
            RecycleError::NotFound => Self::NotFound,
            other => Self::conflict(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_7_delete_reason_is_required_and_bounded() {
        assert_eq!(DeleteReason::new("  "), Err(RecycleError::BadReason));
        assert_eq!(DeleteReason::new("a\u{0}b"), Err(RecycleError::BadReason));
        assert_eq!(
            DeleteReason::new(&"x".repeat(501)),
            Err(RecycleError::BadReason)
        );
        assert_eq!(
            DeleteReason::new(" duplicate ").unwrap().as_str(),
            "duplicate"
        );
    }

    #[test]
    fn req_7_retention_defaults_to_30_days() {
        let r = Retention::default();
        assert_eq!(r.period, Duration::from_secs(2_592_000));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let d = Deletion::new(
            UserId::new("u").unwrap(),
            t0,
            DeleteReason::new("x").unwrap(),
        );
        assert!(!r.is_due(&d, t0 + r.period));
        assert!(r.is_due(&d, t0 + r.period + Duration::from_secs(1)));
        assert_eq!(Retention::new(Duration::MAX).cutoff(t0), None);
    }
}
