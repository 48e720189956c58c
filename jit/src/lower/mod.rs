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
//! - Host opcodes and memory accesses that may fail call `extern "C"` trampolines through
//!   function pointers in the context block; no symbol or relocation is involved, so the same
//!   lowering compiles for any 64-bit target ISA ([`host`], [`memory`]).
//! - Every failure jumps to a cold exit block that records an exit code, the instruction
//!   index and the operands in the context block and returns [`STATUS_ERROR`].
//!
//! This module drives the lowering (setup, basic blocks, one exhaustive match over the pure
//! opcodes) and holds what every part shares: the stack variables, branches, exits and
//! halting. [`arith`] lowers arithmetic, comparison and logic.

mod arith;
mod control;
mod gas;
mod host;
mod memory;

use crate::rt::{off, Exit, STATUS_ERROR, STATUS_OK};
use crate::JitError;
use arith::{Checked, Division, Logic};
use control::Site;
use coopvm_core::isa::{OpKind, PureOp};
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

/// Lowers `verified` into `func`, whose signature must be [`signature`]'s. With `stats`,
/// every block entry also updates the statistics fields of the context block (see
/// [`Lower::count_entry`]).
pub(crate) fn lower(
    verified: &Verified,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    stats: bool,
) -> Result<(), JitError> {
    let ptr = check(verified, func)?;
    let mut l = Lower::new(verified, FunctionBuilder::new(func, fctx), ptr, stats)?;
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
    l.flush();
    l.b.seal_all_blocks();
    l.b.finalize();
    Ok(())
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
    host: SigRef,
    store_new: SigRef,
    store_dyn: SigRef,
    load_dyn: SigRef,
    grow: SigRef,
    tstore: SigRef,
    tload: SigRef,
}

/// The first variable of the value stack (heights); those below hold the registers.
const FIRST_HEIGHT_VAR: usize = 5;

/// The lowering of one contract in progress.
struct Lower<'a, 'f> {
    b: FunctionBuilder<'f>,
    verified: &'a Verified,
    a: &'a Analysis,
    code: &'a [Insn],
    ctx: Value,
    stack: Value,
    slots: Value,
    present: Value,
    gas: Variable,
    base: Variable,
    depth: Variable,
    rets: Variable,
    ret_cap: Variable,
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
}

/// A block to fill once the current one is finished.
enum Pending {
    /// Ends the run with frame height `h`.
    Halt(Block, u32),
    /// Fails the run.
    Exit {
        block: Block,
        exit: Exit,
        pc: u32,
        a: Option<Value>,
        b: Option<Value>,
    },
}

impl<'a, 'f> Lower<'a, 'f> {
    /// Starts the function: the entry block loads the context block's pointers and
    /// initializes the registers; every basic block and return site gets its block.
    fn new(
        verified: &'a Verified,
        mut b: FunctionBuilder<'f>,
        ptr: Type,
        stats: bool,
    ) -> Result<Self, JitError> {
        let a = verified.analysis();
        let sigs = host::signatures(&mut b, ptr);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let ctx = b.block_params(entry)[0];
        let flags = MemFlags::trusted();
        let stack = b.ins().load(ptr, flags, ctx, off::STACK);
        let slots = b.ins().load(ptr, flags, ctx, off::SLOTS);
        let present = b.ins().load(ptr, flags, ctx, off::PRESENT);
        let counts = stats.then(|| b.ins().load(ptr, flags, ctx, off::COUNTS));

        let [gas, base, depth, rets, ret_cap] = [0, 1, 2, 3, 4].map(Variable::new);
        for v in [gas, base, depth, rets, ret_cap] {
            b.declare_var(v, types::I64);
        }
        let max_height = a.funcs.iter().map(|f| f.max_height).max().unwrap_or(0);
        for h in 0..max_height {
            b.declare_var(Self::var(h), types::I64);
        }
        // Statistics live in variables (registers) while the code runs and go to the context
        // block on every exit.
        let stat_vars =
            stats.then(|| StatVars::declare(&mut b, FIRST_HEIGHT_VAR + max_height as usize));
        let g = b.ins().load(types::I64, flags, ctx, off::GAS_LEFT);
        b.def_var(gas, g);
        let zero = b.ins().iconst(types::I64, 0);
        b.def_var(base, zero);
        b.def_var(depth, zero);
        if let Some(vars) = &stat_vars {
            vars.init(&mut b);
        }
        // Main's inputs (`.params N`, its frame heights 0..N) start in the in-memory stack.
        if let Some(main) = a.funcs.first() {
            for h in 0..main.params {
                let v = b.ins().load(types::I64, flags, stack, (h * 8) as i32);
                b.def_var(Self::var(h), v);
            }
        }
        let r = b.ins().load(ptr, flags, ctx, off::RETS);
        b.def_var(rets, r);
        let rc = b.ins().load(types::I64, flags, ctx, off::RET_CAP);
        b.def_var(ret_cap, rc);

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
            ctx,
            stack,
            slots,
            present,
            gas,
            base,
            depth,
            rets,
            ret_cap,
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

    /// `stack + base * 8`: the address of the current frame's first value.
    fn frame_ptr(&mut self) -> Value {
        let bs = self.b.use_var(self.base);
        let bytes = self.b.ins().ishl_imm(bs, 3);
        self.b.ins().iadd(self.stack, bytes)
    }

    /// Writes the current frame's values `0..h` to the in-memory stack.
    fn spill(&mut self, h: u32) {
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
        let flags = MemFlags::trusted();
        self.spill(h);
        let bs = self.b.use_var(self.base);
        let sp = self.b.ins().iadd_imm(bs, i64::from(h));
        self.b.ins().store(flags, sp, self.ctx, off::SP);
        let g = self.b.use_var(self.gas);
        self.b.ins().store(flags, g, self.ctx, off::GAS_LEFT);
        self.write_stats();
        let ok = self.b.ins().iconst(types::I32, i64::from(STATUS_OK));
        self.b.ins().return_(&[ok]);
    }

    /// A cold block that fails the run with `exit` at `pc`, recording `a` and `b`.
    fn exit_block(&mut self, exit: Exit, pc: u32, a: Option<Value>, b: Option<Value>) -> Block {
        let block = self.b.create_block();
        self.b.set_cold_block(block);
        self.pending.push(Pending::Exit {
            block,
            exit,
            pc,
            a,
            b,
        });
        block
    }

    /// Branches to a failure exit when `cond` is non-zero; continues in a new block.
    fn fail_if(&mut self, cond: Value, exit: Exit, pc: u32, a: Option<Value>, b: Option<Value>) {
        let fail = self.exit_block(exit, pc, a, b);
        let cont = self.b.create_block();
        self.b.ins().brif(cond, fail, &[], cont, &[]);
        self.b.switch_to_block(cont);
    }

    /// Fills the blocks made by [`Lower::target`] and [`Lower::exit_block`] (the frontend
    /// wants a block finished before it switches to another).
    fn flush(&mut self) {
        for p in std::mem::take(&mut self.pending) {
            match p {
                Pending::Halt(block, h) => {
                    self.b.switch_to_block(block);
                    self.halt(h);
                }
                Pending::Exit {
                    block,
                    exit,
                    pc,
                    a,
                    b,
                } => self.exit(block, exit, pc, a, b),
            }
        }
    }

    /// Fills the exit `block`: records the failure in the context block and returns
    /// [`STATUS_ERROR`].
    fn exit(&mut self, block: Block, exit: Exit, pc: u32, a: Option<Value>, b: Option<Value>) {
        let flags = MemFlags::trusted();
        self.b.switch_to_block(block);
        self.b.set_srcloc(SourceLoc::new(pc));
        let g = self.b.use_var(self.gas);
        self.b.ins().store(flags, g, self.ctx, off::GAS_LEFT);
        let code = self.b.ins().iconst(types::I32, exit as i64);
        self.b.ins().store(flags, code, self.ctx, off::ERR_CODE);
        let at = self.b.ins().iconst(types::I32, i64::from(pc));
        self.b.ins().store(flags, at, self.ctx, off::ERR_PC);
        if let Some(a) = a {
            self.b.ins().store(flags, a, self.ctx, off::ERR_A);
        }
        if let Some(b) = b {
            self.b.ins().store(flags, b, self.ctx, off::ERR_B);
        }
        self.write_stats();
        let status = self.b.ins().iconst(types::I32, i64::from(STATUS_ERROR));
        self.b.ins().return_(&[status]);
    }
}
