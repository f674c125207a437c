#![no_main]
//! Arbitrary bytes through the default password policy.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    okcc_core::password::fuzzing::password_check(data);
});
