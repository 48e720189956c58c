//! coopvm-engine: choosing the engine that executes a verified contract.
//!
//! [`Engine`] runs a contract on the reference interpreter, on the Cranelift JIT, or tiered
//! ([`tier`]: interpreted until hot, then compiled once); every run is logged and measured
//! through [`observe`]. `Engine` implements [`coopvm_core::Executor`], which is how a host
//! runs the contracts a contract calls without knowing which engine runs them.
//!
//! ```
//! use coopvm_core::{load, ExecutionContext, Limits, NoHost};
//! use coopvm_engine::Engine;
//! let loaded = load::from_source("hello.casm", "push 40\npush 2\nadd\n").unwrap();
//! let verified = loaded.verify(&Limits::default()).unwrap();
//! let ctx = ExecutionContext::default();
//! let out = Engine::Interp.run(&verified, &ctx, &verified.contract().state, 1_000, &mut NoHost);
//! assert_eq!(out.stack, vec![42]);
//! ```

pub mod observe;
pub mod tier;

use coopvm_core::stats::run_with_stats;
use coopvm_core::{ExecutionContext, Executor, Host, Outcome, RunParams, State, Stats, Verified};

/// Which engine executes a contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// The reference interpreter.
    Interp,
    /// The Cranelift JIT: compiled on first use and cached ([`tier::CodeCache::global_eager`]);
    /// a contract the JIT cannot compile runs on the interpreter (same outcome).
    Jit,
    /// Tiering: interpret until the contract is hot, then compile once and reuse the native
    /// code ([`tier::CodeCache::global`]).
    Auto,
}

impl Engine {
    /// Every engine this build has (add new variants here: the equivalence and VM-law tests
    /// run over this list).
    pub const ALL: &'static [Engine] = &[Engine::Interp, Engine::Jit, Engine::Auto];

    /// The engine's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::Jit => "jit",
            Engine::Auto => "auto",
        }
    }

    /// Runs `verified` under the full run protocol (checks, transaction, outcome).
    pub fn run<H: Host + ?Sized>(
        self,
        verified: &Verified,
        ctx: &ExecutionContext,
        state: &State,
        gas_limit: u64,
        host: &mut H,
    ) -> Outcome {
        self.run_params(
            verified,
            RunParams::new(ctx, state, gas_limit).with_calls(&self),
            host,
        )
    }

    /// Runs `verified` with `params` as given (nested contract calls go to `params.calls`).
    pub fn run_params<H: Host + ?Sized>(
        self,
        verified: &Verified,
        params: RunParams<'_>,
        host: &mut H,
    ) -> Outcome {
        let out = match self {
            // Lowered once per contract and kept with it (`coopvm_interp::lowered`).
            Engine::Interp => {
                coopvm_core::run::run(&*coopvm_interp::lowered(verified), verified, params, host)
            }
            Engine::Jit => {
                tier::CodeCache::global_eager()
                    .run(verified, params, host)
                    .0
            }
            Engine::Auto => tier::CodeCache::global().run(verified, params, host).0,
        };
        observe::log_outcome(&out, &verified.contract().id, self.name());
        out
    }

    /// Runs `verified` like [`Engine::run`], also collecting the run's [`Stats`] (exact and
    /// the same for every engine; gas and results are those of [`Engine::run`]), logging
    /// them at debug level and recording them as metrics (see [`observe`]).
    ///
    /// ```
    /// use coopvm_core::{load, ExecutionContext, Limits, NoHost};
    /// use coopvm_engine::Engine;
    /// let loaded = load::from_source("t.casm", "push 40\npush 2\nadd\n").unwrap();
    /// let verified = loaded.verify(&Limits::default()).unwrap();
    /// let ctx = ExecutionContext::default();
    /// let state = verified.contract().state.clone();
    /// let (out, stats) = Engine::Interp.run_with_stats(&verified, &ctx, &state, 1_000, &mut NoHost);
    /// assert_eq!(out.stack, vec![42]);
    /// assert_eq!((stats.instructions, stats.opcodes["push"]), (3, 2));
    /// ```
    pub fn run_with_stats<H: Host + ?Sized>(
        self,
        verified: &Verified,
        ctx: &ExecutionContext,
        state: &State,
        gas_limit: u64,
        host: &mut H,
    ) -> (Outcome, Stats) {
        self.run_params_with_stats(
            verified,
            RunParams::new(ctx, state, gas_limit).with_calls(&self),
            host,
        )
    }

    /// Runs `verified` with `params` as given (its inputs, nested calls to
    /// `params.calls`), like [`Engine::run_params`], also collecting the run's [`Stats`]
    /// like [`Engine::run_with_stats`].
    pub fn run_params_with_stats<H: Host + ?Sized>(
        self,
        verified: &Verified,
        params: RunParams<'_>,
        host: &mut H,
    ) -> (Outcome, Stats) {
        let (out, stats) = match self {
            // Native code compiled with block counters (not cached: statistics are for
            // inspection); a contract the JIT refuses runs on the interpreter, as `run` does.
            Engine::Jit => match coopvm_jit::compile_counted(verified) {
                Ok(code) => run_with_stats(&code, verified, params, host),
                Err(_) => {
                    run_with_stats(&*coopvm_interp::lowered(verified), verified, params, host)
                }
            },
            // Tiering decides per run; the instrumented interpreter gives the same figures.
            Engine::Interp | Engine::Auto => {
                run_with_stats(&*coopvm_interp::lowered(verified), verified, params, host)
            }
        };
        let id = &verified.contract().id;
        observe::log_outcome(&out, id, self.name());
        observe::log_stats(&stats, id, self.name());
        observe::record(&out, &stats, id, self.name());
        (out, stats)
    }
}

impl Executor for Engine {
    fn execute(&self, verified: &Verified, params: RunParams<'_>, host: &mut dyn Host) -> Outcome {
        self.run_params(verified, params, host)
    }
}
