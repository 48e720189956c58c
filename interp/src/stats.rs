//! Running with statistics: the interpreter's loop reporting every block entry to a
//! [`Tally`] (its [`coopvm_core::Execute::execute_counted`]; see the crate docs).

use crate::{Flow, IOp, Lowered, Machine, Probe};
use coopvm_core::host::{Env, Host};
use coopvm_core::memory::Memory;
use coopvm_core::run::Exec;
use coopvm_core::stats::{Stop, Tally};
use coopvm_core::verify::Analysis;

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

/// Executes `code` (lowered from code with `analysis`) like its plain execution, reporting
/// each block entry to `tally`.
pub(crate) fn execute_counted<H: Host + ?Sized>(
    code: &Lowered,
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
    let mut m = Machine::new(code, gas_limit).with_inputs(env.inputs());
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
