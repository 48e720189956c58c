//! One subroutine walked from scratch, the way the verifier walked every subroutine on every
//! round of its fixed point before it became incremental. The incremental walk finds the same
//! faults but in another order, and which instruction an error names depends on the order
//! (the first conflicting instruction met, the first instruction reaching the peak height), so
//! errors are worded from this walk. It runs at most twice per verification, and only when
//! the verification fails (or a stack overflow is about to be reported).

use super::VerifyError;
use crate::isa::Op;
use crate::program::Insn;

/// A subroutine's signature as known during the fixed point: how deep it reaches into its
/// caller's stack, and its net effect once some `return` was reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Sig {
    pub need: i64,
    pub delta: Option<i64>,
}

/// What a walk found that errors are worded from.
pub(super) struct Scan {
    /// The first instruction found (in walk order) after which the height is highest.
    pub max_pc: u32,
    /// The lowest-indexed instruction that reaches below the entry height: (pc, height, needs).
    pub underflow: Option<(u32, i64, i64)>,
}

/// Walks the subroutine at `entry` from relative height 0, following every path whose
/// callees' effects (`sig`) are known, and checks that heights and `return`s agree. An
/// underflow is a reach below `floor` (0, or `-N` for the main body with `.params N`).
pub(super) fn scan(
    code: &[Insn],
    entry: u32,
    floor: i64,
    sig: impl Fn(u32) -> Sig,
) -> Result<Scan, VerifyError> {
    let len = code.len();
    let mut heights: Vec<Option<i64>> = vec![None; len];
    let mut visited = Vec::new();
    let mut max = (0i64, entry);
    let mut underflow: Option<(u32, i64, i64)> = None;
    let mut reach = |pc: usize, h: i64, needs: i64| {
        if h - needs < floor && underflow.is_none_or(|(p, _, _)| (pc as u32) < p) {
            underflow = Some((pc as u32, h, needs));
        }
    };
    let mut work = vec![(entry as usize, 0i64)];
    while let Some((pc, h)) = work.pop() {
        if pc >= len {
            continue; // falling off the end ends the contract
        }
        match heights[pc] {
            Some(first) if first != h => {
                return Err(VerifyError::HeightMismatch {
                    pc: pc as u32,
                    first,
                    second: h,
                })
            }
            Some(_) => continue,
            None => {}
        }
        heights[pc] = Some(h);
        visited.push((pc as u32, h));
        let insn = code[pc];
        let info = insn.op.info();
        let target = insn.arg as usize;
        match insn.op {
            Op::Call => {
                let callee = sig(insn.arg as u32);
                reach(pc, h, callee.need);
                if let Some(d) = callee.delta {
                    let after = h.saturating_add(d);
                    if after > max.0 {
                        max = (after, pc as u32);
                    }
                    work.push((pc + 1, after));
                }
            }
            Op::Return | Op::Halt => {}
            Op::Jump => work.push((target, h)),
            Op::JumpIf => {
                reach(pc, h, 1);
                work.push((pc + 1, h - 1));
                work.push((target, h - 1));
            }
            _ => {
                let low = h - i64::from(info.pops);
                let after = low.saturating_add(i64::from(info.pushes));
                reach(pc, h, insn.needs());
                // Peak within the instruction is `after` (no opcode pushes before popping
                // more than it ends with).
                if after > max.0 {
                    max = (after, pc as u32);
                }
                work.push((pc + 1, after));
            }
        }
    }
    // The `return`s must agree; the lowest-indexed one is the reference.
    visited.sort_unstable();
    let mut delta: Option<i64> = None;
    for (pc, h) in visited {
        if code[pc as usize].op == Op::Return {
            match delta {
                None => delta = Some(h),
                Some(first) if first != h => {
                    return Err(VerifyError::ReturnMismatch {
                        pc,
                        first,
                        second: h,
                    })
                }
                Some(_) => {}
            }
        }
    }
    Ok(Scan {
        max_pc: max.1,
        underflow,
    })
}

/// The stack-underflow error for main, which starts with its `params` inputs (`.params N`)
/// or on an empty stack.
pub(super) fn main_underflow(code: &[Insn], scan: &Scan, params: i64) -> VerifyError {
    let (pc, height, needs) = scan.underflow.unwrap_or((0, 0, 0));
    VerifyError::StackUnderflow {
        pc,
        op: code[pc as usize].op,
        height: (height + params).max(0) as u32,
        needs: needs.max(0) as u32,
    }
}
