//! Gas and statistics at block entry: the one gas charge per basic block, and, in code
//! compiled with statistics, the entry counter and the figures
//! `coopvm_core::stats::Tally::from_parts` takes.

use super::Lower;
use crate::rt::{off, Exit};
use crate::JitError;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, MemFlags, Value};
use cranelift_frontend::{FunctionBuilder, Variable};

/// The statistics native code keeps in variables (see [`Lower::count_entry`]).
pub(super) struct StatVars {
    pending: Variable,
    peak: Variable,
    last_block: Variable,
    last_height: Variable,
    last_depth: Variable,
    peak_depth: Variable,
}

impl StatVars {
    /// Initial values, in the order of [`StatVars::with_offsets`] (`-1`: no block yet).
    const INITIAL: [i64; 6] = [0, 0, -1, 0, 0, 0];

    /// Declares the variables.
    pub(super) fn declare(b: &mut FunctionBuilder<'_>) -> StatVars {
        let mut var = || b.declare_var(types::I64);
        StatVars {
            pending: var(),
            peak: var(),
            last_block: var(),
            last_height: var(),
            last_depth: var(),
            peak_depth: var(),
        }
    }

    /// Gives every variable its initial value (in the entry block).
    pub(super) fn init(&self, b: &mut FunctionBuilder<'_>) {
        for ((v, _), init) in self.with_offsets().into_iter().zip(Self::INITIAL) {
            let value = b.ins().iconst(types::I64, init);
            b.def_var(v, value);
        }
    }

    /// Every variable with the context-block field it is written to on exit.
    fn with_offsets(&self) -> [(Variable, i32); 6] {
        [
            (self.pending, off::ST_PENDING),
            (self.peak, off::ST_PEAK),
            (self.last_block, off::ST_LAST_BLOCK),
            (self.last_height, off::ST_LAST_HEIGHT),
            (self.last_depth, off::ST_LAST_DEPTH),
            (self.peak_depth, off::ST_PEAK_DEPTH),
        ]
    }
}

impl Lower<'_, '_> {
    /// The entry of basic block `bi`: charges its gas (or exits with `out_of_gas`) and, with
    /// statistics, counts the entry.
    pub(super) fn charge(&mut self, bi: usize) -> Result<(), JitError> {
        let block = &self.a.blocks[bi];
        let (start, gas) = (block.start, block.gas);
        let g = self.b.use_var(self.gas);
        let cost = i64::try_from(gas)
            .map_err(|_| JitError::Unsupported("a block costs more than i64::MAX gas".into()))?;
        let short = self.b.ins().icmp_imm(IntCC::UnsignedLessThan, g, cost);
        self.fail_if(short, Exit::OutOfGas, start, None, None);
        // Tested on its own: a compare and a branch, where joined to the block's other
        // checks it would cost a flag materialized and combined.
        self.flush();
        let left = self.b.ins().iadd_imm(g, -cost);
        self.b.def_var(self.gas, left);
        if let Some(counts) = self.counts {
            let rise = coopvm_core::stats::block_rise(self.verified, bi);
            self.count_entry(counts, bi, self.a.height[start as usize], rise);
        }
        Ok(())
    }

    /// Statistics at the entry of block `bi` (its gas charged), whose frame-relative entry
    /// height is `h` and which raises the stack by `rise` when it runs to its end: count the
    /// entry, fold the previous entry's candidate peak into the peak of completed entries,
    /// remember this entry (block, absolute height, call depth, candidate peak) and raise
    /// the peak call depth; exactly what `coopvm_core::stats::Tally::from_parts` expects.
    /// Only the counter is in memory; the rest lives in variables until an exit writes it
    /// out ([`Lower::write_stats`]).
    pub(super) fn count_entry(&mut self, counts: Value, bi: usize, h: u32, rise: u32) {
        let flags = MemFlags::trusted();
        let at = self.b.ins().iadd_imm(counts, (bi as i64) * 8);
        let n = self.b.ins().load(types::I64, flags, at, 0);
        let n = self.b.ins().iadd_imm(n, 1);
        self.b.ins().store(flags, n, at, 0);
        let Some(v) = &self.stat_vars else { return };
        let (pending, peak, last_block, last_height, last_depth, peak_depth) = (
            v.pending,
            v.peak,
            v.last_block,
            v.last_height,
            v.last_depth,
            v.peak_depth,
        );
        let p = self.b.use_var(pending);
        let k = self.b.use_var(peak);
        let k = self.b.ins().umax(k, p);
        self.b.def_var(peak, k);
        let bs = self.b.use_var(self.base);
        let height = self.b.ins().iadd_imm(bs, i64::from(h));
        let candidate = self.b.ins().iadd_imm(height, i64::from(rise));
        self.b.def_var(pending, candidate);
        let block = self.b.ins().iconst(types::I64, bi as i64);
        self.b.def_var(last_block, block);
        self.b.def_var(last_height, height);
        let depth = self.b.use_var(self.depth);
        self.b.def_var(last_depth, depth);
        let d = self.b.use_var(peak_depth);
        let d = self.b.ins().umax(d, depth);
        self.b.def_var(peak_depth, d);
    }

    /// Writes the statistics variables to the context block (before every return).
    pub(super) fn write_stats(&mut self) {
        let Some(v) = &self.stat_vars else { return };
        let flags = MemFlags::trusted();
        for (var, offset) in v.with_offsets() {
            let value = self.b.use_var(var);
            self.b.ins().store(flags, value, self.ctx, offset);
        }
    }
}
