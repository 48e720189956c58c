//! The `store` fuzz target: see `coopvm_fuzz::store::store`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    coopvm_fuzz::store::store(data);
});
