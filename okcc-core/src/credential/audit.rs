//! The weak-secret audit: which stored HA1 values come from a candidate
//! password (requirement 1.4), without any plaintext being stored.

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

use super::{DigestAlgorithm, Ha1};

/// Longest accepted `user:hex` line, in bytes.
const MAX_LINE: usize = 512;

/// One stored SIP credential to audit: user name and HA1.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Ha1Record {
    /// The SIP user name (extension).
    pub user: String,
    /// The stored HA1.
    pub ha1: Ha1,
}

impl Ha1Record {
    /// A record for `user` with `ha1`.
    pub fn new(user: impl Into<String>, ha1: Ha1) -> Self {
        Self {
            user: user.into(),
            ha1,
        }
    }
}

/// Why a `user:hex` line was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ha1LineError {
    /// Longer than 512 bytes.
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    /// No `:` between user and hash.
    #[error("expected user:ha1hex")]
    MissingSeparator,
    /// Nothing before the `:`.
    #[error("empty user name")]
    EmptyUser,
    /// The user name holds a control character.
    #[error("user name holds a control character")]
    BadUser,
    /// The hash is neither 32 (MD5) nor 64 (SHA-256) hex digits long.
    #[error("HA1 must be 32 (MD5) or 64 (SHA-256) hex digits, found {len} characters")]
    BadLength {
        /// Characters found.
        len: usize,
    },
    /// The hash holds a character that is not a hex digit.
    #[error("HA1 holds a character that is not a hex digit")]
    NotHex,
}

/// Parses one `user:ha1hex` line: the hash is after the last `:`, MD5 when
/// 32 hex digits long, SHA-256 when 64. Surrounding white space (and a
/// trailing `\r`) is ignored.
pub fn parse_ha1_line(line: &str) -> Result<Ha1Record, Ha1LineError> {
    if line.len() > MAX_LINE {
        return Err(Ha1LineError::TooLong);
    }
    let line = line.trim();
    let (user, hex) = line
        .rsplit_once(':')
        .ok_or(Ha1LineError::MissingSeparator)?;
    if user.is_empty() {
        return Err(Ha1LineError::EmptyUser);
    }
    if user.chars().any(char::is_control) {
        return Err(Ha1LineError::BadUser);
    }
    let algorithm = match hex.len() {
        32 => DigestAlgorithm::Md5,
        64 => DigestAlgorithm::Sha256,
        len => return Err(Ha1LineError::BadLength { len }),
    };
    let ha1 = Ha1::from_hex(algorithm, hex).ok_or(Ha1LineError::NotHex)?;
    Ok(Ha1Record::new(user, ha1))
}

/// An account whose HA1 is the hash of a candidate password.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WeakHa1 {
    /// Index of the record in the audited slice.
    pub record: usize,
    /// The user name.
    pub user: String,
    /// Index of the matching candidate.
    pub candidate: usize,
}

/// A dictionary audit of HA1 values against candidate passwords for one
/// realm. Hashes `user:realm:candidate` for every pair (the digest state of
/// `user:realm:` is computed once per record) and compares raw bytes, so
/// no plaintext secret is ever needed.
#[derive(Debug)]
pub struct Ha1Audit<'a> {
    realm: &'a str,
    candidates: &'a [&'a str],
}

impl<'a> Ha1Audit<'a> {
    /// An audit for `realm` over `candidates`.
    pub fn new(realm: &'a str, candidates: &'a [&'a str]) -> Self {
        Self { realm, candidates }
    }

    /// The first candidate whose HA1 equals the record's, if any.
    pub fn check(&self, record: &Ha1Record) -> Option<usize> {
        let prefix: [&[u8]; 4] = [record.user.as_bytes(), b":", self.realm.as_bytes(), b":"];
        let target = record.ha1.as_bytes();
        match record.ha1.algorithm() {
            DigestAlgorithm::Md5 => first_match::<Md5>(&prefix, self.candidates, target),
            DigestAlgorithm::Sha256 => first_match::<Sha256>(&prefix, self.candidates, target),
            DigestAlgorithm::Sha512_256 => {
                first_match::<Sha512_256>(&prefix, self.candidates, target)
            }
        }
    }

    /// Audits every record on this thread; `progress` is called once per
    /// record done.
    pub fn run(&self, records: &[Ha1Record], progress: impl Fn()) -> Vec<WeakHa1> {
        let mut out = Vec::new();
        for (i, r) in records.iter().enumerate() {
            if let Some(candidate) = self.check(r) {
                out.push(WeakHa1 {
                    record: i,
                    user: r.user.clone(),
                    candidate,
                });
            }
            progress();
        }
        out
    }

    /// Audits every record over all cores (rayon); `progress` is called
    /// once per record done, from any thread. Results are in record order.
    #[cfg(feature = "parallel")]
    pub fn run_parallel(&self, records: &[Ha1Record], progress: impl Fn() + Sync) -> Vec<WeakHa1> {
        use rayon::prelude::*;
        records
            .par_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let found = self.check(r).map(|candidate| WeakHa1 {
                    record: i,
                    user: r.user.clone(),
                    candidate,
                });
                progress();
                found
            })
            .collect()
    }
}

fn first_match<D: Digest + Clone>(
    prefix: &[&[u8]],
    candidates: &[&str],
    target: &[u8],
) -> Option<usize> {
    let mut base = D::new();
    for p in prefix {
        base.update(p);
    }
    // A timing difference here tells only which candidate matched, which the
    // audit reports anyway: no constant-time compare needed.
    candidates.iter().position(|c| {
        let mut d = base.clone();
        d.update(c.as_bytes());
        d.finalize().as_slice() == target
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(user: &str, alg: DigestAlgorithm, secret: &str) -> Ha1Record {
        Ha1Record::new(user, Ha1::compute(alg, user, "pbx", secret))
    }

    #[test]
    fn req_1_4_audit_flags_every_account_with_a_candidate_secret() {
        let records = [
            rec("100", DigestAlgorithm::Md5, "123456"),
            rec("101", DigestAlgorithm::Md5, "TAV#1532afhj@qF344"),
            rec("102", DigestAlgorithm::Sha256, "password"),
            rec("103", DigestAlgorithm::Sha512_256, "qwerty"),
        ];
        let candidates = ["password", "123456", "qwerty"];
        let found = Ha1Audit::new("pbx", &candidates).run(&records, || {});
        let users: Vec<_> = found
            .iter()
            .map(|w| (w.user.as_str(), w.candidate))
            .collect();
        assert_eq!(users, [("100", 1), ("102", 0), ("103", 2)]);
        // Another realm: nothing matches.
        assert!(
            Ha1Audit::new("other", &candidates)
                .run(&records, || {})
                .is_empty()
        );
    }

    #[cfg(feature = "parallel")]
    #[test]
    fn req_1_4_parallel_audit_agrees_with_sequential() {
        let records: Vec<_> = (0..50)
            .map(|i| {
                rec(
                    &format!("u{i}"),
                    DigestAlgorithm::Md5,
                    if i % 7 == 0 { "dragon" } else { "Xk#9vQ2m@pL" },
                )
            })
            .collect();
        let candidates = ["123456", "dragon"];
        let audit = Ha1Audit::new("pbx", &candidates);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let par = audit.run_parallel(&records, || {
            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(par, audit.run(&records, || {}));
        assert_eq!(par.len(), 8);
        assert_eq!(done.into_inner(), 50);
    }

    #[test]
    fn req_1_4_parses_user_hex_lines_and_refuses_bad_ones() {
        let r = parse_ha1_line("100:939e7578ed9e3c518a452acee763bce9\r").unwrap();
        assert_eq!(
            (r.user.as_str(), r.ha1.algorithm()),
            ("100", DigestAlgorithm::Md5)
        );
        let sha = format!("sip:alice:{}", "a".repeat(64));
        assert_eq!(parse_ha1_line(&sha).unwrap().user, "sip:alice");
        assert_eq!(
            parse_ha1_line("nocolon").unwrap_err(),
            Ha1LineError::MissingSeparator
        );
        assert_eq!(
            parse_ha1_line(":939e7578ed9e3c518a452acee763bce9").unwrap_err(),
            Ha1LineError::EmptyUser
        );
        assert_eq!(
            parse_ha1_line("a:abc").unwrap_err(),
            Ha1LineError::BadLength { len: 3 }
        );
        assert_eq!(
            parse_ha1_line("a:zz9e7578ed9e3c518a452acee763bce9").unwrap_err(),
            Ha1LineError::NotHex
        );
        assert_eq!(
            parse_ha1_line(&"a".repeat(600)).unwrap_err(),
            Ha1LineError::TooLong
        );
        assert_eq!(
            parse_ha1_line("a\u{1}b:939e7578ed9e3c518a452acee763bce9").unwrap_err(),
            Ha1LineError::BadUser
        );
    }
}
