//! `coopvm check`: assemble and verify a contract without running it.

use crate::args::LimitArgs;
use crate::error::CliError;
use clap::Args;
use coopvm::load;
use std::path::PathBuf;
use std::process::ExitCode;

/// `coopvm check FILE`.
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The contract (`.casm` text or `.cvm` bytes).
    file: PathBuf,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Prints what the verifier found: instructions, basic blocks, subroutines, maximum stack.
pub(crate) fn check(a: CheckArgs) -> Result<ExitCode, CliError> {
    let v = super::verify(load::from_path(&a.file)?, &a.limits.limits())?;
    let analysis = v.analysis();
    println!(
        "ok: {} is valid: {} instructions, {} basic blocks, {} subroutine(s), max stack {}",
        crate::render::escape(&a.file.display().to_string()),
        v.contract().program.code.len(),
        analysis.blocks.len(),
        analysis.funcs.len(),
        analysis
            .funcs
            .iter()
            .map(|f| f.max_height)
            .max()
            .unwrap_or(0)
    );
    Ok(ExitCode::SUCCESS)
}
