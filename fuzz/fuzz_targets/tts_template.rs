#![no_main]
//! Fuzzes `okcc_core::review::fuzzing::tts_template`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    okcc_core::review::fuzzing::tts_template(data);
});
