//! The CLI's VM-interface commands: encode, decode, eval, prove and verify.
//!
//! Exit codes: 0 success (for `verify`: a valid proof), 1 no result (`eval`), no proof
//! (`prove`) or an invalid proof (`verify`); input errors (unreadable files, bad values) are
//! [`CliError`]s, exit 2.

use crate::args::EngineArg;
use crate::error::CliError;
use crate::EXIT_FAILED;
use clap::{Args, ValueEnum};
use coopvm::load;
use coopvm::vmi::{
    data, Backend, CoopValue, CoopVm, DataValue, Function, Proof, ProvableVm, Vm, COOPVM_NUMBER,
};
use coopvm::Engine;
use coopvm::{disasm, DEFAULT_GAS_LIMIT};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `coopvm encode`.
#[derive(Args, Debug)]
pub(crate) struct EncodeArgs {
    /// The contract (`.casm` text or `.cvm` bytes).
    file: PathBuf,
    /// Where to write the DataValue bytes.
    #[arg(short, long)]
    output: PathBuf,
}

/// `coopvm decode`.
#[derive(Args, Debug)]
pub(crate) struct DecodeArgs {
    /// A file of DataValue bytes (as written by `coopvm encode`).
    file: PathBuf,
}

/// `coopvm eval`.
#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
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
    pub(crate) json: bool,
}

/// `coopvm prove`.
#[derive(Args, Debug)]
pub(crate) struct ProveArgs {
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
    /// The proof system. Neither is zero-knowledge.
    #[arg(long, value_enum, default_value_t = BackendArg::Witness)]
    backend: BackendArg,
}

/// `--backend` of `coopvm prove` (`verify` reads the backend from the proof).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum BackendArg {
    /// A witness proof: contains the private input in the clear (NOT zero-knowledge), and
    /// verifying re-runs the relation (not succinct).
    Witness,
    /// A STARK proof (Miden VM): succinct (verifying does not re-run the relation) and without
    /// the private input, but NOT zero-knowledge: the trace is committed without blinding and
    /// the proof is a deterministic function of the inputs, so anyone can test a guess of the
    /// private input by proving with it and comparing bytes. Pure relations with integer
    /// inputs only (host and system operations and string constants are refused). Needs a
    /// build with `--features stark`.
    Stark,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Witness => Backend::Witness,
            BackendArg::Stark => Backend::Stark,
        }
    }
}

/// `coopvm verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
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

/// Reads an input file, at most [`load::MAX_INPUT_BYTES`] (so `/dev/zero` is refused, not
/// read until memory runs out).
fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    Ok(load::read_input(path)?)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|source| CliError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Parses a command-line value: an integer, or `s:TEXT` for a byte string.
fn parse_value(text: &str) -> Result<CoopValue, CliError> {
    if let Some(s) = text.strip_prefix("s:") {
        return Ok(CoopValue::Bytes(s.as_bytes().to_vec()));
    }
    text.trim()
        .parse::<i64>()
        .map(CoopValue::Int)
        .map_err(|_| CliError::Value(crate::render::bounded(text)))
}

/// Parses the inputs of a run (`coopvm run --args`, split at commas by clap) with the value
/// syntax of `eval --args`: integers, or `s:TEXT` for a string (passed as a handle). An
/// empty `--args ""` is no inputs.
pub(crate) fn parse_inputs(texts: &[String]) -> Result<Vec<coopvm::Arg>, String> {
    if let [only] = texts {
        if only.is_empty() {
            return Ok(Vec::new());
        }
    }
    texts
        .iter()
        .map(|t| match parse_value(t).map_err(|e| e.to_string())? {
            CoopValue::Int(n) => Ok(coopvm::Arg::Int(n)),
            CoopValue::Bytes(b) => String::from_utf8(b)
                .map(coopvm::Arg::Str)
                .map_err(|_| format!("`{t}` is not UTF-8")),
            _ => Err(format!("`{t}` is neither a 64-bit integer nor `s:TEXT`")),
        })
        .collect()
}

/// Loads a function from a contract file or from DataValue bytes of a coopvm function.
fn load_function(path: &Path) -> Result<CoopValue, CliError> {
    let bytes = read(path)?;
    if bytes.starts_with(data::MAGIC) {
        let d = DataValue::from_bytes(&bytes).map_err(|source| CliError::DataValue {
            path: path.to_owned(),
            source,
        })?;
        invalid_code(path, &d)?;
        return match CoopVm::default().decode(&d) {
            Some(f @ CoopValue::Function(_)) => Ok(f),
            _ => Err(CliError::NotAFunction {
                path: path.to_owned(),
                value: crate::render::bounded(&d.to_string()),
            }),
        };
    }
    let loaded = load::from_bytes(&path.display().to_string(), &bytes)?;
    Function::new(loaded.contract)
        .map(CoopValue::Function)
        .map_err(|source| CliError::Function {
            path: path.to_owned(),
            source,
        })
}

/// A DataValue that claims to be a coopvm function (coopvm's VM number) but whose code is
/// not a valid contract: an error saying why, instead of a foreign-looking `fn<vm N>`.
fn invalid_code(path: &Path, d: &DataValue) -> Result<(), CliError> {
    if let DataValue::FunctionV { vm, code } = d {
        if *vm == COOPVM_NUMBER {
            if let Err(e) = Function::from_bytes(code) {
                return Err(CliError::InvalidFunctionCode {
                    path: path.to_owned(),
                    len: code.len(),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// `coopvm encode FILE -o OUT`.
pub(crate) fn encode(a: EncodeArgs) -> Result<ExitCode, CliError> {
    super::check_output(&a.output, &[&a.file])?;
    let f = load_function(&a.file)?;
    let bytes = CoopVm::default().encode(&f).to_bytes();
    write(&a.output, &bytes)?;
    println!("wrote {} ({} bytes)", a.output.display(), bytes.len());
    Ok(ExitCode::SUCCESS)
}

/// `coopvm decode FILE`: the value on one line, then the disassembly of a coopvm function.
pub(crate) fn decode(a: DecodeArgs) -> Result<ExitCode, CliError> {
    let bytes = read(&a.file)?;
    let d = DataValue::from_bytes(&bytes).map_err(|source| CliError::DataValue {
        path: a.file.clone(),
        source,
    })?;
    invalid_code(&a.file, &d)?;
    println!("{}", crate::render::escape(&d.to_string()));
    if let Some(CoopValue::Function(f)) = CoopVm::default().decode(&d) {
        println!(
            "; coopvm function: contract `{}`, {} instruction(s)",
            crate::render::escape(&f.contract().id),
            f.contract().program.code.len()
        );
        print!(
            "{}",
            crate::render::escape_lines(&disasm::disassemble(f.contract()))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `coopvm eval FILE --args ... --gas-limit N`.
pub(crate) fn eval(a: EvalArgs) -> Result<ExitCode, CliError> {
    let f = load_function(&a.file)?;
    let args = a
        .args
        .iter()
        .map(|t| parse_value(t))
        .collect::<Result<Vec<_>, _>>()?;
    let engine = Engine::from(a.engine);
    let (result, gas_used) = CoopVm::with_engine(engine).evaluate(&f, &args, a.gas_limit);
    let top = match result {
        Some(CoopValue::Int(n)) => Some(n),
        _ => None,
    };
    if a.json {
        let view = serde_json::json!({
            "status": if top.is_some() { "ok" } else { "error" },
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
    Ok(if top.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// The message for a backend this build lacks (only [`Backend::Stark`], without feature
/// `stark`).
fn unavailable(backend: Backend) -> String {
    format!(
        "error: this coopvm was built without the {} backend; build it with `cargo build --release --features {}`",
        backend.name(),
        backend.name()
    )
}

fn prover(gas_limit: u64) -> CoopVm {
    CoopVm {
        proof_gas_limit: gas_limit,
        ..CoopVm::default()
    }
}

/// `coopvm prove FILE --public X --private Y -o OUT`: exit 1 if there is no proof (the
/// relation does not hold, or fails).
pub(crate) fn prove(a: ProveArgs) -> Result<ExitCode, CliError> {
    super::check_output(&a.output, &[&a.file])?;
    let f = load_function(&a.file)?;
    let public = parse_value(&a.public)?;
    let private = parse_value(&a.private)?;
    let backend = Backend::from(a.backend);
    if !backend.is_available() {
        eprintln!("{}", unavailable(backend));
        return Ok(ExitCode::from(crate::EXIT_USAGE));
    }
    match prover(a.gas_limit).prove_with(backend, &f, &public, &private) {
        Ok(proof) => {
            let bytes = proof.to_bytes();
            write(&a.output, &bytes)?;
            let what = match backend {
                Backend::Stark => {
                    "a STARK proof: it does not contain the private input, but is not zero-knowledge"
                }
                _ => "a witness proof: it contains the private input",
            };
            println!(
                "wrote {} ({} bytes; {what})",
                a.output.display(),
                bytes.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("no proof: {}", crate::render::escape(&e.to_string()));
            Ok(ExitCode::from(EXIT_FAILED))
        }
    }
}

/// `coopvm verify FILE --public X --proof P`: exit 0 if valid, 1 if not (a proof file
/// that does not decode is invalid).
pub(crate) fn verify(a: VerifyArgs) -> Result<ExitCode, CliError> {
    let f = load_function(&a.file)?;
    let public = parse_value(&a.public)?;
    let bytes = read(&a.proof)?;
    let valid = match Proof::from_bytes(&bytes) {
        Ok(proof) => {
            if let Some(backend) = Backend::from_id(proof.backend) {
                if !backend.is_available() {
                    eprintln!("{}", unavailable(backend));
                    return Ok(ExitCode::from(crate::EXIT_USAGE));
                }
            }
            prover(a.gas_limit).verify(&f, &public, &proof)
        }
        Err(e) => {
            eprintln!(
                "invalid: {}: {}",
                crate::render::escape(&a.proof.display().to_string()),
                crate::render::escape(&e.to_string())
            );
            false
        }
    };
    if valid {
        println!("valid");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("invalid");
        Ok(ExitCode::from(EXIT_FAILED))
    }
}
