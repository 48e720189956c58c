//! Runs per second of the `tiny` kernel (the counter contract: load, add, store, halt) under
//! the full run protocol, on one and on two threads: issue 11 asks for 5 million runs per
//! second on one core, issue 12 for `auto` to run 1.9x as many on two threads as on one.
//!
//! Run: `cargo bench -p coopvm-bench --bench throughput -- --warm-up-time 1 --measurement-time 3`.
//!
//! Group `tiny/<threads>t`, one function per way of running:
//!
//! - `interp`: `Engine::Interp.run` (the code lowered by the first run and kept with the
//!   contract);
//! - `jit`: `Engine::Jit.run`, the code compiled by a warm-up run and found in the engine's
//!   code cache on every run;
//! - `auto`: `Engine::Auto.run` after enough runs to be on native code;
//! - `interp-precompiled`, `jit-precompiled`: the run protocol (`coopvm::run::run`) around
//!   code made once outside the timing (`interp::lower`, `jit::compile`): what a run costs
//!   without lowering or the code cache.
//!
//! With t threads, one iteration is t runs, one on each thread, all threads running the
//! same verified contract at once (started together by a barrier; the threads are spawned
//! once per criterion sample, a fixed cost that criterion's per-iteration slope leaves
//! out). Criterion reports the throughput in runs per second (`elem/s`). At the end the
//! bench prints a markdown table from the same slope: runs per second on 1 and 2 threads and
//! their ratio (the scaling), with the load average, which matters: two threads on a machine
//! whose cores are busy cannot scale.

use coopvm::{interp, Engine, ExecutionContext, NoHost, RunParams, Verified};
use coopvm_bench::report::{self, Statistic};
use criterion::{BenchmarkId, Criterion, Throughput};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime};

/// The gas limit of a run (never reached).
const GAS: u64 = 1_000_000;

/// Threads tried.
const THREADS: [usize; 2] = [1, 2];

/// Ways of running, as criterion function names, in table order.
const WAYS: [&str; 5] = [
    "interp",
    "jit",
    "auto",
    "interp-precompiled",
    "jit-precompiled",
];

/// `iters` runs on each of `threads` threads at once; the wall time from the common start
/// until the last thread is done.
fn timed(threads: usize, iters: u64, run: &(dyn Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    for _ in 0..iters {
                        run();
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for w in workers {
            w.join().expect("a bench thread");
        }
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let k = coopvm_bench::kernel("tiny").expect("the tiny kernel");
    let n = k.default_n;
    let want = (k.native)(n);
    let v: Verified = k.verified(n);
    let ctx = ExecutionContext::default();
    let state = v.contract().state.clone();
    let interp_code = interp::lower(&v);
    let jit_code = coopvm::jit::compile(&v).expect("jit compiles");
    let params = RunParams::new(&ctx, &state, GAS);
    let check = |top: Option<&i64>, way: &str| assert_eq!(top, Some(&want), "tiny {way}");
    let run = |way: &str| -> coopvm::Outcome {
        match way {
            "interp" => Engine::Interp.run(&v, &ctx, &state, GAS, &mut NoHost),
            "jit" => Engine::Jit.run(&v, &ctx, &state, GAS, &mut NoHost),
            "auto" => Engine::Auto.run(&v, &ctx, &state, GAS, &mut NoHost),
            "interp-precompiled" => coopvm::run::run(&interp_code, &v, params, &mut NoHost),
            "jit-precompiled" => coopvm::run::run(&jit_code, &v, params, &mut NoHost),
            _ => unreachable!("a way of running"),
        }
    };
    // Warm up: Jit compiles on its first run; Auto would after 1,000 (the default policy),
    // but keeps a contract this small on the interpreter.
    for way in WAYS {
        for _ in 0..1_100 {
            check(run(way).stack.last(), way);
        }
    }
    // Too little work a run for native code to pay off: `auto` keeps it on the
    // interpreter (`Policy::min_gas_per_run`).
    assert!(
        !coopvm::tier::CodeCache::global().is_compiled(&v),
        "auto runs tiny on the interpreter"
    );
    for threads in THREADS {
        let mut group = c.benchmark_group(format!("tiny/{threads}t"));
        group.throughput(Throughput::Elements(threads as u64));
        for way in WAYS {
            let once = || {
                std::hint::black_box(run(way));
            };
            group.bench_function(BenchmarkId::new(way, n), |b| {
                b.iter_custom(|iters| timed(threads, iters, &once))
            });
        }
        group.finish();
    }
}

/// Runs per second on each thread count and the scaling (see the module docs).
fn summary(started: SystemTime, load_before: Option<String>) {
    let home = report::criterion_home();
    let n = coopvm_bench::kernel("tiny")
        .expect("the tiny kernel")
        .default_n
        .to_string();
    let mut rows = Vec::new();
    for way in WAYS {
        // Time per iteration (one run on each thread) -> runs per second in total. The
        // slope, as criterion prints it: the threads' start-up, a fixed cost per sample,
        // drops out of it.
        let rate: Vec<Option<f64>> = THREADS
            .iter()
            .map(|&t| {
                let group = format!("tiny/{t}t");
                report::estimate_ns(&home, (&group, way, &n), Statistic::Typical, started)
                    .map(|ns| t as f64 * 1e9 / ns)
            })
            .collect();
        if rate.iter().all(Option::is_none) {
            continue;
        }
        let cell = |r: Option<f64>| r.map_or_else(|| "-".into(), |r| format!("{:.2} M", r / 1e6));
        rows.push(format!(
            "| {way} | {} | {} | {} |",
            cell(rate[0]),
            cell(rate[1]),
            report::ratio(rate[1], rate[0]),
        ));
    }
    if rows.is_empty() {
        println!(
            "\n(no throughput results from this run under {})",
            home.display()
        );
        return;
    }
    println!(
        "\n## tiny: runs per second under the run protocol (criterion slope)\n\n\
         Load average (1, 5, 15 min): {} at the start, {} at the end; {} CPUs.\n\n\
         | engine | 1 thread | 2 threads | 2 threads / 1 |\n|---|---:|---:|---:|\n{}",
        load_before.as_deref().unwrap_or("?"),
        report::load_average().as_deref().unwrap_or("?"),
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        rows.join("\n")
    );
}

fn main() {
    let started = SystemTime::now();
    let load_before = report::load_average();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    summary(started, load_before);
}
