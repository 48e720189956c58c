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
    /// Print one JSON object instead of text: `status`, `file`, `id`, `instructions`,
    /// `blocks`, `subroutines`, `max_stack`, `params`; on failure the error object every
    /// `--json` command prints (`status: "error"`, `error.kind`, `error.message`, ...).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Prints what the verifier found: instructions, basic blocks, subroutines, maximum stack.
pub(crate) fn check(a: CheckArgs) -> Result<ExitCode, CliError> {
    let v = super::verify(load::from_path(&a.file)?, &a.limits.limits())?;
    let analysis = v.analysis();
    let max_stack = analysis
        .funcs
        .iter()
        .map(|f| f.max_height)
        .max()
        .unwrap_or(0);
    let contract = v.contract();
    if a.json {
        let view = serde_json::json!({
            "status": "ok",
            "file": a.file.display().to_string(),
            "id": contract.id,
            "instructions": contract.program.code.len(),
            "blocks": analysis.blocks.len(),
            "subroutines": analysis.funcs.len(),
            "max_stack": max_stack,
            "params": contract.params,
        });
        println!("{view}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "ok: {} is valid: {} instructions, {} basic blocks, {} subroutine(s), max stack {}",
        crate::render::escape(&a.file.display().to_string()),
        contract.program.code.len(),
        analysis.blocks.len(),
        analysis.funcs.len(),
        max_stack
    );
    Ok(ExitCode::SUCCESS)
}
