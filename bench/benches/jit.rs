//! Interpreter against JIT: execution only (both precompiled), on a counted loop, recursive
//! fib and a host-call loop, with native Rust baselines for the loop and fib; and the JIT's
//! compile time for every example and for a ~100-instruction contract.
//!
//! Run: `cargo bench -p coopvm-bench --bench jit -- --warm-up-time 1 --measurement-time 3`.
//! `cargo bench -p coopvm-bench --bench jit -- compile` runs only the compile-time groups (`compile`, and
//! `compile_scaling`: compile time per instruction from 100 to 16,000 instructions, at each
//! optimization level, and a chain of 16,000 `jumpif` blocks); `-- runs` the run-protocol
//! throughput of a counter-sized contract on one and two threads (`runs`). The figures the
//! tiering policy (`coopvm::tier::Policy::default`) is based on are in the README.

use coopvm::host::Env;
use coopvm::load;
use coopvm::memory::Memory;
use coopvm::{Execute, ExecutionContext, Limits, NoHost, Verified};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

/// Sums 1..=n with a counted loop (9 instructions per iteration, 2 blocks; a static memory
/// slot written and read each iteration).
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

/// A loop making two host calls per iteration (`gettimestamp`, `getblock`).
fn host_loop(n: u32) -> String {
    kernel_source("host2", n)
}

/// A straight-line-and-branches contract of about 100 instructions.
fn verified(src: &str) -> Verified {
    load::from_source("bench.casm", src)
        .expect("assembles")
        .verify(&Limits::default())
        .expect("verifies")
}

const GAS: u64 = u64::MAX / 2;

/// Native Rust: the loop kernel's work with the same checked arithmetic.
fn native_sum(n: i64) -> Option<i64> {
    let mut sum: i64 = 0;
    let mut i = n;
    while black_box(i) != 0 {
        sum = sum.checked_add(i)?;
        i = i.checked_sub(1)?;
    }
    Some(sum)
}

/// Native Rust: naive recursive fib with checked arithmetic.
fn native_fib(n: i64) -> Option<i64> {
    if black_box(n) < 2 {
        return Some(n);
    }
    native_fib(n.checked_sub(1)?)?.checked_add(native_fib(n.checked_sub(2)?)?)
}

fn kernel(c: &mut Criterion, name: &str, src: &str, native: Option<&dyn Fn() -> Option<i64>>) {
    let v = verified(src);
    let interp = coopvm::interp::lower(&v);
    let jit = coopvm::jit::compile(&v).expect("compiles");
    let ctx = ExecutionContext {
        timestamp: 3,
        block_number: 4,
        ..Default::default()
    };
    let contract = v.contract();
    let memory = Memory::new(&contract.program, &contract.state, v.limits().memory_keys);
    // Both engines agree before anything is timed.
    let once = |jit_engine: bool| {
        let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
        let mut mem = memory.clone();
        if jit_engine {
            jit.execute(&mut env, &mut NoHost, &mut mem, GAS)
        } else {
            interp.execute(&mut env, &mut NoHost, &mut mem, GAS)
        }
    };
    let (a, b) = (once(false), once(true));
    assert_eq!(a, b, "{name}: engines disagree");
    assert!(a.result.is_ok(), "{name}: {a:?}");
    if let Some(native) = native {
        assert_eq!(native(), a.stack.last().copied(), "{name}: native baseline");
    }
    let mut g = c.benchmark_group(name);
    g.bench_function("interp", |b| {
        b.iter(|| {
            let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
            let mut mem = memory.clone();
            black_box(interp.execute(&mut env, &mut NoHost, &mut mem, GAS))
        })
    });
    g.bench_function("jit", |b| {
        b.iter(|| {
            let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
            let mut mem = memory.clone();
            black_box(jit.execute(&mut env, &mut NoHost, &mut mem, GAS))
        })
    });
    if let Some(native) = native {
        g.bench_function("native", |b| b.iter(|| black_box(native())));
    }
    g.finish();
}

fn execution(c: &mut Criterion) {
    kernel(
        c,
        "loop_10k",
        &sum_loop(10_000),
        Some(&|| native_sum(10_000)),
    );
    kernel(c, "fib_20", &fib(20), Some(&|| native_fib(20)));
    kernel(c, "host_loop_1k", &host_loop(1_000), None);
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    let mut sources: Vec<(String, String)> = Vec::new();
    for name in [
        "counter",
        "fib",
        "loop",
        "rollback",
        "subroutine",
        "governance/found",
    ] {
        let path = format!("{}/../examples/{name}.casm", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).expect("example exists");
        sources.push((name.replace('/', "_"), src));
    }
    sources.push(("hundred".into(), coopvm::jit::shapes::hundred(120)));
    for (name, src) in &sources {
        let v = verified(src);
        g.bench_function(format!("jit/{name}"), |b| {
            b.iter(|| black_box(coopvm::jit::compile(&v).expect("compiles")))
        });
        g.bench_function(format!("interp/{name}"), |b| {
            b.iter(|| black_box(coopvm::interp::lower(&v)))
        });
    }
    g.finish();
}

fn compile_scaling(c: &mut Criterion) {
    use coopvm::jit::{compile_with_options, OptLevel, Options};
    let mut g = c.benchmark_group("compile_scaling");
    g.sample_size(10);
    for n in [100, 1_000, 4_000, 16_000] {
        let v = verified(&coopvm::jit::shapes::hundred(n));
        for (name, opt) in [
            ("fast", OptLevel::Fast),
            ("none", OptLevel::None),
            ("speed", OptLevel::Speed),
        ] {
            let options = Options {
                opt: Some(opt),
                ..Options::default()
            };
            g.bench_function(format!("{name}/{n}"), |b| {
                b.iter(|| black_box(compile_with_options(&v, options).expect("compiles")))
            });
        }
        g.bench_function(format!("default/{n}"), |b| {
            b.iter(|| black_box(coopvm::jit::compile(&v).expect("compiles")))
        });
    }
    let mut chain = String::new();
    for i in 0..16_000 {
        chain.push_str(&format!("push 1\njumpif l{i}\nl{i}:\n"));
    }
    let v = verified(&chain);
    g.bench_function("jumpif_chain/16000", |b| {
        b.iter(|| black_box(coopvm::jit::compile(&v)))
    });
    g.finish();
}

/// Runs per second of the counter example under the full run protocol through a code cache
/// with the code ready: on one thread, and on two at once (time per run of each thread).
fn runs(c: &mut Criterion) {
    use coopvm::tier::{CodeCache, Policy};
    let path = format!("{}/../examples/counter.casm", env!("CARGO_MANIFEST_DIR"));
    let v = verified(&std::fs::read_to_string(path).expect("example exists"));
    let ctx = ExecutionContext::default();
    let mut g = c.benchmark_group("runs");
    for (name, policy) in [
        ("eager", Policy::EAGER),
        (
            "auto",
            Policy {
                runs: 1,
                ..Policy::default()
            },
        ),
    ] {
        let cache = CodeCache::new(policy);
        let state = v.contract().state.clone();
        let once = || {
            let params = coopvm::RunParams::new(&ctx, &state, 1_000);
            cache.run(&v, params, &mut NoHost)
        };
        once();
        once();
        cache.wait_for_compiles();
        assert_eq!(once().1, coopvm::tier::Tier::Jit);
        for threads in [1u64, 2] {
            g.bench_function(format!("{name}/{threads}_threads"), |b| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(threads);
                    let start = std::time::Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| {
                                for _ in 0..per {
                                    black_box(once());
                                }
                            });
                        }
                    });
                    // Time per run of the whole machine: throughput.
                    start.elapsed() / threads as u32
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, execution, compile, compile_scaling, runs);
criterion_main!(benches);
