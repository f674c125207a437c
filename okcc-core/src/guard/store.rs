//! Where bans outlive one process and reach the other nodes: the
//! [`BanStore`] trait and its memory backend.
//!
//! The per-packet path never waits on a store: each node keeps its own
//! [`BanTable`](super::BanTable), writes every new ban and unban to the
//! store, and applies the others' changes it reads with
//! [`BanStore::changes_since`] (or, after a [`BanChanges::reset`], with
//! [`BanStore::active`]). Records carry wall-clock times; convert with
//! [`BanRecord::from_ban`] and [`BanRecord::until_instant`].
//!
//! Semantics every backend keeps (checked by the `testkit` suite,
//! `okcc_core::ban_store_contract!`):
//! - `ban` keeps one record per source; a later `until` extends it, an
//!   earlier one never shortens it; a manual ban replaces a guard ban.
//! - `unban` removes the record and is itself a change.
//! - Every write gets the next sequence number; `changes_since(c)` returns
//!   the changes after `c` in order, at most `limit`, and `reset = true`
//!   when changes after `c` were already pruned.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use async_trait::async_trait;

use super::ban::{Ban, BanKind};
use crate::store::StoreError;

/// A ban as stored: wall-clock end, so it means the same on every node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BanRecord {
    /// The banned source (canonical: IPv4-mapped IPv6 as IPv4).
    pub source: IpAddr,
    /// Which defence made it.
    pub kind: BanKind,
    /// When it ends.
    pub until: SystemTime,
    /// Offences that led to it.
    pub offences: u32,
}

impl BanRecord {
    /// A record for `source`.
    pub fn new(source: IpAddr, kind: BanKind, until: SystemTime, offences: u32) -> Self {
        Self {
            source: source.to_canonical(),
            kind,
            until,
            offences,
        }
    }

    /// The record of a table ban, given the same moment on both clocks.
    pub fn from_ban(ban: &Ban, now: Instant, wall: SystemTime) -> Self {
        Self::new(
            ban.source,
            ban.kind,
            wall + ban.until.saturating_duration_since(now),
            ban.offences,
        )
    }

    /// The record's end on the monotonic clock (`None` if already over).
    pub fn until_instant(&self, now: Instant, wall: SystemTime) -> Option<Instant> {
        let left = self.until.duration_since(wall).ok()?;
        (!left.is_zero()).then(|| now + left)
    }
}

/// One change in the store's log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BanChange {
    /// Its sequence number (the cursor to pass next).
    pub seq: u64,
    /// The source concerned.
    pub source: IpAddr,
    /// The ban now in force, or `None` when it was lifted.
    pub ban: Option<BanRecord>,
}

/// A page of changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BanChanges {
    /// The changes, in order.
    pub changes: Vec<BanChange>,
    /// The cursor for the next call.
    pub cursor: u64,
    /// Changes after the given cursor were pruned: reload with
    /// [`BanStore::active`], then go on from `cursor`.
    pub reset: bool,
}

/// Storage of bans, shared by the nodes of a cluster.
#[async_trait]
pub trait BanStore: fmt::Debug + Send + Sync + 'static {
    /// Records a ban (extending, never shortening, an existing one).
    /// Returns the record now stored.
    async fn ban(&self, record: BanRecord) -> Result<BanRecord, StoreError>;
    /// Lifts the ban on `source`. Returns `true` if there was one.
    async fn unban(&self, source: IpAddr) -> Result<bool, StoreError>;
    /// Bans still in force at `now`, sorted by source.
    async fn active(&self, now: SystemTime) -> Result<Vec<BanRecord>, StoreError>;
    /// Changes after `cursor` (0: from the start), at most `limit`.
    async fn changes_since(&self, cursor: u64, limit: u32) -> Result<BanChanges, StoreError>;
}

/// The in-memory [`BanStore`] (one node, tests, `--store memory`). Its
/// change log keeps the last `max_changes` entries.
#[derive(Debug)]
pub struct MemoryBanStore {
    inner: Mutex<Inner>,
    max_changes: usize,
}

#[derive(Debug, Default)]
struct Inner {
    bans: BTreeMap<IpAddr, BanRecord>,
    log: VecDeque<BanChange>,
    seq: u64,
}

impl Default for MemoryBanStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBanStore {
    /// An empty store keeping 100 000 changes.
    pub fn new() -> Self {
        Self::with_max_changes(100_000)
    }

    /// An empty store keeping `max_changes` changes (at least 1).
    pub fn with_max_changes(max_changes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max_changes: max_changes.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self, inner: &mut Inner, source: IpAddr, ban: Option<BanRecord>) {
        inner.seq += 1;
        let seq = inner.seq;
        inner.log.push_back(BanChange { seq, source, ban });
        while inner.log.len() > self.max_changes {
            inner.log.pop_front();
        }
    }
}

#[async_trait]
impl BanStore for MemoryBanStore {
    async fn ban(&self, record: BanRecord) -> Result<BanRecord, StoreError> {
        let record = BanRecord::new(record.source, record.kind, record.until, record.offences);
        let mut inner = self.lock();
        let stored = match inner.bans.get(&record.source) {
            Some(old) if old.kind == BanKind::Manual && record.kind != BanKind::Manual => {
                BanRecord {
                    until: old.until.max(record.until),
                    ..old.clone()
                }
            }
            Some(old) if record.kind != BanKind::Manual => BanRecord {
                until: old.until.max(record.until),
                offences: old.offences.max(record.offences),
                ..record
            },
            _ => record,
        };
        inner.bans.insert(stored.source, stored.clone());
        let source = stored.source;
        self.log(&mut inner, source, Some(stored.clone()));
        Ok(stored)
    }

    async fn unban(&self, source: IpAddr) -> Result<bool, StoreError> {
        let source = source.to_canonical();
        let mut inner = self.lock();
        let had = inner.bans.remove(&source).is_some();
        if had {
            self.log(&mut inner, source, None);
        }
        Ok(had)
    }

    async fn active(&self, now: SystemTime) -> Result<Vec<BanRecord>, StoreError> {
        Ok(self
            .lock()
            .bans
            .values()
            .filter(|b| b.until > now)
            .cloned()
            .collect())
    }

    async fn changes_since(&self, cursor: u64, limit: u32) -> Result<BanChanges, StoreError> {
        let inner = self.lock();
        let oldest = inner.log.front().map_or(inner.seq + 1, |c| c.seq);
        let reset = cursor.saturating_add(1) < oldest && cursor < inner.seq;
        let limit = usize::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000);
        let changes: Vec<_> = inner
            .log
            .iter()
            .filter(|c| c.seq > cursor)
            .take(limit)
            .cloned()
            .collect();
        if reset {
            return Ok(BanChanges {
                changes: Vec::new(),
                cursor: inner.seq,
                reset: true,
            });
        }
        let cursor = changes.last().map_or(cursor, |c| c.seq);
        Ok(BanChanges {
            changes,
            cursor,
            reset: false,
        })
    }
}

#[cfg(test)]
mod tests {
    crate::ban_store_contract!(async { super::MemoryBanStore::with_max_changes(8) });
}
