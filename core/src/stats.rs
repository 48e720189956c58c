//! Per-run metrics, exact and engine-independent.
//!
//! An engine that collects statistics does not count instructions one by one. It reports,
//! through a [`Tally`], each basic block it *enters* (after the block's gas charge succeeded),
//! with the stack height and call depth at that moment, and at the end how the run stopped
//! ([`Stop`]). Everything else is derived from the verifier's [`Analysis`]: a block that was
//! entered ran all its instructions unless the run failed inside it, in which case exactly the
//! instructions up to and including the failing one ran. So instruction counts, opcode
//! frequencies and the peak stack depth come out the same for every engine that reports the
//! same block entries, and collecting them costs a few operations per block, nothing per
//! instruction.
//!
//! What counts as executed: every instruction that began executing, including one that
//! failed (a `div` by zero, a `call` past the depth limit). The instructions of a block whose
//! gas charge failed did not begin: none of them counts.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify, Limits};
//! use coopvm_core::stats::{Stop, Tally};
//! let v = verify(assemble("t", "push 2\npush 3\nadd\n").unwrap(), &Limits::default()).unwrap();
//! let mut tally = Tally::new(v.analysis());
//! tally.enter(0, 0, 0); // the engine entered block 0 on an empty stack, outside any call
//! let stats = tally.finish(&v, Stop::Done);
//! assert_eq!(stats.instructions, 3);
//! assert_eq!(stats.peak_stack, 2);
//! assert_eq!(stats.opcodes["push"], 2);
//! ```

use crate::error::VmError;
use crate::host::Host;
use crate::isa::Op;
use crate::run::{Execute, Outcome, RunParams, Session};
use crate::verify::{Analysis, Verified};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Metrics of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Wall-clock time of the whole run (checks, execution, commit or rollback), in
    /// nanoseconds. The only figure that is not deterministic.
    pub wall_time_ns: u64,
    /// Instructions executed (see the module docs for what counts).
    pub instructions: u64,
    /// Basic blocks entered (gas charges that succeeded).
    pub blocks: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Highest number of values on the stack at any point.
    pub peak_stack: u32,
    /// Highest number of nested `call`s in progress at any point.
    pub peak_call_depth: u32,
    /// Keys holding a value in the contract's memory at the end of execution (before a
    /// rollback discards them).
    pub memory_keys: u32,
    /// Host operations executed.
    pub host_calls: u64,
    /// Instructions executed per mnemonic (only mnemonics that ran).
    pub opcodes: BTreeMap<&'static str, u64>,
}

impl Stats {
    /// The wall-clock time as a [`Duration`].
    pub fn wall_time(&self) -> Duration {
        Duration::from_nanos(self.wall_time_ns)
    }

    /// The same stats with the wall time zeroed: what two engines (or two runs) must agree
    /// on exactly.
    pub fn deterministic(&self) -> Stats {
        Stats {
            wall_time_ns: 0,
            ..self.clone()
        }
    }
}

/// How a run's execution stopped, as the engine reports it to [`Tally::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The run ended normally (`halt`, `return` from the main body, end of code): the last
    /// block entered ran to its end.
    Done,
    /// The gas charge of a block failed (`out_of_gas` on entry): the last block entered ran
    /// to its end and the refused block did not start.
    ChargeFailed,
    /// The instruction at this index failed; it was in the last block entered, whose
    /// instructions up to and including it ran.
    Failed(u32),
}

impl Stop {
    /// The stop for an engine's `result`, given whether a failure happened at a block's gas
    /// charge.
    pub fn from_result(result: &Result<(), VmError>, at_charge: bool) -> Stop {
        match result {
            Ok(()) => Stop::Done,
            Err(_) if at_charge => Stop::ChargeFailed,
            Err(e) => e.pc.map_or(Stop::ChargeFailed, Stop::Failed),
        }
    }
}

/// What an engine records while it runs with statistics on: block entries, and the stack
/// height and call depth at each.
///
/// Engines call [`Tally::enter`] after every successful block charge; nothing else in the
/// execution loop changes. Native code can keep the same figures inline instead and hand
/// them over with [`Tally::from_parts`]: at each block entry, add one to the block's counter,
/// fold the previous entry's candidate peak into a running peak, and remember this entry's
/// block, stack height and call depth and its candidate peak (the entry height plus
/// [`block_rise`], a constant per block); also keep the peak call depth.
#[derive(Clone, Debug)]
pub struct Tally {
    /// Per block (index into [`Analysis::blocks`]): times entered.
    entries: Vec<u64>,
    /// Per block: highest stack height at an entry that ran to the block's end.
    max_entry_height: Vec<Option<u32>>,
    /// The block entered last, and the stack height then (it may yet be cut short).
    last: Option<(u32, u32)>,
    /// The call depth at the last block entry.
    last_depth: u32,
    peak_call_depth: u32,
    /// Highest stack height reached in block entries that ran to their end, as reported by
    /// an engine that folds peaks inline ([`Tally::from_parts`]).
    completed_peak: u32,
}

impl Tally {
    /// An empty tally for code with `analysis`.
    pub fn new(analysis: &Analysis) -> Tally {
        let n = analysis.blocks.len();
        Tally {
            entries: vec![0; n],
            max_entry_height: vec![None; n],
            last: None,
            last_depth: 0,
            peak_call_depth: 0,
            completed_peak: 0,
        }
    }

    /// Records that the engine entered block `block` (its gas charged) with `height` values
    /// on the stack and `depth` calls in progress. An out-of-range `block` is ignored.
    #[inline]
    pub fn enter(&mut self, block: u32, height: u32, depth: u32) {
        let Some(count) = self.entries.get_mut(block as usize) else {
            return;
        };
        *count += 1;
        // Entering a block means the previous one ran to its end.
        if let Some((b, h)) = self.last.replace((block, height)) {
            if let Some(m) = self.max_entry_height.get_mut(b as usize) {
                *m = Some(m.map_or(h, |m| m.max(h)));
            }
        }
        self.last_depth = depth;
        self.peak_call_depth = self.peak_call_depth.max(depth);
    }

    /// Block entries so far, per block.
    pub fn entries(&self) -> &[u64] {
        &self.entries
    }

    /// Derives the stats of a run that stopped as `stop` (instruction counts, opcode
    /// frequencies, peak stack and call depth; the caller fills in time, gas, memory and
    /// host calls).
    pub fn finish(mut self, verified: &Verified, stop: Stop) -> Stats {
        let a = verified.analysis();
        let code = &verified.contract().program.code;
        let mut stats = Stats {
            peak_call_depth: self.peak_call_depth,
            peak_stack: self.completed_peak,
            ..Stats::default()
        };
        // The last block entered: complete, or cut short at `pc`.
        let mut partial = None;
        if let Some((b, h)) = self.last.take() {
            let block = &a.blocks[b as usize];
            match stop {
                Stop::Failed(pc) if (block.start..block.end).contains(&pc) => {
                    partial = Some((b, h, pc));
                }
                _ => {
                    let m = &mut self.max_entry_height[b as usize];
                    *m = Some(m.map_or(h, |m| m.max(h)));
                    // A block ending in a `call` that ran, then a refused charge of the
                    // callee's first block: the call's frame was pushed all the same.
                    let last = code[block.end as usize - 1].op;
                    if stop == Stop::ChargeFailed && last == Op::Call {
                        stats.peak_call_depth = stats.peak_call_depth.max(self.last_depth + 1);
                    }
                }
            }
        }
        let mut per_op = [0u64; 256];
        let mut count = |ops: &[crate::program::Insn], times: u64| {
            for insn in ops {
                per_op[insn.op as u8 as usize] += times;
            }
        };
        for (b, block) in a.blocks.iter().enumerate() {
            let mut times = self.entries[b];
            if partial.is_some_and(|(p, _, _)| p as usize == b) {
                times -= 1;
            }
            stats.blocks += self.entries[b];
            if times > 0 {
                let insns = &code[block.start as usize..block.end as usize];
                stats.instructions += times * insns.len() as u64;
                count(insns, times);
            }
            if let Some(h) = self.max_entry_height[b] {
                stats.peak_stack = stats.peak_stack.max(h + rise(verified, b, block.end));
            }
        }
        if let Some((b, h, pc)) = partial {
            let block = &a.blocks[b as usize];
            let insns = &code[block.start as usize..=pc as usize];
            stats.instructions += insns.len() as u64;
            count(insns, 1);
            // The failing instruction changed nothing: heights before each one that began.
            stats.peak_stack = stats.peak_stack.max(h + rise(verified, b as usize, pc));
        }
        // A contract's inputs (`.params N`) are on the stack before any block runs.
        stats.peak_stack = stats.peak_stack.max(verified.contract().params);
        for op in Op::ALL {
            let n = per_op[*op as u8 as usize];
            if n > 0 {
                *stats.opcodes.entry(op.info().mnemonic).or_default() += n;
            }
        }
        stats
    }

    /// A tally from figures an engine kept itself (see the type's docs): entries per
    /// block; the highest stack height reached in block entries that ran to their end
    /// (the largest `entry height + block_rise(block)` over every entry but the last); the
    /// last block entered with its entry height and call depth; and the peak call depth at
    /// block entries.
    ///
    /// Returns `None` if `entries` does not match the analysis or `last` names no entered
    /// block.
    ///
    /// ```
    /// use coopvm_core::{asm::assemble, verify, Limits};
    /// use coopvm_core::stats::{block_rise, Stop, Tally};
    /// let v = verify(assemble("t", "l: push 1\npop\njump l\n").unwrap(), &Limits::default()).unwrap();
    /// assert_eq!(block_rise(&v, 0), 1);
    /// // Block 0 entered twice on an empty stack; the first entry ran to its end (peak
    /// // 0 + 1), then the gas ran out at the third entry.
    /// let t = Tally::from_parts(v.analysis(), vec![2], 1, Some((0, 0, 0)), 0).unwrap();
    /// let stats = t.finish(&v, Stop::ChargeFailed);
    /// assert_eq!((stats.instructions, stats.peak_stack), (6, 1));
    /// ```
    pub fn from_parts(
        analysis: &Analysis,
        entries: Vec<u64>,
        completed_peak: u32,
        last: Option<(u32, u32, u32)>,
        peak_call_depth: u32,
    ) -> Option<Tally> {
        let n = analysis.blocks.len();
        let ok = entries.len() == n
            && last.is_none_or(|(b, _, _)| (b as usize) < n && entries[b as usize] > 0);
        ok.then_some(Tally {
            entries,
            max_entry_height: vec![None; n],
            last: last.map(|(b, h, _)| (b, h)),
            last_depth: last.map_or(0, |(_, _, d)| d),
            peak_call_depth,
            completed_peak,
        })
    }
}

/// How far above its entry height block `block` (an index into [`Analysis::blocks`]) takes
/// the stack when it runs to its end; 0 for an index that names no block.
pub fn block_rise(verified: &Verified, block: usize) -> u32 {
    match verified.analysis().blocks.get(block) {
        Some(b) => rise(verified, block, b.end),
        None => 0,
    }
}

/// How far above its entry height block `b` takes the stack before instruction `upto`
/// (exclusive), counting the effect of its last instruction when `upto` is the block's end
/// and that instruction is not a control transfer.
fn rise(verified: &Verified, b: usize, upto: u32) -> u32 {
    let a = verified.analysis();
    let code = &verified.contract().program.code;
    let block = &a.blocks[b];
    let base = a.height[block.start as usize];
    let mut top = base;
    for pc in block.start..=upto.min(block.end - 1) {
        top = top.max(a.height[pc as usize]);
    }
    if upto >= block.end {
        let last = block.end - 1;
        let insn = code[last as usize];
        if !insn.op.ends_block() {
            let info = insn.op.info();
            let after = (a.height[last as usize] + u32::from(info.pushes))
                .saturating_sub(u32::from(info.pops));
            top = top.max(after);
        }
    }
    top - base
}

/// Runs `verified` like [`crate::run::run`], executing `code` with
/// [`Execute::execute_counted`], and also returns the run's [`Stats`] (see
/// [`Execute`] for an example).
pub fn run_with_stats<C, H>(
    code: &C,
    verified: &Verified,
    params: RunParams<'_>,
    host: &mut H,
) -> (Outcome, Stats)
where
    C: Execute,
    H: Host + ?Sized,
{
    let started = Instant::now();
    let (out, mut stats) = match Session::begin(verified, params, host) {
        Err(refused) => (*refused, Stats::default()),
        Ok(mut session) => {
            let mut tally = Tally::new(verified.analysis());
            let (exec, stop) = code.execute_counted(
                verified.analysis(),
                &mut session.env,
                host,
                &mut session.memory,
                params.gas_limit,
                &mut tally,
            );
            let memory_keys = session.memory.len();
            let out = session.finish(exec, host);
            let mut stats = tally.finish(verified, stop);
            stats.memory_keys = memory_keys;
            (out, stats)
        }
    };
    stats.wall_time_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    stats.gas_used = out.gas_used;
    stats.host_calls = out.host_calls;
    (out, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;
    use crate::error::ErrorKind;
    use crate::host::Env;
    use crate::limits::Limits;
    use crate::memory::Memory;
    use crate::run::Exec;
    use crate::verify::verify;

    fn v(src: &str) -> Verified {
        verify(assemble("t", src).unwrap(), &Limits::default()).unwrap()
    }

    #[test]
    fn a_cut_short_block_counts_up_to_the_failing_instruction() {
        // One block: push push push div(fails) ...
        let v = v("push 5\npush 1\npush 0\ndiv\npush 9\nadd\nhalt\n");
        let mut t = Tally::new(v.analysis());
        t.enter(0, 0, 0);
        let s = t.finish(&v, Stop::Failed(3));
        assert_eq!(s.instructions, 4);
        assert_eq!(s.opcodes.get("push"), Some(&3));
        assert_eq!(s.opcodes.get("div"), Some(&1));
        assert_eq!(s.opcodes.get("add"), None);
        assert_eq!(s.peak_stack, 3);
    }

    #[test]
    fn a_refused_charge_counts_nothing_of_its_block() {
        let v = v("l: push 1\npop\njump l\n");
        let mut t = Tally::new(v.analysis());
        t.enter(0, 0, 0);
        t.enter(0, 0, 0);
        let s = t.finish(&v, Stop::ChargeFailed);
        assert_eq!((s.instructions, s.blocks, s.peak_stack), (6, 2, 1));
        assert_eq!(s.opcodes["jump"], 2);
    }

    #[test]
    fn a_call_whose_callee_cannot_start_still_counts_its_frame() {
        let v = v("call f\nhalt\nf: push 1\nreturn\n");
        let mut t = Tally::new(v.analysis());
        t.enter(0, 0, 0);
        let s = t.clone().finish(&v, Stop::ChargeFailed);
        assert_eq!((s.instructions, s.peak_call_depth), (1, 1));
        // The same call failing itself (depth limit) pushes no frame.
        let s = t.finish(&v, Stop::Failed(0));
        assert_eq!((s.instructions, s.peak_call_depth), (1, 0));
    }

    #[test]
    fn an_error_outside_the_last_block_counts_it_whole() {
        // Defensive: an engine reporting a pc outside the last block entered.
        let v = v("push 1\npush 2\nhalt\n");
        let mut t = Tally::new(v.analysis());
        t.enter(0, 0, 0);
        let s = t.finish(&v, Stop::Failed(99));
        assert_eq!(s.instructions, 3);
    }

    #[test]
    fn falling_off_the_end_counts_the_last_push() {
        let v = v("push 1\npush 2\n");
        let mut t = Tally::new(v.analysis());
        t.enter(0, 0, 0);
        assert_eq!(t.finish(&v, Stop::Done).peak_stack, 2);
    }

    #[test]
    fn nothing_entered_is_all_zero() {
        let v = v("push 1\n");
        let s = Tally::new(v.analysis()).finish(&v, Stop::ChargeFailed);
        assert_eq!(s, Stats::default());
    }

    #[test]
    fn out_of_range_entries_are_ignored() {
        let v = v("push 1\n");
        let mut t = Tally::new(v.analysis());
        t.enter(7, 0, 0);
        assert_eq!(t.entries(), &[0]);
    }

    #[test]
    fn from_parts_checks_shapes() {
        let v = v("push 1\n");
        let a = v.analysis();
        assert!(Tally::from_parts(a, vec![1], 0, Some((0, 0, 0)), 0).is_some());
        assert!(Tally::from_parts(a, vec![], 0, None, 0).is_none());
        assert!(Tally::from_parts(a, vec![1], 0, Some((1, 0, 0)), 0).is_none());
        assert!(Tally::from_parts(a, vec![0], 0, Some((0, 0, 0)), 0).is_none());
        assert_eq!(block_rise(&v, 0), 1);
        assert_eq!(block_rise(&v, 5), 0);
    }

    proptest::proptest! {
        /// The inline protocol of `from_parts` (what native code keeps) gives exactly the
        /// figures of `enter`, for any sequence of entries and any way of stopping.
        #[test]
        fn inline_folding_agrees_with_enter(
            seq in proptest::collection::vec((0u32..4, 0u32..50, 0u32..9), 1..40),
            how in 0u8..3,
            at in 0u32..20,
        ) {
            let v = v("push 1\ncall f\nl: dup\njumpif m\nhalt\nm: pop\npush 0\njump l\nf: push 2\nadd\nreturn\n");
            let n = v.analysis().blocks.len() as u32;
            let mut t = Tally::new(v.analysis());
            let mut entries = vec![0; n as usize];
            let mut completed = 0;
            let mut pending = None;
            let mut depth = 0;
            let mut last = None;
            for &(b, h, d) in &seq {
                let b = b % n;
                t.enter(b, h, d);
                entries[b as usize] += 1;
                if let Some(p) = pending.replace(h + block_rise(&v, b as usize)) {
                    completed = completed.max(p);
                }
                depth = depth.max(d);
                last = Some((b, h, d));
            }
            let stop = match how {
                0 => Stop::Done,
                1 => Stop::ChargeFailed,
                _ => Stop::Failed(at),
            };
            let inline = Tally::from_parts(v.analysis(), entries, completed, last, depth).unwrap();
            proptest::prop_assert_eq!(inline.finish(&v, stop), t.finish(&v, stop));
        }
    }

    #[test]
    fn stop_from_result() {
        let e = VmError::new(ErrorKind::DivisionByZero, "x").at(4);
        assert_eq!(Stop::from_result(&Ok(()), false), Stop::Done);
        assert_eq!(Stop::from_result(&Err(e.clone()), false), Stop::Failed(4));
        assert_eq!(Stop::from_result(&Err(e), true), Stop::ChargeFailed);
        let no_pc = VmError::new(ErrorKind::DivisionByZero, "x");
        assert_eq!(Stop::from_result(&Err(no_pc), false), Stop::ChargeFailed);
    }

    #[test]
    fn refused_runs_have_empty_stats_but_a_time() {
        let v = verify(
            assemble("t", ".permission admin\npush 1\n").unwrap(),
            &Limits::default(),
        )
        .unwrap();
        let ctx = crate::ExecutionContext::default();
        let params = RunParams::new(&ctx, &v.contract().state, 10);
        struct Refused;
        impl Execute for Refused {
            fn execute<H: Host + ?Sized>(
                &self,
                _: &mut Env,
                _: &mut H,
                _: &mut Memory,
                _: u64,
            ) -> Exec {
                unreachable!("a refused run executes nothing")
            }
            fn execute_counted<H: Host + ?Sized>(
                &self,
                _: &Analysis,
                _: &mut Env,
                _: &mut H,
                _: &mut Memory,
                _: u64,
                _: &mut Tally,
            ) -> (Exec, Stop) {
                unreachable!("a refused run executes nothing")
            }
        }
        let (out, s) = run_with_stats(&Refused, &v, params, &mut crate::NoHost);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::PermissionDenied);
        assert_eq!(s.deterministic(), Stats::default());
    }
}
