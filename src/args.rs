//! Argument groups several commands share: the contract and the caller's context of a run
//! ([`CommonArgs`]), verification limits ([`LimitArgs`]) and the engine ([`EngineArg`]).

use crate::error::CliError;
use clap::{Args, ValueEnum};
use coopvm::domain::CoopHost;
use coopvm::{Engine, ExecutionContext, Limits, DEFAULT_GAS_LIMIT};
use std::path::PathBuf;

/// What every run needs, whatever executes it: the contract, gas, the caller's context and
/// the limits.
#[derive(Args, Debug)]
pub(crate) struct CommonArgs {
    /// The contract (`.casm` text or `.cvm` bytes).
    pub(crate) file: PathBuf,
    /// Gas available to the run; every instruction costs at least 1.
    #[arg(long, default_value_t = DEFAULT_GAS_LIMIT, allow_negative_numbers = true)]
    pub(crate) gas_limit: u64,
    /// The caller's DID (what `getcaller` pushes).
    #[arg(long, default_value = "did:key:anonymous")]
    caller: String,
    /// The caller's reputation score in the throw-away world of a run without `--state`
    /// (checked against `.reputation`; -1000 to 1000). With `--state` the score stored in the
    /// database is used, and this option is refused.
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) reputation: Option<i64>,
    /// A permission the caller holds (repeat for several; checked against `.permission`).
    #[arg(long = "permission", value_name = "P")]
    permissions: Vec<String>,
    /// The block timestamp (what `gettimestamp` pushes).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    timestamp: u64,
    /// The block number (what `getblock` pushes).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    block: u64,
    /// The inputs of a contract that declares `.params N`: exactly N values, comma-separated,
    /// deepest first (the last ends on top): integers, or `s:TEXT` for a string (passed as a
    /// string handle), as `eval --args` takes them.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        value_name = "VALUES"
    )]
    args: Vec<String>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

impl CommonArgs {
    /// The run's inputs (`--args`), as many as `contract`'s `.params`; otherwise a usage
    /// error naming both counts.
    pub(crate) fn inputs(&self, contract: &coopvm::Contract) -> Result<Vec<coopvm::Arg>, CliError> {
        let args = crate::cmd::vmi::parse_inputs(&self.args).map_err(CliError::Usage)?;
        let want = contract.params as usize;
        if args.len() != want {
            return Err(CliError::Usage(format!(
                "{} takes {want} input(s) (`.params {want}`), but --args gives {}",
                self.file.display(),
                args.len()
            )));
        }
        Ok(args)
    }

    /// The throw-away world of a run without `--state`: empty, but for the caller's
    /// `--reputation`.
    pub(crate) fn world(&self) -> Result<CoopHost, CliError> {
        let mut host = CoopHost::new();
        if let Some(score) = self.reputation {
            host.set_reputation(&self.caller, score)
                .map_err(|e| CliError::Usage(format!("--reputation: {e}")))?;
        }
        Ok(host)
    }

    /// The caller's context the arguments describe.
    pub(crate) fn context(&self) -> ExecutionContext {
        ExecutionContext {
            caller_did: self.caller.clone(),
            cooperative_id: String::new(),
            timestamp: self.timestamp,
            block_number: self.block,
            reputation_score: self.reputation.unwrap_or(0),
            permissions: self.permissions.clone(),
        }
    }
}

/// The limits a contract is verified against.
#[derive(Args, Debug)]
pub(crate) struct LimitArgs {
    /// Maximum values on the stack.
    #[arg(long, default_value_t = Limits::default().stack, allow_negative_numbers = true)]
    stack_limit: u32,
    /// Maximum nested calls.
    #[arg(long, default_value_t = Limits::default().call_depth, allow_negative_numbers = true)]
    call_depth: u32,
    /// Maximum keys in the contract's memory.
    #[arg(long, default_value_t = Limits::default().memory_keys, allow_negative_numbers = true)]
    memory_keys: u32,
    /// Maximum keys in a run's transient memory (`tstore`/`tload`; never part of the state).
    #[arg(long, default_value_t = Limits::default().transient_keys, allow_negative_numbers = true)]
    transient_keys: u32,
}

impl LimitArgs {
    /// The limits, the defaults for what the arguments leave out.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            stack: self.stack_limit,
            call_depth: self.call_depth,
            memory_keys: self.memory_keys,
            transient_keys: self.transient_keys,
            ..Limits::default()
        }
    }
}

/// `--engine`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum EngineArg {
    /// The reference interpreter.
    Interp,
    /// The Cranelift JIT (native code).
    Jit,
    /// Interpret until the contract is hot, then JIT-compile it (one run is never hot).
    Auto,
}

impl From<EngineArg> for Engine {
    fn from(e: EngineArg) -> Engine {
        match e {
            EngineArg::Interp => Engine::Interp,
            EngineArg::Jit => Engine::Jit,
            EngineArg::Auto => Engine::Auto,
        }
    }
}
