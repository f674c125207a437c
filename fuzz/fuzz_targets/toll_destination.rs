#![no_main]
//! Toll-fraud destination normaliser: parse any bytes as a dialed number
//! and check the canonical-form invariants.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    okcc_core::toll::number::fuzzing::toll_destination(data);
});
