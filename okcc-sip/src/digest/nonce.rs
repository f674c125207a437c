//! Stateless nonces (time + HMAC-SHA256 over a server secret) and bounded
//! nonce-count replay tracking.

use std::collections::{BTreeSet, HashMap};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Hex length of a nonce: 8 bytes of time + 8 random bytes + 16 bytes of MAC.
///
/// The random part makes every challenge's nonce unique: without it two
/// clients challenged in the same second share a nonce, and the second
/// one's `nc=00000001` is refused as a replay (and counted as a failure).
pub(crate) const NONCE_HEX_LEN: usize = 64;

fn mac(secret: &[u8], realm: &str, ts: u64, salt: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    if let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) {
        m.update(&ts.to_be_bytes());
        m.update(&salt.to_be_bytes());
        m.update(realm.as_bytes());
        let full = m.finalize().into_bytes();
        for (o, b) in out.iter_mut().zip(full.iter()) {
            *o = *b;
        }
    }
    out
}

/// Mints the nonce for `ts` (Unix seconds) with the random `salt`.
pub(crate) fn mint(secret: &[u8], realm: &str, ts: u64, salt: u64) -> String {
    let mut s = String::with_capacity(NONCE_HEX_LEN);
    for b in ts
        .to_be_bytes()
        .iter()
        .chain(salt.to_be_bytes().iter())
        .chain(mac(secret, realm, ts, salt).iter())
    {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// The issue time of a nonce this server minted, or `None` (forged, foreign, malformed).
pub(crate) fn open(secret: &[u8], realm: &str, nonce: &str) -> Option<u64> {
    if nonce.len() != NONCE_HEX_LEN || !nonce.is_ascii() {
        return None;
    }
    let mut raw = [0u8; 32];
    for (i, out) in raw.iter_mut().enumerate() {
        *out = u8::from_str_radix(nonce.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    let mut ts_bytes = [0u8; 8];
    ts_bytes.copy_from_slice(raw.get(..8)?);
    let ts = u64::from_be_bytes(ts_bytes);
    let mut salt_bytes = [0u8; 8];
    salt_bytes.copy_from_slice(raw.get(8..16)?);
    let expected = mac(secret, realm, ts, u64::from_be_bytes(salt_bytes));
    bool::from(expected.ct_eq(raw.get(16..)?)).then_some(ts)
}

#[derive(Clone, Copy, Debug)]
struct Window {
    highest: u32,
    /// Bit i set: `highest - i` was used.
    seen: u64,
}

impl Window {
    /// Records `nc`: `Fresh` the first time, `Replayed` after, and for
    /// anything 64 or more below the highest seen.
    fn record(&mut self, nc: u32) -> NcVerdict {
        if nc > self.highest {
            let shift = nc - self.highest;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift } | 1;
            self.highest = nc;
            return NcVerdict::Fresh;
        }
        let back = self.highest - nc;
        if back >= 64 || self.seen & (1 << back) != 0 {
            return NcVerdict::Replayed;
        }
        self.seen |= 1 << back;
        NcVerdict::Fresh
    }
}

/// Remembers which `nc` values of each nonce were used, in bounded memory.
///
/// At most `capacity` nonces are tracked. When full, expired nonces are
/// dropped first, then the oldest; the issue time of anything dropped
/// becomes a low-water mark, and an untracked nonce issued at or before it
/// is answered `stale` rather than trusted, so eviction never reopens a replay.
///
/// Every operation is O(log n): nonces are also kept ordered by issue time,
/// so a full tracker drops its oldest without a scan (a scan of 100,000
/// entries per new nonce once full was a fifth of a busy registrar's CPU).
#[derive(Debug)]
pub(crate) struct NonceTracker {
    capacity: usize,
    windows: HashMap<String, Window>,
    /// The keys of `windows`, by issue time.
    by_issue: BTreeSet<(u64, String)>,
    evicted_up_to: u64,
}

/// The tracker's verdict on one `nc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NcVerdict {
    Fresh,
    Replayed,
    Forgotten,
}

impl NonceTracker {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            windows: HashMap::new(),
            by_issue: BTreeSet::new(),
            evicted_up_to: 0,
        }
    }

    /// Records `nc` for `nonce` (issued at `issued`); `expire_before` drops older nonces when full.
    pub(crate) fn use_nc(
        &mut self,
        nonce: &str,
        issued: u64,
        nc: u32,
        expire_before: u64,
    ) -> NcVerdict {
        if let Some(w) = self.windows.get_mut(nonce) {
            return w.record(nc);
        }
        if issued <= self.evicted_up_to {
            return NcVerdict::Forgotten;
        }
        if self.windows.len() >= self.capacity {
            // Expired ones first (they are the oldest), then the oldest
            // until there is room.
            while let Some((ts, _)) = self.by_issue.first()
                && *ts < expire_before
            {
                self.pop_oldest();
            }
            while self.windows.len() >= self.capacity {
                let Some(ts) = self.pop_oldest() else {
                    break;
                };
                self.evicted_up_to = self.evicted_up_to.max(ts);
            }
            if issued <= self.evicted_up_to {
                return NcVerdict::Forgotten;
            }
        }
        self.windows.insert(
            nonce.to_owned(),
            Window {
                highest: nc,
                seen: 1,
            },
        );
        self.by_issue.insert((issued, nonce.to_owned()));
        NcVerdict::Fresh
    }

    /// Forgets the nonce issued first; its issue time.
    fn pop_oldest(&mut self) -> Option<u64> {
        let (ts, nonce) = self.by_issue.pop_first()?;
        self.windows.remove(&nonce);
        Some(ts)
    }
}

#[cfg(test)]
impl NonceTracker {
    pub(crate) fn windows_len(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tracker as first written (a scan of every nonce once full): the
    /// model the indexed one must agree with.
    struct Model {
        capacity: usize,
        /// Each nonce's window and issue time.
        windows: HashMap<String, (Window, u64)>,
        evicted_up_to: u64,
    }

    impl Model {
        fn use_nc(&mut self, nonce: &str, issued: u64, nc: u32, expire_before: u64) -> NcVerdict {
            if let Some((w, _)) = self.windows.get_mut(nonce) {
                return w.record(nc);
            }
            if issued <= self.evicted_up_to {
                return NcVerdict::Forgotten;
            }
            if self.windows.len() >= self.capacity {
                self.windows.retain(|_, (_, at)| *at >= expire_before);
                while self.windows.len() >= self.capacity {
                    // Oldest first; among equal times the smallest nonce, as
                    // the index orders them.
                    let Some((oldest, ts)) = self
                        .windows
                        .iter()
                        .min_by_key(|(k, (_, at))| (*at, (*k).clone()))
                        .map(|(k, (_, at))| (k.clone(), *at))
                    else {
                        break;
                    };
                    self.windows.remove(&oldest);
                    self.evicted_up_to = self.evicted_up_to.max(ts);
                }
                if issued <= self.evicted_up_to {
                    return NcVerdict::Forgotten;
                }
            }
            self.windows.insert(
                nonce.to_owned(),
                (
                    Window {
                        highest: nc,
                        seen: 1,
                    },
                    issued,
                ),
            );
            NcVerdict::Fresh
        }
    }

    #[test]
    fn mint_is_lowercase_hex_of_time_salt_and_mac_and_opens() {
        let n = mint(
            b"secret",
            "example.com",
            0x0102_0304_0506_0708,
            0xa0b0_c0d0_e0f0_0011,
        );
        assert_eq!(n.len(), NONCE_HEX_LEN);
        let mac_hex: String = mac(
            b"secret",
            "example.com",
            0x0102_0304_0506_0708,
            0xa0b0_c0d0_e0f0_0011,
        )
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
        assert_eq!(n, format!("0102030405060708a0b0c0d0e0f00011{mac_hex}"));
        assert_eq!(
            open(b"secret", "example.com", &n),
            Some(0x0102_0304_0506_0708)
        );
    }

    proptest::proptest! {
        /// Same verdicts as the scanning model, and never more than
        /// `capacity` nonces, for any sequence of uses (nonces issued over
        /// a few seconds, each used with a few `nc` values, in any order).
        #[test]
        fn indexed_tracker_agrees_with_the_scanning_model(
            capacity in 1usize..6,
            uses in proptest::collection::vec((0u8..12, 1u32..70, 0u64..4), 0..200),
        ) {
            let mut t = NonceTracker::new(capacity);
            let mut m = Model { capacity, windows: HashMap::new(), evicted_up_to: 0 };
            let mut now = 10;
            for (n, nc, tick) in uses {
                now += tick;
                // Nonce `n` is issued at second `n` (a fixed time per nonce).
                let (nonce, issued) = (format!("nonce{n:02}"), u64::from(n) + 10);
                let expire_before = now.saturating_sub(8);
                proptest::prop_assert_eq!(
                    t.use_nc(&nonce, issued, nc, expire_before),
                    m.use_nc(&nonce, issued, nc, expire_before)
                );
                proptest::prop_assert!(t.windows.len() <= capacity);
                proptest::prop_assert_eq!(t.windows.len(), t.by_issue.len());
            }
        }
    }
}
