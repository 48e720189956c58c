//! `coopvm deploy`: store contracts in a state database, for others to depend on and call.

use crate::error::CliError;
use clap::Args;
use coopvm::store::Store;
use coopvm::{load, Limits};
use std::path::PathBuf;
use std::process::ExitCode;

/// `coopvm deploy FILE... --state PATH`.
#[derive(Args, Debug)]
pub(crate) struct DeployArgs {
    /// The contracts (`.casm` text or `.cvm` bytes).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The state database (created if missing).
    #[arg(long, value_name = "PATH")]
    state: PathBuf,
}

/// Verifies every contract first, then deploys them in order.
pub(crate) fn deploy(a: DeployArgs) -> Result<ExitCode, CliError> {
    // Deployed contracts are verified with the default limits, the limits the store
    // verifies them with again when it loads them.
    let mut verified = Vec::new();
    for file in &a.files {
        verified.push(load::from_path(file)?.verify(&Limits::default())?);
    }
    let mut store = Store::open(&a.state)?;
    for v in verified {
        let id = v.contract().id.clone();
        store.deploy(v)?;
        println!("deployed `{id}` to {}", a.state.display());
    }
    Ok(ExitCode::SUCCESS)
}
