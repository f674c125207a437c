//! Dialed-number normalisation: the destination of an INVITE comes from
//! untrusted SIP, so it is checked here before any rule sees it.
//!
//! Accepted: digits, one leading `+`, and the visual separators space,
//! `-`, `.`, `(`, `)` and `/` (dropped). `00` at the start is the
//! international access code and becomes `+` (so `0044 20 7946 0958` and
//! `+44 (20) 7946-0958` are both `+442079460958`). Anything else (letters,
//! `*`, `#`, control characters, a `+` in the middle, more than
//! [`MAX_DIGITS`] digits or more than [`MAX_INPUT`] bytes) is refused with a
//! specific [`DestinationError`].

use std::fmt;

/// The most digits a destination may hold (E.164 allows 15; access codes
/// and carrier prefixes push real dial strings a little further).
pub const MAX_DIGITS: usize = 32;
/// The longest input accepted, separators included, in bytes.
pub const MAX_INPUT: usize = 128;

/// Why a dialed number was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// Nothing but separators (or nothing at all).
    #[error("destination is empty")]
    Empty,
    /// Longer than [`MAX_INPUT`] bytes.
    #[error("destination is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_DIGITS`] digits.
    #[error("destination has more than {max} digits")]
    TooManyDigits {
        /// The limit.
        max: usize,
    },
    /// A character that is neither a digit nor a visual separator.
    #[error("destination holds a character that is not a digit or separator at byte {at}")]
    BadCharacter {
        /// Byte offset of the character.
        at: usize,
    },
    /// A `+` anywhere but first.
    #[error("'+' is only allowed as the first character (byte {at})")]
    MisplacedPlus {
        /// Byte offset of the `+`.
        at: usize,
    },
    /// `+` or `00` with no number after it.
    #[error("international prefix without a number")]
    NoNumber,
}

/// A normalised destination.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The digits as dialed (separators dropped, `+` kept, `00` kept).
    dialed: Box<str>,
    /// `+` and the digits for international numbers, the digits otherwise.
    canonical: Box<str>,
}

impl Destination {
    /// Normalises `input` (see the module documentation).
    pub fn parse(input: &str) -> Result<Self, DestinationError> {
        let (dialed, canonical) = normalise(input, false)?;
        Ok(Self {
            dialed: dialed.into(),
            canonical: canonical.into(),
        })
    }

    /// The digits as dialed, separators dropped (`+` kept, `00` not
    /// rewritten): what emergency numbers are compared against.
    pub fn dialed(&self) -> &str {
        &self.dialed
    }

    /// The canonical form: `+` then digits for an international number
    /// (dialed with `+` or `00`), the digits otherwise. Prefix rules and
    /// the cost table match against this.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// `true` when dialed with `+` or `00`.
    pub fn is_international(&self) -> bool {
        self.canonical.starts_with('+')
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Destination({:?})", &*self.canonical)
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

/// Normalises a prefix from a policy (`+44`, `0044`, `00`, `+`, `0900`):
/// the same rules as [`Destination::parse`], but a bare `+` / `00` (every
/// international number) is allowed. Returns the canonical form.
pub fn normalise_prefix(input: &str) -> Result<String, DestinationError> {
    normalise(input, true).map(|(_, c)| c)
}

fn normalise(input: &str, prefix: bool) -> Result<(String, String), DestinationError> {
    if input.len() > MAX_INPUT {
        return Err(DestinationError::TooLong { max: MAX_INPUT });
    }
    let mut dialed = String::with_capacity(input.len().min(MAX_DIGITS + 1));
    let mut digits = 0usize;
    for (at, c) in input.char_indices() {
        match c {
            '0'..='9' => {
                digits += 1;
                if digits > MAX_DIGITS {
                    return Err(DestinationError::TooManyDigits { max: MAX_DIGITS });
                }
                dialed.push(c);
            }
            '+' if dialed.is_empty() => dialed.push('+'),
            '+' => return Err(DestinationError::MisplacedPlus { at }),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return Err(DestinationError::BadCharacter { at }),
        }
    }
    if dialed.is_empty() {
        return Err(DestinationError::Empty);
    }
    let canonical = if let Some(rest) = dialed.strip_prefix('+') {
        format!("+{rest}")
    } else if let Some(rest) = dialed.strip_prefix("00") {
        format!("+{rest}")
    } else {
        dialed.clone()
    };
    if canonical == "+" && !prefix {
        return Err(DestinationError::NoNumber);
    }
    Ok((dialed, canonical))
}

/// Entry points for the `toll_destination` fuzz target (and the unit test
/// that replays its corpus).
#[doc(hidden)]
pub mod fuzzing {
    use super::{Destination, MAX_DIGITS, normalise_prefix};

    /// Parses arbitrary bytes as a destination and checks the invariants:
    /// the canonical form is `+`? then 1..=32 digits, parsing is
    /// idempotent on the canonical form, and the prefix parser agrees.
    pub fn toll_destination(data: &[u8]) {
        let input = String::from_utf8_lossy(data);
        if let Ok(d) = Destination::parse(&input) {
            let c = d.canonical();
            let digits = c.strip_prefix('+').unwrap_or(c);
            assert!(!digits.is_empty() && digits.len() <= MAX_DIGITS);
            assert!(digits.bytes().all(|b| b.is_ascii_digit()));
            assert!(d.dialed().len() >= digits.len());
            let again = Destination::parse(c).expect("canonical form re-parses");
            assert_eq!(again.canonical(), c);
            assert_eq!(normalise_prefix(&input).as_deref(), Ok(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plus_and_00_are_the_same_international_number() {
        let a = Destination::parse("+44 (20) 7946-0958").unwrap();
        let b = Destination::parse("0044 20 7946 0958").unwrap();
        assert_eq!(a.canonical(), "+442079460958");
        assert_eq!(a.canonical(), b.canonical());
        assert!(a.is_international() && b.is_international());
        assert_eq!(b.dialed(), "00442079460958");
        let n = Destination::parse("020 7946.0958").unwrap();
        assert_eq!(n.canonical(), "02079460958");
        assert!(!n.is_international());
    }

    #[test]
    fn junk_is_refused_with_a_specific_error() {
        assert_eq!(Destination::parse(""), Err(DestinationError::Empty));
        assert_eq!(Destination::parse(" - "), Err(DestinationError::Empty));
        assert_eq!(
            Destination::parse("12a4"),
            Err(DestinationError::BadCharacter { at: 2 })
        );
        assert_eq!(
            Destination::parse("*69"),
            Err(DestinationError::BadCharacter { at: 0 })
        );
        assert_eq!(
            Destination::parse("12+4"),
            Err(DestinationError::MisplacedPlus { at: 2 })
        );
        assert_eq!(Destination::parse("+"), Err(DestinationError::NoNumber));
        assert_eq!(Destination::parse("00"), Err(DestinationError::NoNumber));
        assert_eq!(
            Destination::parse(&"1".repeat(33)),
            Err(DestinationError::TooManyDigits { max: 32 })
        );
        assert_eq!(
            Destination::parse(&" ".repeat(129)),
            Err(DestinationError::TooLong { max: 128 })
        );
        assert_eq!(
            Destination::parse("12\u{0}3"),
            Err(DestinationError::BadCharacter { at: 2 })
        );
    }

    #[test]
    fn prefixes_may_be_bare_international() {
        assert_eq!(normalise_prefix("00").unwrap(), "+");
        assert_eq!(normalise_prefix("+").unwrap(), "+");
        assert_eq!(normalise_prefix("0044").unwrap(), "+44");
        assert_eq!(normalise_prefix("0900").unwrap(), "0900");
    }

    proptest! {
        #[test]
        fn never_panics_and_invariants_hold(s in "\\PC{0,160}") {
            fuzzing::toll_destination(s.as_bytes());
        }

        #[test]
        fn separators_never_change_the_number(
            digits in "[1-9][0-9]{0,19}",
            seps in proptest::collection::vec(prop::sample::select(vec![" ", "-", ".", "(", ")", "/"]), 0..20),
        ) {
            let mut noisy = String::new();
            for (i, d) in digits.chars().enumerate() {
                if let Some(s) = seps.get(i) { noisy.push_str(s); }
                noisy.push(d);
            }
            let a = Destination::parse(&digits).unwrap();
            let b = Destination::parse(&noisy).unwrap();
            prop_assert_eq!(a.canonical(), b.canonical());
        }

        #[test]
        fn plus_equals_00(digits in "[0-9]{1,30}") {
            let a = Destination::parse(&format!("+{digits}")).unwrap();
            let b = Destination::parse(&format!("00{digits}")).unwrap();
            prop_assert_eq!(a.canonical(), b.canonical());
        }
    }
}
