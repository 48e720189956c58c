//! Measures the STARK backend on a loop relation of about 2^k executed coopvm instructions:
//! prove time, proof size and verify time (run it under `/usr/bin/time -v` for the peak
//! memory of one size).
//!
//! ```text
//! cargo run --release -p coopvm-stark --features miden --example measure -- 10 12 14 16
//! ```

use coopvm_core::{asm::assemble, Limits};
use std::time::Instant;

/// `[public, n]`: counts n down to 0 (5 instructions a turn), then multiplies public by
/// itself (a checked `mul`) and compares it with 0: holds when public != 0.
const RELATION: &str = ".params 2
loop:
    dup
    jumpif body
    pop
    dup
    mul
    push 0
    ne
    halt
body:
    push 1
    sub
    jump loop
";

/// Instructions the relation executes for `n` turns.
fn executed(n: u64) -> u64 {
    5 * n + 8
}

fn main() {
    let sizes: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("sizes are log2 instruction counts"))
        .collect();
    let sizes = if sizes.is_empty() { vec![10] } else { sizes };
    let contract = assemble("loop.casm", RELATION).expect("the relation assembles");
    let limits = Limits::default();
    let t = Instant::now();
    let compiled = coopvm_stark::Compiled::new(&contract, &limits).expect("it translates");
    println!(
        "translating and assembling the relation (once per relation, prover and verifier): {:.1} ms\n",
        t.elapsed().as_secs_f64() * 1000.0
    );
    println!(
        "| instructions | gas | Miden cycles | trace rows (padded) | prove | proof size | verify |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for k in sizes {
        let n = ((1u64 << k) - 8) / 5;
        let size = coopvm_stark::trace_size(&compiled, 3, n as i64).expect("the relation holds");
        let t = Instant::now();
        let proof = coopvm_stark::prove_compiled(&compiled, 3, n as i64, u64::MAX)
            .expect("the relation holds");
        let prove = t.elapsed();
        let bytes = proof.to_bytes();
        let t = Instant::now();
        let parsed = coopvm_stark::StarkProof::from_bytes(&bytes).expect("it parses");
        coopvm_stark::verify_compiled(&compiled, 3, &parsed).expect("it verifies");
        let verify = t.elapsed();
        println!(
            "| {} (2^{k}) | {} | {} | {} (2^{}) | {:.2} s | {:.1} KB | {:.1} ms |",
            executed(n),
            proof.gas,
            size.cycles,
            size.rows,
            size.padded.trailing_zeros(),
            prove.as_secs_f64(),
            bytes.len() as f64 / 1000.0,
            verify.as_secs_f64() * 1000.0
        );
    }
}
