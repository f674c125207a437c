#![no_main]
//! Raw SIP bytes through the unknown-method work-around (501 Not Implemented).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = okcc_sip::fuzzing::sip_unknown_method(data);
});
