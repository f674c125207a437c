#![no_main]
//! Raw Authorization header values through the okcc-sip digest parser.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = okcc_sip::fuzzing::sip_authorization(data);
});
