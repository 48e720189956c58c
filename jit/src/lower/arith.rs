//! Arithmetic, comparison and logic: checked 64-bit integer operations whose failures exit
//! with the operands the interpreter reports.

use super::{Arg, Lower};
use crate::rt::Exit;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, InstructionData, Opcode, Value};

/// A binary operation that fails on signed overflow.
#[derive(Clone, Copy)]
pub(super) enum Checked {
    Add,
    Sub,
    Mul,
}

/// `div` or `mod`.
#[derive(Clone, Copy)]
pub(super) enum Division {
    Quotient,
    Remainder,
}

/// `and` or `or` (of truth values: non-zero is true).
#[derive(Clone, Copy)]
pub(super) enum Logic {
    And,
    Or,
}

impl Lower<'_, '_> {
    /// `a op b` at heights `h - 2`, `h - 1`, exiting with `arithmetic_overflow` on overflow.
    pub(super) fn overflowing(&mut self, pc: u32, h: u32, op: Checked) {
        let a = self.get(h - 2);
        let b = self.get(h - 1);
        let (v, of) = match op {
            Checked::Add => self.b.ins().sadd_overflow(a, b),
            Checked::Sub => self.b.ins().ssub_overflow(a, b),
            Checked::Mul => self.b.ins().smul_overflow(a, b),
        };
        // The failure reports both operands. Those of an `add` or a `sub` follow from the
        // wrapped result and the second operand, so the first need not outlive the
        // operation (it can be computed in place, without a copy kept for the exit). Done
        // where the second is a constant or the first comes from another block (a loop's
        // accumulator); a first operand computed just before (`acc * 31 + i`) is left
        // alone, where register allocation placed the in-place result worse (callgrind,
        // `arith`: 4 more instructions an iteration).
        let constant = self.constant(b);
        let recover = constant.is_some() || self.b.func.dfg.value_def(a).inst().is_none();
        let first = match op {
            Checked::Add if recover => Arg::Diff(v, b),
            Checked::Sub if recover => Arg::Sum(v, b),
            _ => Arg::Val(a),
        };
        // A constant second operand is not passed to the exit at all (it would be kept
        // in a register for it): the error takes it from the table of constant operands.
        let second = match constant {
            Some(k) => {
                self.operands.push((pc, k));
                None
            }
            None => Some(Arg::Val(b)),
        };
        self.fail_if(of, Exit::Overflow, pc, Some(first), second);
        self.set(h - 2, v);
    }

    /// `a / b` or `a % b`, exiting with `division_by_zero` for `b == 0` and with
    /// `arithmetic_overflow` for `i64::MIN` by `-1`.
    pub(super) fn divide(&mut self, pc: u32, h: u32, op: Division) {
        let a = self.get(h - 2);
        let b = self.get(h - 1);
        if let Some(d) = self.constant(b).filter(|&d| d > 1) {
            // A constant divisor above 1 can neither be zero nor overflow: no checks, and a
            // multiplication instead of the hardware divide.
            let q = self.divide_by_constant(a, d);
            let v = match op {
                Division::Quotient => q,
                Division::Remainder => {
                    let m = self.b.ins().imul_imm(q, d);
                    let r = self.b.ins().isub(a, m);
                    if d & (d - 1) == 0 {
                        let low = self.b.ins().band_imm(a, d - 1);
                        self.truth = Some((r, low));
                    }
                    r
                }
            };
            self.set(h - 2, v);
            return;
        }
        let zero = self.b.ins().icmp_imm(IntCC::Equal, b, 0);
        self.fail_if(
            zero,
            Exit::DivisionByZero,
            pc,
            Some(Arg::Val(a)),
            Some(Arg::Val(b)),
        );
        let min = self.b.ins().icmp_imm(IntCC::Equal, a, i64::MIN);
        let neg1 = self.b.ins().icmp_imm(IntCC::Equal, b, -1);
        let of = self.b.ins().band(min, neg1);
        self.fail_if(of, Exit::Overflow, pc, Some(Arg::Val(a)), Some(Arg::Val(b)));
        // The checks are deferred: divide by 1 instead where the hardware would trap (the
        // result is then discarded by the exit).
        let bad = self.b.ins().bor(zero, of);
        let one = self.b.ins().iconst(types::I64, 1);
        let b = self.b.ins().select(bad, one, b);
        let v = match op {
            Division::Quotient => self.b.ins().sdiv(a, b),
            Division::Remainder => self.b.ins().srem(a, b),
        };
        self.set(h - 2, v);
    }

    /// The value of `v` if an `iconst` defines it.
    fn constant(&self, v: Value) -> Option<i64> {
        let inst = self.b.func.dfg.value_def(v).inst()?;
        match self.b.func.dfg.insts[inst] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some(imm.bits()),
            _ => None,
        }
    }

    /// `a / d` truncated toward zero (as `i64::wrapping_div`), for a constant `d > 1`: a
    /// shift for a power of two, else a multiplication by a magic number ([`magic`]).
    fn divide_by_constant(&mut self, a: Value, d: i64) -> Value {
        let ins = self.b.ins();
        if d & (d - 1) == 0 {
            // Round toward zero: add d - 1 to negative dividends before the shift.
            let k = i64::from(d.trailing_zeros());
            let sign = ins.sshr_imm(a, 63);
            let bias = self.b.ins().ushr_imm(sign, 64 - k);
            let t = self.b.ins().iadd(a, bias);
            return self.b.ins().sshr_imm(t, k);
        }
        let (m, shift) = magic(d);
        let mv = ins.iconst(types::I64, m);
        let mut q = self.b.ins().smulhi(a, mv);
        if m < 0 {
            q = self.b.ins().iadd(q, a);
        }
        if shift > 0 {
            q = self.b.ins().sshr_imm(q, i64::from(shift));
        }
        // Add 1 for a negative quotient (round toward zero).
        let sign = self.b.ins().ushr_imm(q, 63);
        self.b.ins().iadd(q, sign)
    }

    /// `-a`, exiting with `arithmetic_overflow` for `i64::MIN`.
    pub(super) fn neg(&mut self, pc: u32, h: u32) {
        let a = self.get(h - 1);
        let min = self.b.ins().icmp_imm(IntCC::Equal, a, i64::MIN);
        self.fail_if(min, Exit::NegOverflow, pc, Some(Arg::Val(a)), None);
        let v = self.b.ins().ineg(a);
        self.set(h - 1, v);
    }

    /// `a cc b` as 1 or 0.
    pub(super) fn compare(&mut self, h: u32, cc: IntCC) {
        let a = self.get(h - 2);
        let b = self.get(h - 1);
        let c = self.b.ins().icmp(cc, a, b);
        let v = self.b.ins().uextend(types::I64, c);
        self.set(h - 2, v);
    }

    /// `a && b` or `a || b` as 1 or 0.
    pub(super) fn logic(&mut self, h: u32, op: Logic) {
        let a = self.get(h - 2);
        let b = self.get(h - 1);
        let x = self.b.ins().icmp_imm(IntCC::NotEqual, a, 0);
        let y = self.b.ins().icmp_imm(IntCC::NotEqual, b, 0);
        let c = match op {
            Logic::And => self.b.ins().band(x, y),
            Logic::Or => self.b.ins().bor(x, y),
        };
        let v = self.b.ins().uextend(types::I64, c);
        self.set(h - 2, v);
    }

    /// `!a` as 1 or 0.
    pub(super) fn not(&mut self, h: u32) {
        let a = self.get(h - 1);
        let c = self.b.ins().icmp_imm(IntCC::Equal, a, 0);
        let v = self.b.ins().uextend(types::I64, c);
        self.set(h - 1, v);
    }
}

/// The magic multiplier and shift for signed division by `d` (`2 <= d`, not a power of two),
/// as in Hacker's Delight (section 10-4): `a / d` is `(mulhi(a, m) [+ a]) >> shift`, plus one
/// when that is negative.
pub(super) fn magic(d: i64) -> (i64, u32) {
    const TWO63: u64 = 1 << 63;
    let ad = d.unsigned_abs();
    let t = TWO63 + ((d as u64) >> 63);
    let anc = t - 1 - t % ad;
    let mut p = 63u32;
    let (mut q1, mut r1) = (TWO63 / anc, TWO63 - (TWO63 / anc) * anc);
    let (mut q2, mut r2) = (TWO63 / ad, TWO63 - (TWO63 / ad) * ad);
    loop {
        p += 1;
        q1 = q1.wrapping_mul(2);
        r1 = r1.wrapping_mul(2);
        if r1 >= anc {
            q1 = q1.wrapping_add(1);
            r1 -= anc;
        }
        q2 = q2.wrapping_mul(2);
        r2 = r2.wrapping_mul(2);
        if r2 >= ad {
            q2 = q2.wrapping_add(1);
            r2 -= ad;
        }
        let delta = ad - r2;
        if !(q1 < delta || (q1 == delta && r1 == 0)) {
            break;
        }
    }
    let m = q2.wrapping_add(1) as i64;
    (if d < 0 { m.wrapping_neg() } else { m }, p - 64)
}

#[cfg(test)]
mod tests {
    use super::magic;

    /// The division the lowering emits, computed in Rust.
    fn divide(a: i64, d: i64) -> i64 {
        let (m, s) = magic(d);
        let mut q = ((i128::from(a) * i128::from(m)) >> 64) as i64;
        if m < 0 {
            q = q.wrapping_add(a);
        }
        q >>= s;
        q + ((q as u64) >> 63) as i64
    }

    #[test]
    fn magic_numbers_divide_exactly() {
        let divisors = [
            3,
            5,
            6,
            7,
            10,
            11,
            12,
            25,
            100,
            641,
            1_000_003,
            i64::MAX,
            i64::MAX - 1,
        ]
        .into_iter()
        .chain((3..2_000).filter(|d: &i64| d & (d - 1) != 0))
        .chain([(1 << 40) + 1, 1_000_000_007, 6_700_417]);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for d in divisors {
            let mut values = vec![0, 1, -1, d, -d, d - 1, -d + 1, i64::MIN, i64::MAX];
            values.extend([d, -d].iter().flat_map(|&e| {
                [1, 2, 3]
                    .map(|k: i64| e.wrapping_mul(k))
                    .into_iter()
                    .flat_map(|x| [x.wrapping_sub(1), x, x.wrapping_add(1)])
            }));
            values.extend([i64::MIN + 1, i64::MAX - 1]);
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                values.push(x as i64);
                values.push((x as i64) >> (x % 64));
            }
            for a in values {
                assert_eq!(divide(a, d), a / d, "{a} / {d}");
            }
        }
    }
}
