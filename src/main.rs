//! The `coopvm` command line: run, check, disassemble and assemble contracts.

use clap::{Args, Parser, Subcommand, ValueEnum};
use coopvm::core::{codec, disasm, docs, ExecutionContext, Limits, NoHost, DEFAULT_GAS_LIMIT};
use coopvm::load::{self, LoadError};
use coopvm::{report, Engine};
use std::path::PathBuf;
use std::process::ExitCode;

/// coopvm: a deterministic, gas-metered virtual machine for cooperative smart contracts.
///
/// Contracts are written in coopvm assembly (`.casm`: one instruction per line, `;` comments,
/// `name:` labels) or loaded as canonical bytes (`.cvm`, made by `coopvm assemble`).
///
/// Exit codes: 0 success; 1 the contract failed at run time (and was rolled back);
/// 2 usage, assembly or verification error.
#[derive(Parser, Debug)]
#[command(name = "coopvm", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    coopvm run examples/counter.casm\n  \
    coopvm run examples/fib.casm --gas-limit 5000 --json\n  \
    coopvm check examples/loop.casm\n  \
    coopvm disasm examples/subroutine.casm\n  \
    coopvm disasm --clif examples/fib.casm\n  \
    coopvm run --engine jit examples/loop.casm\n  \
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
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The contract (`.casm` text or `.cvm` bytes).
    file: PathBuf,
    /// Which engine executes the contract.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
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
    }
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
    let out = engine.run(
        &verified,
        &ctx,
        &contract.state,
        args.gas_limit,
        &mut NoHost,
    );
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
