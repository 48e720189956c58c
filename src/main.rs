//! The `coopvm` command line: run, trace, check, disassemble and assemble contracts, keep
//! them in a state database, and encode, evaluate and prove them through the VM interface.
//!
//! `main.rs` holds the command line ([`Cli`]), logging and the exit codes; each command is a
//! module of [`cmd`], arguments several commands share are in [`args`], and text and JSON
//! rendering in [`render`]. Every command returns `Result<ExitCode, CliError>`: `Ok` is the
//! outcome the command reports (0, or [`EXIT_FAILED`]), an error is printed here, once, with
//! the `error:` prefix, and exits [`EXIT_USAGE`] (see [`error`]).

use clap::{Parser, Subcommand};
use error::CliError;
use std::process::ExitCode;

mod args;
mod cmd;
mod error;
mod render;

/// coopvm: a deterministic, gas-metered virtual machine for cooperative smart contracts.
///
/// Contracts are written in coopvm assembly (`.casm`: one instruction per line, `;` comments,
/// `name:` labels) or loaded as canonical bytes (`.cvm`, made by `coopvm assemble`).
///
/// Exit codes: 0 success; 1 the contract failed at run time (and was rolled back);
/// 2 usage, assembly, verification or state database error.
#[derive(Parser, Debug)]
#[command(name = "coopvm", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    coopvm run examples/counter.casm\n  \
    coopvm run examples/fib.casm --gas-limit 5000 --json\n  \
    coopvm run examples/fib.casm --stats\n  \
    coopvm trace examples/subroutine.casm\n  \
    coopvm trace examples/fib.casm --limit 50 --json\n  \
    coopvm run examples/rollback.casm --log-level debug\n  \
    coopvm check examples/loop.casm\n  \
    coopvm disasm examples/subroutine.casm\n  \
    coopvm disasm --clif examples/fib.casm\n  \
    coopvm run --engine jit examples/loop.casm\n  \
    coopvm assemble examples/counter.casm -o counter.cvm\n  \
    coopvm run examples/relation_square.casm --args 49,7\n  \
    coopvm eval examples/relation_square.casm --args 49,7\n  \
    coopvm prove examples/relation_square.casm --public 49 --private 7 -o proof.bin\n  \
    coopvm verify examples/relation_square.casm --public 49 --proof proof.bin")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print logs at this level and above on stderr: `error`, `warn`, `info`, `debug`,
    /// `trace`, or a filter such as `coopvm=debug`. Without it the `RUST_LOG` environment
    /// variable is used; without either, nothing is logged.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Assemble, verify and run a contract, then print the outcome.
    ///
    /// The run first checks the caller's permissions and reputation against the contract's
    /// `.permission` and `.reputation` directives (no gas is used), then executes with gas
    /// charged per basic block. On any error every state change and event is rolled back.
    Run(cmd::run::RunArgs),
    /// Run a contract one instruction at a time on the interpreter and print every
    /// instruction executed: its step number, index, source line, the instruction, the gas
    /// left and the stack after it; then how the run ended.
    ///
    /// The output stops after `--limit` instructions with a `... truncated` line (the run
    /// goes on and its end is still reported). `--json` prints one JSON object per line.
    Trace(cmd::trace::TraceArgs),
    /// Assemble and verify a contract without running it.
    Check(cmd::check::CheckArgs),
    /// Print a contract as assembly that assembles back to the same contract.
    Disasm(cmd::disasm::DisasmArgs),
    /// Assemble a contract to its canonical binary form (`.cvm`).
    Assemble(cmd::assemble::AssembleArgs),
    /// Print the opcode reference (docs/opcodes.md), generated from the instruction table.
    Docs,
    /// Deploy contracts into a state database, so others can depend on and call them.
    ///
    /// Each contract is verified with the default limits and stored under its id in
    /// canonical binary form, owned by `--caller`. Deploying the same code again changes
    /// nothing; different code under an id someone deployed is refused (only the owner may
    /// replace it, with an upgrade).
    Deploy(cmd::deploy::DeployArgs),
    /// Replace the code of deployed contracts, as their owner (`--caller`). The contract keeps
    /// its stored state; its revision grows by one and the previous code hash is recorded.
    Upgrade(cmd::deploy::DeployArgs),
    /// Show what a state database holds: deployed contracts, contract states, the
    /// cooperative domain and the event log.
    State(cmd::state::StateArgs),
    /// Encode a contract as a DataValue function (see docs/datavalue.md).
    Encode(cmd::vmi::EncodeArgs),
    /// Print a DataValue file (and disassemble a coopvm function).
    Decode(cmd::vmi::DecodeArgs),
    /// Evaluate a function on arguments, as the VM interface does (docs/vmi.md).
    ///
    /// The arguments are the function's inputs (`.params N`: exactly N of them, on its stack
    /// when its code starts, as `run --args` gives them); the result is the top of the final
    /// stack. Exit 0 with a result, 1 without one.
    Eval(cmd::vmi::EvalArgs),
    /// Prove that a relation holds for a public and a private input (NOT zero-knowledge: the
    /// default witness proof contains the private input; see `--backend`).
    Prove(cmd::vmi::ProveArgs),
    /// Verify a proof for a relation and a public input; exit 0 if valid, 1 if not.
    Verify(cmd::vmi::VerifyArgs),
}

/// Exit code for a contract that failed at run time (and for `eval` without a result,
/// `prove` without a proof, `verify` of an invalid proof).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit code for usage, input, assembly, verification, state database and output errors.
pub(crate) const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let json = cli.command.json();
    match init_logs(cli.log_level.as_deref()).and_then(|()| execute(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            // Under `--json` the error is also the one JSON object on stdout.
            if json {
                println!("{}", e.json());
            }
            eprintln!("{}", e.report());
            e.exit_code()
        }
    }
}

/// A command line clap refuses: clap's message and exit code (2; 0 for `--help` and
/// `--version`), and under `--json` also the JSON error object (kind `usage`) on stdout.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    if json && !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let message = render::escape(first.strip_prefix("error: ").unwrap_or(first)).into_owned();
        let view = serde_json::json!({
            "status": "error",
            "error": { "kind": "usage", "message": message },
        });
        println!("{view}");
    }
    e.exit()
}

/// Installs a `tracing` subscriber writing to stderr, filtered by `--log-level` or else
/// `RUST_LOG`; installs none when neither is given.
fn init_logs(level: Option<&str>) -> Result<(), CliError> {
    use tracing_subscriber::EnvFilter;
    let parse = |origin: &'static str, filter: &str| {
        EnvFilter::try_new(filter).map_err(|e| CliError::LogFilter {
            origin,
            filter: filter.to_owned(),
            message: e.to_string(),
        })
    };
    let filter = match level {
        Some(level) => parse("--log-level", level)?,
        None => match std::env::var("RUST_LOG") {
            Ok(var) if !var.trim().is_empty() => parse("RUST_LOG", &var)?,
            _ => return Ok(()),
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .try_init()
        .map_err(|e| CliError::LogInit(e.to_string()))
}

impl Command {
    /// Whether the command was given `--json` (its errors are then printed as JSON too).
    fn json(&self) -> bool {
        match self {
            Command::Run(a) => a.json,
            Command::Trace(a) => a.json,
            Command::State(a) => a.json,
            Command::Eval(a) => a.json,
            Command::Check(a) => a.json,
            _ => false,
        }
    }
}

/// Runs the command.
fn execute(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Run(a) => cmd::run::run(a),
        Command::Trace(a) => cmd::trace::trace(a),
        Command::Check(a) => cmd::check::check(a),
        Command::Disasm(a) => cmd::disasm::disasm(a),
        Command::Assemble(a) => cmd::assemble::assemble(a),
        Command::Docs => cmd::docs::docs(),
        Command::Deploy(a) => cmd::deploy::deploy(a, false),
        Command::Upgrade(a) => cmd::deploy::deploy(a, true),
        Command::State(a) => cmd::state::state(a),
        Command::Encode(a) => cmd::vmi::encode(a),
        Command::Decode(a) => cmd::vmi::decode(a),
        Command::Eval(a) => cmd::vmi::eval(a),
        Command::Prove(a) => cmd::vmi::prove(a),
        Command::Verify(a) => cmd::vmi::verify(a),
    }
}
