//! The SHA-256 hash chain.
//!
//! Each stored event carries its position `seq` (1, 2, 3, … without gaps),
//! the previous event's hash and its own:
//!
//! ```text
//! hash(n) = SHA-256( "okcc-audit/chain/v1" 0x00 || seq(n) as u64 BE || hash(n-1) || canonical(event n) )
//! ```
//!
//! where `canonical` is [`crate::encoding`] and `hash(0)` is 32 zero bytes
//! (the genesis). Changing, removing, reordering or inserting an event
//! breaks the chain at that place ([`crate::verify`]). After retention
//! purges a prefix, the store keeps a [`ChainAnchor`] (the last purged
//! `seq` and hash) so the remaining chain still verifies from the cut.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding;
use crate::event::AuditEvent;

const DOMAIN: &[u8] = b"okcc-audit/chain/v1\0";

/// A SHA-256 value; hex in text forms.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The hash before the first event: 32 zero bytes.
    pub const GENESIS: Self = Self([0; 32]);

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        s
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = hex_val(*pair.first()?)?;
            let lo = hex_val(*pair.get(1)?)?;
            *o = (hi << 4) | lo;
        }
        Some(Self(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a text is not a hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a chain hash is 64 hex digits")]
pub struct BadHash;

impl TryFrom<String> for ChainHash {
    type Error = BadHash;
    fn try_from(s: String) -> Result<Self, BadHash> {
        Self::from_hex(&s).ok_or(BadHash)
    }
}

impl From<ChainHash> for String {
    fn from(h: ChainHash) -> Self {
        h.to_hex()
    }
}

/// An event as stored: its chain position and hashes, then the event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// The previous event's hash (or the anchor's, or genesis).
    pub prev_hash: ChainHash,
    /// This event's hash.
    pub hash: ChainHash,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

impl StoredEvent {
    /// Assembles a stored event from its parts, as a backend reads it.
    /// Nothing is checked here: [`crate::verify`] does that.
    pub fn from_parts(seq: u64, prev_hash: ChainHash, hash: ChainHash, event: AuditEvent) -> Self {
        Self {
            seq,
            prev_hash,
            hash,
            event,
        }
    }

    /// Recomputes this event's hash from its content.
    pub fn compute_hash(&self) -> ChainHash {
        let mut buf = Vec::with_capacity(320);
        compute_hash_with(self.seq, &self.prev_hash, &self.event, &mut buf)
    }

    /// `true` when the stored hash matches the content.
    pub fn is_intact(&self) -> bool {
        self.compute_hash() == self.hash
    }
}

/// `hash(seq)` for `event` after `prev`; `buf` is scratch space reused
/// between calls.
pub fn compute_hash_with(
    seq: u64,
    prev: &ChainHash,
    event: &AuditEvent,
    buf: &mut Vec<u8>,
) -> ChainHash {
    buf.clear();
    encoding::encode_into(event, buf);
    hash_encoded(seq, prev, buf)
}

/// `hash(seq)` of an event whose canonical encoding is `body`.
fn hash_encoded(seq: u64, prev: &ChainHash, body: &[u8]) -> ChainHash {
    ChainHash(
        Sha256::new()
            .chain_update(DOMAIN)
            .chain_update(seq.to_be_bytes())
            .chain_update(prev.0)
            .chain_update(body)
            .finalize()
            .into(),
    )
}

/// A point of the chain: the event at `seq` has hash `hash` (`seq` 0 with
/// [`ChainHash::GENESIS`] is the start).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChainAnchor {
    /// The position.
    pub seq: u64,
    /// The hash of the event at that position.
    pub hash: ChainHash,
}

impl ChainAnchor {
    /// The start of every chain.
    pub const GENESIS: Self = Self {
        seq: 0,
        hash: ChainHash::GENESIS,
    };

    /// An anchor at `seq` with `hash`.
    pub fn new(seq: u64, hash: ChainHash) -> Self {
        Self { seq, hash }
    }

    /// The anchor of a stored event.
    pub fn of(event: &StoredEvent) -> Self {
        Self {
            seq: event.seq,
            hash: event.hash,
        }
    }
}

/// The end of a chain, used by backends to link new events: every store
/// keeps one and calls [`ChainTail::link`] for each appended event inside
/// its write transaction.
#[derive(Debug)]
pub struct ChainTail {
    head: ChainAnchor,
    buf: Vec<u8>,
}

impl ChainTail {
    /// A tail after `head` (the last stored event, or the anchor, or
    /// [`ChainAnchor::GENESIS`]).
    pub fn new(head: ChainAnchor) -> Self {
        Self {
            head,
            buf: Vec::with_capacity(320),
        }
    }

    /// The last linked position.
    pub fn head(&self) -> ChainAnchor {
        self.head
    }

    /// Links `event` after the head and advances.
    pub fn link(&mut self, event: AuditEvent) -> StoredEvent {
        let hash = compute_hash_with(self.next_seq(), &self.head.hash, &event, &mut self.buf);
        self.advance(hash, event)
    }

    /// Links `event` like [`link`](Self::link) and also returns its
    /// canonical encoding ([`encoding::encode`], what a backend stores),
    /// encoded once for both the hash and the caller.
    pub fn link_encoded(&mut self, event: AuditEvent) -> (StoredEvent, Vec<u8>) {
        let (head, prev_hash, body) = self.link_ref(&event);
        let stored = StoredEvent {
            seq: head.seq,
            prev_hash,
            hash: head.hash,
            event,
        };
        (stored, body)
    }

    /// Links a borrowed `event` like [`link_encoded`](Self::link_encoded)
    /// and returns what a backend stores without taking the event: the new
    /// head (its `seq` and hash), the previous hash, and the canonical
    /// encoding.
    pub fn link_ref(&mut self, event: &AuditEvent) -> (ChainAnchor, ChainHash, Vec<u8>) {
        let body = encoding::encode(event);
        let prev = self.head.hash;
        let seq = self.next_seq();
        let hash = hash_encoded(seq, &prev, &body);
        self.head = ChainAnchor { seq, hash };
        (self.head, prev, body)
    }

    fn next_seq(&self) -> u64 {
        self.head.seq.saturating_add(1)
    }

    /// Makes `event` (with `hash`) the head.
    fn advance(&mut self, hash: ChainHash, event: AuditEvent) -> StoredEvent {
        let (seq, prev_hash) = (self.next_seq(), self.head.hash);
        self.head = ChainAnchor { seq, hash };
        StoredEvent {
            seq,
            prev_hash,
            hash,
            event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Actor, EventId, Outcome};
    use time::macros::datetime;

    fn ev(n: u128) -> AuditEvent {
        AuditEvent::at(
            EventId::from_uuid(uuid::Uuid::from_u128(n)),
            datetime!(2026-01-01 00:00 UTC),
            Actor::Anonymous,
            Action::Login,
            Outcome::Success,
        )
    }

    #[test]
    fn req_5_1_chain_links_each_event_to_the_previous() {
        let mut tail = ChainTail::new(ChainAnchor::GENESIS);
        let a = tail.link(ev(1));
        let b = tail.link(ev(2));
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(a.prev_hash, ChainHash::GENESIS);
        assert_eq!(b.prev_hash, a.hash);
        assert!(a.is_intact() && b.is_intact());
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn req_5_1_link_encoded_matches_link_and_the_encoding() {
        let mut plain = ChainTail::new(ChainAnchor::GENESIS);
        let mut encoded = ChainTail::new(ChainAnchor::GENESIS);
        let mut borrowed = ChainTail::new(ChainAnchor::GENESIS);
        for n in 1..=3 {
            let a = plain.link(ev(n));
            let (b, body) = encoded.link_encoded(ev(n));
            assert_eq!(a, b);
            assert!(b.is_intact());
            assert_eq!(body, encoding::encode(&b.event));
            let (head, prev, body_ref) = borrowed.link_ref(&ev(n));
            assert_eq!(head, ChainAnchor::of(&a));
            assert_eq!(prev, a.prev_hash);
            assert_eq!(body_ref, body);
        }
        assert_eq!(plain.head(), encoded.head());
        assert_eq!(plain.head(), borrowed.head());
    }

    #[test]
    fn req_5_1_hash_hex_round_trips() {
        let h = ChainHash([0xab; 32]);
        assert_eq!(ChainHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(ChainHash::from_hex("zz"), None);
        assert_eq!(ChainHash::from_hex(&"g".repeat(64)), None);
    }
}
