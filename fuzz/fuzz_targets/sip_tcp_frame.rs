#![no_main]
//! SIP/TCP bytes through the server's TCP filter framing (`serve/tcp_front.rs`),
//! cut into two reads: every byte comes out once and in order, only requests
//! with unknown methods are picked out, and the buffer stays bounded.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    okcc_server::fuzzing::sip_tcp_frame(data);
});
