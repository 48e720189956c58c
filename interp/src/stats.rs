//! Running with statistics: the interpreter's loop reporting every block entry to a
//! [`Tally`] (its [`coopvm_core::Execute::execute_counted`]; see the crate docs).

use crate::{Lowered, Probe};
use coopvm_core::host::{Env, Host};
use coopvm_core::memory::Memory;
use coopvm_core::run::Exec;
use coopvm_core::stats::{Stop, Tally};
use coopvm_core::verify::Analysis;

/// Reports the interpreter loop's block entries to a [`Tally`].
struct Counter<'a> {
    tally: &'a mut Tally,
}

impl Probe for Counter<'_> {
    const ON: bool = true;
    #[inline(always)]
    fn enter(&mut self, block: u32, height: usize, depth: usize) {
        self.tally.enter(block, height as u32, depth as u32);
    }
}

/// Executes `code` (lowered from code with `analysis`) like its plain execution, reporting
/// each block entry to `tally`. The block indices come from the analysis the code was
/// lowered with, which is `analysis` (the [`coopvm_core::Execute`] contract).
pub(crate) fn execute_counted<H: Host + ?Sized>(
    code: &Lowered,
    analysis: &Analysis,
    env: &mut Env<'_>,
    host: &mut H,
    memory: &mut Memory,
    gas_limit: u64,
    tally: &mut Tally,
) -> (Exec, Stop) {
    debug_assert!(code.reg.blocks_within(analysis.blocks.len()));
    let mut probe = Counter { tally };
    let (exec, at_charge) = crate::reg::exec::execute(
        &code.reg,
        &code.limits,
        env,
        host,
        memory,
        gas_limit,
        &mut probe,
    );
    let stop = Stop::from_result(&exec.result, at_charge);
    (exec, stop)
}
