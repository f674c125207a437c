#![no_main]
//! Raw SIP bytes through the signalling masker (both modes, invariants checked).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = okcc_sip::masking::fuzz_sip_mask(data);
});
