//! Runs one kernel once on one engine, inside a function named `measured`, for instruction
//! counts that do not depend on the machine's load:
//!
//! ```text
//! cargo build --release -p coopvm-bench --features wasmi --example count
//! valgrind --tool=callgrind --toggle-collect='*measured*' \
//!     target/release/examples/count <engine> <kernel> [n]
//! ```
//!
//! Engines: `native` (the kernel's Rust twin), `interp` (one `Execute::execute` of the
//! interpreter's code with a fresh `Env` and `Memory`, as the peers bench times it; for
//! `tiny`, one whole run under the run protocol, `Engine::Interp.run`), `wasmi` (the Wasm
//! twin on a live instance, fuel set before the call, as the peers bench times it). Setup
//! (verification, lowering, Wasm compilation) and one warm-up run happen before `measured`,
//! so only the measured run is counted. The result is checked against the native twin.

use coopvm::host::Env;
use coopvm::memory::Memory;
use coopvm::{interp, Engine, Execute, ExecutionContext, NoHost};
use std::hint::black_box;
use std::process::ExitCode;

use coopvm_bench::{GAS, TIMESTAMP};

/// The counted region: callgrind collects only inside it.
#[inline(never)]
fn measured<R>(f: impl FnOnce() -> R) -> R {
    black_box(f())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(engine), Some(kernel)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: count <native|interp|wasmi> <kernel> [n]");
        return ExitCode::FAILURE;
    };
    let Some(k) = coopvm_bench::kernel(kernel) else {
        eprintln!("no kernel named {kernel}");
        return ExitCode::FAILURE;
    };
    let n = match args.get(3).map(|n| n.parse::<i64>()) {
        None => k.default_n,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("bad n: {e}");
            return ExitCode::FAILURE;
        }
    };
    let want = (k.native)(n);
    let got = match engine.as_str() {
        "native" => {
            (k.native)(n);
            measured(|| (k.native)(black_box(n)))
        }
        "interp" => interp_run(k, n),
        "wasmi" => wasmi_run(k, n),
        other => {
            eprintln!("no engine named {other}");
            return ExitCode::FAILURE;
        }
    };
    if got != want {
        eprintln!("{kernel} on {engine}: {got}, expected {want}");
        return ExitCode::FAILURE;
    }
    println!("{kernel} on {engine} (n = {n}): {got}");
    ExitCode::SUCCESS
}

fn interp_run(k: &coopvm_bench::Kernel, n: i64) -> i64 {
    let ctx = ExecutionContext {
        timestamp: TIMESTAMP.unsigned_abs(),
        ..Default::default()
    };
    let v = k.verified(n);
    if k.name == "tiny" {
        let state = v.contract().state.clone();
        let run = || Engine::Interp.run(&v, &ctx, &state, GAS, &mut NoHost);
        run();
        let out = measured(run);
        return out.stack.last().copied().unwrap_or(i64::MIN);
    }
    let contract = v.contract();
    let keys = v.limits().memory_keys;
    let code = interp::lower(&v);
    let run = || {
        let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
        let mut memory = Memory::new(&contract.program, &contract.state, keys);
        code.execute(&mut env, &mut NoHost, &mut memory, GAS)
    };
    run();
    let exec = measured(run);
    exec.stack.last().copied().unwrap_or(i64::MIN)
}

fn wasmi_run(k: &coopvm_bench::Kernel, n: i64) -> i64 {
    use coopvm_bench::peers::{Wasmi, WAT};
    let wasm = wat::parse_str(WAT).expect("valid WAT");
    let mut vm = Wasmi::new(&wasm);
    let (f, set) = (vm.func(k.name), vm.func("tiny_set"));
    let mut call = |f: &wasmi::TypedFunc<i64, i64>, n: i64| vm.call(f, n);
    if k.name == "tiny" {
        // The counter starts at n, as the contract's state does; the warm-up run counts one.
        call(&set, n - 1);
    }
    call(&f, n);
    if k.name == "tiny" {
        call(&set, n);
    }
    measured(|| call(&f, black_box(n)))
}
