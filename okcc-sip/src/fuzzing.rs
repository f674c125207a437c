//! Entry points for the fuzz targets and the corpus replay tests (not a stable API).

use crate::view::{Limits, SipRequestView};

/// Parses raw bytes as a SIP request and walks every part of the view.
/// Returns `true` when the bytes parsed.
pub fn sip_parse(data: &[u8]) -> bool {
    match SipRequestView::parse(data, &Limits::default()) {
        Ok(view) => {
            let mut n = 0usize;
            for (_, name, value) in view.headers() {
                n = n.wrapping_add(name.len()).wrapping_add(value.len());
            }
            let _ = view.request_uri.user_unescaped();
            let _ = view.from.uri.user_unescaped();
            std::hint::black_box(n);
            assert!(view.body.len() <= data.len());
            if let Some(cl) = view.content_length {
                assert_eq!(view.body.len(), cl);
            }
            true
        }
        Err(e) => {
            let _ = e.status();
            false
        }
    }
}

/// Parses a raw `Authorization` value and, when it parses, computes the
/// expected response with a fixed HA1. Returns `true` when it parsed.
pub fn sip_authorization(data: &[u8]) -> bool {
    use crate::digest::{DigestAuthorization, response};
    use okcc_core::credential::Ha1;
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match DigestAuthorization::parse(text) {
        Ok(auth) => {
            let ha1 = Ha1::dangerous_from_unchecked_secret(auth.algorithm.hash(), "u", "r", "p");
            let r = response(&auth, "REGISTER", b"", &ha1);
            assert_eq!(r.len(), auth.algorithm.hex_len());
            true
        }
        Err(_) => false,
    }
}
