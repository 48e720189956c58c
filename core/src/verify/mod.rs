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
//!
//! # What it costs
//!
//! Verification runs unmetered on every deploy, run and eval, so its cost is bounded by the
//! contract's length `n` (at most [`Limits::code_len`]) and the stack limit `L`
//! ([`Limits::stack`]), whatever the code does:
//!
//! - Operands, ownership, heights and blocks take a pass each: O(n).
//! - The fixed point (`fixpoint.rs`) walks each subroutine incrementally: a subroutine never
//!   walks an instruction twice, and when a callee's signature changes its callers resume at
//!   that callee's call sites instead of walking again from their entries. Subroutines are
//!   settled from a queue, lowest entry first (as always: that order decides which of several
//!   faults is reported); one is queued when found and when a callee first returns, so apart
//!   from needs (below) the queue costs O(n log n). Walking is O(n), plus the walks of code
//!   that several subroutines reach (which is rejected), capped at `n + 1024` in all.
//! - Propagating needs (how deep a subroutine reaches into its caller's stack) through the
//!   queue is what is superlinear: a recursion that consumes its caller's values climbs one
//!   value at a time until it passes `L`, and in a chain of subroutines that each consume a
//!   value every need is raised once per subroutine below it. So the fixed point spends a
//!   budget of `8n + 16 min(L, 4096) + 4096` units of work (an instruction walked, a
//!   subroutine settled or a call site notified): 544,768 units for a 65,536-instruction
//!   contract at the default stack limit. Past it, needs stop going through the queue, the
//!   walks finish in O(n log n), and `needs.rs` solves the needs over the strongly connected
//!   components of the call graph: O(n) where there is no recursion, and for a recursive
//!   component with `V` subroutines and `E` call sites inside it at most
//!   `E * min(V + 2, L + 2)` relaxations (reached only by adversarial recursion through calls
//!   made below the caller's entry height; a recursion that consumes values is usually
//!   rejected after O(E)).
//!
//! The budget never changes whether a contract is accepted, nor its [`Analysis`] (both
//! settle the same least fixed point). Within it, the fault reported is the one the queue
//! meets first, as before, and errors are worded from a walk from scratch (`witness.rs`) as
//! before; past it, a contract with several faults may be reported for another of them. None
//! of 40,000 random contracts in the tests exhausts the budget.

use crate::isa::{Op, OperandKind};
use crate::limits::Limits;
use crate::program::{is_identifier, Contract, StateKey};

#[cfg(test)]
mod equivalence;
mod fixpoint;
mod layout;
mod needs;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
mod witness;

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
    fingerprint: crate::fingerprint::FingerprintCell,
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
    /// The contract's fingerprint, computed on first use and kept (see
    /// [`crate::fingerprint`]).
    pub fn fingerprint(&self) -> crate::fingerprint::Fingerprint {
        self.fingerprint.get(&self.contract)
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
    // `.params`: the inputs must fit on the stack.
    if contract.params > limits.stack {
        return Err(VerifyError::BadContract(format!(
            "the contract takes {} inputs (`.params {}`), more than the stack limit of {}",
            contract.params, contract.params, limits.stack
        )));
    }
    let analysis = analyze(&contract, limits)?;
    Ok(Verified {
        contract,
        analysis,
        limits: *limits,
        fingerprint: Default::default(),
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
    // Engines give every static key a memory cell for every run (and address it by a 32-bit
    // offset): a larger table is refused before anything is built for it.
    let max = crate::limits::MAX_STATIC_KEYS as usize;
    if c.program.keys.len() > max {
        return Err(VerifyError::BadContract(format!(
            "the key table holds {} static keys, more than the maximum of {max}",
            c.program.keys.len()
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(c.program.keys.len());
    for (i, key) in c.program.keys.iter().enumerate() {
        if !is_identifier(key) {
            return Err(VerifyError::BadContract(format!(
                "static key #{i} `{key}` is not an identifier"
            )));
        }
        if !seen.insert(key.as_str()) {
            return Err(VerifyError::BadContract(format!(
                "static key `{key}` appears twice in the key table"
            )));
        }
    }
    Ok(())
}

/// Units of work the fixed point may spend propagating needs in its exact order before it
/// hands them to the component solver (see the module documentation).
fn budget(len: usize, limits: &Limits) -> u64 {
    8 * len as u64 + 16 * u64::from(limits.stack.min(4096)) + 4096
}

fn analyze(c: &Contract, limits: &Limits) -> Result<Analysis, VerifyError> {
    let mut budget = fixpoint::Budget {
        left: budget(c.program.code.len(), limits),
        exhausted: false,
    };
    analyze_with_budget(c, limits, &mut budget)
}

fn analyze_with_budget(
    c: &Contract,
    limits: &Limits,
    budget: &mut fixpoint::Budget,
) -> Result<Analysis, VerifyError> {
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
    let reach = fixpoint::run(code, i64::from(c.params), i64::from(limits.stack), budget)?;
    layout::build(code, limits, &reach)
}
