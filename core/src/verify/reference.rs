//! The verifier as it was before it became incremental (quadratic in the number of
//! subroutines): a reference that property tests compare the real one against. Kept verbatim
//! apart from this header, the imports and `pub(super)` on [`analyze`].

use super::{Analysis, Block, Func, VerifyError, NONE};
use crate::isa::{Op, OperandKind};
use crate::limits::Limits;
use crate::program::Contract;
use std::collections::{BTreeMap, BTreeSet};

/// A subroutine's signature as known during the fixed point: how deep it reaches into its
/// caller's stack, and its net effect once some `return` was reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sig {
    need: i64,
    delta: Option<i64>,
}

struct Scan {
    /// Instructions reached, with heights relative to the entry.
    visited: Vec<(u32, i64)>,
    min: i64,
    max: (i64, u32),
    calls: Vec<u32>,
    /// The lowest-indexed instruction that reaches below the entry height: (pc, height, needs).
    underflow: Option<(u32, i64, i64)>,
    /// The lowest height (relative to the entry) the code may reach: 0, or `-N` for the main
    /// body of a contract with `.params N`.
    floor: i64,
}

impl Scan {
    fn reach(&mut self, pc: usize, h: i64, needs: i64) {
        let low = h - needs;
        self.min = self.min.min(low);
        if low < self.floor && self.underflow.is_none_or(|(p, _, _)| (pc as u32) < p) {
            self.underflow = Some((pc as u32, h, needs));
        }
    }
}

pub(super) fn analyze(c: &Contract, limits: &Limits) -> Result<Analysis, VerifyError> {
    let code = &c.program.code;
    let len = code.len();
    if len > limits.code_len as usize {
        return Err(VerifyError::CodeTooLong {
            len,
            limit: limits.code_len,
        });
    }
    // Operands and targets of every instruction, reachable or not.
    for (pc, insn) in code.iter().enumerate() {
        let pc = pc as u32;
        if let Some(message) = c.program.operand_error(insn) {
            return Err(VerifyError::BadOperand { pc, message });
        }
        if insn.op.info().operand == OperandKind::Target {
            // Jumps may target the end (falling off ends the contract); calls may not.
            let bound = if insn.op == Op::Call { len } else { len + 1 };
            if usize::try_from(insn.arg).map_or(true, |t| t >= bound) {
                return Err(VerifyError::TargetOutOfRange {
                    pc,
                    target: insn.arg,
                    bound,
                });
            }
        }
    }

    // Fixed point over subroutine signatures: a worklist of subroutines to (re)scan; a
    // subroutine is rescanned when a callee's signature changes.
    let stack_limit = i64::from(limits.stack);
    // `.params N`: main needs exactly its N inputs (also when it is called as a subroutine).
    let inputs = i64::from(c.params);
    let main_sig = Sig {
        need: inputs,
        delta: None,
    };
    let mut sigs: BTreeMap<u32, Sig> = BTreeMap::from([(0, main_sig)]);
    let mut callers: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let mut scratch = vec![None; len];
    let mut scans: BTreeMap<u32, Scan> = BTreeMap::new();
    let mut work = BTreeSet::from([0u32]);
    while let Some(entry) = work.pop_first() {
        let scan = scan_func(c, entry, &sigs, &mut scratch)?;
        for &callee in &scan.calls {
            callers.entry(callee).or_default().insert(entry);
            if let std::collections::btree_map::Entry::Vacant(e) = sigs.entry(callee) {
                e.insert(Sig::default());
                work.insert(callee);
            }
        }
        let sig = sigs[&entry];
        let new = Sig {
            need: if entry == 0 {
                (-scan.min).max(inputs)
            } else {
                -scan.min
            },
            delta: scan_delta(c, &scan)?.or(sig.delta),
        };
        if new.need > stack_limit {
            return Err(if entry == 0 {
                main_underflow(c, &scan)
            } else {
                VerifyError::UnboundedStackUse { entry }
            });
        }
        if new != sig {
            sigs.insert(entry, new);
            if let Some(cs) = callers.get(&entry) {
                work.extend(cs.iter().copied());
            }
        }
        scans.insert(entry, scan);
    }
    // Main starts on an empty stack: any need is an underflow.
    if sigs[&0].need > inputs {
        return Err(main_underflow(c, &scans[&0]));
    }

    // Ownership, heights and the subroutine table.
    let mut func_of = vec![NONE; len];
    let mut height = vec![0u32; len];
    let mut funcs = Vec::with_capacity(sigs.len());
    for (index, (&entry, scan)) in scans.iter().enumerate() {
        let sig = sigs[&entry];
        let params = sig.need;
        for &(pc, h) in &scan.visited {
            let owner = &mut func_of[pc as usize];
            if *owner != NONE {
                return Err(VerifyError::SharedCode {
                    pc,
                    first: funcs_entry(&scans, *owner),
                    second: entry,
                });
            }
            *owner = index as u32;
            height[pc as usize] = (h + params) as u32;
        }
        let (max, max_pc) = scan.max;
        let max_height = max + params;
        if max_height > stack_limit {
            return Err(VerifyError::StackOverflow {
                pc: max_pc,
                height: max_height as u64,
                limit: limits.stack,
            });
        }
        funcs.push(Func {
            entry,
            params: params as u32,
            results: sig.delta.map(|d| (d + params) as u32),
            max_height: max_height as u32,
        });
    }

    // Basic blocks.
    let mut leader = vec![false; len];
    for f in funcs.iter().filter(|f| (f.entry as usize) < len) {
        leader[f.entry as usize] = true;
    }
    for (pc, insn) in code.iter().enumerate() {
        if func_of[pc] == NONE {
            continue;
        }
        if matches!(insn.op, Op::Jump | Op::JumpIf) && (insn.arg as usize) < len {
            leader[insn.arg as usize] = true;
        }
        if insn.op.ends_block() && pc + 1 < len && func_of[pc + 1] != NONE {
            leader[pc + 1] = true;
        }
    }
    let mut blocks = Vec::new();
    let mut block_at = vec![NONE; len];
    let mut pc = 0;
    while pc < len {
        if func_of[pc] == NONE {
            pc += 1;
            continue;
        }
        let start = pc;
        let mut gas = 0u64;
        loop {
            gas += code[pc].op.info().gas;
            pc += 1;
            if code[pc - 1].op.ends_block() || pc >= len || leader[pc] || func_of[pc] == NONE {
                break;
            }
        }
        block_at[start] = blocks.len() as u32;
        blocks.push(Block {
            start: start as u32,
            end: pc as u32,
            gas,
            func: func_of[start],
        });
    }
    Ok(Analysis {
        funcs,
        func_of,
        height,
        blocks,
        block_at,
    })
}

fn funcs_entry(scans: &BTreeMap<u32, Scan>, index: u32) -> u32 {
    scans.keys().nth(index as usize).copied().unwrap_or(0)
}

/// Walks one subroutine from its entry at relative height 0, following every path whose
/// callees' effects are known so far.
fn scan_func(
    c: &Contract,
    entry: u32,
    sigs: &BTreeMap<u32, Sig>,
    heights: &mut [Option<i64>],
) -> Result<Scan, VerifyError> {
    let code = &c.program.code;
    let len = code.len();
    let mut scan = Scan {
        visited: Vec::new(),
        min: 0,
        max: (0, entry),
        calls: Vec::new(),
        underflow: None,
        floor: if entry == 0 { -i64::from(c.params) } else { 0 },
    };
    let mut work = vec![(entry as usize, 0i64)];
    while let Some((pc, h)) = work.pop() {
        if pc >= len {
            continue; // falling off the end ends the contract
        }
        match heights[pc] {
            Some(first) if first != h => {
                let visited = std::mem::take(&mut scan.visited);
                for (p, _) in visited {
                    heights[p as usize] = None;
                }
                return Err(VerifyError::HeightMismatch {
                    pc: pc as u32,
                    first,
                    second: h,
                });
            }
            Some(_) => continue,
            None => {}
        }
        heights[pc] = Some(h);
        scan.visited.push((pc as u32, h));
        let insn = code[pc];
        let info = insn.op.info();
        let target = insn.arg as usize;
        match insn.op {
            Op::Call => {
                let callee = insn.arg as u32;
                scan.calls.push(callee);
                let sig = sigs.get(&callee).copied().unwrap_or_default();
                scan.reach(pc, h, sig.need);
                if let Some(d) = sig.delta {
                    let after = h + d;
                    if after > scan.max.0 {
                        scan.max = (after, pc as u32);
                    }
                    work.push((pc + 1, after));
                }
            }
            Op::Return | Op::Halt => {}
            Op::Jump => work.push((target, h)),
            Op::JumpIf => {
                scan.reach(pc, h, 1);
                work.push((pc + 1, h - 1));
                work.push((target, h - 1));
            }
            _ => {
                let low = h - i64::from(info.pops);
                let after = low + i64::from(info.pushes);
                scan.reach(pc, h, insn.needs());
                // Peak within the instruction is `after` (no opcode pushes before popping
                // more than it ends with).
                if after > scan.max.0 {
                    scan.max = (after, pc as u32);
                }
                work.push((pc + 1, after));
            }
        }
    }
    for &(p, _) in &scan.visited {
        heights[p as usize] = None;
    }
    scan.visited.sort_unstable();
    Ok(scan)
}

/// The stack effect at the subroutine's `return`s, checking they agree.
fn scan_delta(c: &Contract, scan: &Scan) -> Result<Option<i64>, VerifyError> {
    let mut delta: Option<(i64, u32)> = None;
    for &(pc, h) in &scan.visited {
        if c.program.code[pc as usize].op == Op::Return {
            match delta {
                None => delta = Some((h, pc)),
                Some((first, _)) if first != h => {
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
    Ok(delta.map(|(d, _)| d))
}

/// The stack-underflow error for main, which starts on an empty stack.
fn main_underflow(c: &Contract, scan: &Scan) -> VerifyError {
    let (pc, height, needs) = scan.underflow.unwrap_or((0, 0, 0));
    VerifyError::StackUnderflow {
        pc,
        op: c.program.code[pc as usize].op,
        height: (height + i64::from(c.params)).max(0) as u32,
        needs: needs.max(0) as u32,
    }
}
