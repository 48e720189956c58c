//! Lowering of verified IR to one Cranelift function per contract.
//!
//! The whole contract (every subroutine) becomes one native function
//! `fn(ctx: *mut Ctx) -> u32`:
//!
//! - Every basic block of the verifier's [`Analysis`] becomes a Cranelift block that starts
//!   with the block's gas charge (`gas < cost` -> `out_of_gas` exit), so gas is charged at
//!   exactly the interpreter's boundaries and amounts.
//! - The value stack lives in Cranelift variables indexed by the frame-relative height the
//!   verifier fixed for every instruction; SSA construction turns them into registers.
//! - `call` is an explicit call stack: the caller's frame is written to the in-memory value
//!   stack at its absolute position (`base + i`), the index of the return site is pushed on a
//!   return stack, and control jumps to the callee's entry block with the arguments renamed
//!   to the callee's heights `0..params`. `return` pops the return-site index and dispatches
//!   with a `br_table` to the site, which reloads the caller's frame and renames the results.
//!   Recursion thus needs no native stack, and a `halt` deep in a subroutine finds every
//!   caller's values already in memory, so the reported stack is the interpreter's.
//! - Host opcodes and memory accesses that may fail call `extern "C"` trampolines through
//!   function pointers in the context block; no symbol or relocation is involved, so the same
//!   lowering compiles for any 64-bit target ISA.
//! - Every failure jumps to a cold exit block that records an exit code, the instruction
//!   index and the operands in the context block and returns [`STATUS_ERROR`].

use crate::rt::{off, Exit, MAX_HOST_ARGS, PREALLOC_RETS, STATUS_ERROR, STATUS_OK};
use crate::JitError;
use coopvm_core::isa::Op;
use coopvm_core::verify::{Analysis, Verified, NONE};
use coopvm_core::Limits;
use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, Block, BlockCall, Function, InstBuilder, JumpTableData, MemFlags, SigRef,
    Signature, SourceLoc, Type, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

/// The native function's signature: `fn(ctx: *mut Ctx) -> u32`.
pub(crate) fn signature(call_conv: CallConv, ptr: Type) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.push(AbiParam::new(ptr));
    s.returns.push(AbiParam::new(types::I32));
    s
}

/// A call site: where control resumes when the callee returns.
struct Site {
    /// The `call` instruction.
    pc: u32,
    /// Caller's frame height before the call.
    height: u32,
    /// Callee's params and results.
    params: u32,
    results: u32,
    /// The Cranelift block that resumes the caller.
    block: Block,
}

struct Sigs {
    host: SigRef,
    store_new: SigRef,
    store_dyn: SigRef,
    load_dyn: SigRef,
    grow: SigRef,
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
    let a = verified.analysis();
    let code = &verified.contract().program.code;
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
    for insn in code {
        if insn.op.is_host() && usize::from(insn.op.info().pops) > MAX_HOST_ARGS {
            return Err(JitError::Unsupported(format!(
                "`{}` takes more than {MAX_HOST_ARGS} arguments",
                insn.op
            )));
        }
    }
    let call_conv = func.signature.call_conv;
    let mut b = FunctionBuilder::new(func, fctx);
    let sigs = Sigs {
        host: b.import_signature(tramp_sig(call_conv, &[ptr, types::I32, types::I32])),
        store_new: b.import_signature(tramp_sig(
            call_conv,
            &[ptr, types::I32, types::I64, types::I32],
        )),
        store_dyn: b.import_signature(tramp_sig(
            call_conv,
            &[ptr, types::I64, types::I64, types::I32],
        )),
        load_dyn: b.import_signature(tramp_sig(call_conv, &[ptr, types::I64, types::I32])),
        grow: b.import_signature(tramp_sig(call_conv, &[ptr])),
    };

    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let ctx = b.block_params(entry)[0];
    let flags = MemFlags::trusted();
    let stack = b.ins().load(ptr, flags, ctx, off::STACK);
    let slots = b.ins().load(ptr, flags, ctx, off::SLOTS);
    let present = b.ins().load(ptr, flags, ctx, off::PRESENT);
    let counts = stats.then(|| b.ins().load(ptr, flags, ctx, off::COUNTS));

    let gas = Variable::new(0);
    let base = Variable::new(1);
    let depth = Variable::new(2);
    let rets = Variable::new(3);
    let ret_cap = Variable::new(4);
    for v in [gas, base, depth, rets, ret_cap] {
        b.declare_var(v, types::I64);
    }
    for h in 0..max_height {
        b.declare_var(Variable::new(5 + h as usize), types::I64);
    }
    // Statistics live in variables (registers) while the code runs and go to the context
    // block on every exit.
    let stat_vars = stats.then(|| {
        let first = 5 + max_height as usize;
        let vars = StatVars {
            pending: Variable::new(first),
            peak: Variable::new(first + 1),
            last_block: Variable::new(first + 2),
            last_height: Variable::new(first + 3),
            last_depth: Variable::new(first + 4),
            peak_depth: Variable::new(first + 5),
        };
        for (v, _) in vars.with_offsets() {
            b.declare_var(v, types::I64);
        }
        vars
    });
    let g = b.ins().load(types::I64, flags, ctx, off::GAS_LEFT);
    b.def_var(gas, g);
    let zero = b.ins().iconst(types::I64, 0);
    b.def_var(base, zero);
    b.def_var(depth, zero);
    if let Some(vars) = &stat_vars {
        for ((v, _), init) in vars.with_offsets().into_iter().zip(StatVars::INITIAL) {
            let value = b.ins().iconst(types::I64, init);
            b.def_var(v, value);
        }
    }
    let r = b.ins().load(ptr, flags, ctx, off::RETS);
    b.def_var(rets, r);
    let rc = b.ins().load(types::I64, flags, ctx, off::RET_CAP);
    b.def_var(ret_cap, rc);

    let blocks: Vec<Block> = a.blocks.iter().map(|_| b.create_block()).collect();

    // Return sites, grouped by callee, and the dispatch block of every callee that returns.
    let mut sites: Vec<Vec<Site>> = a.funcs.iter().map(|_| Vec::new()).collect();
    let mut site_of = vec![(NONE, 0u32); code.len()];
    for (pc, insn) in code.iter().enumerate() {
        if insn.op != Op::Call || !a.reachable(pc as u32) {
            continue;
        }
        let callee = a
            .func_at(insn.arg as u32)
            .ok_or_else(|| JitError::Internal(format!("call at {pc} targets no subroutine")))?;
        let f = &a.funcs[callee as usize];
        let Some(results) = f.results else {
            site_of[pc] = (callee, 0);
            continue;
        };
        let list = &mut sites[callee as usize];
        site_of[pc] = (callee, list.len() as u32);
        list.push(Site {
            pc: pc as u32,
            height: a.height[pc],
            params: f.params,
            results,
            block: b.create_block(),
        });
    }
    let dispatch: Vec<Option<Block>> = sites
        .iter()
        .map(|s| (!s.is_empty()).then(|| b.create_block()))
        .collect();

    let mut l = Lower {
        b,
        a,
        len: code.len() as u32,
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
        counts,
        stat_vars,
    };

    // Enter main.
    match l.block_for(0) {
        Some(first) => {
            l.b.ins().jump(first, &[]);
        }
        None => l.halt(0),
    }

    for (bi, block) in a.blocks.iter().enumerate() {
        l.b.switch_to_block(l.blocks[bi]);
        l.b.set_srcloc(SourceLoc::new(block.start));
        // Gas, once per block, on entry.
        let g = l.b.use_var(gas);
        let cost = i64::try_from(block.gas)
            .map_err(|_| JitError::Unsupported("a block costs more than i64::MAX gas".into()))?;
        let enough =
            l.b.ins()
                .icmp_imm(IntCC::UnsignedGreaterThanOrEqual, g, cost);
        let body = l.b.create_block();
        let oog = l.exit_block(Exit::OutOfGas, block.start, None, None);
        l.b.ins().brif(enough, body, &[], oog, &[]);
        l.b.switch_to_block(body);
        let left = l.b.ins().iadd_imm(g, -cost);
        l.b.def_var(gas, left);
        if let Some(counts) = l.counts {
            let rise = coopvm_core::stats::block_rise(verified, bi);
            l.count_entry(counts, bi, a.height[block.start as usize], rise);
        }

        let mut ended = false;
        let mut h = a.height[block.start as usize];
        for pc in block.start..block.end {
            let insn = code[pc as usize];
            l.b.set_srcloc(SourceLoc::new(pc));
            h = a.height[pc as usize];
            let info = insn.op.info();
            match insn.op {
                Op::Jump => {
                    l.goto(insn.arg as u32, h)?;
                    ended = true;
                }
                Op::JumpIf => {
                    let c = l.get(h - 1);
                    let then = l.target(insn.arg as u32, h - 1)?;
                    let other = l.target(pc + 1, h - 1)?;
                    l.b.ins().brif(c, then, &[], other, &[]);
                    ended = true;
                }
                Op::Call => {
                    let (callee, index) = site_of[pc as usize];
                    l.call(pc, h, callee, index)?;
                    ended = true;
                }
                Op::Return => {
                    let f = a.func_of[pc as usize];
                    match dispatch.get(f as usize).copied().flatten() {
                        None => l.halt(h),
                        Some(d) if f == 0 => {
                            // Main may have been called (recursion into main): with no caller
                            // its `return` ends the run.
                            let dep = l.b.use_var(depth);
                            let halt = l.b.create_block();
                            l.b.ins().brif(dep, d, &[], halt, &[]);
                            l.b.switch_to_block(halt);
                            l.halt(h);
                        }
                        Some(d) => {
                            l.b.ins().jump(d, &[]);
                        }
                    }
                    ended = true;
                }
                Op::Halt => {
                    l.halt(h);
                    ended = true;
                }
                _ => l.simple(pc, insn.op, insn.arg, h)?,
            }
            if !ended {
                h = h + u32::from(info.pushes) - u32::from(info.pops);
            }
        }
        if !ended {
            // Falls through into the next block (or off the end of the code).
            l.goto(block.end, h)?;
        }
    }

    // Return dispatch and return sites.
    for (f, list) in sites.iter().enumerate() {
        let Some(d) = dispatch[f] else { continue };
        l.b.switch_to_block(d);
        let dep = l.b.use_var(depth);
        let dep = l.b.ins().iadd_imm(dep, -1);
        l.b.def_var(depth, dep);
        let r = l.b.use_var(rets);
        let at = l.b.ins().ishl_imm(dep, 2);
        let at = l.b.ins().iadd(r, at);
        let index = l.b.ins().load(types::I32, flags, at, 0);
        let bad = l.exit_block(Exit::Internal, list[0].pc, None, None);
        let pool = &mut l.b.func.dfg.value_lists;
        let default = BlockCall::new(bad, std::iter::empty(), pool);
        let table: Vec<BlockCall> = list
            .iter()
            .map(|s| BlockCall::new(s.block, std::iter::empty(), pool))
            .collect();
        let jt = l.b.create_jump_table(JumpTableData::new(default, &table));
        l.b.ins().br_table(index, jt);
        for s in list {
            l.b.switch_to_block(s.block);
            l.b.set_srcloc(SourceLoc::new(s.pc));
            let below = s.height - s.params;
            let results: Vec<Value> = (0..s.results).map(|j| l.get(j)).collect();
            let bs = l.b.use_var(base);
            let bs = l.b.ins().iadd_imm(bs, -i64::from(below));
            l.b.def_var(base, bs);
            let fp = l.frame_ptr();
            for i in 0..below {
                let v = l.b.ins().load(types::I64, flags, fp, (i * 8) as i32);
                l.set(i, v);
            }
            for (j, v) in results.into_iter().enumerate() {
                l.set(below + j as u32, v);
            }
            l.goto(s.pc + 1, below + s.results)?;
        }
    }

    l.flush();
    l.b.seal_all_blocks();
    l.b.finalize();
    Ok(())
}

fn tramp_sig(call_conv: CallConv, params: &[Type]) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
    s.returns.push(AbiParam::new(types::I32));
    s
}

struct Lower<'a, 'f> {
    b: FunctionBuilder<'f>,
    a: &'a Analysis,
    len: u32,
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
    /// The per-block entry counters, when the code keeps statistics.
    counts: Option<Value>,
    /// The other statistics, when the code keeps them.
    stat_vars: Option<StatVars>,
}

/// The statistics native code keeps in variables (see [`Lower::count_entry`]).
struct StatVars {
    pending: Variable,
    peak: Variable,
    last_block: Variable,
    last_height: Variable,
    last_depth: Variable,
    peak_depth: Variable,
}

impl StatVars {
    /// Initial values, in the order of [`StatVars::with_offsets`] (`-1`: no block yet).
    const INITIAL: [i64; 6] = [0, 0, -1, 0, 0, 0];

    /// Every variable with the context-block field it is written to on exit.
    fn with_offsets(&self) -> [(Variable, i32); 6] {
        [
            (self.pending, off::ST_PENDING),
            (self.peak, off::ST_PEAK),
            (self.last_block, off::ST_LAST_BLOCK),
            (self.last_height, off::ST_LAST_HEIGHT),
            (self.last_depth, off::ST_LAST_DEPTH),
            (self.peak_depth, off::ST_PEAK_DEPTH),
        ]
    }
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

impl Lower<'_, '_> {
    fn var(h: u32) -> Variable {
        Variable::new(5 + h as usize)
    }

    fn get(&mut self, h: u32) -> Value {
        self.b.use_var(Self::var(h))
    }

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
        if pc != self.len {
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
            None if pc == self.len => self.halt(h),
            // Verified code reaches no other instruction without a block.
            None => {
                return Err(JitError::Internal(format!(
                    "control reaches instruction {pc}, which starts no block"
                )))
            }
        }
        Ok(())
    }

    /// Statistics at the entry of block `bi` (its gas charged), whose frame-relative entry
    /// height is `h` and which raises the stack by `rise` when it runs to its end: count the
    /// entry, fold the previous entry's candidate peak into the peak of completed entries,
    /// remember this entry (block, absolute height, call depth, candidate peak) and raise
    /// the peak call depth; exactly what `coopvm_core::stats::Tally::from_parts` expects.
    /// Only the counter is in memory; the rest lives in variables until an exit writes it
    /// out ([`Lower::write_stats`]).
    fn count_entry(&mut self, counts: Value, bi: usize, h: u32, rise: u32) {
        let flags = MemFlags::trusted();
        let at = self.b.ins().iadd_imm(counts, (bi as i64) * 8);
        let n = self.b.ins().load(types::I64, flags, at, 0);
        let n = self.b.ins().iadd_imm(n, 1);
        self.b.ins().store(flags, n, at, 0);
        let Some(v) = &self.stat_vars else { return };
        let (pending, peak, last_block, last_height, last_depth, peak_depth) = (
            v.pending,
            v.peak,
            v.last_block,
            v.last_height,
            v.last_depth,
            v.peak_depth,
        );
        let p = self.b.use_var(pending);
        let k = self.b.use_var(peak);
        let k = self.b.ins().umax(k, p);
        self.b.def_var(peak, k);
        let bs = self.b.use_var(self.base);
        let height = self.b.ins().iadd_imm(bs, i64::from(h));
        let candidate = self.b.ins().iadd_imm(height, i64::from(rise));
        self.b.def_var(pending, candidate);
        let block = self.b.ins().iconst(types::I64, bi as i64);
        self.b.def_var(last_block, block);
        self.b.def_var(last_height, height);
        let depth = self.b.use_var(self.depth);
        self.b.def_var(last_depth, depth);
        let d = self.b.use_var(peak_depth);
        let d = self.b.ins().umax(d, depth);
        self.b.def_var(peak_depth, d);
    }

    /// Writes the statistics variables to the context block (before every return).
    fn write_stats(&mut self) {
        let Some(v) = &self.stat_vars else { return };
        let flags = MemFlags::trusted();
        for (var, offset) in v.with_offsets() {
            let value = self.b.use_var(var);
            self.b.ins().store(flags, value, self.ctx, offset);
        }
    }

    /// `stack + base * 8`: the address of the current frame's first value.
    fn frame_ptr(&mut self) -> Value {
        let bs = self.b.use_var(self.base);
        let bytes = self.b.ins().ishl_imm(bs, 3);
        self.b.ins().iadd(self.stack, bytes)
    }

    /// Ends the run successfully with the current frame at height `h` on top of the
    /// callers' frames (already in memory).
    fn halt(&mut self, h: u32) {
        let flags = MemFlags::trusted();
        let fp = self.frame_ptr();
        for i in 0..h {
            let v = self.get(i);
            self.b.ins().store(flags, v, fp, (i * 8) as i32);
        }
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

    /// Fills the blocks made by [`Lower::target`] and [`Lower::exit_block`] (the frontend
    /// wants a block finished before it switches to another).
    fn flush(&mut self) {
        let flags = MemFlags::trusted();
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
                } => {
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
        }
    }

    /// Branches to a failure exit when `cond` is non-zero; continues in a new block.
    fn fail_if(&mut self, cond: Value, exit: Exit, pc: u32, a: Option<Value>, b: Option<Value>) {
        let fail = self.exit_block(exit, pc, a, b);
        let cont = self.b.create_block();
        self.b.ins().brif(cond, fail, &[], cont, &[]);
        self.b.switch_to_block(cont);
    }

    /// Calls a trampoline loaded from the context block at `offset`; a non-zero status fails
    /// the run with the trampoline's error.
    fn trampoline(&mut self, offset: i32, sig: SigRef, args: &[Value], pc: u32) {
        let flags = MemFlags::trusted();
        let f = self.b.ins().load(self.ptr, flags, self.ctx, offset);
        let call = self.b.ins().call_indirect(sig, f, args);
        let status = self.b.inst_results(call)[0];
        self.fail_if(status, Exit::Trampoline, pc, None, None);
    }

    /// `call` at `pc` with frame height `h`.
    fn call(&mut self, pc: u32, h: u32, callee: u32, index: u32) -> Result<(), JitError> {
        let flags = MemFlags::trusted();
        let f = self
            .a
            .funcs
            .get(callee as usize)
            .ok_or_else(|| JitError::Internal(format!("call at {pc} has no callee")))?
            .clone();
        let entry = self
            .block_for(f.entry)
            .ok_or_else(|| JitError::Internal(format!("callee at {} has no block", f.entry)))?;
        // 1. Call depth.
        let dep = self.b.use_var(self.depth);
        let depth_limit = i64::from(self.limits.call_depth);
        let too_deep = self
            .b
            .ins()
            .icmp_imm(IntCC::UnsignedGreaterThanOrEqual, dep, depth_limit);
        self.fail_if(too_deep, Exit::CallDepth, pc, None, None);
        // 2. Stack room for the callee's frame.
        let below = h - f.params;
        let bs = self.b.use_var(self.base);
        let new_base = self.b.ins().iadd_imm(bs, i64::from(below));
        let top = self.b.ins().iadd_imm(new_base, i64::from(f.max_height));
        let stack_limit = i64::from(self.limits.stack);
        let no_room = self
            .b
            .ins()
            .icmp_imm(IntCC::UnsignedGreaterThan, top, stack_limit);
        let m = self.b.ins().iconst(types::I64, i64::from(f.max_height));
        self.fail_if(no_room, Exit::StackRoom, pc, Some(new_base), Some(m));
        // 3. The caller's frame goes to memory (callees, recursion included, reuse the
        //    variables).
        let fp = self.frame_ptr();
        for i in 0..h {
            let v = self.get(i);
            self.b.ins().store(flags, v, fp, (i * 8) as i32);
        }
        // 4. Push the return site (growing the return stack first if it can be full).
        if self.limits.call_depth > PREALLOC_RETS {
            let cap = self.b.use_var(self.ret_cap);
            let full = self
                .b
                .ins()
                .icmp(IntCC::UnsignedGreaterThanOrEqual, dep, cap);
            let grow = self.b.create_block();
            self.b.set_cold_block(grow);
            let push = self.b.create_block();
            self.b.ins().brif(full, grow, &[], push, &[]);
            self.b.switch_to_block(grow);
            let ctx = self.ctx;
            self.trampoline(off::GROW_RETS, self.sigs.grow, &[ctx], pc);
            let r = self.b.ins().load(self.ptr, flags, ctx, off::RETS);
            self.b.def_var(self.rets, r);
            let c = self.b.ins().load(types::I64, flags, ctx, off::RET_CAP);
            self.b.def_var(self.ret_cap, c);
            self.b.ins().jump(push, &[]);
            self.b.switch_to_block(push);
        }
        let r = self.b.use_var(self.rets);
        let at = self.b.ins().ishl_imm(dep, 2);
        let at = self.b.ins().iadd(r, at);
        let idx = self.b.ins().iconst(types::I32, i64::from(index));
        self.b.ins().store(flags, idx, at, 0);
        let dep1 = self.b.ins().iadd_imm(dep, 1);
        self.b.def_var(self.depth, dep1);
        self.b.def_var(self.base, new_base);
        // 5. Arguments become the callee's heights 0..params.
        let args: Vec<Value> = (below..h).map(|i| self.get(i)).collect();
        for (i, v) in args.into_iter().enumerate() {
            self.set(i as u32, v);
        }
        self.b.ins().jump(entry, &[]);
        Ok(())
    }

    /// A checked binary operation: `(result, overflowed)` for `a op b`.
    fn binary(&mut self, pc: u32, op: Op, h: u32) {
        let a = self.get(h - 2);
        let b = self.get(h - 1);
        let v = match op {
            Op::Add | Op::Sub | Op::Mul => {
                let (v, of) = match op {
                    Op::Add => self.b.ins().sadd_overflow(a, b),
                    Op::Sub => self.b.ins().ssub_overflow(a, b),
                    _ => self.b.ins().smul_overflow(a, b),
                };
                self.fail_if(of, Exit::Overflow, pc, Some(a), Some(b));
                v
            }
            Op::Div | Op::Mod => {
                let zero = self.b.ins().icmp_imm(IntCC::Equal, b, 0);
                self.fail_if(zero, Exit::DivisionByZero, pc, Some(a), Some(b));
                let min = self.b.ins().icmp_imm(IntCC::Equal, a, i64::MIN);
                let neg1 = self.b.ins().icmp_imm(IntCC::Equal, b, -1);
                let of = self.b.ins().band(min, neg1);
                self.fail_if(of, Exit::Overflow, pc, Some(a), Some(b));
                if op == Op::Div {
                    self.b.ins().sdiv(a, b)
                } else {
                    self.b.ins().srem(a, b)
                }
            }
            Op::And | Op::Or => {
                let x = self.b.ins().icmp_imm(IntCC::NotEqual, a, 0);
                let y = self.b.ins().icmp_imm(IntCC::NotEqual, b, 0);
                let c = if op == Op::And {
                    self.b.ins().band(x, y)
                } else {
                    self.b.ins().bor(x, y)
                };
                self.b.ins().uextend(types::I64, c)
            }
            _ => {
                let cc = match op {
                    Op::Eq => IntCC::Equal,
                    Op::Ne => IntCC::NotEqual,
                    Op::Lt => IntCC::SignedLessThan,
                    Op::Le => IntCC::SignedLessThanOrEqual,
                    Op::Gt => IntCC::SignedGreaterThan,
                    _ => IntCC::SignedGreaterThanOrEqual,
                };
                let c = self.b.ins().icmp(cc, a, b);
                self.b.ins().uextend(types::I64, c)
            }
        };
        self.set(h - 2, v);
    }

    /// Every instruction that neither ends a block nor is a call, at frame height `h`.
    fn simple(&mut self, pc: u32, op: Op, arg: i64, h: u32) -> Result<(), JitError> {
        let flags = MemFlags::trusted();
        let ctx = self.ctx;
        match op {
            Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Div
            | Op::Mod
            | Op::Eq
            | Op::Ne
            | Op::Lt
            | Op::Le
            | Op::Gt
            | Op::Ge
            | Op::And
            | Op::Or => self.binary(pc, op, h),
            Op::Neg => {
                let a = self.get(h - 1);
                let min = self.b.ins().icmp_imm(IntCC::Equal, a, i64::MIN);
                self.fail_if(min, Exit::NegOverflow, pc, Some(a), None);
                let v = self.b.ins().ineg(a);
                self.set(h - 1, v);
            }
            Op::Not => {
                let a = self.get(h - 1);
                let c = self.b.ins().icmp_imm(IntCC::Equal, a, 0);
                let v = self.b.ins().uextend(types::I64, c);
                self.set(h - 1, v);
            }
            Op::Push | Op::PushStr => {
                let v = self.b.ins().iconst(types::I64, arg);
                self.set(h, v);
            }
            Op::Pop => {}
            Op::Dup => {
                let v = self.get(h - 1);
                self.set(h, v);
            }
            Op::Swap => {
                let x = self.get(h - 1);
                let y = self.get(h - 2);
                self.set(h - 1, y);
                self.set(h - 2, x);
            }
            Op::Store => {
                // A slot that holds a value is written in place; creating a key goes through
                // memory (which counts keys against the limit).
                let slot = arg as u32;
                let v = self.get(h - 1);
                let flag = self
                    .b
                    .ins()
                    .load(types::I8, flags, self.present, slot as i32);
                let fast = self.b.create_block();
                let slow = self.b.create_block();
                self.b.set_cold_block(slow);
                let cont = self.b.create_block();
                self.b.ins().brif(flag, fast, &[], slow, &[]);
                self.b.switch_to_block(fast);
                self.b.ins().store(flags, v, self.slots, (slot * 8) as i32);
                self.b.ins().jump(cont, &[]);
                self.b.switch_to_block(slow);
                let s = self.b.ins().iconst(types::I32, i64::from(slot));
                let p = self.b.ins().iconst(types::I32, i64::from(pc));
                self.trampoline(off::STORE_NEW, self.sigs.store_new, &[ctx, s, v, p], pc);
                self.b.ins().jump(cont, &[]);
                self.b.switch_to_block(cont);
            }
            Op::Load => {
                let slot = arg as u32;
                let flag = self
                    .b
                    .ins()
                    .load(types::I8, flags, self.present, slot as i32);
                let missing = self.b.ins().icmp_imm(IntCC::Equal, flag, 0);
                let s = self.b.ins().iconst(types::I64, i64::from(slot));
                self.fail_if(missing, Exit::LoadMissing, pc, Some(s), None);
                let v = self
                    .b
                    .ins()
                    .load(types::I64, flags, self.slots, (slot * 8) as i32);
                self.set(h, v);
            }
            Op::StoreDyn => {
                let key = self.get(h - 1);
                let v = self.get(h - 2);
                let p = self.b.ins().iconst(types::I32, i64::from(pc));
                self.trampoline(off::STORE_DYN, self.sigs.store_dyn, &[ctx, key, v, p], pc);
            }
            Op::LoadDyn => {
                let key = self.get(h - 1);
                let p = self.b.ins().iconst(types::I32, i64::from(pc));
                self.trampoline(off::LOAD_DYN, self.sigs.load_dyn, &[ctx, key, p], pc);
                let v = self.b.ins().load(types::I64, flags, ctx, off::ARGS);
                self.set(h - 1, v);
            }
            Op::Jump | Op::JumpIf | Op::Call | Op::Return | Op::Halt => {
                return Err(JitError::Internal(format!("`{op}` lowered as a simple op")));
            }
            op => {
                // Host opcode: arguments (deepest first) and gas go through the context block.
                let info = op.info();
                let pops = u32::from(info.pops);
                for i in 0..pops {
                    let v = self.get(h - pops + i);
                    self.b
                        .ins()
                        .store(flags, v, ctx, off::ARGS + (i * 8) as i32);
                }
                let g = self.b.use_var(self.gas);
                self.b.ins().store(flags, g, ctx, off::GAS_LEFT);
                let o = self.b.ins().iconst(types::I32, i64::from(op as u8));
                let p = self.b.ins().iconst(types::I32, i64::from(pc));
                self.trampoline(off::HOST, self.sigs.host, &[ctx, o, p], pc);
                let g = self.b.ins().load(types::I64, flags, ctx, off::GAS_LEFT);
                self.b.def_var(self.gas, g);
                if info.pushes == 1 {
                    let v = self.b.ins().load(types::I64, flags, ctx, off::ARGS);
                    self.set(h - pops, v);
                }
            }
        }
        Ok(())
    }
}
