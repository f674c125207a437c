//! Number masking in signalling (requirement 8, issue 8).
//!
//! For a callee whose phone is set to mask, the caller's number must not
//! reach the phone in clear. [`mask_caller`] takes the bytes of a request
//! about to be sent to that phone and rewrites, in every `From` (compact
//! `f`), `P-Asserted-Identity` and `Remote-Party-ID` header field:
//!
//! * the user part of each `sip:` / `sips:` URI and the number of each
//!   `tel:` URI, with the core masking function
//!   ([`okcc_core::mask::mask_best_effort`]: middle four `138****5678`, or
//!   `00000000`);
//! * the display name, when it holds digits of that number or any run of
//!   7 or more digits ([`okcc_core::mask::TextMasker`]).
//!
//! Everything else stays byte-identical: the request line, the other
//! headers, header and URI parameters (the From `tag` that identifies the
//! dialog), the host, line endings, folding and the body. Nothing is
//! "fixed" on the way. A `P-Asserted-Identity` / `Remote-Party-ID`
//! element that does not parse as a name-addr is masked as a whole with
//! [`okcc_core::mask::mask_strict`] (every digit hidden), so an odd header
//! cannot carry the number through; the request itself must parse as a
//! [`SipRequestView`], otherwise it is refused with [`MaskError`] and the
//! caller should not send it.
//!
//! ```
//! use okcc_core::mask::MaskMode;
//! use okcc_sip::masking::mask_caller;
//! use okcc_sip::view::Limits;
//!
//! let msg = b"INVITE sip:1001@pbx.example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
//! From: \"13812345678\" <sip:13812345678@pbx.example.com>;tag=77\r\n\
//! To: <sip:1001@pbx.example.com>\r\n\
//! Call-ID: a@b\r\n\
//! CSeq: 1 INVITE\r\n\
//! Content-Length: 0\r\n\r\n";
//! let out = mask_caller(msg, MaskMode::MiddleFour, &Limits::default())?;
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains("From: \"***********\" <sip:138****5678@pbx.example.com>;tag=77\r\n"));
//! # Ok::<(), okcc_sip::masking::MaskError>(())
//! ```

use okcc_core::mask::{MaskMode, TextMasker, mask_best_effort, mask_strict};

use crate::view::{
    HeaderName, Limits, NameAddr, ParseError, SipRequestView, first_element, trim_lws,
};

/// Why a request could not be masked (it must then not be sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MaskError {
    /// The bytes are not a valid SIP request.
    #[error("cannot mask an invalid SIP request: {0}")]
    Parse(#[from] ParseError),
}

/// One replacement: the byte range of the input and its new text.
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

/// Masks the caller's number in `From`, `P-Asserted-Identity` and
/// `Remote-Party-ID` of one request (see the module docs). Returns the
/// rewritten message; every byte outside the rewritten user parts and
/// display names is copied unchanged.
pub fn mask_caller(msg: &[u8], mode: MaskMode, limits: &Limits) -> Result<Vec<u8>, MaskError> {
    let view = SipRequestView::parse(msg, limits)?;
    let base = msg.as_ptr() as usize;
    let offset = |s: &str| s.as_ptr() as usize - base;
    let mut edits: Vec<Edit> = Vec::new();
    for (name, _, value) in view.headers() {
        if !matches!(
            name,
            HeaderName::From | HeaderName::PAssertedIdentity | HeaderName::RemotePartyId
        ) {
            continue;
        }
        let mut rest = value;
        while !rest.is_empty() {
            let element = match first_element(rest) {
                Ok(e) => e,
                // An open quote or bracket: the rest is one element.
                Err(_) => rest,
            };
            rest = rest[element.len()..].strip_prefix(',').unwrap_or("");
            let element = trim_lws(element);
            if element.is_empty() {
                continue;
            }
            mask_element(element, mode, &offset, &mut edits);
        }
    }
    let mut out = Vec::with_capacity(msg.len() + 16 * edits.len());
    let mut at = 0;
    for e in &edits {
        out.extend_from_slice(&msg[at..e.start]);
        out.extend_from_slice(e.text.as_bytes());
        at = e.end;
    }
    out.extend_from_slice(&msg[at..]);
    Ok(out)
}

fn mask_element(
    element: &str,
    mode: MaskMode,
    offset: &impl Fn(&str) -> usize,
    edits: &mut Vec<Edit>,
) {
    let mut push = |part: &str, text: String| {
        if text != part {
            let start = offset(part);
            edits.push(Edit {
                start,
                end: start + part.len(),
                text,
            });
        }
    };
    let Ok(addr) = NameAddr::parse(element) else {
        push(element, mask_strict(element, mode));
        return;
    };
    let masked_user = addr.uri.user.map(|user| {
        // `sip:+8613812345678;phone-context=...@host`: the number ends at `;`.
        let number = user.split(';').next().unwrap_or(user);
        (number, mask_best_effort(number, mode))
    });
    if let Some(display) = addr.display_name.filter(|d| {
        d.bytes().any(|b| b.is_ascii_digit() || b == b'%') || d.chars().any(char::is_numeric)
    }) {
        let mut masker = TextMasker::new(mode);
        if let Some((number, masked)) = &masked_user
            && masked != number
        {
            masker = masker.with_known_number(number);
        }
        push(display, masker.mask(display));
    }
    if let Some((number, masked)) = masked_user {
        push(number, masked);
    }
}

/// Entry point for the `sip_mask` fuzz target and its corpus replay test
/// (not a stable API): masks in both modes and checks the invariants.
/// Returns `true` when the input was a request that could be masked.
#[doc(hidden)]
pub fn fuzz_sip_mask(data: &[u8]) -> bool {
    let limits = Limits::default();
    let mut ok = false;
    for mode in [MaskMode::MiddleFour, MaskMode::Full] {
        match mask_caller(data, mode, &limits) {
            Ok(out) => {
                ok = true;
                let before = SipRequestView::parse(data, &limits).ok();
                let after = SipRequestView::parse(&out, &limits);
                assert!(after.is_ok(), "masked output must parse: {after:?}");
                if let (Some(b), Ok(a)) = (before, after) {
                    assert_eq!(a.call_id, b.call_id);
                    assert_eq!(a.from.tag, b.from.tag);
                    assert_eq!(a.body, b.body);
                    assert_eq!(a.headers().count(), b.headers().count());
                }
            }
            Err(_) => assert!(SipRequestView::parse(data, &limits).is_err()),
        }
    }
    ok
}

#[cfg(test)]
mod tests;
