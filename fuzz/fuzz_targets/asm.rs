//! The `asm` fuzz target: see `coopvm_fuzz::asm`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    coopvm_fuzz::asm(data);
});
