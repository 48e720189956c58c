//! coopvm against peer VMs, gas (fuel) metering on everywhere, same kernels, one run:
//! native Rust, coopvm's interpreter and JIT, wasmi with fuel, wasmtime with fuel.
//!
//! Heavy to build, so behind a feature:
//!
//! ```sh
//! cargo bench -p coopvm-bench --features peers --bench peers -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The Wasm kernels compute what `coopvm_bench` computes (with Wasm's wrapping `i64.add`
//! where coopvm checks for overflow; the sizes used never overflow). Every engine's result is
//! checked against the native one before measuring.

use coopvm::host::Env;
use coopvm::memory::Memory;
use coopvm::{interp, load};
use coopvm::{Execute, ExecutionContext, Limits, NoHost};
use coopvm_bench as kernels;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

const WAT: &str = r#"
(module
  (import "env" "timestamp" (func $ts (result i64)))
  (func (export "loop") (param $n i64) (result i64)
    (local $sum i64)
    (block $done
      (loop $l
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $sum (i64.add (local.get $sum) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    (local.get $sum))
  (func $fib (export "fib") (param $n i64) (result i64)
    (if (result i64) (i64.lt_s (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else (i64.add (call $fib (i64.sub (local.get $n) (i64.const 1)))
                     (call $fib (i64.sub (local.get $n) (i64.const 2)))))))
  (func (export "arith") (param $n i64) (result i64)
    (local $acc i64)
    (local.set $acc (i64.const 7))
    (block $done
      (loop $l
        (br_if $done (i64.le_s (local.get $n) (i64.const 0)))
        (local.set $acc (i64.rem_s
          (i64.add (i64.mul (local.get $acc) (i64.const 31)) (local.get $n))
          (i64.const 1000003)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "host") (param $n i64) (result i64)
    (local $sum i64)
    (block $done
      (loop $l
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $sum (i64.add (local.get $sum) (call $ts)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    (local.get $sum)))
"#;

const FUEL: u64 = u64::MAX / 4;

struct Wasmi {
    store: wasmi::Store<()>,
    instance: wasmi::Instance,
}

impl Wasmi {
    fn new(wasm: &[u8]) -> Self {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        let engine = wasmi::Engine::new(&config);
        let module = wasmi::Module::new(&engine, wasm).expect("wasmi module");
        let mut store = wasmi::Store::new(&engine, ());
        let mut linker = wasmi::Linker::<()>::new(&engine);
        linker
            .func_wrap("env", "timestamp", || -> i64 { 1 })
            .expect("wasmi import");
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .expect("wasmi instance");
        Wasmi { store, instance }
    }

    fn func(&self, name: &str) -> wasmi::TypedFunc<i64, i64> {
        self.instance
            .get_typed_func::<i64, i64>(&self.store, name)
            .expect("wasmi export")
    }

    fn call(&mut self, f: &wasmi::TypedFunc<i64, i64>, n: i64) -> i64 {
        self.store.set_fuel(FUEL).expect("fuel on");
        f.call(&mut self.store, n).expect("wasmi call")
    }
}

struct Wasmtime {
    store: wasmtime::Store<()>,
    instance: wasmtime::Instance,
}

impl Wasmtime {
    fn new(wasm: &[u8]) -> Self {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        let engine = wasmtime::Engine::new(&config).expect("wasmtime engine");
        let module = wasmtime::Module::new(&engine, wasm).expect("wasmtime module");
        let mut store = wasmtime::Store::new(&engine, ());
        let mut linker = wasmtime::Linker::<()>::new(&engine);
        linker
            .func_wrap("env", "timestamp", || -> i64 { 1 })
            .expect("wasmtime import");
        let instance = linker
            .instantiate(&mut store, &module)
            .expect("wasmtime instance");
        Wasmtime { store, instance }
    }

    fn func(&mut self, name: &str) -> wasmtime::TypedFunc<i64, i64> {
        self.instance
            .get_typed_func::<i64, i64>(&mut self.store, name)
            .expect("wasmtime export")
    }

    fn call(&mut self, f: &wasmtime::TypedFunc<i64, i64>, n: i64) -> i64 {
        self.store.set_fuel(FUEL).expect("fuel on");
        f.call(&mut self.store, n).expect("wasmtime call")
    }
}

fn bench(c: &mut Criterion) {
    let wasm = wat::parse_str(WAT).expect("valid WAT");
    let mut wasmi = Wasmi::new(&wasm);
    let mut wasmtime = Wasmtime::new(&wasm);
    let ctx = ExecutionContext {
        timestamp: 1,
        ..Default::default()
    };
    // The kernels the Wasm module above has twins of.
    for name in ["loop", "fib", "arith", "host"] {
        let k = kernels::kernel(name).expect("a shared kernel");
        let n = k.default_n;
        let want = (k.native)(n);
        let v = load::from_source(k.name, &(k.source)(n))
            .unwrap()
            .verify(&Limits::default())
            .unwrap();
        let contract = v.contract();
        let compiled = interp::lower(&v);
        let jitted = coopvm::jit::compile(&v).expect("jit compiles");
        let run_interp = || {
            let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
            let mut memory = Memory::new(&contract.program, &contract.state, 16);
            compiled.execute(&mut env, &mut NoHost, &mut memory, u64::MAX / 4)
        };
        let run_jit = || {
            let mut env = Env::new(&ctx, &contract.id, &contract.program.strings);
            let mut memory = Memory::new(&contract.program, &contract.state, 16);
            jitted.execute(&mut env, &mut NoHost, &mut memory, u64::MAX / 4)
        };
        assert_eq!(run_interp().stack.last(), Some(&want), "{} interp", k.name);
        assert_eq!(run_jit().stack.last(), Some(&want), "{} jit", k.name);
        let wi = wasmi.func(k.name);
        let wt = wasmtime.func(k.name);
        assert_eq!(wasmi.call(&wi, n), want, "{} wasmi", k.name);
        assert_eq!(wasmtime.call(&wt, n), want, "{} wasmtime", k.name);

        let mut group = c.benchmark_group(format!("peers/{}", k.name));
        group.bench_function(BenchmarkId::new("native", n), |b| {
            b.iter(|| (k.native)(black_box(n)))
        });
        group.bench_function(BenchmarkId::new("coopvm-interp", n), |b| b.iter(run_interp));
        group.bench_function(BenchmarkId::new("coopvm-jit", n), |b| b.iter(run_jit));
        group.bench_function(BenchmarkId::new("wasmi-fuel", n), |b| {
            b.iter(|| wasmi.call(&wi, black_box(n)))
        });
        group.bench_function(BenchmarkId::new("wasmtime-fuel", n), |b| {
            b.iter(|| wasmtime.call(&wt, black_box(n)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
