#![no_main]
//! Arbitrary bytes through the `user:ha1hex` line parser and one audit.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    okcc_core::credential::fuzzing::ha1_audit_line(data);
});
