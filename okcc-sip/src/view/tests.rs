use proptest::prelude::*;

use super::*;

const REGISTER: &str = "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Agent 1001\" <sip:1001@example.com>;tag=456248\r\n\
To: <sip:1001@example.com>\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:1001@192.0.2.10:5060;transport=udp>;expires=3600\r\n\
User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\r\n";

fn parse(s: &str) -> Result<SipRequestView<'_>, ParseError> {
    SipRequestView::parse(s.as_bytes(), &Limits::default())
}

fn kind(s: &str) -> ParseErrorKind {
    parse(s).expect_err("must be refused").kind
}

#[test]
fn rfc3261_parses_a_typical_register() {
    let v = parse(REGISTER).expect("valid");
    assert_eq!(v.method, SipMethod::Register);
    assert_eq!(v.request_uri.host, "example.com");
    assert_eq!(v.via.host, "192.0.2.10");
    assert_eq!(v.via.branch, Some("z9hG4bK74bf9"));
    assert_eq!(v.from_user(), Some("1001"));
    assert_eq!(v.from.display_name, Some("Agent 1001"));
    assert_eq!(v.to_user(), Some("1001"));
    assert_eq!(v.call_id, "843817637684230@998sdasdh09");
    assert_eq!(v.cseq.seq, 1826);
    assert_eq!(v.expires, Some(3600));
    assert_eq!(v.max_forwards, Some(70));
    assert_eq!(v.user_agent, Some("Yealink SIP-T46S 66.86.0.15"));
    assert_eq!(v.content_length, Some(0));
    assert!(v.body.is_empty());
    let c = v
        .contact
        .and_then(|c| c.address().copied())
        .expect("contact");
    assert_eq!(c.uri.port, Some(5060));
    assert_eq!(v.headers().count(), 10);
}

#[test]
fn rfc3261_7_3_3_compact_headers_and_ipv6_request_uri() {
    let msg = "INVITE sip:bob@[2001:db8::10]:5060 SIP/2.0\r\n\
v: SIP/2.0/TCP [2001:db8::9];branch=z9hG4bKa\r\n\
f: Alice <sip:alice@example.com>;tag=x\r\n\
t: sip:bob@example.com\r\n\
i: callid1\r\n\
CSeq: 1 INVITE\r\n\
m: *\r\n\
l: 4\r\n\r\nv=0\r\n";
    let v = parse(msg).expect("valid");
    assert_eq!(v.request_uri.host, "2001:db8::10");
    assert_eq!(v.request_uri.user, Some("bob"));
    assert_eq!(v.via.transport, "TCP");
    assert_eq!(v.from.display_name, Some("Alice"));
    assert_eq!(v.contact, Some(Contact::Star));
    assert_eq!(v.body, b"v=0\r");
}

#[test]
fn size_cap_is_checked_before_parsing() {
    let limits = Limits::default().with_max_message_bytes(100);
    let err = SipRequestView::parse(REGISTER.as_bytes(), &limits).expect_err("too big");
    assert_eq!(
        err.kind,
        ParseErrorKind::TooLarge {
            len: REGISTER.len(),
            max: 100
        }
    );
    assert!(!err.answerable);
    let huge = vec![b'A'; DEFAULT_MAX_MESSAGE_BYTES + 1];
    assert!(matches!(
        SipRequestView::parse(&huge, &Limits::default()).map_err(|e| e.kind),
        Err(ParseErrorKind::TooLarge { .. })
    ));
}

#[test]
fn rfc4475_wrong_content_length_is_refused_but_answerable() {
    let msg = REGISTER.replace("Content-Length: 0", "Content-Length: 9999");
    let err = parse(&msg).expect_err("mismatch");
    assert_eq!(
        err.kind,
        ParseErrorKind::ContentLengthMismatch {
            declared: 9999,
            available: 0
        }
    );
    assert!(err.answerable);
    assert_eq!(err.status(), 400);
    for bad in ["-1", "1e3", " ", "99999999999999999999999"] {
        let msg = REGISTER.replace("Content-Length: 0", &format!("Content-Length: {bad}"));
        assert_eq!(
            kind(&msg),
            ParseErrorKind::InvalidHeader(HeaderName::ContentLength),
            "{bad}"
        );
    }
}

#[test]
fn rfc4475_duplicate_single_headers_are_refused() {
    for dup in [
        "Content-Length: 0\r\n",
        "Call-ID: other\r\n",
        "CSeq: 1 REGISTER\r\n",
        "From: <sip:x@y>;tag=2\r\n",
        "To: <sip:x@y>\r\n",
    ] {
        let msg = REGISTER.replacen(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\n{dup}"),
            1,
        );
        assert!(
            matches!(kind(&msg), ParseErrorKind::DuplicateHeader(_)),
            "{dup}"
        );
    }
    // l: and Content-Length: are the same header.
    let msg = REGISTER.replacen("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nl: 0\r\n", 1);
    assert_eq!(
        kind(&msg),
        ParseErrorKind::DuplicateHeader(HeaderName::ContentLength)
    );
}

#[test]
fn rfc3261_8_1_1_missing_mandatory_headers() {
    for (line, name) in [
        (
            "Call-ID: 843817637684230@998sdasdh09\r\n",
            HeaderName::CallId,
        ),
        ("To: <sip:1001@example.com>\r\n", HeaderName::To),
        ("CSeq: 1826 REGISTER\r\n", HeaderName::CSeq),
    ] {
        let msg = REGISTER.replace(line, "");
        let err = parse(&msg).expect_err("missing");
        assert_eq!(err.kind, ParseErrorKind::MissingHeader(name));
        assert!(!err.answerable, "no 400 can be addressed without {name}");
    }
    let msg = REGISTER.replace(
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport\r\n",
        "",
    );
    assert_eq!(kind(&msg), ParseErrorKind::MissingHeader(HeaderName::Via));
}

#[test]
fn rfc4475_odd_whitespace_folding_and_case() {
    let msg = "REGISTER sip:example.com SIP/2.0\r\n\
via  :   SIP/2.0/UDP 192.0.2.10\r\n   ;branch=z9hG4bK1\r\n\
FROM:\t\"A\"\r\n <sip:1001@example.com>;tag=1\r\n\
tO:<sip:1001@example.com>\r\n\
cAlL-iD:   x1   \r\n\
CSEQ:  7   REGISTER\r\n\r\n";
    let v = parse(msg).expect("valid");
    assert_eq!(v.via.branch, Some("z9hG4bK1"));
    assert_eq!(v.from.display_name, Some("A"));
    assert_eq!(v.call_id, "x1");
    assert_eq!(v.cseq.seq, 7);
    assert_eq!(v.content_length, None);
}

#[test]
fn rfc4475_bad_request_lines_and_versions() {
    let ok = REGISTER;
    assert_eq!(
        kind(&ok.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia")),
        ParseErrorKind::UnsupportedVersion
    );
    assert_eq!(
        parse(&ok.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia"))
            .err()
            .map(|e| e.status()),
        Some(505)
    );
    assert_eq!(
        kind("REGISTER  sip:a@b SIP/2.0\r\n\r\n"),
        ParseErrorKind::BadRequestLine
    );
    assert_eq!(kind("SIP/2.0 200 OK\r\n\r\n"), ParseErrorKind::NotARequest);
    assert_eq!(kind("\r\n\r\n"), ParseErrorKind::Empty);
    assert_eq!(
        kind("REGISTER sip:a@b SIP/2.0\r\nVia: x"),
        ParseErrorKind::Incomplete
    );
    assert!(matches!(
        kind(&ok.replace("sip:example.com SIP", "sip:[::1 SIP")),
        ParseErrorKind::BadRequestUri(_)
    ));
    assert_eq!(
        kind(&ok.replace("CSeq: 1826 REGISTER", "CSeq: 1826 INVITE")),
        ParseErrorKind::InvalidHeader(HeaderName::CSeq)
    );
    let bad_utf8 = [REGISTER.as_bytes(), b"X: \xff\r\n\r\n"].concat();
    // The extra bytes land in the body (after the empty line), so the view parses.
    assert!(SipRequestView::parse(&bad_utf8, &Limits::default()).is_ok());
    let bad_head = REGISTER.replace("Yealink", "Yea\u{0}link");
    assert!(
        parse(&bad_head).is_ok(),
        "control bytes in a value are kept raw"
    );
    let mut raw = REGISTER.as_bytes().to_vec();
    raw[60] = 0xff;
    assert_eq!(
        SipRequestView::parse(&raw, &Limits::default())
            .map_err(|e| e.kind)
            .err(),
        Some(ParseErrorKind::NotUtf8)
    );
}

#[test]
fn huge_numbers_saturate_or_fail_cleanly() {
    let msg = REGISTER.replace("Expires: 3600", "Expires: 99999999999999999999999999");
    assert_eq!(parse(&msg).expect("valid").expires, Some(u32::MAX));
    let msg = REGISTER.replace("Expires: 3600", "Expires: -1");
    assert_eq!(
        kind(&msg),
        ParseErrorKind::InvalidHeader(HeaderName::Expires)
    );
    let msg = REGISTER.replace("Max-Forwards: 70", "Max-Forwards: 256");
    assert_eq!(
        kind(&msg),
        ParseErrorKind::InvalidHeader(HeaderName::MaxForwards)
    );
    let msg = REGISTER.replace("CSeq: 1826", "CSeq: 4294967296");
    assert_eq!(kind(&msg), ParseErrorKind::InvalidHeader(HeaderName::CSeq));
}

#[test]
fn lf_only_line_endings_and_leading_crlf() {
    let msg = format!("\r\n\r\n{}", REGISTER.replace("\r\n", "\n"));
    let v = parse(&msg).expect("valid");
    assert_eq!(v.call_id, "843817637684230@998sdasdh09");
}

#[test]
fn too_many_headers_are_refused() {
    let extra = "X-A: 1\r\n".repeat(300);
    let msg = REGISTER.replacen("Max-Forwards: 70\r\n", &extra, 1);
    assert_eq!(kind(&msg), ParseErrorKind::TooManyHeaders);
}

proptest! {
    #[test]
    fn prop_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SipRequestView::parse(&data, &Limits::default());
    }

    #[test]
    fn prop_never_panics_on_mutated_register(pos in 0usize..REGISTER.len(), byte in any::<u8>(), cut in 0usize..REGISTER.len()) {
        let mut raw = REGISTER.as_bytes().to_vec();
        raw[pos] = byte;
        let _ = SipRequestView::parse(&raw, &Limits::default());
        let _ = SipRequestView::parse(&raw[..cut], &Limits::default());
    }

    #[test]
    fn prop_body_matches_content_length(body in proptest::collection::vec(any::<u8>(), 0..300), extra in 0usize..20) {
        let mut raw = REGISTER.replace("Content-Length: 0", &format!("Content-Length: {}", body.len())).into_bytes();
        raw.extend_from_slice(&body);
        raw.extend(std::iter::repeat_n(b'z', extra));
        let v = SipRequestView::parse(&raw, &Limits::default()).expect("valid");
        prop_assert_eq!(v.body, &body[..]);
    }

    #[test]
    fn prop_user_parts_roundtrip(user in "[a-zA-Z0-9]{1,20}", name in "[a-zA-Z ]{0,12}") {
        let from = format!("From: \"{name}\" <sip:{user}@example.com>;tag=1");
        let msg = REGISTER.replace("From: \"Agent 1001\" <sip:1001@example.com>;tag=456248", &from);
        let v = parse(&msg).expect("valid");
        prop_assert_eq!(v.from_user(), Some(user.as_str()));
        prop_assert_eq!(v.from.display_name, Some(name.as_str()));
    }
}

/// The substring searches `head_bounds` replaced: the first `\r\n\r\n`, and
/// a bare `\n\n` before it wins.
fn head_bounds_by_search(msg: &[u8]) -> Option<(usize, usize)> {
    let crlf = memchr::memmem::find(msg, b"\r\n\r\n");
    let lf = memchr::memmem::find(&msg[..crlf.map_or(msg.len(), |p| p + 2)], b"\n\n");
    match (crlf, lf) {
        (_, Some(p)) => Some((p + 1, p + 2)),
        (Some(p), None) => Some((p + 2, p + 4)),
        (None, None) => None,
    }
}

#[test]
fn head_bounds_finds_the_first_empty_line() {
    for (msg, want) in [
        (&b"A\r\n\r\nbody"[..], Some((3, 5))),
        (b"A\n\nbody", Some((2, 3))),
        (b"A\r\nB\n\n\r\n\r\n", Some((5, 6))),
        (b"A\n\r\nB", None),
        (b"\n\n", Some((1, 2))),
        (b"A\r\n\r", None),
        (b"", None),
    ] {
        assert_eq!(head_bounds(msg), want, "{:?}", String::from_utf8_lossy(msg));
        assert_eq!(
            head_bounds_by_search(msg),
            want,
            "{:?}",
            String::from_utf8_lossy(msg)
        );
    }
}

proptest! {
    #[test]
    fn prop_head_bounds_agrees_with_substring_search(
        data in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a')], 0..64)
    ) {
        prop_assert_eq!(head_bounds(&data), head_bounds_by_search(&data));
    }
}
