//! argon2id hashing of web-login passwords.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use super::{CredentialError, PhcHash};
use crate::password::AcceptedPassword;

/// Hashes and verifies web-login passwords as argon2id PHC strings.
///
/// The default parameters are OWASP's current argon2id recommendation
/// (Password Storage Cheat Sheet): m = 19 MiB (19,456 KiB), t = 2, p = 1,
/// 32-byte output, 16-byte random salt. One hash takes tens of
/// milliseconds: rate-limit logins before verifying, and run it off the
/// async executor (`spawn_blocking`).
#[derive(Clone, Debug)]
pub struct WebPasswordHasher {
    params: Params,
}

impl Default for WebPasswordHasher {
    fn default() -> Self {
        Self {
            params: Params::DEFAULT,
        }
    }
}

impl WebPasswordHasher {
    /// A hasher with custom memory (KiB), iterations and parallelism.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, CredentialError> {
        let params = Params::new(m_cost_kib, t_cost, p_cost, Some(Params::DEFAULT_OUTPUT_LEN))
            .map_err(|e| CredentialError::Argon2(e.to_string()))?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes an accepted password with a fresh random salt.
    pub fn hash(&self, password: &AcceptedPassword) -> Result<PhcHash, CredentialError> {
        let hash = self
            .argon2()
            .hash_password(password.expose_secret().as_bytes())
            .map_err(|e| CredentialError::Argon2(e.to_string()))?;
        Ok(PhcHash::new(hash.to_string()))
    }

    /// Whether `candidate` matches `stored`. Uses the parameters stored in
    /// the hash, so old hashes keep verifying after the parameters change.
    /// Takes any string: a login attempt need not satisfy today's policy.
    pub fn verify(&self, candidate: &str, stored: &PhcHash) -> bool {
        let Ok(parsed) = PasswordHash::new(stored.as_str()) else {
            return false;
        };
        self.argon2()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok()
    }

    /// Whether `stored` was made with other parameters than this hasher's
    /// (algorithm, version, memory, iterations, parallelism or output
    /// length), so it should be replaced after the next successful login.
    pub fn needs_rehash(&self, stored: &PhcHash) -> bool {
        let Ok(parsed) = PasswordHash::new(stored.as_str()) else {
            return true;
        };
        if parsed.algorithm != argon2::ARGON2ID_IDENT
            || parsed.version != Some(Version::V0x13.into())
        {
            return true;
        }
        let Ok(params) = Params::try_from(&parsed) else {
            return true;
        };
        let out_len = parsed.hash.as_ref().map(|h| h.len());
        params.m_cost() != self.params.m_cost()
            || params.t_cost() != self.params.t_cost()
            || params.p_cost() != self.params.p_cost()
            || out_len
                != Some(
                    self.params
                        .output_len()
                        .unwrap_or(Params::DEFAULT_OUTPUT_LEN),
                )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::PasswordPolicy;

    fn accepted() -> AcceptedPassword {
        PasswordPolicy::default()
            .check("TAV#1532afhj@qF344", &[])
            .unwrap()
    }

    #[test]
    fn req_1_5_argon2id_hash_verifies_with_owasp_params() {
        // Small memory keeps the test fast; the default is checked below.
        let hasher = WebPasswordHasher::new(1024, 2, 1).unwrap();
        let phc = hasher.hash(&accepted()).unwrap();
        assert!(
            phc.as_str().starts_with("$argon2id$v=19$m=1024,t=2,p=1$"),
            "{}",
            phc.as_str()
        );
        assert!(hasher.verify("TAV#1532afhj@qF344", &phc));
        assert!(!hasher.verify("TAV#1532afhj@qF345", &phc));
        assert!(!format!("{phc:?}").contains(phc.as_str()));
        let d = WebPasswordHasher::default();
        assert_eq!(
            (d.params.m_cost(), d.params.t_cost(), d.params.p_cost()),
            (19_456, 2, 1)
        );
    }

    #[test]
    fn req_1_5_needs_rehash_when_params_change() {
        let old = WebPasswordHasher::new(1024, 1, 1).unwrap();
        let new = WebPasswordHasher::new(1024, 2, 1).unwrap();
        let phc = old.hash(&accepted()).unwrap();
        assert!(!old.needs_rehash(&phc));
        assert!(new.needs_rehash(&phc));
        assert!(
            new.verify("TAV#1532afhj@qF344", &phc),
            "old hashes still verify"
        );
        assert!(PhcHash::from_stored("not a phc").is_err());
    }
}
