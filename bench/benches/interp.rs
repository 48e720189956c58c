//! Criterion benches of the reference interpreter against native Rust, on the shared kernels
//! (`coopvm_bench`). Execution only: each contract is verified and lowered once (so `tiny`
//! here is one execution without the run protocol; `benches/throughput.rs` runs it whole).
//!
//! Run: `cargo bench -p coopvm-bench --bench interp` (add `-- loop` to pick a kernel).

use coopvm::host::Env;
use coopvm::interp;
use coopvm::memory::Memory;
use coopvm::{Execute, ExecutionContext, NoHost};
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
