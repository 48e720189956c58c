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

use crate::EXIT_FAILED;
use coopvm::Outcome;
use std::process::ExitCode;

/// The exit code of a run: 0 if it succeeded, 1 if the contract failed (and was rolled back).
pub(crate) fn outcome_code(out: &Outcome) -> ExitCode {
    if out.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}
