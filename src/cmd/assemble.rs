//! `coopvm assemble`: a contract's canonical binary form (`.cvm`).

use crate::error::CliError;
use clap::Args;
use coopvm::{codec, load};
use std::path::PathBuf;
use std::process::ExitCode;

/// `coopvm assemble FILE -o OUT`.
#[derive(Args, Debug)]
pub(crate) struct AssembleArgs {
    /// The assembly source.
    file: PathBuf,
    /// Where to write the bytes.
    #[arg(short, long)]
    output: PathBuf,
}

/// Writes the canonical bytes of the contract to `--output`.
pub(crate) fn assemble(a: AssembleArgs) -> Result<ExitCode, CliError> {
    super::check_output(&a.output, &[&a.file])?;
    let loaded = load::from_path(&a.file)?;
    let bytes = codec::encode(&loaded.contract);
    std::fs::write(&a.output, &bytes).map_err(|source| CliError::Write {
        path: a.output.clone(),
        source,
    })?;
    println!("wrote {} ({} bytes)", a.output.display(), bytes.len());
    Ok(ExitCode::SUCCESS)
}
