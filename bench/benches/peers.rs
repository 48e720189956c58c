//! coopvm against peer VMs, gas (fuel) metering on everywhere, same kernels, one run:
//! native Rust, coopvm's interpreter and JIT, wasmi with fuel, wasmtime with fuel.
//!
//! Heavy to build (wasmtime takes minutes), so behind a feature:
//! `cargo bench -p coopvm-bench --features peers --bench peers -- --warm-up-time 1 --measurement-time 3`
//! (add a filter such as `-- peers/sieve` to run one kernel).
//!
//! # What is measured
//!
//! Every kernel of `coopvm_bench` at its default size, as criterion group `peers/<kernel>`,
//! on the engines (criterion function names):
//!
//! - `native`: the kernel's native Rust twin;
//! - `coopvm-interp`, `coopvm-jit`: the contract verified, lowered (interpreter) or compiled
//!   (JIT) once outside the timing; each iteration is one execution (`Execute::execute`)
//!   with a fresh `Env` and `Memory`, without the run protocol's checks and outcome;
//! - `wasmi-fuel`, `wasmtime-fuel`: the kernel's Wasm twin (the module below) on one
//!   instance made before timing, fuel metering on; each iteration sets the fuel and calls
//!   the exported function.
//!
//! `tiny` is different: it is about per-run overhead, so its coopvm figures are whole runs
//! under the run protocol (`Engine::run`: checks, memory from the state, execution,
//! transaction, outcome with the new state): `coopvm-interp` is `Engine::Interp.run` (the
//! code lowered by the first run and kept with the contract), `coopvm-jit` is
//! `Engine::Jit.run` with the code already compiled by a warm-up run (the run still goes
//! through the engine's code cache), and `coopvm-auto` is `Engine::Auto.run` after enough runs to be on native code.
//! Its peers twin does much less: it calls an exported function that increments a global
//! of a pre-instantiated module, with fuel set before each call: no instantiation, no state
//! copied in or out, no outcome. That is what a Wasm host calling into a long-lived
//! instance pays; a fresh instance per run (closer to coopvm's protocol) would cost
//! wasmi and wasmtime microseconds. Runs per second are 1e9 / the time in nanoseconds.
//!
//! The Wasm twins compute what `coopvm_bench` computes, with the same operations where Wasm
//! has them (`i64.rem_s` and `i64.div_s` for `mod` and `div`, one i64 of linear memory per
//! key for `sieve`); Wasm's arithmetic wraps where coopvm's is checked (the sizes used never
//! overflow), and the native twins check only where the kernel could overflow. Every
//! engine's result is checked against the native one before anything is measured.
//!
//! # Reading the results
//!
//! After criterion's own output the bench prints a markdown table: the mean time of each
//! kernel on each engine and the ratios interp / wasmi, interp / native, JIT / native and
//! JIT / wasmtime (below 1.00x means coopvm is faster), with the load average at the start
//! and the end of the run. Ratios to native are `n/a` for `host`, `host2` and `tiny`, whose
//! native twins only return the result. The table is read back from criterion's
//! `estimates.json` files (`coopvm_bench::report`); a kernel filtered out of the run shows
//! `-`. On a shared, loaded machine compare only ratios from one run.

use coopvm::host::Env;
use coopvm::memory::Memory;
use coopvm::{interp, Engine};
use coopvm::{Execute, ExecutionContext, NoHost, Verified};
use coopvm_bench::peers::{Wasmi, Wasmtime, GAS, TIMESTAMP, WAT};
use coopvm_bench::{self as kernels, report};
use criterion::{BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::SystemTime;

/// The engines of the table, as criterion function names, in column order.
const ENGINES: [&str; 6] = [
    "native",
    "coopvm-interp",
    "coopvm-jit",
    "coopvm-auto",
    "wasmi-fuel",
    "wasmtime-fuel",
];

/// Kernels whose native twin does not do the work (it returns what the host calls or the
/// protocol would produce), so their ratios to native are left out of the table.
const NO_NATIVE_RATIO: [&str; 3] = ["host", "host2", "tiny"];

/// `tiny`'s coopvm engines: whole runs under the run protocol (see the module docs).
fn bench_tiny(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    v: &Verified,
    ctx: &ExecutionContext,
    n: i64,
    want: i64,
) {
    let state = v.contract().state.clone();
    for engine in [Engine::Interp, Engine::Jit, Engine::Auto] {
        // Jit compiles on its first run; Auto would after 1,000 runs (the default policy),
        // but keeps a contract this small on the interpreter.
        for _ in 0..1_100 {
            let out = engine.run(v, ctx, &state, GAS, &mut NoHost);
            assert_eq!(out.stack.last(), Some(&want), "tiny {}", engine.name());
        }
        let name = format!("coopvm-{}", engine.name());
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter(|| engine.run(v, ctx, &state, GAS, &mut NoHost))
        });
    }
    // Too little work a run for native code to pay off: `auto` keeps it on the
    // interpreter (`Policy::min_gas_per_run`).
    assert!(
        !coopvm::tier::CodeCache::global().is_compiled(v),
        "auto runs tiny on the interpreter"
    );
}

fn bench(c: &mut Criterion) {
    let wasm = wat::parse_str(WAT).expect("valid WAT");
    let mut wasmi = Wasmi::new(&wasm);
    let mut wasmtime = Wasmtime::new(&wasm);
    let ctx = ExecutionContext {
        timestamp: TIMESTAMP.unsigned_abs(),
        ..Default::default()
    };
    for k in kernels::kernels() {
        let n = k.default_n;
        let want = (k.native)(n);
        let v = k.verified(n);
        let contract = v.contract();
        let keys = v.limits().memory_keys;
        let wi = wasmi.func(k.name);
        let wt = wasmtime.func(k.name);
        if k.name == "tiny" {
            let (si, st) = (wasmi.func("tiny_set"), wasmtime.func("tiny_set"));
            wasmi.call(&si, n);
            wasmtime.call(&st, n);
        }
        assert_eq!(wasmi.call(&wi, n), want, "{} wasmi", k.name);
        assert_eq!(wasmtime.call(&wt, n), want, "{} wasmtime", k.name);

        let mut group = c.benchmark_group(format!("peers/{}", k.name));
        group.bench_function(BenchmarkId::new("native", n), |b| {
            b.iter(|| (k.native)(black_box(n)))
        });
        if k.name == "tiny" {
            bench_tiny(&mut group, &v, &ctx, n, want);
        } else {
            let compiled = interp::lower(&v);
            let jitted = coopvm::jit::compile(&v).expect("jit compiles");
            let run_interp = || {
                let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
                let mut memory = Memory::new(&contract.program, &contract.state, keys);
                compiled.execute(&mut env, &mut NoHost, &mut memory, GAS)
            };
            let run_jit = || {
                let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
                let mut memory = Memory::new(&contract.program, &contract.state, keys);
                jitted.execute(&mut env, &mut NoHost, &mut memory, GAS)
            };
            assert_eq!(run_interp().stack.last(), Some(&want), "{} interp", k.name);
            assert_eq!(run_jit().stack.last(), Some(&want), "{} jit", k.name);
            group.bench_function(BenchmarkId::new("coopvm-interp", n), |b| b.iter(run_interp));
            group.bench_function(BenchmarkId::new("coopvm-jit", n), |b| b.iter(run_jit));
        }
        group.bench_function(BenchmarkId::new("wasmi-fuel", n), |b| {
            b.iter(|| wasmi.call(&wi, black_box(n)))
        });
        group.bench_function(BenchmarkId::new("wasmtime-fuel", n), |b| {
            b.iter(|| wasmtime.call(&wt, black_box(n)))
        });
        group.finish();
    }
}

/// The markdown table of means and ratios (see the module docs).
fn summary(started: SystemTime, load_before: Option<String>) {
    let home = report::criterion_home();
    let mut lines = vec![
        String::new(),
        "## coopvm against peer VMs: mean time per run (criterion mean)".into(),
        String::new(),
        format!(
            "Load average (1, 5, 15 min): {} at the start, {} at the end. Results from {}.",
            load_before.as_deref().unwrap_or("?"),
            report::load_average().as_deref().unwrap_or("?"),
            home.display()
        ),
        String::new(),
        "| kernel | n | native | interp | JIT | auto | wasmi+fuel | wasmtime+fuel \
         | interp/wasmi | interp/native | JIT/native | JIT/wasmtime |"
            .into(),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".into(),
    ];
    let mut any = false;
    for k in kernels::kernels() {
        let n = k.default_n.to_string();
        let group = format!("peers/{}", k.name);
        let t: Vec<Option<f64>> = ENGINES
            .iter()
            .map(|e| report::mean_ns(&home, &group, e, &n, started))
            .collect();
        if t.iter().all(Option::is_none) {
            continue;
        }
        any = true;
        let [native, interp, jit, auto, wasmi, wasmtime] = t[..] else {
            unreachable!("one figure per engine")
        };
        let cell = |x: Option<f64>| x.map_or_else(|| "-".into(), report::time);
        let to_native = |x: Option<f64>| {
            if NO_NATIVE_RATIO.contains(&k.name) {
                "n/a".into()
            } else {
                report::ratio(x, native)
            }
        };
        lines.push(format!(
            "| {} | {n} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            k.name,
            cell(native),
            cell(interp),
            cell(jit),
            cell(auto),
            cell(wasmi),
            cell(wasmtime),
            report::ratio(interp, wasmi),
            to_native(interp),
            to_native(jit),
            report::ratio(jit, wasmtime),
        ));
    }
    if !any {
        println!(
            "\n(no peers results from this run under {})",
            home.display()
        );
        return;
    }
    lines.push(String::new());
    lines.push(
        "Ratios are coopvm's time over the other's: below 1.00x coopvm is faster. `tiny` is \
         whole runs under the run protocol for coopvm, a call into a live instance for the \
         peers (see the bench's docs); runs per second = 1e9 / ns. n/a: the native twin of \
         host, host2 and tiny only returns the result (no host calls, no run)."
            .into(),
    );
    println!("{}", lines.join("\n"));
}

fn main() {
    let started = SystemTime::now();
    let load_before = report::load_average();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    summary(started, load_before);
}
