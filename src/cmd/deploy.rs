//! `coopvm deploy` and `coopvm upgrade`: store contracts in a state database, for others to
//! depend on and call, and replace them as their owner.

use crate::error::CliError;
use clap::Args;
use coopvm::domain::contracts::DeployOutcome;
use coopvm::store::Store;
use coopvm::{load, Limits};
use std::path::PathBuf;
use std::process::ExitCode;

/// `coopvm deploy FILE... --state PATH [--caller DID]`.
#[derive(Args, Debug)]
pub(crate) struct DeployArgs {
    /// The contracts (`.casm` text or `.cvm` bytes).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The state database (created if missing).
    #[arg(long, value_name = "PATH")]
    state: PathBuf,
    /// The deployer's DID, who becomes the owner (for `upgrade`: the owner's DID).
    #[arg(long, default_value = "did:key:anonymous")]
    caller: String,
}

/// `deploy` (or, with `upgrade`, `upgrade`): verifies every contract first, then deploys (or
/// upgrades) them in order.
pub(crate) fn deploy(a: DeployArgs, upgrade: bool) -> Result<ExitCode, CliError> {
    // Deployed contracts are verified with the default limits, the limits the store
    // verifies them with again when it loads them.
    let mut verified = Vec::new();
    for file in &a.files {
        verified.push(super::verify(load::from_path(file)?, &Limits::default())?);
    }
    super::check_db_path(&a.state)?;
    let mut store = Store::open(&a.state)?;
    let at = a.state.display();
    for v in verified {
        let id = v.contract().id.clone();
        let shown = crate::render::escape(&id);
        let done = if upgrade {
            store.upgrade(v, &a.caller)?
        } else {
            store.deploy(v, &a.caller)?
        };
        let revision = store.host().deployment(&id).map_or(0, |d| d.revision);
        match done {
            DeployOutcome::Unchanged => {
                println!(
                    "`{shown}` is already deployed with this code (revision {revision}) in {at}"
                )
            }
            DeployOutcome::Deployed => println!("deployed `{shown}` to {at}"),
            DeployOutcome::Upgraded => {
                println!("upgraded `{shown}` to revision {revision} in {at}")
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
