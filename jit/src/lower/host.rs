//! Calls back into Rust: the trampolines' signatures, the checked trampoline call, and host
//! opcodes, which all take one generic path (arguments and gas through the context block,
//! the opcode as a number; `crate::rt` dispatches it).

use super::{Lower, Sigs};
use crate::rt::{off, Exit};
use coopvm_core::isa::HostOp;
use cranelift_codegen::ir::{
    types, AbiParam, InstBuilder, MemFlags, SigRef, Signature, Type, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;

/// Imports the trampolines' signatures into the function.
pub(super) fn signatures(b: &mut FunctionBuilder<'_>, ptr: Type) -> Sigs {
    let call_conv = b.func.signature.call_conv;
    let mut sig = |params: &[Type]| b.import_signature(tramp_sig(call_conv, params));
    Sigs {
        host: sig(&[ptr, types::I32, types::I32]),
        store_new: sig(&[ptr, types::I32, types::I64, types::I32]),
        store_dyn: sig(&[ptr, types::I64, types::I64, types::I32]),
        load_dyn: sig(&[ptr, types::I64, types::I32]),
        grow: sig(&[ptr]),
        tstore: sig(&[ptr, types::I32, types::I64, types::I64, types::I32]),
        tload: sig(&[ptr, types::I32, types::I64, types::I32]),
    }
}

/// `fn(params...) -> u32` (a status) under `call_conv`.
fn tramp_sig(call_conv: CallConv, params: &[Type]) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
    s.returns.push(AbiParam::new(types::I32));
    s
}

impl Lower<'_, '_> {
    /// Calls a trampoline loaded from the context block at `offset`; a non-zero status fails
    /// the run with the trampoline's error.
    pub(super) fn trampoline(&mut self, offset: i32, sig: SigRef, args: &[Value], pc: u32) {
        let flags = MemFlags::trusted();
        let f = self.b.ins().load(self.ptr, flags, self.ctx, offset);
        let call = self.b.ins().call_indirect(sig, f, args);
        let status = self.b.inst_results(call)[0];
        self.fail_if(status, Exit::Trampoline, pc, None, None);
    }

    /// The host opcode `op` at `pc`, frame height `h`: its arguments (deepest first) and the
    /// gas left go through the context block, the trampoline dispatches it, and the gas left
    /// and the result (if it pushes one) come back the same way.
    pub(super) fn host(&mut self, pc: u32, op: HostOp, h: u32) {
        let flags = MemFlags::trusted();
        let ctx = self.ctx;
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
