//! `coopvm docs`: the opcode reference, generated from the instruction table.

use crate::error::CliError;
use std::process::ExitCode;

/// Prints docs/opcodes.md as the instruction table generates it.
pub(crate) fn docs() -> Result<ExitCode, CliError> {
    print!("{}", coopvm::docs::opcodes_markdown());
    Ok(ExitCode::SUCCESS)
}
