//! `coopvm trace`: run a contract one instruction at a time on the interpreter and print
//! every instruction executed (rendered by [`crate::render::trace`]).

use super::outcome_code;
use crate::args::CommonArgs;
use crate::error::CliError;
use crate::render::trace::{self as render, Options};
use clap::Args;
use coopvm::{load, Engine, RunParams};
use std::io::Write;
use std::process::ExitCode;

/// `coopvm trace FILE`.
#[derive(Args, Debug)]
pub(crate) struct TraceArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Print at most this many instruction lines.
    #[arg(long, default_value_t = render::DEFAULT_LIMIT)]
    limit: u64,
    /// Print JSON lines: one object per instruction, then one for the end of the run.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Traces the run on the in-memory cooperative host, exactly as `run` without `--state`;
/// exit 1 if the contract failed.
pub(crate) fn trace(args: TraceArgs) -> Result<ExitCode, CliError> {
    let common = &args.common;
    let loaded = load::from_path(&common.file)?;
    let map = loaded.map.clone();
    let verified = super::verify(loaded, &common.limits.limits())?;
    let inputs = common.inputs(verified.contract())?;
    let ctx = common.context();
    let gas_limit = common.gas_limit;
    let options = Options {
        limit: args.limit,
        json: args.json,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut host = common.world()?;
    let (outcome, written) = host.execute_with(&verified, &ctx, |host, ctx, state| {
        let params = RunParams::new(ctx, state, gas_limit)
            .with_calls(&Engine::Interp)
            .with_args(&inputs);
        render::trace(&verified, &map, params, host, &options, &mut out)
    });
    // A run refused before it started (a missing dependency) still gets its end line.
    let written = match written {
        Some(written) => written,
        None => render::write_header(&mut out, &options)
            .and_then(|()| render::write_end(&mut out, &outcome, 0, gas_limit, &map, options.json)),
    };
    coopvm::observe::log_outcome(&outcome, &verified.contract().id, "interp");
    match written.and_then(|()| out.flush()) {
        Ok(()) => Ok(outcome_code(&outcome)),
        // A closed pipe (`coopvm trace f | head`) is not an error of the contract.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(outcome_code(&outcome)),
        Err(e) => Err(CliError::Trace(e)),
    }
}
