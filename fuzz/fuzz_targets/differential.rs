//! The `differential` fuzz target: see `coopvm_fuzz::differential`. Inputs whose program
//! does not verify are rejected (kept out of the corpus).
#![no_main]

use libfuzzer_sys::Corpus;

libfuzzer_sys::fuzz_target!(|data: &[u8]| -> Corpus {
    if coopvm_fuzz::differential(data) == 0 {
        Corpus::Reject
    } else {
        Corpus::Keep
    }
});
