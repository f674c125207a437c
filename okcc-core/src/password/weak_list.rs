//! The list of common passwords shipped inside the crate.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The ten most common passwords (SplashData / NordPass yearly lists),
/// refused outright (requirement 1.3). All of them are also on the
/// [`WeakList`].
pub const TOP_TEN: [&str; 10] = [
    "123456",
    "123456789",
    "qwerty",
    "password",
    "12345678",
    "12345",
    "1234567",
    "111111",
    "123123",
    "iloveyou",
];

/// 29,999 common passwords, most common first: the `PASSWORDS` list of the
/// zxcvbn crate (MIT), from Xato's 10 million password dump. Source and
/// licence: `okcc-core/src/password/COMMON-PASSWORDS-NOTICE.md`.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// The common-password list: [`TOP_TEN`] plus 29,999 entries from a public
/// list, all lower-case. Lookups ignore case.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct WeakList;

fn set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| WeakList::entries().collect())
}

impl WeakList {
    /// Every entry, most common first (the top ten first); may repeat an
    /// entry of the top ten once.
    pub fn entries() -> impl Iterator<Item = &'static str> + Clone {
        TOP_TEN
            .iter()
            .copied()
            .chain(COMMON_PASSWORDS.lines().filter(|l| !l.is_empty()))
    }

    /// The number of distinct entries.
    pub fn len() -> usize {
        set().len()
    }

    /// Whether `password` is on the list, ignoring ASCII case.
    pub fn contains(password: &str) -> bool {
        if password.len() > 64 {
            return false; // no entry is that long
        }
        let set = set();
        if password.bytes().any(|b| b.is_ascii_uppercase()) {
            set.contains(password.to_ascii_lowercase().as_str())
        } else {
            set.contains(password)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_1_3_list_has_at_least_10000_entries() {
        assert!(WeakList::len() >= 10_000, "{}", WeakList::len());
    }

    #[test]
    fn req_1_3_top_ten_are_on_the_list() {
        for p in TOP_TEN {
            assert!(WeakList::contains(p), "{p}");
        }
        assert!(WeakList::contains("PassWord"));
        assert!(WeakList::contains("dragon"));
        assert!(!WeakList::contains("TAV#1532afhj@qF344"));
    }
}
