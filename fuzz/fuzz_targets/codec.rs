//! The `codec` fuzz target: see `coopvm_fuzz::codec`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    coopvm_fuzz::codec(data);
});
