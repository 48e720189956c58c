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
        let verified = loaded.verify(&a.limits.limits())?;
        print!("{}", coopvm::jit::clif(&verified)?);
    } else {
        print!("{}", disasm::disassemble(&loaded.contract));
    }
    Ok(ExitCode::SUCCESS)
}
