//! The interpreter's fast form: register code.
//!
//! The verifier fixes the stack height before every instruction, relative to the frame of the
//! subroutine it belongs to (the frame starts where the subroutine's parameters start). So
//! every stack position is a known *frame slot*, and [`lower`](lower::lower) turns the stack
//! code into operations on frame slots ([`RegOp`]): `add` at height 5 becomes
//! `add s3 <- s3, s4`. While lowering a block it keeps a symbolic stack in which a value may
//! still be a constant (`push`), or live in a slot other than its own (`dup`, `swap`), so
//! `push`, `dup`, `swap` and `pop` mostly emit nothing: their values become the operands of
//! the operations that consume them (`push 1; add` is `add s3 <- s3, 1`). At the end of every
//! block, and before calls, returns and host operations, the values are written back to
//! their own slots, so each block starts and ends with the stack exactly where the stack
//! machine has it.
//!
//! Common shapes become one operation (superinstructions): an operation with an immediate
//! operand, a comparison followed by `jumpif` (compare-and-branch), `push n; mod; jumpif`,
//! `load K; jumpif`, `load K; push n; <comparison>; jumpif`, `load K; add`,
//! `load K; push n; add|sub`, `load K; push n; add|sub; store K`, and a dynamic `store` of a
//! constant. Fusion never crosses a block
//! boundary, with one exception that keeps the charge where it was: a backward `jump` to a
//! small loop head becomes a copy of the head (tail duplication), and when the head is a
//! single test of a static key against zero and the operation before the copy is
//! `load K; push n; add|sub; store K` of that key, that operation runs the head itself
//! (charging the head's block before testing, see [`RegOp::closing_on_key`]), so a counted loop
//! over a memory slot turns in one dispatch fewer. When the head's own branch leaves the
//! loop (its target lies outside the jump's loop) and the loop goes on by falling through,
//! the copy branches into the body on the inverted condition and falls through to a jump out
//! ([`RegOp::inverted`]), so such a loop turns without a jump. A block's gas charge travels
//! with its first operation ([`Inst::charge`]):
//! jumps, calls and returns land on that operation, which charges the block's whole cost
//! before anything of the block runs, so gas is charged exactly as the stack machine charges
//! it, without an operation of its own.
//!
//! [`exec`] runs the code: one `match` per operation over a compact enum (16 bytes), with the
//! instruction pointer, frame base and gas in locals, slots addressed without bounds checks
//! (each access is proven in range by the verifier's heights and the call-time room check;
//! see `exec`). Every operation subtracts its charge (0 unless it starts a block), branch
//! targets are byte offsets from the operation after the branch, and static keys byte
//! offsets into the memory's cells, so a dispatch, a taken branch and a static access each
//! cost a few machine instructions.

pub(crate) mod exec;
pub(crate) mod lower;
#[cfg(test)]
mod tests;

use coopvm_core::isa::HostOp;

/// The size of a static memory cell ([`coopvm_core::memory::Memory::static_cells`]).
pub(crate) const CELL: u32 = std::mem::size_of::<Option<i64>>() as u32;

/// A frame slot: a stack position relative to the current frame's base.
pub(crate) type Slot = u32;

/// One operation of the register code. Fields: `dst`, `a`, `b`, `src`, `low` are frame slots;
/// `imm` an immediate; `key` a static memory slot while lowering, then (in [`RegCode::ops`])
/// its offset in bytes in the memory's static cells ([`CELL`] times the key); `target` an
/// index into the code while
/// lowering, then (in [`RegCode::ops`]) the offset in bytes from the operation after this
/// one to the target, an `i32` in a `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RegOp {
    /// Does nothing (beyond its charge): the first operation of a block that has no other.
    Nop,
    /// Enters a block whose gas is 0 (for statistics; no charge to make).
    Enter,

    /// `dst <- lo | hi << 32`.
    Const { dst: Slot, lo: u32, hi: u32 },
    /// `dst <- src`.
    Copy { dst: Slot, src: Slot },
    /// Exchanges two slots.
    Swap { a: Slot, b: Slot },

    /// `dst <- a + b` (checked).
    Add { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a + imm` (checked).
    AddI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a - b` (checked).
    Sub { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a - imm` (checked).
    SubI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a * b` (checked).
    Mul { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a * imm` (checked).
    MulI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a / b` (checked).
    Div { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a / imm` (`imm` neither 0 nor -1, so it cannot fail).
    DivI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a % b` (checked).
    Mod { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a % imm` (`imm` neither 0 nor -1, so it cannot fail).
    ModI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- -a` (checked).
    Neg { dst: Slot, a: Slot },
    /// `dst <- a == b`.
    Eq { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a == imm`.
    EqI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a != b`.
    Ne { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a != imm`.
    NeI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a < b`.
    Lt { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a < imm`.
    LtI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a <= b`.
    Le { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a <= imm`.
    LeI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a > b`.
    Gt { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a > imm`.
    GtI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a >= b`.
    Ge { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a >= imm`.
    GeI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a && b`.
    And { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a && imm`.
    AndI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- a || b`.
    Or { dst: Slot, a: Slot, b: Slot },
    /// `dst <- a || imm`.
    OrI { dst: Slot, a: Slot, imm: i32 },
    /// `dst <- !a`.
    Not { dst: Slot, a: Slot },

    /// `dst <- memory[key]` (`load K`).
    Load { dst: Slot, key: u32 },
    /// `memory[key] <- src` (`store K`).
    Store { key: u32, src: Slot },
    /// `dst <- memory[slot key]` (dynamic `load`).
    LoadDyn { dst: Slot, key: Slot },
    /// `memory[slot key] <- src` (dynamic `store`).
    StoreDyn { key: Slot, src: Slot },
    /// `push imm; swap; store`: `memory[slot key] <- imm` (dynamic `store` of a constant).
    StoreDynI { key: Slot, imm: i32 },
    /// `dst <- transient[key]` (`tload K`).
    TLoad { dst: Slot, key: u32 },
    /// `transient[key] <- src` (`tstore K`).
    TStore { key: u32, src: Slot },
    /// `dst <- transient[slot key]` (dynamic `tload`).
    TLoadDyn { dst: Slot, key: Slot },
    /// `transient[slot key] <- src` (dynamic `tstore`).
    TStoreDyn { key: Slot, src: Slot },
    /// `load K; add`: `dst <- a + memory[key]`.
    AddLoad { dst: Slot, a: Slot, key: u32 },
    /// `load K; push imm; add`: `dst <- memory[key] + imm`.
    LoadAddI { dst: Slot, key: u32, imm: i32 },
    /// `load K; push imm; sub`: `dst <- memory[key] - imm`.
    LoadSubI { dst: Slot, key: u32, imm: i32 },
    /// `load K; push imm; add; store K`.
    IncMem { key: u32, imm: i32 },
    /// `load K; push imm; sub; store K`.
    DecMem { key: u32, imm: i32 },

    /// `load K` of a key the presence analysis proves holds a value (see
    /// [`RegOp::present`]): no test of the cell.
    LoadP { dst: Slot, key: u32 },
    /// `store K` to a key proven to hold a value: overwrites it in place.
    StoreP { key: u32, src: Slot },
    /// [`RegOp::AddLoad`] of a key proven to hold a value.
    AddLoadP { dst: Slot, a: Slot, key: u32 },
    /// [`RegOp::LoadAddI`] of a key proven to hold a value.
    LoadAddIP { dst: Slot, key: u32, imm: i32 },
    /// [`RegOp::LoadSubI`] of a key proven to hold a value.
    LoadSubIP { dst: Slot, key: u32, imm: i32 },
    /// [`RegOp::IncMem`] of a key proven to hold a value.
    IncMemP { key: u32, imm: i32 },
    /// [`RegOp::DecMem`] of a key proven to hold a value.
    DecMemP { key: u32, imm: i32 },
    /// [`RegOp::IncMemP`] closing a loop whose head (the next operation, a copy of it) tests
    /// the key against zero (see [`RegOp::closing_on_key`]).
    IncMemCloseP {
        key: u32,
        imm: i32,
        signs: u8,
        target: u32,
    },
    /// [`RegOp::DecMemP`] closing a loop as [`RegOp::IncMemCloseP`] does.
    DecMemCloseP {
        key: u32,
        imm: i32,
        signs: u8,
        target: u32,
    },
    /// [`RegOp::IncMemCloseP`] for a head that branches when the key is not zero (`load K;
    /// jumpif`, `load K; push 0; ne; jumpif`): one test, no signs to read.
    IncMemNzP { key: u32, imm: i32, target: u32 },
    /// [`RegOp::DecMemCloseP`] for a head that branches when the key is not zero.
    DecMemNzP { key: u32, imm: i32, target: u32 },

    /// `load K; load` of a key proven to hold a value (see [`RegOp::present`]): `dst <-
    /// memory[memory[key]]`, the dynamic key being the static key's value.
    LoadDynAtP { dst: Slot, key: u32 },

    /// `push imm; sub` closing a loop whose head (the next operation, a copy of it) is
    /// `jumpif` on the result (`BrNz` on `dst`): `dst <- a - imm` (checked), then the head
    /// as [`RegOp::closing_on_key`] runs it (its charge, then continuing at `target` if the
    /// result is not zero, else after the copy).
    SubINz {
        dst: Slot,
        a: Slot,
        imm: i16,
        target: u32,
    },
    /// [`RegOp::LoadSubIP`] closing a loop as [`RegOp::SubINz`] does.
    LoadSubINzP {
        dst: Slot,
        key: u32,
        imm: i16,
        target: u32,
    },

    /// Continues at `target`.
    Jump { target: u32 },
    /// `jumpif`: continues at `target` if `a != 0`.
    BrNz { a: Slot, target: u32 },
    /// `push imm; mod; jumpif`: continues at `target` if `a % imm != 0` (`imm` neither 0
    /// nor -1, so the remainder cannot fail).
    BrModINz { a: Slot, imm: i32, target: u32 },
    /// `push imm; mod; jumpif` with `imm` a power of two or its negation: continues at
    /// `target` if `a & mask != 0` (`mask` is `|imm| - 1`; the remainder is not zero exactly
    /// when those low bits are not, whatever the signs).
    BrLowNz { a: Slot, mask: u32, target: u32 },
    /// `load K; jumpif`: continues at `target` if `memory[key] != 0`.
    BrLoadNz { key: u32, target: u32 },
    /// `load K; push imm; eq; jumpif`.
    BrLoadEqI { key: u32, imm: i32, target: u32 },
    /// `load K; push imm; ne; jumpif`.
    BrLoadNeI { key: u32, imm: i32, target: u32 },
    /// `load K; push imm; lt; jumpif`.
    BrLoadLtI { key: u32, imm: i32, target: u32 },
    /// `load K; push imm; le; jumpif`.
    BrLoadLeI { key: u32, imm: i32, target: u32 },
    /// `load K; push imm; gt; jumpif`.
    BrLoadGtI { key: u32, imm: i32, target: u32 },
    /// `load K; push imm; ge; jumpif`.
    BrLoadGeI { key: u32, imm: i32, target: u32 },
    /// `eq; jumpif`.
    BrEq { a: Slot, b: Slot, target: u32 },
    /// `push imm; eq; jumpif`.
    BrEqI { a: Slot, imm: i32, target: u32 },
    /// `ne; jumpif`.
    BrNe { a: Slot, b: Slot, target: u32 },
    /// `push imm; ne; jumpif`.
    BrNeI { a: Slot, imm: i32, target: u32 },
    /// `lt; jumpif`.
    BrLt { a: Slot, b: Slot, target: u32 },
    /// `push imm; lt; jumpif`.
    BrLtI { a: Slot, imm: i32, target: u32 },
    /// `le; jumpif`.
    BrLe { a: Slot, b: Slot, target: u32 },
    /// `push imm; le; jumpif`.
    BrLeI { a: Slot, imm: i32, target: u32 },
    /// `gt; jumpif`.
    BrGt { a: Slot, b: Slot, target: u32 },
    /// `push imm; gt; jumpif`.
    BrGtI { a: Slot, imm: i32, target: u32 },
    /// `ge; jumpif`.
    BrGe { a: Slot, b: Slot, target: u32 },
    /// `push imm; ge; jumpif`.
    BrGeI { a: Slot, imm: i32, target: u32 },

    /// Calls the subroutine whose first block is at `target`; its frame starts at slot
    /// `base` of this one and reaches at most `max_height` slots above.
    Call {
        target: u32,
        base: Slot,
        max_height: u32,
    },
    /// Returns to the caller; with none, ends the run with `height` values in this frame.
    Return { height: u32 },
    /// Ends the run with `height` values in this frame.
    Halt { height: u32 },
    /// A host or system operation taking its arguments from slots `low..`; its result (if
    /// any) goes to slot `low`.
    Host { op: HostOp, low: Slot },
    /// Never executed: closes the code so that no operation falls off its end.
    Unreachable,
}

// The loop reads one operation per step: keep it small. The charge is a whole `u64` (not a
// `u32` after the operation's 16 bytes) so that the loop subtracts it straight from memory:
// one machine instruction fewer per operation, and any block's gas in one charge.
const _: () = assert!(std::mem::size_of::<RegOp>() == 16);
const _: () = assert!(std::mem::size_of::<Inst>() == 24);

/// An operation as the loop runs it: with the gas charge of the block it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Inst {
    /// What it does.
    pub(crate) op: RegOp,
    /// The gas of the block it starts, charged before it runs; 0 if it starts no block.
    pub(crate) charge: u64,
}

/// The block an operation starts, for statistics and error locations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its index in the analysis, or [`NO_BLOCK`].
    pub(crate) block: u32,
    /// The stack height at entry, in the frame.
    pub(crate) height: u32,
    /// Its first instruction (where a refused charge is reported).
    pub(crate) pc: u32,
}

/// [`Entry::block`] of an operation that starts no block.
pub(crate) const NO_BLOCK: u32 = u32::MAX;

impl RegOp {
    /// The static memory key this operation names, if any.
    pub(crate) fn key(&self) -> Option<u32> {
        let mut op = *self;
        op.key_mut().map(|k| *k)
    }

    /// The static memory key this operation names, if any, to rewrite.
    pub(crate) fn key_mut(&mut self) -> Option<&mut u32> {
        match self {
            RegOp::Load { key, .. }
            | RegOp::Store { key, .. }
            | RegOp::AddLoad { key, .. }
            | RegOp::LoadAddI { key, .. }
            | RegOp::LoadSubI { key, .. }
            | RegOp::IncMem { key, .. }
            | RegOp::DecMem { key, .. }
            | RegOp::LoadP { key, .. }
            | RegOp::StoreP { key, .. }
            | RegOp::AddLoadP { key, .. }
            | RegOp::LoadAddIP { key, .. }
            | RegOp::LoadSubIP { key, .. }
            | RegOp::IncMemP { key, .. }
            | RegOp::DecMemP { key, .. }
            | RegOp::IncMemCloseP { key, .. }
            | RegOp::DecMemCloseP { key, .. }
            | RegOp::IncMemNzP { key, .. }
            | RegOp::DecMemNzP { key, .. }
            | RegOp::LoadSubINzP { key, .. }
            | RegOp::LoadDynAtP { key, .. }
            | RegOp::BrLoadNz { key, .. }
            | RegOp::BrLoadEqI { key, .. }
            | RegOp::BrLoadNeI { key, .. }
            | RegOp::BrLoadLtI { key, .. }
            | RegOp::BrLoadLeI { key, .. }
            | RegOp::BrLoadGtI { key, .. }
            | RegOp::BrLoadGeI { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Whether the static key this operation names, if any, is below `keys`.
    pub(crate) fn key_below(&self, keys: u32) -> bool {
        self.key().is_none_or(|k| k < keys)
    }

    /// The form of this operation for a static key that certainly holds a value when it
    /// runs, which reads and overwrites the key's cell without testing it, if it has one.
    /// Lowering uses it where [`coopvm_core::presence::Presence`] (with no key assumed
    /// present at the start of a run) proves the operation's `load K` (or `store K`) finds
    /// the key holding a value on every path: a `store K` or a successful `load K` of the
    /// same key precedes it on every path in its subroutine, and no key is ever removed
    /// during a run.
    pub(crate) fn present(&self) -> Option<RegOp> {
        use RegOp::*;
        Some(match *self {
            Load { dst, key } => LoadP { dst, key },
            Store { key, src } => StoreP { key, src },
            AddLoad { dst, a, key } => AddLoadP { dst, a, key },
            LoadAddI { dst, key, imm } => LoadAddIP { dst, key, imm },
            LoadSubI { dst, key, imm } => LoadSubIP { dst, key, imm },
            IncMem { key, imm } => IncMemP { key, imm },
            DecMem { key, imm } => DecMemP { key, imm },
            _ => return None,
        })
    }

    /// The form of this operation that also runs the loop head after it, a test of static
    /// key `key` against zero branching for the signs `signs` ([`RegOp::zero_test`]), if it
    /// has one: an `IncMemP` or `DecMemP` of that key ([`RegOp::IncMemCloseP`],
    /// [`RegOp::DecMemCloseP`], or for a head branching when the key is not zero
    /// [`RegOp::IncMemNzP`], [`RegOp::DecMemNzP`]; the target is set later,
    /// [`RegOp::closing_target_mut`]).
    /// Lowering uses it when the operation is the last of a block whose back edge became a
    /// copy of the loop head (`Lowerer::duplicate`) and the next operation is that copy. The
    /// operation then runs the head itself, in the same dispatch, knowing the key's new
    /// value: the head block's charge (before anything of the head runs, failing with
    /// `out_of_gas` exactly where the copy would), then the test, continuing at `target`
    /// (the copy's target) when the value's sign is one of `signs` (bit 0: negative, bit 1:
    /// zero, bit 2: positive), else after the copy. Gas, results and error locations are
    /// those of the two operations run one after the other. (The forms of keys not proven
    /// present have none: a head that tests the key has loaded it on every path into the
    /// loop's body, so the body's operations on it are nearly always the present forms.)
    pub(crate) fn closing_on_key(&self, key: u32, signs: u8) -> Option<RegOp> {
        const NONZERO: u8 = 5;
        match *self {
            RegOp::IncMemP { key: k, imm } if k == key && signs == NONZERO => {
                Some(RegOp::IncMemNzP {
                    key,
                    imm,
                    target: 0,
                })
            }
            RegOp::DecMemP { key: k, imm } if k == key && signs == NONZERO => {
                Some(RegOp::DecMemNzP {
                    key,
                    imm,
                    target: 0,
                })
            }
            RegOp::IncMemP { key: k, imm } if k == key => Some(RegOp::IncMemCloseP {
                key,
                imm,
                signs,
                target: 0,
            }),
            RegOp::DecMemP { key: k, imm } if k == key => Some(RegOp::DecMemCloseP {
                key,
                imm,
                signs,
                target: 0,
            }),
            _ => None,
        }
    }

    /// The form of this operation that also runs the loop head after it, a `jumpif` on the
    /// slot it writes (`BrNz` on `dst`), if it has one: `SubI` and `LoadSubIP` by an
    /// immediate that fits an `i16` ([`RegOp::SubINz`], [`RegOp::LoadSubINzP`]; the target
    /// is set later, [`RegOp::closing_target_mut`]).
    pub(crate) fn closing_on_slot(&self, head: &RegOp) -> Option<RegOp> {
        let &RegOp::BrNz { a: tested, .. } = head else {
            return None;
        };
        match *self {
            RegOp::SubI { dst, a, imm } if dst == tested => Some(RegOp::SubINz {
                dst,
                a,
                imm: i16::try_from(imm).ok()?,
                target: 0,
            }),
            RegOp::LoadSubIP { dst, key, imm } if dst == tested => Some(RegOp::LoadSubINzP {
                dst,
                key,
                imm: i16::try_from(imm).ok()?,
                target: 0,
            }),
            _ => None,
        }
    }

    /// The target of a loop-closing operation that runs the head after it (a
    /// [`RegOp::IncMemCloseP`], [`RegOp::DecMemCloseP`], [`RegOp::IncMemNzP`],
    /// [`RegOp::DecMemNzP`], [`RegOp::SubINz`] or [`RegOp::LoadSubINzP`]): where the
    /// head's copy branches to.
    pub(crate) fn closing_target_mut(&mut self) -> Option<&mut u32> {
        match self {
            RegOp::SubINz { target, .. }
            | RegOp::LoadSubINzP { target, .. }
            | RegOp::IncMemCloseP { target, .. }
            | RegOp::DecMemCloseP { target, .. }
            | RegOp::IncMemNzP { target, .. }
            | RegOp::DecMemNzP { target, .. } => Some(target),
            _ => None,
        }
    }

    /// For a test of a static key against zero (`load K; jumpif`, `load K; push 0;
    /// <comparison>; jumpif`): the key, and the signs of its value for which it branches
    /// (bit 0: negative, bit 1: zero, bit 2: positive).
    pub(crate) fn zero_test(&self) -> Option<(u32, u8)> {
        const NEG: u8 = 1;
        const ZERO: u8 = 2;
        const POS: u8 = 4;
        Some(match *self {
            RegOp::BrLoadNz { key, .. } | RegOp::BrLoadNeI { key, imm: 0, .. } => (key, NEG | POS),
            RegOp::BrLoadEqI { key, imm: 0, .. } => (key, ZERO),
            RegOp::BrLoadLtI { key, imm: 0, .. } => (key, NEG),
            RegOp::BrLoadLeI { key, imm: 0, .. } => (key, NEG | ZERO),
            RegOp::BrLoadGtI { key, imm: 0, .. } => (key, POS),
            RegOp::BrLoadGeI { key, imm: 0, .. } => (key, ZERO | POS),
            _ => return None,
        })
    }

    /// The conditional branch taken exactly when this one is not (same operands, same
    /// target), for a conditional branch that cannot fail on its own operands' values.
    pub(crate) fn inverted(&self) -> Option<RegOp> {
        use RegOp::*;
        Some(match *self {
            BrNz { a, target } => BrEqI { a, imm: 0, target },
            BrLoadNz { key, target } => BrLoadEqI {
                key,
                imm: 0,
                target,
            },
            BrLoadEqI { key, imm, target } => BrLoadNeI { key, imm, target },
            BrLoadNeI { key, imm, target } => BrLoadEqI { key, imm, target },
            BrLoadLtI { key, imm, target } => BrLoadGeI { key, imm, target },
            BrLoadGeI { key, imm, target } => BrLoadLtI { key, imm, target },
            BrLoadLeI { key, imm, target } => BrLoadGtI { key, imm, target },
            BrLoadGtI { key, imm, target } => BrLoadLeI { key, imm, target },
            BrEq { a, b, target } => BrNe { a, b, target },
            BrNe { a, b, target } => BrEq { a, b, target },
            BrLt { a, b, target } => BrGe { a, b, target },
            BrGe { a, b, target } => BrLt { a, b, target },
            BrLe { a, b, target } => BrGt { a, b, target },
            BrGt { a, b, target } => BrLe { a, b, target },
            BrEqI { a, imm, target } => BrNeI { a, imm, target },
            BrNeI { a, imm, target } => BrEqI { a, imm, target },
            BrLtI { a, imm, target } => BrGeI { a, imm, target },
            BrGeI { a, imm, target } => BrLtI { a, imm, target },
            BrLeI { a, imm, target } => BrGtI { a, imm, target },
            BrGtI { a, imm, target } => BrLeI { a, imm, target },
            _ => return None,
        })
    }

    /// The branch target, if this operation has one.
    pub(crate) fn target_mut(&mut self) -> Option<&mut u32> {
        match self {
            RegOp::Jump { target }
            | RegOp::BrNz { target, .. }
            | RegOp::BrModINz { target, .. }
            | RegOp::BrLowNz { target, .. }
            | RegOp::BrLoadNz { target, .. }
            | RegOp::BrLoadEqI { target, .. }
            | RegOp::BrLoadNeI { target, .. }
            | RegOp::BrLoadLtI { target, .. }
            | RegOp::BrLoadLeI { target, .. }
            | RegOp::BrLoadGtI { target, .. }
            | RegOp::BrLoadGeI { target, .. }
            | RegOp::BrEq { target, .. }
            | RegOp::BrEqI { target, .. }
            | RegOp::BrNe { target, .. }
            | RegOp::BrNeI { target, .. }
            | RegOp::BrLt { target, .. }
            | RegOp::BrLtI { target, .. }
            | RegOp::BrLe { target, .. }
            | RegOp::BrLeI { target, .. }
            | RegOp::BrGt { target, .. }
            | RegOp::BrGtI { target, .. }
            | RegOp::BrGe { target, .. }
            | RegOp::BrGeI { target, .. }
            | RegOp::Call { target, .. } => Some(target),
            _ => None,
        }
    }
}

/// Register code for one contract ([`lower::lower`]).
#[derive(Clone, Debug)]
pub(crate) struct RegCode {
    /// The operations; execution starts at 0.
    pub(crate) ops: Vec<Inst>,
    /// Per operation: the block it starts (meaningful where it charges or is an `Enter`).
    pub(crate) entries: Vec<Entry>,
    /// Per operation: the index of the first original instruction it executes (for a block's
    /// charge, the block's first instruction). A fused operation that fails in a later
    /// instruction knows that instruction's offset from this one.
    pub(crate) pcs: Vec<u32>,
    /// Every static key an operation names is below this (the program's number of keys).
    pub(crate) keys: u32,
    /// The contract's inputs (`.params N`): the main frame's first `params` slots.
    pub(crate) params: u32,
}

impl RegCode {
    /// Whether every block index in the code names one of `blocks` blocks (a code lowered
    /// from an analysis with that many blocks).
    pub(crate) fn blocks_within(&self, blocks: usize) -> bool {
        self.entries
            .iter()
            .all(|e| e.block == NO_BLOCK || (e.block as usize) < blocks)
    }
}
