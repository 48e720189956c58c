//! `coopvm disasm`: a contract as assembly, or as the Cranelift IR the JIT generates.

use crate::args::LimitArgs;
use crate::error::CliError;
use clap::Args;
use coopvm::{disasm, load};
use std::path::PathBuf;
use std::process::ExitCode;

/// `coopvm disasm [--clif] FILE`.
#[derive(Args, Debug)]
pub(crate) struct DisasmArgs {
    /// The contract (`.casm` text or `.cvm` bytes).
    file: PathBuf,
    /// Print the Cranelift IR the JIT generates for it instead (verified with the given
    /// limits; `@xxxx` source locations are instruction indices in hex).
    #[arg(long)]
    clif: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Prints assembly that assembles back to the same contract, or with `--clif` the
/// Cranelift IR.
pub(crate) fn disasm(a: DisasmArgs) -> Result<ExitCode, CliError> {
    let loaded = load::from_path(&a.file)?;
    if a.clif {
        let verified = super::verify(loaded, &a.limits.limits())?;
        print!("{}", coopvm::jit::clif(&verified)?);
    } else {
        // Strings are quoted with escapes already; anything else from the contract (an id,
        // a key) is escaped here, line by line.
        let text = disasm::disassemble(&loaded.contract);
        print!("{}", crate::render::escape_lines(&text));
    }
    Ok(ExitCode::SUCCESS)
}
