//! The translation of a verified coopvm relation to a Miden assembly program.
//!
//! ## Representation
//!
//! - A coopvm value (an `i64`) is two elements on Miden's operand stack, its low 32 bits on
//!   top of its high 32 bits (two's complement), the layout of the core library's `u64`
//!   module. The coopvm stack *is* the Miden operand stack (its bottom values spill into
//!   Miden's overflow table), so values cross blocks and calls where they are.
//! - Control flow runs in one dispatch loop: the code is cut into *segments* (coopvm's basic
//!   blocks, further cut after every `call`), each segment gets a number, and the loop body
//!   is a binary decision tree over the number on top of the stack that runs the segment,
//!   which leaves the next segment's number (or ends the loop).
//! - Registers live in Miden memory: the gas used, the call depth, the frame base (the
//!   absolute height of the current subroutine's frame, for the stack-room check of `call`),
//!   the number of memory keys. The return stack holds (return segment, caller's frame base)
//!   pairs. Static keys have a fixed cell each (value and a present flag); integer keys live
//!   in an association table searched linearly.
//! - Gas: each segment that starts a coopvm block adds the block's static gas, exactly as
//!   the interpreter charges it on block entry. Gas only grows, so a run whose final gas is
//!   within the limit never ran out of gas on the way.
//! - Every run-time error of coopvm (overflow, division by zero, a missing key, a full
//!   memory, call depth, stack room, an empty final stack) is a failed assertion: the Miden
//!   program has no successful execution, so no proof exists.
//!
//! The program's outputs are `[result_lo, result_hi, gas]`, and it asserts that the result
//! is non-zero (the relation holds).

use coopvm_core::isa::{OpKind, PureOp};
use coopvm_core::program::StateKey;
use coopvm_core::verify::{Verified, NONE};
use coopvm_core::{Contract, Limits, Op};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Why a relation cannot be translated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// An instruction the STARK backend does not prove.
    #[error("instruction {pc} (`{mnemonic}`) is not supported by the STARK backend: {reason}")]
    Instruction {
        /// Its index.
        pc: u32,
        /// Its mnemonic.
        mnemonic: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A contract-level feature the STARK backend does not prove.
    #[error("the STARK backend does not support {0}")]
    Contract(&'static str),
}

const GAS: u32 = 0;
const DEPTH: u32 = 1;
const COUNT: u32 = 3;
const TCOUNT: u32 = 4;
const DYN_N: u32 = 5;
const TDYN_N: u32 = 6;
const RS_BASE: u32 = 16;
/// The highest pick depth reachable on Miden's operand stack (`dup.15` is the deepest).
pub const MAX_PICK: i64 = 7;

/// One segment: instructions `start..end`, charging `charge` gas on entry if it starts a
/// block.
struct Segment {
    start: u32,
    end: u32,
    charge: Option<u64>,
}

struct Layout {
    static_base: u32,
    transient_base: u32,
}

/// Translates a verified relation to Miden assembly (the whole program text).
pub fn translate(verified: &Verified) -> Result<String, Unsupported> {
    let contract = verified.contract();
    let limits = *verified.limits();
    check_contract(contract)?;
    let code = &contract.program.code;
    let a = verified.analysis();
    for (pc, insn) in code.iter().enumerate() {
        if !a.reachable(pc as u32) {
            continue;
        }
        let unsupported = |reason| Unsupported::Instruction {
            pc: pc as u32,
            mnemonic: insn.op.info().mnemonic,
            reason,
        };
        match insn.op.kind() {
            OpKind::Host(_) => {
                return Err(unsupported(
                    "host and system operations depend on state outside the relation",
                ))
            }
            OpKind::Pure(PureOp::PushStr) => {
                return Err(unsupported("string constants are not supported"))
            }
            OpKind::Pure(PureOp::Pick) if insn.arg > MAX_PICK => {
                return Err(unsupported(
                    "`pick N` reaches at most 7 values deep in this backend",
                ))
            }
            _ => {}
        }
    }
    // Segments: blocks, cut after every call.
    let mut segments: Vec<Segment> = Vec::new();
    for block in &a.blocks {
        let mut start = block.start;
        let mut charge = Some(block.gas);
        for pc in block.start..block.end {
            if code[pc as usize].op == Op::Call && pc + 1 < block.end {
                segments.push(Segment {
                    start,
                    end: pc + 1,
                    charge: charge.take(),
                });
                start = pc + 1;
            }
        }
        segments.push(Segment {
            start,
            end: block.end,
            charge,
        });
    }
    // Ids: segment i is i + 1; the end of the code and the failure leaf follow.
    let end_id = segments.len() as u32 + 1;
    let fail_id = end_id + 1;
    let mut id_at: BTreeMap<u32, u32> = BTreeMap::new();
    for (i, s) in segments.iter().enumerate() {
        id_at.insert(s.start, i as u32 + 1);
    }
    id_at.insert(code.len() as u32, end_id);
    let id_of = |pc: u32| id_at.get(&pc).copied().unwrap_or(fail_id);

    // Memory layout.
    let nkeys = contract.program.keys.len() as u32;
    let static_base = RS_BASE + 2 * limits.call_depth + 4;
    let transient_base = static_base + 4 * nkeys;
    let dyn_base = transient_base + 4 * nkeys;
    let int_state: Vec<(i64, i64)> = contract
        .state
        .iter()
        .filter_map(|(k, &v)| match StateKey::parse(k) {
            Some(StateKey::Int(k)) => Some((k, v)),
            _ => None,
        })
        .collect();
    let tdyn_base = dyn_base + 4 * (limits.memory_keys + int_state.len() as u32) + 4;
    let layout = Layout {
        static_base,
        transient_base,
    };

    let mut out = String::new();
    out.push_str("use miden::core::math::u64\n\n");
    out.push_str(PRELUDE);
    for (name, base, n, count, limit) in [
        ("", dyn_base, DYN_N, COUNT, limits.memory_keys),
        ("t", tdyn_base, TDYN_N, TCOUNT, limits.transient_keys),
    ] {
        write_dyn_procs(&mut out, name, base, n, count, limit);
    }
    out.push_str("begin\n");
    // Inputs: the public value from the stack inputs, the private one from the advice stack.
    // The operand stack is then 16 + 2 * (coopvm values) deep: two zeros go under the
    // public input, so that an empty coopvm stack is exactly the minimum depth of 16.
    out.push_str(
        "    u32assert2 push.0 push.0 movup.3 movup.3\n    adv_push adv_push u32assert2\n",
    );
    // Initial memory: the declared state.
    let _ = writeln!(
        out,
        "    push.{} mem_store.{COUNT}",
        contract.state.len().min(u32::MAX as usize)
    );
    for (key, &value) in &contract.state {
        if let Some(slot) = contract.program.keys.iter().position(|k| k == key) {
            if StateKey::parse(key).is_some_and(|k| matches!(k, StateKey::Int(_))) {
                continue;
            }
            let cell = static_base + 4 * slot as u32;
            let (lo, hi) = limbs(value);
            let _ = writeln!(
                out,
                "    push.{lo} mem_store.{cell} push.{hi} mem_store.{} push.1 mem_store.{}",
                cell + 1,
                cell + 2
            );
        }
    }
    for (i, &(k, v)) in int_state.iter().enumerate() {
        let cell = dyn_base + 4 * i as u32;
        let (klo, khi) = limbs(k);
        let (vlo, vhi) = limbs(v);
        let _ = writeln!(
            out,
            "    push.{klo} mem_store.{cell} push.{khi} mem_store.{} push.{vlo} mem_store.{} push.{vhi} mem_store.{}",
            cell + 1,
            cell + 2,
            cell + 3
        );
    }
    let _ = writeln!(out, "    push.{} mem_store.{DYN_N}", int_state.len());
    let entry = id_of(0);
    let _ = writeln!(out, "    push.{entry} push.1\n    while.true");
    let ctx = Ctx {
        verified,
        limits,
        layout: &layout,
        id_of: &id_of,
    };
    let mut leaves: Vec<String> = Vec::with_capacity(fail_id as usize);
    for s in &segments {
        leaves.push(ctx.segment(s));
    }
    leaves.push(format!("{HALT}\n"));
    leaves.push("push.0 assert\n".to_string());
    tree(&mut out, &leaves, 1, fail_id, 2);
    out.push_str("    end\n");
    // [r_lo, r_hi, ...]: the relation holds when the result is non-zero.
    out.push_str(
        "    dup.1 dup.1 exec.nonzero assert\n    mem_store.10 mem_store.11\n    sdepth neq.16 while.true drop sdepth neq.16 end\n    dropw dropw dropw dropw\n",
    );
    let _ = writeln!(
        out,
        "    mem_load.{GAS} movup.15 drop mem_load.11 movup.15 drop mem_load.10 movup.15 drop\nend"
    );
    Ok(out)
}

/// Checks the contract-level features the backend proves.
fn check_contract(contract: &Contract) -> Result<(), Unsupported> {
    if !contract.permissions.is_empty() {
        return Err(Unsupported::Contract(
            "permissions (`.permission`): they depend on the caller's state",
        ));
    }
    if !contract.dependencies.is_empty() {
        return Err(Unsupported::Contract(
            "dependencies (`.depends`): calls to other contracts",
        ));
    }
    if contract.required_reputation != 0 {
        return Err(Unsupported::Contract(
            "a reputation requirement (`.reputation`): it depends on the caller's state",
        ));
    }
    if contract.params != 2 {
        return Err(Unsupported::Contract(
            "a relation that does not take exactly two inputs (`.params 2`)",
        ));
    }
    Ok(())
}

/// The two 32-bit limbs of a value (low, high), two's complement.
pub(crate) fn limbs(v: i64) -> (u32, u32) {
    let u = v as u64;
    (u as u32, (u >> 32) as u32)
}

/// Writes a binary decision tree over the ids `lo..=hi` that runs `leaves[id - 1]`.
fn tree(out: &mut String, leaves: &[String], lo: u32, hi: u32, indent: usize) {
    let pad = "    ".repeat(indent);
    if lo == hi {
        let _ = writeln!(out, "{pad}drop");
        for line in leaves[(lo - 1) as usize].lines() {
            let _ = writeln!(out, "{pad}{line}");
        }
        return;
    }
    let mid = lo + (hi - lo) / 2;
    let _ = writeln!(out, "{pad}dup push.{} u32lt", mid + 1);
    let _ = writeln!(out, "{pad}if.true");
    tree(out, leaves, lo, mid, indent + 1);
    let _ = writeln!(out, "{pad}else");
    tree(out, leaves, mid + 1, hi, indent + 1);
    let _ = writeln!(out, "{pad}end");
}

/// Ends the dispatch loop with the stack as coopvm leaves it, which must hold a value (the
/// operand stack is 16 elements deep when the coopvm stack is empty).
const HALT: &str = "sdepth neq.16 assert push.0";

struct Ctx<'a> {
    verified: &'a Verified,
    limits: Limits,
    layout: &'a Layout,
    id_of: &'a dyn Fn(u32) -> u32,
}

impl Ctx<'_> {
    fn segment(&self, s: &Segment) -> String {
        let code = &self.verified.contract().program.code;
        let mut out = String::new();
        if let Some(g) = s.charge {
            let _ = writeln!(out, "mem_load.{GAS} add.{g} mem_store.{GAS}");
        }
        let mut ended = false;
        for pc in s.start..s.end {
            let insn = code[pc as usize];
            let Some(op) = (match insn.op.kind() {
                OpKind::Pure(op) => Some(op),
                OpKind::Host(_) => None,
            }) else {
                unreachable!("host operations are refused before translation")
            };
            let l = self.layout;
            let line = match op {
                PureOp::Push => {
                    let (lo, hi) = limbs(insn.arg);
                    format!("push.{hi} push.{lo}")
                }
                PureOp::PushStr => unreachable!("refused before translation"),
                PureOp::Pop => "drop drop".into(),
                PureOp::Dup => "dup.1 dup.1".into(),
                PureOp::Swap => "movup.3 movup.3".into(),
                PureOp::Over => "dup.3 dup.3".into(),
                PureOp::Rot => "movup.5 movup.5".into(),
                PureOp::Pick => {
                    let d = 2 * insn.arg + 1;
                    format!("dup.{d} dup.{d}")
                }
                PureOp::Add => "exec.add_i64".into(),
                PureOp::Sub => "exec.sub_i64".into(),
                PureOp::Mul => "exec.mul_i64".into(),
                PureOp::Div => "exec.divmod_i64 drop drop".into(),
                PureOp::Mod => "exec.divmod_i64 movup.2 drop movup.2 drop".into(),
                PureOp::Neg => "push.0 push.0 movup.3 movup.3 exec.sub_i64".into(),
                PureOp::Eq => "exec.eq_i64 push.0 swap".into(),
                PureOp::Ne => "exec.eq_i64 not push.0 swap".into(),
                PureOp::Lt => "exec.flip2 exec.u64::lt push.0 swap".into(),
                PureOp::Le => "exec.flip2 exec.u64::lte push.0 swap".into(),
                PureOp::Gt => "exec.flip2 exec.u64::gt push.0 swap".into(),
                PureOp::Ge => "exec.flip2 exec.u64::gte push.0 swap".into(),
                PureOp::Not => "exec.nonzero not push.0 swap".into(),
                PureOp::And => "exec.nonzero movdn.2 exec.nonzero and push.0 swap".into(),
                PureOp::Or => "exec.nonzero movdn.2 exec.nonzero or push.0 swap".into(),
                PureOp::Store => static_store(
                    l.static_base + 4 * insn.arg as u32,
                    COUNT,
                    self.limits.memory_keys,
                ),
                PureOp::TStore => static_store(
                    l.transient_base + 4 * insn.arg as u32,
                    TCOUNT,
                    self.limits.transient_keys,
                ),
                PureOp::Load => static_load(l.static_base + 4 * insn.arg as u32),
                PureOp::TLoad => static_load(l.transient_base + 4 * insn.arg as u32),
                PureOp::StoreDyn => "exec.store_dyn".into(),
                PureOp::LoadDyn => "exec.load_dyn".into(),
                PureOp::TStoreDyn => "exec.tstore_dyn".into(),
                PureOp::TLoadDyn => "exec.tload_dyn".into(),
                PureOp::Jump => {
                    ended = true;
                    format!("push.{} push.1", (self.id_of)(insn.arg as u32))
                }
                PureOp::JumpIf => {
                    ended = true;
                    format!(
                        "exec.nonzero\nif.true\n    push.{}\nelse\n    push.{}\nend\npush.1",
                        (self.id_of)(insn.arg as u32),
                        (self.id_of)(pc + 1)
                    )
                }
                PureOp::Call => {
                    ended = true;
                    self.call(pc, insn.arg as u32)
                }
                PureOp::Return => {
                    ended = true;
                    format!(
                        "mem_load.{DEPTH} dup eq.0\nif.true\n    drop {HALT}\nelse\n    sub.1 dup mem_store.{DEPTH}\n    add.{RS_BASE} mem_load push.1\nend"
                    )
                }
                PureOp::Halt => {
                    ended = true;
                    HALT.to_string()
                }
            };
            out.push_str(&line);
            out.push('\n');
        }
        if !ended {
            let _ = writeln!(out, "push.{} push.1", (self.id_of)(s.end));
        }
        out
    }

    fn call(&self, pc: u32, target: u32) -> String {
        let a = self.verified.analysis();
        let f = a
            .func_at(target)
            .filter(|&f| f != NONE)
            .map(|f| &a.funcs[f as usize]);
        let Some(f) = f else {
            return "push.0 assert".into();
        };
        let ret = (self.id_of)(pc + 1);
        let entry = (self.id_of)(target);
        // Stack room: the callee's frame starts `params` below the top, and its highest
        // height must fit the stack limit: 2 * (values - params + max_height) <= 2 * limit,
        // where the operand stack is 16 + 2 * values deep.
        let grow = 2 * u64::from(f.max_height - f.params);
        let room = 2 * u64::from(self.limits.stack) + 17;
        format!(
            "sdepth add.{grow} push.{room} u32lt assert\n\
             mem_load.{DEPTH} dup push.{depth} u32lt assert\n\
             dup add.{RS_BASE} push.{ret} swap mem_store\n\
             add.1 mem_store.{DEPTH}\n\
             push.{entry} push.1",
            depth = self.limits.call_depth,
        )
    }
}

/// `store` to a static cell (value low, value high, present flag): a new key needs room.
fn static_store(cell: u32, count: u32, limit: u32) -> String {
    format!(
        "mem_load.{p} eq.0\nif.true\n    mem_load.{count} dup push.{limit} u32lt assert add.1 mem_store.{count}\n    push.1 mem_store.{p}\nend\nmem_store.{cell} mem_store.{hi}",
        p = cell + 2,
        hi = cell + 1
    )
}

/// `load` from a static cell: the key must hold a value.
fn static_load(cell: u32) -> String {
    format!(
        "mem_load.{p} assert mem_load.{hi} mem_load.{cell}",
        p = cell + 2,
        hi = cell + 1
    )
}

/// Writes `find`, `load_dyn` and `store_dyn` (prefixed with `name`) for one association
/// table of integer keys: entries of four cells (key low, key high, value low, value high)
/// from `base`, their number in cell `n`, the key count in cell `count`.
fn write_dyn_procs(out: &mut String, name: &str, base: u32, n: u32, count: u32, limit: u32) {
    let _ = write!(
        out,
        "\
# [i, k_lo, k_hi] -> [continue, i, k_lo, k_hi]: whether entry i exists and holds another key
proc {name}dyn_continue
    dup mem_load.{n} eq
    if.true
        push.0
    else
        dup mul.4 add.{base} dup mem_load
        dup.3 eq
        swap add.1 mem_load dup.4 eq and
        not
    end
end

# [k_lo, k_hi] -> [i, k_lo, k_hi]: the entry holding k, or the number of entries
proc {name}dyn_find
    push.0
    exec.{name}dyn_continue
    while.true
        add.1
        exec.{name}dyn_continue
    end
end

# [k_lo, k_hi] -> [v_lo, v_hi]
proc {name}load_dyn
    exec.{name}dyn_find
    dup mem_load.{n} neq assert
    mul.4 add.{base} add.2 dup mem_load swap add.1 mem_load swap
    movup.2 drop movup.2 drop
end

# [k_lo, k_hi, v_lo, v_hi] -> []
proc {name}store_dyn
    exec.{name}dyn_find
    dup mem_load.{n} eq
    if.true
        mem_load.{count} dup push.{limit} u32lt assert add.1 mem_store.{count}
        dup add.1 mem_store.{n}
        mul.4 add.{base}
        dup movup.2 swap mem_store
        add.1 dup movup.2 swap mem_store
        add.1 dup movup.2 swap mem_store
        add.1 mem_store
    else
        mul.4 add.{base} add.2
        movdn.2 drop drop
        dup movup.2 swap mem_store
        add.1 mem_store
    end
end

"
    );
}

/// Checked signed 64-bit arithmetic and comparisons on `[lo, hi]` limb pairs.
const PRELUDE: &str = "\
# [x_lo, x_hi] -> [x != 0]
proc nonzero
    eq.0 swap eq.0 and not
end

# [b_lo, b_hi, a_lo, a_hi] -> [a == b]
proc eq_i64
    movup.2 eq movdn.2 eq and
end

# Flips the sign bits of two values, so that unsigned order is signed order.
proc flip2
    swap push.2147483648 u32xor swap
    movup.3 push.2147483648 u32xor movdn.3
end

# [b_lo, b_hi, a_lo, a_hi] -> [c_lo, c_hi], c = a + b; fails on overflow
proc add_i64
    dup.3 dup.2 u32shr.31 swap u32shr.31
    movdn.5 movdn.5
    exec.u64::wrapping_add
    dup.1 u32shr.31 dup.3 neq
    movup.3 movup.4 eq and assertz
end

# [b_lo, b_hi, a_lo, a_hi] -> [c_lo, c_hi], c = a - b; fails on overflow
proc sub_i64
    dup.3 dup.2 u32shr.31 swap u32shr.31
    movdn.5 movdn.5
    exec.u64::wrapping_sub
    dup.1 u32shr.31 dup.3 neq
    movup.3 movup.4 neq and assertz
end

# [x_lo, x_hi] -> [m_lo, m_hi, s]: magnitude (as u64) and sign bit
proc abs_i64
    dup.1 u32shr.31
    dup
    if.true
        movdn.2
        push.0 push.0 movup.3 movup.3
        exec.u64::wrapping_sub
    else
        movdn.2
    end
end

# [m_lo, m_hi, neg] -> [c_lo, c_hi]: the value of sign `neg` and magnitude m; fails when it
# is not an i64
proc signed
    movup.2
    if.true
        dup.1 push.2147483648 u32lt
        dup.2 push.2147483648 eq dup.2 eq.0 and
        or assert
        push.0 push.0 movup.3 movup.3 exec.u64::wrapping_sub
    else
        dup.1 push.2147483648 u32lt assert
    end
end

# [b_lo, b_hi, a_lo, a_hi] -> [c_lo, c_hi], c = a * b; fails on overflow
proc mul_i64
    exec.abs_i64
    movup.2 movdn.4
    movup.3 movup.3
    exec.abs_i64
    movup.2 movup.5 u32xor
    movdn.4
    exec.u64::widening_mul
    movup.3 assertz movup.2 assertz
    exec.signed
end

# [b_lo, b_hi, a_lo, a_hi] -> [r_lo, r_hi, q_lo, q_hi], truncated division; fails on a zero
# divisor and when the quotient overflows (i64::MIN / -1, also for the remainder)
proc divmod_i64
    dup.1 dup.1 exec.nonzero assert
    exec.abs_i64
    movup.2 movdn.4
    movup.3 movup.3
    exec.abs_i64
    movup.2 movdn.5
    movup.3 movup.3
    exec.u64::divmod
    dup.5 dup.5 u32xor
    movdn.5 movup.4 drop
    movup.5 movdn.2
    exec.signed
    movdn.4 movdn.4
    exec.signed
    movup.3 movup.3
end

";
