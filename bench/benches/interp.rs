//! Criterion benches of the reference interpreter against native Rust, on the shared kernels
//! (`coopvm_bench`). Execution only: each contract is verified and lowered once (so `tiny`
//! here is one execution without the run protocol; `benches/throughput.rs` runs it whole).
//!
//! The `protocol` group measures a counter-sized contract (`load count`, `push 1`, `add`,
//! `dup`, `store count`, `halt`) under the full run protocol through
//! `Engine::Interp.run(...)` (checks, transaction, memory in, state out): its time per
//! iteration is the inverse of runs per second on one core.
//!
//! Run: `cargo bench -p coopvm-bench --bench interp` (add `-- loop` to pick a kernel,
//! `-- protocol` for the counter contract).

use coopvm::host::Env;
use coopvm::memory::Memory;
use coopvm::{interp, load};
use coopvm::{Engine, Execute, ExecutionContext, Limits, NoHost};
use coopvm_bench as kernels;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let ctx = ExecutionContext {
        timestamp: 1,
        ..Default::default()
    };
    for k in kernels::kernels() {
        let n = k.default_n;
        let v = k.verified(n);
        let keys = v.limits().memory_keys;
        let compiled = interp::lower(&v);
        let contract = v.contract();
        let mut group = c.benchmark_group(k.name);
        group.bench_function(BenchmarkId::new("native", n), |b| {
            b.iter(|| (k.native)(black_box(n)))
        });
        group.bench_function(BenchmarkId::new("interp", n), |b| {
            b.iter(|| {
                let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
                let mut memory = Memory::new(&contract.program, &contract.state, keys);
                let exec = compiled.execute(&mut env, &mut NoHost, &mut memory, u64::MAX);
                assert!(exec.result.is_ok());
                exec.stack
            })
        });
        group.finish();
    }
    protocol(c);
}

/// The counter contract under the full run protocol (see the module docs).
fn protocol(c: &mut Criterion) {
    let src = ".contract counter\n.state count 0\n\
               load count\npush 1\nadd\ndup\nstore count\nhalt\n";
    let v = load::from_source("counter.casm", src)
        .unwrap()
        .verify(&Limits::default())
        .unwrap();
    let ctx = ExecutionContext::default();
    let state = v.contract().state.clone();
    let first = Engine::Interp.run(&v, &ctx, &state, 1_000, &mut NoHost);
    assert_eq!(
        (first.stack.as_slice(), first.state["count"]),
        (&[1][..], 1)
    );
    let mut group = c.benchmark_group("protocol");
    group.bench_function("counter/interp", |b| {
        b.iter(|| Engine::Interp.run(black_box(&v), &ctx, &state, 1_000, &mut NoHost))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
