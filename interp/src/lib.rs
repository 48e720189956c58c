//! coopvm-interp: the reference interpreter.
//!
//! A verified contract is lowered once ([`lower`]; [`lowered`] keeps the result with the
//! contract, so every later run reuses it) to [`Lowered`], which holds two forms of it:
//!
//! - **register code**, which runs: the verifier fixes the stack height at every
//!   instruction, so every stack position is a known slot of the current frame, and the
//!   stack code becomes operations on frame slots, with `push`, `dup`, `swap` and `pop`
//!   folded into the operations that consume their values, and superinstructions for common
//!   shapes (an operand that is a constant, compare-and-branch, `load K; jumpif`,
//!   `load K; add`, `load K; push n; add; store K`). Every basic block starts with one gas
//!   charge (the verifier's block cost), fused operations never span two blocks, and errors
//!   name the original instruction, so gas, results and errors are those of the stack
//!   machine, operation for operation. The loop keeps its registers (instruction pointer,
//!   frame base, gas) in locals, addresses slots without bounds checks (proven in range by
//!   the verifier, see `reg::exec`), and takes its value and call stacks from a per-thread
//!   pool: a run allocates only its result.
//! - a **one-to-one stream** ([`IOp`], [`Lowered::ops`]), one entry per original instruction
//!   plus one gas charge per block, which the step API ([`step`], [`Machine`]) executes an
//!   instruction at a time. Stepping to the end gives exactly a full run's outcome (a test
//!   checks this on every example and on generated programs).
//!
//! [`Lowered`] implements [`coopvm_core::Execute`], so the run protocol
//! ([`coopvm_core::run::run`], [`coopvm_core::stats::run_with_stats`]) runs it like any
//! engine's code. With statistics, the register loop is monomorphized with a probe that the
//! block charge calls; the plain loop is monomorphized without one, so statistics off cost
//! nothing. On, they cost a few operations per block entry, nothing per instruction, and they
//! never change gas or results: the loop body is the same.
//!
//! ```
//! use coopvm_core::{asm::assemble, run::run, stats::run_with_stats, verify, Limits, NoHost, ExecutionContext, RunParams};
//! let v = verify(assemble("t", "push 6\npush 7\nmul\n").unwrap(), &Limits::default()).unwrap();
//! let code = coopvm_interp::lowered(&v);
//! let ctx = ExecutionContext::default();
//! let params = RunParams::new(&ctx, &v.contract().state, 100);
//! let out = run(&*code, &v, params, &mut NoHost);
//! assert_eq!(out.stack, vec![42]);
//! assert_eq!(out.gas_used, 4);
//! let (out, stats) = run_with_stats(&*code, &v, params, &mut NoHost);
//! assert_eq!(out.stack, vec![42]);
//! assert_eq!((stats.instructions, stats.gas_used, stats.peak_stack), (3, 4, 2));
//! ```

mod reg;
mod stats;
pub mod step;

use coopvm_core::error::{ErrorKind, VmError};
use coopvm_core::host::{dispatch, Env, Host};
use coopvm_core::isa::{HostOp, OpKind, PureOp};
use coopvm_core::memory::Memory;
use coopvm_core::run::{Exec, Execute, Values};
use coopvm_core::stats::{Stop, Tally};
use coopvm_core::verify::{Analysis, Verified, NONE};
use coopvm_core::Limits;
use std::borrow::Cow;

/// One instruction of the interpreter's one-to-one stream (the step API's form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IOp {
    /// Block entry: charge this much gas, or stop with `out_of_gas`.
    Charge(u64),
    /// Push an immediate (also used for string handles).
    Push(i64),
    /// `add`.
    Add,
    /// `sub`.
    Sub,
    /// `mul`.
    Mul,
    /// `div`.
    Div,
    /// `mod`.
    Mod,
    /// `neg`.
    Neg,
    /// `eq`.
    Eq,
    /// `ne`.
    Ne,
    /// `lt`.
    Lt,
    /// `le`.
    Le,
    /// `gt`.
    Gt,
    /// `ge`.
    Ge,
    /// `not`.
    Not,
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `pop`.
    Pop,
    /// `dup`.
    Dup,
    /// `swap`.
    Swap,
    /// `over`.
    Over,
    /// `rot`.
    Rot,
    /// `pick N`: copy the value N places below the top.
    Pick(u32),
    /// A host opcode, executed through [`coopvm_core::host::dispatch`].
    Host(HostOp),
    /// `store K` into slot.
    Store(u32),
    /// `load K` from slot.
    Load(u32),
    /// `store` with the key on the stack.
    StoreDyn,
    /// `load` with the key on the stack.
    LoadDyn,
    /// `tstore K` into a transient slot.
    TStore(u32),
    /// `tload K` from a transient slot.
    TLoad(u32),
    /// `tstore` with the key on the stack.
    TStoreDyn,
    /// `tload` with the key on the stack.
    TLoadDyn,
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

/// A contract lowered for the interpreter ([`lower`], [`lowered`]): its register code,
/// which [`Execute`] runs, and its one-to-one stream, which the step API runs.
#[derive(Clone, Debug)]
pub struct Lowered {
    ops: Vec<IOp>,
    /// Per stream index: the original instruction index (for error locations).
    pcs: Vec<u32>,
    reg: reg::RegCode,
    limits: Limits,
}

impl Lowered {
    /// The one-to-one instruction stream (what [`Machine`] steps through).
    pub fn ops(&self) -> &[IOp] {
        &self.ops
    }

    /// Number of operations of the register code (what a run executes), for comparison
    /// with [`Lowered::ops`]'s length.
    pub fn register_len(&self) -> usize {
        self.reg.ops.len()
    }

    /// The original instruction index of stream position `ip`.
    pub fn pc_of(&self, ip: usize) -> u32 {
        self.pcs.get(ip).copied().unwrap_or(u32::MAX)
    }
}

impl Execute for Lowered {
    fn execute<H: Host + ?Sized>(
        &self,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
        gas_limit: u64,
    ) -> Exec {
        reg::exec::execute(
            &self.reg,
            &self.limits,
            env,
            host,
            memory,
            gas_limit,
            &mut NoProbe,
        )
        .0
    }

    fn execute_counted<H: Host + ?Sized>(
        &self,
        analysis: &Analysis,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
        gas_limit: u64,
        tally: &mut Tally,
    ) -> (Exec, Stop) {
        stats::execute_counted(self, analysis, env, host, memory, gas_limit, tally)
    }
}

/// The branches of the stream, patched once every block's position is known.
enum Branch {
    Jump,
    JumpIf,
    Call,
}

/// The interpreter's code for `verified`, lowered on its first use and kept with it
/// ([`Verified::artefact`]): every later call, from any thread, returns the same code without
/// lowering again. (Owned and uncached only if the contract already keeps artefacts of too
/// many other types.)
///
/// ```
/// use coopvm_core::{asm::assemble, verify, Limits};
/// let v = verify(assemble("t", "push 1").unwrap(), &Limits::default()).unwrap();
/// let (a, b) = (coopvm_interp::lowered(&v), coopvm_interp::lowered(&v));
/// assert!(std::ptr::eq(&*a, &*b));
/// ```
pub fn lowered(verified: &Verified) -> Cow<'_, Lowered> {
    match verified.artefact(lower) {
        Some(code) => Cow::Borrowed(code),
        None => Cow::Owned(lower(verified)),
    }
}

/// Lowers a verified contract for the interpreter (its register code and its one-to-one
/// stream). Runs use [`lowered`], which does this once per contract.
pub fn lower(verified: &Verified) -> Lowered {
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
            let mut branch = |b| {
                fixups.push((ops.len(), b, insn.arg as usize));
                IOp::Halt // patched below
            };
            let op = match insn.op.kind() {
                OpKind::Host(op) => IOp::Host(op),
                OpKind::Pure(op) => match op {
                    PureOp::Push => IOp::Push(insn.arg),
                    PureOp::PushStr => IOp::Push(insn.arg),
                    PureOp::Store => IOp::Store(insn.arg as u32),
                    PureOp::Load => IOp::Load(insn.arg as u32),
                    PureOp::StoreDyn => IOp::StoreDyn,
                    PureOp::LoadDyn => IOp::LoadDyn,
                    PureOp::TStore => IOp::TStore(insn.arg as u32),
                    PureOp::TLoad => IOp::TLoad(insn.arg as u32),
                    PureOp::TStoreDyn => IOp::TStoreDyn,
                    PureOp::TLoadDyn => IOp::TLoadDyn,
                    PureOp::Jump => branch(Branch::Jump),
                    PureOp::JumpIf => branch(Branch::JumpIf),
                    PureOp::Call => branch(Branch::Call),
                    PureOp::Return => IOp::Return,
                    PureOp::Halt => IOp::Halt,
                    PureOp::Add => IOp::Add,
                    PureOp::Sub => IOp::Sub,
                    PureOp::Mul => IOp::Mul,
                    PureOp::Div => IOp::Div,
                    PureOp::Mod => IOp::Mod,
                    PureOp::Neg => IOp::Neg,
                    PureOp::Eq => IOp::Eq,
                    PureOp::Ne => IOp::Ne,
                    PureOp::Lt => IOp::Lt,
                    PureOp::Le => IOp::Le,
                    PureOp::Gt => IOp::Gt,
                    PureOp::Ge => IOp::Ge,
                    PureOp::Not => IOp::Not,
                    PureOp::And => IOp::And,
                    PureOp::Or => IOp::Or,
                    PureOp::Pop => IOp::Pop,
                    PureOp::Dup => IOp::Dup,
                    PureOp::Swap => IOp::Swap,
                    PureOp::Over => IOp::Over,
                    PureOp::Rot => IOp::Rot,
                    // The verifier bounds N (0 <= N < the height here).
                    PureOp::Pick => IOp::Pick(insn.arg as u32),
                },
            };
            ops.push(op);
            pcs.push(pc);
        }
    }
    start_of[code.len()] = ops.len() as u32;
    ops.push(IOp::Halt);
    pcs.push(code.len() as u32);
    for (at, branch, target) in fixups {
        let t = start_of[target];
        debug_assert_ne!(t, u32::MAX, "verified targets start blocks");
        ops[at] = match branch {
            Branch::Jump => IOp::Jump(t),
            Branch::JumpIf => IOp::JumpIf(t),
            Branch::Call => {
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
    Lowered {
        ops,
        pcs,
        reg: reg::lower::lower(verified),
        limits: *verified.limits(),
    }
}

/// Something told of every block entry (after its gas charge) with the block's index in the
/// analysis, the stack height and the call depth. With `ON == false` the calls compile to
/// nothing: the plain loop is the same code as without a probe.
pub(crate) trait Probe {
    /// Whether the loop calls [`Probe::enter`] at all.
    const ON: bool;
    /// A block entry.
    fn enter(&mut self, block: u32, height: usize, depth: usize);
}

/// No probe: the plain loop.
pub(crate) struct NoProbe;

impl Probe for NoProbe {
    const ON: bool = false;
    #[inline(always)]
    fn enter(&mut self, _: u32, _: usize, _: usize) {}
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

/// The interpreter's stepping machine: executes the one-to-one stream a step at a time (for
/// debuggers and traces; [`step::Stepper`] wraps it in the run protocol). Runs execute the
/// register code instead; both give the same outcome.
#[derive(Clone, Debug)]
pub struct Machine<'c> {
    code: &'c Lowered,
    ip: usize,
    stack: Vec<i64>,
    sp: usize,
    frames: Vec<u32>,
    gas_left: u64,
    gas_limit: u64,
}

impl<'c> Machine<'c> {
    /// A machine at the start of `code` with `gas_limit` gas.
    pub fn new(code: &'c Lowered, gas_limit: u64) -> Self {
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

    /// The same machine, with `inputs` (the run's inputs, [`Env::inputs`]) on its stack,
    /// bottom first, as the contract's `.params` declares them. The verifier bounds their
    /// number by the stack limit; inputs beyond it are ignored.
    pub fn with_inputs(mut self, inputs: &[i64]) -> Self {
        let n = inputs.len().min(self.stack.len());
        self.stack[..n].copy_from_slice(&inputs[..n]);
        self.sp = n;
        self
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
            Values::from(&self.stack[..self.sp])
        } else {
            Values::new()
        };
        Exec {
            result,
            stack,
            gas_used: self.gas_limit - self.gas_left,
        }
    }

    /// Executes one stream instruction (a block's gas charge counts as one).
    pub fn step<H: Host + ?Sized>(
        &mut self,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
    ) -> Flow {
        let code = self.code;
        let ops = &code.ops[..];
        let limits = code.limits;
        let gas_limit = self.gas_limit;
        let stack = &mut self.stack[..];
        let frames = &mut self.frames;
        let mut ip = self.ip;
        let mut sp = self.sp;
        let mut gas = self.gas_left;
        let flow = 'step: {
            macro_rules! fail {
                ($e:expr) => {{
                    let e: VmError = $e;
                    if e.kind == ErrorKind::OutOfGas {
                        gas = 0;
                    }
                    break 'step Flow::Error(Box::new(e.at(code.pc_of(ip))));
                }};
            }
            macro_rules! binary {
                ($f:expr) => {{
                    let b = stack[sp - 1];
                    let a = stack[sp - 2];
                    match $f(a, b) {
                        Ok(v) => {
                            sp -= 1;
                            stack[sp - 1] = v;
                            ip += 1;
                        }
                        Err(kind) => fail!(if kind == ErrorKind::DivisionByZero {
                            VmError::division_by_zero(a)
                        } else {
                            VmError::overflow(a, b)
                        }),
                    }
                }};
            }
            macro_rules! compare {
                ($f:expr) => {{
                    let b = stack[sp - 1];
                    let a = stack[sp - 2];
                    sp -= 1;
                    stack[sp - 1] = i64::from($f(a, b));
                    ip += 1;
                }};
            }
            match ops[ip] {
                IOp::Charge(cost) => {
                    if cost > gas {
                        fail!(VmError::out_of_gas(gas_limit));
                    }
                    gas -= cost;
                    ip += 1;
                }
                IOp::Push(v) => {
                    stack[sp] = v;
                    sp += 1;
                    ip += 1;
                }
                IOp::Add => {
                    binary!(|a: i64, b| a.checked_add(b).ok_or(ErrorKind::ArithmeticOverflow))
                }
                IOp::Sub => {
                    binary!(|a: i64, b| a.checked_sub(b).ok_or(ErrorKind::ArithmeticOverflow))
                }
                IOp::Mul => {
                    binary!(|a: i64, b| a.checked_mul(b).ok_or(ErrorKind::ArithmeticOverflow))
                }
                IOp::Div => binary!(|a: i64, b: i64| if b == 0 {
                    Err(ErrorKind::DivisionByZero)
                } else {
                    a.checked_div(b).ok_or(ErrorKind::ArithmeticOverflow)
                }),
                IOp::Mod => binary!(|a: i64, b: i64| if b == 0 {
                    Err(ErrorKind::DivisionByZero)
                } else {
                    a.checked_rem(b).ok_or(ErrorKind::ArithmeticOverflow)
                }),
                IOp::Neg => {
                    let a = stack[sp - 1];
                    match a.checked_neg() {
                        Some(v) => {
                            stack[sp - 1] = v;
                            ip += 1;
                        }
                        None => fail!(VmError::neg_overflow(a)),
                    }
                }
                IOp::Eq => compare!(|a, b| a == b),
                IOp::Ne => compare!(|a, b| a != b),
                IOp::Lt => compare!(|a, b| a < b),
                IOp::Le => compare!(|a, b| a <= b),
                IOp::Gt => compare!(|a, b| a > b),
                IOp::Ge => compare!(|a, b| a >= b),
                IOp::And => compare!(|a, b| a != 0 && b != 0),
                IOp::Or => compare!(|a, b| a != 0 || b != 0),
                IOp::Not => {
                    stack[sp - 1] = i64::from(stack[sp - 1] == 0);
                    ip += 1;
                }
                IOp::Pop => {
                    sp -= 1;
                    ip += 1;
                }
                IOp::Dup => {
                    stack[sp] = stack[sp - 1];
                    sp += 1;
                    ip += 1;
                }
                IOp::Swap => {
                    stack.swap(sp - 1, sp - 2);
                    ip += 1;
                }
                IOp::Over => {
                    stack[sp] = stack[sp - 2];
                    sp += 1;
                    ip += 1;
                }
                IOp::Rot => {
                    // [a, b, c] -> [b, c, a]
                    stack[sp - 3..sp].rotate_left(1);
                    ip += 1;
                }
                IOp::Pick(n) => {
                    stack[sp] = stack[sp - 1 - n as usize];
                    sp += 1;
                    ip += 1;
                }
                IOp::Store(slot) => {
                    if let Err(e) = memory.store(slot, stack[sp - 1]) {
                        fail!(e);
                    }
                    sp -= 1;
                    ip += 1;
                }
                IOp::Load(slot) => match memory.load(slot) {
                    Ok(v) => {
                        stack[sp] = v;
                        sp += 1;
                        ip += 1;
                    }
                    Err(e) => fail!(e),
                },
                IOp::StoreDyn => {
                    if let Err(e) = memory.store_dyn(stack[sp - 1], stack[sp - 2]) {
                        fail!(e);
                    }
                    sp -= 2;
                    ip += 1;
                }
                IOp::LoadDyn => match memory.load_dyn(stack[sp - 1]) {
                    Ok(v) => {
                        stack[sp - 1] = v;
                        ip += 1;
                    }
                    Err(e) => fail!(e),
                },
                IOp::TStore(slot) => {
                    if let Err(e) = memory.tstore(slot, stack[sp - 1]) {
                        fail!(e);
                    }
                    sp -= 1;
                    ip += 1;
                }
                IOp::TLoad(slot) => match memory.tload(slot) {
                    Ok(v) => {
                        stack[sp] = v;
                        sp += 1;
                        ip += 1;
                    }
                    Err(e) => fail!(e),
                },
                IOp::TStoreDyn => {
                    if let Err(e) = memory.tstore_dyn(stack[sp - 1], stack[sp - 2]) {
                        fail!(e);
                    }
                    sp -= 2;
                    ip += 1;
                }
                IOp::TLoadDyn => match memory.tload_dyn(stack[sp - 1]) {
                    Ok(v) => {
                        stack[sp - 1] = v;
                        ip += 1;
                    }
                    Err(e) => fail!(e),
                },
                IOp::Jump(t) => ip = t as usize,
                IOp::JumpIf(t) => {
                    sp -= 1;
                    if stack[sp] != 0 {
                        ip = t as usize;
                    } else {
                        ip += 1;
                    }
                }
                IOp::Call {
                    target,
                    params,
                    max_height,
                } => {
                    if frames.len() >= limits.call_depth as usize {
                        fail!(VmError::call_depth(limits.call_depth));
                    }
                    let base = sp - params as usize;
                    if base + max_height as usize > stack.len() {
                        fail!(VmError::stack_room(max_height, base, stack.len()));
                    }
                    frames.push(ip as u32 + 1);
                    ip = target as usize;
                }
                IOp::Return => match frames.pop() {
                    Some(ret) => ip = ret as usize,
                    None => break 'step Flow::Done,
                },
                IOp::Halt => break 'step Flow::Done,
                IOp::Host(op) => {
                    let info = op.info();
                    let low = sp - info.pops as usize;
                    let r = match dispatch(host, env, op, &stack[low..sp], gas) {
                        Ok(r) => r,
                        Err(e) => fail!(e),
                    };
                    if r.gas > gas {
                        fail!(VmError::out_of_gas(gas_limit));
                    }
                    gas -= r.gas;
                    sp = low;
                    if info.pushes == 1 {
                        stack[sp] = r.value;
                        sp += 1;
                    }
                    ip += 1;
                }
            }
            Flow::Continue
        };
        self.ip = ip;
        self.sp = sp;
        self.gas_left = gas;
        flow
    }
}

#[cfg(test)]
mod tests;
