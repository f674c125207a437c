//! SMS encoding and segment count: is a text sent as GSM-7 or UCS-2, and
//! how many segments (billed messages) does it take?
//!
//! | encoding | one message | per part of a multi-part message |
//! |---|---|---|
//! | GSM-7 (3GPP TS 23.038 default alphabet) | 160 septets | 153 septets |
//! | UCS-2 (UTF-16 code units) | 70 units | 67 units |
//!
//! Characters of the GSM-7 extension table (`^ { } \ [ ~ ] | €` and form
//! feed) take two septets (escape + character) and are never split across
//! parts; a UTF-16 surrogate pair is never split either. One character
//! outside both GSM-7 tables switches the whole text to UCS-2.

use serde::Serialize;

/// How an SMS text is encoded on the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmsEncoding {
    /// The GSM 03.38 7-bit default alphabet (with its extension table).
    Gsm7,
    /// UCS-2 / UTF-16: any other text.
    Ucs2,
}

/// What a text costs to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SmsInfo {
    /// The encoding the text needs.
    pub encoding: SmsEncoding,
    /// Characters (Unicode scalar values).
    pub chars: usize,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Segments, i.e. billed messages.
    pub segments: usize,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Septets `c` takes in GSM-7 (1 or 2), or `None` if it needs UCS-2.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if c.is_ascii() {
        // Fast path, equal to the tables (see the test).
        return match c {
            '`' => None,
            '^' | '{' | '}' | '\\' | '[' | ']' | '~' | '|' | '\u{0C}' => Some(2),
            ' '..='~' | '\n' | '\r' => Some(1),
            _ => None,
        };
    }
    table_septets(c)
}

fn table_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Packs units into segments of `per_part` units, never splitting one
/// character's units (given by `widths`).
fn pack(widths: impl Iterator<Item = usize>, per_part: usize) -> usize {
    let mut segments = 1;
    let mut used = 0;
    for w in widths {
        if used + w > per_part {
            segments += 1;
            used = 0;
        }
        used += w;
    }
    segments
}

/// Works out the encoding, size and segment count of `text`. The empty text
/// takes one (empty) segment.
pub fn analyze(text: &str) -> SmsInfo {
    let chars = text.chars().count();
    let gsm: Option<usize> = text.chars().map(gsm7_septets).sum();
    match gsm {
        Some(units) => SmsInfo {
            encoding: SmsEncoding::Gsm7,
            chars,
            units,
            segments: if units <= 160 {
                1
            } else {
                pack(text.chars().filter_map(gsm7_septets), 153)
            },
        },
        None => {
            let units = text.encode_utf16().count();
            SmsInfo {
                encoding: SmsEncoding::Ucs2,
                chars,
                units,
                segments: if units <= 70 {
                    1
                } else {
                    pack(text.chars().map(char::len_utf16), 67)
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ascii_fast_path_agrees_with_the_tables() {
        for c in (0u8..128).map(char::from) {
            assert_eq!(gsm7_septets(c), table_septets(c), "{c:?}");
        }
    }

    #[test]
    fn req_3_1_plain_text_is_gsm7_with_160_and_153_limits() {
        assert_eq!(GSM7_BASIC.chars().count(), 127, "128 minus the escape");
        let a = analyze(&"a".repeat(160));
        assert_eq!(
            (a.encoding, a.units, a.segments),
            (SmsEncoding::Gsm7, 160, 1)
        );
        assert_eq!(analyze(&"a".repeat(161)).segments, 2);
        assert_eq!(analyze(&"a".repeat(306)).segments, 2);
        assert_eq!(analyze(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn req_3_1_extension_characters_take_two_septets_and_never_split() {
        let a = analyze("€{}");
        assert_eq!((a.encoding, a.chars, a.units), (SmsEncoding::Gsm7, 3, 6));
        assert_eq!(analyze(&"€".repeat(80)).segments, 1);
        assert_eq!(analyze(&"€".repeat(81)).segments, 2);
        // 152 septets then '€': the escape would be the 153rd septet and
        // its character the 154th, so '€' moves to part two.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let info = analyze(&text);
        assert_eq!(info.units, 164);
        assert_eq!(info.segments, 2);
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(
            analyze(&text).segments,
            3,
            "153+152 would fit 2 parts if split"
        );
    }

    #[test]
    fn req_3_1_one_non_gsm_character_switches_to_ucs2() {
        let a = analyze("您好 hello");
        assert_eq!((a.encoding, a.units, a.segments), (SmsEncoding::Ucs2, 8, 1));
        assert_eq!(analyze(&"好".repeat(70)).segments, 1);
        assert_eq!(analyze(&"好".repeat(71)).segments, 2);
        assert_eq!(analyze(&"好".repeat(134)).segments, 2);
        assert_eq!(analyze(&"好".repeat(135)).segments, 3);
        // 66 units then an emoji (a surrogate pair) does not split it.
        let text = format!("{}😀{}", "好".repeat(66), "好".repeat(3));
        assert_eq!(analyze(&text).units, 71);
        assert_eq!(analyze(&text).segments, 2);
    }

    proptest! {
        #[test]
        fn segments_hold_every_unit(text in "\\PC{0,400}") {
            let info = analyze(&text);
            let per = match info.encoding { SmsEncoding::Gsm7 => (160, 153), SmsEncoding::Ucs2 => (70, 67) };
            if info.units <= per.0 {
                prop_assert_eq!(info.segments, 1);
            } else {
                prop_assert!(info.segments * per.1 >= info.units);
                prop_assert!(info.segments <= info.units.div_ceil(per.1) + info.units / per.1 + 1);
            }
        }
    }
}
