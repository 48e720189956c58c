//! Control flow: conditional jumps, `call` on the explicit call stack, `return` through a
//! `br_table` over the callee's return sites, and the return sites themselves (see the
//! module docs of [`super`]).

use super::{Arg, Lower};
use crate::rt::{off, Exit, Fixed, PREALLOC_RETS};
use crate::JitError;
use coopvm_core::isa::Op;
use coopvm_core::verify::{Analysis, NONE};
use coopvm_core::Insn;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, Block, BlockCall, InstBuilder, JumpTableData, MemFlags};
use cranelift_codegen::ir::{SourceLoc, Value};
use cranelift_frontend::FunctionBuilder;

/// Callees with at most this many return sites dispatch their `return` with a chain of
/// compare-and-branch, more with a jump table.
const MAX_COMPARE_SITES: usize = 4;

/// A call site: where control resumes when the callee returns.
pub(super) struct Site {
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

/// Per callee, the return sites of the reachable calls of it that return (with a block
/// each); and per instruction, the callee and site index of a `call` there.
pub(super) type Sites = (Vec<Vec<Site>>, Vec<(u32, u32)>);

/// The return sites of `code` (see [`Sites`]).
pub(super) fn sites(
    b: &mut FunctionBuilder<'_>,
    a: &Analysis,
    code: &[Insn],
) -> Result<Sites, JitError> {
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
    Ok((sites, site_of))
}

impl Lower<'_, '_> {
    /// `jumpif` at `pc` to `target`, frame height `h`.
    pub(super) fn jump_if(&mut self, pc: u32, target: u32, h: u32) -> Result<(), JitError> {
        self.flush();
        let mut c = self.get(h - 1);
        // `x % 2^k` is non-zero exactly when `x`'s low `k` bits are (whatever its sign).
        if let Some((r, low)) = self.truth {
            if r == c {
                c = low;
            }
        }
        let then = self.target(target, h - 1)?;
        let other = self.target(pc + 1, h - 1)?;
        self.b.ins().brif(c, then, &[], other, &[]);
        Ok(())
    }

    /// `return` at `pc`, frame height `h`: to the caller's return site, or the end of the run.
    pub(super) fn ret(&mut self, pc: u32, h: u32) {
        self.flush();
        let f = self.a.func_of[pc as usize];
        match self.dispatch.get(f as usize).copied().flatten() {
            None => self.halt(h),
            Some(d) if f == 0 => {
                // Main may have been called (recursion into main): with no caller its
                // `return` ends the run.
                let dep = self.b.use_var(self.depth);
                let halt = self.b.create_block();
                self.b.ins().brif(dep, d, &[], halt, &[]);
                self.b.switch_to_block(halt);
                self.halt(h);
            }
            Some(d) => {
                self.b.ins().jump(d, &[]);
            }
        }
    }

    /// `call` at `pc` with frame height `h`.
    pub(super) fn call(&mut self, pc: u32, h: u32) -> Result<(), JitError> {
        let (callee, index) = self.site_of[pc as usize];
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
        self.fail_if(
            no_room,
            Exit::StackRoom,
            pc,
            Some(Arg::Val(new_base)),
            Some(Arg::Const(i64::from(f.max_height))),
        );
        // 3. The caller's frame below the arguments goes to memory (callees, recursion
        //    included, reuse the variables). The arguments need not: they become the
        //    callee's frame, which the callee writes at the same place if it halts.
        self.spill(below);
        // 4. Push the return site (growing the return stack first if it can be full); a
        //    callee with one return site needs none.
        self.flush();
        if self.sites[callee as usize].len() > 1 {
            if self.limits.call_depth > PREALLOC_RETS {
                self.grow_rets(pc, dep);
            }
            let r = self.ctx_ptr(off::RETS);
            let at = self.b.ins().ishl_imm(dep, 2);
            let at = self.b.ins().iadd(r, at);
            let idx = self.b.ins().iconst(types::I32, i64::from(index));
            self.b.ins().store(flags, idx, at, 0);
        }
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

    /// Grows the return stack (through a trampoline) when `depth` calls fill it.
    fn grow_rets(&mut self, pc: u32, depth: Value) {
        let flags = MemFlags::trusted();
        let cap = self.b.ins().load(types::I64, flags, self.ctx, off::RET_CAP);
        let full = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, depth, cap);
        let grow = self.b.create_block();
        self.b.set_cold_block(grow);
        let push = self.b.create_block();
        // The hot successor first (see `Lower::flush`).
        let room = self.negate(full);
        self.b.ins().brif(room, push, &[], grow, &[]);
        self.b.switch_to_block(grow);
        let ctx = self.ctx;
        let status = self.trampoline(Fixed::GrowRets, self.sigs.grow, &[ctx])[0];
        self.fail_if(status, Exit::Trampoline, pc, None, None);
        self.flush();
        self.b.ins().jump(push, &[]);
        self.b.switch_to_block(push);
    }

    /// The return dispatch of every callee that returns (pop the return-site index and
    /// `br_table` to the site), and the return sites: reload the caller's frame below the
    /// call's arguments, rename the results on top, and continue after the `call`.
    pub(super) fn return_sites(&mut self) -> Result<(), JitError> {
        let sites = std::mem::take(&mut self.sites);
        for (f, list) in sites.iter().enumerate() {
            let Some(d) = self.dispatch[f] else { continue };
            self.b.switch_to_block(d);
            self.return_dispatch(list);
            for s in list {
                self.return_site(s)?;
            }
        }
        Ok(())
    }

    /// The dispatch over `list`, the callee's return sites, in the current block.
    fn return_dispatch(&mut self, list: &[Site]) {
        let flags = MemFlags::trusted();
        let dep = self.b.use_var(self.depth);
        let dep = self.b.ins().iadd_imm(dep, -1);
        self.b.def_var(self.depth, dep);
        if let [only] = list {
            // One return site: the call pushed no index.
            self.b.ins().jump(only.block, &[]);
            return;
        }
        let r = self.ctx_ptr(off::RETS);
        let at = self.b.ins().ishl_imm(dep, 2);
        let at = self.b.ins().iadd(r, at);
        let index = self.b.ins().load(types::I32, flags, at, 0);
        if list.len() <= MAX_COMPARE_SITES {
            // A few sites: a chain of compare-and-branch is fewer instructions than a jump
            // table (bounds check, table load, indirect jump). The last site needs no test.
            for (i, s) in list[..list.len() - 1].iter().enumerate() {
                let next = self.b.create_block();
                let here = self.b.ins().icmp_imm(IntCC::Equal, index, i as i64);
                self.b.ins().brif(here, s.block, &[], next, &[]);
                self.b.switch_to_block(next);
                self.b.seal_block(next);
            }
            let last = list.last().expect("two sites or more");
            self.b.ins().jump(last.block, &[]);
            return;
        }
        // Only this lowering writes the indices, all in range: the default is never taken.
        let pool = &mut self.b.func.dfg.value_lists;
        let default = BlockCall::new(list[0].block, std::iter::empty(), pool);
        let table: Vec<BlockCall> = list
            .iter()
            .map(|s| BlockCall::new(s.block, std::iter::empty(), pool))
            .collect();
        let jt = self
            .b
            .create_jump_table(JumpTableData::new(default, &table));
        self.b.ins().br_table(index, jt);
    }

    /// The return site `s`.
    fn return_site(&mut self, s: &Site) -> Result<(), JitError> {
        let flags = MemFlags::trusted();
        self.b.switch_to_block(s.block);
        self.b.set_srcloc(SourceLoc::new(s.pc));
        let below = s.height - s.params;
        let results: Vec<Value> = (0..s.results).map(|j| self.get(j)).collect();
        let bs = self.b.use_var(self.base);
        let bs = self.b.ins().iadd_imm(bs, -i64::from(below));
        self.b.def_var(self.base, bs);
        let fp = self.frame_ptr();
        for i in 0..below {
            let v = self.b.ins().load(types::I64, flags, fp, (i * 8) as i32);
            self.set(i, v);
        }
        for (j, v) in results.into_iter().enumerate() {
            self.set(below + j as u32, v);
        }
        self.goto(s.pc + 1, below + s.results)
    }
}
