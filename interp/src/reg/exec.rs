//! Running register code: the interpreter's loop.
//!
//! One `match` per operation over [`RegOp`] (16 bytes), with the instruction pointer, the
//! frame base and the gas left in locals. The value and call stacks are kept per thread
//! between runs ([`Stacks`]), so a run allocates nothing but its result.
//!
//! # Why the unchecked accesses are in bounds
//!
//! - **Operations.** `ip` starts at operation 0 and moves only to the next operation or to
//!   a branch target or return address. Lowering checks every target against the code's
//!   length (`lower`'s `assert!`) and ends the code with [`RegOp::Unreachable`], which
//!   panics, after a terminator; return addresses are the operation after a `Call`, never
//!   past `Unreachable`. A loop-closing operation (`RegOp::closing_target_mut`) also passes over
//!   the operation after it, which lowering makes the loop head's copy, never the last.
//! - **Slots.** An operation of a subroutine touches only slots below the subroutine's
//!   highest stack height, as the verifier computed it (`Func::max_height`); lowering checks
//!   this for every operation it emits (`Lowerer::emit`'s `assert!`). The main body's frame
//!   starts at 0 and the verifier bounds its height by the stack limit; a `Call` enters a
//!   frame only after checking that the frame's base plus the callee's highest height fits
//!   in the stack limit (the `stack_overflow` error otherwise). The value stack holds at
//!   least the stack limit's values ([`take`]). So `fp + slot` stays inside the value stack;
//!   a `debug_assert!` checks each access.
//! - **Static memory slots.** Lowering checks that every static key an operation names is
//!   one of the program's (then stores it as its cell's offset in bytes, `CELL` times the
//!   key); the loop checks once, before it starts, that the memory holds at
//!   least that many slots ([`Memory::static_len`]), and accesses them through
//!   [`Memory::static_cells`] (asked again after every other call on the memory, as its
//!   contract requires). It reads cells and overwrites cells that hold a value; a store to
//!   an empty cell, and every error, goes through [`Memory::store`] and [`Memory::load`].
//! - **Present keys.** The present forms of the static-key operations (`RegOp::present`)
//!   read a cell's value without testing that it holds one: lowering emits them only where
//!   `coopvm_core::presence` proves that a `store K` or a successful `load K` of the key
//!   precedes on every path (assuming no key present at the start of a run), and nothing
//!   removes a key during a run. A `debug_assert!` checks each such read.
//! - **Divisors.** `DivI`, `ModI` and `BrModINz` divide by an immediate that is neither 0
//!   nor -1 (`Lowerer::emit` asserts it), so the division cannot fail; the loop tells the
//!   compiler, which drops the tests.
//! - Every slot is written before it is read in the same run (the verifier's stack
//!   discipline: a position is read only after it was pushed), so values left by an earlier
//!   run are never observed; debug builds fill the stack with a marker to make a violation
//!   visible.

use super::{Inst, RegCode, RegOp, CELL, NO_BLOCK};
use crate::Probe;
use coopvm_core::error::{ErrorKind, VmError};
use coopvm_core::host::{dispatch, Env, Host};
use coopvm_core::memory::Memory;
use coopvm_core::run::{Exec, Values};
use coopvm_core::Limits;
use std::cell::Cell;

/// A call in progress: where to return to and the caller's frame base.
#[derive(Clone, Copy, Debug)]
struct Frame {
    ret: u32,
    fp: u32,
}

/// The value stack and call stack of a run, kept between runs of a thread.
#[derive(Default)]
pub(crate) struct Stacks {
    values: Vec<i64>,
    frames: Vec<Frame>,
}

thread_local! {
    /// The stacks of the last finished run. A nested run (a host's `callcontract` run on the
    /// same thread) finds none while the outer run holds them and makes its own.
    static SPARE: Cell<Option<Box<Stacks>>> = const { Cell::new(None) };
}

/// Stacks larger than this (values, or frames) are freed after their run, not kept.
const SPARE_LEN: usize = 1 << 16;
/// What debug builds fill the value stack with before a run.
const MARKER: i64 = 0x5EED_0BAD_C0DE_F00D;

/// A set of stacks whose value stack holds at least `len` values.
fn take(len: usize) -> Box<Stacks> {
    let mut stacks = SPARE
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_default();
    if stacks.values.len() < len {
        stacks.values.resize(len, 0);
    }
    if cfg!(debug_assertions) {
        stacks.values[..len].fill(MARKER);
    }
    stacks
}

/// Keeps a set of stacks for the thread's next run.
fn give_back(stacks: Box<Stacks>) {
    if stacks.values.len() <= SPARE_LEN && stacks.frames.capacity() <= SPARE_LEN {
        let _ = SPARE.try_with(|spare| spare.set(Some(stacks)));
    }
}

/// How a run ended.
enum End {
    /// Success, leaving this many values on the stack (`values[..n]`).
    Done(usize),
    /// Failure; `at_charge` when a block's gas charge failed.
    Failed { error: VmError, at_charge: bool },
}

/// Executes `code` (lowered for `limits`): the report, and whether it stopped at a block's
/// gas charge (for statistics).
pub(crate) fn execute<H: Host + ?Sized, P: Probe>(
    code: &RegCode,
    limits: &Limits,
    env: &mut Env<'_>,
    host: &mut H,
    memory: &mut Memory,
    gas_limit: u64,
    probe: &mut P,
) -> (Exec, bool) {
    let stack_len = limits.stack as usize;
    let mut stacks = take(stack_len);
    // The run's inputs (`.params N`) are the main frame's first slots. The run protocol
    // passes exactly N; a caller passing fewer gets zeros for the rest, never stale values.
    // Only those slots are read before written: inputs beyond them are not copied, and
    // for a contract that takes none (most) nothing is (a call to `memcpy` otherwise).
    let params = (code.params as usize).min(stack_len);
    if params != 0 {
        let inputs = env.inputs();
        let given = inputs.len().min(params);
        stacks.values[..given].copy_from_slice(&inputs[..given]);
        if given < params {
            stacks.values[given..params].fill(0);
        }
    }
    let (end, gas_left) = run(
        code,
        limits.call_depth,
        stack_len,
        &mut stacks,
        env,
        host,
        memory,
        gas_limit,
        probe,
    );
    let (result, stack, at_charge) = match end {
        End::Done(sp) => (Ok(()), Values::from(&stacks.values[..sp]), false),
        End::Failed { error, at_charge } => (Err(error), Values::new(), at_charge),
    };
    give_back(stacks);
    let exec = Exec {
        result,
        stack,
        gas_used: gas_limit - gas_left,
    };
    (exec, at_charge)
}

#[cold]
#[inline(never)]
fn failed(error: VmError, pc: u32) -> End {
    End::Failed {
        error: error.at(pc),
        at_charge: false,
    }
}

/// The failure of `load K` of a key that holds no value.
#[cold]
#[inline(never)]
fn missing(memory: &Memory, key: u32, pc: u32) -> End {
    match memory.load(key) {
        Err(e) => failed(e, pc),
        Ok(_) => unreachable!("a cell without a value loads as missing"),
    }
}

#[cold]
#[inline(never)]
fn overflow(a: i64, b: i64, pc: u32) -> End {
    failed(VmError::overflow(a, b), pc)
}

#[cold]
#[inline(never)]
fn division_by_zero(a: i64, pc: u32) -> End {
    failed(VmError::division_by_zero(a), pc)
}

#[cold]
#[inline(never)]
fn out_of_gas(gas_limit: u64, pc: u32, at_charge: bool) -> End {
    End::Failed {
        error: VmError::out_of_gas(gas_limit).at(pc),
        at_charge,
    }
}

/// The loop. Returns how the run ended and the gas left.
#[allow(clippy::too_many_arguments)]
fn run<H: Host + ?Sized, P: Probe>(
    code: &RegCode,
    call_depth: u32,
    stack_len: usize,
    stacks: &mut Stacks,
    env: &mut Env<'_>,
    host: &mut H,
    memory: &mut Memory,
    gas_limit: u64,
    probe: &mut P,
) -> (End, u64) {
    let ops: *const Inst = code.ops.as_ptr();
    debug_assert!(matches!(code.ops.last(), Some(i) if i.op == RegOp::Unreachable));
    debug_assert!(stacks.values.len() >= stack_len);
    let values = stacks.values.as_mut_ptr();
    let frames = &mut stacks.frames;
    frames.clear();
    let call_depth = call_depth as usize;
    let mut ip = ops;
    let mut fp_off = 0usize;
    let mut fp = values;
    let mut gas = gas_limit;
    let statics = memory.static_len();
    assert!(
        statics >= code.keys as usize,
        "the memory has {statics} static slots, the code names {}",
        code.keys
    );
    let mut cells = memory.static_cells();

    // The original instruction index of the operation being executed, plus `off` (the
    // position of the failing instruction within a fused operation).
    macro_rules! pc {
        (index) => {{
            // SAFETY: `ip` points at the current operation, inside `ops` (module docs).
            (unsafe { ip.offset_from(ops) } as usize)
        }};
        ($off:expr) => {
            code.pcs[pc!(index)] + $off
        };
    }
    // A pointer to slot `s` of the current frame.
    macro_rules! slot {
        ($s:expr) => {{
            let s = $s as usize;
            debug_assert!(fp_off + s < stack_len, "slot {s} of a frame at {fp_off}");
            // SAFETY: `fp_off + s` is below the stack limit, and the value stack holds that
            // many values (module docs).
            unsafe { fp.add(s) }
        }};
    }
    macro_rules! get {
        ($s:expr) => {{
            let p = slot!($s);
            // SAFETY: in bounds (`slot!`), aligned, and no reference into the stack is live.
            unsafe { *p }
        }};
    }
    macro_rules! set {
        ($s:expr, $v:expr) => {{
            let v: i64 = $v;
            let p = slot!($s);
            // SAFETY: as for `get!`.
            unsafe { *p = v }
        }};
    }
    // Continues at a branch's target, `$t` bytes from the operation after the branch
    // (`RegCode::ops`' targets are relative). `ip` points at the branch and moves one
    // operation on after every operation (the end of the loop), so it becomes the target
    // minus one operation: one addition. It may point one operation before the code for a
    // moment (a branch to operation 0), hence the wrapping arithmetic; it is read only once
    // back inside.
    macro_rules! goto {
        ($t:expr) => {{
            let t = $t as i32 as isize;
            debug_assert!({
                let at = ip as isize - ops as isize + t + size_of::<Inst>() as isize;
                at >= 0 && (at as usize) < code.ops.len() * size_of::<Inst>()
            });
            ip = ip.wrapping_byte_offset(t);
        }};
    }
    // Continues at operation `$i` (a return address, never 0: the operation after a call).
    macro_rules! goto_index {
        ($i:expr) => {{
            debug_assert!(($i as usize) < code.ops.len() && $i > 0);
            ip = ops.wrapping_add($i as usize - 1);
        }};
    }
    macro_rules! checked {
        ($dst:expr, $x:expr, $y:expr, $method:ident, $off:expr) => {{
            let (x, y): (i64, i64) = ($x, $y);
            match x.$method(y) {
                Some(v) => set!($dst, v),
                None => break overflow(x, y, pc!($off)),
            }
        }};
    }
    macro_rules! divide {
        ($dst:expr, $x:expr, $y:expr, $method:ident) => {{
            let (x, y): (i64, i64) = ($x, $y);
            if y == 0 {
                break division_by_zero(x, pc!(0));
            }
            match x.$method(y) {
                Some(v) => set!($dst, v),
                None => break overflow(x, y, pc!(0)),
            }
        }};
    }
    // The immediate divisor of a `DivI`, `ModI` or `BrModINz`, which lowering makes neither
    // 0 nor -1: the division cannot fail, and the compiler is told so (no tests).
    macro_rules! divisor {
        ($imm:expr) => {{
            let imm: i32 = $imm;
            debug_assert!(imm != 0 && imm != -1, "a divisor that can fail: {imm}");
            // SAFETY: lowering emits these operations only with such an immediate
            // (`Lowerer::binary`, `Lowerer::mod_branch`), and `Lowerer::emit` asserts it.
            unsafe { std::hint::assert_unchecked(imm != 0 && imm != -1) };
            i64::from(imm)
        }};
    }
    // A pointer to the cell at byte offset `k` (an operation's static key: the key's
    // index times `CELL`).
    macro_rules! cell {
        ($k:expr) => {{
            let k = $k as usize;
            debug_assert!(k.is_multiple_of(CELL as usize) && k / (CELL as usize) < statics);
            // SAFETY: `k / CELL` is below the program's number of keys (lowering) and the
            // memory has at least that many cells (checked before the loop); `cells` is
            // current (module docs).
            unsafe { cells.byte_add(k) }
        }};
    }
    // The value of static key `k` (`load K`), or the failure `load K` reports.
    macro_rules! load {
        ($key:expr) => {{
            let c = cell!($key);
            // SAFETY: a current pointer to an existing cell, read as `Memory::load` reads it.
            match unsafe { *c } {
                Some(v) => v,
                None => break missing(memory, $key / CELL, pc!(0)),
            }
        }};
    }
    // The value of static key `k`, which the presence analysis proves holds one (the
    // present forms of the operations, `RegOp::present`): the cell is read untested.
    macro_rules! present {
        ($key:expr) => {{
            let c = cell!($key);
            // SAFETY: a current pointer to an existing cell (`cell!`). Lowering emits a
            // present form only where `Presence` proves that a `store K` or a successful
            // `load K` of this key precedes the operation on every path of its subroutine in
            // this run, and nothing removes a key from the memory during a run (hosts get no
            // access to it), so the cell holds a value.
            unsafe {
                debug_assert!((*c).is_some(), "a proven key holds no value");
                match *c {
                    Some(v) => v,
                    None => std::hint::unreachable_unchecked(),
                }
            }
        }};
    }
    // `store K` of `v` to a key proven to hold a value (as for `present!`): overwritten in
    // place, untested.
    macro_rules! overwrite {
        ($key:expr, $v:expr) => {{
            let (c, v): (*mut Option<i64>, i64) = (cell!($key), $v);
            // SAFETY: as for `present!`: a current pointer to a cell that holds a value.
            unsafe {
                debug_assert!((*c).is_some(), "a proven key holds no value");
                match &mut *c {
                    Some(held) => *held = v,
                    None => std::hint::unreachable_unchecked(),
                }
            }
        }};
    }
    // `store K` of `v`, overwriting in place when the key holds a value.
    macro_rules! store {
        ($key:expr, $v:expr, $off:expr) => {{
            let (key, v): (u32, i64) = ($key, $v);
            let c = cell!(key);
            // SAFETY: a current pointer to an existing cell; overwriting a held value is what
            // `Memory::store` does, a new key goes through it.
            match unsafe { &mut *c } {
                Some(held) => *held = v,
                None => {
                    let stored = memory.store(key / CELL, v);
                    cells = memory.static_cells();
                    if let Err(e) = stored {
                        break failed(e, pc!($off));
                    }
                }
            }
        }};
    }

    // Tells the probe of the block entered at the operation being executed.
    macro_rules! enter {
        () => {{
            if P::ON {
                let e = code.entries[pc!(index)];
                if e.block != NO_BLOCK {
                    probe.enter(e.block, fp_off + e.height as usize, frames.len());
                }
            }
        }};
    }

    // The first part of the loop head a loop-closing operation runs after itself
    // (`RegOp::closing_target_mut`): the head's copy (the next operation) is passed over as
    // the loop would execute it, its block's charge first (the same `out_of_gas`, at the
    // same place, the subtraction kept when it fails as the loop keeps it), then the probe
    // told. `$head` says which heads the operation may run (checked in debug builds).
    macro_rules! charge_head {
        (|$h:ident| $head:expr) => {{
            // SAFETY: lowering makes a closing operation only where the head's copy follows
            // it, so one past `ip` (the closing operation) is the copy, and one past that is
            // at most the final `Unreachable`.
            ip = unsafe { ip.add(1) };
            let $h: &Inst = unsafe { &*ip };
            debug_assert!($head && $h.charge != 0);
            let (left, short) = gas.overflowing_sub($h.charge);
            gas = left;
            if short {
                break out_of_gas(gas_limit, code.entries[pc!(index)].pc, true);
            }
            enter!();
        }};
    }
    // Continues at the closing operation's `target` (where the head's copy branches; it is
    // relative to the copy, which `ip` points at).
    macro_rules! taken {
        ($target:expr) => {{
            // SAFETY: back to the closing operation, in `ops`, as `goto!` expects.
            ip = unsafe { ip.sub(1) };
            goto!($target);
        }};
    }
    // The loop head an `IncMemCloseP` or `DecMemCloseP` runs after itself, `v` being the new
    // value of the key the head tests against zero: its charge, then the test. Bit 0 of
    // `signs`: taken when negative, bit 1 zero, bit 2 positive (a head taken unless zero has
    // operations of its own, `close_nz!`). A counted loop's counter is mostly positive: that
    // case is tested first. Each case branches by itself (no `taken` flag to materialise and
    // test again).
    macro_rules! close {
        ($v:expr, $signs:expr, $target:expr) => {{
            charge_head!(|head| head.op.zero_test().is_some());
            let v: i64 = $v;
            let signs: u8 = $signs;
            if v > 0 {
                if signs & 4 != 0 {
                    taken!($target);
                }
            } else if v == 0 {
                if signs & 2 != 0 {
                    taken!($target);
                }
            } else if signs & 1 != 0 {
                taken!($target);
            }
        }};
    }
    // The loop head a `SubINz`, `LoadSubINzP`, `IncMemNzP` or `DecMemNzP` runs after
    // itself: as `close!`, for a head taken when the value `v` it just wrote is not zero
    // (`jumpif` on the slot, or a test of the key against zero of that kind).
    macro_rules! close_nz {
        ($v:expr, $target:expr) => {{
            charge_head!(|head| matches!(head.op, RegOp::BrNz { .. })
                || head.op.zero_test().is_some_and(|(_, signs)| signs == 5));
            let v: i64 = $v;
            if v != 0 {
                taken!($target);
            }
        }};
    }
    // `load K; push n; add|sub; store K` on the value `m` read from K (`load!` or, for a
    // key proven present, `present!`): `op` is `checked_add` or `checked_sub`, and `write`
    // stores the result `v` (`store!`, or `overwrite!` for a present key); the new value.
    macro_rules! step_mem {
        ($m:expr, $op:ident, $imm:expr, |$v:ident| $write:expr) => {{
            let m: i64 = $m;
            let Some($v) = m.$op(i64::from($imm)) else {
                break overflow(m, i64::from($imm), pc!(2));
            };
            $write;
            $v
        }};
    }

    let end = loop {
        // Read in place, through `ip` (which every arm addresses its fields through): each
        // arm loads only the fields it uses.
        debug_assert!({
            let at = ip as usize - ops as usize;
            at.is_multiple_of(size_of::<Inst>()) && at / size_of::<Inst>() < code.ops.len()
        });
        // SAFETY: `ip` points at an operation of `ops` (module docs).
        let inst: &Inst = unsafe { &*ip };
        let charge = inst.charge;
        // The first operation of a block charges its whole cost first; every other charges
        // 0, which never fails, so the test runs unconditionally (one subtraction and one
        // branch per operation, no test of whether the operation starts a block). The
        // subtraction is kept even when it fails: running out of gas leaves none (below).
        let (left, short) = gas.overflowing_sub(charge);
        gas = left;
        if short {
            break out_of_gas(gas_limit, code.entries[pc!(index)].pc, true);
        }
        if P::ON && charge != 0 {
            enter!();
        }
        match inst.op {
            RegOp::Nop => {}
            RegOp::Enter => enter!(),

            RegOp::Const { dst, lo, hi } => set!(dst, (u64::from(lo) | u64::from(hi) << 32) as i64),
            RegOp::Copy { dst, src } => set!(dst, get!(src)),
            RegOp::Swap { a, b } => {
                let (x, y) = (get!(a), get!(b));
                set!(a, y);
                set!(b, x);
            }

            RegOp::Add { dst, a, b } => checked!(dst, get!(a), get!(b), checked_add, 0),
            RegOp::AddI { dst, a, imm } => checked!(dst, get!(a), i64::from(imm), checked_add, 0),
            RegOp::Sub { dst, a, b } => checked!(dst, get!(a), get!(b), checked_sub, 0),
            RegOp::SubI { dst, a, imm } => checked!(dst, get!(a), i64::from(imm), checked_sub, 0),
            RegOp::Mul { dst, a, b } => checked!(dst, get!(a), get!(b), checked_mul, 0),
            RegOp::MulI { dst, a, imm } => checked!(dst, get!(a), i64::from(imm), checked_mul, 0),
            RegOp::Div { dst, a, b } => divide!(dst, get!(a), get!(b), checked_div),
            RegOp::DivI { dst, a, imm } => set!(dst, get!(a) / divisor!(imm)),
            RegOp::Mod { dst, a, b } => divide!(dst, get!(a), get!(b), checked_rem),
            RegOp::ModI { dst, a, imm } => set!(dst, get!(a) % divisor!(imm)),
            RegOp::Neg { dst, a } => {
                let x = get!(a);
                match x.checked_neg() {
                    Some(v) => set!(dst, v),
                    None => break failed(VmError::neg_overflow(x), pc!(0)),
                }
            }
            RegOp::Eq { dst, a, b } => set!(dst, i64::from(get!(a) == get!(b))),
            RegOp::EqI { dst, a, imm } => set!(dst, i64::from(get!(a) == i64::from(imm))),
            RegOp::Ne { dst, a, b } => set!(dst, i64::from(get!(a) != get!(b))),
            RegOp::NeI { dst, a, imm } => set!(dst, i64::from(get!(a) != i64::from(imm))),
            RegOp::Lt { dst, a, b } => set!(dst, i64::from(get!(a) < get!(b))),
            RegOp::LtI { dst, a, imm } => set!(dst, i64::from(get!(a) < i64::from(imm))),
            RegOp::Le { dst, a, b } => set!(dst, i64::from(get!(a) <= get!(b))),
            RegOp::LeI { dst, a, imm } => set!(dst, i64::from(get!(a) <= i64::from(imm))),
            RegOp::Gt { dst, a, b } => set!(dst, i64::from(get!(a) > get!(b))),
            RegOp::GtI { dst, a, imm } => set!(dst, i64::from(get!(a) > i64::from(imm))),
            RegOp::Ge { dst, a, b } => set!(dst, i64::from(get!(a) >= get!(b))),
            RegOp::GeI { dst, a, imm } => set!(dst, i64::from(get!(a) >= i64::from(imm))),
            RegOp::And { dst, a, b } => set!(dst, i64::from(get!(a) != 0 && get!(b) != 0)),
            RegOp::AndI { dst, a, imm } => set!(dst, i64::from(get!(a) != 0 && imm != 0)),
            RegOp::Or { dst, a, b } => set!(dst, i64::from(get!(a) != 0 || get!(b) != 0)),
            RegOp::OrI { dst, a, imm } => set!(dst, i64::from(get!(a) != 0 || imm != 0)),
            RegOp::Not { dst, a } => set!(dst, i64::from(get!(a) == 0)),

            RegOp::Load { dst, key } => set!(dst, load!(key)),
            RegOp::Store { key, src } => store!(key, get!(src), 0),
            RegOp::LoadDyn { dst, key } => match memory.load_dyn(get!(key)) {
                Ok(v) => set!(dst, v),
                Err(e) => break failed(e, pc!(0)),
            },
            RegOp::StoreDyn { key, src } => {
                let stored = memory.store_dyn(get!(key), get!(src));
                cells = memory.static_cells();
                if let Err(e) = stored {
                    break failed(e, pc!(0));
                }
            }
            RegOp::StoreDynI { key, imm } => {
                let stored = memory.store_dyn(get!(key), i64::from(imm));
                cells = memory.static_cells();
                if let Err(e) = stored {
                    break failed(e, pc!(0));
                }
            }
            RegOp::TLoad { dst, key } => match memory.tload(key) {
                Ok(v) => set!(dst, v),
                Err(e) => break failed(e, pc!(0)),
            },
            RegOp::TStore { key, src } => {
                let stored = memory.tstore(key, get!(src));
                cells = memory.static_cells();
                if let Err(e) = stored {
                    break failed(e, pc!(0));
                }
            }
            RegOp::TLoadDyn { dst, key } => match memory.tload_dyn(get!(key)) {
                Ok(v) => set!(dst, v),
                Err(e) => break failed(e, pc!(0)),
            },
            RegOp::TStoreDyn { key, src } => {
                let stored = memory.tstore_dyn(get!(key), get!(src));
                cells = memory.static_cells();
                if let Err(e) = stored {
                    break failed(e, pc!(0));
                }
            }
            // load K (+0); add (+1)
            RegOp::AddLoad { dst, a, key } => {
                let m = load!(key);
                checked!(dst, get!(a), m, checked_add, 1)
            }
            // load K (+0); push n (+1); add|sub (+2)
            RegOp::LoadAddI { dst, key, imm } => {
                let m = load!(key);
                checked!(dst, m, i64::from(imm), checked_add, 2)
            }
            RegOp::LoadSubI { dst, key, imm } => {
                let m = load!(key);
                checked!(dst, m, i64::from(imm), checked_sub, 2)
            }
            // load K (+0); push n (+1); add|sub (+2); store K (+3)
            RegOp::IncMem { key, imm } => {
                step_mem!(load!(key), checked_add, imm, |v| store!(key, v, 3));
            }
            RegOp::DecMem { key, imm } => {
                step_mem!(load!(key), checked_sub, imm, |v| store!(key, v, 3));
            }

            RegOp::LoadP { dst, key } => set!(dst, present!(key)),
            RegOp::StoreP { key, src } => overwrite!(key, get!(src)),
            RegOp::AddLoadP { dst, a, key } => {
                let m = present!(key);
                checked!(dst, get!(a), m, checked_add, 1)
            }
            RegOp::LoadAddIP { dst, key, imm } => {
                let m = present!(key);
                checked!(dst, m, i64::from(imm), checked_add, 2)
            }
            RegOp::LoadSubIP { dst, key, imm } => {
                let m = present!(key);
                checked!(dst, m, i64::from(imm), checked_sub, 2)
            }
            RegOp::IncMemP { key, imm } => {
                step_mem!(present!(key), checked_add, imm, |v| overwrite!(key, v));
            }
            RegOp::DecMemP { key, imm } => {
                step_mem!(present!(key), checked_sub, imm, |v| overwrite!(key, v));
            }
            RegOp::IncMemCloseP {
                key,
                imm,
                signs,
                target,
            } => {
                let v = step_mem!(present!(key), checked_add, imm, |v| overwrite!(key, v));
                close!(v, signs, target);
            }
            RegOp::DecMemCloseP {
                key,
                imm,
                signs,
                target,
            } => {
                let v = step_mem!(present!(key), checked_sub, imm, |v| overwrite!(key, v));
                close!(v, signs, target);
            }
            RegOp::IncMemNzP { key, imm, target } => {
                let v = step_mem!(present!(key), checked_add, imm, |v| overwrite!(key, v));
                close_nz!(v, target);
            }
            RegOp::DecMemNzP { key, imm, target } => {
                let v = step_mem!(present!(key), checked_sub, imm, |v| overwrite!(key, v));
                close_nz!(v, target);
            }
            // load K (+0); load (+1)
            RegOp::LoadDynAtP { dst, key } => match memory.load_dyn(present!(key)) {
                Ok(v) => set!(dst, v),
                Err(e) => break failed(e, pc!(1)),
            },
            // push n (+0); sub (+0: the `sub`'s own location, as for `SubI`)
            RegOp::SubINz {
                dst,
                a,
                imm,
                target,
            } => {
                let x = get!(a);
                let Some(v) = x.checked_sub(i64::from(imm)) else {
                    break overflow(x, i64::from(imm), pc!(0));
                };
                set!(dst, v);
                close_nz!(v, target);
            }
            // load K (+0); push n (+1); sub (+2)
            RegOp::LoadSubINzP {
                dst,
                key,
                imm,
                target,
            } => {
                let m = present!(key);
                let Some(v) = m.checked_sub(i64::from(imm)) else {
                    break overflow(m, i64::from(imm), pc!(2));
                };
                set!(dst, v);
                close_nz!(v, target);
            }

            RegOp::Jump { target } => goto!(target),
            RegOp::BrNz { a, target } => {
                if get!(a) != 0 {
                    goto!(target)
                }
            }
            RegOp::BrModINz { a, imm, target } => {
                if get!(a) % divisor!(imm) != 0 {
                    goto!(target)
                }
            }
            RegOp::BrLowNz { a, mask, target } => {
                if get!(a) & i64::from(mask) != 0 {
                    goto!(target)
                }
            }
            RegOp::BrLoadNz { key, target } => {
                if load!(key) != 0 {
                    goto!(target)
                }
            }
            // load K (+0); push n; <comparison>; jumpif
            RegOp::BrLoadEqI { key, imm, target } => {
                if load!(key) == i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrLoadNeI { key, imm, target } => {
                if load!(key) != i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrLoadLtI { key, imm, target } => {
                if load!(key) < i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrLoadLeI { key, imm, target } => {
                if load!(key) <= i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrLoadGtI { key, imm, target } => {
                if load!(key) > i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrLoadGeI { key, imm, target } => {
                if load!(key) >= i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrEq { a, b, target } => {
                if get!(a) == get!(b) {
                    goto!(target)
                }
            }
            RegOp::BrEqI { a, imm, target } => {
                if get!(a) == i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrNe { a, b, target } => {
                if get!(a) != get!(b) {
                    goto!(target)
                }
            }
            RegOp::BrNeI { a, imm, target } => {
                if get!(a) != i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrLt { a, b, target } => {
                if get!(a) < get!(b) {
                    goto!(target)
                }
            }
            RegOp::BrLtI { a, imm, target } => {
                if get!(a) < i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrLe { a, b, target } => {
                if get!(a) <= get!(b) {
                    goto!(target)
                }
            }
            RegOp::BrLeI { a, imm, target } => {
                if get!(a) <= i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrGt { a, b, target } => {
                if get!(a) > get!(b) {
                    goto!(target)
                }
            }
            RegOp::BrGtI { a, imm, target } => {
                if get!(a) > i64::from(imm) {
                    goto!(target)
                }
            }
            RegOp::BrGe { a, b, target } => {
                if get!(a) >= get!(b) {
                    goto!(target)
                }
            }
            RegOp::BrGeI { a, imm, target } => {
                if get!(a) >= i64::from(imm) {
                    goto!(target)
                }
            }

            RegOp::Call {
                target,
                base,
                max_height,
            } => {
                if frames.len() >= call_depth {
                    break failed(VmError::call_depth(call_depth as u32), pc!(0));
                }
                let callee = fp_off + base as usize;
                if callee + max_height as usize > stack_len {
                    break failed(VmError::stack_room(max_height, callee, stack_len), pc!(0));
                }
                frames.push(Frame {
                    // The operation after the call: `ip` is inside `ops` (module docs), and the
                    // call is never the last operation (`Unreachable` is).
                    // SAFETY: as just said.
                    ret: unsafe { ip.offset_from(ops) } as u32 + 1,
                    fp: fp_off as u32,
                });
                fp_off = callee;
                // SAFETY: `callee` is below the stack limit (checked just above), which the
                // value stack holds.
                fp = unsafe { values.add(callee) };
                goto!(target);
            }
            RegOp::Return { height } => match frames.pop() {
                Some(frame) => {
                    goto_index!(frame.ret);
                    fp_off = frame.fp as usize;
                    // SAFETY: the caller's frame base, which was in bounds when it called.
                    fp = unsafe { values.add(fp_off) };
                }
                None => break End::Done(fp_off + height as usize),
            },
            RegOp::Halt { height } => break End::Done(fp_off + height as usize),
            RegOp::Host { op, low } => {
                let info = op.info();
                let pops = usize::from(info.pops);
                debug_assert!(fp_off + low as usize + pops <= stack_len);
                // SAFETY: the arguments are slots `low..low + pops` of the frame, in bounds
                // (lowering checked `low + pops` against the frame's height); nothing writes
                // the value stack while the host runs (a nested run uses its own stacks).
                let args = unsafe { std::slice::from_raw_parts(fp.add(low as usize), pops) };
                match dispatch(host, env, op, args, gas) {
                    Ok(r) => {
                        if r.gas > gas {
                            break out_of_gas(gas_limit, pc!(0), false);
                        }
                        gas -= r.gas;
                        if info.pushes == 1 {
                            set!(low, r.value);
                        }
                    }
                    Err(e) => break failed(e, pc!(0)),
                }
            }
            RegOp::Unreachable => unreachable!("register code never runs off its end"),
        }
        // On to the next operation (after a branch: to its target, see `goto!`). One past
        // an operation is at most the final `Unreachable`, and a branch lands in the code.
        ip = ip.wrapping_add(1);
    };
    if let End::Failed { error, .. } = &end {
        // Running out of gas uses all of it, wherever it happened (a host's nested run too).
        if error.kind == ErrorKind::OutOfGas {
            gas = 0;
        }
    }
    (end, gas)
}
