//! Logs and metrics of runs, the way Rust services expose them: logs through [`tracing`],
//! metrics through the [`metrics`] facade. Without a subscriber or recorder installed both
//! cost next to nothing, and neither touches the execution loop: they are emitted once per
//! run, after it ended.
//!
//! Logs (target `coopvm::run`): an `ERROR` event at the end of every failed run, with the
//! contract id, engine, error kind, instruction index (`pc`), gas used and error message; a `DEBUG`
//! event summarising every successful run (and, with statistics, every run's figures).
//!
//! Metrics ([`Engine::run_with_stats`](crate::Engine::run_with_stats) records them), every
//! one labelled with `contract` and `engine`:
//!
//! | name | kind | what |
//! | --- | --- | --- |
//! | `coopvm_runs_total` | counter | runs, also labelled `status` (`ok` or `error`) |
//! | `coopvm_errors_total` | counter | failed runs, also labelled `kind` (the error kind) |
//! | `coopvm_instructions_total` | counter | instructions executed |
//! | `coopvm_blocks_total` | counter | basic blocks entered |
//! | `coopvm_gas_used_total` | counter | gas used |
//! | `coopvm_host_calls_total` | counter | host operations executed |
//! | `coopvm_opcodes_total` | counter | instructions executed, also labelled `opcode` (mnemonic) |
//! | `coopvm_run_seconds` | histogram | wall-clock time of a run |
//! | `coopvm_peak_stack_depth` | histogram | highest stack depth of a run |
//! | `coopvm_peak_call_depth` | histogram | highest call depth of a run |
//! | `coopvm_memory_keys` | histogram | memory keys in use at the end of a run |
//!
//! A node installs its exporter (for example a Prometheus one) as the global recorder and
//! calls [`describe`] once to register units and help texts.

use coopvm_core::stats::Stats;
use coopvm_core::Outcome;
use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};

/// `coopvm_runs_total`.
pub const RUNS: &str = "coopvm_runs_total";
/// `coopvm_errors_total`.
pub const ERRORS: &str = "coopvm_errors_total";
/// `coopvm_instructions_total`.
pub const INSTRUCTIONS: &str = "coopvm_instructions_total";
/// `coopvm_blocks_total`.
pub const BLOCKS: &str = "coopvm_blocks_total";
/// `coopvm_gas_used_total`.
pub const GAS_USED: &str = "coopvm_gas_used_total";
/// `coopvm_host_calls_total`.
pub const HOST_CALLS: &str = "coopvm_host_calls_total";
/// `coopvm_opcodes_total`.
pub const OPCODES: &str = "coopvm_opcodes_total";
/// `coopvm_run_seconds`.
pub const RUN_SECONDS: &str = "coopvm_run_seconds";
/// `coopvm_peak_stack_depth`.
pub const PEAK_STACK: &str = "coopvm_peak_stack_depth";
/// `coopvm_peak_call_depth`.
pub const PEAK_CALL_DEPTH: &str = "coopvm_peak_call_depth";
/// `coopvm_memory_keys`.
pub const MEMORY_KEYS: &str = "coopvm_memory_keys";

/// Registers units and descriptions of every metric with the installed recorder.
pub fn describe() {
    describe_counter!(RUNS, Unit::Count, "Contract runs, by status");
    describe_counter!(ERRORS, Unit::Count, "Failed contract runs, by error kind");
    describe_counter!(INSTRUCTIONS, Unit::Count, "Instructions executed");
    describe_counter!(BLOCKS, Unit::Count, "Basic blocks entered");
    describe_counter!(GAS_USED, Unit::Count, "Gas used");
    describe_counter!(HOST_CALLS, Unit::Count, "Host operations executed");
    describe_counter!(OPCODES, Unit::Count, "Instructions executed, by opcode");
    describe_histogram!(RUN_SECONDS, Unit::Seconds, "Wall-clock time of a run");
    describe_histogram!(PEAK_STACK, Unit::Count, "Highest stack depth of a run");
    describe_histogram!(PEAK_CALL_DEPTH, Unit::Count, "Highest call depth of a run");
    describe_histogram!(MEMORY_KEYS, Unit::Count, "Memory keys in use after a run");
}

/// Emits the log events for a run of `contract` on `engine` that ended with `out` (see the
/// module docs). Called by [`Engine::run`](crate::Engine::run) and
/// [`Engine::run_with_stats`](crate::Engine::run_with_stats).
pub fn log_outcome(out: &Outcome, contract: &str, engine: &str) {
    match &out.result {
        Err(e) => tracing::error!(
            target: "coopvm::run",
            contract,
            engine,
            kind = e.kind.name(),
            pc = e.pc,
            gas_used = out.gas_used,
            // Debug, not Display: the message can quote contract text (a string it pushed),
            // which must not break the line or forge another log record.
            error = ?e.message,
            "contract run failed and was rolled back"
        ),
        Ok(()) => tracing::debug!(
            target: "coopvm::run",
            contract,
            engine,
            gas_used = out.gas_used,
            stack = out.stack.len(),
            events = out.events.len(),
            host_calls = out.host_calls,
            "contract run succeeded"
        ),
    }
}

/// Emits the debug-level summary of a run's statistics.
pub fn log_stats(stats: &Stats, contract: &str, engine: &str) {
    tracing::debug!(
        target: "coopvm::run",
        contract,
        engine,
        instructions = stats.instructions,
        blocks = stats.blocks,
        gas_used = stats.gas_used,
        wall_time_ns = stats.wall_time_ns,
        peak_stack = stats.peak_stack,
        peak_call_depth = stats.peak_call_depth,
        memory_keys = stats.memory_keys,
        host_calls = stats.host_calls,
        "run statistics"
    );
}

/// Records the metrics of one run (see the module docs) with the installed recorder.
pub fn record(out: &Outcome, stats: &Stats, contract: &str, engine: &str) {
    let c = contract.to_owned();
    let e = engine.to_owned();
    let status = if out.is_ok() { "ok" } else { "error" };
    counter!(RUNS, "contract" => c.clone(), "engine" => e.clone(), "status" => status).increment(1);
    if let Err(err) = &out.result {
        counter!(ERRORS, "contract" => c.clone(), "engine" => e.clone(), "kind" => err.kind.name())
            .increment(1);
    }
    let labels = [("contract", c.clone()), ("engine", e.clone())];
    counter!(INSTRUCTIONS, &labels).increment(stats.instructions);
    counter!(BLOCKS, &labels).increment(stats.blocks);
    counter!(GAS_USED, &labels).increment(stats.gas_used);
    counter!(HOST_CALLS, &labels).increment(stats.host_calls);
    histogram!(RUN_SECONDS, &labels).record(stats.wall_time().as_secs_f64());
    histogram!(PEAK_STACK, &labels).record(f64::from(stats.peak_stack));
    histogram!(PEAK_CALL_DEPTH, &labels).record(f64::from(stats.peak_call_depth));
    histogram!(MEMORY_KEYS, &labels).record(f64::from(stats.memory_keys));
    for (&op, &n) in &stats.opcodes {
        counter!(OPCODES, "contract" => c.clone(), "engine" => e.clone(), "opcode" => op)
            .increment(n);
    }
}
