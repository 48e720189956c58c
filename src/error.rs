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
    /// The state database could not be opened, read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `coopvm state` on a path that holds no database.
    #[error("no state database at {}", .0.display())]
    NoState(PathBuf),
    /// An input file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
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
    /// A DataValue that is not a coopvm function (shown in full).
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

impl CliError {
    /// The process's exit code for this error: 2 (usage, input, assembly, verification,
    /// state database or output error), whatever the error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(EXIT_USAGE)
    }

    /// The error as printed: a located assembly or verification diagnostic as it is (it is
    /// headed `error:` already), anything else after `error: `.
    pub(crate) fn report(&self) -> String {
        match self {
            CliError::Load(e @ (LoadError::Asm(_) | LoadError::Verify { .. })) => e.to_string(),
            e => format!("error: {e}"),
        }
    }
}
