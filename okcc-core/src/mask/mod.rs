//! Phone-number masking (requirement 8): one number, SIP URI or tel URI at
//! a time, and free text.
//!
//! Numbers are parsed with [`ParsedNumber::parse`]; the country code of an
//! international number comes from libphonenumber's metadata (the
//! `phonenumber` crate). Two modes (requirement 8.3):
//!
//! | input | [`MaskMode::MiddleFour`] | [`MaskMode::Full`] |
//! |---|---|---|
//! | mobile `13812345678` | `138****5678` | `00000000` |
//! | country code `+86 138 1234 5678` (or `0086…`) | `+86 138 **** 5678`: the country code is kept and not counted; the middle four of the national number are hidden | `00000000` |
//! | landline with area code `010-12345678` | `010-****5678`: trunk prefix and area code count as digits of the number | `00000000` |
//! | short number, fewer than 7 digits (`1001`, `10086`, `110`) | kept as it is: extensions and service codes are not personal numbers | `00000000` |
//! | extension `010-12345678 ext. 12`, `…#12`, `tel:…;ext=12` | the number is masked, the extension (up to 6 digits) kept | `00000000 ext. 12` |
//! | SIP URI `sip:13812345678@pbx;user=phone` | `sip:138****5678@pbx;user=phone` | `sip:00000000@pbx;user=phone` |
//! | tel URI `tel:+86-138-1234-5678` | `tel:+86-138-****-5678` | `tel:00000000` |
//! | name-addr `"Zhang 13812345678" <sip:…>` | display name masked as free text ([`TextMasker`]) | the same |
//! | anything else (`sip:alice@host`, `138-abc`) | [`mask_strict`]: every digit becomes `*` | every digit run becomes `00000000` |
//!
//! "Middle four" of `n` digits hides the four starting at `(n - 4) / 2`,
//! so `n - 4` digits stay visible, the extra one at the end when `n` is
//! odd. Every hidden digit becomes one `*` and separators stay, so the
//! masked form has as many characters as the input. In the parts of a URI
//! that are kept (host, parameters, headers), any run of 7 or more
//! contiguous digits is hidden too, so a number cannot ride along in a
//! parameter; shorter runs (ports, IPv4 octets) are kept.
//!
//! Error messages and `Debug` output of this module never contain the
//! input's digits.
//!
//! ```
//! use okcc_core::mask::{mask_best_effort, mask_number, MaskMode};
//!
//! assert_eq!(mask_number("13812345678", MaskMode::MiddleFour).unwrap(), "138****5678");
//! assert_eq!(mask_number("sip:13812345678@pbx.example.com", MaskMode::Full).unwrap(),
//!            "sip:00000000@pbx.example.com");
//! // Input that is not a number is still never echoed in clear.
//! assert_eq!(mask_best_effort("138-1234-56a78", MaskMode::MiddleFour), "***-****-**a**");
//! ```

mod number;
mod text;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use number::{
    MAX_DIGITS, MAX_EXTENSION_DIGITS, MAX_INPUT_LEN, NumberError, NumberForm, NumberKind,
    ParsedNumber, SHORT_NUMBER_DIGITS,
};
pub use text::{KNOWN_FRAGMENT_DIGITS, TextMasker, mask_strict, mask_text};

use number::Segment;

/// What a phone shows for a fully hidden number (requirement 8.3).
pub const FULL_MASK: &str = "00000000";

/// How numbers are masked (requirement 8.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MaskMode {
    /// Show the number as `00000000`.
    #[serde(rename = "full")]
    Full,
    /// Hide the middle four digits: `13812345678` → `138****5678`.
    #[default]
    #[serde(rename = "middle4")]
    MiddleFour,
}

impl MaskMode {
    /// The mode's name in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::MiddleFour => "middle4",
        }
    }
}

impl fmt::Display for MaskMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a mask mode name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown mask mode (expected `middle4` or `full`)")]
#[non_exhaustive]
pub struct UnknownMaskMode;

impl FromStr for MaskMode {
    type Err = UnknownMaskMode;
    fn from_str(s: &str) -> Result<Self, UnknownMaskMode> {
        match s {
            "full" => Ok(Self::Full),
            "middle4" | "middle-four" => Ok(Self::MiddleFour),
            _ => Err(UnknownMaskMode),
        }
    }
}

impl ParsedNumber<'_> {
    /// The masked form of the whole input (see the module docs).
    pub fn mask(&self, mode: MaskMode) -> String {
        let mut out = String::with_capacity(self.number.len() + 16);
        for segment in &self.segments {
            match segment {
                Segment::Keep(s) => text::hide_long_contiguous_runs(s, &mut out),
                Segment::Text(s) => {
                    out.push_str(
                        &TextMasker::new(mode)
                            .with_known_number(&self.digits)
                            .mask(s),
                    );
                }
                Segment::Number => self.mask_number_part(mode, &mut out),
            }
        }
        out
    }

    /// The digit indices (into [`ParsedNumber::digits`]) that "middle
    /// four" hides; empty for short numbers.
    pub fn hidden_digits(&self) -> std::ops::Range<usize> {
        if self.kind == NumberKind::Short {
            return 0..0;
        }
        let national = self.digits.len().saturating_sub(self.country_code_len);
        let start = self.country_code_len + national.saturating_sub(4) / 2;
        start..(start + 4).min(self.digits.len())
    }

    fn mask_number_part(&self, mode: MaskMode, out: &mut String) {
        match mode {
            MaskMode::Full => out.push_str(FULL_MASK),
            MaskMode::MiddleFour => {
                let hidden = self.hidden_digits();
                let skip = if self.number.starts_with("00") { 2 } else { 0 };
                let mut index = 0;
                for (at, c) in self.number.char_indices() {
                    if c.is_ascii_digit() && at >= skip {
                        out.push(if hidden.contains(&index) { '*' } else { c });
                        index += 1;
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }
}

/// Masks one number, SIP/tel URI or name-addr; an error if it is not one
/// (then use [`mask_strict`] or [`mask_best_effort`]).
pub fn mask_number(input: &str, mode: MaskMode) -> Result<String, NumberError> {
    ParsedNumber::parse(input).map(|p| p.mask(mode))
}

/// Masks one number, SIP/tel URI or name-addr if it parses, and every
/// digit of it otherwise ([`mask_strict`]): the output never holds the
/// input's number in clear.
pub fn mask_best_effort(input: &str, mode: MaskMode) -> String {
    match ParsedNumber::parse(input) {
        Ok(parsed) => parsed.mask(mode),
        Err(_) => mask_strict(input, mode),
    }
}

/// Entry points for fuzz targets; not part of the stable API.
#[doc(hidden)]
pub mod fuzzing {
    use super::{MaskMode, ParsedNumber, mask_best_effort};

    /// Parses and masks arbitrary bytes in both modes and checks the
    /// invariants: "middle four" keeps every character or replaces it with
    /// `*`, and a parsed number of 7 or more digits loses at least four.
    pub fn mask_number(data: &[u8]) {
        let input = String::from_utf8_lossy(data);
        let middle = mask_best_effort(&input, MaskMode::MiddleFour);
        assert_eq!(middle.chars().count(), input.chars().count(), "length kept");
        for (a, b) in input.chars().zip(middle.chars()) {
            assert!(a == b || b == '*', "only digits are replaced");
        }
        let full = mask_best_effort(&input, MaskMode::Full);
        if let Ok(parsed) = ParsedNumber::parse(&input) {
            let digits = parsed.digits();
            if digits.len() >= super::SHORT_NUMBER_DIGITS {
                let visible = middle.chars().filter(char::is_ascii_digit).count();
                let before = input.chars().filter(char::is_ascii_digit).count();
                assert!(visible + 4 <= before, "four digits hidden");
                assert!(!middle.contains(digits), "number not in clear");
                assert!(!full.contains(digits), "number not in clear");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn m4(s: &str) -> String {
        mask_number(s, MaskMode::MiddleFour).unwrap()
    }

    #[test]
    fn req_8_3_middle_four_examples() {
        assert_eq!(m4("13812345678"), "138****5678");
        assert_eq!(m4("+86 138 1234 5678"), "+86 138 **** 5678");
        assert_eq!(m4("008613812345678"), "0086138****5678");
        assert_eq!(m4("+44 20 7946 0958"), "+44 20 7*** *958");
        assert_eq!(m4("010-12345678"), "010-****5678");
        assert_eq!(m4("1001"), "1001");
        assert_eq!(m4("010-12345678 ext. 12"), "010-****5678 ext. 12");
        assert_eq!(
            m4("sip:13812345678@pbx.example.com;user=phone"),
            "sip:138****5678@pbx.example.com;user=phone"
        );
        assert_eq!(
            m4("tel:+86-138-1234-5678;ext=12"),
            "tel:+86-138-****-5678;ext=12"
        );
        assert_eq!(
            m4("\"Zhang 13812345678\" <sip:13812345678@10.0.0.1:5060>;tag=9"),
            "\"Zhang ***********\" <sip:138****5678@10.0.0.1:5060>;tag=9"
        );
    }

    #[test]
    fn req_8_3_full_mode_shows_zeros() {
        let full = |s| mask_number(s, MaskMode::Full).unwrap();
        assert_eq!(full("13812345678"), "00000000");
        assert_eq!(full("+86 138 1234 5678"), "00000000");
        assert_eq!(full("1001"), "00000000");
        assert_eq!(
            full("sip:13812345678@pbx;user=phone"),
            "sip:00000000@pbx;user=phone"
        );
        assert_eq!(full("010-12345678#12"), "00000000#12");
    }

    #[test]
    fn req_8_unparseable_input_is_masked_strictly() {
        assert_eq!(
            mask_best_effort("sip:alice@example.com", MaskMode::MiddleFour),
            "sip:alice@example.com"
        );
        assert_eq!(
            mask_best_effort("138abc45678", MaskMode::MiddleFour),
            "***abc*****"
        );
        assert_eq!(
            mask_best_effort("138abc45678", MaskMode::Full),
            "00000000abc00000000"
        );
    }

    #[test]
    fn req_8_3_mode_names_parse() {
        assert_eq!("middle4".parse(), Ok(MaskMode::MiddleFour));
        assert_eq!("full".parse(), Ok(MaskMode::Full));
        assert_eq!("half".parse::<MaskMode>(), Err(UnknownMaskMode));
    }

    proptest! {
        /// Requirement 8.3: middle four keeps the length and hides exactly
        /// the middle four digits of the national number.
        #[test]
        fn req_8_3_middle_four_keeps_length_and_hides_middle(
            plus in any::<bool>(),
            digits in "[1-9][0-9]{6,14}",
            sep in prop::sample::select(vec!["", " ", "-"]),
        ) {
            let written: String = digits
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let s = if i > 0 && i % 4 == 0 { sep } else { "" };
                    s.chars().chain(std::iter::once(c))
                })
                .collect();
            let input = if plus { format!("+{written}") } else { written };
            let parsed = ParsedNumber::parse(&input).unwrap();
            let masked = parsed.mask(MaskMode::MiddleFour);
            prop_assert_eq!(masked.chars().count(), input.chars().count());
            let stars = masked.chars().filter(|&c| c == '*').count();
            prop_assert_eq!(stars, 4);
            let hidden = parsed.hidden_digits();
            let shown: String = masked.chars().filter(char::is_ascii_digit).collect();
            let expected: String = digits
                .char_indices()
                .filter(|(i, _)| !hidden.contains(i))
                .map(|(_, c)| c)
                .collect();
            prop_assert_eq!(shown, expected);
            // The hidden digits are in the middle of the national number.
            let national = digits.len() - parsed.country_code_len();
            let before = hidden.start - parsed.country_code_len();
            let after = national - before - 4;
            prop_assert!(after == before || after == before + 1);
        }

        /// Masking any text never panics and, in middle-four mode, only
        /// replaces characters with `*`.
        #[test]
        fn req_8_masking_arbitrary_text_keeps_length(input in ".{0,80}") {
            fuzzing::mask_number(input.as_bytes());
        }
    }
}
