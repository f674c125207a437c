//! What a refused password did wrong.

use std::fmt;

/// One failed rule. Each has a stable [`code`](Self::code) (for programs and
/// translations) and a human [`message`](Self::message).
///
/// Messages never quote the password or any part of it, so a rejection can
/// be logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Violation {
    /// Fewer characters than the policy's minimum.
    TooShort {
        /// The minimum length, in characters.
        min: usize,
    },
    /// More characters than the policy's maximum (or more than
    /// [`MAX_INPUT_BYTES`](super::MAX_INPUT_BYTES) bytes).
    TooLong {
        /// The maximum length, in characters.
        max: usize,
    },
    /// No digit `0-9`.
    MissingDigit,
    /// No letter.
    MissingLetter,
    /// No symbol.
    MissingSymbol,
    /// An ASCII symbol outside the allowed set.
    DisallowedSymbol,
    /// A space, tab or other white space.
    Whitespace,
    /// A control character.
    ControlCharacter,
    /// A character outside ASCII.
    NonAscii,
    /// A run of consecutive letters (`abc`, `CBA`) or digits (`123`, `987`).
    SequentialRun {
        /// The run length that is refused.
        len: usize,
    },
    /// A run of neighbouring keys on a US keyboard row (`qwe`, `ASD`,
    /// `!@#`, `098`), in either direction.
    KeyboardRun {
        /// The run length that is refused.
        len: usize,
    },
    /// Contains the account's user name or extension number
    /// (case-insensitive).
    ContainsUserName,
    /// On the list of common passwords.
    CommonPassword,
    /// zxcvbn judges it too easy to guess.
    TooGuessable {
        /// The score reached (0–4).
        score: u8,
        /// The score required.
        min: u8,
    },
}

impl Violation {
    /// The stable machine-readable code, e.g. `"keyboard_run"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::MissingDigit => "missing_digit",
            Self::MissingLetter => "missing_letter",
            Self::MissingSymbol => "missing_symbol",
            Self::DisallowedSymbol => "disallowed_symbol",
            Self::Whitespace => "whitespace",
            Self::ControlCharacter => "control_character",
            Self::NonAscii => "non_ascii",
            Self::SequentialRun { .. } => "sequential_run",
            Self::KeyboardRun { .. } => "keyboard_run",
            Self::ContainsUserName => "contains_user_name",
            Self::CommonPassword => "common_password",
            Self::TooGuessable { .. } => "too_guessable",
        }
    }

    /// A sentence for a person, in English.
    pub fn message(&self) -> String {
        match self {
            Self::TooShort { min } => format!("must be at least {min} characters long"),
            Self::TooLong { max } => format!("must be at most {max} characters long"),
            Self::MissingDigit => "must contain at least one digit".to_owned(),
            Self::MissingLetter => "must contain at least one letter".to_owned(),
            Self::MissingSymbol => "must contain at least one symbol".to_owned(),
            Self::DisallowedSymbol => "contains a symbol that is not allowed".to_owned(),
            Self::Whitespace => "must not contain spaces or other white space".to_owned(),
            Self::ControlCharacter => "must not contain control characters".to_owned(),
            Self::NonAscii => "must contain only ASCII characters".to_owned(),
            Self::SequentialRun { len } => format!(
                "must not contain {len} or more consecutive letters or digits in a row (like abc, cba, 123, 321)"
            ),
            Self::KeyboardRun { len } => format!(
                "must not contain {len} or more neighbouring keys of a keyboard row (like qwe, asd, 789, !@#)"
            ),
            Self::ContainsUserName => {
                "must not contain the user name or extension number".to_owned()
            }
            Self::CommonPassword => "is one of the most common passwords".to_owned(),
            Self::TooGuessable { score, min } => {
                format!("is too easy to guess (strength {score} of 4, at least {min} required)")
            }
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// A refused password: every rule it failed, never only the first.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("password refused: {}", join(.violations))]
#[non_exhaustive]
pub struct Rejection {
    violations: Vec<Violation>,
    score: Option<u8>,
}

fn join(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(Violation::code)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Rejection {
    pub(super) fn new(violations: Vec<Violation>, score: Option<u8>) -> Self {
        Self { violations, score }
    }

    /// Every failed rule, in a stable order (the order of the rules in
    /// [`PasswordPolicy`](super::PasswordPolicy)).
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The zxcvbn score, when zxcvbn ran (it is skipped when a cheaper rule
    /// already refused the password).
    pub fn score(&self) -> Option<u8> {
        self.score
    }

    /// Whether some violation has this code.
    pub fn has(&self, code: &str) -> bool {
        self.violations.iter().any(|v| v.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_1_1_codes_are_stable_and_distinct() {
        let all = [
            Violation::TooShort { min: 9 },
            Violation::TooLong { max: 31 },
            Violation::MissingDigit,
            Violation::MissingLetter,
            Violation::MissingSymbol,
            Violation::DisallowedSymbol,
            Violation::Whitespace,
            Violation::ControlCharacter,
            Violation::NonAscii,
            Violation::SequentialRun { len: 3 },
            Violation::KeyboardRun { len: 3 },
            Violation::ContainsUserName,
            Violation::CommonPassword,
            Violation::TooGuessable { score: 1, min: 3 },
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(Violation::code).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(Violation::KeyboardRun { len: 3 }.code(), "keyboard_run");
        assert!(all.iter().all(|v| !v.message().is_empty()));
        assert!(Violation::TooShort { min: 9 }.message().contains('9'));
    }
}
