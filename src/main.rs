//! The `coopvm` command line: run, check, disassemble and assemble contracts.

use clap::{Args, Parser, Subcommand, ValueEnum};
use coopvm::domain::CoopHost;
use coopvm::load::{self, LoadError};
use coopvm::store::Store;
use coopvm::Engine;
use coopvm::{codec, disasm, docs, ExecutionContext, Limits, RunParams, State, DEFAULT_GAS_LIMIT};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod cmd;
mod report;
mod trace;

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
    Run(RunArgs),
    /// Run a contract one instruction at a time on the interpreter and print every
    /// instruction executed: its step number, index, source line, the instruction, the gas
    /// left and the stack after it; then how the run ended.
    ///
    /// The output stops after `--limit` instructions with a `... truncated` line (the run
    /// goes on and its end is still reported). `--json` prints one JSON object per line.
    Trace(TraceArgs),
    /// Assemble and verify a contract without running it.
    Check {
        /// The contract (`.casm` text or `.cvm` bytes).
        file: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print a contract as assembly that assembles back to the same contract.
    Disasm {
        /// The contract (`.casm` text or `.cvm` bytes).
        file: PathBuf,
        /// Print the Cranelift IR the JIT generates for it instead (verified with the given
        /// limits; `@xxxx` source locations are instruction indices in hex).
        #[arg(long)]
        clif: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Assemble a contract to its canonical binary form (`.cvm`).
    Assemble {
        /// The assembly source.
        file: PathBuf,
        /// Where to write the bytes.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Print the opcode reference (docs/opcodes.md), generated from the instruction table.
    Docs,
    /// Deploy contracts into a state database, so others can depend on and call them.
    ///
    /// Each contract is verified with the default limits and stored under its `.contract` id
    /// (replacing an earlier deployment of that id) in canonical binary form.
    Deploy {
        /// The contracts (`.casm` text or `.cvm` bytes).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The state database (created if missing).
        #[arg(long, value_name = "PATH")]
        state: PathBuf,
    },
    /// Show what a state database holds: deployed contracts, contract states, the
    /// cooperative domain and the event log.
    State {
        /// The state database.
        path: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
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
    /// Prove that a relation holds for a public and a private input (witness proof: NOT
    /// zero-knowledge, the proof contains the private input).
    Prove(cmd::vmi::ProveArgs),
    /// Verify a proof for a relation and a public input; exit 0 if valid, 1 if not.
    Verify(cmd::vmi::VerifyArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Which engine executes the contract.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Print one JSON object (status, stack, gas_used, state, events, logs, error; and
    /// stats with --stats).
    #[arg(long)]
    json: bool,
    /// Also report the run's statistics: wall time, instructions executed, basic blocks
    /// entered, gas used, peak stack and call depth, memory keys, host calls and how often
    /// each opcode ran.
    #[arg(long)]
    stats: bool,
    /// A state database (redb file, created if missing) holding contract states, deployed
    /// contracts, the cooperative domain and the event log. A successful run commits all its
    /// changes in one transaction; a failed run writes nothing. Without it, the run starts
    /// from an empty world and nothing is kept.
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct TraceArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Print at most this many instruction lines.
    #[arg(long, default_value_t = crate::trace::DEFAULT_LIMIT)]
    limit: u64,
    /// Print JSON lines: one object per instruction, then one for the end of the run.
    #[arg(long)]
    json: bool,
}

/// What every run needs, whatever executes it: the contract, gas, the caller's context and
/// the limits.
#[derive(Args, Debug)]
struct CommonArgs {
    /// The contract (`.casm` text or `.cvm` bytes).
    file: PathBuf,
    /// Gas available to the run; every instruction costs at least 1.
    #[arg(long, default_value_t = DEFAULT_GAS_LIMIT)]
    gas_limit: u64,
    /// The caller's DID (what `getcaller` pushes).
    #[arg(long, default_value = "did:key:anonymous")]
    caller: String,
    /// The caller's reputation score (checked against `.reputation`).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    reputation: i64,
    /// A permission the caller holds (repeat for several; checked against `.permission`).
    #[arg(long = "permission", value_name = "P")]
    permissions: Vec<String>,
    /// The cooperative the call happens in.
    #[arg(long, default_value = "")]
    cooperative: String,
    /// The block timestamp (what `gettimestamp` pushes).
    #[arg(long, default_value_t = 0)]
    timestamp: u64,
    /// The block number (what `getblock` pushes).
    #[arg(long, default_value_t = 0)]
    block: u64,
    /// The inputs of a contract that declares `.params N`: exactly N values, comma-separated,
    /// deepest first (the last ends on top): integers, or `s:TEXT` for a string (passed as a
    /// string handle), as `eval --args` takes them.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        value_name = "VALUES"
    )]
    args: Vec<String>,
    #[command(flatten)]
    limits: LimitArgs,
}

impl CommonArgs {
    /// The run's inputs (`--args`), as many as `contract`'s `.params`; otherwise a message
    /// for a usage error naming both counts.
    fn inputs(&self, contract: &coopvm::Contract) -> Result<Vec<coopvm::Arg>, String> {
        let args = cmd::vmi::parse_inputs(&self.args)?;
        let want = contract.params as usize;
        if args.len() != want {
            return Err(format!(
                "{} takes {want} input(s) (`.params {want}`), but --args gives {}",
                self.file.display(),
                args.len()
            ));
        }
        Ok(args)
    }

    fn context(&self) -> ExecutionContext {
        ExecutionContext {
            caller_did: self.caller.clone(),
            cooperative_id: self.cooperative.clone(),
            timestamp: self.timestamp,
            block_number: self.block,
            reputation_score: self.reputation,
            permissions: self.permissions.clone(),
        }
    }
}

#[derive(Args, Debug)]
struct LimitArgs {
    /// Maximum values on the stack.
    #[arg(long, default_value_t = Limits::default().stack)]
    stack_limit: u32,
    /// Maximum nested calls.
    #[arg(long, default_value_t = Limits::default().call_depth)]
    call_depth: u32,
    /// Maximum keys in the contract's memory.
    #[arg(long, default_value_t = Limits::default().memory_keys)]
    memory_keys: u32,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            stack: self.stack_limit,
            call_depth: self.call_depth,
            memory_keys: self.memory_keys,
            ..Limits::default()
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum EngineArg {
    /// The reference interpreter.
    Interp,
    /// The Cranelift JIT (native code).
    Jit,
    /// Interpret until the contract is hot, then JIT-compile it (one run is never hot).
    Auto,
}

impl From<EngineArg> for Engine {
    fn from(e: EngineArg) -> Engine {
        match e {
            EngineArg::Interp => Engine::Interp,
            EngineArg::Jit => Engine::Jit,
            EngineArg::Auto => Engine::Auto,
        }
    }
}

/// Exit code for usage, assembly and verification errors.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code for a contract that failed at run time.
pub(crate) const EXIT_FAILED: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logs(cli.log_level.as_deref()) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Installs a `tracing` subscriber writing to stderr, filtered by `--log-level` or else
/// `RUST_LOG`; installs none when neither is given.
fn init_logs(level: Option<&str>) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter =
        match level {
            Some(level) => EnvFilter::try_new(level)
                .map_err(|e| format!("invalid --log-level `{level}`: {e}"))?,
            None => match std::env::var("RUST_LOG") {
                Ok(var) if !var.trim().is_empty() => EnvFilter::try_new(&var)
                    .map_err(|e| format!("invalid RUST_LOG `{var}`: {e}"))?,
                _ => return Ok(()),
            },
        };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))
}

fn execute(cli: Cli) -> Result<ExitCode, LoadError> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Trace(args) => trace(args),
        Command::Check { file, limits } => {
            let v = load::from_path(&file)?.verify(&limits.limits())?;
            let a = v.analysis();
            println!(
                "ok: {} is valid: {} instructions, {} basic blocks, {} subroutine(s), max stack {}",
                file.display(),
                v.contract().program.code.len(),
                a.blocks.len(),
                a.funcs.len(),
                a.funcs.iter().map(|f| f.max_height).max().unwrap_or(0)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Disasm { file, clif, limits } => {
            let loaded = load::from_path(&file)?;
            if !clif {
                print!("{}", disasm::disassemble(&loaded.contract));
                return Ok(ExitCode::SUCCESS);
            }
            let verified = loaded.verify(&limits.limits())?;
            match coopvm::jit::clif(&verified) {
                Ok(text) => {
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(EXIT_USAGE))
                }
            }
        }
        Command::Assemble { file, output } => {
            let loaded = load::from_path(&file)?;
            let bytes = codec::encode(&loaded.contract);
            std::fs::write(&output, &bytes).map_err(|source| LoadError::Io {
                path: output.display().to_string(),
                source,
            })?;
            println!("wrote {} ({} bytes)", output.display(), bytes.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Docs => {
            print!("{}", docs::opcodes_markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::Deploy { files, state } => {
            // Deployed contracts are verified with the default limits, the limits the store
            // verifies them with again when it loads them.
            let mut verified = Vec::new();
            for file in &files {
                verified.push(load::from_path(file)?.verify(&Limits::default())?);
            }
            let mut store = match Store::open(&state) {
                Ok(s) => s,
                Err(e) => return Ok(store_failure(&e)),
            };
            for v in verified {
                let id = v.contract().id.clone();
                if let Err(e) = store.deploy(v) {
                    return Ok(store_failure(&e));
                }
                println!("deployed `{id}` to {}", state.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::State { path, json } => show_state(&path, json),
        Command::Encode(a) => Ok(cmd::vmi::encode(a)),
        Command::Decode(a) => Ok(cmd::vmi::decode(a)),
        Command::Eval(a) => Ok(cmd::vmi::eval(a)),
        Command::Prove(a) => Ok(cmd::vmi::prove(a)),
        Command::Verify(a) => Ok(cmd::vmi::verify(a)),
    }
}

/// Reports a state database error; exit code 2.
fn store_failure(e: &coopvm::store::StoreError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_USAGE)
}

fn show_state(path: &std::path::Path, json: bool) -> Result<ExitCode, LoadError> {
    if !path.exists() {
        eprintln!("error: no state database at {}", path.display());
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let dump = match Store::open(path).and_then(|s| s.dump()) {
        Ok(d) => d,
        Err(e) => return Ok(store_failure(&e)),
    };
    if json {
        println!("{dump}");
    } else {
        print!("{}", report::state_human(&dump));
    }
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> Result<ExitCode, LoadError> {
    let common = &args.common;
    let loaded = load::from_path(&common.file)?;
    let map = loaded.map.clone();
    let verified = loaded.verify(&common.limits.limits())?;
    let inputs = match common.inputs(verified.contract()) {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let ctx = common.context();
    let engine = Engine::from(args.engine);
    let contract = verified.contract();
    let gas_limit = common.gas_limit;
    let stats_wanted = args.stats;
    let runner = |host: &mut CoopHost, state: &State| {
        let params = RunParams::new(&ctx, state, gas_limit)
            .with_calls(&engine)
            .with_args(&inputs);
        if stats_wanted {
            let (out, stats) = engine.run_params_with_stats(&verified, params, host);
            (out, Some(stats))
        } else {
            (engine.run_params(&verified, params, host), None)
        }
    };
    let (out, stats) = match &args.state {
        Some(path) => {
            let result = Store::open(path).and_then(|mut store| {
                // Testing aid: abort between writing and committing (crash-safety tests).
                if std::env::var_os("COOPVM_CRASH_BEFORE_COMMIT").is_some() {
                    store.crash_before_commit(true);
                }
                store.execute_with(&verified, &ctx, runner)
            });
            match result {
                Ok((out, stats)) => (out, stats.flatten()),
                Err(e) => return Ok(store_failure(&e)),
            }
        }
        None => {
            let (out, stats) = CoopHost::new().execute_with(&verified, &ctx, runner);
            (out, stats.flatten())
        }
    };
    if args.json {
        let mut view = report::json(&out, &contract.id, engine.name(), gas_limit, &map);
        view.stats = stats.as_ref();
        match serde_json::to_string(&view) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: cannot render JSON: {e}");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
        }
    } else {
        print!(
            "{}",
            report::human(&out, &contract.id, engine.name(), gas_limit, &map)
        );
        if let Some(stats) = &stats {
            print!("{}", report::human_stats(stats));
        }
    }
    Ok(exit_code(&out))
}

fn exit_code(out: &coopvm::Outcome) -> ExitCode {
    if out.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn trace(args: TraceArgs) -> Result<ExitCode, LoadError> {
    let common = &args.common;
    let loaded = load::from_path(&common.file)?;
    let map = loaded.map.clone();
    let verified = loaded.verify(&common.limits.limits())?;
    let inputs = match common.inputs(verified.contract()) {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let ctx = common.context();
    let gas_limit = common.gas_limit;
    let options = crate::trace::Options {
        limit: args.limit,
        json: args.json,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // The in-memory cooperative host, exactly as `run` without `--state`.
    let mut host = CoopHost::new();
    let (outcome, written) = host.execute_with(&verified, &ctx, |host, state| {
        let params = RunParams::new(&ctx, state, gas_limit)
            .with_calls(&Engine::Interp)
            .with_args(&inputs);
        crate::trace::trace(&verified, &map, params, host, &options, &mut out)
    });
    // A run refused before it started (a missing dependency) still gets its end line.
    let written = match written {
        Some(written) => written,
        None => crate::trace::write_header(&mut out, &options).and_then(|()| {
            crate::trace::write_end(&mut out, &outcome, 0, gas_limit, &map, options.json)
        }),
    };
    coopvm::observe::log_outcome(&outcome, &verified.contract().id, "interp");
    match written.and_then(|()| out.flush()) {
        Ok(()) => Ok(exit_code(&outcome)),
        // A closed pipe (`coopvm trace f | head`) is not an error of the contract.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit_code(&outcome)),
        Err(e) => {
            eprintln!("error: cannot write the trace: {e}");
            Ok(ExitCode::from(EXIT_USAGE))
        }
    }
}
