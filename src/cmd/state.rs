//! `coopvm state`: what a state database holds.

use crate::error::CliError;
use crate::render::report;
use clap::Args;
use coopvm::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

/// `coopvm state PATH [--json]`.
#[derive(Args, Debug)]
pub(crate) struct StateArgs {
    /// The state database.
    path: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Prints the deployed contracts, contract states, the cooperative domain and the event log.
/// A missing database is an error (it is not created).
pub(crate) fn state(a: StateArgs) -> Result<ExitCode, CliError> {
    if !a.path.exists() {
        return Err(CliError::NoState(a.path));
    }
    super::check_db_path(&a.path)?;
    let dump = Store::open_read_only(&a.path)?.dump()?;
    if a.json {
        println!("{dump}");
    } else {
        print!("{}", report::state_human(&dump));
    }
    Ok(ExitCode::SUCCESS)
}
