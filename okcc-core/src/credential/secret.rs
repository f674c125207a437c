//! Redacting, zeroizing containers for secrets.

use std::fmt;

use zeroize::Zeroizing;

/// A plaintext secret (legacy SIP secret, candidate password). `Debug`
/// prints `<redacted>`; the memory is wiped on drop.
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The plaintext. Do not log or store it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// An argon2id PHC string (`$argon2id$v=19$m=…`). `Debug` shows only the
/// algorithm; the memory is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct PhcHash(Zeroizing<String>);

impl PhcHash {
    pub(super) fn new(phc: String) -> Self {
        Self(Zeroizing::new(phc))
    }

    /// Wraps a PHC string read back from storage. Fails unless it parses.
    pub fn from_stored(phc: &str) -> Result<Self, super::CredentialError> {
        argon2::PasswordHash::new(phc).map_err(|_| super::CredentialError::BadPhc)?;
        Ok(Self::new(phc.to_owned()))
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PhcHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = self.0.split('$').nth(1).unwrap_or("?");
        write!(f, "PhcHash({alg}, <redacted>)")
    }
}
