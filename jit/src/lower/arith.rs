//! Arithmetic, comparison and logic: checked 64-bit integer operations whose failures exit
//! with the operands the interpreter reports.

use super::{Arg, Lower};
use crate::rt::Exit;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder};

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
        self.fail_if(of, Exit::Overflow, pc, Some(Arg::Val(a)), Some(Arg::Val(b)));
        self.set(h - 2, v);
    }

    /// `a / b` or `a % b`, exiting with `division_by_zero` for `b == 0` and with
    /// `arithmetic_overflow` for `i64::MIN` by `-1`.
    pub(super) fn divide(&mut self, pc: u32, h: u32, op: Division) {
        let a = self.get(h - 2);
        let b = self.get(h - 1);
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
