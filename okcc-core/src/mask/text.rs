//! Masking digits in free text: display names, notes, search echoes and
//! error messages, so a number hidden in one field does not leak through
//! another field of the same view.
//!
//! | text holds | [`MaskMode::MiddleFour`] | [`MaskMode::Full`] |
//! |---|---|---|
//! | a digit run of 7 or more digits (separators ` -.()/` may join it) | every digit of the run becomes `*` | the run becomes `00000000` |
//! | a run of 4–6 digits that occurs inside a known number of the view | every digit becomes `*` | the run becomes `00000000` |
//! | shorter runs (`Room 12`, `ext 1001`) | kept | kept |
//!
//! Free text hides *all* digits of a run, not just the middle four: the
//! same number written differently in two fields (`+86 138…` in the phone
//! field, `0086138…` in a note) must not reveal different digits that
//! together rebuild it. Any Unicode decimal digit (`１３８` in full width,
//! Arabic-Indic digits) counts as a digit, and so does a percent-escaped
//! ASCII digit (`%31`).

use super::MaskMode;
use super::number::SHORT_NUMBER_DIGITS;

/// Runs of at least this many digits are hidden when they occur inside a
/// known number of the view.
pub const KNOWN_FRAGMENT_DIGITS: usize = 4;

/// Masks digits in free text (see the module docs for the rules).
///
/// Build one per view with the view's numbers as
/// [`known`](TextMasker::with_known_number), then mask every text field.
#[derive(Clone, Default)]
pub struct TextMasker {
    mode: MaskMode,
    known: Vec<String>,
}

impl std::fmt::Debug for TextMasker {
    /// Never prints the known numbers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextMasker")
            .field("mode", &self.mode)
            .field("known", &self.known.len())
            .finish()
    }
}

impl TextMasker {
    /// A masker for `mode` with no known numbers.
    pub fn new(mode: MaskMode) -> Self {
        Self {
            mode,
            known: Vec::new(),
        }
    }

    /// Adds a number of the view (any form; only its ASCII digits count).
    /// Fragments of 4 or more of its digits are then hidden in free text.
    #[must_use]
    pub fn with_known_number(mut self, number: &str) -> Self {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= KNOWN_FRAGMENT_DIGITS {
            self.known.push(digits);
        }
        self
    }

    /// Masks `text`.
    pub fn mask(&self, text: &str) -> String {
        mask_runs(text, self.mode, |digits| {
            digits.chars().count() >= SHORT_NUMBER_DIGITS
                || (digits.len() >= KNOWN_FRAGMENT_DIGITS
                    && self.known.iter().any(|k| k.contains(digits)))
        })
    }
}

/// Masks free text with no known numbers: runs of 7 or more digits are
/// hidden. Shorthand for `TextMasker::new(mode).mask(text)`.
pub fn mask_text(text: &str, mode: MaskMode) -> String {
    TextMasker::new(mode).mask(text)
}

/// Masks every digit of `text`, whatever the run length: what the masker
/// does with input it cannot parse, so nothing is echoed in clear.
/// [`MaskMode::MiddleFour`] turns each digit into `*` (the length is
/// kept); [`MaskMode::Full`] turns each digit run into `00000000`.
pub fn mask_strict(text: &str, mode: MaskMode) -> String {
    mask_runs(text, mode, |_| true)
}

/// Hides runs of 7 or more *contiguous* digits (no separators), each digit
/// becoming `*`: used for the kept parts of a URI (host, parameters,
/// headers), where dots join IPv4 octets that are not a phone number.
pub(crate) fn hide_long_contiguous_runs(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let (len, is_digit) = digit_at(text, i);
        if !is_digit {
            out.push_str(&text[i..i + len]);
            i += len;
            continue;
        }
        let start = i;
        let mut count = 0;
        while i < bytes.len() {
            let (len, is_digit) = digit_at(text, i);
            if !is_digit {
                break;
            }
            count += 1;
            i += len;
        }
        if count >= SHORT_NUMBER_DIGITS {
            star_digits(&text[start..i], out);
        } else {
            out.push_str(&text[start..i]);
        }
    }
}

/// Length in bytes of the character (or `%3N` escape) at byte `i`, and
/// whether it is a digit. `i` must be on a character boundary.
fn digit_at(text: &str, i: usize) -> (usize, bool) {
    let rest = &text[i..];
    let b = rest.as_bytes();
    if let [b'%', b'3', d, ..] = b
        && d.is_ascii_digit()
    {
        return (3, true);
    }
    match rest.chars().next() {
        Some(c) => (c.len_utf8(), c.is_numeric()),
        None => (1, false),
    }
}

/// Replaces each digit (or digit escape) of `run` with one `*` per
/// character, keeping separators.
fn star_digits(run: &str, out: &mut String) {
    let mut i = 0;
    while i < run.len() {
        let (len, is_digit) = digit_at(run, i);
        if is_digit {
            out.extend(std::iter::repeat_n('*', run[i..i + len].chars().count()));
        } else {
            out.push_str(&run[i..i + len]);
        }
        i += len;
    }
}

fn is_joiner(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')' | '/')
}

/// Finds digit runs (digits joined by separators) and masks those `hide`
/// says yes to. `hide` gets the run's digits (escapes decoded to one char).
fn mask_runs(text: &str, mode: MaskMode, hide: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let (len, is_digit) = digit_at(text, i);
        if !is_digit {
            out.push_str(&text[i..i + len]);
            i += len;
            continue;
        }
        // Extend over digits and joiners; end at the last digit.
        let start = i;
        let mut end = i;
        let mut digits = String::new();
        let mut j = i;
        while j < text.len() {
            let (len, is_digit) = digit_at(text, j);
            if is_digit {
                digits.push(if len == 3 && text.as_bytes()[j] == b'%' {
                    char::from(text.as_bytes()[j + 2])
                } else {
                    text[j..].chars().next().unwrap_or('0')
                });
                j += len;
                end = j;
            } else if text[j..].chars().next().is_some_and(is_joiner) {
                j += len;
            } else {
                break;
            }
        }
        let run = &text[start..end];
        if hide(&digits) {
            match mode {
                MaskMode::MiddleFour => star_digits(run, &mut out),
                MaskMode::Full => out.push_str(super::FULL_MASK),
            }
        } else {
            out.push_str(run);
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_8_free_text_hides_long_runs_and_keeps_short_ones() {
        let m = MaskMode::MiddleFour;
        assert_eq!(mask_text("Zhang 138 1234 5678", m), "Zhang *** **** ****");
        assert_eq!(mask_text("Room 12, ext 1001", m), "Room 12, ext 1001");
        assert_eq!(
            mask_text("call 13812345678!", MaskMode::Full),
            "call 00000000!"
        );
        assert_eq!(
            mask_text("mail 13812345678@163.com", m),
            "mail ***********@163.com"
        );
    }

    #[test]
    fn req_8_free_text_catches_unicode_and_escaped_digits() {
        let m = MaskMode::MiddleFour;
        assert_eq!(mask_text("１３８１２３４５６７８", m), "***********");
        assert_eq!(
            mask_text("%31%33%38%31%32%33%34", m),
            "*********************"
        );
    }

    #[test]
    fn req_8_known_number_fragments_are_hidden() {
        let masker = TextMasker::new(MaskMode::MiddleFour).with_known_number("+86 138 1234 5678");
        assert_eq!(
            masker.mask("ends in 5678, room 12"),
            "ends in ****, room 12"
        );
        assert_eq!(masker.mask("year 2020"), "year 2020");
        assert!(!format!("{masker:?}").contains("5678"));
    }

    #[test]
    fn req_8_strict_hides_every_digit() {
        assert_eq!(mask_strict("a1b22", MaskMode::MiddleFour), "a*b**");
        assert_eq!(mask_strict("a1b22", MaskMode::Full), "a00000000b00000000");
        let mut out = String::new();
        hide_long_contiguous_runs("10.0.0.1:5060;x=13812345678", &mut out);
        assert_eq!(out, "10.0.0.1:5060;x=***********");
    }
}
