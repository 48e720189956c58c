//! One kernel on one engine, for counting instructions under callgrind: the set-up (verify,
//! compile, instantiate, one checked run) happens outside the function `measured`, which runs
//! the kernel `REPS` times exactly as the `peers` bench does.
//!
//! ```text
//! cargo build --release -p coopvm-bench --features peers --example peer_counts
//! valgrind --tool=callgrind --toggle-collect='*peer_counts*measured*' \
//!     target/release/examples/peer_counts sieve jit
//! ```
//!
//! Arguments: the kernel (`coopvm_bench::kernels`), the engine (`native`, `interp`, `jit`,
//! `wasmi`, `wasmtime`, and for `tiny` also `jit-protocol`: the run protocol
//! (`coopvm::run::run`) around code compiled once, and `jit-run`: `Engine::Jit.run`, which
//! also finds the code in the engine's cache; `auto-run`: `Engine::Auto.run`, tiering (the
//! first run is counted apart: pass enough repetitions to see the steady state);
//! `interp-protocol` is the run protocol around
//! the interpreter's lowered code, for any kernel, as is `jit-protocol`), then optionally
//! `n` (default: the
//! kernel's) and the repetitions (default 1). Callgrind's "Collected" line is then the
//! instruction count of the repetitions alone; ratios of two engines on one kernel do not
//! depend on the machine's load. `wasmi` and `wasmtime` need the `peers` feature; without
//! it the example builds without them and counts coopvm's engines and native Rust only.
//! For `jit`, `JIT_OPT=fast|none|speed` compiles at that [`coopvm::jit::OptLevel`] instead
//! of the JIT's own choice.

use coopvm::host::Env;
use coopvm::memory::Memory;
use coopvm::{interp, Engine, Execute, ExecutionContext, NoHost, RunParams, Verified};
#[cfg(feature = "peers")]
use coopvm_bench::peers::{Wasmi, Wasmtime, WAT};
use coopvm_bench::{GAS, TIMESTAMP};
use std::hint::black_box;
use std::process::ExitCode;

/// Runs `f` `reps` times; what callgrind counts.
#[inline(never)]
fn measured(reps: u32, f: &mut dyn FnMut() -> i64) -> i64 {
    let mut last = 0;
    for _ in 0..reps {
        last = black_box(f());
    }
    last
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: peer_counts <kernel> <native|interp|interp-protocol|jit|jit-protocol|jit-run|auto-run|wasmi|wasmtime> [n] [reps]";
    let (Some(kernel), Some(engine)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        return ExitCode::FAILURE;
    };
    let Some(k) = coopvm_bench::kernel(kernel) else {
        eprintln!("unknown kernel {kernel}\n{usage}");
        return ExitCode::FAILURE;
    };
    let n: i64 = args
        .get(2)
        .map_or(Ok(k.default_n), |s| s.parse())
        .unwrap_or(k.default_n);
    let reps: u32 = args.get(3).map_or(Ok(1), |s| s.parse()).unwrap_or(1);
    let want = (k.native)(n);
    let v: Verified = k.verified(n);
    let contract = v.contract();
    let keys = v.limits().memory_keys;
    let ctx = ExecutionContext {
        timestamp: TIMESTAMP.unsigned_abs(),
        ..Default::default()
    };
    let top = |stack: &[i64]| stack.last().copied().unwrap_or(i64::MIN);
    let got = match engine.as_str() {
        "native" => {
            let mut f = || (k.native)(black_box(n));
            f();
            measured(reps, &mut f)
        }
        "interp" => {
            let lowered = interp::lower(&v);
            let mut f = || {
                let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
                let mut memory = Memory::new(&contract.program, &contract.state, keys);
                top(&lowered
                    .execute(&mut env, &mut NoHost, &mut memory, GAS)
                    .stack)
            };
            f();
            measured(reps, &mut f)
        }
        "jit" => {
            // `JIT_OPT=fast|none|speed` picks Cranelift's tier (default: the JIT's choice).
            let opt = match std::env::var("JIT_OPT").as_deref() {
                Ok("fast") => Some(coopvm::jit::OptLevel::Fast),
                Ok("none") => Some(coopvm::jit::OptLevel::None),
                Ok("speed") => Some(coopvm::jit::OptLevel::Speed),
                _ => None,
            };
            let options = coopvm::jit::Options {
                opt,
                ..Default::default()
            };
            let code = coopvm::jit::compile_with_options(&v, options).expect("the kernel compiles");
            let mut f = || {
                let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
                let mut memory = Memory::new(&contract.program, &contract.state, keys);
                top(&code.execute(&mut env, &mut NoHost, &mut memory, GAS).stack)
            };
            f();
            measured(reps, &mut f)
        }
        "jit-protocol" => {
            let code = coopvm::jit::compile(&v).expect("the kernel compiles");
            let state = contract.state.clone();
            let mut f = || {
                let params = RunParams::new(&ctx, &state, GAS);
                top(&coopvm::run::run(&code, &v, params, &mut NoHost).stack)
            };
            f();
            measured(reps, &mut f)
        }
        "interp-protocol" => {
            let lowered = interp::lowered(&v);
            let state = contract.state.clone();
            let mut f = || {
                let params = RunParams::new(&ctx, &state, GAS);
                top(&coopvm::run::run(&*lowered, &v, params, &mut NoHost).stack)
            };
            f();
            measured(reps, &mut f)
        }
        "jit-run" | "auto-run" => {
            let state = contract.state.clone();
            let engine = if engine == "jit-run" {
                Engine::Jit
            } else {
                Engine::Auto
            };
            let mut f = || top(&engine.run(&v, &ctx, &state, GAS, &mut NoHost).stack);
            f();
            measured(reps, &mut f)
        }
        #[cfg(feature = "peers")]
        "wasmi" | "wasmtime" => {
            let wasm = wat::parse_str(WAT).expect("valid WAT");
            // The same setup on either peer: only the VM's type differs.
            macro_rules! peer {
                ($vm:expr) => {{
                    let mut vm = $vm;
                    let func = vm.func(k.name);
                    if k.name == "tiny" {
                        let set = vm.func("tiny_set");
                        vm.call(&set, n);
                    }
                    let mut f = || vm.call(&func, black_box(n));
                    f();
                    if k.name == "tiny" {
                        return report(want, measured(reps, &mut f) - i64::from(reps));
                    }
                    measured(reps, &mut f)
                }};
            }
            if engine == "wasmi" {
                peer!(Wasmi::new(&wasm))
            } else {
                peer!(Wasmtime::new(&wasm))
            }
        }
        other => {
            eprintln!("unknown engine {other}\n{usage}");
            return ExitCode::FAILURE;
        }
    };
    report(want, got)
}

/// Checks the engine's result against the native twin's.
fn report(want: i64, got: i64) -> ExitCode {
    if got == want {
        ExitCode::SUCCESS
    } else {
        eprintln!("wrong result: {got}, the native twin gives {want}");
        ExitCode::FAILURE
    }
}
