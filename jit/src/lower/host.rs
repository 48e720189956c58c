//! Calls back into Rust: the trampolines' signatures, the checked trampoline call, and host
//! opcodes: those of the [`coopvm_core::Host`] take one generic path per arity (the opcode as
//! a number; `crate::rt` dispatches it), each system opcode its own trampoline (from
//! `crate::rt::SYSTEM`); arguments and gas go in registers.

use super::{Lower, Sigs};
use crate::rt::{off, system_addr, Exit, Fixed, FAILED};
use coopvm_core::isa::{HostOp, SystemOp};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, SigRef, Signature, Type, Value};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;

/// Imports the trampolines' signatures into the function.
pub(super) fn signatures(b: &mut FunctionBuilder<'_>, ptr: Type) -> Sigs {
    let call_conv = b.func.signature.call_conv;
    let i64s = |n: usize| std::iter::repeat_n(types::I64, n);
    let mut sig = |params: Vec<Type>, returns: usize| {
        b.import_signature(tramp_sig(call_conv, &params, returns))
    };
    let host = |sig: &mut dyn FnMut(Vec<Type>, usize) -> SigRef, n: usize| {
        let params = [ptr, types::I32, types::I64]
            .into_iter()
            .chain(i64s(n))
            .collect();
        sig(params, 2)
    };
    Sigs {
        host: [
            host(&mut sig, 0),
            host(&mut sig, 1),
            host(&mut sig, 2),
            host(&mut sig, 3),
            host(&mut sig, 4),
        ],
        store_new: sig(vec![ptr, types::I32, types::I64], 0),
        store_dyn: sig(vec![ptr, types::I64, types::I64], 0),
        load_dyn: sig(vec![ptr, types::I64], 2),
        grow: sig(vec![ptr], 0),
        tstore: sig(vec![ptr, types::I32, types::I64, types::I64], 0),
        tload: sig(vec![ptr, types::I32, types::I64], 2),
        system: [
            sig(vec![ptr, types::I64], 2),
            sig(vec![ptr, types::I64, types::I64], 2),
            sig(vec![ptr, types::I64, types::I64, types::I64], 2),
        ],
    }
}

/// `fn(params...) -> u32` (a status) under `call_conv`, or with `returns > 0`, `fn(params...)
/// -> (i64, ...)` (a `#[repr(C)]` pair of `i64`s, returned in two registers).
fn tramp_sig(call_conv: CallConv, params: &[Type], returns: usize) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
    if returns == 0 {
        s.returns.push(AbiParam::new(types::I32));
    } else {
        s.returns
            .extend(std::iter::repeat_n(AbiParam::new(types::I64), returns));
    }
    s
}

impl Lower<'_, '_> {
    /// Calls the host-independent trampoline `f`, at its fixed address; its results.
    pub(super) fn trampoline(&mut self, f: Fixed, sig: SigRef, args: &[Value]) -> Vec<Value> {
        self.flush();
        let f = self.b.ins().iconst(self.ptr, f.addr());
        let call = self.b.ins().call_indirect(sig, f, args);
        self.b.inst_results(call).to_vec()
    }

    /// Calls the host trampoline loaded from the context block at `offset`; its results.
    fn host_trampoline(&mut self, offset: i32, sig: SigRef, args: &[Value]) -> Vec<Value> {
        self.flush();
        let f = self.ctx_ptr(offset);
        let call = self.b.ins().call_indirect(sig, f, args);
        self.b.inst_results(call).to_vec()
    }

    /// Fails the run with the trampoline's error at `pc` if `second` (a pair's second
    /// result) is [`FAILED`].
    pub(super) fn check_pair(&mut self, second: Value, pc: u32) {
        let failed = self.b.ins().icmp_imm(IntCC::Equal, second, FAILED);
        self.fail_if(failed, Exit::Trampoline, pc, None, None);
    }

    /// The host opcode `op` at `pc`, frame height `h`: its arguments (deepest first) and the
    /// gas left go to the trampoline of its arity in registers; the result (if it pushes one)
    /// and the gas left after its dynamic charges come back in registers.
    pub(super) fn host(&mut self, pc: u32, op: HostOp, h: u32) {
        let ctx = self.ctx;
        let info = op.info();
        let pops = u32::from(info.pops);
        if let Some(sys) = op.system() {
            return self.system(pc, sys, h);
        }
        // The trampoline takes the opcode's index in `HostOp::ALL`.
        let index = HostOp::ALL
            .iter()
            .position(|&h| h == op)
            .unwrap_or(usize::MAX);
        let o = self.b.ins().iconst(types::I32, index as u32 as i64);
        let g = self.b.use_var(self.gas);
        let mut args = vec![ctx, o, g];
        for i in 0..pops {
            args.push(self.get(h - pops + i));
        }
        let n = pops as usize;
        let r = self.host_trampoline(off::HOST[n], self.sigs.host[n], &args);
        self.check_pair(r[1], pc);
        self.b.def_var(self.gas, r[1]);
        if info.pushes == 1 {
            self.set(h - pops, r[0]);
        }
    }

    /// The system opcode `op` at `pc`, frame height `h`: a call of its own trampoline (loaded
    /// at its fixed address, from `crate::rt::SYSTEM`), with the gas left and its arguments in
    /// registers, like [`Lower::host`].
    fn system(&mut self, pc: u32, op: SystemOp, h: u32) {
        let info = op.host().info();
        let pops = u32::from(info.pops);
        let index = SystemOp::ALL
            .iter()
            .position(|&s| s == op)
            .unwrap_or(usize::MAX);
        let g = self.b.use_var(self.gas);
        let mut args = vec![self.ctx, g];
        for i in 0..pops {
            args.push(self.get(h - pops + i));
        }
        self.flush();
        // Every system opcode is in `SystemOp::ALL`, so it has a trampoline.
        let addr = system_addr(index).unwrap_or(0);
        debug_assert_ne!(addr, 0, "no trampoline for {op:?}");
        let f = self.b.ins().iconst(self.ptr, addr);
        let n = pops as usize;
        let call = self.b.ins().call_indirect(self.sigs.system[n], f, &args);
        let r = self.b.inst_results(call).to_vec();
        self.check_pair(r[1], pc);
        self.b.def_var(self.gas, r[1]);
        if info.pushes == 1 {
            self.set(h - pops, r[0]);
        }
    }
}
