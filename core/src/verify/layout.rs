//! The [`Analysis`] from the fixed point's result: the subroutine table in entry order, which
//! subroutine owns each instruction and its height in the frame, and the basic blocks.

use super::fixpoint::Reach;
use super::witness;
use super::{Analysis, Block, Func, VerifyError, NONE};
use crate::limits::Limits;
use crate::program::Insn;

/// Builds the analysis, checking that no code is shared between subroutines and that no
/// subroutine's frame exceeds the stack limit (for each subroutine in entry order, sharing
/// first).
pub(super) fn build(
    code: &[Insn],
    limits: &Limits,
    reach: &Reach,
) -> Result<Analysis, VerifyError> {
    let len = code.len();
    let stack_limit = i64::from(limits.stack);
    // Subroutines in entry order, and each one's index in that order.
    let order: Vec<u32> = reach
        .sub_at
        .iter()
        .copied()
        .filter(|&f| f != NONE)
        .collect();
    let mut rank = vec![NONE; order.len()];
    for (r, &f) in order.iter().enumerate() {
        rank[f as usize] = r as u32;
    }
    let shared = first_shared(reach, &rank);
    let mut funcs = Vec::with_capacity(order.len());
    for (r, &f) in order.iter().enumerate() {
        let sub = &reach.subs[f as usize];
        if let Some((second, pc, first)) = shared {
            if second == r as u32 {
                return Err(VerifyError::SharedCode {
                    pc,
                    first: reach.subs[order[first as usize] as usize].entry,
                    second: sub.entry,
                });
            }
        }
        let params = sub.sig.need;
        let max_height = sub.max.saturating_add(params);
        if max_height > stack_limit {
            let scan = witness::scan(code, sub.entry, 0, |e| reach.sig_of(e))?;
            return Err(VerifyError::StackOverflow {
                pc: scan.max_pc,
                height: max_height as u64,
                limit: limits.stack,
            });
        }
        funcs.push(Func {
            entry: sub.entry,
            params: params as u32,
            results: sub.sig.delta.map(|d| (d + params) as u32),
            max_height: max_height as u32,
        });
    }

    // Ownership and heights within the frame (no instruction has two owners by now).
    let mut func_of = vec![NONE; len];
    let mut height = vec![0u32; len];
    for pc in 0..len {
        let f = reach.owner[pc];
        if f != NONE {
            func_of[pc] = rank[f as usize];
            height[pc] = (reach.at[pc] + reach.subs[f as usize].sig.need) as u32;
        }
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
        if matches!(insn.op, crate::isa::Op::Jump | crate::isa::Op::JumpIf)
            && (insn.arg as usize) < len
        {
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

/// Where the first sharing is met when the subroutines claim their instructions in entry
/// order: (the claimant's rank, the lowest instruction it finds already claimed, the rank of
/// the subroutine that claimed it). `rank` maps subroutines to their index in entry order.
fn first_shared(reach: &Reach, rank: &[u32]) -> Option<(u32, u32, u32)> {
    if reach.shared.is_empty() {
        return None;
    }
    // Every (pc, rank) pair for instructions reached by two subroutines or more.
    let mut visits: Vec<(u32, u32)> = Vec::with_capacity(2 * reach.shared.len());
    for &(f, pc) in reach.shared.keys() {
        visits.push((pc, rank[f as usize]));
        visits.push((pc, rank[reach.owner[pc as usize] as usize]));
    }
    visits.sort_unstable();
    visits.dedup();
    // At such an instruction the lowest-ranked subroutine claims it and the next one fails;
    // the first to fail is the claimant, at its lowest such instruction.
    let groups = || visits.chunk_by(|a, b| a.0 == b.0);
    let second = groups().map(|g| g[1].1).min()?;
    groups()
        .filter(|g| g[0].1 < second && g.iter().any(|&(_, r)| r == second))
        .map(|g| (second, g[0].0, g[0].1))
        .min_by_key(|&(_, pc, _)| pc)
}
