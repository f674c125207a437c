//! rsip 0.4 adapter (feature `rsip`): turns an [`rsip::Request`] into the
//! bytes a [`SipRequestView`] borrows from.
//!
//! rsip keeps header values as text but re-prints the request line (the
//! Request-URI is re-serialised, e.g. `transport=tcp` becomes
//! `transport=TCP`). The digest stage hashes the raw `uri=` parameter of
//! the `Authorization` header, which rsip keeps verbatim, so
//! authentication is not affected; rules that match the Request-URI see
//! rsip's spelling. The body is appended byte for byte (rsip's `Display`
//! would pass it through a lossy UTF-8 conversion).
//!
//! ```
//! use okcc_sip::adapter::rsip::request_bytes;
//! use okcc_sip::view::{Limits, SipRequestView};
//!
//! let wire = b"REGISTER sip:example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1\r\n\
//! From: <sip:1001@example.com>;tag=1\r\nTo: <sip:1001@example.com>\r\n\
//! Call-ID: a@192.0.2.4\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
//! let req = rsip::Request::try_from(&wire[..]).unwrap();
//! let bytes = request_bytes(&req);
//! let view = SipRequestView::parse(&bytes, &Limits::default())?;
//! assert_eq!(view.to_user(), Some("1001"));
//! # Ok::<(), okcc_sip::view::ParseError>(())
//! ```

use crate::view::{Limits, ParseError, SipRequestView};

/// The wire form of `req`: request line and headers as rsip prints them,
/// then the body verbatim.
pub fn request_bytes(req: &rsip::Request) -> Vec<u8> {
    let head = format!(
        "{} {} {}\r\n{}\r\n",
        req.method, req.uri, req.version, req.headers
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&req.body);
    bytes
}

/// Serialises `req` into `buf` (its old content replaced) and parses it:
/// the view borrows `buf`.
pub fn view_of<'b>(
    req: &rsip::Request,
    buf: &'b mut Vec<u8>,
    limits: &Limits,
) -> Result<SipRequestView<'b>, ParseError> {
    *buf = request_bytes(req);
    SipRequestView::parse(buf, limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::SipMethod;

    const INVITE: &[u8] = b"INVITE sip:004930123@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\n\
From: \"Agent 1001\" <sip:1001@example.com>;tag=1\r\n\
To: <sip:004930123@example.com>\r\n\
Call-ID: a@192.0.2.4\r\n\
CSeq: 2 INVITE\r\n\
User-Agent: friendly-scanner\r\n\
Content-Type: application/octet-stream\r\n\
Content-Length: 4\r\n\r\n\xff\x00\xfe\x01";

    #[test]
    fn rsip_request_becomes_a_view_with_the_same_fields_and_raw_body() {
        let req = rsip::Request::try_from(INVITE).expect("rsip parses");
        let mut buf = Vec::new();
        let view = view_of(&req, &mut buf, &Limits::default()).expect("view parses");
        assert_eq!(view.method, SipMethod::Invite);
        assert_eq!(view.request_uri.user, Some("004930123"));
        assert_eq!(view.from_user(), Some("1001"));
        assert_eq!(view.from.display_name, Some("Agent 1001"));
        assert_eq!(view.call_id, "a@192.0.2.4");
        assert_eq!(view.cseq.method, "INVITE");
        assert_eq!(view.max_forwards, Some(70));
        assert_eq!(view.user_agent, Some("friendly-scanner"));
        assert_eq!(view.via.branch, Some("z9hG4bK1"));
        // Not valid UTF-8: kept byte for byte.
        assert_eq!(view.body, b"\xff\x00\xfe\x01");
    }

    #[test]
    fn authorization_value_is_kept_verbatim() {
        let msg = b"REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1\r\n\
From: <sip:1001@example.com>;tag=1\r\nTo: <sip:1001@example.com>\r\n\
Call-ID: a@b\r\nCSeq: 1 REGISTER\r\n\
Authorization: Digest username=\"1001\", realm=\"example.com\", nonce=\"n\", \
uri=\"sip:example.com;transport=tcp\", response=\"00\"\r\n\
Content-Length: 0\r\n\r\n";
        let req = rsip::Request::try_from(&msg[..]).expect("rsip parses");
        let bytes = request_bytes(&req);
        let view = SipRequestView::parse(&bytes, &Limits::default()).expect("view parses");
        assert!(
            view.authorization
                .is_some_and(|a| a.contains("uri=\"sip:example.com;transport=tcp\"")),
            "{:?}",
            view.authorization
        );
    }

    #[test]
    fn oversized_request_is_refused_by_the_limits() {
        let req = rsip::Request::try_from(INVITE).expect("rsip parses");
        let mut buf = Vec::new();
        let err = view_of(
            &req,
            &mut buf,
            &Limits::default().with_max_message_bytes(64),
        )
        .expect_err("over the cap");
        assert!(matches!(
            err.kind,
            crate::view::ParseErrorKind::TooLarge { .. }
        ));
    }
}
