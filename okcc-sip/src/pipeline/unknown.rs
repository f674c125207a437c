//! `501 Not Implemented` for requests whose method token the host stack
//! does not know (RFC 3261 §8.2.1: an unknown method gets 501 with
//! `Allow`; a recognised method the server does not allow gets 405).
//!
//! Some stacks (rsipstack 0.7, rsip 0.4) refuse to parse a request whose
//! method is not one of their fourteen, so it never reaches a hook that
//! could answer it. These functions work on the raw bytes instead:
//! [`unknown_method`] is a cheap test of the request line (fit for every
//! datagram), [`reply_to_unknown_method`] parses the request with okcc's
//! own view and builds the 501 from it. Anything the view refuses gets
//! `None`: the host keeps its usual handling of malformed messages.
//!
//! Neither function runs the guard: the host puts its defences (bans,
//! flood counter, scanner, access rules) in front, as for any request.

use crate::view::{Limits, SipMethod, SipRequestView, is_token_byte};

use super::reply::{Response, respond};

/// The methods a stack that knows only RFC 3261 and its common extensions
/// parses: rsipstack 0.7 and rsip 0.4 accept exactly these (compared
/// without case) and refuse any other request.
pub const KNOWN_METHODS: [SipMethod; 14] = [
    SipMethod::Ack,
    SipMethod::Bye,
    SipMethod::Cancel,
    SipMethod::Info,
    SipMethod::Invite,
    SipMethod::Message,
    SipMethod::Notify,
    SipMethod::Options,
    SipMethod::Prack,
    SipMethod::Publish,
    SipMethod::Refer,
    SipMethod::Register,
    SipMethod::Subscribe,
    SipMethod::Update,
];

/// The method token of `bytes` when they start like a request (leading
/// CR/LF skipped, then a token and a space) whose method is none of
/// [`KNOWN_METHODS`], compared without case as those stacks do: `Some("FOO")`
/// for `FOO sip:a@b SIP/2.0`. `None` for known methods, responses and
/// anything whose first word is not a token. Reads the first line only.
pub fn unknown_method(bytes: &[u8]) -> Option<&str> {
    let start = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
    let rest = bytes.get(start..)?;
    let line_end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let sp = memchr::memchr(b' ', rest.get(..line_end)?)?;
    let token = rest.get(..sp)?;
    if token.is_empty() || !token.iter().copied().all(is_token_byte) {
        return None;
    }
    // Token bytes are ASCII, so this cannot fail.
    let token = std::str::from_utf8(token).ok()?;
    let known = KNOWN_METHODS
        .iter()
        .any(|m| m.as_str().eq_ignore_ascii_case(token));
    (!known).then_some(token)
}

/// The `Allow` value for `methods`, in order (`SipMethod::Other` skipped):
/// `"INVITE, ACK, BYE"`.
pub fn allow_value(methods: &[SipMethod]) -> String {
    let mut out = String::new();
    for m in methods.iter().filter(|m| **m != SipMethod::Other) {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(m.as_str());
    }
    out
}

/// `501 Not Implemented` to `view`, with `Allow: <allow>`; every Via in
/// order, From, To (a tag added when it has none), Call-ID and CSeq copied
/// as for every guard response.
pub fn not_implemented(view: &SipRequestView<'_>, allow: &[SipMethod]) -> Response {
    respond(view, 501, &[("Allow", allow_value(allow))])
}

/// The 501 for `bytes` when they are a well-formed request (okcc's view
/// parses them within `limits`) with an [`unknown_method`]; `None` for a
/// known method or a message the view refuses (the host handles those as
/// before). Pure: no guard, no state.
pub fn reply_to_unknown_method(
    bytes: &[u8],
    limits: &Limits,
    allow: &[SipMethod],
) -> Option<Response> {
    unknown_method(bytes)?;
    let view = SipRequestView::parse(bytes, limits).ok()?;
    Some(not_implemented(&view, allow))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: &[SipMethod] = &[SipMethod::Invite, SipMethod::Ack, SipMethod::Options];

    fn request(method: &str, cseq_method: &str) -> String {
        format!(
            "{method} sip:100@example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKtop\r\n\
             Via: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKsecond\r\n\
             From: <sip:200@example.com>;tag=f1\r\nTo: <sip:100@example.com>\r\n\
             Call-ID: c1@192.0.2.4\r\nCSeq: 7 {cseq_method}\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    fn headers(resp: &str, name: &str) -> Vec<String> {
        resp.split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    #[test]
    fn req_9_unknown_method_is_seen_on_the_request_line_only() {
        assert_eq!(unknown_method(b"FOO sip:a@b SIP/2.0\r\n"), Some("FOO"));
        assert_eq!(unknown_method(b"\r\n\r\nPING sip:a SIP/2.0"), Some("PING"));
        assert_eq!(unknown_method(b"x-y.z! sip:a SIP/2.0"), Some("x-y.z!"));
        for known in ["INVITE", "invite", "Register", "PRACK", "update"] {
            assert_eq!(
                unknown_method(format!("{known} sip:a SIP/2.0").as_bytes()),
                None
            );
        }
        // Responses, non-tokens, no space on the first line, nothing at all.
        assert_eq!(unknown_method(b"SIP/2.0 200 OK\r\n"), None);
        assert_eq!(unknown_method(b"F(O) sip:a SIP/2.0\r\n"), None);
        assert_eq!(unknown_method(b"FOO\r\nVia: x y\r\n"), None);
        assert_eq!(unknown_method(b" FOO sip:a SIP/2.0"), None);
        assert_eq!(unknown_method(b"\r\n\r\n"), None);
        assert_eq!(unknown_method(b""), None);
    }

    #[test]
    fn req_9_unknown_method_gets_501_with_allow_and_the_dialog_headers() {
        let msg = request("FOO", "FOO");
        let r = reply_to_unknown_method(msg.as_bytes(), &Limits::default(), ALLOW).expect("a 501");
        assert_eq!(r.status(), 501);
        let text = String::from_utf8(r.into_bytes()).expect("utf-8");
        assert!(
            text.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{text}"
        );
        assert_eq!(headers(&text, "Allow"), ["INVITE, ACK, OPTIONS"]);
        assert_eq!(
            headers(&text, "Via"),
            [
                "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKtop",
                "SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKsecond"
            ]
        );
        assert_eq!(headers(&text, "From"), ["<sip:200@example.com>;tag=f1"]);
        let to = headers(&text, "To");
        assert!(
            to[0].starts_with("<sip:100@example.com>;tag=okcc"),
            "{to:?}"
        );
        assert_eq!(headers(&text, "Call-ID"), ["c1@192.0.2.4"]);
        assert_eq!(headers(&text, "CSeq"), ["7 FOO"]);
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{text}");
        // The same request again (a retransmission) gets the same To tag.
        let again =
            reply_to_unknown_method(msg.as_bytes(), &Limits::default(), ALLOW).expect("a 501");
        assert_eq!(
            headers(&String::from_utf8_lossy(again.as_bytes()), "To"),
            to
        );
    }

    #[test]
    fn req_9_known_or_malformed_requests_are_left_to_the_host() {
        let limits = Limits::default();
        // Known method: the stack answers it.
        assert!(
            reply_to_unknown_method(request("OPTIONS", "OPTIONS").as_bytes(), &limits, ALLOW)
                .is_none()
        );
        // CSeq naming another method, wrong version, no Call-ID, over the size cap.
        assert!(
            reply_to_unknown_method(request("FOO", "BAR").as_bytes(), &limits, ALLOW).is_none()
        );
        let v3 = request("FOO", "FOO").replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1);
        assert!(reply_to_unknown_method(v3.as_bytes(), &limits, ALLOW).is_none());
        let no_call_id = request("FOO", "FOO").replace("Call-ID: c1@192.0.2.4\r\n", "");
        assert!(reply_to_unknown_method(no_call_id.as_bytes(), &limits, ALLOW).is_none());
        let small = Limits {
            max_message_bytes: 64,
            ..Limits::default()
        };
        assert!(reply_to_unknown_method(request("FOO", "FOO").as_bytes(), &small, ALLOW).is_none());
    }

    #[test]
    fn req_9_allow_value_skips_other() {
        assert_eq!(
            allow_value(&[SipMethod::Register, SipMethod::Other, SipMethod::Bye]),
            "REGISTER, BYE"
        );
        assert_eq!(allow_value(&[]), "");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            /// Any well-formed request with an unknown token gets a 501
            /// that copies its Vias in order, its Call-ID and CSeq, and
            /// tags the To.
            #[test]
            fn req_9_unknown_tokens_get_a_501_echoing_the_request(
                method in "[A-Za-z][A-Za-z0-9.!%*_+`'~-]{0,20}",
                branches in proptest::collection::vec("[a-zA-Z0-9]{1,12}", 1..5),
                call_id in "[a-z0-9]{1,16}@[a-z0-9.]{1,10}",
                seq in 0u32..(1 << 31),
                to_tag in proptest::option::of("[a-z0-9]{1,8}"),
            ) {
                prop_assume!(!KNOWN_METHODS.iter().any(|m| m.as_str().eq_ignore_ascii_case(&method)));
                let vias: String = branches
                    .iter()
                    .map(|b| format!("Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK{b}\r\n"))
                    .collect();
                let to = match &to_tag {
                    Some(t) => format!("<sip:1@example.com>;tag={t}"),
                    None => "<sip:1@example.com>".to_owned(),
                };
                let msg = format!(
                    "{method} sip:1@example.com SIP/2.0\r\n{vias}From: <sip:2@example.com>;tag=f\r\n\
                     To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {seq} {method}\r\nContent-Length: 0\r\n\r\n"
                );
                prop_assert_eq!(unknown_method(msg.as_bytes()), Some(method.as_str()));
                let r = reply_to_unknown_method(msg.as_bytes(), &Limits::default(), ALLOW);
                let r = r.expect("a 501");
                let text = String::from_utf8(r.into_bytes()).expect("utf-8");
                prop_assert!(text.starts_with("SIP/2.0 501 Not Implemented\r\n"));
                let want: Vec<String> = branches
                    .iter()
                    .map(|b| format!("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK{b}"))
                    .collect();
                prop_assert_eq!(headers(&text, "Via"), want);
                prop_assert_eq!(headers(&text, "Call-ID"), vec![call_id]);
                prop_assert_eq!(headers(&text, "CSeq"), vec![format!("{seq} {method}")]);
                prop_assert_eq!(headers(&text, "Allow"), vec!["INVITE, ACK, OPTIONS".to_owned()]);
                let to_out = headers(&text, "To");
                match &to_tag {
                    Some(_) => prop_assert_eq!(to_out, vec![to]),
                    None => prop_assert!(to_out[0].starts_with("<sip:1@example.com>;tag=okcc")),
                }
            }

            /// Known methods, in any case, are never answered here.
            #[test]
            fn req_9_known_methods_in_any_case_are_not_unknown(
                i in 0usize..14,
                flips in proptest::collection::vec(any::<bool>(), 9),
            ) {
                let name: String = KNOWN_METHODS[i]
                    .as_str()
                    .chars()
                    .zip(flips.iter().cycle())
                    .map(|(c, f)| if *f { c.to_ascii_lowercase() } else { c })
                    .collect();
                let line = format!("{name} sip:a SIP/2.0\r\n");
                prop_assert_eq!(unknown_method(line.as_bytes()), None);
            }

            /// Arbitrary bytes never panic, and a reply is always a
            /// complete 501 to a request with an unknown method.
            #[test]
            fn req_9_arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
                prop_assert!(!crate::fuzzing::sip_unknown_method(&data) || unknown_method(&data).is_some());
            }
        }
    }
}
