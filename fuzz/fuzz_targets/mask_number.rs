#![no_main]
//! Number parser + masker: parse any bytes as a number, SIP/tel URI or
//! name-addr, mask in both modes, and check the masking invariants.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    okcc_core::mask::fuzzing::mask_number(data);
});
