//! Which static keys are certainly present when a `load K` or `store K` executes: a forward
//! must-analysis over the verifier's basic blocks, for engines that want to skip the
//! presence check of a static slot (the JIT keeps such slots in registers without a flag
//! test; an interpreter may drop the check as well).
//!
//! A key is present at an instruction if it was present when the run started (the caller
//! says which keys it can vouch for, e.g. those of the run's initial state), or if a `store K`
//! or a successful `load K` precedes it on every path within its subroutine. Keys are never
//! removed during a run, so a fact holds across calls; a subroutine's entry assumes only the
//! initial keys (conservative). The analysis is linear in the code for a bounded number of
//! tracked keys: it tracks at most [`TRACKED`] keys (the first ones that a `store` or `load`
//! names) and gives up on the rest (never proven unless initially present), and it stops
//! after a bounded number of passes, falling back to the initial keys alone.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify, Limits, presence::Presence};
//! let src = "push 1\nstore a\nload a\nload b\n";
//! let v = verify(assemble("t", src).unwrap(), &Limits::default()).unwrap();
//! let p = Presence::analyze(&v, &[]);
//! assert!(!p.proven(1)); // the store that creates `a`
//! assert!(p.proven(2)); // `a` was stored on every path
//! assert!(!p.proven(3)); // `b` never was
//! let p = Presence::analyze(&v, &[false, true]); // the caller vouches for `b`
//! assert!(p.proven(3));
//! ```

use crate::isa::Op;
use crate::verify::{Verified, NONE};

/// The most keys tracked (see the module docs).
pub const TRACKED: usize = 256;

/// Passes over the blocks before the analysis gives up (loops nested deeper than this
/// converge more slowly; the result is then the initial keys alone, which is sound).
const MAX_PASSES: usize = 64;

const WORDS: usize = TRACKED / 64;

type Set = [u64; WORDS];

/// The result of the analysis: per instruction, whether the static key it names is certainly
/// present before it executes (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    proven: Vec<bool>,
}

impl Presence {
    /// Analyzes `verified`, given the static slots certainly present at the start of every
    /// run (`initial[slot]`; missing entries count as absent).
    pub fn analyze(verified: &Verified, initial: &[bool]) -> Presence {
        let code = &verified.contract().program.code;
        let a = verified.analysis();
        let is_initial = |slot: u32| initial.get(slot as usize).copied().unwrap_or(false);
        // Dense indices for the tracked slots.
        let keys = verified.contract().program.keys.len();
        let mut index = vec![u32::MAX; keys];
        let mut tracked = 0usize;
        for insn in code {
            if matches!(insn.op, Op::Store | Op::Load) {
                let slot = insn.arg as usize;
                if slot < keys && index[slot] == u32::MAX && tracked < TRACKED {
                    index[slot] = tracked as u32;
                    tracked += 1;
                }
            }
        }
        let mut init: Set = [0; WORDS];
        for (slot, &i) in index.iter().enumerate() {
            if i != u32::MAX && is_initial(slot as u32) {
                init[i as usize / 64] |= 1 << (i % 64);
            }
        }
        let n = a.blocks.len();
        let mut entry = vec![false; n];
        for f in &a.funcs {
            if let Some(&bi) = a.block_at.get(f.entry as usize).filter(|&&i| i != NONE) {
                entry[bi as usize] = true;
            }
        }
        // Successors of every block.
        let succ = |bi: usize| -> [Option<usize>; 2] {
            let b = &a.blocks[bi];
            let last = code[b.end as usize - 1];
            let at = |pc: u32| -> Option<usize> {
                let i = *a.block_at.get(pc as usize)?;
                (i != NONE).then_some(i as usize)
            };
            match last.op {
                Op::Jump => [at(last.arg as u32), None],
                Op::JumpIf => [at(last.arg as u32), at(b.end)],
                Op::Call => {
                    let returns = a
                        .func_at(last.arg as u32)
                        .is_some_and(|f| a.funcs[f as usize].results.is_some());
                    [returns.then(|| at(b.end)).flatten(), None]
                }
                Op::Return | Op::Halt => [None, None],
                _ => [at(b.end), None],
            }
        };
        // IN sets: entries start from the initial keys, the rest from "everything".
        let mut ins: Vec<Set> = (0..n)
            .map(|bi| if entry[bi] { init } else { [u64::MAX; WORDS] })
            .collect();
        let transfer = |bi: usize, set: &mut Set| {
            let b = &a.blocks[bi];
            for insn in &code[b.start as usize..b.end as usize] {
                if matches!(insn.op, Op::Store | Op::Load) {
                    if let Some(&i) = index.get(insn.arg as usize).filter(|&&i| i != u32::MAX) {
                        set[i as usize / 64] |= 1 << (i % 64);
                    }
                }
            }
        };
        let mut converged = false;
        for _ in 0..MAX_PASSES {
            let mut changed = false;
            for bi in 0..n {
                let mut out = ins[bi];
                transfer(bi, &mut out);
                for s in succ(bi).into_iter().flatten() {
                    if entry[s] {
                        continue;
                    }
                    let mut meet = ins[s];
                    for w in 0..WORDS {
                        meet[w] &= out[w];
                    }
                    if meet != ins[s] {
                        ins[s] = meet;
                        changed = true;
                    }
                }
            }
            if !changed {
                converged = true;
                break;
            }
        }
        // Every reachable block other than an entry has a predecessor in its subroutine, so a
        // converged IN set is a sound meet over real paths; without convergence only the
        // initial keys are known.
        let mut proven = vec![false; code.len()];
        for (bi, b) in a.blocks.iter().enumerate() {
            let mut set = if converged { ins[bi] } else { init };
            for pc in b.start..b.end {
                let insn = code[pc as usize];
                if !matches!(insn.op, Op::Store | Op::Load) {
                    continue;
                }
                let slot = insn.arg as u32;
                match index.get(slot as usize).filter(|&&i| i != u32::MAX) {
                    Some(&i) => {
                        proven[pc as usize] = set[i as usize / 64] & (1 << (i % 64)) != 0;
                        if converged {
                            set[i as usize / 64] |= 1 << (i % 64);
                        }
                    }
                    None => proven[pc as usize] = is_initial(slot),
                }
            }
        }
        Presence { proven }
    }

    /// Whether the static key named by the `load K` or `store K` at `pc` is certainly
    /// present before it executes (false for any other instruction).
    pub fn proven(&self, pc: u32) -> bool {
        self.proven.get(pc as usize).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{asm::assemble, verify, Limits};

    fn analyze(src: &str) -> Presence {
        let v = verify(assemble("t", src).unwrap(), &Limits::default()).unwrap();
        Presence::analyze(&v, &[])
    }

    #[test]
    fn a_store_on_every_path_proves_presence() {
        // `i` stored before the loop: every access in the loop is proven.
        let p = analyze(
            "push 3\nstore i\nl: load i\njumpif b\nhalt\nb: load i\npush 1\nsub\nstore i\njump l\n",
        );
        assert!(!p.proven(1));
        for pc in [2, 5, 8] {
            assert!(p.proven(pc), "{pc}");
        }
    }

    #[test]
    fn a_store_on_one_branch_only_proves_nothing_after_the_join() {
        let p = analyze("push 0\njumpif s\npush 1\nstore k\ns: load k\n");
        assert!(!p.proven(4));
        // ... but a successful load proves it for what follows.
        let p = analyze("push 0\njumpif s\npush 1\nstore k\ns: load k\nload k\n");
        assert!(p.proven(5));
    }

    #[test]
    fn subroutines_assume_only_the_initial_keys() {
        let p = analyze("push 1\nstore k\ncall f\nload k\nhalt\nf: load k\nreturn\n");
        assert!(!p.proven(5));
        assert!(p.proven(3)); // facts survive the call
    }

    #[test]
    fn a_loop_back_to_a_block_before_the_store_is_not_proven() {
        let p = analyze("push 0\nl: pop\nload k\npush 1\nstore k\npush 0\njumpif l\n");
        assert!(!p.proven(2));
        assert!(p.proven(4));
        let p =
            analyze("push 0\nstore k\npush 0\nl: pop\nload k\npush 1\nstore k\npush 0\njumpif l\n");
        assert!(p.proven(4));
    }
}
