//! coopvm-interp: the reference interpreter.
//!
//! A verified contract is first lowered ([`compile`]) to a compact instruction stream in
//! which every basic block starts with one gas charge (the verifier's block cost) and every
//! operand is inline; jump targets point at block starts. The [`Machine`] then executes that
//! stream over a preallocated value stack: no allocation, hashing or bounds-dependent
//! branching per instruction beyond the opcode's own semantics.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify, Limits, NoHost, ExecutionContext, RunParams};
//! let v = verify(assemble("t", "push 6\npush 7\nmul\n").unwrap(), &Limits::default()).unwrap();
//! let ctx = ExecutionContext::default();
//! let out = coopvm_interp::run(&v, RunParams { ctx: &ctx, state: &v.contract().state, gas_limit: 100 }, &mut NoHost);
//! assert_eq!(out.stack, vec![42]);
//! assert_eq!(out.gas_used, 4);
//! ```

pub mod stats;
pub mod step;

use coopvm_core::error::{ErrorKind, VmError};
use coopvm_core::host::{dispatch, Env, Host};
use coopvm_core::memory::Memory;
use coopvm_core::run::{Exec, Outcome, RunParams};
use coopvm_core::verify::{Verified, NONE};
use coopvm_core::{Limits, Op};

/// One instruction of the interpreter's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IOp {
    /// Block entry: charge this much gas, or stop with `out_of_gas`.
    Charge(u64),
    /// Push an immediate (also used for string handles).
    Push(i64),
    /// Any operand-less arithmetic, comparison, stack or host opcode.
    Simple(Op),
    /// `store K` into slot.
    Store(u32),
    /// `load K` from slot.
    Load(u32),
    /// `store` with the key on the stack.
    StoreDyn,
    /// `load` with the key on the stack.
    LoadDyn,
    /// Unconditional jump to a stream index.
    Jump(u32),
    /// Pop; jump to a stream index if non-zero.
    JumpIf(u32),
    /// Call the subroutine entered at a stream index.
    Call {
        /// Stream index of the callee's first block.
        target: u32,
        /// Values the callee takes from the caller's stack.
        params: u32,
        /// The callee's highest stack height within its frame.
        max_height: u32,
    },
    /// Return to the caller, or end the run when there is none.
    Return,
    /// End the run.
    Halt,
}

/// A contract lowered for the interpreter.
#[derive(Clone, Debug)]
pub struct Compiled {
    ops: Vec<IOp>,
    /// Per stream index: the original instruction index (for error locations).
    pcs: Vec<u32>,
    limits: Limits,
}

impl Compiled {
    /// The instruction stream.
    pub fn ops(&self) -> &[IOp] {
        &self.ops
    }

    /// The original instruction index of stream position `ip`.
    pub fn pc_of(&self, ip: usize) -> u32 {
        self.pcs.get(ip).copied().unwrap_or(u32::MAX)
    }

    /// Executes the code. `memory` starts as the contract's state and holds the new state
    /// afterwards (the caller discards it on error).
    pub fn execute<H: Host + ?Sized>(
        &self,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
        gas_limit: u64,
    ) -> Exec {
        let mut m = Machine::new(self, gas_limit);
        let result = loop {
            match m.step(env, host, memory) {
                Flow::Continue => {}
                Flow::Done => break Ok(()),
                Flow::Error(e) => break Err(*e),
            }
        };
        m.finish(result)
    }
}

/// Lowers a verified contract to the interpreter's stream.
pub fn compile(verified: &Verified) -> Compiled {
    let code = &verified.contract().program.code;
    let a = verified.analysis();
    let mut ops = Vec::with_capacity(code.len() + a.blocks.len() + 1);
    let mut pcs = Vec::with_capacity(ops.capacity());
    // Stream index of each block start, and of the end of the code.
    let mut start_of = vec![u32::MAX; code.len() + 1];
    let mut fixups = Vec::new();
    for block in &a.blocks {
        start_of[block.start as usize] = ops.len() as u32;
        ops.push(IOp::Charge(block.gas));
        pcs.push(block.start);
        for pc in block.start..block.end {
            let insn = code[pc as usize];
            let op = match insn.op {
                Op::Push => IOp::Push(insn.arg),
                Op::PushStr => IOp::Push(insn.arg),
                Op::Store => IOp::Store(insn.arg as u32),
                Op::Load => IOp::Load(insn.arg as u32),
                Op::StoreDyn => IOp::StoreDyn,
                Op::LoadDyn => IOp::LoadDyn,
                Op::Jump | Op::JumpIf | Op::Call => {
                    fixups.push((ops.len(), insn.op, insn.arg as usize));
                    IOp::Halt // patched below
                }
                Op::Return => IOp::Return,
                Op::Halt => IOp::Halt,
                op => IOp::Simple(op),
            };
            ops.push(op);
            pcs.push(pc);
        }
    }
    start_of[code.len()] = ops.len() as u32;
    ops.push(IOp::Halt);
    pcs.push(code.len() as u32);
    for (at, op, target) in fixups {
        let t = start_of[target];
        debug_assert_ne!(t, u32::MAX, "verified targets start blocks");
        ops[at] = match op {
            Op::Jump => IOp::Jump(t),
            Op::JumpIf => IOp::JumpIf(t),
            _ => {
                let f = a.func_at(target as u32).map_or(NONE, |f| f);
                let func = &a.funcs[f as usize];
                IOp::Call {
                    target: t,
                    params: func.params,
                    max_height: func.max_height,
                }
            }
        };
    }
    Compiled {
        ops,
        pcs,
        limits: *verified.limits(),
    }
}

/// Compiles and runs `verified` under the full run protocol (checks, transaction, outcome).
pub fn run<H: Host + ?Sized>(verified: &Verified, params: RunParams<'_>, host: &mut H) -> Outcome {
    let compiled = compile(verified);
    coopvm_core::run::run(verified, params, host, |env, host, memory, gas| {
        compiled.execute(env, host, memory, gas)
    })
}

/// What one step did.
#[derive(Debug)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// The contract ended successfully.
    Done,
    /// The contract failed.
    Error(Box<VmError>),
}

/// The interpreter's machine state: usable a step at a time (for debuggers and traces) or
/// run to completion by [`Compiled::execute`].
#[derive(Clone, Debug)]
pub struct Machine<'c> {
    code: &'c Compiled,
    ip: usize,
    stack: Vec<i64>,
    sp: usize,
    frames: Vec<u32>,
    gas_left: u64,
    gas_limit: u64,
}

impl<'c> Machine<'c> {
    /// A machine at the start of `code` with `gas_limit` gas.
    pub fn new(code: &'c Compiled, gas_limit: u64) -> Self {
        Machine {
            code,
            ip: 0,
            stack: vec![0; code.limits.stack as usize],
            sp: 0,
            frames: Vec::with_capacity(16),
            gas_left: gas_limit,
            gas_limit,
        }
    }

    /// The value stack, bottom first.
    pub fn stack(&self) -> &[i64] {
        &self.stack[..self.sp]
    }

    /// Gas used so far.
    pub fn gas_used(&self) -> u64 {
        self.gas_limit - self.gas_left
    }

    /// Gas left.
    pub fn gas_left(&self) -> u64 {
        self.gas_left
    }

    /// Position in the stream of the next step.
    pub fn ip(&self) -> usize {
        self.ip
    }

    /// The original instruction index of the next step.
    pub fn pc(&self) -> u32 {
        self.code.pc_of(self.ip)
    }

    /// Return addresses (stream indices) of the calls in progress, outermost first.
    pub fn call_stack(&self) -> &[u32] {
        &self.frames
    }

    /// The report for a run that ended with `result`.
    pub fn finish(self, result: Result<(), VmError>) -> Exec {
        let stack = if result.is_ok() {
            self.stack[..self.sp].to_vec()
        } else {
            Vec::new()
        };
        Exec {
            result,
            stack,
            gas_used: self.gas_limit - self.gas_left,
        }
    }

    fn fail(&mut self, kind: ErrorKind, message: impl Into<String>) -> Flow {
        self.fail_with(VmError::new(kind, message))
    }

    #[cold]
    fn fail_with(&mut self, e: VmError) -> Flow {
        if e.kind == ErrorKind::OutOfGas {
            self.gas_left = 0;
        }
        Flow::Error(Box::new(e.at(self.code.pc_of(self.ip))))
    }

    #[inline(always)]
    fn binary(&mut self, f: impl FnOnce(i64, i64) -> Result<i64, ErrorKind>) -> Flow {
        let b = self.stack[self.sp - 1];
        let a = self.stack[self.sp - 2];
        match f(a, b) {
            Ok(v) => {
                self.sp -= 1;
                self.stack[self.sp - 1] = v;
                self.ip += 1;
                Flow::Continue
            }
            Err(kind) => {
                let what = if kind == ErrorKind::DivisionByZero {
                    format!("{a} divided by zero")
                } else {
                    format!("{a} and {b} overflow a 64-bit integer")
                };
                self.fail(kind, what)
            }
        }
    }

    #[inline(always)]
    fn compare(&mut self, f: impl FnOnce(i64, i64) -> bool) -> Flow {
        self.binary(|a, b| Ok(i64::from(f(a, b))))
    }

    /// Executes one stream instruction.
    #[inline(always)]
    pub fn step<H: Host + ?Sized>(
        &mut self,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
    ) -> Flow {
        let op = self.code.ops[self.ip];
        match op {
            IOp::Charge(cost) => {
                if cost > self.gas_left {
                    let limit = self.gas_limit;
                    return self.fail_with(VmError::out_of_gas(limit));
                }
                self.gas_left -= cost;
                self.ip += 1;
            }
            IOp::Push(v) => {
                self.stack[self.sp] = v;
                self.sp += 1;
                self.ip += 1;
            }
            IOp::Store(slot) => {
                let v = self.stack[self.sp - 1];
                if let Err(e) = memory.store(slot, v) {
                    return self.fail_with(e);
                }
                self.sp -= 1;
                self.ip += 1;
            }
            IOp::Load(slot) => match memory.load(slot) {
                Ok(v) => {
                    self.stack[self.sp] = v;
                    self.sp += 1;
                    self.ip += 1;
                }
                Err(e) => return self.fail_with(e),
            },
            IOp::StoreDyn => {
                let key = self.stack[self.sp - 1];
                let v = self.stack[self.sp - 2];
                if let Err(e) = memory.store_dyn(key, v) {
                    return self.fail_with(e);
                }
                self.sp -= 2;
                self.ip += 1;
            }
            IOp::LoadDyn => match memory.load_dyn(self.stack[self.sp - 1]) {
                Ok(v) => {
                    self.stack[self.sp - 1] = v;
                    self.ip += 1;
                }
                Err(e) => return self.fail_with(e),
            },
            IOp::Jump(t) => self.ip = t as usize,
            IOp::JumpIf(t) => {
                self.sp -= 1;
                if self.stack[self.sp] != 0 {
                    self.ip = t as usize;
                } else {
                    self.ip += 1;
                }
            }
            IOp::Call {
                target,
                params,
                max_height,
            } => {
                if self.frames.len() >= self.code.limits.call_depth as usize {
                    let limit = self.code.limits.call_depth;
                    return self.fail(
                        ErrorKind::CallDepthExceeded,
                        format!("call depth limit of {limit} reached"),
                    );
                }
                let base = self.sp - params as usize;
                if base + max_height as usize > self.stack.len() {
                    let limit = self.stack.len();
                    return self.fail(
                        ErrorKind::StackOverflow,
                        format!(
                            "the call needs room for {} values above {base}; the stack limit is {limit}",
                            max_height
                        ),
                    );
                }
                self.frames.push(self.ip as u32 + 1);
                self.ip = target as usize;
            }
            IOp::Return => match self.frames.pop() {
                Some(ret) => self.ip = ret as usize,
                None => return Flow::Done,
            },
            IOp::Halt => return Flow::Done,
            IOp::Simple(op) => return self.simple(op, env, host),
        }
        Flow::Continue
    }

    #[inline(always)]
    fn simple<H: Host + ?Sized>(&mut self, op: Op, env: &mut Env<'_>, host: &mut H) -> Flow {
        match op {
            Op::Add => self.binary(|a, b| a.checked_add(b).ok_or(ErrorKind::ArithmeticOverflow)),
            Op::Sub => self.binary(|a, b| a.checked_sub(b).ok_or(ErrorKind::ArithmeticOverflow)),
            Op::Mul => self.binary(|a, b| a.checked_mul(b).ok_or(ErrorKind::ArithmeticOverflow)),
            Op::Div => self.binary(|a, b| {
                if b == 0 {
                    Err(ErrorKind::DivisionByZero)
                } else {
                    a.checked_div(b).ok_or(ErrorKind::ArithmeticOverflow)
                }
            }),
            Op::Mod => self.binary(|a, b| {
                if b == 0 {
                    Err(ErrorKind::DivisionByZero)
                } else {
                    a.checked_rem(b).ok_or(ErrorKind::ArithmeticOverflow)
                }
            }),
            Op::Eq => self.compare(|a, b| a == b),
            Op::Ne => self.compare(|a, b| a != b),
            Op::Lt => self.compare(|a, b| a < b),
            Op::Le => self.compare(|a, b| a <= b),
            Op::Gt => self.compare(|a, b| a > b),
            Op::Ge => self.compare(|a, b| a >= b),
            Op::And => self.compare(|a, b| a != 0 && b != 0),
            Op::Or => self.compare(|a, b| a != 0 || b != 0),
            Op::Neg => {
                let a = self.stack[self.sp - 1];
                match a.checked_neg() {
                    Some(v) => {
                        self.stack[self.sp - 1] = v;
                        self.ip += 1;
                        Flow::Continue
                    }
                    None => self.fail(ErrorKind::ArithmeticOverflow, format!("-({a}) overflows")),
                }
            }
            Op::Not => {
                let top = &mut self.stack[self.sp - 1];
                *top = i64::from(*top == 0);
                self.ip += 1;
                Flow::Continue
            }
            Op::Pop => {
                self.sp -= 1;
                self.ip += 1;
                Flow::Continue
            }
            Op::Dup => {
                self.stack[self.sp] = self.stack[self.sp - 1];
                self.sp += 1;
                self.ip += 1;
                Flow::Continue
            }
            Op::Swap => {
                self.stack.swap(self.sp - 1, self.sp - 2);
                self.ip += 1;
                Flow::Continue
            }
            op => self.host_op(op, env, host),
        }
    }

    #[inline(never)]
    fn host_op<H: Host + ?Sized>(&mut self, op: Op, env: &mut Env<'_>, host: &mut H) -> Flow {
        let info = op.info();
        let low = self.sp - info.pops as usize;
        let r = match dispatch(host, env, op, &self.stack[low..self.sp], self.gas_left) {
            Ok(r) => r,
            Err(e) => return self.fail_with(e),
        };
        if r.gas > self.gas_left {
            let limit = self.gas_limit;
            return self.fail_with(VmError::out_of_gas(limit));
        }
        self.gas_left -= r.gas;
        self.sp = low;
        if info.pushes == 1 {
            self.stack[self.sp] = r.value;
            self.sp += 1;
        }
        self.ip += 1;
        Flow::Continue
    }
}

#[cfg(test)]
mod tests;
