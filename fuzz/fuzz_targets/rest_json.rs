#![no_main]
//! JSON bodies and query strings through the REST router (in process, memory
//! stores, as a platform admin): no input may get a 5xx answer or a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    okcc_server::fuzzing::rest_request(data);
});
