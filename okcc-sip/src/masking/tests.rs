use super::*;
use proptest::prelude::*;

fn invite(extra: &str) -> String {
    format!(
        "INVITE sip:1001@pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
{extra}\
To: \"Agent\" <sip:1001@pbx.example.com>\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:13812345678@192.0.2.1:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n"
    )
}

fn mask(msg: &str, mode: MaskMode) -> String {
    let out = mask_caller(msg.as_bytes(), mode, &Limits::default()).expect("masks");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn req_8_from_user_and_display_name_middle_four() {
    let msg = invite(
        "From: \"Zhang 13812345678\" <sip:13812345678@pbx.example.com;user=phone>;tag=1928301774\r\n",
    );
    let out = mask(&msg, MaskMode::MiddleFour);
    let want = msg.replace(
        "From: \"Zhang 13812345678\" <sip:13812345678@",
        "From: \"Zhang ***********\" <sip:138****5678@",
    );
    assert_eq!(out, want);
}

#[test]
fn req_8_full_mode_writes_eight_zeros() {
    let msg = invite("From: <sip:13812345678@pbx.example.com>;tag=x\r\n");
    let out = mask(&msg, MaskMode::Full);
    assert_eq!(
        out,
        msg.replace("From: <sip:13812345678@", "From: <sip:00000000@")
    );
}

#[test]
fn req_8_compact_from_tel_and_addr_spec() {
    let msg = invite("f: tel:+86-138-1234-5678;tag=abc\r\n");
    let out = mask(&msg, MaskMode::MiddleFour);
    assert_eq!(
        out,
        msg.replace("f: tel:+86-138-1234-5678;", "f: tel:+86-138-****-5678;")
    );
}

#[test]
fn req_8_pai_and_rpid_all_elements_and_lines() {
    let msg = invite(
        "From: <sip:13812345678@pbx.example.com>;tag=1\r\n\
P-Asserted-Identity: \"13812345678\" <sips:13812345678@pbx.example.com>, <tel:+8613812345678>\r\n\
P-Asserted-Identity: <sip:010-12345678@pbx.example.com>\r\n\
Remote-Party-ID: \"Li\" <sip:13812345678@pbx.example.com>;party=calling;screen=yes;privacy=off\r\n",
    );
    let out = mask(&msg, MaskMode::MiddleFour);
    assert!(out.contains("P-Asserted-Identity: \"***********\" <sips:138****5678@pbx.example.com>, <tel:+86138****5678>\r\n"), "{out}");
    assert!(
        out.contains("P-Asserted-Identity: <sip:010-****5678@pbx.example.com>\r\n"),
        "{out}"
    );
    assert!(out.contains("Remote-Party-ID: \"Li\" <sip:138****5678@pbx.example.com>;party=calling;screen=yes;privacy=off\r\n"), "{out}");
    assert!(!out[..out.find("Contact").unwrap()].contains("13812345678"));
}

#[test]
fn req_8_other_headers_tag_and_body_untouched() {
    let msg = invite("From: \"13812345678\" <sip:13812345678@pbx.example.com>;tag=13812345678\r\n");
    let out = mask(&msg, MaskMode::MiddleFour);
    // To, Contact (not the caller's identity headers), the tag and the body stay.
    assert!(out.contains(";tag=13812345678\r\n"));
    assert!(out.contains("Contact: <sip:13812345678@192.0.2.1:5060>\r\n"));
    assert!(out.ends_with("\r\n\r\nv=0\n"));
    assert_eq!(out.len(), msg.len());
}

#[test]
fn req_8_short_extension_kept_in_middle_four_hidden_in_full() {
    let msg = invite("From: \"Agent 1002\" <sip:1002@pbx.example.com>;tag=9\r\n");
    assert_eq!(mask(&msg, MaskMode::MiddleFour), msg);
    let full = mask(&msg, MaskMode::Full);
    assert!(
        full.contains("From: \"Agent 00000000\" <sip:00000000@pbx.example.com>;tag=9\r\n"),
        "{full}"
    );
}

#[test]
fn req_8_unparsable_pai_is_masked_whole() {
    let msg = invite(
        "From: <sip:1@h>;tag=1\r\nP-Asserted-Identity: \"13812345678 <sip:13812345678@h\r\n",
    );
    let out = mask(&msg, MaskMode::MiddleFour);
    assert!(
        out.contains("P-Asserted-Identity: \"*********** <sip:***********@h\r\n"),
        "{out}"
    );
}

#[test]
fn req_8_escaped_user_is_masked() {
    let msg = invite("From: <sip:%31%33%38%31%32%33%34%35%36%37%38@h>;tag=1\r\n");
    let out = mask(&msg, MaskMode::MiddleFour);
    assert!(!out.contains("%31%33%38%31%32%33%34%35%36%37%38"), "{out}");
}

#[test]
fn req_8_invalid_request_is_refused() {
    let err = mask_caller(
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        MaskMode::Full,
        &Limits::default(),
    );
    assert!(matches!(err, Err(MaskError::Parse(_))));
}

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, n).prop_map(|d| {
        let mut s: String = d.iter().map(|d| char::from(b'0' + d)).collect();
        // A leading 1 keeps it a plausible mobile number.
        s.replace_range(0..1, "1");
        s
    })
}

proptest! {
    #[test]
    fn req_8_prop_output_parses_no_number_left_rest_unchanged(
        number in digits(11),
        display in prop_oneof![Just(false), Just(true)],
        compact in prop_oneof![Just(false), Just(true)],
        full in prop_oneof![Just(false), Just(true)],
        other in "[A-Za-z]{1,8}",
    ) {
        let mode = if full { MaskMode::Full } else { MaskMode::MiddleFour };
        let name = if compact { "f" } else { "From" };
        let dn = if display { format!("\"{number}\" ") } else { String::new() };
        let msg = invite(&format!(
            "{name}: {dn}<sip:{number}@pbx.example.com>;tag=t1\r\n\
P-Asserted-Identity: <tel:{number}>\r\nX-{other}: keep\r\n"
        ));
        let out = mask(&msg, mode);
        let view = SipRequestView::parse(out.as_bytes(), &Limits::default());
        prop_assert!(view.is_ok());
        let head = &out[..out.find("Contact:").unwrap()];
        prop_assert!(!head.contains(number.as_str()));
        let masked_lines: Vec<&str> = out.split("\r\n").filter(|l| {
            !l.starts_with(name) && !l.starts_with("P-Asserted")
        }).collect();
        let orig_lines: Vec<&str> = msg.split("\r\n").filter(|l| {
            !l.starts_with(name) && !l.starts_with("P-Asserted")
        }).collect();
        prop_assert_eq!(masked_lines, orig_lines);
    }

    #[test]
    fn req_8_prop_any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = fuzz_sip_mask(&data);
    }

    #[test]
    fn req_8_prop_mutated_request_keeps_invariants(
        cut in 0usize..400,
        byte in any::<u8>(),
    ) {
        let msg = invite("From: \"13812345678\" <sip:13812345678@h>;tag=1\r\n");
        let mut bytes = msg.into_bytes();
        let at = cut % bytes.len();
        bytes[at] = byte;
        let _ = fuzz_sip_mask(&bytes);
    }
}
