//! The verifier: runs before any execution and fixes everything the engines rely on.
//!
//! It checks operands and targets, then partitions the code into subroutines (the entry at
//! instruction 0 and every `call` target), infers each subroutine's stack effect (recursion
//! included, by a fixed point), and checks stack discipline like Wasm validation or EIP-5450:
//! the stack height at every reachable instruction is the same on every path to it, never
//! below what the subroutine may use and never above the stack limit. Finally it cuts the code
//! into basic blocks and sums their gas. Both engines consume this one [`Analysis`], so they
//! cannot disagree about block boundaries, heights or gas.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify::verify, Limits};
//! let c = assemble("t.casm", "push 1\npush 2\nadd\nhalt\n").unwrap();
//! let v = verify(c, &Limits::default()).unwrap();
//! assert_eq!(v.analysis().blocks.len(), 1);
//! assert_eq!(v.analysis().blocks[0].gas, 4);
//! ```

use crate::isa::{Op, OperandKind};
use crate::limits::Limits;
use crate::program::{is_identifier, Contract, StateKey};
use std::collections::{BTreeMap, BTreeSet};

/// Why the verifier rejected a contract. Every variant that concerns an instruction names it
/// by index (`pc`); the CLI maps that to a source line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The code is longer than the limit.
    #[error("the contract has {len} instructions; the limit is {limit}")]
    CodeTooLong {
        /// Number of instructions.
        len: usize,
        /// The limit.
        limit: u32,
    },
    /// An operand is malformed (wrong kind, index out of range).
    #[error("instruction {pc}: {message}")]
    BadOperand {
        /// The instruction.
        pc: u32,
        /// What is wrong.
        message: String,
    },
    /// A jump or call target is outside the code.
    #[error("instruction {pc}: target {target} is outside the code (0..{bound})")]
    TargetOutOfRange {
        /// The instruction.
        pc: u32,
        /// The target.
        target: i64,
        /// One past the largest allowed target.
        bound: usize,
    },
    /// An instruction needs more values than the stack holds at that point.
    #[error("instruction {pc}: `{op}` needs {needs} value(s) but the stack holds {height} here")]
    StackUnderflow {
        /// The instruction.
        pc: u32,
        /// Its opcode.
        op: Op,
        /// Stack height before it.
        height: u32,
        /// Values it needs.
        needs: u32,
    },
    /// The stack would exceed its limit.
    #[error("instruction {pc}: the stack would hold {height} values, above the limit of {limit}")]
    StackOverflow {
        /// The instruction.
        pc: u32,
        /// The height it would reach.
        height: u64,
        /// The limit.
        limit: u32,
    },
    /// Two paths reach an instruction with different stack heights.
    #[error(
        "instruction {pc}: reached with stack height {first} on one path and {second} on another"
    )]
    HeightMismatch {
        /// The instruction.
        pc: u32,
        /// Height on the first path found.
        first: i64,
        /// Height on the other path.
        second: i64,
    },
    /// Two `return`s of one subroutine leave different stack heights.
    #[error("instruction {pc}: this `return` leaves {second} value(s) relative to the subroutine's entry, another leaves {first}")]
    ReturnMismatch {
        /// The instruction.
        pc: u32,
        /// Effect at the first return found.
        first: i64,
        /// Effect at this one.
        second: i64,
    },
    /// An instruction belongs to two subroutines (reachable from both entries).
    #[error("instruction {pc} is reachable from the subroutine at {first} and from the one at {second}; subroutines must not share code (use `call`)")]
    SharedCode {
        /// The instruction.
        pc: u32,
        /// Entry of one subroutine.
        first: u32,
        /// Entry of the other.
        second: u32,
    },
    /// A recursive subroutine consumes ever more of its caller's stack.
    #[error("the subroutine at {entry} consumes an unbounded number of its caller's values")]
    UnboundedStackUse {
        /// Entry of the subroutine.
        entry: u32,
    },
    /// The contract's metadata is malformed.
    #[error("{0}")]
    BadContract(String),
    /// The limits to verify against are out of range (see [`Limits::MAX`]).
    #[error("{0}")]
    BadLimits(String),
}

impl VerifyError {
    /// The instruction the error concerns, if any.
    pub fn pc(&self) -> Option<u32> {
        match self {
            VerifyError::BadOperand { pc, .. }
            | VerifyError::TargetOutOfRange { pc, .. }
            | VerifyError::StackUnderflow { pc, .. }
            | VerifyError::StackOverflow { pc, .. }
            | VerifyError::HeightMismatch { pc, .. }
            | VerifyError::ReturnMismatch { pc, .. }
            | VerifyError::SharedCode { pc, .. } => Some(*pc),
            VerifyError::UnboundedStackUse { entry } => Some(*entry),
            VerifyError::CodeTooLong { .. }
            | VerifyError::BadContract(_)
            | VerifyError::BadLimits(_) => None,
        }
    }
}

/// A subroutine: the code reachable from one entry without crossing a `call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Func {
    /// Entry instruction (0 for the contract's main body).
    pub entry: u32,
    /// Values it takes from its caller's stack.
    pub params: u32,
    /// Values it leaves in their place when it returns; `None` if it never returns.
    pub results: Option<u32>,
    /// Highest stack height within its frame (the frame starts `params` below the call).
    pub max_height: u32,
}

/// A basic block: instructions entered only at the top, left only at the bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// First instruction.
    pub start: u32,
    /// One past the last instruction.
    pub end: u32,
    /// Sum of the static gas of its instructions, charged on entry.
    pub gas: u64,
    /// Index of its subroutine in [`Analysis::funcs`].
    pub func: u32,
}

/// Marks an instruction that no path reaches (in [`Analysis::func_of`] and
/// [`Analysis::block_at`]).
pub const NONE: u32 = u32::MAX;

/// What the verifier proved about a contract's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    /// Subroutines, ordered by entry; `funcs[0]` is the main body.
    pub funcs: Vec<Func>,
    /// Per instruction: index of its subroutine, or [`NONE`] if unreachable.
    pub func_of: Vec<u32>,
    /// Per instruction: stack height within its subroutine's frame before it executes
    /// (meaningless where unreachable).
    pub height: Vec<u32>,
    /// Reachable basic blocks, in instruction order.
    pub blocks: Vec<Block>,
    /// Per instruction: index of the block starting there, or [`NONE`].
    pub block_at: Vec<u32>,
}

impl Analysis {
    /// Index in [`Analysis::funcs`] of the subroutine entered at `entry`.
    pub fn func_at(&self, entry: u32) -> Option<u32> {
        self.funcs
            .binary_search_by_key(&entry, |f| f.entry)
            .ok()
            .map(|i| i as u32)
    }

    /// Whether instruction `pc` can execute.
    pub fn reachable(&self, pc: u32) -> bool {
        self.func_of.get(pc as usize).is_some_and(|&f| f != NONE)
    }
}

/// A contract the verifier accepted, with its analysis and the limits it was checked against.
/// Only [`verify`] makes one, so holding one is proof of verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    contract: Contract,
    analysis: Analysis,
    limits: Limits,
    /// What engines prepared from it (see [`Verified::artefact`]).
    artefacts: crate::artefact::Artefacts,
}

impl Verified {
    /// The contract.
    pub fn contract(&self) -> &Contract {
        &self.contract
    }
    /// What the verifier proved.
    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }
    /// The limits it was verified against (and must run under).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    /// Gives the contract back.
    pub fn into_contract(self) -> Contract {
        self.contract
    }
    /// The engine artefact of type `T` for this contract, made by `make` on first use and
    /// kept with it (clones share it); `None` if the contract keeps too many types already
    /// (see [`crate::artefact`]).
    pub fn artefact<T: std::any::Any + Send + Sync>(
        &self,
        make: impl FnOnce(&Verified) -> T,
    ) -> Option<&T> {
        self.artefacts.get_or_make(|| make(self))
    }
}

/// Verifies `contract` against `limits`.
pub fn verify(contract: Contract, limits: &Limits) -> Result<Verified, VerifyError> {
    limits.check().map_err(VerifyError::BadLimits)?;
    check_contract(&contract)?;
    let analysis = analyze(&contract, limits)?;
    Ok(Verified {
        contract,
        analysis,
        limits: *limits,
        artefacts: Default::default(),
    })
}

fn check_contract(c: &Contract) -> Result<(), VerifyError> {
    for key in c.state.keys() {
        if StateKey::parse(key).is_none() {
            return Err(VerifyError::BadContract(format!(
                "state key `{key}` is neither an identifier nor a decimal integer"
            )));
        }
    }
    for (i, key) in c.program.keys.iter().enumerate() {
        if !is_identifier(key) {
            return Err(VerifyError::BadContract(format!(
                "static key #{i} `{key}` is not an identifier"
            )));
        }
        if c.program.keys[..i].contains(key) {
            return Err(VerifyError::BadContract(format!(
                "static key `{key}` appears twice in the key table"
            )));
        }
    }
    Ok(())
}

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
}

impl Scan {
    fn reach(&mut self, pc: usize, h: i64, needs: i64) {
        let low = h - needs;
        self.min = self.min.min(low);
        if low < 0 && self.underflow.is_none_or(|(p, _, _)| (pc as u32) < p) {
            self.underflow = Some((pc as u32, h, needs));
        }
    }
}

fn analyze(c: &Contract, limits: &Limits) -> Result<Analysis, VerifyError> {
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
    let mut sigs: BTreeMap<u32, Sig> = BTreeMap::from([(0, Sig::default())]);
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
            need: -scan.min,
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
    if sigs[&0].need > 0 {
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
                scan.reach(pc, h, i64::from(info.pops));
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
        height: height.max(0) as u32,
        needs: needs.max(0) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;
    use crate::program::Insn;

    fn check(src: &str) -> Result<Verified, VerifyError> {
        verify(assemble("t.casm", src).unwrap(), &Limits::default())
    }

    fn check_with(src: &str, limits: Limits) -> Result<Verified, VerifyError> {
        verify(assemble("t.casm", src).unwrap(), &limits)
    }

    fn raw(code: Vec<Insn>) -> Result<Verified, VerifyError> {
        let contract = Contract {
            program: crate::program::Program {
                code,
                ..Default::default()
            },
            ..Default::default()
        };
        verify(contract, &Limits::default())
    }

    #[test]
    fn empty_code_is_valid() {
        let v = check("").unwrap();
        assert!(v.analysis().blocks.is_empty());
        assert_eq!(v.analysis().funcs.len(), 1);
    }

    #[test]
    fn straight_line_heights_and_gas() {
        let v = check("push 1\npush 2\nadd\ndup\nmul\n").unwrap();
        let a = v.analysis();
        assert_eq!(a.height, vec![0, 1, 2, 1, 2]);
        assert_eq!(a.funcs[0].max_height, 2);
        assert_eq!(a.blocks.len(), 1);
        assert_eq!(a.blocks[0].gas, 1 + 1 + 1 + 1 + 2);
    }

    #[test]
    fn blocks_split_at_targets_and_after_control() {
        let v = check("push 3\nl: push 1\nsub\ndup\njumpif l\nhalt\n").unwrap();
        let a = v.analysis();
        let starts: Vec<u32> = a.blocks.iter().map(|b| b.start).collect();
        assert_eq!(starts, vec![0, 1, 5]);
        assert_eq!(a.block_at[1], 1);
        assert_eq!(a.block_at[2], NONE);
        assert_eq!(a.blocks[1].end, 5);
    }

    #[test]
    fn underflow_in_main_is_located() {
        let e = check("push 1\nadd\n").unwrap_err();
        assert_eq!(
            e,
            VerifyError::StackUnderflow {
                pc: 1,
                op: Op::Add,
                height: 1,
                needs: 2
            }
        );
        assert_eq!(e.pc(), Some(1));
        assert!(matches!(
            check("jumpif x\nx: halt").unwrap_err(),
            VerifyError::StackUnderflow { pc: 0, .. }
        ));
        assert!(matches!(
            check("pop").unwrap_err(),
            VerifyError::StackUnderflow { pc: 0, .. }
        ));
    }

    #[test]
    fn call_needing_more_than_main_has_is_underflow() {
        let e = check("push 1\ncall f\nhalt\nf: add\nreturn\n").unwrap_err();
        assert!(
            matches!(
                e,
                VerifyError::StackUnderflow {
                    pc: 1,
                    op: Op::Call,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn heights_must_agree_on_every_path() {
        // The loop body pushes one value per iteration.
        let e = check("l: push 1\npush 1\njumpif l\n").unwrap_err();
        assert!(
            matches!(e, VerifyError::HeightMismatch { pc: 0, .. }),
            "{e:?}"
        );
        // Two branches join with different heights.
        let e = check("push 0\njumpif a\npush 1\na: halt\n").unwrap_err();
        assert!(
            matches!(e, VerifyError::HeightMismatch { pc: 3, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn stack_limit_is_static_for_each_function() {
        let small = Limits {
            stack: 2,
            ..Limits::default()
        };
        assert!(check_with("push 1\npush 2\n", small).is_ok());
        let e = check_with("push 1\npush 2\npush 3\n", small).unwrap_err();
        assert_eq!(
            e,
            VerifyError::StackOverflow {
                pc: 2,
                height: 3,
                limit: 2
            }
        );
        let e = check_with(
            "call f\nhalt\nf: push 1\npush 1\npush 1\npop\npop\npop\nreturn\n",
            small,
        )
        .unwrap_err();
        assert!(
            matches!(e, VerifyError::StackOverflow { pc: 4, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn subroutine_signatures_are_inferred() {
        let v = check("push 2\ncall sq\nhalt\nsq: dup\nmul\nreturn\n").unwrap();
        let a = v.analysis();
        assert_eq!(a.funcs.len(), 2);
        let sq = &a.funcs[1];
        assert_eq!(
            (sq.entry, sq.params, sq.results, sq.max_height),
            (3, 1, Some(1), 2)
        );
        assert_eq!(a.func_at(3), Some(1));
        assert_eq!(a.func_at(4), None);
        // Heights inside the callee are relative to its frame (params below).
        assert_eq!(&a.height[3..6], &[1, 2, 1]);
        // The block after a call starts a new block.
        assert_ne!(a.block_at[2], NONE);
    }

    #[test]
    fn recursion_is_inferred() {
        let src = include_str!("../../examples/fib.casm");
        let v = check(src).unwrap();
        let fib = &v.analysis().funcs[1];
        assert_eq!((fib.params, fib.results), (1, Some(1)));
    }

    #[test]
    fn mutual_recursion_is_inferred() {
        let src = "push 10\ncall even\nhalt\n\
                   even: dup\njumpif e1\npop\npush 1\nreturn\ne1: push 1\nsub\ncall odd\nreturn\n\
                   odd: dup\njumpif o1\npop\npush 0\nreturn\no1: push 1\nsub\ncall even\nreturn\n";
        let v = check(src).unwrap();
        for f in &v.analysis().funcs[1..] {
            assert_eq!((f.params, f.results), (1, Some(1)), "{f:?}");
        }
    }

    #[test]
    fn never_returning_subroutine() {
        let v = check("call f\npush 1\nf: halt\n").unwrap();
        let a = v.analysis();
        assert_eq!(a.funcs[1].results, None);
        // The instruction after the call is unreachable.
        assert!(!a.reachable(1));
        assert!(a.reachable(2));
    }

    #[test]
    fn returns_must_agree() {
        let e =
            check("push 0\ncall f\nhalt\nf: jumpif a\npush 1\nreturn\na: return\n").unwrap_err();
        assert!(matches!(e, VerifyError::ReturnMismatch { .. }), "{e:?}");
    }

    #[test]
    fn subroutines_must_not_share_code() {
        let e = check("call f\njump f\nf: return\n").unwrap_err();
        assert!(matches!(e, VerifyError::SharedCode { pc: 2, .. }), "{e:?}");
    }

    #[test]
    fn unbounded_consumption_is_rejected() {
        let e = check("push 1\ncall f\nhalt\nf: pop\ncall f\nreturn\n").unwrap_err();
        assert!(
            matches!(e, VerifyError::UnboundedStackUse { entry: 3 }),
            "{e:?}"
        );
    }

    #[test]
    fn targets_must_be_in_range() {
        let e = raw(vec![Insn::with(Op::Jump, 5)]).unwrap_err();
        assert!(matches!(
            e,
            VerifyError::TargetOutOfRange {
                pc: 0,
                target: 5,
                ..
            }
        ));
        let e = raw(vec![Insn::with(Op::JumpIf, -1)]).unwrap_err();
        assert!(matches!(
            e,
            VerifyError::TargetOutOfRange { target: -1, .. }
        ));
        // A jump to the end is allowed; a call to the end is not.
        assert!(raw(vec![Insn::with(Op::Jump, 1)]).is_ok());
        let e = raw(vec![Insn::with(Op::Call, 1)]).unwrap_err();
        assert!(matches!(e, VerifyError::TargetOutOfRange { .. }));
        // Unreachable code is still checked.
        let e = raw(vec![Insn::new(Op::Halt), Insn::with(Op::Jump, 99)]).unwrap_err();
        assert!(matches!(e, VerifyError::TargetOutOfRange { pc: 1, .. }));
    }

    #[test]
    fn operands_must_be_valid() {
        let e = raw(vec![Insn::with(Op::Load, 0)]).unwrap_err();
        assert!(matches!(e, VerifyError::BadOperand { pc: 0, .. }));
        let e = raw(vec![Insn::with(Op::PushStr, 3)]).unwrap_err();
        assert!(matches!(e, VerifyError::BadOperand { .. }));
        let e = raw(vec![Insn::with(Op::Add, 1)]).unwrap_err();
        assert!(e.to_string().contains("takes no operand"));
    }

    #[test]
    fn code_length_is_limited() {
        let limits = Limits {
            code_len: 2,
            ..Limits::default()
        };
        let e = check_with("push 1\npush 1\npop\n", limits).unwrap_err();
        assert_eq!(e, VerifyError::CodeTooLong { len: 3, limit: 2 });
        assert_eq!(e.pc(), None);
    }

    #[test]
    fn contract_tables_are_checked() {
        let mut c = assemble("t", "load a\n").unwrap();
        c.program.keys.push("a".into());
        assert!(matches!(
            verify(c, &Limits::default()),
            Err(VerifyError::BadContract(_))
        ));
        let mut c = assemble("t", "").unwrap();
        c.program.keys.push("1x".into());
        assert!(matches!(
            verify(c, &Limits::default()),
            Err(VerifyError::BadContract(_))
        ));
        let mut c = assemble("t", "").unwrap();
        c.state.insert("not a key".into(), 1);
        assert!(matches!(
            verify(c, &Limits::default()),
            Err(VerifyError::BadContract(_))
        ));
    }

    #[test]
    fn limits_must_be_in_range() {
        for limits in [
            Limits {
                stack: Limits::MAX.stack + 1,
                ..Limits::default()
            },
            Limits {
                call_depth: u32::MAX,
                ..Limits::default()
            },
            Limits {
                memory_keys: u32::MAX,
                ..Limits::default()
            },
            Limits {
                code_len: u32::MAX,
                ..Limits::default()
            },
        ] {
            let e = check_with("push 1", limits).unwrap_err();
            assert!(matches!(e, VerifyError::BadLimits(_)), "{e:?}");
            assert!(e.to_string().contains("above the maximum"), "{e}");
        }
        assert!(check_with("push 1", Limits::MAX).is_ok());
    }

    #[test]
    fn unreachable_code_has_no_block() {
        let v = check("halt\npush 1\npop\n").unwrap();
        let a = v.analysis();
        assert_eq!(a.blocks.len(), 1);
        assert_eq!(a.func_of[1], NONE);
        assert_eq!(a.block_at[1], NONE);
    }
}
