//! The `coopvm` command line: run, check, disassemble and assemble contracts.

use clap::{Args, Parser, Subcommand, ValueEnum};
use coopvm::core::{codec, disasm, docs, ExecutionContext, Limits, DEFAULT_GAS_LIMIT};
use coopvm::domain::CoopHost;
use coopvm::load::{self, LoadError};
use coopvm::store::Store;
use coopvm::{report, Engine};
use std::path::PathBuf;
use std::process::ExitCode;

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
    coopvm check examples/loop.casm\n  \
    coopvm disasm examples/subroutine.casm\n  \
    coopvm assemble examples/counter.casm -o counter.cvm")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Assemble, verify and run a contract, then print the outcome.
    ///
    /// The run first checks the caller's permissions and reputation against the contract's
    /// `.permission` and `.reputation` directives (no gas is used), then executes with gas
    /// charged per basic block. On any error every state change and event is rolled back.
    Run(RunArgs),
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
    /// Each contract is stored under its `.contract` id (replacing an earlier deployment of
    /// that id) in canonical binary form.
    Deploy {
        /// The contracts (`.casm` text or `.cvm` bytes).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The state database (created if missing).
        #[arg(long, value_name = "PATH")]
        state: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
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
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The contract (`.casm` text or `.cvm` bytes).
    file: PathBuf,
    /// Which engine executes the contract.
    #[arg(long, value_enum, default_value_t = EngineArg::Interp)]
    engine: EngineArg,
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
    /// Print one JSON object (status, stack, gas_used, state, events, logs, error).
    #[arg(long)]
    json: bool,
    /// A state database (redb file, created if missing) holding contract states, deployed
    /// contracts, the cooperative domain and the event log. A successful run commits all its
    /// changes in one transaction; a failed run writes nothing. Without it, the run starts
    /// from an empty world and nothing is kept.
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
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
enum EngineArg {
    /// The reference interpreter.
    Interp,
}

impl From<EngineArg> for Engine {
    fn from(e: EngineArg) -> Engine {
        match e {
            EngineArg::Interp => Engine::Interp,
        }
    }
}

/// Exit code for usage, assembly and verification errors.
const EXIT_USAGE: u8 = 2;
/// Exit code for a contract that failed at run time.
const EXIT_FAILED: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn execute(cli: Cli) -> Result<ExitCode, LoadError> {
    match cli.command {
        Command::Run(args) => run(args),
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
        Command::Disasm { file } => {
            let loaded = load::from_path(&file)?;
            print!("{}", disasm::disassemble(&loaded.contract));
            Ok(ExitCode::SUCCESS)
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
        Command::Deploy {
            files,
            state,
            limits,
        } => {
            let mut verified = Vec::new();
            for file in &files {
                verified.push(load::from_path(file)?.verify(&limits.limits())?);
            }
            let mut store = match Store::open(&state, Engine::Interp) {
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
    let dump = match Store::open(path, Engine::Interp).and_then(|s| s.dump()) {
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
    let loaded = load::from_path(&args.file)?;
    let map = loaded.map.clone();
    let verified = loaded.verify(&args.limits.limits())?;
    let ctx = ExecutionContext {
        caller_did: args.caller,
        cooperative_id: args.cooperative,
        timestamp: args.timestamp,
        block_number: args.block,
        reputation_score: args.reputation,
        permissions: args.permissions,
    };
    let engine = Engine::from(args.engine);
    let contract = verified.contract();
    let out = match &args.state {
        Some(path) => {
            let result = Store::open(path, engine).and_then(|mut store| {
                // Testing aid: abort between writing and committing (crash-safety tests).
                if std::env::var_os("COOPVM_CRASH_BEFORE_COMMIT").is_some() {
                    store.crash_before_commit(true);
                }
                store.execute(&verified, &ctx, args.gas_limit)
            });
            match result {
                Ok(out) => out,
                Err(e) => return Ok(store_failure(&e)),
            }
        }
        None => CoopHost::new(engine).execute(&verified, &ctx, args.gas_limit),
    };
    if args.json {
        let view = report::json(&out, &contract.id, engine.name(), args.gas_limit, &map);
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
            report::human(&out, &contract.id, engine.name(), args.gas_limit, &map)
        );
    }
    Ok(if out.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}
