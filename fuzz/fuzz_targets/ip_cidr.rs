#![no_main]
//! IP / CIDR parser: must never panic; what parses must round-trip.
libfuzzer_sys::fuzz_target!(|data: &[u8]| okcc_core::access::fuzz_ip_cidr(data));
