//! Running with statistics: the interpreter's loop reporting every block entry to a
//! [`Tally`].
//!
//! It is the interpreter's own loop, monomorphized with a probe that the block charge calls;
//! the plain [`crate::run`] loop is monomorphized without one, so statistics off cost
//! nothing. On, they cost a few operations per block entry, nothing per instruction, and
//! they never change gas or results: the loop body is the same.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify, Limits, NoHost, ExecutionContext, RunParams};
//! let v = verify(assemble("t", "push 6\npush 7\nmul\n").unwrap(), &Limits::default()).unwrap();
//! let ctx = ExecutionContext::default();
//! let params = RunParams::new(&ctx, &v.contract().state, 100);
//! let (out, stats) = coopvm_interp::stats::run_with_stats(&v, params, &mut NoHost);
//! assert_eq!(out.stack, vec![42]);
//! assert_eq!((stats.instructions, stats.gas_used, stats.peak_stack), (3, 4, 2));
//! ```

use crate::{compile, Compiled, Flow, IOp, Machine, Probe};
use coopvm_core::host::{Env, Host};
use coopvm_core::memory::Memory;
use coopvm_core::run::{Exec, Outcome, RunParams};
use coopvm_core::stats::{Stats, Stop, Tally};
use coopvm_core::verify::{Analysis, Verified};

/// Reports the interpreter loop's block entries to a [`Tally`].
struct Counter<'a> {
    block_of: &'a [u32],
    tally: &'a mut Tally,
}

impl Probe for Counter<'_> {
    const ON: bool = true;
    #[inline(always)]
    fn enter(&mut self, ip: usize, height: usize, depth: usize) {
        let block = self.block_of.get(ip).copied().unwrap_or(NOT_A_BLOCK);
        self.tally.enter(block, height as u32, depth as u32);
    }
}

/// Marks a stream position that is not a block's charge.
const NOT_A_BLOCK: u32 = u32::MAX;

/// Compiles and runs `verified` under the full run protocol, like [`crate::run`], and also
/// returns the run's [`Stats`].
pub fn run_with_stats<H: Host + ?Sized>(
    verified: &Verified,
    params: RunParams<'_>,
    host: &mut H,
) -> (Outcome, Stats) {
    let compiled = compile(verified);
    coopvm_core::stats::run_with_stats(verified, params, host, |env, host, memory, gas, tally| {
        execute_counted(
            &compiled,
            verified.analysis(),
            env,
            host,
            memory,
            gas,
            tally,
        )
    })
}

/// Executes `code` (compiled from code with `analysis`) like [`Compiled::execute`],
/// reporting each block entry to `tally`.
pub fn execute_counted<H: Host + ?Sized>(
    code: &Compiled,
    analysis: &Analysis,
    env: &mut Env<'_>,
    host: &mut H,
    memory: &mut Memory,
    gas_limit: u64,
    tally: &mut Tally,
) -> (Exec, Stop) {
    // Per stream position: the block a charge there enters, or NOT_A_BLOCK.
    let block_of: Vec<u32> = code
        .ops()
        .iter()
        .enumerate()
        .map(|(ip, op)| match op {
            IOp::Charge(_) => analysis
                .block_at
                .get(code.pc_of(ip) as usize)
                .copied()
                .unwrap_or(NOT_A_BLOCK),
            _ => NOT_A_BLOCK,
        })
        .collect();
    let mut m = Machine::new(code, gas_limit);
    let mut probe = Counter {
        block_of: &block_of,
        tally,
    };
    let result = match m.run_probed(env, host, memory, &mut probe) {
        Flow::Continue | Flow::Done => Ok(()),
        Flow::Error(e) => Err(*e),
    };
    // A run that failed at a block's charge stopped with the charge next.
    let at_charge = result.is_err() && matches!(code.ops().get(m.ip()), Some(IOp::Charge(_)));
    let stop = Stop::from_result(&result, at_charge);
    (m.finish(result), stop)
}
