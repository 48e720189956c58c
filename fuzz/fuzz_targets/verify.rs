//! The `verify` fuzz target: see `coopvm_fuzz::verify_target`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    coopvm_fuzz::verify_target(data);
});
