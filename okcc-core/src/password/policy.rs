//! The policy object: which rules apply, and how strictly.

use serde::{Deserialize, Serialize};

/// Input longer than this many bytes is refused as
/// [`Violation::TooLong`](super::Violation::TooLong) before any other work,
/// whatever [`PasswordPolicy::max_len`] says, so a 1 MB "password" costs
/// nothing and never reaches zxcvbn.
pub const MAX_INPUT_BYTES: usize = 256;

/// The password rules (requirement 1.2). Every field is public: start from
/// [`PasswordPolicy::default()`] and change what you need.
///
/// The defaults are the source's rules, quoted from requirement 1.2:
///
/// > - length greater than 8 and less than 32 (so 9..=31 characters);
/// > - must be made of digits, letters and symbols (at least one of each);
/// > - the only symbols allowed are `! @ # $ % ^ * ? _ - +`;
/// > - no runs of consecutive letters or digits (`ABC`, `xyz`, `1234`);
/// > - no runs of keys that sit next to each other on the keyboard
/// >   (`qwer`, `ASD`, `!@#$`);
/// > - the source's example of a good password: `TAV#1532afhj@qF344`.
///
/// plus requirement 1.3 (the common-password list and a zxcvbn score of at
/// least 3) and the rule that a password must not contain the account's
/// user name or extension number.
///
/// **Run length.** The source names `ABC`, `xyz`, `ASD` (three characters)
/// and `1234`, `qwer`, `!@#$` (four) as runs, and gives
/// `TAV#1532afhj@qF344` as a good password. A run length of 3 refuses every
/// one of the examples and still accepts the good password (its longest
/// runs, `hj` on the home row and `34`, have two characters), so 3 is the
/// default for both [`sequential_run`](Self::sequential_run) and
/// [`keyboard_run`](Self::keyboard_run). A length of 4 would let `abc`
/// through, which the source names as weak; 2 would refuse most passwords
/// (any `ab`, `12`, `er`).
///
/// A run counts in either direction (`abc` and `cba`), case-insensitively.
/// Letter runs follow the alphabet (`xyz`), digit runs count up or down
/// (`123`, `987`). Keyboard runs follow one US keyboard row:
/// `1234567890`, `qwertyuiop`, `asdfghjkl`, `zxcvbnm` and the shifted
/// `!@#$%^&*()`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PasswordPolicy {
    /// Minimum length in characters (default 9).
    pub min_len: usize,
    /// Maximum length in characters (default 31). Input over
    /// [`MAX_INPUT_BYTES`] bytes is refused whatever this says.
    pub max_len: usize,
    /// At least one digit `0-9` (default on).
    pub require_digit: bool,
    /// At least one letter (default on).
    pub require_letter: bool,
    /// At least one symbol: any character that is not a letter, digit,
    /// white space or control character (default on).
    pub require_symbol: bool,
    /// The only symbols allowed (default `!@#$%^*?_-+`). `Some` also
    /// refuses white space, control characters and anything outside ASCII,
    /// each with its own violation; `None` allows every character.
    pub allowed_symbols: Option<String>,
    /// Refuse this many consecutive letters or digits, ascending or
    /// descending (default 3; values below 2 act as 2; `None` turns the
    /// rule off).
    pub sequential_run: Option<usize>,
    /// Refuse this many neighbouring keys along one keyboard row, in either
    /// direction (default 3; values below 2 act as 2; `None` turns the rule
    /// off).
    pub keyboard_run: Option<usize>,
    /// Refuse passwords that contain the account's user name or extension
    /// number, ignoring case (default on).
    pub refuse_user_name: bool,
    /// User names and extensions shorter than this are not looked for
    /// (default 3), so a one-letter name does not forbid that letter.
    pub user_name_min_len: usize,
    /// Refuse passwords on the [`WeakList`](super::WeakList) (default on).
    pub refuse_common: bool,
    /// Minimum zxcvbn score, 0–4 (default 3; `None` skips zxcvbn).
    pub min_score: Option<u8>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_len: 9,
            max_len: 31,
            require_digit: true,
            require_letter: true,
            require_symbol: true,
            allowed_symbols: Some(Self::SOURCE_SYMBOLS.to_owned()),
            sequential_run: Some(3),
            keyboard_run: Some(3),
            refuse_user_name: true,
            user_name_min_len: 3,
            refuse_common: true,
            min_score: Some(3),
        }
    }
}

impl PasswordPolicy {
    /// The symbols the source allows: `!@#$%^*?_-+`.
    pub const SOURCE_SYMBOLS: &'static str = "!@#$%^*?_-+";

    /// A policy with every rule off except the input cap. Use it as the
    /// base for a policy that checks only what you switch on.
    pub fn permissive() -> Self {
        Self {
            min_len: 0,
            max_len: usize::MAX,
            require_digit: false,
            require_letter: false,
            require_symbol: false,
            allowed_symbols: None,
            sequential_run: None,
            keyboard_run: None,
            refuse_user_name: false,
            user_name_min_len: 3,
            refuse_common: false,
            min_score: None,
        }
    }
}
