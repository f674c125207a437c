//! Parses and verifies an exported audit JSON Lines input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = okcc_audit::export::fuzz_verify_jsonl(data);
});
