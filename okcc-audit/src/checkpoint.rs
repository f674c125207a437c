//! Keyed checkpoints: an HMAC-SHA-256 over a chain position with an
//! operator key, so an attacker with write access to the database (but not
//! the key) cannot rebuild the chain after editing it unnoticed.
//!
//! ```text
//! mac = HMAC-SHA-256(key, "okcc-audit/checkpoint/v1" 0x00 || seq as u64 BE || hash(seq))
//! ```
//!
//! Stores sign a checkpoint every `every` events ([`CheckpointPolicy`]).
//! Events after the last checkpoint are protected by the plain hash chain
//! only; [`crate::VerifyReport::last_checkpoint`] says how far keyed
//! protection reaches.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::chain::{ChainAnchor, ChainHash};

const DOMAIN: &[u8] = b"okcc-audit/checkpoint/v1\0";

/// The operator's checkpoint key. Never printed; zeroized on drop.
#[derive(Clone)]
pub struct CheckpointKey(Zeroizing<Vec<u8>>);

/// Why a key is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("checkpoint key must be at least 32 bytes")]
pub struct WeakKey;

impl CheckpointKey {
    /// A key of at least 32 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, WeakKey> {
        if bytes.len() < 32 {
            return Err(WeakKey);
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    fn mac(&self, anchor: ChainAnchor) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail; fall back
        // to an empty-key MAC would be wrong, hence the explicit match.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0) else {
            unreachable_key()
        };
        mac.update(DOMAIN);
        mac.update(&anchor.seq.to_be_bytes());
        mac.update(&anchor.hash.0);
        mac
    }

    /// Signs the chain position `anchor`.
    pub fn sign(&self, anchor: ChainAnchor) -> Checkpoint {
        let tag: [u8; 32] = self.mac(anchor).finalize().into_bytes().into();
        Checkpoint {
            seq: anchor.seq,
            hash: anchor.hash,
            mac: ChainHash(tag),
        }
    }

    /// `true` when `checkpoint` was signed with this key (constant time).
    pub fn verify(&self, checkpoint: &Checkpoint) -> bool {
        self.mac(ChainAnchor::new(checkpoint.seq, checkpoint.hash))
            .verify_slice(&checkpoint.mac.0)
            .is_ok()
    }
}

#[allow(clippy::panic)] // HMAC takes keys of any length: this is unreachable.
fn unreachable_key() -> ! {
    panic!("HMAC-SHA-256 accepts keys of any length")
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckpointKey(<redacted>)")
    }
}

/// A signed chain position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The position.
    pub seq: u64,
    /// The event hash at that position.
    pub hash: ChainHash,
    /// HMAC-SHA-256 (see the module docs).
    pub mac: ChainHash,
}

impl Checkpoint {
    /// Assembles a checkpoint read from storage (checked by
    /// [`CheckpointKey::verify`]).
    pub fn from_parts(seq: u64, hash: ChainHash, mac: ChainHash) -> Self {
        Self { seq, hash, mac }
    }
}

/// When a store signs checkpoints.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CheckpointPolicy {
    /// The operator key.
    pub key: CheckpointKey,
    /// Sign the event at every multiple of this `seq` (at least 1).
    pub every: u64,
}

impl CheckpointPolicy {
    /// Signs every `every` events (0 is treated as 1).
    pub fn new(key: CheckpointKey, every: u64) -> Self {
        Self {
            key,
            every: every.max(1),
        }
    }

    /// The checkpoint for `anchor`, if one is due there.
    pub fn due(&self, anchor: ChainAnchor) -> Option<Checkpoint> {
        anchor.seq.is_multiple_of(self.every).then(|| self.key.sign(anchor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_10_5_checkpoint_needs_the_key() {
        let key = CheckpointKey::new(&[7; 32]).expect("key");
        let other = CheckpointKey::new(&[8; 32]).expect("key");
        let cp = key.sign(ChainAnchor::new(10, ChainHash([1; 32])));
        assert!(key.verify(&cp));
        assert!(!other.verify(&cp));
        let moved = Checkpoint::from_parts(11, cp.hash, cp.mac);
        assert!(!key.verify(&moved));
        assert_eq!(CheckpointKey::new(&[1; 31]).map(|_| ()), Err(WeakKey));
        assert_eq!(format!("{key:?}"), "CheckpointKey(<redacted>)");
    }
}
