//! okcc's own SIP digest server (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! - Challenges offer SHA-256 first, then MD5, with `qop="auth"`.
//! - Responses are verified from a stored [`Ha1`] (never a plaintext secret),
//!   over the raw `uri=` text, for MD5, SHA-256 and SHA-512-256 and their
//!   `-sess` forms, with a constant-time comparison.
//! - Nonces are stateless: issue time plus an HMAC-SHA256 over a server
//!   secret. An expired nonce with an otherwise correct response answers
//!   [`DigestFailure::Stale`] (send `stale=true`).
//! - Nonce counts are tracked in bounded memory; a reused `nc` is a replay.
//! - An unknown user is verified against a dummy HA1 and fails with exactly
//!   the same [`DigestFailure::Rejected`] as a wrong password, after the same
//!   work, and is offered the same challenge (no user enumeration).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use okcc_sip::digest::{DigestConfig, DigestServer};
//!
//! let server = DigestServer::new(DigestConfig::new("example.com", b"server-secret-32-bytes-long!!!!!".to_vec()));
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let challenges = server.challenges(now, false);
//! assert!(challenges[0].starts_with("Digest realm=\"example.com\""));
//! assert!(challenges[0].contains("algorithm=SHA-256"));
//! ```

mod algorithm;
mod authorization;
mod nonce;

pub use algorithm::Algorithm;
pub use authorization::{AuthorizationError, DigestAuthorization, Qop};

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use okcc_core::credential::{DigestAlgorithm, Ha1};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use nonce::{NcVerdict, NonceTracker};

/// Digest server settings.
#[non_exhaustive]
pub struct DigestConfig {
    /// The realm offered and required.
    pub realm: String,
    /// The HMAC key for nonces (32 random bytes or more; shared by every node).
    pub secret: Zeroizing<Vec<u8>>,
    /// How long a nonce stays valid (default 300 s).
    pub nonce_lifetime: Duration,
    /// Algorithms offered in challenges, in order (default SHA-256, MD5).
    pub offer: Vec<Algorithm>,
    /// How many nonces are tracked for `nc` replay (default 100 000).
    pub max_tracked_nonces: usize,
    /// Accept RFC 2069 responses without `qop` (no replay protection). Off by default.
    pub dangerous_allow_no_qop: bool,
}

impl DigestConfig {
    /// Defaults for `realm` with the nonce key `secret`.
    pub fn new(realm: impl Into<String>, secret: Vec<u8>) -> Self {
        Self {
            realm: realm.into(),
            secret: Zeroizing::new(secret),
            nonce_lifetime: Duration::from_secs(300),
            offer: vec![Algorithm::Sha256, Algorithm::Md5],
            max_tracked_nonces: 100_000,
            dangerous_allow_no_qop: false,
        }
    }
}

impl fmt::Debug for DigestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestConfig")
            .field("realm", &self.realm)
            .field("secret", &"<redacted>")
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("offer", &self.offer)
            .finish_non_exhaustive()
    }
}

/// Why credentials did not authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestFailure {
    /// Wrong secret, unknown user, wrong realm, forged nonce, missing qop or a
    /// replayed `nc`: one answer for all, so nothing can be enumerated.
    #[error("authentication failed")]
    Rejected,
    /// The response was right but the nonce expired (or its `nc` record was
    /// evicted): challenge again with `stale=true`.
    #[error("nonce is stale")]
    Stale,
}

/// Proof that a request authenticated as `username`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authenticated {
    /// The authenticated user.
    pub username: String,
    /// The algorithm used.
    pub algorithm: Algorithm,
}

/// The digest server: mints challenges and verifies responses.
#[derive(Debug)]
pub struct DigestServer {
    config: DigestConfig,
    tracker: Mutex<NonceTracker>,
    dummy: [Ha1; 3],
}

fn unix(now: SystemTime) -> u64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl DigestServer {
    /// A server with `config`.
    pub fn new(config: DigestConfig) -> Self {
        let dummy_secret = nonce::mint(&config.secret, "okcc-dummy", 0, 0);
        let dummy = [
            DigestAlgorithm::Md5,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha512_256,
        ]
        .map(|h| {
            Ha1::dangerous_from_unchecked_secret(h, "okcc-dummy", &config.realm, &dummy_secret)
        });
        Self {
            tracker: Mutex::new(NonceTracker::new(config.max_tracked_nonces)),
            config,
            dummy,
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.config.realm
    }

    /// A fresh nonce for `now`, unique per call (random salt), so clients
    /// challenged in the same second never share one.
    pub fn nonce(&self, now: SystemTime) -> String {
        nonce::mint(
            &self.config.secret,
            &self.config.realm,
            unix(now),
            rand::random::<u64>(),
        )
    }

    /// One `WWW-Authenticate` / `Proxy-Authenticate` value per offered algorithm.
    /// The same for every user (known or not).
    pub fn challenges(&self, now: SystemTime, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now);
        self.config
            .offer
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
                    self.config.realm,
                    a.token(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Verifies parsed credentials for a request with `method` and `body`.
    ///
    /// `ha1` is the stored HA1 of `auth.username` for the algorithm's hash,
    /// or `None` for an unknown user (same work, same failure).
    pub fn verify(
        &self,
        auth: &DigestAuthorization<'_>,
        method: &str,
        body: &[u8],
        ha1: Option<&Ha1>,
        now: SystemTime,
    ) -> Result<Authenticated, DigestFailure> {
        let hash = auth.algorithm.hash();
        let dummy = self
            .dummy
            .iter()
            .find(|d| d.algorithm() == hash)
            .unwrap_or(&self.dummy[0]); // every hash has a dummy; index 0 exists
        let known = ha1.filter(|h| h.algorithm() == hash);
        let ha1_used = known.unwrap_or(dummy);
        let expected = response(auth, method, body, ha1_used);
        let given = auth.response.to_ascii_lowercase();
        let matches = bool::from(expected.as_bytes().ct_eq(given.as_bytes()));
        let issued = nonce::open(&self.config.secret, &self.config.realm, auth.nonce);
        let realm_ok = auth.realm == self.config.realm.as_str();
        let qop_ok = auth.qop.is_some() || self.config.dangerous_allow_no_qop;
        let (Some(issued), true, true, true, false) = (
            issued,
            matches & known.is_some(),
            realm_ok,
            qop_ok,
            auth.userhash,
        ) else {
            return Err(DigestFailure::Rejected);
        };
        let now_s = unix(now);
        let lifetime = self.config.nonce_lifetime.as_secs();
        if issued > now_s.saturating_add(5) {
            return Err(DigestFailure::Rejected);
        }
        if now_s.saturating_sub(issued) > lifetime {
            return Err(DigestFailure::Stale);
        }
        if let Some(nc) = auth.nc {
            let verdict = self
                .tracker
                .lock()
                .map_err(|_| DigestFailure::Rejected)?
                .use_nc(auth.nonce, issued, nc, now_s.saturating_sub(lifetime));
            match verdict {
                NcVerdict::Fresh => {}
                NcVerdict::Replayed => return Err(DigestFailure::Rejected),
                NcVerdict::Forgotten => return Err(DigestFailure::Stale),
            }
        }
        Ok(Authenticated {
            username: auth.username.clone().into_owned(),
            algorithm: auth.algorithm,
        })
    }
}

/// The expected `response` (RFC 7616 §3.4.1), over the raw `uri` and `nc` text.
pub fn response(auth: &DigestAuthorization<'_>, method: &str, body: &[u8], ha1: &Ha1) -> String {
    let h = auth.algorithm.hash();
    let cnonce = auth.cnonce.unwrap_or("");
    let ha1_hex: Zeroizing<String> = if auth.algorithm.is_sess() {
        let stored = ha1.to_hex();
        Zeroizing::new(h.hex_digest(
            Zeroizing::new(format!("{}:{}:{cnonce}", stored.as_str(), auth.nonce)).as_bytes(),
        ))
    } else {
        ha1.to_hex()
    };
    let a2 = match auth.qop {
        Some(Qop::AuthInt) => format!("{method}:{}:{}", auth.uri, h.hex_digest(body)),
        _ => format!("{method}:{}", auth.uri),
    };
    let ha2 = h.hex_digest(a2.as_bytes());
    let kd = match (auth.qop, auth.nc_raw) {
        (Some(q), Some(nc)) => Zeroizing::new(format!(
            "{}:{}:{nc}:{cnonce}:{}:{ha2}",
            ha1_hex.as_str(),
            auth.nonce,
            q.token()
        )),
        _ => Zeroizing::new(format!("{}:{}:{ha2}", ha1_hex.as_str(), auth.nonce)),
    };
    h.hex_digest(kd.as_bytes())
}

#[cfg(test)]
mod tests;
