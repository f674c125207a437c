//! Entry points for the fuzz targets (not part of the stable API).

use super::PasswordPolicy;

/// Runs the default policy over arbitrary bytes (lossily decoded, split at
/// the first NUL into password and user name) and checks invariants: the
/// verdict is deterministic, a rejection lists at least one violation, and
/// every violation has a code and a message.
pub fn password_check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (password, user) = text.split_once('\0').unwrap_or((&text, ""));
    let policy = PasswordPolicy::default();
    let first = policy.check(password, &[user]);
    let second = policy.check(password, &[user]);
    match (first, second) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.expose_secret(), password);
            assert_eq!(a.score(), b.score());
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            assert!(!a.violations().is_empty());
            for v in a.violations() {
                assert!(!v.code().is_empty());
                assert!(!v.message().is_empty());
            }
        }
        _ => panic!("password check is not deterministic"),
    }
}
