//! The contract's memory. Static keys kept in registers ([`super::MAX_SLOT_VARS`] of them, the
//! most used) are variables: loaded when the run starts, written back when it succeeds; a
//! `load` or `store` of a key the presence analysis proves present is a plain register move,
//! any other tests the key's presence flag, itself a register. Other static keys are read and
//! written in the context block's slots. Creating a key and every dynamic access go through
//! trampolines into `coopvm_core::memory::Memory` (which counts keys against the limit). Every access to the
//! transient memory (`tstore`/`tload`) goes through a trampoline too.

use super::{Arg, Lower};
use crate::rt::{off, Exit};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, MemFlags, Value};

impl Lower<'_, '_> {
    /// `store K` (slot `slot`) at `pc`, frame height `h`. A slot that holds a value is
    /// written in place; creating a key goes through memory.
    pub(super) fn store(&mut self, pc: u32, slot: u32, h: u32) {
        let flags = MemFlags::trusted();
        let v = self.get(h - 1);
        let var = self.slot_vars.get(slot as usize).copied().flatten();
        if self.presence.proven(pc) {
            match var {
                Some(var) => self.b.def_var(var.value, v),
                None => {
                    let base = self.ctx_ptr(off::SLOTS);
                    self.b.ins().store(flags, v, base, (slot * 8) as i32);
                }
            }
            return;
        }
        let flag = match var {
            Some(var) => self.b.use_var(var.present),
            None => {
                let base = self.ctx_ptr(off::PRESENT);
                self.b.ins().load(types::I8, flags, base, slot as i32)
            }
        };
        self.flush();
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        self.b.set_cold_block(slow);
        let cont = self.b.create_block();
        self.b.ins().brif(flag, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        self.b.seal_block(fast);
        if var.is_none() {
            let base = self.ctx_ptr(off::SLOTS);
            self.b.ins().store(flags, v, base, (slot * 8) as i32);
        }
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(slow);
        self.b.seal_block(slow);
        self.store_new(pc, slot, v);
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
        if let Some(var) = var {
            self.b.def_var(var.value, v);
            let one = self.b.ins().iconst(types::I8, 1);
            self.b.def_var(var.present, one);
        }
    }

    /// Creates static key `slot` with value `v` through memory (which may refuse it).
    fn store_new(&mut self, pc: u32, slot: u32, v: Value) {
        let ctx = self.ctx;
        let s = self.b.ins().iconst(types::I32, i64::from(slot));
        let status = self.trampoline(off::STORE_NEW, self.sigs.store_new, &[ctx, s, v])[0];
        self.fail_if(status, Exit::Trampoline, pc, None, None);
        self.flush();
    }

    /// `load K` (slot `slot`) at `pc`, frame height `h`; an empty slot exits with the
    /// memory's error.
    pub(super) fn load(&mut self, pc: u32, slot: u32, h: u32) {
        let flags = MemFlags::trusted();
        let var = self.slot_vars.get(slot as usize).copied().flatten();
        let proven = self.presence.proven(pc);
        if !proven {
            let flag = match var {
                Some(var) => self.b.use_var(var.present),
                None => {
                    let base = self.ctx_ptr(off::PRESENT);
                    self.b.ins().load(types::I8, flags, base, slot as i32)
                }
            };
            let missing = self.b.ins().icmp_imm(IntCC::Equal, flag, 0);
            let s = Some(Arg::Const(i64::from(slot)));
            self.fail_if(missing, Exit::LoadMissing, pc, s, None);
        }
        let v = match var {
            Some(var) => self.b.use_var(var.value),
            None => {
                let base = self.ctx_ptr(off::SLOTS);
                self.b
                    .ins()
                    .load(types::I64, flags, base, (slot * 8) as i32)
            }
        };
        self.set(h, v);
    }

    /// `store` with the key on the stack, at `pc`, frame height `h`.
    pub(super) fn store_dyn(&mut self, pc: u32, h: u32) {
        let ctx = self.ctx;
        let key = self.get(h - 1);
        let v = self.get(h - 2);
        let status = self.trampoline(off::STORE_DYN, self.sigs.store_dyn, &[ctx, key, v])[0];
        self.fail_if(status, Exit::Trampoline, pc, None, None);
    }

    /// `load` with the key on the stack, at `pc`, frame height `h`.
    pub(super) fn load_dyn(&mut self, pc: u32, h: u32) {
        let ctx = self.ctx;
        let key = self.get(h - 1);
        let r = self.trampoline(off::LOAD_DYN, self.sigs.load_dyn, &[ctx, key]);
        self.check_pair(r[1], pc);
        self.set(h - 1, r[0]);
    }

    /// `tstore` at `pc`, frame height `h`: static slot `slot`, or (`None`) the key on the
    /// stack; through the trampoline into the transient memory.
    pub(super) fn tstore(&mut self, pc: u32, slot: Option<u32>, h: u32) {
        let ctx = self.ctx;
        let (dynamic, key, v) = match slot {
            Some(slot) => {
                let key = self.b.ins().iconst(types::I64, i64::from(slot));
                (0, key, self.get(h - 1))
            }
            None => (1, self.get(h - 1), self.get(h - 2)),
        };
        let d = self.b.ins().iconst(types::I32, dynamic);
        let status = self.trampoline(off::TSTORE, self.sigs.tstore, &[ctx, d, key, v])[0];
        self.fail_if(status, Exit::Trampoline, pc, None, None);
    }

    /// `tload` at `pc`, frame height `h`: static slot `slot`, or (`None`) the key on the
    /// stack; through the trampoline into the transient memory.
    pub(super) fn tload(&mut self, pc: u32, slot: Option<u32>, h: u32) {
        let ctx = self.ctx;
        let (dynamic, key, at) = match slot {
            Some(slot) => (0, self.b.ins().iconst(types::I64, i64::from(slot)), h),
            None => (1, self.get(h - 1), h - 1),
        };
        let d = self.b.ins().iconst(types::I32, dynamic);
        let r = self.trampoline(off::TLOAD, self.sigs.tload, &[ctx, d, key]);
        self.check_pair(r[1], pc);
        self.set(at, r[0]);
    }
}
