//! The CLI's VM-interface commands: encode, decode, eval, prove and verify.
//!
//! Each command prints its own errors and returns the exit code: 0 success (for `verify`: a
//! valid proof), 1 no result (`eval`), no proof (`prove`) or an invalid proof (`verify`),
//! 2 usage or input errors (unreadable files, bad values).

use crate::{EngineArg, EXIT_FAILED, EXIT_USAGE};
use clap::Args;
use coopvm::load;
use coopvm::vmi::{data, CoopValue, CoopVm, DataValue, Function, Proof, ProvableVm, Vm};
use coopvm::Engine;
use coopvm::{disasm, DEFAULT_GAS_LIMIT};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `coopvm encode`.
#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// The contract (`.casm` text or `.cvm` bytes).
    file: PathBuf,
    /// Where to write the DataValue bytes.
    #[arg(short, long)]
    output: PathBuf,
}

/// `coopvm decode`.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// A file of DataValue bytes (as written by `coopvm encode`).
    file: PathBuf,
}

/// `coopvm eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The function: a contract (`.casm` or `.cvm`) or DataValue bytes of a coopvm function.
    file: PathBuf,
    /// Arguments, comma-separated, the function's inputs in order (the last ends on top; as
    /// many as its `.params`): integers, or `s:TEXT` for a string (passed as a string
    /// handle).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    args: Vec<String>,
    /// Gas available.
    #[arg(long, default_value_t = DEFAULT_GAS_LIMIT)]
    gas_limit: u64,
    /// Which engine evaluates.
    #[arg(long, value_enum, default_value_t = EngineArg::Interp)]
    engine: EngineArg,
    /// Print one JSON object: {"result": N or null, "gas_used": N, "gas_limit": N, "engine": ...}.
    #[arg(long)]
    json: bool,
}

/// `coopvm prove`.
#[derive(Args, Debug)]
pub struct ProveArgs {
    /// The relation: a contract with `.params 2`, run on [public, private], that leaves
    /// non-zero if it holds.
    file: PathBuf,
    /// The public input: an integer or `s:TEXT`.
    #[arg(long, allow_hyphen_values = true)]
    public: String,
    /// The private input: an integer or `s:TEXT`. The witness proof contains it in the clear.
    #[arg(long, allow_hyphen_values = true)]
    private: String,
    /// Where to write the proof.
    #[arg(short, long)]
    output: PathBuf,
    /// Gas available to the relation.
    #[arg(long, default_value_t = DEFAULT_GAS_LIMIT)]
    gas_limit: u64,
}

/// `coopvm verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The relation the proof is about.
    file: PathBuf,
    /// The public input: an integer or `s:TEXT`.
    #[arg(long, allow_hyphen_values = true)]
    public: String,
    /// The proof file (from `coopvm prove`).
    #[arg(long)]
    proof: PathBuf,
    /// The most gas the verifier lets the relation use.
    #[arg(long, default_value_t = DEFAULT_GAS_LIMIT)]
    gas_limit: u64,
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Parses a command-line value: an integer, or `s:TEXT` for a byte string.
pub fn parse_value(text: &str) -> Result<CoopValue, String> {
    if let Some(s) = text.strip_prefix("s:") {
        return Ok(CoopValue::Bytes(s.as_bytes().to_vec()));
    }
    text.trim()
        .parse::<i64>()
        .map(CoopValue::Int)
        .map_err(|_| format!("`{text}` is neither a 64-bit integer nor `s:TEXT`"))
}

/// Parses the inputs of a run (`coopvm run --args`, split at commas by clap) with the value
/// syntax of `eval --args`: integers, or `s:TEXT` for a string (passed as a handle). An
/// empty `--args ""` is no inputs.
pub fn parse_inputs(texts: &[String]) -> Result<Vec<coopvm::Arg>, String> {
    if let [only] = texts {
        if only.is_empty() {
            return Ok(Vec::new());
        }
    }
    texts
        .iter()
        .map(|t| match parse_value(t)? {
            CoopValue::Int(n) => Ok(coopvm::Arg::Int(n)),
            CoopValue::Bytes(b) => String::from_utf8(b)
                .map(coopvm::Arg::Str)
                .map_err(|_| format!("`{t}` is not UTF-8")),
            _ => Err(format!("`{t}` is neither a 64-bit integer nor `s:TEXT`")),
        })
        .collect()
}

/// Loads a function from a contract file or from DataValue bytes of a coopvm function.
fn load_function(path: &Path) -> Result<CoopValue, String> {
    let bytes = read(path)?;
    let name = path.display().to_string();
    if bytes.starts_with(data::MAGIC) {
        let d = DataValue::from_bytes(&bytes).map_err(|e| format!("{name}: {e}"))?;
        return match CoopVm::default().decode(&d) {
            Some(f @ CoopValue::Function(_)) => Ok(f),
            _ => Err(format!(
                "{name}: the DataValue is not a coopvm function: {d}"
            )),
        };
    }
    let loaded = load::from_bytes(&name, &bytes).map_err(|e| e.to_string())?;
    Function::new(loaded.contract)
        .map(CoopValue::Function)
        .map_err(|e| format!("{name}: {e}"))
}

/// `coopvm encode FILE -o OUT`.
pub fn encode(a: EncodeArgs) -> ExitCode {
    let run = || -> Result<usize, String> {
        let f = load_function(&a.file)?;
        let bytes = CoopVm::default().encode(&f).to_bytes();
        write(&a.output, &bytes)?;
        Ok(bytes.len())
    };
    match run() {
        Ok(n) => {
            println!("wrote {} ({n} bytes)", a.output.display());
            ExitCode::SUCCESS
        }
        Err(e) => usage(e),
    }
}

/// `coopvm decode FILE`: the value on one line, then the disassembly of a coopvm function.
pub fn decode(a: DecodeArgs) -> ExitCode {
    let bytes = match read(&a.file) {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    let d = match DataValue::from_bytes(&bytes) {
        Ok(d) => d,
        Err(e) => return usage(format!("{}: {e}", a.file.display())),
    };
    println!("{d}");
    if let Some(CoopValue::Function(f)) = CoopVm::default().decode(&d) {
        println!(
            "; coopvm function: contract `{}`, {} instruction(s)",
            f.contract().id,
            f.contract().program.code.len()
        );
        print!("{}", disasm::disassemble(f.contract()));
    }
    ExitCode::SUCCESS
}

/// `coopvm eval FILE --args ... --gas-limit N`.
pub fn eval(a: EvalArgs) -> ExitCode {
    let f = match load_function(&a.file) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let args = match a
        .args
        .iter()
        .map(|t| parse_value(t))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(v) => v,
        Err(e) => return usage(e),
    };
    let engine = Engine::from(a.engine);
    let (result, gas_used) = CoopVm::with_engine(engine).evaluate(&f, &args, a.gas_limit);
    let top = match result {
        Some(CoopValue::Int(n)) => Some(n),
        _ => None,
    };
    if a.json {
        let view = serde_json::json!({
            "result": top,
            "gas_used": gas_used,
            "gas_limit": a.gas_limit,
            "engine": engine.name(),
        });
        println!("{view}");
    } else {
        match top {
            Some(n) => println!("result: {n}"),
            None => println!("result: none (the call failed, ran out of gas or left no value)"),
        }
        println!("gas used: {gas_used} of {}", a.gas_limit);
    }
    if top.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn prover(gas_limit: u64) -> CoopVm {
    CoopVm {
        proof_gas_limit: gas_limit,
        ..CoopVm::default()
    }
}

/// `coopvm prove FILE --public X --private Y -o OUT`.
pub fn prove(a: ProveArgs) -> ExitCode {
    let inputs = || -> Result<_, String> {
        Ok((
            load_function(&a.file)?,
            parse_value(&a.public)?,
            parse_value(&a.private)?,
        ))
    };
    let (f, public, private) = match inputs() {
        Ok(i) => i,
        Err(e) => return usage(e),
    };
    match prover(a.gas_limit).prove(&f, &public, &private) {
        Ok(proof) => {
            let bytes = proof.to_bytes();
            if let Err(e) = write(&a.output, &bytes) {
                return usage(e);
            }
            println!(
                "wrote {} ({} bytes; a witness proof: it contains the private input)",
                a.output.display(),
                bytes.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("no proof: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// `coopvm verify FILE --public X --proof P`: exit 0 if valid, 1 if not.
pub fn verify(a: VerifyArgs) -> ExitCode {
    let inputs = || -> Result<_, String> {
        Ok((
            load_function(&a.file)?,
            parse_value(&a.public)?,
            read(&a.proof)?,
        ))
    };
    let (f, public, bytes) = match inputs() {
        Ok(i) => i,
        Err(e) => return usage(e),
    };
    let valid = match Proof::from_bytes(&bytes) {
        Ok(proof) => prover(a.gas_limit).verify(&f, &public, &proof),
        Err(e) => {
            eprintln!("{}: {e}", a.proof.display());
            false
        }
    };
    if valid {
        println!("valid");
        ExitCode::SUCCESS
    } else {
        println!("invalid");
        ExitCode::from(EXIT_FAILED)
    }
}
