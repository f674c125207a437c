//! TOTP (RFC 6238, HMAC-SHA1, 6 digits, 30 s steps) and the base32 text
//! (RFC 4648, no padding) authenticator apps read from `otpauth://` URIs.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Length of a generated secret (160 bits, as RFC 4226 recommends).
pub(crate) const SECRET_LEN: usize = 20;
/// The time step.
pub(crate) const STEP_SECS: u64 = 30;
const DIGITS: u32 = 6;

/// The HOTP value (RFC 4226) of `secret` at `counter`.
pub(crate) fn hotp(secret: &[u8], counter: u64) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        // HMAC takes keys of any length; this cannot happen.
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let code = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    code % 10u32.pow(DIGITS)
}

/// The step number of `unix_secs`.
pub(crate) fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// Checks a 6-digit `code` against the steps `now - 1 ..= now + 1` (clock
/// skew), refusing any step at or before `last_used` (replay). Returns the
/// matching step.
pub(crate) fn verify(
    secret: &[u8],
    code: &str,
    now_step: u64,
    last_used: Option<u64>,
) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = None;
    for step in now_step.saturating_sub(1)..=now_step.saturating_add(1) {
        if last_used.is_some_and(|l| step <= l) {
            continue;
        }
        let expected = format!("{:06}", hotp(secret, step));
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 (RFC 4648) without padding.
pub(crate) fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Percent-encodes a label or issuer for an `otpauth://` URI.
fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://totp/...` URI an authenticator app scans (as a QR code).
pub(crate) fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        uri_escape(issuer),
        uri_escape(account),
        base32(secret),
        uri_escape(issuer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (8-digit values truncated to 6).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
        ] {
            assert_eq!(hotp(secret, step_of(time)), code % 1_000_000, "t={time}");
        }
    }

    #[test]
    fn verify_allows_one_step_of_skew_and_refuses_replay() {
        let secret = b"12345678901234567890";
        let now = step_of(1_234_567_890);
        let code = format!("{:06}", hotp(secret, now - 1));
        assert_eq!(verify(secret, &code, now, None), Some(now - 1));
        assert_eq!(verify(secret, &code, now, Some(now - 1)), None);
        let far = format!("{:06}", hotp(secret, now - 5));
        assert_eq!(verify(secret, &far, now, None), None);
        assert_eq!(verify(secret, "12345", now, None), None);
        assert_eq!(verify(secret, "abcdef", now, None), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        let uri = otpauth_uri("okcc", "root@platform", b"12345678901234567890");
        assert!(uri.starts_with(
            "otpauth://totp/okcc:root%40platform?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        ));
    }
}
