//! The `datavalue` fuzz target: see `coopvm_fuzz::datavalue`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    coopvm_fuzz::datavalue(data);
});
