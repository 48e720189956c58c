//! One module per command; the VM-interface commands (`encode`, `decode`, `eval`, `prove`,
//! `verify`) share [`vmi`]. Each takes its parsed arguments and returns
//! `Result<ExitCode, CliError>` (see [`crate::error`]): it prints its own result, and leaves
//! errors to `main`.

pub(crate) mod assemble;
pub(crate) mod check;
pub(crate) mod deploy;
pub(crate) mod disasm;
pub(crate) mod docs;
pub(crate) mod run;
pub(crate) mod state;
pub(crate) mod trace;
pub(crate) mod vmi;

use crate::error::{CliError, Location};
use crate::EXIT_FAILED;
use coopvm::load::{LoadError, Loaded};
use coopvm::{Limits, Outcome, Verified};
use std::path::Path;
use std::process::ExitCode;

/// Verifies a loaded contract; a rejection keeps where in the source it is (for `--json`).
pub(crate) fn verify(loaded: Loaded, limits: &Limits) -> Result<Verified, CliError> {
    let map = loaded.map.clone();
    loaded.verify(limits).map_err(|source| {
        let at = match &source {
            LoadError::Verify { error, .. } => {
                error.pc().and_then(|pc| map.span(pc)).map(|span| Location {
                    file: map.file.clone(),
                    line: span.line,
                    column: span.column,
                })
            }
            _ => None,
        };
        CliError::Verify { source, at }
    })
}

/// Refuses a state database path that exists but is not a regular file (a directory, a
/// FIFO, a device): opening a FIFO would wait forever for a writer.
pub(crate) fn check_db_path(path: &Path) -> Result<(), CliError> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(CliError::Usage(format!(
            "{}: not a regular file, so not a state database",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Refuses to write `output` when it is one of `inputs` (the same file, however named):
/// `assemble f.casm -o f.casm` would replace the source with bytes.
pub(crate) fn check_output(output: &Path, inputs: &[&Path]) -> Result<(), CliError> {
    let Ok(out) = std::fs::canonicalize(output) else {
        // It does not exist (yet), so it is no input.
        return Ok(());
    };
    for input in inputs {
        if std::fs::canonicalize(input).is_ok_and(|i| i == out) {
            return Err(CliError::OutputIsInput {
                output: output.to_owned(),
                input: input.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// The exit code of a run: 0 if it succeeded, 1 if the contract failed (and was rolled back).
pub(crate) fn outcome_code(out: &Outcome) -> ExitCode {
    if out.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}
