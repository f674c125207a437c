//! Digest algorithms (RFC 7616 §3.2, RFC 8760) and stored HA1 values.

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use zeroize::Zeroizing;

/// A digest algorithm, with or without `-sess`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `MD5` (RFC 3261).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256` (RFC 8760; the truncated SHA-512/256).
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

/// The hash behind an algorithm; HA1 values are stored per hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashKind {
    /// MD5.
    Md5,
    /// SHA-256.
    Sha256,
    /// SHA-512/256.
    Sha512_256,
}

impl HashKind {
    /// Lowercase hex of `H(data)`.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Self::Md5 => to_hex(&Md5::digest(data)),
            Self::Sha256 => to_hex(&Sha256::digest(data)),
            Self::Sha512_256 => to_hex(&Sha512_256::digest(data)),
        }
    }

    /// Length of the hex digest.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha256 | Self::Sha512_256 => 64,
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

impl Algorithm {
    /// Parses an `algorithm=` token (case-insensitive, RFC 8760 spellings).
    pub fn from_token(t: &str) -> Option<Self> {
        [
            Self::Md5,
            Self::Md5Sess,
            Self::Sha256,
            Self::Sha256Sess,
            Self::Sha512_256,
            Self::Sha512_256Sess,
        ]
        .into_iter()
        .find(|a| a.token().eq_ignore_ascii_case(t))
    }

    /// The registered token.
    pub fn token(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// The underlying hash.
    pub fn hash(self) -> HashKind {
        match self {
            Self::Md5 | Self::Md5Sess => HashKind::Md5,
            Self::Sha256 | Self::Sha256Sess => HashKind::Sha256,
            Self::Sha512_256 | Self::Sha512_256Sess => HashKind::Sha512_256,
        }
    }

    /// `true` for the `-sess` variants.
    pub fn is_sess(self) -> bool {
        matches!(
            self,
            Self::Md5Sess | Self::Sha256Sess | Self::Sha512_256Sess
        )
    }

    /// Length of a response in hex.
    pub fn hex_len(self) -> usize {
        self.hash().hex_len()
    }
}

/// A stored `HA1 = H(username:realm:password)` in lowercase hex.
///
/// Never printed: `Debug` is redacted and the text is zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1 {
    hash: HashKind,
    hex: Zeroizing<String>,
}

/// An HA1 text that is not hex of the hash's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("HA1 is not {expected} hex digits")]
pub struct Ha1Error {
    /// The expected number of hex digits.
    pub expected: usize,
}

impl Ha1 {
    /// Computes HA1 from a plaintext secret (when a secret is set; never stored).
    pub fn compute(hash: HashKind, username: &str, realm: &str, password: &str) -> Self {
        let a1 = Zeroizing::new(format!("{username}:{realm}:{password}"));
        Self {
            hash,
            hex: Zeroizing::new(hash.hex(a1.as_bytes())),
        }
    }

    /// Wraps a stored hex HA1 (case-insensitive).
    pub fn from_hex(hash: HashKind, hex: &str) -> Result<Self, Ha1Error> {
        if hex.len() != hash.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Ha1Error {
                expected: hash.hex_len(),
            });
        }
        Ok(Self {
            hash,
            hex: Zeroizing::new(hex.to_ascii_lowercase()),
        })
    }

    /// The hash this HA1 was made with.
    pub fn hash(&self) -> HashKind {
        self.hash
    }

    /// The hex text (for storing it; never log it).
    pub fn expose_hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ha1")
            .field("hash", &self.hash)
            .field("hex", &"<redacted>")
            .finish()
    }
}
