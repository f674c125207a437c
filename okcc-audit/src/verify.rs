//! Walking a chain and finding the first place it was tampered with.
//!
//! [`ChainVerifier`] takes events in stored order (from a store page by
//! page, or from an exported JSON Lines file), with a look-ahead of two
//! events, and stops at the first problem:
//!
//! | finding | what the walk saw at the reported place |
//! |---|---|
//! | [`Tamper::Modified`] | the event's content no longer matches its hash |
//! | [`Tamper::Removed`] | positions are missing and never come later |
//! | [`Tamper::Reordered`] | an event appears before an earlier one it should follow |
//! | [`Tamper::Inserted`] | an extra event sits between two events that link to each other |
//! | [`Tamper::LinkBroken`] | the event does not link to its predecessor although both are self-consistent: one of them was rewritten together with its hash |
//! | [`Tamper::CheckpointMismatch`] | a keyed checkpoint names another hash for this position: the chain was rebuilt |
//! | [`Tamper::BadCheckpoint`] | a checkpoint's MAC is wrong (forged or a different key) |
//! | [`Tamper::Truncated`] | the chain ends before the store's recorded head |

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::chain::{ChainAnchor, ChainHash, StoredEvent, compute_hash_with};
use crate::checkpoint::{Checkpoint, CheckpointKey};

/// What verification found wrong, at the first place it went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "finding", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Tamper {
    /// The event at `seq` was modified (its content does not match its hash).
    Modified {
        /// The position.
        seq: u64,
    },
    /// The events `first_seq..=last_seq` were removed.
    Removed {
        /// The first missing position.
        first_seq: u64,
        /// The last missing position.
        last_seq: u64,
    },
    /// The event at `seq` was moved out of its place.
    Reordered {
        /// The position the moved event claims.
        seq: u64,
    },
    /// An event was inserted after the event at `after_seq`.
    Inserted {
        /// The last genuine position before the inserted event.
        after_seq: u64,
    },
    /// The event at `seq` does not link to the event before it.
    LinkBroken {
        /// The position.
        seq: u64,
    },
    /// The keyed checkpoint at `seq` does not match the chain.
    CheckpointMismatch {
        /// The position.
        seq: u64,
    },
    /// The checkpoint at `seq` has a wrong MAC.
    BadCheckpoint {
        /// The position.
        seq: u64,
    },
    /// The chain ends at `last_seq`, before the recorded head `head_seq`.
    Truncated {
        /// The last event found.
        last_seq: u64,
        /// The head the store recorded.
        head_seq: u64,
    },
}

impl Tamper {
    /// The chain position the finding points at.
    pub fn seq(&self) -> u64 {
        match *self {
            Self::Modified { seq }
            | Self::Reordered { seq }
            | Self::LinkBroken { seq }
            | Self::CheckpointMismatch { seq }
            | Self::BadCheckpoint { seq } => seq,
            Self::Removed { first_seq, .. } => first_seq,
            Self::Inserted { after_seq } => after_seq.saturating_add(1),
            Self::Truncated { last_seq, .. } => last_seq.saturating_add(1),
        }
    }
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Modified { seq } => write!(f, "event {seq} was modified"),
            Self::Removed {
                first_seq,
                last_seq,
            } if first_seq == last_seq => {
                write!(f, "event {first_seq} was removed")
            }
            Self::Removed {
                first_seq,
                last_seq,
            } => {
                write!(f, "events {first_seq}..={last_seq} were removed")
            }
            Self::Reordered { seq } => write!(f, "event {seq} was moved out of order"),
            Self::Inserted { after_seq } => {
                write!(f, "an event was inserted after event {after_seq}")
            }
            Self::LinkBroken { seq } => write!(
                f,
                "event {seq} does not link to the event before it (one of them was rewritten)"
            ),
            Self::CheckpointMismatch { seq } => {
                write!(
                    f,
                    "keyed checkpoint {seq} does not match: the chain was rebuilt"
                )
            }
            Self::BadCheckpoint { seq } => write!(f, "checkpoint {seq} has a wrong MAC"),
            Self::Truncated { last_seq, head_seq } => {
                write!(
                    f,
                    "chain ends at {last_seq} but the recorded head is {head_seq}"
                )
            }
        }
    }
}

/// What to verify.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// First position to check (default: the store's anchor + 1).
    pub from_seq: Option<u64>,
    /// Last position to check (default: the head).
    pub to_seq: Option<u64>,
    /// The checkpoint key; without it checkpoints are not checked.
    pub key: Option<CheckpointKey>,
}

impl VerifyOptions {
    /// Verify everything, without a key.
    pub fn all() -> Self {
        Self::default()
    }

    /// Checks keyed checkpoints with `key`.
    #[must_use]
    pub fn with_key(mut self, key: CheckpointKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Limits the walk to `from..=to`.
    #[must_use]
    pub fn range(mut self, from: u64, to: u64) -> Self {
        self.from_seq = Some(from);
        self.to_seq = Some(to);
        self
    }
}

/// The outcome of a verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Where the walk started (the event before the first checked one).
    pub start: ChainAnchor,
    /// The last event that verified.
    pub last: ChainAnchor,
    /// How many events verified.
    pub checked: u64,
    /// How many keyed checkpoints matched.
    pub checkpoints_verified: u64,
    /// The last position covered by a matching keyed checkpoint.
    pub last_checkpoint: Option<u64>,
    /// The first problem, if any.
    pub tamper: Option<Tamper>,
}

impl VerifyReport {
    /// `true` when nothing was found.
    pub fn is_intact(&self) -> bool {
        self.tamper.is_none()
    }
}

/// A streaming chain verifier (see the module docs).
#[derive(Debug)]
pub struct ChainVerifier {
    start: ChainAnchor,
    prev: ChainAnchor,
    before_prev: Option<ChainAnchor>,
    window: VecDeque<StoredEvent>,
    checked: u64,
    key: Option<CheckpointKey>,
    pending: BTreeMap<u64, ChainHash>,
    checkpoints_verified: u64,
    last_checkpoint: Option<u64>,
    tamper: Option<Tamper>,
    buf: Vec<u8>,
}

const LOOKAHEAD: usize = 2;
/// At most this many checkpoints wait for their event.
const MAX_PENDING: usize = 4096;

impl ChainVerifier {
    /// A verifier whose first event must follow `start`.
    pub fn new(start: ChainAnchor) -> Self {
        Self {
            start,
            prev: start,
            before_prev: None,
            window: VecDeque::with_capacity(LOOKAHEAD + 1),
            checked: 0,
            key: None,
            pending: BTreeMap::new(),
            checkpoints_verified: 0,
            last_checkpoint: None,
            tamper: None,
            buf: Vec::with_capacity(320),
        }
    }

    /// Also checks keyed checkpoints with `key`.
    #[must_use]
    pub fn with_key(mut self, key: Option<CheckpointKey>) -> Self {
        self.key = key;
        self
    }

    /// The first problem found so far.
    pub fn tamper(&self) -> Option<Tamper> {
        self.tamper
    }

    /// Feeds the next stored event. Returns the first problem once one is
    /// found; further input is then ignored.
    pub fn push(&mut self, event: StoredEvent) -> Option<Tamper> {
        if self.tamper.is_some() {
            return self.tamper;
        }
        self.window.push_back(event);
        while self.window.len() > LOOKAHEAD && self.tamper.is_none() {
            self.step();
        }
        self.tamper
    }

    /// Feeds a checkpoint (its event may come before or after it).
    /// Without a key, checkpoints are ignored.
    pub fn push_checkpoint(&mut self, cp: &Checkpoint) -> Option<Tamper> {
        if self.tamper.is_some() {
            return self.tamper;
        }
        let Some(key) = &self.key else {
            return None;
        };
        if !key.verify(cp) {
            self.tamper = Some(Tamper::BadCheckpoint { seq: cp.seq });
            return self.tamper;
        }
        if cp.seq <= self.start.seq {
            return None;
        }
        if cp.seq == self.prev.seq {
            self.match_checkpoint(cp.seq, cp.hash, self.prev.hash);
        } else if cp.seq > self.prev.seq && self.pending.len() < MAX_PENDING {
            self.pending.insert(cp.seq, cp.hash);
        }
        self.tamper
    }

    fn match_checkpoint(&mut self, seq: u64, expected: ChainHash, actual: ChainHash) {
        if expected == actual {
            self.checkpoints_verified += 1;
            self.last_checkpoint = Some(seq);
        } else {
            self.tamper = Some(Tamper::CheckpointMismatch { seq });
        }
    }

    fn step(&mut self) {
        let Some(e) = self.window.pop_front() else {
            return;
        };
        let finding = classify(
            &e,
            self.window.front(),
            self.window.get(1),
            self.prev,
            self.before_prev,
            &mut self.buf,
        );
        if let Some(t) = finding {
            self.tamper = Some(t);
            return;
        }
        self.accept(ChainAnchor::of(&e));
    }

    fn accept(&mut self, anchor: ChainAnchor) {
        self.before_prev = Some(self.prev);
        self.prev = anchor;
        self.checked += 1;
        if self.pending.is_empty() {
            return;
        }
        if let Some(expected) = self.pending.remove(&anchor.seq) {
            self.match_checkpoint(anchor.seq, expected, anchor.hash);
        }
        // Checkpoints for positions already passed can no longer match.
        while let Some((&seq, _)) = self.pending.first_key_value() {
            if seq > anchor.seq {
                break;
            }
            self.pending.remove(&seq);
        }
    }

    /// Checks what is left and reports.
    pub fn finish(mut self) -> VerifyReport {
        while !self.window.is_empty() && self.tamper.is_none() {
            self.step();
        }
        VerifyReport {
            start: self.start,
            last: self.prev,
            checked: self.checked,
            checkpoints_verified: self.checkpoints_verified,
            last_checkpoint: self.last_checkpoint,
            tamper: self.tamper,
        }
    }

    /// Like [`ChainVerifier::finish`], and also reports
    /// [`Tamper::Truncated`] when the walk ended before `head`.
    pub fn finish_at(self, head: ChainAnchor) -> VerifyReport {
        let mut report = self.finish();
        if report.tamper.is_none() && report.last.seq < head.seq {
            report.tamper = Some(Tamper::Truncated {
                last_seq: report.last.seq,
                head_seq: head.seq,
            });
        } else if report.tamper.is_none()
            && report.last.seq == head.seq
            && report.last.hash != head.hash
        {
            report.tamper = Some(Tamper::LinkBroken { seq: head.seq });
        }
        report
    }
}

fn links(e: &StoredEvent, p: ChainAnchor) -> bool {
    e.seq == p.seq.wrapping_add(1) && e.prev_hash == p.hash
}

/// The finding for `e` after `prev`, looking ahead at `n1` and `n2`.
fn classify(
    e: &StoredEvent,
    n1: Option<&StoredEvent>,
    n2: Option<&StoredEvent>,
    prev: ChainAnchor,
    before_prev: Option<ChainAnchor>,
    buf: &mut Vec<u8>,
) -> Option<Tamper> {
    let intact = compute_hash_with(e.seq, &e.prev_hash, &e.event, buf) == e.hash;
    if links(e, prev) {
        return (!intact).then_some(Tamper::Modified { seq: e.seq });
    }
    if let Some(n1) = n1.filter(|n1| links(n1, prev)) {
        return Some(if intact && links(e, ChainAnchor::of(n1)) {
            Tamper::Reordered { seq: e.seq }
        } else {
            Tamper::Inserted {
                after_seq: prev.seq,
            }
        });
    }
    if let Some(bp) = before_prev.filter(|bp| links(e, *bp)) {
        return Some(Tamper::Inserted { after_seq: bp.seq });
    }
    if !intact {
        return Some(Tamper::Modified { seq: e.seq });
    }
    let next = prev.seq.saturating_add(1);
    Some(if e.seq > next {
        if n1.is_some_and(|n| n.seq == next) || n2.is_some_and(|n| n.seq == next) {
            Tamper::Reordered { seq: e.seq }
        } else {
            Tamper::Removed {
                first_seq: next,
                last_seq: e.seq - 1,
            }
        }
    } else if e.seq == next {
        Tamper::LinkBroken { seq: e.seq }
    } else if e.seq == prev.seq {
        Tamper::Inserted {
            after_seq: prev.seq,
        }
    } else {
        Tamper::Reordered { seq: e.seq }
    })
}

/// Verifies a slice of stored events after `start` without copying them
/// (what the memory store uses; same findings as [`ChainVerifier`]).
pub fn verify_events(
    start: ChainAnchor,
    events: &[StoredEvent],
    key: Option<&CheckpointKey>,
    checkpoints: &[Checkpoint],
) -> VerifyReport {
    let mut v = ChainVerifier::new(start).with_key(key.cloned());
    for cp in checkpoints {
        if v.push_checkpoint(cp).is_some() {
            return v.finish();
        }
    }
    for (i, e) in events.iter().enumerate() {
        let finding = classify(
            e,
            events.get(i + 1),
            events.get(i + 2),
            v.prev,
            v.before_prev,
            &mut v.buf,
        );
        if let Some(t) = finding {
            v.tamper = Some(t);
            break;
        }
        v.accept(ChainAnchor::of(e));
        if v.tamper.is_some() {
            break;
        }
    }
    v.finish()
}
