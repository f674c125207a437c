//! Digest algorithms (RFC 7616 §3.2, RFC 8760). The hash behind each one
//! and stored HA1 values are okcc-core's [`DigestAlgorithm`] and
//! [`okcc_core::credential::Ha1`].

use okcc_core::credential::DigestAlgorithm;

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

    /// The underlying hash (the algorithm stored HA1 values are kept for).
    pub fn hash(self) -> DigestAlgorithm {
        match self {
            Self::Md5 | Self::Md5Sess => DigestAlgorithm::Md5,
            Self::Sha256 | Self::Sha256Sess => DigestAlgorithm::Sha256,
            Self::Sha512_256 | Self::Sha512_256Sess => DigestAlgorithm::Sha512_256,
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
        self.hash().output_len() * 2
    }
}
