//! Stack code to register code (see the [parent module](super)).
//!
//! Each reachable basic block is lowered on its own, starting from the verifier's height at
//! its first instruction, with a *symbolic stack*: the stack positions below `base` hold
//! their own values in their own slots; above, each position is described by a [`Val`]: a
//! constant not yet written anywhere, or the slot its value currently lives in. One rule
//! keeps every rewrite safe: **a position refers only to its own slot or a lower one**. An
//! operation writes its result to the slot of the position it leaves it at, the top of the
//! stack once its operands are consumed; every remaining position refers to a lower slot, so
//! no value still needed is overwritten. Writing the stack back ([`Lowerer::flush`]) goes
//! from the top down for the same reason.
//!
//! Adding a pure opcode is one arm of the `match` in [`Lowerer::insn`]: either a symbolic
//! rewrite, or "flush, then one register operation on the canonical slots", which is always
//! correct (it is the stack machine with explicit slot numbers).

use super::{Entry, Inst, RegCode, RegOp, Slot, CELL, NO_BLOCK};
use coopvm_core::isa::{HostOp, Op, OpKind, PureOp};
use coopvm_core::presence::Presence;
use coopvm_core::verify::{Analysis, Block, Verified};
use coopvm_core::Insn;
use std::collections::BTreeMap;

/// What a position of the symbolic stack holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// The value lives in this slot (the position's own, or a lower one).
    Reg(Slot),
    /// A constant, in no slot yet.
    Imm(i64),
}

/// Where a branch goes.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// The block starting at this instruction.
    Pc(u32),
    /// The end of the code, reached with this stack height: the run ends.
    End(u32),
}

/// The two-operand operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl Bin {
    fn rr(self, dst: Slot, a: Slot, b: Slot) -> RegOp {
        match self {
            Bin::Add => RegOp::Add { dst, a, b },
            Bin::Sub => RegOp::Sub { dst, a, b },
            Bin::Mul => RegOp::Mul { dst, a, b },
            Bin::Div => RegOp::Div { dst, a, b },
            Bin::Mod => RegOp::Mod { dst, a, b },
            Bin::Eq => RegOp::Eq { dst, a, b },
            Bin::Ne => RegOp::Ne { dst, a, b },
            Bin::Lt => RegOp::Lt { dst, a, b },
            Bin::Le => RegOp::Le { dst, a, b },
            Bin::Gt => RegOp::Gt { dst, a, b },
            Bin::Ge => RegOp::Ge { dst, a, b },
            Bin::And => RegOp::And { dst, a, b },
            Bin::Or => RegOp::Or { dst, a, b },
        }
    }

    fn ri(self, dst: Slot, a: Slot, imm: i32) -> RegOp {
        match self {
            Bin::Add => RegOp::AddI { dst, a, imm },
            Bin::Sub => RegOp::SubI { dst, a, imm },
            Bin::Mul => RegOp::MulI { dst, a, imm },
            Bin::Div => RegOp::DivI { dst, a, imm },
            Bin::Mod => RegOp::ModI { dst, a, imm },
            Bin::Eq => RegOp::EqI { dst, a, imm },
            Bin::Ne => RegOp::NeI { dst, a, imm },
            Bin::Lt => RegOp::LtI { dst, a, imm },
            Bin::Le => RegOp::LeI { dst, a, imm },
            Bin::Gt => RegOp::GtI { dst, a, imm },
            Bin::Ge => RegOp::GeI { dst, a, imm },
            Bin::And => RegOp::AndI { dst, a, imm },
            Bin::Or => RegOp::OrI { dst, a, imm },
        }
    }

    /// The operation computing `b op a` from `a op' b`, for operations that cannot fail
    /// (a failing one reports its operands in order, so it keeps them).
    fn swapped(self) -> Option<Bin> {
        Some(match self {
            Bin::Eq | Bin::Ne | Bin::And | Bin::Or => self,
            Bin::Lt => Bin::Gt,
            Bin::Le => Bin::Ge,
            Bin::Gt => Bin::Lt,
            Bin::Ge => Bin::Le,
            Bin::Add | Bin::Sub | Bin::Mul | Bin::Div | Bin::Mod => return None,
        })
    }

    /// Whether a `jumpif` right after this operation fuses with it.
    fn branches(self) -> bool {
        matches!(
            self,
            Bin::Eq | Bin::Ne | Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge
        )
    }

    /// `a op b` for a comparison.
    fn compare(self, a: i64, b: i64) -> bool {
        match self {
            Bin::Eq => a == b,
            Bin::Ne => a != b,
            Bin::Lt => a < b,
            Bin::Le => a <= b,
            Bin::Gt => a > b,
            Bin::Ge => a >= b,
            Bin::And => a != 0 && b != 0,
            Bin::Or => a != 0 || b != 0,
            Bin::Add | Bin::Sub | Bin::Mul | Bin::Div | Bin::Mod => {
                unreachable!("not a comparison")
            }
        }
    }

    /// Compare-and-branch on two slots.
    fn br(self, a: Slot, b: Slot, target: u32) -> RegOp {
        match self {
            Bin::Eq => RegOp::BrEq { a, b, target },
            Bin::Ne => RegOp::BrNe { a, b, target },
            Bin::Lt => RegOp::BrLt { a, b, target },
            Bin::Le => RegOp::BrLe { a, b, target },
            Bin::Gt => RegOp::BrGt { a, b, target },
            Bin::Ge => RegOp::BrGe { a, b, target },
            _ => unreachable!("{self:?} does not branch"),
        }
    }

    /// Compare-and-branch on a static memory key and an immediate.
    fn br_load(self, key: u32, imm: i32, target: u32) -> RegOp {
        match self {
            Bin::Eq => RegOp::BrLoadEqI { key, imm, target },
            Bin::Ne => RegOp::BrLoadNeI { key, imm, target },
            Bin::Lt => RegOp::BrLoadLtI { key, imm, target },
            Bin::Le => RegOp::BrLoadLeI { key, imm, target },
            Bin::Gt => RegOp::BrLoadGtI { key, imm, target },
            Bin::Ge => RegOp::BrLoadGeI { key, imm, target },
            _ => unreachable!("{self:?} does not branch"),
        }
    }

    /// The comparison `op` is, if it fuses with a following `jumpif`.
    fn branching(op: Op) -> Option<Bin> {
        Some(match op {
            Op::Eq => Bin::Eq,
            Op::Ne => Bin::Ne,
            Op::Lt => Bin::Lt,
            Op::Le => Bin::Le,
            Op::Gt => Bin::Gt,
            Op::Ge => Bin::Ge,
            _ => return None,
        })
    }

    /// Compare-and-branch on a slot and an immediate.
    fn bri(self, a: Slot, imm: i32, target: u32) -> RegOp {
        match self {
            Bin::Eq => RegOp::BrEqI { a, imm, target },
            Bin::Ne => RegOp::BrNeI { a, imm, target },
            Bin::Lt => RegOp::BrLtI { a, imm, target },
            Bin::Le => RegOp::BrLeI { a, imm, target },
            Bin::Gt => RegOp::BrGtI { a, imm, target },
            Bin::Ge => RegOp::BrGeI { a, imm, target },
            _ => unreachable!("{self:?} does not branch"),
        }
    }
}

/// The constant `v`, if it fits an operation's 32-bit immediate.
fn small(v: Val) -> Option<i32> {
    match v {
        Val::Imm(k) => i32::try_from(k).ok(),
        Val::Reg(_) => None,
    }
}

struct Lowerer<'v> {
    code: &'v [Insn],
    analysis: &'v Analysis,
    ops: Vec<Inst>,
    pcs: Vec<u32>,
    entries: Vec<Entry>,
    /// The charge of the block being lowered, until its first operation takes it.
    pending: Option<(u64, Entry)>,
    /// Branches to patch: (operation index, where to).
    fixups: Vec<(usize, Target)>,
    /// Positions below `base` hold their own values in their own slots.
    base: u32,
    /// Positions `base..`, bottom first.
    top: Vec<Val>,
    /// The instruction being lowered (the first of a fused group): recorded for each
    /// operation emitted.
    pc: u32,
    /// The highest stack height of the subroutine being lowered: no slot reaches it.
    max_height: u32,
    /// Per block (index in the analysis), once lowered: the range of its operations.
    ranges: Vec<Option<(u32, u32)>>,
    /// The program's number of static keys.
    keys: u32,
    /// Which `load K` and `store K` certainly find their key holding a value (no key
    /// assumed present at the start of a run: the code is lowered once for every state).
    presence: Presence,
}

/// A backward `jump` to a block of at most this many operations copies the block instead
/// (see [`Lowerer::duplicate`]).
const DUPLICATE_MAX: u32 = 4;

/// Lowers a verified contract to register code.
pub(crate) fn lower(verified: &Verified) -> RegCode {
    let code = &verified.contract().program.code[..];
    let analysis = verified.analysis();
    let mut l = Lowerer {
        code,
        analysis,
        ops: Vec::with_capacity(code.len() + 2),
        pcs: Vec::with_capacity(code.len() + 2),
        entries: Vec::with_capacity(code.len() + 2),
        pending: None,
        fixups: Vec::new(),
        base: 0,
        top: Vec::new(),
        pc: 0,
        max_height: 0,
        ranges: vec![None; analysis.blocks.len()],
        keys: u32::try_from(verified.contract().program.keys.len()).unwrap_or(u32::MAX),
        presence: Presence::analyze(verified, &[]),
    };
    // Code index of each block's first operation.
    let mut start_of = vec![u32::MAX; code.len()];
    for (index, block) in analysis.blocks.iter().enumerate() {
        let first = l.ops.len() as u32;
        start_of[block.start as usize] = first;
        l.block(index as u32, block);
        l.ranges[index] = Some((first, l.ops.len() as u32));
    }
    if code.is_empty() {
        // The run ends at once with its inputs (`.params N`, at most the stack limit) as
        // the result.
        let params = verified.contract().params;
        l.pc = 0;
        l.max_height = params;
        l.emit(RegOp::Halt { height: params });
    }
    // One `halt` per height for the branches to the end of the code.
    let mut ends = BTreeMap::new();
    for &(_, target) in &l.fixups {
        if let Target::End(height) = target {
            ends.entry(height).or_insert(0);
        }
    }
    l.pc = code.len() as u32;
    // A branch to the end was checked against its own subroutine's height (`target`).
    l.max_height = u32::MAX;
    for (&height, at) in ends.iter_mut() {
        *at = l.ops.len() as u32;
        l.emit(RegOp::Halt { height });
    }
    l.emit(RegOp::Unreachable);
    let len = l.ops.len();
    for &(at, target) in &l.fixups {
        let to = match target {
            Target::Pc(pc) => start_of[pc as usize],
            Target::End(height) => ends[&height],
        };
        // Branch targets are block starts (the verifier's leaders) or the end: never an
        // operation in the middle of a block, never outside the code.
        assert!(
            (to as usize) < len,
            "branch to a block that was not lowered"
        );
        *l.ops[at].op.target_mut().expect("a branch") = to;
    }
    // A loop-closing operation branches where the head's copy after it does.
    for at in 0..len - 1 {
        let next = l.ops[at + 1].op;
        if let Some(target) = l.ops[at].op.closing_target_mut() {
            let mut head = next;
            *target = *head.target_mut().expect("the head is a test");
        }
    }
    // Every target relative to the operation after its branch, in bytes (the executor adds
    // it to its instruction pointer). The code has at most a few times `Limits::MAX`'s
    // instructions (each jump copies at most `DUPLICATE_MAX` operations), far below what
    // an `i32` of bytes reaches.
    for at in 0..len {
        if let Some(target) = l.ops[at].op.target_mut() {
            *target = relative(at, *target);
        }
        if let Some(target) = l.ops[at].op.closing_target_mut() {
            *target = relative(at, *target);
        }
        // Static keys become their cells' offsets in bytes. The verifier refuses a key
        // table of more than `MAX_STATIC_KEYS` (2^20) keys, so an offset is below
        // 2^20 * CELL, far inside a `u32`.
        if let Some(key) = l.ops[at].op.key_mut() {
            *key = key
                .checked_mul(CELL)
                .expect("the verifier bounds the key table to 2^20 keys");
        }
    }
    RegCode {
        ops: l.ops,
        entries: l.entries,
        pcs: l.pcs,
        keys: l.keys,
        params: verified.contract().params,
    }
}

/// A branch target: operation `to`, as the offset in bytes from the operation after the
/// branch at `at` (stored in a `u32`, read back as an `i32`).
fn relative(at: usize, to: u32) -> u32 {
    let size = std::mem::size_of::<Inst>() as i64;
    let bytes = (i64::from(to) - (at as i64 + 1)) * size;
    i32::try_from(bytes).expect("register code far smaller than 2 GiB") as u32
}

impl Lowerer<'_> {
    fn block(&mut self, index: u32, block: &Block) {
        let a = self.analysis;
        let height = a.height[block.start as usize];
        self.max_height = a.funcs[block.func as usize].max_height;
        self.reset(height);
        self.pc = block.start;
        let entry = Entry {
            block: index,
            height,
            pc: block.start,
        };
        if block.gas == 0 {
            self.pending = Some((0, entry));
            self.emit(RegOp::Enter);
        } else {
            // The block's first operation takes it.
            self.pending = Some((block.gas, entry));
        }
        let mut pc = block.start;
        let mut falls_through = true;
        while pc < block.end {
            debug_assert_eq!(self.height(), a.height[pc as usize], "height at {pc}");
            self.pc = pc;
            let (consumed, falls) = self.insn(pc, block.end);
            pc += consumed;
            falls_through = falls;
        }
        if falls_through {
            self.flush();
            if self.pending.is_some() {
                // Nothing to do in the block but to charge for it.
                self.emit(RegOp::Nop);
            }
            if block.end as usize == self.code.len() {
                // Falling off the end of the code ends the run.
                self.emit(RegOp::Halt {
                    height: self.height(),
                });
            } else {
                debug_assert_eq!(self.height(), a.height[block.end as usize]);
            }
        }
    }

    /// Lowers the instruction at `pc` (with some that follow it in the block, when they
    /// fuse): returns how many instructions it consumed and whether control can go on to
    /// the next instruction.
    fn insn(&mut self, pc: u32, end: u32) -> (u32, bool) {
        let insn = self.code[pc as usize];
        let code = self.code;
        let next = |k: u32| (pc + k < end).then(|| code[(pc + k) as usize]);
        let (n1, n2, n3) = (next(1), next(2), next(3));
        let one = (1, true);
        let op = match insn.op.kind() {
            OpKind::Host(op) => {
                self.host(op);
                return one;
            }
            OpKind::Pure(op) => op,
        };
        match op {
            PureOp::Push | PureOp::PushStr => self.push(Val::Imm(insn.arg)),
            PureOp::Pop => {
                self.pop();
            }
            PureOp::Dup => {
                let v = self.peek();
                self.push(v);
            }
            PureOp::Swap => self.swap(),
            PureOp::Over => {
                let v = self.peek_at(1);
                self.push(v);
            }
            PureOp::Pick => {
                // The verifier bounds N by the height here (0 <= N < height).
                let depth = u32::try_from(insn.arg).unwrap_or(u32::MAX);
                let v = self.peek_at(depth);
                self.push(v);
            }
            PureOp::Rot => self.rot(),
            PureOp::Add => return self.binary(Bin::Add, n1),
            PureOp::Sub => return self.binary(Bin::Sub, n1),
            PureOp::Mul => return self.binary(Bin::Mul, n1),
            PureOp::Div => return self.binary(Bin::Div, n1),
            PureOp::Mod => return self.binary(Bin::Mod, n1),
            PureOp::Eq => return self.binary(Bin::Eq, n1),
            PureOp::Ne => return self.binary(Bin::Ne, n1),
            PureOp::Lt => return self.binary(Bin::Lt, n1),
            PureOp::Le => return self.binary(Bin::Le, n1),
            PureOp::Gt => return self.binary(Bin::Gt, n1),
            PureOp::Ge => return self.binary(Bin::Ge, n1),
            PureOp::And => return self.binary(Bin::And, n1),
            PureOp::Or => return self.binary(Bin::Or, n1),
            PureOp::Neg => self.unary(|dst, a| RegOp::Neg { dst, a }),
            PureOp::Not => self.unary(|dst, a| RegOp::Not { dst, a }),
            PureOp::Load => return self.load(insn.arg as u32, [n1, n2, n3]),
            PureOp::Store => {
                let v = self.pop();
                let p = self.height();
                let src = self.reg_at(v, p);
                self.emit_keyed(RegOp::Store {
                    key: insn.arg as u32,
                    src,
                });
            }
            PureOp::LoadDyn => {
                let k = self.pop();
                let p = self.height();
                let key = self.reg_at(k, p);
                self.emit(RegOp::LoadDyn { dst: p, key });
                self.push(Val::Reg(p));
            }
            PureOp::StoreDyn => {
                let k = self.pop();
                let v = self.pop();
                let p = self.height();
                if let Some(imm) = small(v) {
                    // A constant value needs no slot: the key is at `p + 1`'s position.
                    let key = self.reg_at(k, p + 1);
                    self.emit(RegOp::StoreDynI { key, imm });
                } else {
                    let (src, key) = self.regs2(v, k, p);
                    self.emit(RegOp::StoreDyn { key, src });
                }
            }
            PureOp::TLoad => {
                let p = self.height();
                self.emit(RegOp::TLoad {
                    dst: p,
                    key: insn.arg as u32,
                });
                self.push(Val::Reg(p));
            }
            PureOp::TStore => {
                let v = self.pop();
                let p = self.height();
                let src = self.reg_at(v, p);
                self.emit(RegOp::TStore {
                    key: insn.arg as u32,
                    src,
                });
            }
            PureOp::TLoadDyn => {
                let k = self.pop();
                let p = self.height();
                let key = self.reg_at(k, p);
                self.emit(RegOp::TLoadDyn { dst: p, key });
                self.push(Val::Reg(p));
            }
            PureOp::TStoreDyn => {
                let k = self.pop();
                let v = self.pop();
                let p = self.height();
                let (src, key) = self.regs2(v, k, p);
                self.emit(RegOp::TStoreDyn { key, src });
            }
            PureOp::Jump => {
                self.flush();
                self.jump(insn.arg);
                return (1, false);
            }
            PureOp::JumpIf => self.jump_if(insn.arg),
            PureOp::Call => return (1, self.call(insn.arg as u32)),
            PureOp::Return => {
                self.flush();
                self.emit(RegOp::Return {
                    height: self.height(),
                });
                return (1, false);
            }
            PureOp::Halt => {
                self.flush();
                self.emit(RegOp::Halt {
                    height: self.height(),
                });
                return (1, false);
            }
        }
        one
    }

    // --- the symbolic stack ---

    fn reset(&mut self, height: u32) {
        self.base = height;
        self.top.clear();
    }

    fn height(&self) -> u32 {
        self.base + self.top.len() as u32
    }

    fn push(&mut self, v: Val) {
        self.top.push(v);
    }

    fn pop(&mut self) -> Val {
        match self.top.pop() {
            Some(v) => v,
            None => {
                self.base -= 1;
                Val::Reg(self.base)
            }
        }
    }

    fn peek(&self) -> Val {
        self.peek_at(0)
    }

    /// The value `depth` positions below the top (`peek_at(0)` is the top).
    fn peek_at(&self, depth: u32) -> Val {
        let q = self.height() - 1 - depth;
        if q >= self.base {
            self.top[(q - self.base) as usize]
        } else {
            Val::Reg(q)
        }
    }

    /// Whether position `s` (below the top) holds its own value in its own slot.
    fn canonical(&self, s: Slot) -> bool {
        s < self.base || self.top[(s - self.base) as usize] == Val::Reg(s)
    }

    /// Writes every position back to its own slot, top down (a position refers to its own
    /// slot or a lower one, so a slot is overwritten only after every read of it).
    fn flush(&mut self) {
        self.flush_from(self.base);
        self.base = self.height();
        self.top.clear();
    }

    /// Writes positions `low..` back to their own slots (top down; positions below `low`
    /// refer to slots below `low`, so they are untouched).
    fn flush_from(&mut self, low: Slot) {
        let base = self.base;
        for i in (0..self.top.len()).rev() {
            let p = base + i as u32;
            if p < low {
                break;
            }
            match self.top[i] {
                Val::Reg(s) if s == p => {}
                Val::Reg(src) => self.emit(RegOp::Copy { dst: p, src }),
                Val::Imm(k) => self.constant(p, k),
            }
            self.top[i] = Val::Reg(p);
        }
    }

    /// The slot of `v`, which was at position `p` (everything above it consumed): a
    /// constant is written to `p`'s own slot, which no lower position refers to.
    fn reg_at(&mut self, v: Val, p: Slot) -> Slot {
        match v {
            Val::Reg(s) => s,
            Val::Imm(k) => {
                self.constant(p, k);
                p
            }
        }
    }

    /// The slots of `a` (at position `p`) and `b` (at `p + 1`), both just consumed.
    fn regs2(&mut self, a: Val, b: Val, p: Slot) -> (Slot, Slot) {
        let mut y = self.reg_at(b, p + 1);
        let x = match a {
            Val::Reg(s) => s,
            Val::Imm(k) => {
                if y == p {
                    // `b` lives in `p`'s slot, which `a` is about to take.
                    self.emit(RegOp::Copy { dst: p + 1, src: p });
                    y = p + 1;
                }
                self.constant(p, k);
                p
            }
        };
        (x, y)
    }

    /// A condition operand at position `p` (everything above consumed) that must survive a
    /// [`Lowerer::flush`] of the positions below it: moved to its own slot if one of them is
    /// about to be overwritten.
    fn protect(&mut self, v: Val, p: Slot) -> Val {
        match v {
            Val::Reg(s) if s < p && !self.canonical(s) => {
                self.emit(RegOp::Copy { dst: p, src: s });
                Val::Reg(p)
            }
            _ => v,
        }
    }

    fn swap(&mut self) {
        let b = self.pop();
        let a = self.pop();
        let p = self.height();
        // `b` goes to position `p`, `a` to `p + 1`; `a` refers to `p` or lower, so only a `b`
        // living in its own slot `p + 1` needs moving.
        match (a, b) {
            (Val::Reg(s), Val::Reg(t)) if s == p && t == p + 1 => {
                self.emit(RegOp::Swap { a: p, b: p + 1 });
                self.push(Val::Reg(p));
                self.push(Val::Reg(p + 1));
            }
            (_, Val::Reg(t)) if t == p + 1 => {
                // `a` lives below `p` or is a constant: `p`'s slot is free.
                self.emit(RegOp::Copy { dst: p, src: p + 1 });
                self.push(Val::Reg(p));
                self.push(a);
            }
            _ => {
                self.push(b);
                self.push(a);
            }
        }
    }

    /// `rot`: `[a, b, c]` at positions `p..p + 3` becomes `[b, c, a]`. `a` refers to `p` or
    /// lower, so it may move up to `p + 2` as it is; `b` and `c` move down one place each,
    /// which keeps the rule unless one lives in its own slot (`b` in `p + 1`, `c` in `p + 2`).
    /// Then the three are written back to their own slots and exchanged there.
    fn rot(&mut self) {
        let c = self.pop();
        let b = self.pop();
        let a = self.pop();
        let p = self.height();
        if b != Val::Reg(p + 1) && c != Val::Reg(p + 2) {
            self.push(b);
            self.push(c);
            self.push(a);
            return;
        }
        self.push(a);
        self.push(b);
        self.push(c);
        self.flush_from(p);
        self.emit(RegOp::Swap { a: p, b: p + 1 });
        self.emit(RegOp::Swap { a: p + 1, b: p + 2 });
    }

    // --- emitting ---

    fn emit(&mut self, op: RegOp) {
        // Every slot an operation touches is below the subroutine's highest stack height,
        // which the call-time room check keeps inside the value stack: the executor's
        // unchecked slot accesses rely on this, so it is checked here, once per contract.
        let (slot, width) = slot_extent(&op);
        assert!(
            u64::from(slot) + u64::from(width) <= u64::from(self.max_height),
            "{op:?} at instruction {} reaches beyond the frame height {}",
            self.pc,
            self.max_height
        );
        // A division by an immediate is one that cannot fail (the executor tells the
        // compiler so).
        assert!(
            !matches!(
                op,
                RegOp::DivI { imm: 0 | -1, .. }
                    | RegOp::ModI { imm: 0 | -1, .. }
                    | RegOp::BrModINz { imm: 0 | -1, .. }
            ),
            "{op:?} at instruction {} can fail",
            self.pc
        );
        // Likewise every static key is one of the program's (the executor checks once per
        // run that the memory has that many slots).
        assert!(
            op.key_below(self.keys),
            "{op:?} at instruction {} names no static key",
            self.pc
        );
        let (charge, entry) = self.pending.take().unwrap_or((
            0,
            Entry {
                block: NO_BLOCK,
                height: 0,
                pc: self.pc,
            },
        ));
        self.ops.push(Inst { op, charge });
        self.pcs.push(self.pc);
        self.entries.push(entry);
    }

    /// Emits `op`, an operation on the static key of the instruction being lowered (a
    /// `load K`, or a `store K`, that starts it): in its present form ([`RegOp::present`])
    /// if the presence analysis proves that instruction finds the key holding a value.
    fn emit_keyed(&mut self, op: RegOp) {
        let op = match op.present() {
            Some(present) if self.presence.proven(self.pc) => present,
            _ => op,
        };
        self.emit(op);
    }

    fn constant(&mut self, dst: Slot, k: i64) {
        let bits = k as u64;
        self.emit(RegOp::Const {
            dst,
            lo: bits as u32,
            hi: (bits >> 32) as u32,
        });
    }

    fn target(&self, pc: i64, height: u32) -> Target {
        if pc as usize == self.code.len() {
            assert!(height <= self.max_height, "a branch above its frame");
            Target::End(height)
        } else {
            Target::Pc(pc as u32)
        }
    }

    /// Emits `op`, whose target will be patched to `target`.
    fn branch(&mut self, op: RegOp, target: Target) {
        self.fixups.push((self.ops.len(), target));
        self.emit(op);
    }

    /// An unconditional jump to instruction `to` (the stack is flushed).
    fn jump(&mut self, to: i64) {
        match self.target(to, self.height()) {
            Target::End(height) => self.emit(RegOp::Halt { height }),
            Target::Pc(pc) => {
                if !self.duplicate(pc) {
                    self.branch(RegOp::Jump { target: 0 }, Target::Pc(pc));
                }
            }
        }
    }

    /// Tail duplication: instead of a jump to the block at `pc`, a copy of its operations
    /// (its own charge first, with the same block index, gas and error locations; its
    /// branches to the same targets), then, if it can fall through, a jump to the block
    /// after it. The copy behaves exactly as the block does when jumped to, and saves the
    /// jump on the back edge of a loop whose head is small. Only blocks already lowered
    /// (backward jumps), of at most [`DUPLICATE_MAX`] operations, without a call (whose
    /// return address is the operation after it) are copied. Returns whether it copied.
    fn duplicate(&mut self, pc: u32) -> bool {
        let block = self.analysis.block_at[pc as usize];
        let Some(Some((first, end))) = self.ranges.get(block as usize).copied() else {
            return false;
        };
        let ops = &self.ops[first as usize..end as usize];
        if end - first > DUPLICATE_MAX || ops.iter().any(|i| matches!(i.op, RegOp::Call { .. })) {
            return false;
        }
        debug_assert!(ops
            .first()
            .is_some_and(|i| i.charge != 0 || i.op == RegOp::Enter));
        if self.pending.is_some() {
            // The jump is all there is of this block: its charge stays its own.
            self.emit(RegOp::Nop);
        }
        let at = self.ops.len();
        let next = self.analysis.blocks[block as usize].end;
        // The copy's last operation, if it is a conditional branch whose target lies outside
        // the loop this jump closes (not between the head and the jump): the loop goes on
        // by falling through, into the block after the head. The copy then branches there
        // on the opposite condition and falls through to a jump to the original target, so
        // the loop turns without that jump. Either way each block is charged by its own
        // first operation, as before.
        let last = end as usize - 1;
        let inverted = self.ops[last].op.inverted().and_then(|op| {
            let f = self.fixups.binary_search_by_key(&last, |&(i, _)| i).ok()?;
            let leaves = match self.fixups[f].1 {
                Target::Pc(t) => t <= pc || t > self.pc,
                Target::End(_) => true,
            };
            leaves.then_some((op, self.fixups[f].1))
        });
        // The operation before the copy may run a head that tests the key it just stored
        // against zero (`RegOp::closing_on_key`): it is this block's (the copy starts a block,
        // so an operation of this block precedes it, a `Nop` if the jump was all there is).
        let mut head = self.ops[first as usize];
        if let (Some((op, _)), 1) = (inverted, end - first) {
            head.op = op;
        }
        if let (1, Some((key, signs)), true) = (end - first, head.op.zero_test(), head.charge != 0)
        {
            if let Some(last) = self.ops.last_mut() {
                if let Some(closing) = last.op.closing_on_key(key, signs) {
                    last.op = closing;
                }
            }
        }
        // Or a head that is a `jumpif` on the slot it just wrote: it becomes its closing form.
        if let (1, true) = (end - first, head.charge != 0) {
            if let Some(last) = self.ops.last_mut() {
                if let Some(closing) = last.op.closing_on_slot(&head.op) {
                    last.op = closing;
                }
            }
        }
        for i in first as usize..end as usize {
            // Copied as they are: each operation with its charge, entry and location.
            let (inst, pc, entry) = (self.ops[i], self.pcs[i], self.entries[i]);
            self.ops.push(inst);
            self.pcs.push(pc);
            self.entries.push(entry);
        }
        // The copied branches go where the originals go.
        let from = self.fixups.partition_point(|&(i, _)| i < first as usize);
        let to = self.fixups.partition_point(|&(i, _)| i < end as usize);
        for f in from..to {
            let (i, target) = self.fixups[f];
            let target = match inverted {
                Some(_) if i == last => Target::Pc(next),
                _ => target,
            };
            self.fixups.push((at + i - first as usize, target));
        }
        if let Some((op, target)) = inverted {
            let copy = self.ops.len() - 1;
            self.ops[copy].op = op;
            self.branch(RegOp::Jump { target: 0 }, target);
            return true;
        }
        let last = self.ops[self.ops.len() - 1].op;
        if !matches!(
            last,
            RegOp::Jump { .. } | RegOp::Halt { .. } | RegOp::Return { .. }
        ) {
            self.branch(RegOp::Jump { target: 0 }, Target::Pc(next));
        }
        true
    }

    // --- instructions ---

    fn binary(&mut self, bin: Bin, next: Option<Insn>) -> (u32, bool) {
        if let Some(next) = next.filter(|n| n.op == Op::JumpIf && bin.branches()) {
            self.compare_branch(bin, next.arg);
            return (2, true);
        }
        if let Some(next) = next.filter(|n| n.op == Op::JumpIf && bin == Bin::Mod) {
            if let (Val::Reg(_), Some(imm)) = (self.peek_at(1), small(self.peek())) {
                if imm != 0 && imm != -1 {
                    self.mod_branch(imm, next.arg);
                    return (2, true);
                }
            }
        }
        let b = self.pop();
        let a = self.pop();
        let p = self.height();
        // A division or remainder by an immediate never fails: by 0 or -1 (which can fail)
        // the divisor goes to a slot.
        let divides = |k: i32| !matches!(bin, Bin::Div | Bin::Mod) || (k != 0 && k != -1);
        let op = match (
            a,
            b,
            small(a),
            small(b).filter(|&k| divides(k)),
            bin.swapped(),
        ) {
            (Val::Reg(x), _, _, Some(k), _) => bin.ri(p, x, k),
            (_, Val::Reg(y), Some(k), _, Some(swapped)) => swapped.ri(p, y, k),
            _ => {
                let (x, y) = self.regs2(a, b, p);
                bin.rr(p, x, y)
            }
        };
        self.emit(op);
        self.push(Val::Reg(p));
        (1, true)
    }

    fn unary(&mut self, op: impl FnOnce(Slot, Slot) -> RegOp) {
        let v = self.pop();
        let p = self.height();
        let a = self.reg_at(v, p);
        self.emit(op(p, a));
        self.push(Val::Reg(p));
    }

    /// A comparison followed by `jumpif to`.
    fn compare_branch(&mut self, bin: Bin, to: i64) {
        let mut b = self.pop();
        let mut a = self.pop();
        let p = self.height();
        let target = self.target(to, p);
        if let (Val::Imm(x), Val::Imm(y)) = (a, b) {
            self.flush();
            if bin.compare(x, y) {
                self.jump(to);
            }
            return;
        }
        if matches!(a, Val::Imm(k) if i32::try_from(k).is_err())
            || matches!(b, Val::Imm(k) if i32::try_from(k).is_err())
        {
            // A wide constant: plain stack form, operands in their own slots.
            self.push(a);
            self.push(b);
            self.flush();
            b = self.pop();
            a = self.pop();
        }
        // Registers must survive the flush of the positions below `p`: `a` is moved to `p`
        // if its slot is about to be overwritten, `b` to `p + 1` likewise, or if it lives in
        // `p` and `a` moves there.
        let a_moves = matches!(a, Val::Reg(s) if s < p && !self.canonical(s));
        let b_moves =
            matches!(b, Val::Reg(s) if (s < p && !self.canonical(s)) || (s == p && a_moves));
        if b_moves {
            if let Val::Reg(s) = b {
                self.emit(RegOp::Copy { dst: p + 1, src: s });
                b = Val::Reg(p + 1);
            }
        }
        if a_moves {
            a = self.protect(a, p);
        }
        self.flush();
        let op = match (a, b) {
            (Val::Reg(x), Val::Reg(y)) => bin.br(x, y, 0),
            (Val::Reg(x), Val::Imm(k)) => bin.bri(x, k as i32, 0),
            (Val::Imm(k), Val::Reg(y)) => match bin.swapped() {
                Some(s) => s.bri(y, k as i32, 0),
                None => unreachable!("comparisons swap"),
            },
            (Val::Imm(_), Val::Imm(_)) => unreachable!("folded above"),
        };
        self.branch(op, target);
    }

    /// `push imm; mod; jumpif to` with a register operand: a remainder by a constant that
    /// is neither 0 nor -1 never fails, so the branch tests it without writing it anywhere.
    fn mod_branch(&mut self, imm: i32, to: i64) {
        self.pop();
        let a = self.pop();
        let p = self.height();
        let a = self.protect(a, p);
        self.flush();
        let Val::Reg(a) = a else {
            unreachable!("a register stays one")
        };
        let target = self.target(to, p);
        let op = if imm.unsigned_abs().is_power_of_two() {
            // The remainder by ±2^k is not zero exactly when the low k bits are not.
            RegOp::BrLowNz {
                a,
                mask: imm.unsigned_abs() - 1,
                target: 0,
            }
        } else {
            RegOp::BrModINz { a, imm, target: 0 }
        };
        self.branch(op, target);
    }

    fn jump_if(&mut self, to: i64) {
        let c = self.pop();
        let p = self.height();
        match c {
            Val::Imm(k) => {
                self.flush();
                if k != 0 {
                    self.jump(to);
                }
            }
            Val::Reg(_) => {
                let c = self.protect(c, p);
                self.flush();
                let Val::Reg(a) = c else {
                    unreachable!("a register stays one")
                };
                let target = self.target(to, p);
                self.branch(RegOp::BrNz { a, target: 0 }, target);
            }
        }
    }

    /// `load key`, with the instructions after it in the block (`None` past its end).
    fn load(&mut self, key: u32, next: [Option<Insn>; 3]) -> (u32, bool) {
        let [n1, n2, n3] = next;
        let is = |i: Option<Insn>, op: Op| i.is_some_and(|i| i.op == op);
        if let Some(j) = n1.filter(|j| j.op == Op::JumpIf) {
            // load K; jumpif L
            self.flush();
            let target = self.target(j.arg, self.height());
            self.branch(RegOp::BrLoadNz { key, target: 0 }, target);
            return (2, true);
        }
        if let (Some(push), Some(cmp), Some(j)) = (n1, n2, n3) {
            let imm = i32::try_from(push.arg).ok().filter(|_| push.op == Op::Push);
            if let (Some(imm), Some(bin), Op::JumpIf) = (imm, Bin::branching(cmp.op), j.op) {
                // load K; push n; <comparison>; jumpif L
                self.flush();
                let target = self.target(j.arg, self.height());
                self.branch(bin.br_load(key, imm, 0), target);
                return (4, true);
            }
        }
        if is(n1, Op::LoadDyn) && self.presence.proven(self.pc) {
            // load K; load, K holding a value (the dynamic load fails as it would alone)
            let p = self.height();
            self.emit(RegOp::LoadDynAtP { dst: p, key });
            self.push(Val::Reg(p));
            return (2, true);
        }
        if is(n1, Op::Add) {
            // load K; add
            let v = self.pop();
            let p = self.height();
            let a = self.reg_at(v, p);
            self.emit_keyed(RegOp::AddLoad { dst: p, a, key });
            self.push(Val::Reg(p));
            return (2, true);
        }
        if let (Some(push), Some(op), Some(store)) = (n1, n2, n3) {
            let imm = i32::try_from(push.arg).ok().filter(|_| push.op == Op::Push);
            if let (Some(imm), true) = (imm, store.op == Op::Store && store.arg == i64::from(key)) {
                // load K; push n; add|sub; store K
                match op.op {
                    Op::Add => {
                        self.emit_keyed(RegOp::IncMem { key, imm });
                        return (4, true);
                    }
                    Op::Sub => {
                        self.emit_keyed(RegOp::DecMem { key, imm });
                        return (4, true);
                    }
                    _ => {}
                }
            }
        }
        if let (Some(push), Some(op)) = (n1, n2) {
            let imm = i32::try_from(push.arg).ok().filter(|_| push.op == Op::Push);
            let fused = match (imm, op.op) {
                (Some(imm), Op::Add) => Some(RegOp::LoadAddI { dst: 0, key, imm }),
                (Some(imm), Op::Sub) => Some(RegOp::LoadSubI { dst: 0, key, imm }),
                _ => None,
            };
            if let Some(mut fused) = fused {
                // load K; push n; add|sub
                let p = self.height();
                if let RegOp::LoadAddI { dst, .. } | RegOp::LoadSubI { dst, .. } = &mut fused {
                    *dst = p;
                }
                self.emit_keyed(fused);
                self.push(Val::Reg(p));
                return (3, true);
            }
        }
        let p = self.height();
        self.emit_keyed(RegOp::Load { dst: p, key });
        self.push(Val::Reg(p));
        (1, true)
    }

    /// A host operation: its arguments are written back to their own slots, where the
    /// executor hands them to the host as one slice.
    fn host(&mut self, op: HostOp) {
        let info = op.info();
        let low = self.height() - u32::from(info.pops);
        self.flush_from(low);
        for _ in 0..info.pops {
            self.pop();
        }
        self.emit(RegOp::Host { op, low });
        debug_assert!(info.pushes <= 1, "host operations push at most one value");
        if info.pushes == 1 {
            self.push(Val::Reg(low));
        }
    }

    /// `call entry`: returns whether the callee returns.
    fn call(&mut self, entry: u32) -> bool {
        self.flush();
        let a = self.analysis;
        let Some(f) = a.func_at(entry) else {
            unreachable!("the verifier makes every call target a subroutine entry")
        };
        let func = &a.funcs[f as usize];
        let base = self.height() - func.params;
        self.branch(
            RegOp::Call {
                target: 0,
                base,
                max_height: func.max_height,
            },
            Target::Pc(entry),
        );
        match func.results {
            Some(results) => {
                self.reset(base + results);
                true
            }
            None => false,
        }
    }
}

/// A slot an operation touches and how many slots from there (`width` 0: none): every slot
/// it touches is below `slot + width`.
fn slot_extent(op: &RegOp) -> (Slot, u32) {
    use RegOp::*;
    let max = |slots: &[Slot]| (slots.iter().copied().max().unwrap_or(0), 1);
    match *op {
        Nop
        | Enter
        | IncMem { .. }
        | DecMem { .. }
        | IncMemP { .. }
        | DecMemP { .. }
        | IncMemCloseP { .. }
        | DecMemCloseP { .. }
        | IncMemNzP { .. }
        | DecMemNzP { .. }
        | Jump { .. }
        | BrLoadNz { .. }
        | BrLoadEqI { .. }
        | BrLoadNeI { .. }
        | BrLoadLtI { .. }
        | BrLoadLeI { .. }
        | BrLoadGtI { .. }
        | BrLoadGeI { .. }
        | Unreachable => (0, 0),
        Const { dst, .. }
        | Load { dst, .. }
        | LoadAddI { dst, .. }
        | LoadSubI { dst, .. }
        | LoadP { dst, .. }
        | LoadAddIP { dst, .. }
        | LoadSubIP { dst, .. }
        | LoadSubINzP { dst, .. }
        | LoadDynAtP { dst, .. } => max(&[dst]),
        Copy { dst, src } => max(&[dst, src]),
        Swap { a, b } => max(&[a, b]),
        Add { dst, a, b }
        | Sub { dst, a, b }
        | Mul { dst, a, b }
        | Div { dst, a, b }
        | Mod { dst, a, b }
        | Eq { dst, a, b }
        | Ne { dst, a, b }
        | Lt { dst, a, b }
        | Le { dst, a, b }
        | Gt { dst, a, b }
        | Ge { dst, a, b }
        | And { dst, a, b }
        | Or { dst, a, b } => max(&[dst, a, b]),
        AddI { dst, a, .. }
        | SubI { dst, a, .. }
        | MulI { dst, a, .. }
        | DivI { dst, a, .. }
        | ModI { dst, a, .. }
        | EqI { dst, a, .. }
        | NeI { dst, a, .. }
        | LtI { dst, a, .. }
        | LeI { dst, a, .. }
        | GtI { dst, a, .. }
        | GeI { dst, a, .. }
        | AndI { dst, a, .. }
        | OrI { dst, a, .. }
        | Neg { dst, a }
        | Not { dst, a }
        | AddLoad { dst, a, .. }
        | AddLoadP { dst, a, .. }
        | SubINz { dst, a, .. }
        | LoadDyn { dst, key: a }
        | TLoadDyn { dst, key: a } => max(&[dst, a]),
        Store { src, .. } | StoreP { src, .. } | TStore { src, .. } => max(&[src]),
        TLoad { dst, .. } => max(&[dst]),
        StoreDyn { key, src } | TStoreDyn { key, src } => max(&[key, src]),
        StoreDynI { key, .. } => max(&[key]),
        BrNz { a, .. } | BrEqI { a, .. } | BrNeI { a, .. } | BrLtI { a, .. } => max(&[a]),
        BrModINz { a, .. } | BrLowNz { a, .. } => max(&[a]),
        BrLeI { a, .. } | BrGtI { a, .. } | BrGeI { a, .. } => max(&[a]),
        BrEq { a, b, .. }
        | BrNe { a, b, .. }
        | BrLt { a, b, .. }
        | BrLe { a, b, .. }
        | BrGt { a, b, .. }
        | BrGe { a, b, .. } => max(&[a, b]),
        // The callee's frame is checked at run time; the caller's parameters start at `base`.
        Call { base, .. } => (base, 0),
        Return { height } | Halt { height } => (0, height),
        Host { op, low } => (low, u32::from(op.info().pops.max(op.info().pushes))),
    }
}
