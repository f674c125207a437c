#![no_main]
//! Fuzzes `okcc_core::review::fuzzing::sms_segments`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    okcc_core::review::fuzzing::sms_segments(data);
});
