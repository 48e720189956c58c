//! The contract's memory. Static keys kept in registers ([`super::MAX_SLOT_VARS`] of them, the
//! most used) are variables: loaded when the run starts, written back when it succeeds; a
//! `load` or `store` of a key the presence analysis proves present is a plain register move,
//! any other tests the key's presence flag, itself a register. Other static keys are read and
//! written in the memory's own static cells (`Memory::static_cells`, `Option<i64>` laid out
//! as the dense cells are), whose pointer is in the context block and loaded again after any
//! call. Creating a static key goes through a trampoline
//! into `coopvm_core::memory::Memory` (which counts keys against the limit). A dynamic
//! access (the key on the stack) to a key within the memory's dense integer-key cells is
//! done in place (one bounds test, one presence test; a new key also takes one unit of the
//! room the memory left under its key limit); any other (absent key, negative or large key,
//! no room) goes through a trampoline. Every access to the transient memory
//! (`tstore`/`tload`) goes through a trampoline too.

use super::{Arg, Lower};
use crate::rt::{off, Exit, Fixed};
use coopvm_core::memory::{INT_CELL_PRESENT, INT_CELL_SHIFT, INT_CELL_VALUE};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AliasRegion, Block, InstBuilder, MemFlags, Value};

/// Accesses to the memory's cells (dense integer keys, static slots): they never alias the
/// context block or the value stack (the optimizer may keep a context field's value across
/// them).
pub(super) const CELL: MemFlags = MemFlags::trusted().with_alias_region(Some(AliasRegion::Heap));

/// The load of the static cells' pointer from the context block: not read-only (a trampoline
/// that calls the memory refreshes it), in a region of its own so that stores to the cells
/// and to other context fields do not make the optimizer load it again.
pub(super) const SLOTS_PTR: MemFlags =
    MemFlags::trusted().with_alias_region(Some(AliasRegion::Vmctx));

impl Lower<'_, '_> {
    /// The static cells' pointer ([`crate::rt::Ctx::slots`]).
    pub(super) fn slot_cells(&mut self) -> Value {
        self.b.ins().load(self.ptr, SLOTS_PTR, self.ctx, off::SLOTS)
    }

    /// The base and offset of the `field` (`INT_CELL_PRESENT` or `INT_CELL_VALUE`) of static
    /// cell `slot`.
    pub(super) fn slot_field(&mut self, slot: u32, field: i32) -> (Value, i32) {
        let cells = self.slot_cells();
        slot_field_at(&mut self.b, cells, slot, field)
    }
}

/// The base and offset of the `field` of static cell `slot` of `cells`: the offset alone when
/// it fits an immediate (it does for every key count a program can have), else the address
/// computed.
pub(super) fn slot_field_at(
    b: &mut cranelift_frontend::FunctionBuilder<'_>,
    cells: Value,
    slot: u32,
    field: i32,
) -> (Value, i32) {
    let at = (i64::from(slot) << INT_CELL_SHIFT) + i64::from(field);
    match i32::try_from(at) {
        Ok(at) => (cells, at),
        Err(_) => (b.ins().iadd_imm(cells, at), 0),
    }
}

impl Lower<'_, '_> {
    /// `store K` (slot `slot`) at `pc`, frame height `h`. A slot that holds a value is
    /// written in place; creating a key goes through memory.
    pub(super) fn store(&mut self, pc: u32, slot: u32, h: u32) {
        let v = self.get(h - 1);
        let var = self.slot_vars.get(slot as usize).copied().flatten();
        if self.presence.proven(pc) {
            match var {
                Some(var) => self.b.def_var(var.value, v),
                None => {
                    let (base, at) = self.slot_field(slot, INT_CELL_VALUE);
                    self.b.ins().store(CELL, v, base, at);
                }
            }
            return;
        }
        let flag = match var {
            Some(var) => self.b.use_var(var.present),
            None => {
                let (base, at) = self.slot_field(slot, INT_CELL_PRESENT);
                self.b.ins().load(types::I8, CELL, base, at)
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
            let (base, at) = self.slot_field(slot, INT_CELL_VALUE);
            self.b.ins().store(CELL, v, base, at);
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
        let status = self.trampoline(Fixed::StoreNew, self.sigs.store_new, &[ctx, s, v])[0];
        self.fail_if(status, Exit::Trampoline, pc, None, None);
        self.flush();
    }

    /// `load K` (slot `slot`) at `pc`, frame height `h`; an empty slot exits with the
    /// memory's error.
    pub(super) fn load(&mut self, pc: u32, slot: u32, h: u32) {
        let var = self.slot_vars.get(slot as usize).copied().flatten();
        let proven = self.presence.proven(pc);
        if !proven {
            let flag = match var {
                Some(var) => self.b.use_var(var.present),
                None => {
                    let (base, at) = self.slot_field(slot, INT_CELL_PRESENT);
                    self.b.ins().load(types::I8, CELL, base, at)
                }
            };
            let missing = self.b.ins().icmp_imm(IntCC::Equal, flag, 0);
            let s = Some(Arg::Const(i64::from(slot)));
            self.fail_if(missing, Exit::LoadMissing, pc, s, None);
            // From here on the key is known present: a register slot's flag is the constant
            // (the write-back at the end then needs no test where every path loaded it).
            if let Some(var) = var {
                let one = self.b.ins().iconst(types::I8, 1);
                self.b.def_var(var.present, one);
            }
        }
        let v = match var {
            Some(var) => self.b.use_var(var.value),
            None => {
                let (base, at) = self.slot_field(slot, INT_CELL_VALUE);
                self.b.ins().load(types::I64, CELL, base, at)
            }
        };
        self.set(h, v);
    }

    /// The address of the dense cell of `key` if the key is within the dense cells
    /// ([`coopvm_core::memory::Memory::dense_keys`]): branches to `slow` when it is not (a
    /// negative key, one beyond the cells), else continues in a new block with the cell's
    /// address. The cells' pointer and length are loaded here, after any call that may have
    /// moved them (they are not read-only).
    fn dense_cell(&mut self, key: Value, slow: Block) -> Value {
        let flags = MemFlags::trusted();
        let len = self
            .b
            .ins()
            .load(types::I64, flags, self.ctx, off::DENSE_LEN);
        let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, key, len);
        let within = self.b.create_block();
        self.b.ins().brif(inside, within, &[], slow, &[]);
        self.b.switch_to_block(within);
        self.b.seal_block(within);
        let cells = self.b.ins().load(self.ptr, flags, self.ctx, off::DENSE);
        let at = self.b.ins().ishl_imm(key, i64::from(INT_CELL_SHIFT));
        self.b.ins().iadd(cells, at)
    }

    /// `store` with the key on the stack, at `pc`, frame height `h`. A key within the dense
    /// cells is written in place: overwritten if it holds a value, created if it holds none
    /// and the memory has room for a key; any other store goes through memory.
    pub(super) fn store_dyn(&mut self, pc: u32, h: u32) {
        let ctx = self.ctx;
        let key = self.get(h - 1);
        let v = self.get(h - 2);
        // Earlier checks fail first.
        self.flush();
        let slow = self.b.create_block();
        self.b.set_cold_block(slow);
        let cont = self.b.create_block();
        let cell = self.dense_cell(key, slow);
        let present = self.b.ins().load(types::I8, CELL, cell, INT_CELL_PRESENT);
        let overwrite = self.b.create_block();
        let create = self.b.create_block();
        self.b.ins().brif(present, overwrite, &[], create, &[]);
        self.b.switch_to_block(overwrite);
        self.b.seal_block(overwrite);
        self.b.ins().store(CELL, v, cell, INT_CELL_VALUE);
        self.b.ins().jump(cont, &[]);
        // A new key: counted against the limit through the room left.
        self.b.switch_to_block(create);
        self.b.seal_block(create);
        let flags = MemFlags::trusted();
        let room = self.b.ins().load(types::I64, flags, ctx, off::DENSE_ROOM);
        let fill = self.b.create_block();
        self.b.ins().brif(room, fill, &[], slow, &[]);
        self.b.switch_to_block(fill);
        self.b.seal_block(fill);
        let left = self.b.ins().iadd_imm(room, -1);
        self.b.ins().store(flags, left, ctx, off::DENSE_ROOM);
        let one = self.b.ins().iconst(types::I64, 1);
        self.b.ins().store(CELL, one, cell, INT_CELL_PRESENT);
        self.b.ins().store(CELL, v, cell, INT_CELL_VALUE);
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(slow);
        self.b.seal_block(slow);
        let status = self.trampoline(Fixed::StoreDyn, self.sigs.store_dyn, &[ctx, key, v])[0];
        self.fail_if(status, Exit::Trampoline, pc, None, None);
        self.flush();
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    /// `load` with the key on the stack, at `pc`, frame height `h`. A key within the dense
    /// cells that holds a value is read in place; any other goes through memory (which
    /// fails for a key that holds none).
    pub(super) fn load_dyn(&mut self, pc: u32, h: u32) {
        let ctx = self.ctx;
        let key = self.get(h - 1);
        self.flush();
        let slow = self.b.create_block();
        self.b.set_cold_block(slow);
        let cont = self.b.create_block();
        self.b.append_block_param(cont, types::I64);
        let cell = self.dense_cell(key, slow);
        let present = self.b.ins().load(types::I8, CELL, cell, INT_CELL_PRESENT);
        let hit = self.b.create_block();
        self.b.ins().brif(present, hit, &[], slow, &[]);
        self.b.switch_to_block(hit);
        self.b.seal_block(hit);
        let v = self.b.ins().load(types::I64, CELL, cell, INT_CELL_VALUE);
        self.b.ins().jump(cont, &[v.into()]);
        self.b.switch_to_block(slow);
        self.b.seal_block(slow);
        let r = self.trampoline(Fixed::LoadDyn, self.sigs.load_dyn, &[ctx, key]);
        self.check_pair(r[1], pc);
        self.flush();
        self.b.ins().jump(cont, &[r[0].into()]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
        let v = self.b.block_params(cont)[0];
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
        let status = self.trampoline(Fixed::TStore, self.sigs.tstore, &[ctx, d, key, v])[0];
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
        let r = self.trampoline(Fixed::TLoad, self.sigs.tload, &[ctx, d, key]);
        self.check_pair(r[1], pc);
        self.set(at, r[0]);
    }
}
