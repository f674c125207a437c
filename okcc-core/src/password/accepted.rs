//! The proof that a password passed the policy.

use std::fmt;

use zeroize::Zeroizing;

/// A password that [`PasswordPolicy::check`](super::PasswordPolicy::check)
/// accepted.
///
/// Only `check` can make one, so any function that takes an
/// `AcceptedPassword` (hashing a web login, deriving SIP HA1 values, writing
/// a credential store) is guaranteed to run behind the policy: bulk import,
/// restore and the API cannot skip it.
///
/// The plaintext is wiped from memory when the value is dropped, and
/// `Debug` never shows it.
pub struct AcceptedPassword {
    secret: Zeroizing<String>,
    score: u8,
}

impl AcceptedPassword {
    pub(super) fn new(secret: &str, score: u8) -> Self {
        Self {
            secret: Zeroizing::new(secret.to_owned()),
            score,
        }
    }

    /// The plaintext, for hashing. Do not log or store it.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// The zxcvbn score (0–4) the password reached, or 4 when the policy
    /// does not run zxcvbn.
    pub fn score(&self) -> u8 {
        self.score
    }
}

impl fmt::Debug for AcceptedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptedPassword")
            .field("secret", &"<redacted>")
            .field("score", &self.score)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::password::PasswordPolicy;

    #[test]
    fn req_6_secrets_debug_redacts_accepted_password() {
        let accepted = PasswordPolicy::default()
            .check("TAV#1532afhj@qF344", &[])
            .unwrap();
        let shown = format!("{accepted:?}");
        assert!(!shown.contains("TAV#1532"), "{shown}");
        assert!(shown.contains("redacted"));
        assert_eq!(accepted.expose_secret(), "TAV#1532afhj@qF344");
    }
}
