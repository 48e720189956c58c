//! `coopvm run`: assemble, verify and run a contract, then print the outcome.

use super::outcome_code;
use crate::args::{CommonArgs, EngineArg};
use crate::error::CliError;
use crate::render::report;
use clap::Args;
use coopvm::domain::CoopHost;
use coopvm::store::Store;
use coopvm::{load, Engine, ExecutionContext, RunParams, State};
use std::path::PathBuf;
use std::process::ExitCode;

/// `coopvm run FILE`.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Which engine executes the contract.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Print one JSON object (status, stack, gas_used, state, events, logs, error; and
    /// stats with --stats).
    #[arg(long)]
    pub(crate) json: bool,
    /// Also report the run's statistics: wall time, instructions executed, basic blocks
    /// entered, gas used, peak stack and call depth, memory keys, host calls and how often
    /// each opcode ran.
    #[arg(long)]
    stats: bool,
    /// A state database (redb file, created if missing) holding contract states, deployed
    /// contracts, the cooperative domain and the event log. A successful run commits all its
    /// changes in one transaction; a failed run writes nothing. Without it, the run starts
    /// from an empty world and nothing is kept.
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
}

/// Runs the contract on the cooperative host (in memory, or loaded from and committed to
/// `--state`) and prints the outcome; exit 1 if the contract failed.
pub(crate) fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let common = &args.common;
    let loaded = load::from_path(&common.file)?;
    let map = loaded.map.clone();
    let verified = super::verify(loaded, &common.limits.limits())?;
    let inputs = common.inputs(verified.contract())?;
    let ctx = common.context();
    let engine = Engine::from(args.engine);
    let contract = verified.contract();
    let gas_limit = common.gas_limit;
    let stats_wanted = args.stats;
    let runner = |host: &mut CoopHost, ctx: &ExecutionContext, state: &State| {
        let params = RunParams::new(ctx, state, gas_limit)
            .with_calls(&engine)
            .with_args(&inputs);
        if stats_wanted {
            let (out, stats) = engine.run_params_with_stats(&verified, params, host);
            (out, Some(stats))
        } else {
            (engine.run_params(&verified, params, host), None)
        }
    };
    let (out, stats) = match &args.state {
        Some(_) if common.reputation.is_some() => {
            return Err(CliError::Usage(
                "--reputation is for runs without --state: with a state database the caller's stored reputation is used".to_owned(),
            ))
        }
        Some(path) => {
            super::check_db_path(path)?;
            Store::open(path)?.execute_with(&verified, &ctx, runner)?
        }
        None => common.world()?.execute_with(&verified, &ctx, runner),
    };
    let stats = stats.flatten();
    if args.json {
        let mut view = report::json(&out, &contract.id, engine.name(), gas_limit, &map);
        view.stats = stats.as_ref();
        println!("{}", serde_json::to_string(&view)?);
    } else {
        print!(
            "{}",
            report::human(&out, &contract.id, engine.name(), gas_limit, &map)
        );
        if let Some(stats) = &stats {
            print!("{}", report::human_stats(stats));
        }
    }
    Ok(outcome_code(&out))
}
