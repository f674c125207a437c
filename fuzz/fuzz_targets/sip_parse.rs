#![no_main]
//! Raw SIP bytes through the okcc-sip view parser.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = okcc_sip::fuzzing::sip_parse(data);
});
