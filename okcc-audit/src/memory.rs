//! The in-memory [`AuditStore`]: for tests, benches, `--store memory` and
//! as the reference the other backends are checked against.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use okcc_core::store::{Page, PageOf, StoreError};

use crate::chain::{ChainAnchor, ChainTail, StoredEvent};
use crate::checkpoint::{Checkpoint, CheckpointPolicy};
use crate::event::{AuditEvent, EventId};
use crate::query::{AuditQuery, cursor_for, parse_cursor};
use crate::store::{AppendReceipt, AuditStore};
use crate::verify::{VerifyOptions, VerifyReport, verify_events};

/// The store is switched off ([`MemoryAuditStore::set_available`]).
#[derive(Debug, thiserror::Error)]
#[error("memory audit store is switched off")]
struct SwitchedOff;

#[derive(Debug)]
struct Inner {
    anchor: ChainAnchor,
    events: Vec<StoredEvent>,
    tail: ChainTail,
    ids: HashSet<EventId>,
    checkpoints: Vec<Checkpoint>,
}

/// An [`AuditStore`] in memory.
#[derive(Debug)]
pub struct MemoryAuditStore {
    inner: RwLock<Inner>,
    available: AtomicBool,
    checkpoints: Option<CheckpointPolicy>,
}

impl Default for MemoryAuditStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryAuditStore {
    /// An empty store without keyed checkpoints.
    pub fn new() -> Self {
        Self {
            inner: RwLock::new(Inner {
                anchor: ChainAnchor::GENESIS,
                events: Vec::new(),
                tail: ChainTail::new(ChainAnchor::GENESIS),
                ids: HashSet::new(),
                checkpoints: Vec::new(),
            }),
            available: AtomicBool::new(true),
            checkpoints: None,
        }
    }

    /// An empty store that signs keyed checkpoints with `policy`.
    pub fn with_checkpoints(policy: CheckpointPolicy) -> Self {
        Self {
            checkpoints: Some(policy),
            ..Self::new()
        }
    }

    /// Simulates an outage: while off, every call returns
    /// [`StoreError::Unavailable`].
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::SeqCst);
    }

    /// The number of stored events.
    pub fn len(&self) -> usize {
        self.read().map_or(0, |i| i.events.len())
    }

    /// `true` when no event is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives `edit` the raw rows, as an attacker with database access
    /// could change them (for tamper tests; nothing is re-linked).
    pub fn tamper_with_rows(&self, edit: impl FnOnce(&mut Vec<StoredEvent>)) {
        if let Ok(mut inner) = self.inner.write() {
            edit(&mut inner.events);
        }
    }

    /// Gives `edit` the raw checkpoint rows (for tamper tests).
    pub fn tamper_with_checkpoints(&self, edit: impl FnOnce(&mut Vec<Checkpoint>)) {
        if let Ok(mut inner) = self.inner.write() {
            edit(&mut inner.checkpoints);
        }
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.available.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(StoreError::Unavailable(Box::new(SwitchedOff)))
        }
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Inner>, StoreError> {
        self.check()?;
        self.inner
            .read()
            .map_err(|_| StoreError::Backend("memory audit store lock poisoned".into()))
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Inner>, StoreError> {
        self.check()?;
        self.inner
            .write()
            .map_err(|_| StoreError::Backend("memory audit store lock poisoned".into()))
    }
}

impl Inner {
    /// Index of the first stored row with `seq >= from` (rows are in seq
    /// order unless someone tampered with them; then a scan is used).
    fn index_of(&self, from: u64) -> usize {
        let guess = from.saturating_sub(self.anchor.seq.saturating_add(1));
        if let Ok(g) = usize::try_from(guess) {
            if self.events.get(g).is_some_and(|e| e.seq == from) {
                return g;
            }
            if g >= self.events.len() && self.events.last().is_none_or(|e| e.seq < from) {
                return self.events.len();
            }
        }
        self.events
            .iter()
            .position(|e| e.seq >= from)
            .unwrap_or(self.events.len())
    }
}

#[async_trait]
impl AuditStore for MemoryAuditStore {
    async fn append(&self, events: Vec<AuditEvent>) -> Result<AppendReceipt, StoreError> {
        let mut inner = self.write()?;
        let inner = &mut *inner;
        let mut appended = 0;
        let mut skipped = 0;
        inner.events.reserve(events.len());
        for event in events {
            if !inner.ids.insert(event.id) {
                skipped += 1;
                continue;
            }
            let stored = inner.tail.link(event);
            if let Some(cp) = self
                .checkpoints
                .as_ref()
                .and_then(|p| p.due(ChainAnchor::of(&stored)))
            {
                inner.checkpoints.push(cp);
            }
            inner.events.push(stored);
            appended += 1;
        }
        Ok(AppendReceipt::new(appended, skipped, inner.tail.head()))
    }

    async fn query(
        &self,
        query: &AuditQuery,
        page: Page,
    ) -> Result<PageOf<StoredEvent>, StoreError> {
        let inner = self.read()?;
        let limit = page.effective_limit();
        let after = match page.after.as_deref() {
            None => None,
            Some(c) => Some(parse_cursor(c).ok_or_else(|| StoreError::conflict("invalid cursor"))?),
        };
        let mut items = Vec::with_capacity(limit.min(64));
        let mut more = false;
        let mut take = |e: &StoredEvent| {
            if !query.matches(&e.event) {
                return true;
            }
            if items.len() == limit {
                more = true;
                return false;
            }
            items.push(e.clone());
            true
        };
        if query.newest_first {
            for e in inner
                .events
                .iter()
                .rev()
                .filter(|e| after.is_none_or(|a| e.seq < a))
            {
                if !take(e) {
                    break;
                }
            }
        } else {
            let start = after.map_or(0, |a| inner.index_of(a.saturating_add(1)));
            for e in inner.events.iter().skip(start) {
                if !take(e) {
                    break;
                }
            }
        }
        let next = if more {
            items.last().map(|e: &StoredEvent| cursor_for(e.seq))
        } else {
            None
        };
        Ok(PageOf::new(items, next))
    }

    async fn read_chain(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let inner = self.read()?;
        let start = inner.index_of(from_seq);
        Ok(inner
            .events
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn anchor(&self) -> Result<ChainAnchor, StoreError> {
        Ok(self.read()?.anchor)
    }

    async fn head(&self) -> Result<ChainAnchor, StoreError> {
        Ok(self.read()?.tail.head())
    }

    async fn checkpoints(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let inner = self.read()?;
        Ok(inner
            .checkpoints
            .iter()
            .filter(|c| c.seq >= from_seq)
            .take(limit)
            .copied()
            .collect())
    }

    async fn purge_through(&self, through_seq: u64) -> Result<ChainAnchor, StoreError> {
        let mut inner = self.write()?;
        let inner = &mut *inner;
        if through_seq <= inner.anchor.seq {
            return Ok(inner.anchor);
        }
        let cut = inner.index_of(through_seq);
        let Some(last) = inner.events.get(cut).filter(|e| e.seq == through_seq) else {
            return Err(StoreError::NotFound);
        };
        inner.anchor = ChainAnchor::of(last);
        for e in inner.events.drain(..=cut) {
            inner.ids.remove(&e.event.id);
        }
        inner.checkpoints.retain(|c| c.seq > through_seq);
        Ok(inner.anchor)
    }

    /// Verifies in place, without copying rows.
    async fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport, StoreError> {
        let inner = self.read()?;
        let head = inner.tail.head();
        let from = options
            .from_seq
            .unwrap_or(0)
            .max(inner.anchor.seq.saturating_add(1));
        let to = options.to_seq.unwrap_or(u64::MAX);
        let start_idx = inner.index_of(from);
        let start = if start_idx == 0 {
            inner.anchor
        } else {
            inner
                .events
                .get(start_idx - 1)
                .map_or(inner.anchor, ChainAnchor::of)
        };
        let end_idx = if to == u64::MAX {
            inner.events.len()
        } else {
            inner.index_of(to.saturating_add(1))
        };
        let rows = inner
            .events
            .get(start_idx..end_idx.max(start_idx))
            .unwrap_or(&[]);
        let cps: Vec<Checkpoint> = if options.key.is_some() {
            inner
                .checkpoints
                .iter()
                .filter(|c| c.seq >= from && c.seq <= to)
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        let mut report = verify_events(start, rows, options.key.as_ref(), &cps);
        if options.to_seq.is_none() && report.tamper.is_none() {
            if report.last.seq < head.seq {
                report.tamper = Some(crate::verify::Tamper::Truncated {
                    last_seq: report.last.seq,
                    head_seq: head.seq,
                });
            } else if report.last.hash != head.hash {
                report.tamper = Some(crate::verify::Tamper::LinkBroken { seq: head.seq });
            }
        }
        Ok(report)
    }
}
