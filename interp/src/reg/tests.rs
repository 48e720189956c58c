//! Loops whose back edge runs the loop head in the same operation (`RegOp::closing_on_key`, `RegOp::closing_on_slot`):
//! each closing operation with each kind of head it runs, and loops of other shapes beside
//! them, compared with the stepping machine at every gas limit from 0 past the full cost
//! (outcome, gas used, error and its location, logs, statistics).

use crate::step::Stepper;
use crate::{lower, lowered};
use coopvm_core::asm::assemble;
use coopvm_core::host::NoHost;
use coopvm_core::run::{run, RunParams};
use coopvm_core::stats::run_with_stats;
use coopvm_core::{verify, ErrorKind, ExecutionContext, Limits, Verified};

fn verified(src: &str) -> Verified {
    verify(assemble("t.casm", src).unwrap(), &Limits::default()).unwrap()
}

/// The closing operations on a static key (`IncMemCloseP`, `DecMemCloseP`, `IncMemNzP`,
/// `DecMemNzP`) of `v`'s register code.
fn closing(v: &Verified) -> Vec<String> {
    lower(v)
        .reg
        .ops
        .iter()
        .filter(|i| {
            matches!(
                i.op,
                super::RegOp::IncMemCloseP { .. }
                    | super::RegOp::DecMemCloseP { .. }
                    | super::RegOp::IncMemNzP { .. }
                    | super::RegOp::DecMemNzP { .. }
            )
        })
        .map(|i| format!("{:?}", i.op))
        .collect()
}

/// Runs `v`, which fails, at every gas limit up to `most` on the register code and steps it
/// (the outcomes must be identical), then returns its error with ample gas.
fn fails_alike_up_to(v: &Verified, most: u64) -> coopvm_core::VmError {
    let ctx = ExecutionContext::default();
    let state = v.contract().state.clone();
    let code = lowered(v);
    let step_code = lower(v);
    for gas in 0..=most {
        let params = RunParams::new(&ctx, &state, gas);
        let out = run(&*code, v, params, &mut NoHost);
        let mut host = NoHost;
        let want = Stepper::new(v, &step_code, params, &mut host)
            .run_to_end()
            .clone();
        assert_eq!(out, want, "with gas {gas}");
    }
    let out = run(&*code, v, RunParams::new(&ctx, &state, 1_000), &mut NoHost);
    out.result.expect_err("the program fails")
}

/// Runs `v` at every gas limit from 0 to one past its full cost on the register code (plain
/// and with statistics) and steps it: the outcomes must be identical; returns the full cost.
fn agree_at_every_limit(src: &str, v: &Verified) -> u64 {
    let ctx = ExecutionContext::default();
    let state = v.contract().state.clone();
    let code = lowered(v);
    let full = run(
        &*code,
        v,
        RunParams::new(&ctx, &state, 1 << 20),
        &mut NoHost,
    );
    assert!(full.is_ok(), "{src}: {:?}", full.result);
    let step_code = lower(v);
    for gas in 0..=full.gas_used + 1 {
        let params = RunParams::new(&ctx, &state, gas);
        let fast = run(&*code, v, params, &mut NoHost);
        let (counted, stats) = run_with_stats(&*code, v, params, &mut NoHost);
        let mut host = NoHost;
        let mut stepper = Stepper::new(v, &step_code, params, &mut host);
        let want = stepper.run_to_end().clone();
        assert_eq!(fast, want, "{src}\nwith gas {gas}");
        assert_eq!(counted, want, "{src}\nwith gas {gas} (statistics)");
        assert_eq!(stats.gas_used, want.gas_used);
        if gas < full.gas_used {
            let e = want.result.as_ref().expect_err("short of gas");
            assert_eq!(e.kind, ErrorKind::OutOfGas, "{src} with {gas}");
            assert_eq!(want.gas_used, gas);
        } else {
            assert_eq!(want, full, "{src} with {gas}");
        }
    }
    full.gas_used
}

#[test]
fn closed_loops_charge_their_head_as_the_stepper_does() {
    // Each loop logs at the head and in the body, so a head that ran before its charge, or
    // a charge skipped, shows in the logs as well as in the gas.
    let cases: &[(&str, &str)] = &[
        // DecMem closing a `load K; jumpif` head.
        (
            "push 0\npush 5\nstore i\nloop: load i\njumpif body\nhalt\n\
             body: load i\nadd\nload i\npush 1\nsub\nstore i\njump loop\n",
            "DecMem",
        ),
        // DecMem closing a `load K; push n; gt; jumpif` head.
        (
            "push 7\npush 4\nstore i\nloop: load i\npush 0\ngt\njumpif body\nhalt\n\
             body: push 31\nmul\nload i\nadd\npush 1_000_003\nmod\n\
             load i\npush 1\nsub\nstore i\njump loop\n",
            "DecMem",
        ),
        // IncMem closing a `load K; push n; lt; jumpif` head.
        (
            "push 0\nstore i\nloop: load i\npush 6\nlt\njumpif body\nhalt\n\
             body: load i\nlog\nload i\npush 2\nadd\nstore i\njump loop\n",
            "",
        ),
        // LoadSubI closing a `dup; jumpif` head on the stack.
        (
            "push 0\npush 5\nloop: dup\njumpif body\npop\nhalt\n\
             body: dup\nstore i\nadd\nload i\npush 1\nsub\njump loop\n",
            "",
        ),
        // LoadAddI closing a `dup; push n; le; jumpif` head.
        (
            "push 1\nstore i\npush 0\nloop: dup\npush 4\nle\njumpif body\nhalt\n\
             body: pop\nload i\nlog\nload i\npush 1\nadd\ndup\nstore i\njump loop\n",
            "",
        ),
        // AddLoad closing a `dup; push n; gt; jumpif` head (the sieve's inner loop).
        (
            "push 3\nstore p\npush 0\nloop: dup\npush 20\ngt\njumpif done\n\
             dup\nlog\nload p\nadd\njump loop\ndone: halt\n",
            "",
        ),
        // SubI closing a compare-and-branch on two slots.
        (
            "push 2\npush 9\nloop: over\nover\nlt\njumpif body\nhalt\n\
             body: dup\nlog\npush 3\nsub\njump loop\n",
            "",
        ),
        // AddI closing a `dup; push n; ne; jumpif` head.
        (
            "push 0\nloop: dup\npush 12\nne\njumpif body\nhalt\n\
             body: dup\nlog\npush 4\nadd\njump loop\n",
            "",
        ),
        // IncMem of one key closing a head that tests another (Collatz's `count` block).
        (
            "push 0\nstore steps\npush 6\nloop: dup\npush 1\ngt\njumpif step\nhalt\n\
             step: push 1\nsub\nload steps\npush 1\nadd\nstore steps\njump loop\n",
            "",
        ),
        // A body that is only the closing operation (it carries its own block's charge).
        (
            "push 3\nstore i\nloop: load i\njumpif body\nhalt\n\
             body: load i\npush 1\nsub\nstore i\njump loop\n",
            "DecMem",
        ),
        // IncMem closing `load K; push 0; lt; jumpif` (counting up to zero).
        (
            "push -5\nstore i\nloop: load i\npush 0\nlt\njumpif body\nhalt\n\
             body: load i\nlog\nload i\npush 2\nadd\nstore i\njump loop\n",
            "IncMem",
        ),
        // DecMem closing `load K; push 0; ge; jumpif` (down past zero).
        (
            "push 4\nstore i\nloop: load i\npush 0\nge\njumpif body\nhalt\n\
             body: load i\nlog\nload i\npush 3\nsub\nstore i\njump loop\n",
            "DecMem",
        ),
        // DecMem closing `load K; push 0; eq; jumpif` (the head leaves the loop).
        (
            "push 4\nstore i\nloop: load i\npush 0\neq\njumpif done\n\
             load i\nlog\nload i\npush 1\nsub\nstore i\njump loop\ndone: halt\n",
            "DecMem",
        ),
        // IncMem closing `load K; push 0; le; jumpif` and `ne`.
        (
            "push -3\nstore i\nloop: load i\npush 0\nle\njumpif body\nhalt\n\
             body: load i\nlog\nload i\npush 1\nadd\nstore i\njump loop\n",
            "IncMem",
        ),
        (
            "push -3\nstore i\nloop: load i\npush 0\nne\njumpif body\nhalt\n\
             body: load i\nlog\nload i\npush 1\nadd\nstore i\njump loop\n",
            "IncMem",
        ),
        // A zero test of another key is not run by the closing operation.
        (
            "push 3\nstore i\npush 0\nstore j\nloop: load i\njumpif body\nhalt\n\
             body: load i\npush 1\nsub\nstore i\nload j\npush 1\nadd\nstore j\njump loop\n",
            "",
        ),
    ];
    for &(src, op) in cases {
        let v = verified(src);
        let closing = closing(&v);
        if op.is_empty() {
            assert!(closing.is_empty(), "{src}\ncloses: {closing:?}");
        } else {
            assert!(
                closing.iter().any(|c| c.starts_with(op)),
                "{src}\nno closing {op}: {closing:?}"
            );
        }
        let full = agree_at_every_limit(src, &v);
        assert!(full > 10, "{src}: {full}");
    }
}

#[test]
fn a_closed_loop_that_fails_in_its_closing_operation_reports_it_there() {
    // The counter overflows in the closing `add` on its third round: the error is that
    // instruction's, with the gas of the rounds before and of the body (the head's charge
    // after it is never made), at every limit as the stepper has it.
    let src = ".state i 9223372036854775805\nloop: load i\njumpif body\nhalt\n\
               body: load i\npush 1\nadd\nstore i\njump loop\n";
    let v = verified(src);
    assert!(closing(&v).iter().any(|c| c.starts_with("IncMem")));
    let e = fails_alike_up_to(&v, 40);
    assert_eq!(e.kind, ErrorKind::ArithmeticOverflow);
    assert_eq!(e.pc, Some(5), "the `add`");
}

#[test]
fn a_head_that_is_not_a_single_test_is_not_run_by_the_closing_operation() {
    // The head logs before its test: two operations, so the back edge stays a copy.
    let src = "push 3\nstore i\nloop: push 1\nlog\nload i\njumpif body\nhalt\n\
               body: load i\npush 1\nsub\nstore i\njump loop\n";
    let v = verified(src);
    assert!(closing(&v).is_empty(), "{:?}", closing(&v));
    agree_at_every_limit(src, &v);
}

/// The names of the operations of `v`'s register code.
fn op_names(v: &Verified) -> Vec<String> {
    lower(v)
        .reg
        .ops
        .iter()
        .map(|i| {
            let name = format!("{:?}", i.op);
            name.split([' ', '{'])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn a_loop_head_that_falls_into_its_body_is_copied_with_its_branch_inverted() {
    // Each head exits by its branch and falls into the body: the back edge's copy branches
    // to the body on the opposite condition (`gt` becomes `BrLeI`, `lt` `BrGeI`, `load K;
    // jumpif` `BrLoadEqI`), then jumps to the exit. Gas, logs and errors are the stepper's
    // at every limit.
    let cases: &[(&str, &str)] = &[
        (
            "push 0\nloop: dup\npush 9\ngt\njumpif done\ndup\nlog\npush 2\nadd\njump loop\n\
             done: halt\n",
            "BrLeI",
        ),
        (
            "push 3\nstore i\nloop: load i\npush 8\nlt\njumpif done\nload i\nlog\n\
             load i\npush 1\nadd\nstore i\njump loop\ndone: load i\nhalt\n",
            "BrLoadGeI",
        ),
        (
            "push 4\nstore i\nloop: load i\njumpif more\njump done\n\
             more: load i\nlog\nload i\npush 1\nsub\nstore i\njump loop\ndone: halt\n",
            "",
        ),
        (
            "push 0\npush 5\nloop: over\nover\nge\njumpif done\nswap\ndup\nlog\npush 1\nadd\n\
             swap\njump loop\ndone: halt\n",
            "BrLt",
        ),
        (
            "push 6\nloop: dup\njumpif body\njump done\nbody: dup\nlog\npush 1\nsub\njump loop\n\
             done: halt\n",
            "",
        ),
    ];
    for &(src, op) in cases {
        let v = verified(src);
        let names = op_names(&v);
        if !op.is_empty() {
            assert!(names.iter().any(|n| n == op), "{src}\nno {op}: {names:?}");
        }
        let full = agree_at_every_limit(src, &v);
        assert!(full > 10, "{src}: {full}");
    }
}

#[test]
fn a_dynamic_store_of_a_constant_agrees_with_the_stepper_at_every_limit() {
    // `push n; swap; store` and `push n; <key>; store` store the constant without a slot:
    // in a loop (a block boundary on each side), as the last operation of a block before a
    // branch target, and failing (a negative key) at every limit.
    let cases = [
        "push 1\nloop: dup\npush 6\ngt\njumpif done\ndup\npush 0\nswap\nstore\npush 1\nadd\n\
         jump loop\ndone: push 3\nload\nhalt\n",
        "push 2\npush 7\nstore\njump next\nnext: push 7\nload\nhalt\n",
        "push 5\ndup\npush 1\nswap\nstore\nload\nhalt\n",
    ];
    for src in cases {
        let v = verified(src);
        assert!(
            op_names(&v).iter().any(|n| n == "StoreDynI"),
            "{src}: {:?}",
            op_names(&v)
        );
        agree_at_every_limit(src, &v);
    }
    // The third new key is one too many for a memory of two: the store fails there.
    let src = "push 0\nloop: dup\npush 0\nswap\nstore\npush 1\nadd\njump loop\n";
    let limits = Limits {
        memory_keys: 2,
        ..Limits::default()
    };
    let v = verify(assemble("t.casm", src).unwrap(), &limits).unwrap();
    assert!(op_names(&v).iter().any(|n| n == "StoreDynI"));
    let e = fails_alike_up_to(&v, 60);
    assert_eq!(e.pc, Some(4), "the `store`: {e:?}");
}

#[test]
fn a_remainder_by_a_constant_tested_by_jumpif_is_one_branch() {
    // Collatz steps: `dup; push 2; mod; jumpif odd` is one branch (`BrLowNz`, a test of the
    // low bits, by a power of two or its negation; `BrModINz` otherwise), in a block of its
    // own and as the last operation before a block boundary, on values of both signs; the
    // stepper agrees at every gas limit (its block's charge comes first, nothing of it runs
    // short of gas).
    let cases = [
        (
            "push 0\nstore steps\npush 27\nloop: dup\npush 1\ngt\njumpif step\nload steps\nhalt\n\
             step: dup\npush 2\nmod\njumpif odd\npush 2\ndiv\njump count\n\
             odd: push 3\nmul\npush 1\nadd\n\
             count: load steps\npush 1\nadd\nstore steps\njump loop\n",
            "BrLowNz",
        ),
        (
            "push -7\nloop: dup\nlog\ndup\npush -3\nmod\njumpif more\nhalt\nmore: push 1\nadd\njump loop\n",
            "BrModINz",
        ),
        (
            "push -9\nloop: dup\nlog\ndup\npush -4\nmod\njumpif more\nhalt\nmore: push 1\nadd\njump loop\n",
            "BrLowNz",
        ),
        (
            "push -13\nloop: dup\nlog\ndup\npush 8\nmod\njumpif more\nhalt\nmore: push 1\nadd\njump loop\n",
            "BrLowNz",
        ),
        (
            "push 5\nloop: dup\nlog\ndup\npush 1\nmod\njumpif loop\npush 1\nsub\ndup\njumpif loop\nhalt\n",
            "BrLowNz",
        ),
        (
            "push -9223372036854775807\npush 1\nsub\ndup\npush -2147483648\nmod\njumpif end\n\
             pop\npush 5\ndup\npush -2147483648\nmod\njumpif end\nlog\npush 7\nend: halt\n",
            "BrLowNz",
        ),
    ];
    for (src, op) in cases {
        let v = verified(src);
        assert!(
            op_names(&v).iter().any(|n| n == op),
            "{src}: {:?}",
            op_names(&v)
        );
        agree_at_every_limit(src, &v);
    }
    // By 0 and -1 the remainder can fail (by zero; MIN % -1 overflows): not fused, and the
    // error is the `mod`'s.
    for (src, pc) in [
        ("push 5\npush 0\nmod\njumpif end\nend: halt\n", 2),
        (
            "push -9223372036854775808\npush -1\nmod\njumpif end\nend: halt\n",
            2,
        ),
    ] {
        let v = verified(src);
        assert!(
            !op_names(&v)
                .iter()
                .any(|n| n == "BrModINz" || n == "BrLowNz"),
            "{src}"
        );
        assert_eq!(fails_alike_up_to(&v, 20).pc, Some(pc), "{src}");
    }
}

#[test]
fn present_forms_agree_with_the_stepper_at_every_limit_and_at_block_boundaries() {
    // Each present form (`RegOp::present`) after a store of its key on every path, in a
    // loop (whose head and back edge are block boundaries) and right after a block
    // boundary (`mid`, a `jumpif` never taken), logging so that anything run before its
    // block's charge shows.
    let cases: &[(&str, &[&str])] = &[
        (
            "push 0\npush 5\nstore i\nloop: load i\njumpif body\nhalt\n\
             body: load i\nadd\nload i\npush 1\nsub\nstore i\njump loop\n",
            &["AddLoadP", "DecMemNzP"],
        ),
        (
            "push -4\nstore i\nloop: load i\npush 0\nlt\njumpif body\nhalt\n\
             body: load i\nlog\nload i\npush 1\nadd\nstore i\njump loop\n",
            &["LoadP", "IncMemCloseP"],
        ),
        (
            "push 3\nstore i\npush 0\njumpif mid\nmid: push 1\nlog\nload i\npush 7\nadd\n\
             load i\npush 2\nsub\nadd\nstore i\nload i\nhalt\n",
            &["LoadAddIP", "LoadSubIP", "StoreP", "LoadP"],
        ),
        (
            "push 3\nstore i\npush 0\njumpif mid\nmid: load i\npush 1\nsub\nstore i\n\
             push 0\njumpif next\nnext: push 2\nlog\nload i\npush 1\nadd\nstore i\nload i\nhalt\n",
            &["DecMemP", "IncMemP", "LoadP"],
        ),
    ];
    for &(src, want) in cases {
        let v = verified(src);
        let names = op_names(&v);
        for name in want {
            assert!(
                names.iter().any(|n| n == name),
                "{src}\nno {name}: {names:?}"
            );
        }
        let full = agree_at_every_limit(src, &v);
        assert!(full > 5, "{src}: {full}");
    }
}

#[test]
fn a_key_stored_on_one_branch_only_keeps_its_test() {
    // `k` is stored only when the input is not zero: the load after the join tests the
    // cell, and with the other branch taken it fails as the stepper does, at every limit.
    let src = "push 0\njumpif s\npush 1\nstore k\ns: load k\npush 1\nadd\nstore k\nload k\nhalt\n";
    let v = verified(src);
    let names = op_names(&v);
    assert!(names.iter().any(|n| n == "IncMem"), "{names:?}");
    assert!(!names.iter().any(|n| n == "IncMemP"), "{names:?}");
    // The last load follows a successful one on every path: it needs no test.
    assert!(names.iter().any(|n| n == "LoadP"), "{names:?}");
    agree_at_every_limit(src, &v);
    let src = "push 1\njumpif s\npush 1\nstore k\ns: load k\npush 1\nadd\nstore k\nload k\nhalt\n";
    let v = verified(src);
    let e = fails_alike_up_to(&v, 20);
    assert_eq!(e.kind, ErrorKind::InvalidMemoryAccess, "{e:?}");
    assert_eq!(e.pc, Some(4), "the `load k`");
}

#[test]
fn a_key_absent_at_the_start_of_a_run_fails_as_before() {
    // The code is lowered once for every state: a key of the contract's initial state may
    // be missing from a run's state, so its first load tests the cell; the loads after it
    // do not. With the key, the run succeeds; without it, it fails at the first load, as
    // the stepper does, at every limit.
    let src = ".state count 1\nload count\npush 1\nadd\ndup\nstore count\nload count\nadd\nhalt\n";
    let v = verified(src);
    let names = op_names(&v);
    assert_eq!(names[0], "LoadAddI", "{names:?}");
    assert!(
        names.iter().any(|n| n == "StoreP" || n == "LoadP"),
        "{names:?}"
    );
    agree_at_every_limit(src, &v);
    let ctx = ExecutionContext::default();
    let empty = coopvm_core::State::new();
    let code = lowered(&v);
    let step_code = lower(&v);
    for gas in 0..=20 {
        let params = RunParams::new(&ctx, &empty, gas);
        let out = run(&*code, &v, params, &mut NoHost);
        let mut host = NoHost;
        let want = Stepper::new(&v, &step_code, params, &mut host)
            .run_to_end()
            .clone();
        assert_eq!(out, want, "with gas {gas}");
    }
    let out = run(&*code, &v, RunParams::new(&ctx, &empty, 1_000), &mut NoHost);
    let e = out.result.expect_err("no `count`");
    assert_eq!(e.kind, ErrorKind::InvalidMemoryAccess, "{e:?}");
    assert_eq!(e.pc, Some(0));
}

#[test]
fn a_division_by_an_immediate_that_can_fail_keeps_its_divisor_in_a_slot() {
    // By 0 and by -1 (`i64::MIN / -1` overflows) the divisor goes to a slot and the
    // checked operation reports the failure as the stepper does, at every limit.
    let failing = [
        ("push 7\npush 0\ndiv\nhalt\n", ErrorKind::DivisionByZero),
        (
            "push 7\nneg\npush 0\nmod\nhalt\n",
            ErrorKind::DivisionByZero,
        ),
        (
            "push -9223372036854775807\npush 1\nsub\npush -1\ndiv\nhalt\n",
            ErrorKind::ArithmeticOverflow,
        ),
        (
            "push -9223372036854775807\npush 1\nsub\npush -1\nmod\nhalt\n",
            ErrorKind::ArithmeticOverflow,
        ),
    ];
    for (src, kind) in failing {
        let v = verified(src);
        let names = op_names(&v);
        assert!(
            !names.iter().any(|n| n == "DivI" || n == "ModI"),
            "{src}: {names:?}"
        );
        let e = fails_alike_up_to(&v, 20);
        assert_eq!(e.kind, kind, "{src}: {e:?}");
    }
    // Other immediates, with operands of both signs, and at a block boundary (`mid`).
    let src = "push -7\npush 0\njumpif a\na: push 2\ndiv\npush 0\njumpif mid\nmid: push -3\nmod\n\
               push 22\nadd\npush -5\ndiv\ndup\nlog\npush 9\nmod\nlog\nhalt\n";
    let v = verified(src);
    let names = op_names(&v);
    for name in ["DivI", "ModI"] {
        assert!(
            names.iter().any(|n| n == name),
            "{src}: no {name}: {names:?}"
        );
    }
    agree_at_every_limit(src, &v);
}

#[test]
fn a_loop_counting_down_on_the_stack_runs_its_head_in_the_closing_subtraction() {
    // `push n; sub` (`SubI`) or `load K; push n; sub` (`LoadSubIP`) before a back edge to a
    // `dup; jumpif` head on the result: one operation runs both (the head's charge first),
    // logging in the head's target and in the body so that a head run before its charge,
    // or a charge skipped, shows; the stepper agrees at every gas limit.
    let cases: &[(&str, &str)] = &[
        (
            "push 0\npush 5\nloop: dup\njumpif body\npop\nhalt\n\
             body: dup\nlog\nswap\npush 1\nadd\nswap\npush 1\nsub\njump loop\n",
            "SubINz",
        ),
        (
            "push 0\npush 5\nloop: dup\njumpif body\npop\nhalt\n\
             body: dup\nstore i\nadd\nload i\npush 1\nsub\njump loop\n",
            "LoadSubINzP",
        ),
        // Down past zero by 2 from an odd start would never stop: from 8 by 2, and by -3
        // from -9 (a negative immediate).
        (
            "push 8\nloop: dup\njumpif body\nhalt\nbody: dup\nlog\npush 2\nsub\njump loop\n",
            "SubINz",
        ),
        (
            "push -9\nloop: dup\njumpif body\nhalt\nbody: dup\nlog\npush -3\nsub\njump loop\n",
            "SubINz",
        ),
        // The body is the subtraction alone (it carries its block's charge).
        (
            "push 6\nloop: dup\njumpif body\nhalt\nbody: push 1\nsub\njump loop\n",
            "SubINz",
        ),
    ];
    for &(src, op) in cases {
        let v = verified(src);
        let names = op_names(&v);
        assert!(names.iter().any(|n| n == op), "{src}\nno {op}: {names:?}");
        let full = agree_at_every_limit(src, &v);
        assert!(full > 10, "{src}: {full}");
    }
    // Not closing: an immediate beyond an `i16`, a head testing another slot, a head of
    // two operations.
    let plain = [
        "push 70000\nloop: dup\njumpif body\nhalt\nbody: push 35000\nsub\njump loop\n",
        "push 2\npush 3\nloop: dup\njumpif body\nhalt\nbody: pop\npush 1\nsub\ndup\njump loop\n",
        "push 3\nloop: push 1\nlog\ndup\njumpif body\nhalt\nbody: push 1\nsub\njump loop\n",
    ];
    for src in plain {
        let v = verified(src);
        let names = op_names(&v);
        assert!(
            !names.iter().any(|n| n == "SubINz" || n == "LoadSubINzP"),
            "{src}: {names:?}"
        );
        agree_at_every_limit(src, &v);
    }
    // The subtraction overflows on the third round: the error is the `sub`'s, at every
    // limit as the stepper has it (the head's charge after it is never made).
    let src = "push -9223372036854775806\nloop: dup\njumpif body\nhalt\n\
               body: push 1\nsub\njump loop\n";
    let v = verified(src);
    assert!(op_names(&v).iter().any(|n| n == "SubINz"));
    let e = fails_alike_up_to(&v, 30);
    assert_eq!(e.kind, ErrorKind::ArithmeticOverflow);
    assert_eq!(e.pc, Some(5), "the `sub`");
    let src = ".state i -9223372036854775807\npush 1\nloop: dup\njumpif body\nhalt\n\
               body: pop\nload i\npush 1\nsub\nstore i\nload i\npush 1\nsub\njump loop\n";
    let v = verified(src);
    assert!(
        op_names(&v).iter().any(|n| n == "LoadSubINzP"),
        "{:?}",
        op_names(&v)
    );
    let e = fails_alike_up_to(&v, 40);
    assert_eq!(e.kind, ErrorKind::ArithmeticOverflow);
    assert_eq!(e.pc, Some(11), "the second `sub`");
}

#[test]
fn a_dynamic_load_at_a_proven_keys_value_is_one_operation() {
    // `load K; load` with `K` stored on every path: one `LoadDynAtP`, in a loop (block
    // boundaries on both sides) and right after a boundary; the stepper agrees at every
    // gas limit.
    let src = "push 9\npush 0\nstore\npush 5\nstore i\npush 0\nloop: load i\npush 0\nswap\nstore\nload i\nload\nadd\n\
               load i\npush 1\nsub\nstore i\nload i\njumpif loop\npush 0\njumpif mid\n\
               mid: load i\nload\nlog\nhalt\n";
    let v = verified(src);
    let names = op_names(&v);
    assert!(names.iter().any(|n| n == "LoadDynAtP"), "{names:?}");
    agree_at_every_limit(src, &v);
    // A key not proven: two operations. The dynamic key holds no value: the failure is the
    // second `load`'s, at every limit.
    let src = "push 0\njumpif s\npush 3\nstore k\ns: load k\nload\nhalt\n";
    let v = verified(src);
    assert!(!op_names(&v).iter().any(|n| n == "LoadDynAtP"));
    let src = "push 3\nstore k\nload k\nload\nhalt\n";
    let v = verified(src);
    assert!(op_names(&v).iter().any(|n| n == "LoadDynAtP"));
    let e = fails_alike_up_to(&v, 20);
    assert_eq!(e.kind, ErrorKind::InvalidMemoryAccess, "{e:?}");
    assert_eq!(e.pc, Some(3), "the dynamic `load`");
}
