//! Import of legacy plaintext SIP secrets (from a PBX being replaced).

use super::SecretString;
use crate::password::{AcceptedPassword, PasswordPolicy, Rejection};

/// A legacy secret the policy refused: flagged for reset, never stored.
#[derive(Debug)]
#[non_exhaustive]
pub struct WeakLegacySecret {
    /// The account.
    pub user: String,
    /// Every rule the secret failed.
    pub rejection: Rejection,
}

/// The outcome of [`import_legacy`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LegacyImport {
    /// Accounts whose secret passed: ready for
    /// [`SipCredential::derive`](super::SipCredential::derive).
    pub accepted: Vec<(String, AcceptedPassword)>,
    /// Accounts whose secret is weak ("shown in red"), each with its
    /// violations.
    pub weak: Vec<WeakLegacySecret>,
}

/// Runs every legacy `(user, secret)` pair through `policy` (with the user
/// name as a user input). Weak ones are flagged, not imported: the policy
/// holds on the import path too.
pub fn import_legacy<I>(policy: &PasswordPolicy, secrets: I) -> LegacyImport
where
    I: IntoIterator<Item = (String, SecretString)>,
{
    let mut out = LegacyImport::default();
    for (user, secret) in secrets {
        match policy.check(secret.expose_secret(), &[&user]) {
            Ok(accepted) => out.accepted.push((user, accepted)),
            Err(rejection) => out.weak.push(WeakLegacySecret { user, rejection }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_1_4_legacy_import_flags_each_weak_secret() {
        let legacy = vec![
            ("100".to_owned(), SecretString::from("100")),
            ("101".to_owned(), SecretString::from("TAV#1532afhj@qF344")),
            ("102".to_owned(), SecretString::from("password")),
            ("103".to_owned(), SecretString::from("Xk#9vQ103m@pL")),
        ];
        let result = import_legacy(&PasswordPolicy::default(), legacy);
        let ok: Vec<_> = result.accepted.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(ok, ["101"]);
        let weak: Vec<_> = result.weak.iter().map(|w| w.user.as_str()).collect();
        assert_eq!(weak, ["100", "102", "103"]);
        assert!(result.weak[1].rejection.has("common_password"));
        assert!(result.weak[2].rejection.has("contains_user_name"));
        assert!(!format!("{:?}", result.weak).contains("password\""));
    }
}
