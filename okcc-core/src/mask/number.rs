//! Parsing one phone number, SIP URI or tel URI into the parts masking
//! needs: where the number's digits are, which of them are the country
//! code, and what is kept around them.
//!
//! The parser is strict on purpose: anything it does not understand is an
//! [`NumberError`], and the caller masks such input with
//! [`mask_strict`](super::mask_strict) instead, so a number is never echoed
//! in clear because the parser was unsure.

use std::fmt;

use phonenumber::metadata::DATABASE;

/// The longest input (in bytes) the number parser looks at.
pub const MAX_INPUT_LEN: usize = 512;

/// The most digits a number may have (E.164 allows 15; national dialling
/// prefixes and trunk codes can add a few).
pub const MAX_DIGITS: usize = 20;

/// The most digits an extension may have. A longer "extension" could be a
/// second phone number, so it is refused.
pub const MAX_EXTENSION_DIGITS: usize = 6;

/// Numbers with fewer digits than this are short numbers (extensions,
/// service codes such as `110` or `10086`).
pub const SHORT_NUMBER_DIGITS: usize = 7;

/// Why a text is not a phone number or SIP/tel URI the masker understands.
///
/// Messages never quote the input: it may hold a phone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// The text is empty or only whitespace.
    #[error("no number given")]
    Empty,
    /// The text is longer than [`MAX_INPUT_LEN`] bytes.
    #[error("input is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The number has no digits (for example `sip:alice@example.com`).
    #[error("no digits where the number should be")]
    NoDigits,
    /// The number has more than [`MAX_DIGITS`] digits.
    #[error("number has more than {max} digits")]
    TooManyDigits {
        /// The limit.
        max: usize,
    },
    /// A character that cannot appear in a phone number.
    #[error("character not allowed in a phone number at byte {at}")]
    BadCharacter {
        /// Byte offset in the input.
        at: usize,
    },
    /// The extension is malformed or longer than [`MAX_EXTENSION_DIGITS`].
    #[error("extension is malformed or longer than {max} digits")]
    BadExtension {
        /// The limit.
        max: usize,
    },
    /// A SIP or tel URI that is cut short or has no number part.
    #[error("SIP/tel URI is malformed")]
    BadUri,
}

/// What kind of number was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NumberKind {
    /// Written with `+` or `00`: the first digits are a country code.
    International {
        /// The country calling code, e.g. `86`; `None` if unassigned.
        country_code: Option<u16>,
    },
    /// A national number (possibly with trunk prefix and area code, e.g.
    /// `010-12345678`) of at least [`SHORT_NUMBER_DIGITS`] digits.
    National,
    /// Fewer than [`SHORT_NUMBER_DIGITS`] digits in all: an extension or a
    /// service code.
    Short,
}

/// The container the number was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NumberForm {
    /// A bare number such as `+86 138 1234 5678` or `1001`.
    Plain,
    /// The user part of a `sip:` or `sips:` URI.
    Sip,
    /// A `tel:` URI (RFC 3966).
    Tel,
}

/// One piece of the input, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// Kept, but runs of [`SHORT_NUMBER_DIGITS`] or more digits in it are
    /// hidden (URI parameters, host, headers).
    Keep(&'a str),
    /// Free text (a display name): masked with the free-text rules.
    Text(&'a str),
    /// The number itself.
    Number,
}

/// A phone number or SIP/tel URI, parsed for masking.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedNumber<'a> {
    pub(crate) segments: Vec<Segment<'a>>,
    /// The number as written: `+`, digits and visual separators.
    pub(crate) number: &'a str,
    /// The extension as written (marker and digits), kept in clear.
    pub(crate) extension: Option<&'a str>,
    /// The ASCII digits of the number, without country-code prefix marks.
    pub(crate) digits: String,
    /// How many of `digits` are the country code (0 if national).
    pub(crate) country_code_len: usize,
    pub(crate) kind: NumberKind,
    pub(crate) form: NumberForm,
    pub(crate) valid: bool,
}

impl fmt::Debug for ParsedNumber<'_> {
    /// Never prints the digits: a `Debug` line may reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedNumber")
            .field("kind", &self.kind)
            .field("form", &self.form)
            .field("digits", &self.digits.len())
            .field("valid", &self.valid)
            .finish_non_exhaustive()
    }
}

impl<'a> ParsedNumber<'a> {
    /// Parses one number, `sip:`/`sips:`/`tel:` URI, or name-addr
    /// (`"Name" <sip:…>`). Surrounding whitespace is kept as it is.
    pub fn parse(input: &'a str) -> Result<Self, NumberError> {
        if input.len() > MAX_INPUT_LEN {
            return Err(NumberError::TooLong { max: MAX_INPUT_LEN });
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(NumberError::Empty);
        }
        let lead = input.len() - input.trim_start().len();
        let (head, rest) = input.split_at(lead);
        let (body, tail) = rest.split_at(trimmed.len());
        let mut segments = vec![Segment::Keep(head)];
        let number = parse_body(body, lead, &mut segments)?;
        segments.push(Segment::Keep(tail));
        segments.retain(|s| !matches!(s, Segment::Keep("") | Segment::Text("")));
        Ok(number.finish(segments))
    }

    /// What kind of number this is.
    pub fn kind(&self) -> NumberKind {
        self.kind
    }

    /// Whether it was a bare number, a SIP URI or a tel URI.
    pub fn form(&self) -> NumberForm {
        self.form
    }

    /// The ASCII digits of the number (country code first if any), without
    /// separators or extension. Handle with care: this is the full number.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// A key that is the same however the number was written: `+` and the
    /// digits for international numbers, the digits otherwise. Used as the
    /// unique key of a number (recycle-bin conflicts). Not masked.
    pub fn key(&self) -> String {
        match self.kind {
            NumberKind::International { .. } => format!("+{}", self.digits),
            NumberKind::National | NumberKind::Short => self.digits.clone(),
        }
    }

    /// The extension as written (marker included), if any.
    pub fn extension(&self) -> Option<&'a str> {
        self.extension
    }

    /// `true` if libphonenumber's metadata (the `phonenumber` crate)
    /// considers this a valid E.164 number. National numbers are never
    /// validated (their country is unknown).
    pub fn is_valid_e164(&self) -> bool {
        self.valid
    }

    /// How many digits belong to the country code (0 for national and
    /// short numbers).
    pub fn country_code_len(&self) -> usize {
        self.country_code_len
    }
}

/// The number part found in a body, before segments are finished.
struct Found<'a> {
    number: &'a str,
    extension: Option<&'a str>,
    form: NumberForm,
}

impl<'a> Found<'a> {
    fn finish(self, segments: Vec<Segment<'a>>) -> ParsedNumber<'a> {
        let (international, digit_text) = strip_international(self.number);
        let digits: String = digit_text.chars().filter(char::is_ascii_digit).collect();
        let (kind, country_code_len, valid) = if international {
            let (code, len, valid) = country_code(&digits);
            (NumberKind::International { country_code: code }, len, valid)
        } else if digits.len() < SHORT_NUMBER_DIGITS {
            (NumberKind::Short, 0, false)
        } else {
            (NumberKind::National, 0, false)
        };
        let kind = if digits.len() < SHORT_NUMBER_DIGITS {
            NumberKind::Short
        } else {
            kind
        };
        ParsedNumber {
            segments,
            number: self.number,
            extension: self.extension,
            digits,
            country_code_len,
            kind,
            form: self.form,
            valid,
        }
    }
}

/// Splits a leading `+` or `00` off; returns whether one was there.
fn strip_international(number: &str) -> (bool, &str) {
    if let Some(rest) = number.strip_prefix('+') {
        (true, rest)
    } else if let Some(rest) = number.strip_prefix("00") {
        (true, rest)
    } else {
        (false, number)
    }
}

/// Finds the country calling code at the start of `digits` (the digits
/// after `+`): first with the `phonenumber` parser (which also validates),
/// then, for numbers it refuses, by looking the 1–3 digit prefix up in its
/// metadata (calling codes are prefix-free).
fn country_code(digits: &str) -> (Option<u16>, usize, bool) {
    if let Ok(parsed) = phonenumber::parse(None, format!("+{digits}")) {
        let code = parsed.code().value();
        let len = decimal_len(code);
        if digits.starts_with(&code.to_string()) {
            return (Some(code), len, parsed.is_valid());
        }
    }
    for len in 1..=3 {
        let Some(prefix) = digits.get(..len) else {
            break;
        };
        if let Ok(code) = prefix.parse::<u16>()
            && DATABASE.region(&code).is_some()
        {
            return (Some(code), len, false);
        }
    }
    (None, 0, false)
}

fn decimal_len(mut n: u16) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Parses the trimmed body at byte offset `offset` of the input, pushing
/// the segments around the number.
fn parse_body<'a>(
    body: &'a str,
    offset: usize,
    segments: &mut Vec<Segment<'a>>,
) -> Result<Found<'a>, NumberError> {
    if let Some(open) = body.find('<') {
        // name-addr: display name, then <URI>, then header parameters.
        let close = body[open..].find('>').ok_or(NumberError::BadUri)? + open;
        let (display, rest) = body.split_at(open);
        segments.push(Segment::Text(display));
        segments.push(Segment::Keep("<"));
        let inner = &rest[1..close - open];
        let found = parse_uri(inner, offset + open + 1, segments)?;
        segments.push(Segment::Keep(&rest[close - open..]));
        return Ok(found);
    }
    if scheme(body).is_some() {
        return parse_uri(body, offset, segments);
    }
    let found = parse_plain(body, offset)?;
    segments.push(Segment::Number);
    if let Some(ext) = found.extension {
        segments.push(Segment::Keep(ext));
    }
    Ok(found)
}

/// The URI scheme (`sip:`, `sips:`, `tel:`) and its length, case-insensitive.
fn scheme(s: &str) -> Option<(NumberForm, usize)> {
    let lower = |n: usize| s.get(..n).map(str::to_ascii_lowercase);
    if lower(4).as_deref() == Some("sip:") {
        Some((NumberForm::Sip, 4))
    } else if lower(5).as_deref() == Some("sips:") {
        Some((NumberForm::Sip, 5))
    } else if lower(4).as_deref() == Some("tel:") {
        Some((NumberForm::Tel, 4))
    } else {
        None
    }
}

fn parse_uri<'a>(
    uri: &'a str,
    offset: usize,
    segments: &mut Vec<Segment<'a>>,
) -> Result<Found<'a>, NumberError> {
    let (form, len) = scheme(uri).ok_or(NumberError::BadUri)?;
    let (head, rest) = uri.split_at(len);
    segments.push(Segment::Keep(head));
    // The number ends at the first of these; what follows is kept.
    let end = match form {
        // user part: before '@' (if any), ':' (password) and ';' (user params).
        NumberForm::Sip => {
            let user_end = rest.find('@').unwrap_or(rest.len());
            rest[..user_end]
                .find([':', ';', '?'])
                .unwrap_or(user_end)
                .min(rest.find(['?', '>']).unwrap_or(rest.len()))
        }
        NumberForm::Tel | NumberForm::Plain => rest.find([';', '?']).unwrap_or(rest.len()),
    };
    let (number, tail) = rest.split_at(end);
    if number.is_empty() {
        return Err(NumberError::BadUri);
    }
    let mut found = parse_plain(number, offset + len)?;
    found.form = form;
    segments.push(Segment::Number);
    if let Some(ext) = found.extension {
        segments.push(Segment::Keep(ext));
    }
    segments.push(Segment::Keep(tail));
    Ok(found)
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')' | '/')
}

/// A bare number: optional `+`, digits and visual separators, optional
/// extension (` ext 12`, ` ext. 12`, ` x12`, `#12`, `,12`).
fn parse_plain(text: &str, offset: usize) -> Result<Found<'_>, NumberError> {
    let start = usize::from(text.starts_with('+'));
    let body_end = text[start..]
        .find(|c: char| !(c.is_ascii_digit() || is_separator(c)))
        .map_or(text.len(), |i| i + start);
    let number = &text[..body_end];
    let number = number.trim_end();
    let ext = &text[number.len()..];
    let digit_count = number.chars().filter(char::is_ascii_digit).count();
    if digit_count == 0 {
        return Err(match text[start..].chars().next() {
            Some(c) if !is_separator(c) => NumberError::BadCharacter { at: offset + start },
            _ => NumberError::NoDigits,
        });
    }
    if digit_count > MAX_DIGITS {
        return Err(NumberError::TooManyDigits { max: MAX_DIGITS });
    }
    if !ext.is_empty() {
        check_extension(ext, offset + number.len())?;
    }
    Ok(Found {
        number,
        extension: (!ext.is_empty()).then_some(ext),
        form: NumberForm::Plain,
    })
}

/// `ws* marker ws* digits{1,6}` with marker one of `ext`, `ext.`, `x`, `#`, `,`.
fn check_extension(ext: &str, offset: usize) -> Result<(), NumberError> {
    let bad = NumberError::BadExtension {
        max: MAX_EXTENSION_DIGITS,
    };
    let s = ext.trim_start();
    let lower = s.to_ascii_lowercase();
    let after = ["ext.", "ext", "x", "#", ","]
        .iter()
        .find_map(|m| lower.strip_prefix(m).map(|_| &s[m.len()..]));
    let Some(after) = after else {
        let at = offset + ext.len() - s.len();
        return Err(NumberError::BadCharacter { at });
    };
    let digits = after.trim_start();
    if digits.is_empty()
        || digits.len() > MAX_EXTENSION_DIGITS
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_8_parses_international_with_country_code() {
        let p = ParsedNumber::parse("+86 138 1234 5678").unwrap();
        assert_eq!(
            p.kind(),
            NumberKind::International {
                country_code: Some(86)
            }
        );
        assert_eq!(p.country_code_len(), 2);
        assert_eq!(p.digits(), "8613812345678");
        assert_eq!(p.key(), "+8613812345678");
        assert!(p.is_valid_e164());
        let p = ParsedNumber::parse("0044 20 7946 0958").unwrap();
        assert_eq!(p.country_code_len(), 2);
        assert_eq!(p.key(), "+442079460958");
    }

    #[test]
    fn req_8_unassigned_country_code_counts_as_none() {
        let p = ParsedNumber::parse("+999 1234 5678").unwrap();
        assert_eq!(p.kind(), NumberKind::International { country_code: None });
        assert_eq!(p.country_code_len(), 0);
    }

    #[test]
    fn req_8_keeps_short_codes_and_extensions() {
        assert_eq!(
            ParsedNumber::parse("1001").unwrap().kind(),
            NumberKind::Short
        );
        assert_eq!(
            ParsedNumber::parse("10086").unwrap().kind(),
            NumberKind::Short
        );
        let p = ParsedNumber::parse("010-12345678 ext. 12").unwrap();
        assert_eq!(p.kind(), NumberKind::National);
        assert_eq!(p.extension(), Some(" ext. 12"));
        assert_eq!(p.digits(), "01012345678");
        assert_eq!(
            ParsedNumber::parse("010-12345678#1234567").unwrap_err(),
            NumberError::BadExtension { max: 6 }
        );
    }

    #[test]
    fn req_8_parses_sip_and_tel_uris() {
        let p = ParsedNumber::parse("sip:13812345678@pbx.example.com;user=phone").unwrap();
        assert_eq!(p.form(), NumberForm::Sip);
        assert_eq!(p.digits(), "13812345678");
        let p =
            ParsedNumber::parse("\"Zhang\" <sips:+8613812345678:pw@10.0.0.1:5061>;tag=1").unwrap();
        assert_eq!(p.digits(), "8613812345678");
        let p = ParsedNumber::parse("tel:+86-138-1234-5678;ext=12").unwrap();
        assert_eq!(p.form(), NumberForm::Tel);
        assert_eq!(p.digits(), "8613812345678");
    }

    #[test]
    fn req_8_refuses_what_is_not_a_number_without_quoting_it() {
        assert_eq!(ParsedNumber::parse("  ").unwrap_err(), NumberError::Empty);
        assert_eq!(
            ParsedNumber::parse("sip:alice@example.com").unwrap_err(),
            NumberError::BadCharacter { at: 4 }
        );
        assert_eq!(
            ParsedNumber::parse("<sip:138").unwrap_err(),
            NumberError::BadUri
        );
        assert_eq!(
            ParsedNumber::parse(&"1".repeat(21)).unwrap_err(),
            NumberError::TooManyDigits { max: 20 }
        );
        let e = ParsedNumber::parse("138123456789abc").unwrap_err();
        assert!(!e.to_string().contains("1381"), "{e}");
        let dbg = format!("{:?}", ParsedNumber::parse("13812345678").unwrap());
        assert!(!dbg.contains("1381"), "{dbg}");
    }
}
