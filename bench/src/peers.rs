//! The peer VMs of the `peers` bench: the Wasm twins of the kernels and the wasmi (feature
//! `wasmi`) and wasmtime (feature `peers`) instances that run them with fuel metering. Shared
//! by `benches/peers.rs`, `examples/peer_counts.rs` and `examples/count.rs`.

/// The Wasm twins of the kernels (one module; an export per kernel, named as the kernel;
/// also run by `examples/count.rs`).
pub const WAT: &str = include_str!("peers.wat");

/// The fuel every call starts with (never exhausted).
pub const FUEL: u64 = u64::MAX / 4;

pub use crate::{GAS, TIMESTAMP};

/// A wasmi instance of [`WAT`] with fuel metering.
pub struct Wasmi {
    store: wasmi::Store<()>,
    instance: wasmi::Instance,
}

impl Wasmi {
    /// Instantiates `wasm` (with the `env` imports the host kernels call).
    pub fn new(wasm: &[u8]) -> Self {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        let engine = wasmi::Engine::new(&config);
        let module = wasmi::Module::new(&engine, wasm).expect("wasmi module");
        let mut store = wasmi::Store::new(&engine, ());
        let mut linker = wasmi::Linker::<()>::new(&engine);
        linker
            .func_wrap("env", "timestamp", || -> i64 { TIMESTAMP })
            .expect("wasmi import");
        linker
            .func_wrap("env", "block", || -> i64 { 0 })
            .expect("wasmi import");
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .expect("wasmi instance");
        Wasmi { store, instance }
    }

    /// The export `name`.
    pub fn func(&self, name: &str) -> wasmi::TypedFunc<i64, i64> {
        self.instance
            .get_typed_func::<i64, i64>(&self.store, name)
            .expect("wasmi export")
    }

    /// Calls `f` with `n`, fuel set first.
    pub fn call(&mut self, f: &wasmi::TypedFunc<i64, i64>, n: i64) -> i64 {
        self.store.set_fuel(FUEL).expect("fuel on");
        f.call(&mut self.store, n).expect("wasmi call")
    }
}

/// A wasmtime instance of [`WAT`] with fuel metering.
#[cfg(feature = "peers")]
pub struct Wasmtime {
    store: wasmtime::Store<()>,
    instance: wasmtime::Instance,
}

#[cfg(feature = "peers")]
impl Wasmtime {
    /// Instantiates `wasm` (with the `env` imports the host kernels call).
    pub fn new(wasm: &[u8]) -> Self {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        let engine = wasmtime::Engine::new(&config).expect("wasmtime engine");
        let module = wasmtime::Module::new(&engine, wasm).expect("wasmtime module");
        let mut store = wasmtime::Store::new(&engine, ());
        let mut linker = wasmtime::Linker::<()>::new(&engine);
        linker
            .func_wrap("env", "timestamp", || -> i64 { TIMESTAMP })
            .expect("wasmtime import");
        linker
            .func_wrap("env", "block", || -> i64 { 0 })
            .expect("wasmtime import");
        let instance = linker
            .instantiate(&mut store, &module)
            .expect("wasmtime instance");
        Wasmtime { store, instance }
    }

    /// The export `name`.
    pub fn func(&mut self, name: &str) -> wasmtime::TypedFunc<i64, i64> {
        self.instance
            .get_typed_func::<i64, i64>(&mut self.store, name)
            .expect("wasmtime export")
    }

    /// Calls `f` with `n`, fuel set first.
    pub fn call(&mut self, f: &wasmtime::TypedFunc<i64, i64>, n: i64) -> i64 {
        self.store.set_fuel(FUEL).expect("fuel on");
        f.call(&mut self.store, n).expect("wasmtime call")
    }
}
