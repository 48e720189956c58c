//! Lowering of verified IR to one Cranelift function per contract.
//!
//! The whole contract (every subroutine) becomes one native function
//! `fn(ctx: *mut Ctx) -> u32`:
//!
//! - Every basic block of the verifier's [`Analysis`] becomes a Cranelift block that starts
//!   with the block's gas charge (`gas < cost` -> `out_of_gas` exit), so gas is charged at
//!   exactly the interpreter's boundaries and amounts ([`gas`]).
//! - The value stack lives in Cranelift variables indexed by the frame-relative height the
//!   verifier fixed for every instruction; SSA construction turns them into registers.
//! - `call` is an explicit call stack: the caller's frame is written to the in-memory value
//!   stack at its absolute position (`base + i`), the index of the return site is pushed on a
//!   return stack, and control jumps to the callee's entry block with the arguments renamed
//!   to the callee's heights `0..params`. `return` pops the return-site index and dispatches
//!   with a `br_table` to the site, which reloads the caller's frame and renames the results.
//!   Recursion thus needs no native stack, and a `halt` deep in a subroutine finds every
//!   caller's values already in memory, so the reported stack is the interpreter's
//!   ([`control`]).
//! - Host opcodes and memory accesses that may fail call `extern "C"` trampolines: the
//!   host's (generic over its type) through function pointers in the context block, the
//!   others (memory, the return stack, system opcodes) at addresses fixed when the code is
//!   compiled, as constants in it; no symbol or relocation is involved, so the same lowering
//!   compiles for any 64-bit target ISA ([`host`], [`memory`]).
//! - Static memory slots are the memory's own cells; the ones the contract uses most live in
//!   variables too (registers): loaded on entry, written back into the cells once when the
//!   run succeeds; a `load`/`store` whose key the presence analysis
//!   ([`coopvm_core::presence`]) proves present needs no check at all ([`memory`]).
//! - Gas lives in a variable: one compare-and-branch per basic block, never in memory until
//!   the run ends; host calls take it (and their arguments) in registers and give it back.
//! - Every failure branches to a small cold stub that jumps, with the exit code, the
//!   instruction index and the operands as block arguments, to the function's one shared exit
//!   block, which records them in the context block and returns [`STATUS_ERROR`]; every
//!   successful end jumps to one shared block that writes back the registers and returns
//!   [`STATUS_OK`].
//!
//! This module drives the lowering (setup, basic blocks, one exhaustive match over the pure
//! opcodes) and holds what every part shares: the stack variables, branches, exits and
//! halting. [`arith`] lowers arithmetic, comparison and logic.

mod arith;
mod control;
mod gas;
mod host;
mod memory;

use crate::rt::{off, Exit, PREALLOC_RETS, STATUS_ERROR, STATUS_OK};
use crate::JitError;
use arith::{Checked, Division, Logic};
use control::Site;
use coopvm_core::isa::{Op, OpKind, PureOp};
use coopvm_core::memory::{INT_CELL_PRESENT, INT_CELL_VALUE};
use coopvm_core::presence::Presence;
use coopvm_core::verify::{Analysis, Verified, NONE};
use coopvm_core::{Insn, Limits};
use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, Block, Function, InstBuilder, MemFlags, SigRef, Signature, SourceLoc, Type,
    Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use gas::StatVars;

/// The native function's signature: `fn(ctx: *mut Ctx) -> u32`.
pub(crate) fn signature(call_conv: CallConv, ptr: Type) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.push(AbiParam::new(ptr));
    s.returns.push(AbiParam::new(types::I32));
    s
}

/// At most this many static slots live in registers (the most used ones); the others are
/// read and written in the memory's cells. Every register slot is live across the whole
/// function, so this also bounds the SSA block parameters a join block can need for them.
pub(crate) const MAX_SLOT_VARS: usize = 4;

/// What the lowering decides before it builds anything, and the size it will build.
pub(crate) struct Plan {
    /// The slots kept in registers.
    slot_vars: Vec<u32>,
    /// Static keys proven present (see [`coopvm_core::presence`]).
    presence: Presence,
    /// An upper bound on the IR the lowering builds, in units of about one Cranelift
    /// instruction or block parameter; what compile time and memory grow with.
    pub(crate) estimate: u64,
}

impl Plan {
    /// Plans `verified`: linear in its size.
    pub(crate) fn new(verified: &Verified) -> Plan {
        let code = &verified.contract().program.code;
        let a = verified.analysis();
        // The most used static slots go to registers.
        let mut uses: Vec<(u32, u32)> = Vec::new();
        let mut count = vec![0u32; verified.contract().program.keys.len()];
        for (pc, insn) in code.iter().enumerate() {
            if matches!(insn.op, Op::Load | Op::Store) && a.reachable(pc as u32) {
                if let Some(c) = count.get_mut(insn.arg as usize) {
                    *c += 1;
                }
            }
        }
        for (slot, &c) in count.iter().enumerate() {
            if c > 0 {
                uses.push((c, slot as u32));
            }
        }
        uses.sort_unstable_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        let slot_vars: Vec<u32> = uses.iter().take(MAX_SLOT_VARS).map(|u| u.1).collect();
        // The run's initial state may lack any key: only stores and loads prove presence.
        let presence = Presence::analyze(verified, &[]);
        let estimate = estimate(verified, slot_vars.len() as u64);
        Plan {
            slot_vars,
            presence,
            estimate,
        }
    }
}

/// An upper bound on the IR built for `verified` with `slot_vars` slots in registers (see
/// [`Plan::estimate`]): a few units per instruction, plus what grows with stack heights —
/// the values spilled and reloaded around each `call`, spilled at each end of the run, and
/// the block parameters SSA construction may give every block for the values live into it
/// (its entry height, the register slots and the fixed registers).
fn estimate(verified: &Verified, slot_vars: u64) -> u64 {
    let code = &verified.contract().program.code;
    let a = verified.analysis();
    let mut units: u64 = 64;
    for block in &a.blocks {
        let h = u64::from(a.height[block.start as usize]);
        units += 8 + h + slot_vars + FIRST_HEIGHT_VAR as u64;
        for pc in block.start..block.end {
            let insn = code[pc as usize];
            let h = u64::from(a.height[pc as usize]);
            units += match insn.op {
                Op::Call => 24 + 3 * h,
                Op::Halt | Op::Return => 8 + h,
                Op::Store | Op::Load => 8,
                // The in-place path's blocks, and a join whose parameters may be the
                // values live across it.
                Op::StoreDyn | Op::LoadDyn => 24 + h + slot_vars + FIRST_HEIGHT_VAR as u64,
                op if matches!(op.kind(), OpKind::Host(_)) => 12,
                _ => 4,
            };
        }
        // Falling off the end of the code ends the run there (a spill).
        if block.end as usize == code.len() {
            units += 8 + h;
        }
    }
    units
}

/// Lowers `verified` into `func`, whose signature must be [`signature`]'s. With `stats`,
/// every block entry also updates the statistics fields of the context block (see
/// [`Lower::count_entry`]).
pub(crate) fn lower(
    verified: &Verified,
    plan: &Plan,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    stats: bool,
) -> Result<Operands, JitError> {
    let ptr = check(verified, func)?;
    let mut l = Lower::new(verified, plan, FunctionBuilder::new(func, fctx), ptr, stats)?;
    // Enter main.
    match l.block_for(0) {
        Some(first) => {
            l.b.ins().jump(first, &[]);
        }
        // No code: the run ends at once with main's inputs (`.params`) as its stack.
        None => {
            let inputs = l.a.funcs.first().map_or(0, |f| f.params);
            l.halt(inputs)
        }
    }
    for bi in 0..l.a.blocks.len() {
        l.basic_block(bi)?;
    }
    l.return_sites()?;
    l.flush_pending();
    l.finish_exits();
    l.b.seal_all_blocks();
    l.b.finalize();
    l.operands.sort_unstable();
    Ok(Operands(l.operands.into_boxed_slice()))
}

/// The constant second operands of the checked operations that exit with
/// [`Exit::Overflow`], by instruction index (sorted): the exit does not carry them, so a
/// constant is never kept in a register for the cold path alone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Operands(Box<[(u32, i64)]>);

impl Operands {
    /// The constant second operand of the overflow exit at `pc`, if it has one.
    pub(crate) fn at(&self, pc: u32) -> Option<i64> {
        let i = self.0.binary_search_by_key(&pc, |&(p, _)| p).ok()?;
        Some(self.0[i].1)
    }
}

/// Checks that native code can hold `verified` on this target; returns the pointer type.
fn check(verified: &Verified, func: &Function) -> Result<Type, JitError> {
    let a = verified.analysis();
    let ptr = func
        .signature
        .params
        .first()
        .map(|p| p.value_type)
        .ok_or_else(|| JitError::Internal("signature without a context parameter".into()))?;
    if ptr != types::I64 {
        return Err(JitError::Unsupported(
            "only 64-bit targets are supported".into(),
        ));
    }
    let max_height = a.funcs.iter().map(|f| f.max_height).max().unwrap_or(0);
    if u64::from(max_height) * 8 > i32::MAX as u64 {
        return Err(JitError::Unsupported(format!(
            "a frame of {max_height} values is too large for native code"
        )));
    }
    if verified.contract().program.keys.len() as u64 * 8 > i32::MAX as u64 {
        return Err(JitError::Unsupported(
            "too many static keys for native code".into(),
        ));
    }
    Ok(ptr)
}

/// The signatures of the trampolines.
struct Sigs {
    /// Host calls by arity.
    host: [SigRef; 5],
    store_new: SigRef,
    store_dyn: SigRef,
    load_dyn: SigRef,
    grow: SigRef,
    tstore: SigRef,
    tload: SigRef,
    /// System opcodes by arity.
    system: [SigRef; 3],
}

/// The first variable of the value stack (heights); those below hold the registers (gas,
/// base, depth).
const FIRST_HEIGHT_VAR: usize = 3;

/// A static slot kept in registers: its value and whether it holds one.
#[derive(Clone, Copy)]
struct SlotVar {
    value: Variable,
    present: Variable,
}

/// An operand of a failure exit: a value of the failing code, or a constant materialized only
/// on the cold path.
#[derive(Clone, Copy)]
enum Arg {
    Val(Value),
    Const(i64),
    /// `x - y`, wrapping: computed on the cold path only (the first operand of an `add`
    /// from its wrapped result and second operand, so it need not stay live).
    Diff(Value, Value),
    /// `x + y`, wrapping (the first operand of a `sub`, likewise).
    Sum(Value, Value),
}

/// The lowering of one contract in progress.
struct Lower<'a, 'f> {
    b: FunctionBuilder<'f>,
    verified: &'a Verified,
    a: &'a Analysis,
    code: &'a [Insn],
    presence: &'a Presence,
    ctx: Value,
    gas: Variable,
    base: Variable,
    depth: Variable,
    blocks: Vec<Block>,
    sigs: Sigs,
    ptr: Type,
    limits: Limits,
    pending: Vec<Pending>,
    /// Return sites, grouped by callee.
    sites: Vec<Vec<Site>>,
    /// Per `call` instruction: its callee and its index among the callee's return sites.
    site_of: Vec<(u32, u32)>,
    /// The return dispatch block of every callee that returns.
    dispatch: Vec<Option<Block>>,
    /// The per-block entry counters, when the code keeps statistics.
    counts: Option<Value>,
    /// The other statistics, when the code keeps them.
    stat_vars: Option<StatVars>,
    /// Per static slot, its variables if it lives in registers.
    slot_vars: Vec<Option<SlotVar>>,
    /// Deferred checks of the current block (see [`Lower::fail_if`]).
    checks: Vec<Check>,
    /// The last remainder by a power of two and a value with the same truth (zero or not):
    /// the dividend's low bits. A `jumpif` on the remainder tests those instead.
    truth: Option<(Value, Value)>,
    /// See [`Operands`].
    operands: Vec<(u32, i64)>,
    /// Failure exits, each shared by at most [`HUB_PREDS`] sites: `(exit code << 32 | pc, a,
    /// b, gas left)`. The last one takes new sites while it has room.
    exits: Vec<Block>,
    /// Sites sent to the last failure exit.
    exit_uses: usize,
    /// Successful ends, each shared by at most [`HUB_PREDS`] sites: `(final absolute stack
    /// height)`.
    dones: Vec<Block>,
    /// Sites sent to the last successful end.
    done_uses: usize,
}

/// Most predecessors of a shared exit block. A block with many predecessors spread over
/// the function makes register allocation superlinear (merging the live ranges of its
/// parameters re-sorts an ever longer list; dominators are found by walking up from every
/// predecessor), so the exits are shared by neighbouring sites only.
const HUB_PREDS: usize = 32;

/// A deferred failure check (see [`Lower::fail_if`]).
struct Check {
    /// Non-zero (an `i8`) if the run fails here.
    cond: Value,
    exit: Exit,
    pc: u32,
    a: Option<Arg>,
    b: Option<Arg>,
    /// Gas left at the check.
    gas: Value,
}

/// A block to fill once the current one is finished.
enum Pending {
    /// Ends the run with frame height `h`.
    Halt(Block, u32),
}

impl<'a, 'f> Lower<'a, 'f> {
    /// Starts the function: the entry block loads the context block's pointers and
    /// initializes the registers; every basic block and return site gets its block.
    fn new(
        verified: &'a Verified,
        plan: &'a Plan,
        mut b: FunctionBuilder<'f>,
        ptr: Type,
        stats: bool,
    ) -> Result<Self, JitError> {
        let a = verified.analysis();
        let sigs = host::signatures(&mut b, ptr);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let ctx = b.block_params(entry)[0];
        let flags = MemFlags::trusted();
        let counts = stats.then(|| b.ins().load(ptr, flags, ctx, off::COUNTS));

        // Variables are numbered in the order they are declared: the registers, then the
        // frame heights (`Self::var`), then the statistics and the register slots.
        let [gas, base, depth] = [(); FIRST_HEIGHT_VAR].map(|()| b.declare_var(types::I64));
        let max_height = a.funcs.iter().map(|f| f.max_height).max().unwrap_or(0);
        for h in 0..max_height {
            let v = b.declare_var(types::I64);
            if v != Self::var(h) {
                return Err(JitError::Internal(format!(
                    "frame height {h} got variable {v}"
                )));
            }
        }
        // Statistics live in variables (registers) while the code runs and go to the context
        // block on every exit.
        let stat_vars = stats.then(|| StatVars::declare(&mut b));
        let g = b.ins().load(types::I64, flags, ctx, off::GAS_LEFT);
        b.def_var(gas, g);
        let zero = b.ins().iconst(types::I64, 0);
        b.def_var(base, zero);
        b.def_var(depth, zero);
        if let Some(vars) = &stat_vars {
            vars.init(&mut b);
        }
        // Register slots: loaded once here from the memory's cells (an empty cell's value is
        // never used), written back by `done`.
        let cells = b.ins().load(ptr, memory::SLOTS_PTR, ctx, off::SLOTS);
        let mut slot_vars = vec![None; verified.contract().program.keys.len()];
        for &slot in &plan.slot_vars {
            let value = b.declare_var(types::I64);
            let present_var = b.declare_var(types::I8);
            let (base, at) = memory::slot_field_at(&mut b, cells, slot, INT_CELL_VALUE);
            let v = b.ins().load(types::I64, memory::CELL, base, at);
            b.def_var(value, v);
            let (base, at) = memory::slot_field_at(&mut b, cells, slot, INT_CELL_PRESENT);
            let p = b.ins().load(types::I8, memory::CELL, base, at);
            b.def_var(present_var, p);
            slot_vars[slot as usize] = Some(SlotVar {
                value,
                present: present_var,
            });
        }
        // Main's inputs (`.params N`, its frame heights 0..N) start in the in-memory stack.
        if let Some(main) = a.funcs.first().filter(|f| f.params > 0) {
            let stack = b.ins().load(ptr, flags, ctx, off::STACK);
            for h in 0..main.params {
                let v = b.ins().load(types::I64, flags, stack, (h * 8) as i32);
                b.def_var(Self::var(h), v);
            }
        }

        let blocks: Vec<Block> = a.blocks.iter().map(|_| b.create_block()).collect();
        let code = &verified.contract().program.code[..];
        let (sites, site_of) = control::sites(&mut b, a, code)?;
        let dispatch = sites
            .iter()
            .map(|s| (!s.is_empty()).then(|| b.create_block()))
            .collect();
        Ok(Lower {
            b,
            verified,
            a,
            code,
            presence: &plan.presence,
            ctx,
            gas,
            base,
            depth,
            blocks,
            sigs,
            ptr,
            limits: *verified.limits(),
            pending: Vec::new(),
            sites,
            site_of,
            dispatch,
            counts,
            stat_vars,
            slot_vars,
            checks: Vec::new(),
            truth: None,
            operands: Vec::new(),
            exits: Vec::new(),
            exit_uses: HUB_PREDS,
            dones: Vec::new(),
            done_uses: HUB_PREDS,
        })
    }

    /// Lowers basic block `bi`: its gas charge, then its instructions, then (unless its last
    /// instruction transferred control) the fall-through into the next block.
    fn basic_block(&mut self, bi: usize) -> Result<(), JitError> {
        let block = self.a.blocks[bi].clone();
        self.b.switch_to_block(self.blocks[bi]);
        self.b.set_srcloc(SourceLoc::new(block.start));
        self.charge(bi)?;
        let mut h = self.a.height[block.start as usize];
        for pc in block.start..block.end {
            let insn = self.code[pc as usize];
            self.b.set_srcloc(SourceLoc::new(pc));
            h = self.a.height[pc as usize];
            if self.instruction(pc, insn, h)? {
                if pc + 1 != block.end {
                    return Err(JitError::Internal(format!(
                        "instruction {pc} ends a block in the middle of one"
                    )));
                }
                return Ok(());
            }
            let info = insn.op.info();
            h = h + u32::from(info.pushes) - u32::from(info.pops);
        }
        // Falls through into the next block (or off the end of the code).
        self.goto(block.end, h)
    }

    /// Lowers the instruction `insn` at `pc`, with frame height `h` before it. Returns
    /// whether it ended the block (a control transfer or halting).
    fn instruction(&mut self, pc: u32, insn: Insn, h: u32) -> Result<bool, JitError> {
        let op = match insn.op.kind() {
            OpKind::Host(op) => {
                self.host(pc, op, h);
                return Ok(false);
            }
            OpKind::Pure(op) => op,
        };
        let arg = insn.arg;
        match op {
            PureOp::Add => self.overflowing(pc, h, Checked::Add),
            PureOp::Sub => self.overflowing(pc, h, Checked::Sub),
            PureOp::Mul => self.overflowing(pc, h, Checked::Mul),
            PureOp::Div => self.divide(pc, h, Division::Quotient),
            PureOp::Mod => self.divide(pc, h, Division::Remainder),
            PureOp::Neg => self.neg(pc, h),
            PureOp::Eq => self.compare(h, IntCC::Equal),
            PureOp::Ne => self.compare(h, IntCC::NotEqual),
            PureOp::Lt => self.compare(h, IntCC::SignedLessThan),
            PureOp::Le => self.compare(h, IntCC::SignedLessThanOrEqual),
            PureOp::Gt => self.compare(h, IntCC::SignedGreaterThan),
            PureOp::Ge => self.compare(h, IntCC::SignedGreaterThanOrEqual),
            PureOp::Not => self.not(h),
            PureOp::And => self.logic(h, Logic::And),
            PureOp::Or => self.logic(h, Logic::Or),
            PureOp::Push | PureOp::PushStr => {
                let v = self.b.ins().iconst(types::I64, arg);
                self.set(h, v);
            }
            PureOp::Pop => {}
            PureOp::Dup => {
                let v = self.get(h - 1);
                self.set(h, v);
            }
            PureOp::Swap => {
                let x = self.get(h - 1);
                let y = self.get(h - 2);
                self.set(h - 1, y);
                self.set(h - 2, x);
            }
            PureOp::Over => {
                let v = self.get(h - 2);
                self.set(h, v);
            }
            PureOp::Rot => {
                // [a, b, c] -> [b, c, a]
                let a = self.get(h - 3);
                let b = self.get(h - 2);
                let c = self.get(h - 1);
                self.set(h - 3, b);
                self.set(h - 2, c);
                self.set(h - 1, a);
            }
            // The verifier bounds N (0 <= N < h).
            PureOp::Pick => {
                let v = self.get(h - 1 - arg as u32);
                self.set(h, v);
            }
            PureOp::Store => self.store(pc, arg as u32, h),
            PureOp::StoreDyn => self.store_dyn(pc, h),
            PureOp::Load => self.load(pc, arg as u32, h),
            PureOp::LoadDyn => self.load_dyn(pc, h),
            PureOp::TStore => self.tstore(pc, Some(arg as u32), h),
            PureOp::TStoreDyn => self.tstore(pc, None, h),
            PureOp::TLoad => self.tload(pc, Some(arg as u32), h),
            PureOp::TLoadDyn => self.tload(pc, None, h),
            PureOp::Jump => self.goto(arg as u32, h)?,
            PureOp::JumpIf => self.jump_if(pc, arg as u32, h)?,
            PureOp::Call => self.call(pc, h)?,
            PureOp::Return => self.ret(pc, h),
            PureOp::Halt => self.halt(h),
        }
        Ok(op.op().ends_block())
    }

    fn var(h: u32) -> Variable {
        Variable::new(FIRST_HEIGHT_VAR + h as usize)
    }

    /// The value at frame height `h`.
    fn get(&mut self, h: u32) -> Value {
        self.b.use_var(Self::var(h))
    }

    /// Sets the value at frame height `h`.
    fn set(&mut self, h: u32, v: Value) {
        self.b.def_var(Self::var(h), v)
    }

    /// The Cranelift block of the basic block starting at `pc`.
    fn block_for(&self, pc: u32) -> Option<Block> {
        let i = *self.a.block_at.get(pc as usize)?;
        (i != NONE).then(|| self.blocks[i as usize])
    }

    /// A block to branch to for continuing at `pc` with frame height `h`: its basic block,
    /// or (at the end of the code) a fresh block that ends the run.
    fn target(&mut self, pc: u32, h: u32) -> Result<Block, JitError> {
        if let Some(block) = self.block_for(pc) {
            return Ok(block);
        }
        if pc as usize != self.code.len() {
            return Err(JitError::Internal(format!(
                "a branch targets instruction {pc}, which starts no block"
            )));
        }
        let end = self.b.create_block();
        self.pending.push(Pending::Halt(end, h));
        Ok(end)
    }

    /// Continues at `pc` with frame height `h` (ends the current block).
    fn goto(&mut self, pc: u32, h: u32) -> Result<(), JitError> {
        self.flush();
        match self.block_for(pc) {
            Some(block) => {
                self.b.ins().jump(block, &[]);
            }
            // The end of the code has no block: the run ends there.
            None if pc as usize == self.code.len() => self.halt(h),
            // Verified code reaches no other instruction without a block.
            None => {
                return Err(JitError::Internal(format!(
                    "control reaches instruction {pc}, which starts no block"
                )))
            }
        }
        Ok(())
    }

    /// A pointer field of the context block, loaded where used (long-lived values are what
    /// makes register allocation expensive). Every pointer but the return stack's (which
    /// `grow_rets` may move) stays the same for the whole run, so its load is marked
    /// read-only and movable: the optimizer may then load it once for many uses, or hoist
    /// it out of a loop.
    fn ctx_ptr(&mut self, offset: i32) -> Value {
        let flags = if offset != off::RETS || self.limits.call_depth <= PREALLOC_RETS {
            MemFlags::trusted().with_readonly().with_can_move()
        } else {
            MemFlags::trusted()
        };
        self.b.ins().load(self.ptr, flags, self.ctx, offset)
    }

    /// `stack + base * 8`: the address of the current frame's first value.
    fn frame_ptr(&mut self) -> Value {
        let bs = self.b.use_var(self.base);
        let bytes = self.b.ins().ishl_imm(bs, 3);
        let stack = self.ctx_ptr(off::STACK);
        self.b.ins().iadd(stack, bytes)
    }

    /// Writes the current frame's values `0..h` to the in-memory stack.
    fn spill(&mut self, h: u32) {
        if h == 0 {
            return;
        }
        let flags = MemFlags::trusted();
        let fp = self.frame_ptr();
        for i in 0..h {
            let v = self.get(i);
            self.b.ins().store(flags, v, fp, (i * 8) as i32);
        }
    }

    /// Ends the run successfully with the current frame at height `h` on top of the
    /// callers' frames (already in memory).
    fn halt(&mut self, h: u32) {
        self.flush();
        self.spill(h);
        let bs = self.b.use_var(self.base);
        let sp = self.b.ins().iadd_imm(bs, i64::from(h));
        let done = self.done_hub();
        self.b.ins().jump(done, &[sp.into()]);
    }

    /// Fails the run with `exit` at `pc` (and operands `a`, `b`) if `cond` is non-zero. The
    /// check is deferred: checks of side-effect-free code accumulate and [`Lower::flush`]
    /// tests them all with one branch (see [`Check`]).
    fn fail_if(&mut self, cond: Value, exit: Exit, pc: u32, a: Option<Arg>, b: Option<Arg>) {
        let cond = if self.b.func.dfg.value_type(cond) == types::I8 {
            cond
        } else {
            self.b.ins().icmp_imm(IntCC::NotEqual, cond, 0)
        };
        let gas = self.b.use_var(self.gas);
        self.checks.push(Check {
            cond,
            exit,
            pc,
            a,
            b,
            gas,
        });
    }

    /// Emits the deferred checks: one branch on their union to a cold block that finds the
    /// first one that failed (in program order) and exits with it. Called before anything
    /// with a side effect outside the function (a call out), before every branch, and at the
    /// end of every block.
    fn flush(&mut self) {
        let checks = std::mem::take(&mut self.checks);
        let Some(first) = checks.first() else { return };
        let mut any = first.cond;
        for c in &checks[1..] {
            any = self.b.ins().bor(any, c.cond);
        }
        let cold = self.b.create_block();
        self.b.set_cold_block(cold);
        let cont = self.b.create_block();
        // The hot successor goes first: Cranelift orders blocks for register allocation
        // by a depth-first search that visits the first successor first, which puts it
        // last. With the cold block first, every cold block would sink to the end of the
        // function and the values it reads (gas, operands) would stay live across all the
        // code in between: register allocation quadratic in the number of blocks.
        let ok = self.negate(any);
        self.b.ins().brif(ok, cont, &[], cold, &[]);
        self.b.switch_to_block(cold);
        self.b.seal_block(cold);
        // The first failed check in program order wins: fold from the last one with
        // selects (one cold block, whatever the number of checks).
        let last = checks.last().expect("a check");
        let [mut packed, mut a, mut b, mut gas] = self.exit_args(last);
        for c in checks.iter().rev().skip(1) {
            let [p2, a2, b2, g2] = self.exit_args(c);
            packed = self.b.ins().select(c.cond, p2, packed);
            a = self.b.ins().select(c.cond, a2, a);
            b = self.b.ins().select(c.cond, b2, b);
            gas = self.b.ins().select(c.cond, g2, gas);
        }
        let exit_block = self.exit_hub();
        self.b
            .ins()
            .jump(exit_block, &[packed.into(), a.into(), b.into(), gas.into()]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    /// `cond == 0` for an `i8` condition: the comparison itself inverted when `cond` is one,
    /// else a test.
    fn negate(&mut self, cond: Value) -> Value {
        use cranelift_codegen::ir::condcodes::CondCode;
        use cranelift_codegen::ir::{InstructionData, ValueDef};
        if let ValueDef::Result(inst, 0) = self.b.func.dfg.value_def(cond) {
            match self.b.func.dfg.insts[inst] {
                InstructionData::IntCompareImm {
                    cond: cc, arg, imm, ..
                } => {
                    let imm: i64 = imm.into();
                    return self.b.ins().icmp_imm(cc.complement(), arg, imm);
                }
                InstructionData::IntCompare { cond: cc, args, .. } => {
                    return self.b.ins().icmp(cc.complement(), args[0], args[1]);
                }
                _ => {}
            }
        }
        self.b.ins().icmp_imm(IntCC::Equal, cond, 0)
    }

    /// The failure exit's arguments for `c` (constants materialized here, on the cold path).
    fn exit_args(&mut self, c: &Check) -> [Value; 4] {
        let packed = (c.exit as i64) << 32 | i64::from(c.pc);
        let packed = self.b.ins().iconst(types::I64, packed);
        let mut arg = |x: Option<Arg>| match x {
            Some(Arg::Val(v)) => v,
            Some(Arg::Const(k)) => self.b.ins().iconst(types::I64, k),
            Some(Arg::Diff(x, y)) => self.b.ins().isub(x, y),
            Some(Arg::Sum(x, y)) => self.b.ins().iadd(x, y),
            None => self.b.ins().iconst(types::I64, 0),
        };
        let (a, b) = (arg(c.a), arg(c.b));
        [packed, a, b, c.gas]
    }

    /// A failure exit for one more site (see [`Lower::exits`]).
    fn exit_hub(&mut self) -> Block {
        if self.exit_uses >= HUB_PREDS {
            let exit = self.b.create_block();
            self.b.set_cold_block(exit);
            for _ in 0..4 {
                self.b.append_block_param(exit, types::I64);
            }
            self.exits.push(exit);
            self.exit_uses = 0;
        }
        self.exit_uses += 1;
        *self.exits.last().expect("an exit")
    }

    /// A successful end for one more site (see [`Lower::dones`]).
    fn done_hub(&mut self) -> Block {
        if self.done_uses >= HUB_PREDS {
            let done = self.b.create_block();
            self.b.append_block_param(done, types::I64);
            self.dones.push(done);
            self.done_uses = 0;
        }
        self.done_uses += 1;
        *self.dones.last().expect("a successful end")
    }

    /// Fills the blocks made by [`Lower::target`] (the frontend wants a block finished
    /// before it switches to another).
    fn flush_pending(&mut self) {
        for p in std::mem::take(&mut self.pending) {
            match p {
                Pending::Halt(block, h) => {
                    self.b.switch_to_block(block);
                    self.halt(h);
                }
            }
        }
    }

    /// Fills the shared blocks: the failure exit records the failure in the context block and
    /// returns [`STATUS_ERROR`]; the successful end writes back the final stack height, the
    /// gas left and the register slots, and returns [`STATUS_OK`].
    fn finish_exits(&mut self) {
        for exit in std::mem::take(&mut self.exits) {
            self.finish_exit(exit);
        }
        for done in std::mem::take(&mut self.dones) {
            self.finish_done(done);
        }
    }

    /// Fills the failure exit `exit` (see [`Lower::finish_exits`]).
    fn finish_exit(&mut self, exit: Block) {
        let flags = MemFlags::trusted();
        let ctx = self.ctx;
        self.b.switch_to_block(exit);
        let params = self.b.block_params(exit).to_vec();
        let (packed, a, b, g) = (params[0], params[1], params[2], params[3]);
        self.b.ins().store(flags, g, ctx, off::GAS_LEFT);
        let at = self.b.ins().ireduce(types::I32, packed);
        self.b.ins().store(flags, at, ctx, off::ERR_PC);
        let code = self.b.ins().ushr_imm(packed, 32);
        let code = self.b.ins().ireduce(types::I32, code);
        self.b.ins().store(flags, code, ctx, off::ERR_CODE);
        self.b.ins().store(flags, a, ctx, off::ERR_A);
        self.b.ins().store(flags, b, ctx, off::ERR_B);
        self.write_stats();
        let status = self.b.ins().iconst(types::I32, i64::from(STATUS_ERROR));
        self.b.ins().return_(&[status]);
    }

    /// Fills the successful end `done` (see [`Lower::finish_exits`]).
    fn finish_done(&mut self, done: Block) {
        let flags = MemFlags::trusted();
        let ctx = self.ctx;
        self.b.switch_to_block(done);
        let sp = self.b.block_params(done)[0];
        self.b.ins().store(flags, sp, ctx, off::SP);
        let g = self.b.use_var(self.gas);
        self.b.ins().store(flags, g, ctx, off::GAS_LEFT);
        let vars: Vec<(usize, SlotVar)> = self
            .slot_vars
            .iter()
            .enumerate()
            .filter_map(|(slot, v)| v.map(|v| (slot, v)))
            .collect();
        // A slot's presence changes only through `store_new`, which wrote the memory's cell:
        // only the value goes back, and only into a cell that holds one (an empty slot's
        // register goes to the sink), without a branch.
        if !vars.is_empty() {
            let cells = self.slot_cells();
            let sink = self.b.ins().iadd_imm(ctx, i64::from(off::SINK));
            for (slot, v) in vars {
                let value = self.b.use_var(v.value);
                let present = self.b.use_var(v.present);
                let (base, at) = memory::slot_field_at(&mut self.b, cells, slot as u32, 0);
                let cell = self.b.ins().iadd_imm(base, i64::from(at + INT_CELL_VALUE));
                let to = self.b.ins().select(present, cell, sink);
                // No alias region: the store may go to the context block.
                self.b.ins().store(flags, value, to, 0);
            }
        }
        self.write_stats();
        let ok = self.b.ins().iconst(types::I32, i64::from(STATUS_OK));
        self.b.ins().return_(&[ok]);
    }
}
