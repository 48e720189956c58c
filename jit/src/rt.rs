//! The run-time side of compiled code: the context block the native code reads and writes,
//! the `extern "C"` trampolines it calls back into Rust through, and the translation of its
//! exit codes into [`VmError`]s identical to the interpreter's.
//!
//! Native code never unwinds: every trampoline that calls the [`Host`] catches a panic from
//! it, records it and reports an error status; the native code then returns cleanly and
//! `NativeCode`'s `execute` resumes the panic on the Rust side, as the interpreter would have
//! propagated it. The trampolines of system opcodes and memory run only the core's own code,
//! which does not panic, and catch nothing (a panic there would abort the process, since an
//! `extern "C"` function cannot unwind: it still never unwinds through native code); they are
//! not generic over the host either and reach the run's state through [`Base`].

use coopvm_core::error::{ErrorKind, VmError};
use coopvm_core::host::{dispatch, dispatch_system, Env, Host};
use coopvm_core::isa::{HostOp, SystemOp, MAX_HOST_ARGS};
use coopvm_core::memory::Memory;
use std::any::Any;
use std::cell::Cell;
use std::ffi::c_void;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Call-depth limits up to this get their whole return stack allocated up front (4 bytes a
/// level), and the native code needs no capacity check; larger limits grow it on demand.
pub(crate) const PREALLOC_RETS: u32 = 1 << 16;

// Host opcodes pass their arguments in registers: one trampoline per arity up to this.
const _: () = assert!(
    MAX_HOST_ARGS <= 4,
    "add a host trampoline for the new arity"
);

/// Why native code stopped with status [`STATUS_ERROR`]; stored in [`Ctx::err_code`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// A trampoline failed; the error is in [`Frame::error`] (or a panic in [`Frame::panic`]).
    Trampoline = 1,
    /// A block's gas exceeds what is left.
    OutOfGas = 2,
    /// `div`/`mod` by zero; `err_a` is the dividend.
    DivisionByZero = 3,
    /// A binary operation overflowed; `err_a`, `err_b` are its operands.
    Overflow = 4,
    /// `neg` of `i64::MIN`; `err_a` is the operand.
    NegOverflow = 5,
    /// `call` beyond the call-depth limit.
    CallDepth = 6,
    /// `call` without stack room; `err_a` is the callee's frame base, `err_b` its max height.
    StackRoom = 7,
    /// `load K` of an empty static slot; `err_a` is the slot.
    LoadMissing = 8,
    /// A return found no return site (cannot happen for verified code).
    Internal = 9,
}

impl Exit {
    fn from_code(code: u32) -> Option<Exit> {
        Some(match code {
            1 => Exit::Trampoline,
            2 => Exit::OutOfGas,
            3 => Exit::DivisionByZero,
            4 => Exit::Overflow,
            5 => Exit::NegOverflow,
            6 => Exit::CallDepth,
            7 => Exit::StackRoom,
            8 => Exit::LoadMissing,
            9 => Exit::Internal,
            _ => return None,
        })
    }
}

/// Status the native function returns when the contract ended successfully.
pub(crate) const STATUS_OK: u32 = 0;
/// Status the native function returns when the contract failed (details in the [`Ctx`]).
pub(crate) const STATUS_ERROR: u32 = 1;

/// Two values returned in registers (`rax:rdx` on x86-64, `x0:x1` on aarch64), as native code
/// declares them: two `i64` results.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ret2 {
    /// The value (a host result, a loaded value).
    pub a: i64,
    /// The gas left after a host call, or a status; [`FAILED`] if the call failed.
    pub b: i64,
}

/// [`Ret2::b`] of a call that failed (the error, or a panic, is in the [`Frame`]). A host call
/// never leaves this much gas: its block charged at least its static cost first.
pub(crate) const FAILED: i64 = -1;

/// `hostN(ctx, op, gas_left, args...) -> (value, gas_left | FAILED)`: runs the host opcode
/// `HostOp::ALL[op]` with its `N` arguments (deepest first) in registers.
pub(crate) type Host0 = unsafe extern "C" fn(*mut Ctx, u32, i64) -> Ret2;
pub(crate) type Host1 = unsafe extern "C" fn(*mut Ctx, u32, i64, i64) -> Ret2;
pub(crate) type Host2 = unsafe extern "C" fn(*mut Ctx, u32, i64, i64, i64) -> Ret2;
pub(crate) type Host3 = unsafe extern "C" fn(*mut Ctx, u32, i64, i64, i64, i64) -> Ret2;
pub(crate) type Host4 = unsafe extern "C" fn(*mut Ctx, u32, i64, i64, i64, i64, i64) -> Ret2;
/// `sysN(ctx, gas_left, args...) -> (value, gas_left | FAILED)`: one system opcode (each has
/// its own trampoline, in [`SYSTEM`]) with its `N` arguments (deepest first) in registers.
pub(crate) type Sys0 = unsafe extern "C" fn(*mut Ctx, i64) -> Ret2;
pub(crate) type Sys1 = unsafe extern "C" fn(*mut Ctx, i64, i64) -> Ret2;
pub(crate) type Sys2 = unsafe extern "C" fn(*mut Ctx, i64, i64, i64) -> Ret2;
/// `store_new(ctx, slot, value) -> status`: stores into a static slot that holds no value.
pub(crate) type StoreNewFn = unsafe extern "C" fn(*mut Ctx, u32, i64) -> u32;
/// `store_dyn(ctx, key, value) -> status`.
pub(crate) type StoreDynFn = unsafe extern "C" fn(*mut Ctx, i64, i64) -> u32;
/// `load_dyn(ctx, key) -> (value, 0 | FAILED)`.
pub(crate) type LoadDynFn = unsafe extern "C" fn(*mut Ctx, i64) -> Ret2;
/// `grow_rets(ctx) -> status`: makes room for one more return address.
pub(crate) type GrowFn = unsafe extern "C" fn(*mut Ctx) -> u32;
/// `tstore(ctx, dynamic, key, value) -> status`: stores into the transient memory, at the
/// static slot `key` (`dynamic` 0) or under the integer key `key` (`dynamic` 1).
pub(crate) type TStoreFn = unsafe extern "C" fn(*mut Ctx, u32, i64, i64) -> u32;
/// `tload(ctx, dynamic, key) -> (value, 0 | FAILED)`: loads from the transient memory (as
/// `tstore` addresses it).
pub(crate) type TLoadFn = unsafe extern "C" fn(*mut Ctx, u32, i64) -> Ret2;

/// The context block shared by native code and Rust. Native code addresses its fields by
/// offset (`offset_of!`), so the layout is `repr(C)`.
#[repr(C)]
pub(crate) struct Ctx {
    /// Gas left: read on entry, written on every exit (native code keeps it in a register).
    pub gas_left: u64,
    /// The value stack (`limits.stack` values); native code keeps values in registers and
    /// writes here only what crosses a call, and the final stack.
    pub stack: *mut i64,
    /// Return-site indices of the calls in progress.
    pub rets: *mut u32,
    /// Capacity of `rets`.
    pub ret_cap: u64,
    /// The static memory slots: the memory's own cells (`Memory::static_cells`, cell `k`
    /// holding static key `k`; an `Option<i64>` laid out as the dense cells are, see
    /// `coopvm_core::memory::INT_CELL_PRESENT`). Native code keeps the slots it uses most in
    /// registers, loaded on entry and written back here when the run succeeds (an empty
    /// slot's value goes to [`Ctx::sink`] instead); a slot is created only through the
    /// `store_new` trampoline. A trampoline that calls the memory refreshes this pointer, and
    /// native code loads it again after any call.
    pub slots: *mut Option<i64>,
    /// Where the write-back at a successful end puts the register value of a slot that holds
    /// none (never read).
    pub sink: i64,
    /// Final stack height (on success).
    pub sp: u64,
    /// Why the run failed ([`Exit`]).
    pub err_code: u32,
    /// Where it failed.
    pub err_pc: u32,
    /// First detail of the failure.
    pub err_a: i64,
    /// Second detail of the failure.
    pub err_b: i64,
    /// Trampolines, one per host-call arity (generic over the run's host type). The other
    /// trampolines are not: native code calls them at addresses fixed when it is compiled
    /// ([`Fixed`], [`system_addr`]), so no run writes them here.
    pub host0: Host0,
    pub host1: Host1,
    pub host2: Host2,
    pub host3: Host3,
    pub host4: Host4,
    /// The [`Frame`] (type-erased; the trampolines know its type).
    pub frame: *mut c_void,
    /// The memory's dense integer keys (`Memory::dense_keys`), which native code reads and
    /// writes in place: `dense_len` cells. A store through the `store_dyn` or `store_new`
    /// trampoline may move them, so those refresh the three `dense` fields, and native code
    /// loads them again after any call.
    pub dense: *mut Option<i64>,
    /// Number of cells of `dense`.
    pub dense_len: u64,
    /// Keys native code may still create by filling an empty cell of `dense` (decremented
    /// for each; the trampolines count the keys so made into the memory, see
    /// [`Base::sync_dense`]).
    pub dense_room: u64,
    /// Statistics, kept only by code compiled with them (see `coopvm_core::stats::Tally`):
    /// entries per basic block.
    pub counts: *mut u64,
    /// The candidate peak stack height of the last block entered (if it runs to its end).
    pub st_pending: u64,
    /// Peak stack height over block entries that ran to their end.
    pub st_peak: u64,
    /// The last block entered (`u64::MAX`: none).
    pub st_last_block: u64,
    /// The stack height at the last block entry.
    pub st_last_height: u64,
    /// The call depth at the last block entry.
    pub st_last_depth: u64,
    /// Peak call depth at block entries.
    pub st_peak_depth: u64,
}

/// Byte offsets of the [`Ctx`] fields native code touches.
pub(crate) mod off {
    use super::Ctx;
    use std::mem::offset_of;
    pub const GAS_LEFT: i32 = offset_of!(Ctx, gas_left) as i32;
    pub const STACK: i32 = offset_of!(Ctx, stack) as i32;
    pub const RETS: i32 = offset_of!(Ctx, rets) as i32;
    pub const RET_CAP: i32 = offset_of!(Ctx, ret_cap) as i32;
    pub const SLOTS: i32 = offset_of!(Ctx, slots) as i32;
    pub const SINK: i32 = offset_of!(Ctx, sink) as i32;
    pub const SP: i32 = offset_of!(Ctx, sp) as i32;
    pub const ERR_CODE: i32 = offset_of!(Ctx, err_code) as i32;
    pub const ERR_PC: i32 = offset_of!(Ctx, err_pc) as i32;
    pub const ERR_A: i32 = offset_of!(Ctx, err_a) as i32;
    pub const ERR_B: i32 = offset_of!(Ctx, err_b) as i32;
    pub const HOST: [i32; 5] = [
        offset_of!(Ctx, host0) as i32,
        offset_of!(Ctx, host1) as i32,
        offset_of!(Ctx, host2) as i32,
        offset_of!(Ctx, host3) as i32,
        offset_of!(Ctx, host4) as i32,
    ];
    pub const COUNTS: i32 = offset_of!(Ctx, counts) as i32;
    pub const DENSE: i32 = offset_of!(Ctx, dense) as i32;
    pub const DENSE_LEN: i32 = offset_of!(Ctx, dense_len) as i32;
    pub const DENSE_ROOM: i32 = offset_of!(Ctx, dense_room) as i32;
    pub const ST_PENDING: i32 = offset_of!(Ctx, st_pending) as i32;
    pub const ST_PEAK: i32 = offset_of!(Ctx, st_peak) as i32;
    pub const ST_LAST_BLOCK: i32 = offset_of!(Ctx, st_last_block) as i32;
    pub const ST_LAST_HEIGHT: i32 = offset_of!(Ctx, st_last_height) as i32;
    pub const ST_LAST_DEPTH: i32 = offset_of!(Ctx, st_last_depth) as i32;
    pub const ST_PEAK_DEPTH: i32 = offset_of!(Ctx, st_peak_depth) as i32;
}

/// What the trampolines reach: the run's host, and the rest ([`Base`]) first, so that the
/// trampolines that do not call the host reach that through the same pointer without knowing
/// the host's type.
#[repr(C)]
pub(crate) struct Frame<'a, 'e, H: Host + ?Sized> {
    pub base: Base<'a, 'e>,
    pub host: &'a mut H,
}

impl<'a, 'e, H: Host + ?Sized> Deref for Frame<'a, 'e, H> {
    type Target = Base<'a, 'e>;
    fn deref(&self) -> &Base<'a, 'e> {
        &self.base
    }
}

impl<H: Host + ?Sized> DerefMut for Frame<'_, '_, H> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.base
    }
}

/// The part of a [`Frame`] that does not depend on the host's type: the run's environment and
/// memory, plus what the trampolines report back.
pub(crate) struct Base<'a, 'e> {
    pub env: &'a mut Env<'e>,
    pub memory: &'a mut Memory,
    pub gas_limit: u64,
    pub call_depth: u32,
    /// The return stack (see [`Scratch::rets`]).
    pub rets: &'a mut Vec<u32>,
    pub error: Option<VmError>,
    pub panic: Option<Box<dyn Any + Send + 'static>>,
    /// Entries per basic block (see [`Scratch::counts`]).
    pub counts: &'a mut Vec<u64>,
    /// [`Ctx::dense_room`] as the last [`Base::refresh_memory`] set it.
    pub dense_room: u64,
}

/// The buffers of a run besides the memory, kept per thread from one run to the next
/// ([`Scratch::take`], [`Scratch::give_back`]): nothing in them is read before the run
/// writes it, so what a run left there is never observed by another.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The value stack (`limits.stack` values).
    pub stack: Vec<i64>,
    /// The return stack, for code with subroutines: at least `call_depth` entries when that
    /// is at most [`PREALLOC_RETS`], else at least 64 (native code grows it).
    pub rets: Vec<u32>,
    /// Entries per basic block, for code that keeps statistics (zeroed by each such run).
    pub counts: Vec<u64>,
}

thread_local! {
    /// The buffers of the last run on this thread.
    static SCRATCH: Cell<Option<Box<Scratch>>> = const { Cell::new(None) };
    /// A second set, for a run nested in another on this thread (a host's contract call),
    /// which finds [`SCRATCH`] taken.
    static NESTED_SCRATCH: Cell<Option<Box<Scratch>>> = const { Cell::new(None) };
}

impl Scratch {
    /// This thread's buffers, or the nested runs' ones, or new ones if a run on this thread
    /// holds both. A run a panic unwinds out of drops its buffers; the next run makes others.
    #[inline]
    pub fn take() -> Box<Scratch> {
        if let Some(s) = SCRATCH.try_with(Cell::take).ok().flatten() {
            return s;
        }
        NESTED_SCRATCH
            .try_with(Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Keeps `self` for the thread's next run; the buffers kept before (a nested run's,
    /// given back first) become the nested runs' ones. A return stack grown past
    /// [`PREALLOC_RETS`] entries is not kept.
    #[inline(always)]
    pub fn give_back(mut self: Box<Self>) {
        if self.rets.len() > PREALLOC_RETS as usize {
            self.rets = Vec::new();
        }
        if let Ok(Some(old)) = SCRATCH.try_with(|s| s.replace(Some(self))) {
            let _ = NESTED_SCRATCH.try_with(|s| s.set(Some(old)));
        }
    }
}

impl<'a, 'e, H: Host + ?Sized> Frame<'a, 'e, H> {
    /// A frame for one run, with `rets` (code with subroutines, `calls`, gets a return stack
    /// there; see [`Scratch::rets`]) and `counts` (see [`Scratch::counts`]). Native code
    /// works on the memory's own static cells, which must be at least as many as the code's
    /// static keys (`NativeCode::execute_inner` checks).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn new(
        env: &'a mut Env<'e>,
        host: &'a mut H,
        memory: &'a mut Memory,
        gas_limit: u64,
        call_depth: u32,
        calls: bool,
        rets: &'a mut Vec<u32>,
        counts: &'a mut Vec<u64>,
    ) -> Self {
        if calls {
            let need = if call_depth <= PREALLOC_RETS {
                call_depth as usize
            } else {
                64
            };
            if rets.len() < need {
                rets.resize(need, 0);
            }
        }
        Frame {
            base: Base {
                env,
                memory,
                gas_limit,
                call_depth,
                rets,
                error: None,
                panic: None,
                counts,
                dense_room: 0,
            },
            host,
        }
    }

    /// The context block for native code over this frame and `stack`.
    pub fn ctx(&mut self, stack: &mut [i64], gas_left: u64) -> Ctx {
        let mut ctx = Ctx {
            gas_left,
            stack: stack.as_mut_ptr(),
            rets: self.rets.as_mut_ptr(),
            ret_cap: self.rets.len() as u64,
            slots: std::ptr::null_mut(),
            sink: 0,
            sp: 0,
            err_code: 0,
            err_pc: 0,
            err_a: 0,
            err_b: 0,
            host0: host0::<H>,
            host1: host1::<H>,
            host2: host2::<H>,
            host3: host3::<H>,
            host4: host4::<H>,
            frame: self as *mut Self as *mut c_void,
            dense: std::ptr::null_mut(),
            dense_len: 0,
            dense_room: 0,
            counts: self.counts.as_mut_ptr(),
            st_pending: 0,
            st_peak: 0,
            st_last_block: u64::MAX,
            st_last_height: 0,
            st_last_depth: 0,
            st_peak_depth: 0,
        };
        self.base.refresh_memory(&mut ctx);
        ctx
    }
}

impl Base<'_, '_> {
    /// Counts the keys native code created in the dense cells since the last
    /// [`Base::refresh_memory`] into the memory: before anything else uses the memory.
    #[inline]
    pub fn sync_dense(&mut self, ctx: &Ctx) {
        let made = self.dense_room.saturating_sub(ctx.dense_room);
        if made != 0 {
            // `made` is at most the room the memory gave, a `u32`.
            self.memory.note_dense_created(made as u32);
            self.dense_room = ctx.dense_room;
        }
    }

    /// Points `ctx` at the memory's static and dense cells as they are now (after
    /// [`Base::sync_dense`] and anything that may have moved them).
    #[inline]
    pub fn refresh_memory(&mut self, ctx: &mut Ctx) {
        ctx.slots = self.memory.static_cells();
        let d = self.memory.dense_keys();
        ctx.dense = d.cells;
        ctx.dense_len = d.len;
        ctx.dense_room = u64::from(d.room);
        self.dense_room = ctx.dense_room;
    }

    /// The error a failed run reports, built from the exit code in `ctx` exactly as the
    /// interpreter builds it.
    pub fn error(
        &mut self,
        ctx: &Ctx,
        stack_limit: u32,
        operands: &crate::lower::Operands,
    ) -> VmError {
        let pc = ctx.err_pc;
        let (a, b) = (ctx.err_a, ctx.err_b);
        let e = match Exit::from_code(ctx.err_code) {
            Some(Exit::Trampoline) => self
                .error
                .take()
                .unwrap_or_else(|| internal("a call out of native code failed without an error")),
            Some(Exit::OutOfGas) => VmError::out_of_gas(self.gas_limit),
            Some(Exit::DivisionByZero) => VmError::division_by_zero(a),
            Some(Exit::Overflow) => VmError::overflow(a, operands.at(pc).unwrap_or(b)),
            Some(Exit::NegOverflow) => VmError::neg_overflow(a),
            Some(Exit::CallDepth) => VmError::call_depth(self.call_depth),
            Some(Exit::StackRoom) => VmError::stack_room(b, a, stack_limit),
            Some(Exit::LoadMissing) => match self.memory.load(a as u32) {
                Err(e) => e,
                Ok(_) => internal("a static slot is out of sync with memory"),
            },
            Some(Exit::Internal) | None => internal("native code returned an unknown exit"),
        };
        e.at(pc)
    }
}

/// An error of the JIT itself (a bug in coopvm, never the contract's or the host's fault).
fn internal(what: &str) -> VmError {
    VmError::new(
        ErrorKind::EngineFailure,
        format!("the JIT engine failed: {what}"),
    )
}

/// Runs `f` on the frame behind `ctx`, turning an error or a panic into `None` (recorded in
/// the frame; native code adds the instruction index when it exits).
///
/// # Safety
/// `ctx` must be the live context of a run whose frame has type `Frame<H>`.
#[inline(always)]
unsafe fn guarded<H: Host + ?Sized, T>(
    ctx: *mut Ctx,
    f: impl FnOnce(&mut Ctx, &mut Frame<'_, '_, H>) -> Result<T, VmError>,
) -> Option<T> {
    // SAFETY: native code passes the context it was given, which `NativeCode::execute` made
    // from a live frame of this type and does not touch while native code runs.
    let ctx = unsafe { &mut *ctx };
    let frame = unsafe { &mut *(ctx.frame as *mut Frame<'_, '_, H>) };
    match catch_unwind(AssertUnwindSafe(|| f(ctx, frame))) {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            frame.error = Some(e);
            None
        }
        Err(payload) => {
            frame.panic = Some(payload);
            None
        }
    }
}

/// Runs `f` on the [`Base`] of the frame behind `ctx`, turning an error into `None`
/// (recorded in the frame; native code adds the instruction index when it exits). For the
/// trampolines that run only the core's own code (memory, the return stack), which does not
/// panic: no `catch_unwind` (were one to panic, the process would abort at the `extern "C"`
/// boundary rather than unwind through native code).
///
/// # Safety
/// `ctx` must be the live context of a run (its frame starts with a [`Base`]).
#[inline(always)]
unsafe fn plain<T>(
    ctx: *mut Ctx,
    f: impl FnOnce(&mut Ctx, &mut Base<'_, '_>) -> Result<T, VmError>,
) -> Option<T> {
    // SAFETY: native code passes the context it was given, which `NativeCode::execute` made
    // from a live `Frame`, whose first field (`repr(C)`) is its `Base`; Rust does not touch
    // the frame while native code runs.
    let ctx = unsafe { &mut *ctx };
    let base = unsafe { &mut *(ctx.frame as *mut Base<'_, '_>) };
    match f(ctx, base) {
        Ok(v) => Some(v),
        Err(e) => {
            base.error = Some(e);
            None
        }
    }
}

/// A status for native code: [`STATUS_OK`] or [`STATUS_ERROR`].
fn status(r: Option<()>) -> u32 {
    if r.is_some() {
        STATUS_OK
    } else {
        STATUS_ERROR
    }
}

/// Runs host opcode `HostOp::ALL[op]` with `args` and `gas` left; the value and the gas left
/// after it.
///
/// # Safety
/// As [`guarded`].
#[inline(always)]
unsafe fn host_call<H: Host + ?Sized>(ctx: *mut Ctx, op: u32, gas: i64, args: &[i64]) -> Ret2 {
    // SAFETY: forwarded from native code, see `guarded`.
    let r = unsafe {
        guarded::<H, Ret2>(ctx, |_, frame| {
            // The index into `HostOp::ALL` the lowering passes (one load; decoding the
            // opcode's byte instead costs a few dozen instructions a call).
            let op = *HostOp::ALL
                .get(op as usize)
                .ok_or_else(|| internal("bad host opcode"))?;
            let gas = gas as u64;
            let r = dispatch(&mut *frame.host, &mut *frame.base.env, op, args, gas)?;
            if r.gas > gas {
                return Err(VmError::out_of_gas(frame.gas_limit));
            }
            Ok(Ret2 {
                a: r.value,
                b: (gas - r.gas) as i64,
            })
        })
    };
    r.unwrap_or(Ret2 { a: 0, b: FAILED })
}

unsafe extern "C" fn host0<H: Host + ?Sized>(ctx: *mut Ctx, op: u32, gas: i64) -> Ret2 {
    // SAFETY: forwarded from native code, see `guarded`.
    unsafe { host_call::<H>(ctx, op, gas, &[]) }
}

unsafe extern "C" fn host1<H: Host + ?Sized>(ctx: *mut Ctx, op: u32, gas: i64, a: i64) -> Ret2 {
    // SAFETY: forwarded from native code, see `guarded`.
    unsafe { host_call::<H>(ctx, op, gas, &[a]) }
}

unsafe extern "C" fn host2<H: Host + ?Sized>(
    ctx: *mut Ctx,
    op: u32,
    gas: i64,
    a: i64,
    b: i64,
) -> Ret2 {
    // SAFETY: forwarded from native code, see `guarded`.
    unsafe { host_call::<H>(ctx, op, gas, &[a, b]) }
}

unsafe extern "C" fn host3<H: Host + ?Sized>(
    ctx: *mut Ctx,
    op: u32,
    gas: i64,
    a: i64,
    b: i64,
    c: i64,
) -> Ret2 {
    // SAFETY: forwarded from native code, see `guarded`.
    unsafe { host_call::<H>(ctx, op, gas, &[a, b, c]) }
}

unsafe extern "C" fn host4<H: Host + ?Sized>(
    ctx: *mut Ctx,
    op: u32,
    gas: i64,
    a: i64,
    b: i64,
    c: i64,
    d: i64,
) -> Ret2 {
    // SAFETY: forwarded from native code, see `guarded`.
    unsafe { host_call::<H>(ctx, op, gas, &[a, b, c, d]) }
}

/// The trampolines that do not depend on the host's type, which native code calls at a fixed
/// address ([`Fixed::addr`]): they are functions of this process, so the address holds for as
/// long as any code compiled in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fixed {
    /// [`StoreNewFn`].
    StoreNew,
    /// [`StoreDynFn`].
    StoreDyn,
    /// [`LoadDynFn`].
    LoadDyn,
    /// [`GrowFn`].
    GrowRets,
    /// [`TStoreFn`].
    TStore,
    /// [`TLoadFn`].
    TLoad,
}

impl Fixed {
    /// The trampoline's address.
    pub fn addr(self) -> i64 {
        let f = match self {
            Fixed::StoreNew => store_new as StoreNewFn as usize,
            Fixed::StoreDyn => store_dyn as StoreDynFn as usize,
            Fixed::LoadDyn => load_dyn as LoadDynFn as usize,
            Fixed::GrowRets => grow_rets as GrowFn as usize,
            Fixed::TStore => tstore as TStoreFn as usize,
            Fixed::TLoad => tload as TLoadFn as usize,
        };
        f as i64
    }
}

/// The address of the trampoline of system opcode `SystemOp::ALL[index]` ([`SYSTEM`]).
pub(crate) fn system_addr(index: usize) -> Option<i64> {
    let f = SYSTEM.get(index)?;
    // SAFETY: every variant of the union is a function pointer, of one size and with no
    // invalid bit patterns among those `SYSTEM` holds; reading it as `s0` reads the address
    // of whichever trampoline it holds, which is only ever called with its own signature.
    let addr = unsafe { f.s0 } as usize;
    Some(addr as i64)
}

/// A system opcode's trampoline, of its arity.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) union SysFn {
    pub s0: Sys0,
    pub s1: Sys1,
    pub s2: Sys2,
}

/// The trampoline of `SystemOp::ALL[I]`, by its arity.
const fn system_fn<const I: usize>() -> SysFn {
    match SystemOp::ALL[I].host().info().pops {
        0 => SysFn { s0: sys0::<I> },
        1 => SysFn { s1: sys1::<I> },
        _ => SysFn { s2: sys2::<I> },
    }
}

/// The system opcodes' trampolines, by index in `SystemOp::ALL` (one function each, so the
/// operation is known where it is compiled: no dispatch on the opcode at run time).
pub(crate) static SYSTEM: [SysFn; 7] = [
    system_fn::<0>(),
    system_fn::<1>(),
    system_fn::<2>(),
    system_fn::<3>(),
    system_fn::<4>(),
    system_fn::<5>(),
    system_fn::<6>(),
];

const _: () = {
    assert!(
        SystemOp::ALL.len() == SYSTEM.len(),
        "add the new system opcode's trampoline to SYSTEM"
    );
    let mut i = 0;
    while i < SystemOp::ALL.len() {
        assert!(
            SystemOp::ALL[i].host().info().pops <= 2,
            "add a system trampoline for the new arity"
        );
        i += 1;
    }
};

/// Runs system opcode `SystemOp::ALL[I]` with `args` and `gas` left; the value and the gas
/// left after it. Catches nothing: system opcodes run only the core's own code, which does
/// not panic.
///
/// # Safety
/// `ctx` must be the live context of a run (its frame starts with a [`Base`]).
#[inline(always)]
unsafe fn system_call<const I: usize>(ctx: *mut Ctx, gas: i64, args: &[i64]) -> Ret2 {
    // SAFETY: native code passes the context it was given, which `NativeCode::execute` made
    // from a live `Frame`, whose first field (`repr(C)`) is its `Base`; Rust does not touch
    // the frame while native code runs.
    let base = unsafe { &mut *((*ctx).frame as *mut Base<'_, '_>) };
    let gas = gas as u64;
    let error = match dispatch_system(base.env, SystemOp::ALL[I], args) {
        Ok(r) if r.gas <= gas => {
            return Ret2 {
                a: r.value,
                b: (gas - r.gas) as i64,
            }
        }
        Ok(_) => VmError::out_of_gas(base.gas_limit),
        Err(e) => e,
    };
    base.error = Some(error);
    Ret2 { a: 0, b: FAILED }
}

unsafe extern "C" fn sys0<const I: usize>(ctx: *mut Ctx, gas: i64) -> Ret2 {
    // SAFETY: forwarded from native code, see `system_call`.
    unsafe { system_call::<I>(ctx, gas, &[]) }
}

unsafe extern "C" fn sys1<const I: usize>(ctx: *mut Ctx, gas: i64, a: i64) -> Ret2 {
    // SAFETY: forwarded from native code, see `system_call`.
    unsafe { system_call::<I>(ctx, gas, &[a]) }
}

unsafe extern "C" fn sys2<const I: usize>(ctx: *mut Ctx, gas: i64, a: i64, b: i64) -> Ret2 {
    // SAFETY: forwarded from native code, see `system_call`.
    unsafe { system_call::<I>(ctx, gas, &[a, b]) }
}

unsafe extern "C" fn store_new(ctx: *mut Ctx, slot: u32, value: i64) -> u32 {
    // SAFETY: forwarded from native code, see `plain`.
    let r = unsafe {
        plain::<()>(ctx, |ctx, frame| {
            // The key count first (the store checks it against the limit), the cells' view
            // after (the dense cells' room changes).
            frame.sync_dense(ctx);
            let r = frame.memory.store(slot, value);
            frame.refresh_memory(ctx);
            r
        })
    };
    status(r)
}

unsafe extern "C" fn store_dyn(ctx: *mut Ctx, key: i64, value: i64) -> u32 {
    // SAFETY: forwarded from native code, see `plain`.
    let r = unsafe {
        plain::<()>(ctx, |ctx, frame| {
            frame.sync_dense(ctx);
            let r = frame.memory.store_dyn(key, value);
            frame.refresh_memory(ctx);
            r
        })
    };
    status(r)
}

unsafe extern "C" fn load_dyn(ctx: *mut Ctx, key: i64) -> Ret2 {
    // SAFETY: forwarded from native code, see `plain`.
    let r = unsafe { plain::<i64>(ctx, |_, frame| frame.memory.load_dyn(key)) };
    match r {
        Some(a) => Ret2 { a, b: 0 },
        None => Ret2 { a: 0, b: FAILED },
    }
}

unsafe extern "C" fn grow_rets(ctx: *mut Ctx) -> u32 {
    // SAFETY: forwarded from native code, see `plain`.
    let r = unsafe {
        plain::<()>(ctx, |ctx, frame| {
            let len = frame.rets.len();
            let want = (len.saturating_mul(2))
                .max(16)
                .min(frame.call_depth as usize)
                .max(len + 1);
            frame.rets.resize(want, 0);
            ctx.rets = frame.rets.as_mut_ptr();
            ctx.ret_cap = frame.rets.len() as u64;
            Ok(())
        })
    };
    status(r)
}

unsafe extern "C" fn tstore(ctx: *mut Ctx, dynamic: u32, key: i64, value: i64) -> u32 {
    // SAFETY: forwarded from native code, see `plain`.
    let r = unsafe {
        plain::<()>(ctx, |ctx, frame| {
            frame.sync_dense(ctx);
            let r = if dynamic != 0 {
                frame.memory.tstore_dyn(key, value)
            } else {
                frame.memory.tstore(key as u32, value)
            };
            frame.refresh_memory(ctx);
            r
        })
    };
    status(r)
}

unsafe extern "C" fn tload(ctx: *mut Ctx, dynamic: u32, key: i64) -> Ret2 {
    // SAFETY: forwarded from native code, see `plain`.
    let r = unsafe {
        plain::<i64>(ctx, |_, frame| {
            if dynamic != 0 {
                frame.memory.tload_dyn(key)
            } else {
                frame.memory.tload(key as u32)
            }
        })
    };
    match r {
        Some(a) => Ret2 { a, b: 0 },
        None => Ret2 { a: 0, b: FAILED },
    }
}
