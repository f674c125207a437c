//! Parses a typical 600-byte REGISTER many times: a fixed workload for
//! `valgrind --tool=callgrind` (instruction counts are repeatable on a
//! loaded machine, unlike wall-clock benches).
//!
//! `cargo build --release -p okcc-sip --example view_parse_loop` then
//! `valgrind --tool=callgrind target/release/examples/view_parse_loop 10000`.

use okcc_sip::view::{Limits, SipRequestView};

const REGISTER: &[u8] = b"REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Agent 1001\" <sip:1001@example.com>;tag=456248\r\n\
To: <sip:1001@example.com>\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:1001@192.0.2.10:5060;transport=udp>;expires=3600\r\n\
User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\
Authorization: Digest username=\"1001\", realm=\"example.com\", nonce=\"MTcwMDAwMDAwMDpkZWFkYmVlZmRlYWRiZWVmZGVhZGJlZWY\", uri=\"sip:example.com\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\"\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\r\n";

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let limits = Limits::default();
    let mut total = 0usize;
    for _ in 0..n {
        let msg = std::hint::black_box(REGISTER);
        if let Ok(view) = SipRequestView::parse(msg, &limits) {
            total = total.wrapping_add(view.call_id.len());
        }
    }
    println!("{} bytes, {n} parses, checksum {total}", REGISTER.len());
}
