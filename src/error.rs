//! The CLI's one error channel.
//!
//! Every command returns `Result<ExitCode, CliError>`. `Ok` carries the outcome the command
//! reports itself: 0, or 1 when the contract failed at run time, `eval` has no result,
//! `prove` finds no proof or `verify` an invalid one. `Err` means the command could not do
//! its job (usage, input, assembly, verification, state database or output errors): `main`
//! prints it once, on stderr, with the `error:` prefix, and exits with [`CliError::exit_code`].

use crate::EXIT_USAGE;
use coopvm::load::LoadError;
use coopvm::store::StoreError;
use coopvm::vmi::{DataDecodeError, FunctionError};
use std::path::PathBuf;
use std::process::ExitCode;

/// Why a command could not do its job.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The contract could not be read, decoded, assembled or verified.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The verifier rejected the contract; `at` is where in the source, when known.
    #[error("{source}")]
    Verify {
        /// The error ([`LoadError::Verify`]).
        source: LoadError,
        /// The instruction's place in the source.
        at: Option<Location>,
    },
    /// An output path that is one of the command's inputs: writing would destroy it.
    #[error("refusing to write {}: it is the input {}; choose another output path", output.display(), input.display())]
    OutputIsInput {
        /// The output path, as given.
        output: PathBuf,
        /// The input it is, as given.
        input: PathBuf,
    },
    /// A DataValue of a coopvm function (its VM number is coopvm's) whose code is not a
    /// valid contract.
    #[error("{}: the coopvm function's code is invalid ({len} bytes): {reason}", path.display())]
    InvalidFunctionCode {
        /// The file.
        path: PathBuf,
        /// The code's length in bytes.
        len: usize,
        /// Why the code is invalid.
        reason: String,
    },
    /// The state database could not be opened, read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `coopvm state` on a path that holds no database.
    #[error("no state database at {}", .0.display())]
    NoState(PathBuf),
    /// An output file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A command-line value that is neither an integer nor `s:TEXT`.
    #[error("`{0}` is neither a 64-bit integer nor `s:TEXT`")]
    Value(String),
    /// A file that is not canonical DataValue bytes.
    #[error("{}: {source}", path.display())]
    DataValue {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DataDecodeError,
    },
    /// A DataValue that is not a coopvm function (shown cut, see [`crate::render::bounded`]).
    #[error("{}: the DataValue is not a coopvm function: {value}", path.display())]
    NotAFunction {
        /// The file.
        path: PathBuf,
        /// The value, as text.
        value: String,
    },
    /// A contract that cannot be a VM-interface function.
    #[error("{}: {source}", path.display())]
    Function {
        /// The file.
        path: PathBuf,
        /// Why.
        source: FunctionError,
    },
    /// `disasm --clif`: the JIT cannot compile the contract.
    #[error(transparent)]
    Jit(#[from] coopvm::jit::JitError),
    /// `run --json`: the outcome could not be rendered.
    #[error("cannot render JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `trace`: the trace could not be written (a closed pipe is not an error).
    #[error("cannot write the trace: {0}")]
    Trace(std::io::Error),
    /// A `--log-level` or `RUST_LOG` filter that does not parse.
    #[error("invalid {origin} `{filter}`: {message}")]
    LogFilter {
        /// `--log-level` or `RUST_LOG`.
        origin: &'static str,
        /// The filter as given.
        filter: String,
        /// Why it does not parse.
        message: String,
    },
    /// A command-line value out of its range, or options that do not go together.
    #[error("{0}")]
    Usage(String),
    /// The log subscriber could not be installed.
    #[error("cannot install the log subscriber: {0}")]
    LogInit(String),
}

/// Where in a source file an error is.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Location {
    /// The file, as named on the command line.
    pub(crate) file: String,
    /// 1-based line.
    pub(crate) line: u32,
    /// 1-based column.
    pub(crate) column: u32,
}

fn store_kind(e: &StoreError) -> &'static str {
    use coopvm::domain::contracts::DeployError as D;
    match e {
        StoreError::Busy { .. } => "state_database_busy",
        StoreError::Open { .. } => "state_database_open",
        StoreError::Db(_) => "state_database_io",
        StoreError::Corrupt(_) | StoreError::Closed { .. } => "state_database_corrupted",
        StoreError::Version { .. } => "state_database_version",
        StoreError::NotAStore { .. } => "not_a_state_database",
        StoreError::ReadOnly { .. } => "state_database_read_only",
        StoreError::Deploy(d) => match d {
            D::InvalidId { .. } | D::CodeAddress { .. } => "invalid_contract_id",
            D::Empty { .. } => "empty_contract",
            D::Unverifiable { .. } => "verification",
            D::InvalidOwner { .. } => "invalid_owner",
            D::NotOwner { .. } => "not_owner",
            D::AlreadyDeployed { .. } => "already_deployed",
            D::NotDeployed { .. } => "not_deployed",
        },
    }
}

impl CliError {
    /// The error's stable snake_case kind, `error.kind` of the JSON error object (see
    /// [`CliError::json`]).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            CliError::Load(e) | CliError::Verify { source: e, .. } => match e {
                LoadError::Io { .. } => "io",
                LoadError::TooLarge { .. } => "input_too_large",
                LoadError::Empty { .. } => "empty_contract",
                LoadError::ReservedId { .. } => "invalid_contract_id",
                LoadError::NotAContract { .. } => "not_a_contract",
                LoadError::Asm(_) => "assembly",
                LoadError::Decode { .. } => "decode",
                LoadError::Verify { .. } => "verification",
            },
            CliError::Store(e) => store_kind(e),
            CliError::NoState(_) => "no_state_database",
            CliError::Write { .. } => "io",
            CliError::OutputIsInput { .. } => "output_is_input",
            CliError::Value(_) | CliError::LogFilter { .. } | CliError::Usage(_) => "usage",
            CliError::DataValue { .. } => "datavalue_decode",
            CliError::NotAFunction { .. } => "not_a_function",
            CliError::InvalidFunctionCode { .. } | CliError::Function { .. } => "invalid_function",
            CliError::Jit(_) => "jit",
            CliError::Json(_) | CliError::Trace(_) => "output",
            CliError::LogInit(_) => "internal",
        }
    }

    /// Where in the source the error is, for assembly and verification errors.
    pub(crate) fn location(&self) -> Option<Location> {
        match self {
            CliError::Load(LoadError::Asm(e)) => Some(Location {
                file: e.file.clone(),
                line: e.line,
                column: e.column,
            }),
            CliError::Verify { at, .. } => at.clone(),
            _ => None,
        }
    }

    /// The message without the source excerpt of a located diagnostic (escaped).
    fn message(&self) -> String {
        match self {
            CliError::Load(LoadError::Asm(e)) => e.message.clone(),
            CliError::Verify {
                source: LoadError::Verify { error, .. },
                ..
            } => format!("verification failed: {error}"),
            e => e.to_string(),
        }
    }

    /// The error as the one JSON object a command given `--json` prints on stdout:
    /// `{"status":"error","error":{"kind","message","location"?}}`.
    pub(crate) fn json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "kind": self.kind(),
            "message": self.message(),
        });
        if let Some(at) = self.location() {
            error["location"] = serde_json::json!(at);
        }
        serde_json::json!({ "status": "error", "error": error })
    }

    /// The process's exit code for this error: 2 (usage, input, assembly, verification,
    /// state database or output error), whatever the error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(EXIT_USAGE)
    }

    /// The error as printed: a located assembly or verification diagnostic as it is (it is
    /// headed `error:` already; each line escaped), anything else on one line after
    /// `error: `, escaped (see [`crate::render::escape`]): no text from a contract or a file
    /// can forge a line of output or drive the terminal.
    pub(crate) fn report(&self) -> String {
        use crate::render::{escape, escape_lines};
        match self {
            CliError::Load(e @ (LoadError::Asm(_) | LoadError::Verify { .. }))
            | CliError::Verify { source: e, .. } => escape_lines(&e.to_string()).into_owned(),
            e => format!("error: {}", escape(&e.to_string())),
        }
    }
}
