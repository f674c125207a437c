#![no_main]
//! Raw SIP bytes through size cap, pre-parse check, parse, the guard pipeline and reply_for.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = okcc_sip::fuzzing::sip_pipeline(data);
});
