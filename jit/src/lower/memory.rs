//! The contract's memory: static keys live in slots the native code reads and writes in
//! place; creating a key and every dynamic access go through trampolines into
//! `coopvm_core::memory::Memory` (which counts keys against the limit). Every access to the
//! transient memory (`tstore`/`tload`) goes through a trampoline too.

use super::Lower;
use crate::rt::{off, Exit};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, MemFlags};

impl Lower<'_, '_> {
    /// `store K` (slot `slot`) at `pc`, frame height `h`. A slot that holds a value is
    /// written in place; creating a key goes through memory.
    pub(super) fn store(&mut self, pc: u32, slot: u32, h: u32) {
        let flags = MemFlags::trusted();
        let ctx = self.ctx;
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

    /// `load K` (slot `slot`) at `pc`, frame height `h`; an empty slot exits with the
    /// memory's error.
    pub(super) fn load(&mut self, pc: u32, slot: u32, h: u32) {
        let flags = MemFlags::trusted();
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

    /// `store` with the key on the stack, at `pc`, frame height `h`.
    pub(super) fn store_dyn(&mut self, pc: u32, h: u32) {
        let ctx = self.ctx;
        let key = self.get(h - 1);
        let v = self.get(h - 2);
        let p = self.b.ins().iconst(types::I32, i64::from(pc));
        self.trampoline(off::STORE_DYN, self.sigs.store_dyn, &[ctx, key, v, p], pc);
    }

    /// `load` with the key on the stack, at `pc`, frame height `h`.
    pub(super) fn load_dyn(&mut self, pc: u32, h: u32) {
        let flags = MemFlags::trusted();
        let ctx = self.ctx;
        let key = self.get(h - 1);
        let p = self.b.ins().iconst(types::I32, i64::from(pc));
        self.trampoline(off::LOAD_DYN, self.sigs.load_dyn, &[ctx, key, p], pc);
        let v = self.b.ins().load(types::I64, flags, ctx, off::ARGS);
        self.set(h - 1, v);
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
        let p = self.b.ins().iconst(types::I32, i64::from(pc));
        self.trampoline(off::TSTORE, self.sigs.tstore, &[ctx, d, key, v, p], pc);
    }

    /// `tload` at `pc`, frame height `h`: static slot `slot`, or (`None`) the key on the
    /// stack; the value comes back through the context block.
    pub(super) fn tload(&mut self, pc: u32, slot: Option<u32>, h: u32) {
        let flags = MemFlags::trusted();
        let ctx = self.ctx;
        let (dynamic, key, at) = match slot {
            Some(slot) => (0, self.b.ins().iconst(types::I64, i64::from(slot)), h),
            None => (1, self.get(h - 1), h - 1),
        };
        let d = self.b.ins().iconst(types::I32, dynamic);
        let p = self.b.ins().iconst(types::I32, i64::from(pc));
        self.trampoline(off::TLOAD, self.sigs.tload, &[ctx, d, key, p], pc);
        let v = self.b.ins().load(types::I64, flags, ctx, off::ARGS);
        self.set(at, v);
    }
}
