//! The cost of run statistics: the interpreter's execution loop with statistics off (the
//! plain `Execute::execute`) and on (`Execute::execute_counted` plus deriving the
//! figures), on a hot counted loop and on recursive calls; the same for the JIT's plain and
//! counted native code (`jit_kernel/`); and whole runs through the facade
//! (`Engine::run` against `Engine::run_with_stats`, which also emits logs and metrics, here
//! with no subscriber or recorder installed).
//!
//! Run: `cargo bench -p coopvm-bench --bench stats`. On a loaded machine criterion's means
//! wander with the load; `COOPVM_BENCH_PAIRS=1 cargo bench -p coopvm-bench --bench stats`
//! instead runs the two kernels (interpreter and JIT) alternately, 1000 times each, and prints
//! for each the fastest time and the median of the per-pair ratio on/off, which the load
//! disturbs far less.

use coopvm::host::Env;
use coopvm::memory::Memory;
use coopvm::stats::Tally;
use coopvm::{load, Engine};
use coopvm::{Execute, ExecutionContext, Limits, NoHost, Verified};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Sums 1..=n with a counted loop (9 instructions per iteration, 2 blocks).
fn sum_loop(n: u32) -> String {
    kernel_source("sum", n)
}

/// fib(n) by naive recursion: calls and returns.
fn fib(n: u32) -> String {
    kernel_source("fib", n)
}

/// The source of the shared kernel `name` (`coopvm_bench`) at size `n`.
fn kernel_source(name: &str, n: u32) -> String {
    (coopvm_bench::kernel(name).expect("a shared kernel").source)(i64::from(n))
}

fn verified(src: &str) -> Verified {
    load::from_source("bench.casm", src)
        .expect("assembles")
        .verify(&Limits::default())
        .expect("verifies")
}

const GAS: u64 = u64::MAX / 2;

/// One run of `code` from the contract's initial state with statistics off.
fn run_plain(v: &Verified, ctx: &ExecutionContext, code: &impl Execute) {
    let contract = v.contract();
    let mut env = Env::new(ctx, &contract.id, &contract.program.strings);
    let mut memory = Memory::new(&contract.program, &contract.state, v.limits().memory_keys);
    black_box(code.execute(&mut env, &mut NoHost, &mut memory, GAS));
}

/// One run of `code` (counted code, for the JIT) with statistics on, its figures derived.
fn run_counted(v: &Verified, ctx: &ExecutionContext, code: &impl Execute) {
    let contract = v.contract();
    let mut env = Env::new(ctx, &contract.id, &contract.program.strings);
    let mut memory = Memory::new(&contract.program, &contract.state, v.limits().memory_keys);
    let mut tally = Tally::new(v.analysis());
    let (exec, stop) = code.execute_counted(
        v.analysis(),
        &mut env,
        &mut NoHost,
        &mut memory,
        GAS,
        &mut tally,
    );
    black_box((exec, tally.finish(v, stop)));
}

/// Statistics off (`plain`) and on (`counted`) for one engine's code, as group `group/name`.
fn kernel(
    c: &mut Criterion,
    group: &str,
    name: &str,
    v: &Verified,
    plain: &impl Execute,
    counted: &impl Execute,
) {
    let ctx = ExecutionContext::default();
    let mut group = c.benchmark_group(format!("{group}/{name}"));
    group.bench_function("stats_off", |b| b.iter(|| run_plain(v, &ctx, plain)));
    group.bench_function("stats_on", |b| b.iter(|| run_counted(v, &ctx, counted)));
    group.finish();
}

/// The interpreter's kernel (`kernel/`) and the JIT's plain native code against its counted
/// code (`compile_counted`, `jit_kernel/`).
fn kernels(c: &mut Criterion, name: &str, v: &Verified) {
    let code = coopvm::interp::lower(v);
    kernel(c, "kernel", name, v, &code, &code);
    let plain = coopvm::jit::compile(v).expect("compiles");
    let counted = coopvm::jit::compile_counted(v).expect("compiles");
    kernel(c, "jit_kernel", name, v, &plain, &counted);
}

fn whole_run(c: &mut Criterion, name: &str, v: &Verified) {
    let ctx = ExecutionContext::default();
    let state = v.contract().state.clone();
    let mut group = c.benchmark_group(format!("run/{name}"));
    group.bench_function("plain", |b| {
        b.iter(|| black_box(Engine::Interp.run(v, &ctx, &state, GAS, &mut NoHost)))
    });
    group.bench_function("with_stats", |b| {
        b.iter(|| black_box(Engine::Interp.run_with_stats(v, &ctx, &state, GAS, &mut NoHost)))
    });
    group.finish();
}

/// `off` and `on` alternately, 1000 times each: the fastest of each and the median ratio.
fn pairs(name: &str, mut off: impl FnMut(), mut on: impl FnMut()) {
    let (mut best_off, mut best_on, mut ratios) = (f64::MAX, f64::MAX, Vec::new());
    for _ in 0..1000 {
        let started = Instant::now();
        off();
        let a = started.elapsed().as_secs_f64();
        let started = Instant::now();
        on();
        let b = started.elapsed().as_secs_f64();
        best_off = best_off.min(a);
        best_on = best_on.min(b);
        ratios.push(b / a);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "{name}: stats off {:.1} us, stats on {:.1} us (fastest of 1000); median on/off {:.3}",
        best_off * 1e6,
        best_on * 1e6,
        ratios[ratios.len() / 2]
    );
}

/// The interpreter's and the JIT's kernels with statistics off and on, pair by pair.
fn all_pairs(name: &str, v: &Verified) {
    let code = coopvm::interp::lower(v);
    let plain = coopvm::jit::compile(v).expect("compiles");
    let counted = coopvm::jit::compile_counted(v).expect("compiles");
    let ctx = ExecutionContext::default();
    pairs(
        &format!("kernel/{name}"),
        || run_plain(v, &ctx, &code),
        || run_counted(v, &ctx, &code),
    );
    pairs(
        &format!("jit_kernel/{name}"),
        || run_plain(v, &ctx, &plain),
        || run_counted(v, &ctx, &counted),
    );
}

fn benches(c: &mut Criterion) {
    if std::env::var_os("COOPVM_BENCH_PAIRS").is_some() {
        all_pairs("sum_loop_10000", &verified(&sum_loop(10_000)));
        all_pairs("fib_20", &verified(&fib(20)));
        return;
    }
    let sum = verified(&sum_loop(10_000));
    let fib = verified(&fib(20));
    kernels(c, "sum_loop_10000", &sum);
    kernels(c, "fib_20", &fib);
    whole_run(c, "fib_20", &fib);
}

criterion_group! {
    name = stats;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(stats);
