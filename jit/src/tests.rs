//! Unit tests: every behaviour checked against the reference interpreter.

use crate::{
    clif, compile, compile_counted, compile_for_isa, compile_with_options, isa_for, OptLevel,
    Options,
};
use coopvm_core::run::run;
use coopvm_core::stats::run_with_stats;
use coopvm_core::{
    asm::assemble, verify, ErrorKind, ExecutionContext, Limits, NoHost, Outcome, RunParams, State,
};

fn verified(src: &str, limits: Limits) -> coopvm_core::Verified {
    verify(assemble("t.casm", src).expect("assembles"), &limits).expect("verifies")
}

fn ctx() -> ExecutionContext {
    ExecutionContext {
        caller_did: "did:key:alice".into(),
        timestamp: 1_700_000_000,
        block_number: 7,
        ..Default::default()
    }
}

/// Runs `src` on both engines with `gas` and asserts identical outcomes; returns the JIT's.
fn same_with(src: &str, limits: Limits, state: &State, gas: u64) -> Outcome {
    same_gas(src, limits, state, &[gas])
}

/// Runs `src` on both engines with each gas limit in `gases`, the JIT's code compiled at
/// every [`OptLevel`]; returns the last JIT outcome.
fn same_gas(src: &str, limits: Limits, state: &State, gases: &[u64]) -> Outcome {
    let v = verified(src, limits);
    let ctx = ctx();
    let mut last = None;
    for opt in [OptLevel::Fast, OptLevel::None, OptLevel::Speed] {
        let options = Options {
            opt: Some(opt),
            ..Options::default()
        };
        let code = compile_with_options(&v, options).expect("compiles");
        for &gas in gases {
            let params = RunParams::new(&ctx, state, gas);
            let want = run(&coopvm_interp::lower(&v), &v, params, &mut NoHost);
            let got = run(&code, &v, params, &mut NoHost);
            assert_eq!(
                got, want,
                "engines disagree on\n{src}\nwith gas {gas} at {opt:?}"
            );
            last = Some(got);
        }
    }
    last.expect("at least one gas limit")
}

fn same(src: &str) -> Outcome {
    let v = verified(src, Limits::default());
    let state = v.contract().state.clone();
    same_with(src, Limits::default(), &state, 1_000_000)
}

/// Every gas limit from 0 to what the run needs, plus one.
fn sweep(src: &str) {
    let full = same(src);
    let v = verified(src, Limits::default());
    let state = v.contract().state.clone();
    let gases: Vec<u64> = (0..=full.gas_used + 1).collect();
    same_gas(src, Limits::default(), &state, &gases);
}

#[test]
fn arithmetic_and_comparisons() {
    let out = same("push 6\npush 7\nmul\npush 2\nsub\npush 5\ndiv\npush 3\nmod\nneg\n");
    assert_eq!(out.stack, vec![-2]);
    for op in ["eq", "ne", "lt", "le", "gt", "ge", "and", "or"] {
        for (a, b) in [(0, 0), (1, 0), (0, 1), (-3, 5), (5, -3), (7, 7)] {
            same(&format!("push {a}\npush {b}\n{op}\npush {a}\nnot\n"));
        }
    }
    let out = same("push 2\npush 3\nswap\ndup\npop\n");
    assert_eq!(out.stack, vec![3, 2]);
}

#[test]
fn over_rot_pick() {
    assert_eq!(same("push 1\npush 2\nover\n").stack, vec![1, 2, 1]);
    assert_eq!(same("push 1\npush 2\npush 3\nrot\n").stack, vec![2, 3, 1]);
    for n in 0..4 {
        let out = same(&format!("push 1\npush 2\npush 3\npush 4\npick {n}\n"));
        assert_eq!(out.stack, vec![1, 2, 3, 4, 4 - n]);
    }
    // Across a call: the callee picks from its caller's frame, which lives in memory.
    let src = "push 5\npush 6\ncall f\nhalt\nf: pick 1\nover\nrot\npush 7\ncall g\nreturn\ng: pick 4\nreturn\n";
    let out = same(src);
    assert_eq!(out.stack, vec![5, 5, 6, 6, 7, 5]);
    sweep(src);
}

#[test]
fn arithmetic_errors() {
    let cases = [
        ("push 1\npush 0\ndiv\n", ErrorKind::DivisionByZero),
        ("push 1\npush 0\nmod\n", ErrorKind::DivisionByZero),
        (
            "push -9223372036854775808\npush -1\ndiv\n",
            ErrorKind::ArithmeticOverflow,
        ),
        (
            "push -9223372036854775808\npush -1\nmod\n",
            ErrorKind::ArithmeticOverflow,
        ),
        (
            "push 9223372036854775807\npush 1\nadd\n",
            ErrorKind::ArithmeticOverflow,
        ),
        (
            "push -9223372036854775808\npush 1\nsub\n",
            ErrorKind::ArithmeticOverflow,
        ),
        (
            "push 4611686018427387904\npush 2\nmul\n",
            ErrorKind::ArithmeticOverflow,
        ),
        (
            "push -9223372036854775808\nneg\n",
            ErrorKind::ArithmeticOverflow,
        ),
    ];
    for (src, kind) in cases {
        let out = same(&format!("push 5\nlog\n{src}"));
        assert_eq!(out.result.unwrap_err().kind, kind, "{src}");
        assert_eq!(out.logs, vec![5]);
    }
}

#[test]
fn loops_and_gas_sweep() {
    let src = include_str!("../../examples/loop.casm");
    assert_eq!(same(src).stack, vec![5050]);
    let small = "push 0\npush 5\nl: dup\njumpif b\npop\nhalt\nb: dup\nstore i\nadd\nload i\npush 1\nsub\njump l\n";
    sweep(small);
}

#[test]
fn recursion_and_calls() {
    let src = include_str!("../../examples/fib.casm");
    assert_eq!(same(src).stack, vec![6765]);
    sweep(&src.replace("push 20", "push 6"));
    sweep(include_str!("../../examples/subroutine.casm"));
}

#[test]
fn halt_inside_a_subroutine_reports_the_whole_stack() {
    let src = "push 1\npush 2\ncall f\nhalt\nf: push 3\ncall g\nreturn\ng: push 4\nhalt\n";
    assert_eq!(same(src).stack, vec![1, 2, 3, 4]);
    // Falling off the end inside a subroutine ends the run too.
    let src = "push 1\ncall f\nhalt\nf: push 9\nadd\n";
    assert_eq!(same(src).stack, vec![10]);
    // A jump to the end of the code.
    same("push 1\njump end\npush 2\nend:\n");
    same("push 1\ndup\njumpif end\npush 2\nend:\n");
}

#[test]
fn call_limits() {
    let deep = "push 0\ncall f\nhalt\nf: push 1\nadd\ndup\npush 1000\nlt\njumpif r\nreturn\nr: call f\nreturn\n";
    // (100,000 is above the preallocated return stack: it grows during the run.)
    for depth in [0, 1, 5, 300, 100_000] {
        let limits = Limits {
            call_depth: depth,
            ..Limits::default()
        };
        let v = verified(deep, limits);
        let out = same_with(deep, limits, &v.contract().state, 1_000_000);
        if depth < 1000 {
            assert_eq!(out.result.unwrap_err().kind, ErrorKind::CallDepthExceeded);
        } else {
            assert_eq!(out.stack, vec![1000], "{:?}", out.result);
        }
    }
    // Stack room: a callee with a big frame, called with little room left.
    let room =
        "push 1\npush 2\npush 3\ncall f\nhalt\nf: push 1\npush 2\npush 3\npop\npop\npop\nreturn\n";
    for stack in [4, 5, 6, 7] {
        let limits = Limits {
            stack,
            ..Limits::default()
        };
        let v = verified(room, limits);
        same_with(room, limits, &v.contract().state, 1_000);
    }
    // Main called recursively: its `return` goes back to the caller while it has one.
    let src = ".state n 3\ntop: load n\ndup\njumpif more\nreturn\nmore: push 1\nsub\nstore n\ncall top\nreturn\n";
    let out = same(src);
    assert_eq!(out.stack, vec![0]);
    sweep(src);
}

#[test]
fn memory() {
    let out = same(include_str!("../../examples/counter.casm"));
    assert_eq!(out.state["count"], 1);
    same("load nothing\n");
    same("push 5\nload\n");
    same("push 7\npush 5\nstore\npush 5\nload\npush 5\nload\nadd\n");
    // Key limit: the second new key fails, at the same store on both engines.
    let src = "push 1\nstore a\npush 2\nstore a\npush 3\npush 10\nstore\npush 4\nstore b\n";
    for keys in [0, 1, 2, 3] {
        let limits = Limits {
            memory_keys: keys,
            ..Limits::default()
        };
        let v = verified(src, limits);
        same_with(src, limits, &v.contract().state, 1_000);
    }
    // Initial state: static, dynamic and unrelated keys.
    let state = State::from([("a".into(), 40), ("3".into(), 2), ("other".into(), 1)]);
    let src = "load a\npush 3\nload\nadd\ndup\nstore a\n";
    let out = same_with(src, Limits::default(), &state, 100);
    assert_eq!(out.state["a"], 42);
    assert_eq!(out.state["other"], 1);
}

#[test]
fn transient_memory() {
    let src = ".state a 5\npush 7\ntstore a\ntload a\nload a\nadd\npush 3\npush -2\ntstore\npush -2\ntload\ntload a\n";
    let out = same(src);
    assert_eq!(out.stack, vec![12, 3, 7]);
    assert_eq!(out.state, State::from([("a".into(), 5)]));
    sweep(src);
    same("tload nothing\n");
    same(".state 4 1\npush 4\ntload\n");
    // The transient key limit: the third new key fails, at the same instruction.
    let src = "push 1\ntstore a\npush 2\ntstore a\npush 3\npush 10\ntstore\npush 4\ntstore b\npush 5\npush 11\ntstore\n";
    for keys in [0, 1, 2, 3, 4] {
        let limits = Limits {
            transient_keys: keys,
            memory_keys: 0,
            ..Limits::default()
        };
        let v = verified(src, limits);
        let out = same_with(src, limits, &v.contract().state, 1_000);
        assert_eq!(out.is_ok(), keys >= 4, "{keys}");
    }
}

#[test]
fn host_system_ops() {
    let src = "push \"topic\"\ngetcaller\nemitevent\ngettimestamp\nlog\ngetblock\ngetcaller\npush 1\nlog\n";
    let out = same(src);
    assert_eq!(out.logs, vec![1_700_000_000, 1]);
    assert_eq!(out.events.len(), 1);
    sweep(src);
    sweep(include_str!("../../examples/rollback.casm"));
    // Domain operations fail without a host, with the host's error.
    let out = same("push \"c\"\njoincooperative\n");
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::HostUnavailable);
    let out = same("push 99\npush 1\nemitevent\n");
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::InvalidStringHandle);
}

#[test]
fn string_equality_and_length() {
    let long = "x".repeat(70);
    let src = format!(
        "getcaller\npush \"did:key:alice\"\nstreq\ngetcaller\npush \"did:key:bob\"\nstreq\n\
         push \"{long}\"\npush \"{long}y\"\nstreq\ngetcaller\nstrlen\npush \"{long}\"\nstrlen\n"
    );
    let out = same(&src);
    assert_eq!(out.stack, vec![1, 0, 0, 13, 70]);
    // Static 3 per streq, 2 per strlen; dynamic 1 per 32 bytes of the shorter string.
    let dynamic = 1 + 1 + 3;
    assert_eq!(
        out.gas_used,
        2 + 1 + 3 + 2 + 1 + 3 + 1 + 1 + 3 + 2 + 2 + 1 + 2 + dynamic
    );
    sweep(&src);
    for bad in [
        "push 99\npush 0\nstreq\n",
        "push 0\npush -1\nstreq\n",
        "push 5\nstrlen\n",
    ] {
        let out = same(&format!("push \"s\"\npop\n{bad}"));
        assert_eq!(
            out.result.unwrap_err().kind,
            ErrorKind::InvalidStringHandle,
            "{bad}"
        );
    }
}

/// Runs `src` with `args` on both engines at every gas limit up to its cost; returns the
/// JIT's outcome at the full limit.
fn same_args(src: &str, args: &[coopvm_core::Arg]) -> Outcome {
    let v = verified(src, Limits::default());
    let ctx = ctx();
    let code = compile(&v).expect("compiles");
    let state = v.contract().state.clone();
    let full = RunParams::new(&ctx, &state, 1_000_000).with_args(args);
    let want = run(&coopvm_interp::lower(&v), &v, full, &mut NoHost);
    for gas in (0..=want.gas_used + 1).chain([1_000_000]) {
        let params = RunParams::new(&ctx, &state, gas).with_args(args);
        let a = run(&coopvm_interp::lower(&v), &v, params, &mut NoHost);
        let b = run(&code, &v, params, &mut NoHost);
        assert_eq!(
            b, a,
            "engines disagree on\n{src}\nwith {args:?} and gas {gas}"
        );
    }
    run(&code, &v, full, &mut NoHost)
}

#[test]
fn division_by_constants() {
    use coopvm_core::Arg;
    let dividends = [
        0,
        1,
        -1,
        7,
        -7,
        99,
        -100,
        1_000_003,
        -1_000_004,
        i64::MAX,
        i64::MIN,
        i64::MIN + 1,
        0x1234_5678_9abc_def0,
        -0x1234_5678_9abc_def0,
    ];
    // Powers of two, magic numbers with and without the added dividend, and the divisors
    // that keep their checks (0, 1, -1, negatives).
    for d in [
        2,
        4,
        1 << 62,
        3,
        7,
        10,
        641,
        1_000_003,
        i64::MAX,
        1,
        0,
        -1,
        -2,
        -3,
        i64::MIN,
    ] {
        for op in ["div", "mod"] {
            let src = format!(".params 1\npush {d}\n{op}\n");
            for a in dividends {
                let out = same_args(&src, &Arg::ints(&[a]));
                if d != 0 && !(d == -1 && a == i64::MIN) {
                    let want = if op == "div" { a / d } else { a % d };
                    assert_eq!(out.stack, vec![want], "{a} {op} {d}");
                }
            }
        }
    }
}

#[test]
fn inputs() {
    use coopvm_core::Arg;
    assert_eq!(
        same_args(".params 2\nsub\n", &Arg::ints(&[40, 2])).stack,
        vec![38]
    );
    assert_eq!(
        same_args(".params 3\n", &Arg::ints(&[1, 2, 3])).stack,
        vec![1, 2, 3]
    );
    // Inputs reach subroutines, survive calls (spilled and reloaded) and loops.
    let src = ".params 2\npick 1\ncall f\nhalt\nf: mul\nadd\nreturn\n";
    assert_eq!(same_args(src, &Arg::ints(&[3, 4])).stack, vec![15]);
    let sum = ".params 1\npush 0\nswap\ntop: dup\njumpif body\npop\nhalt\nbody: dup\ntstore i\nadd\ntload i\npush 1\nsub\njump top\n";
    for n in [0, 1, 7] {
        let out = same_args(sum, &Arg::ints(&[n]));
        assert_eq!(out.stack, vec![n * (n + 1) / 2]);
    }
    // Main called recursively with its input.
    let src = ".params 1\ntop: dup\njumpif more\nreturn\nmore: push 1\nsub\ncall top\nreturn\n";
    assert_eq!(same_args(src, &Arg::ints(&[5])).stack, vec![0]);
    // String inputs are handles of the run.
    let out = same_args(".params 2\nstreq\n", &[Arg::from("a"), Arg::from("a")]);
    assert_eq!(out.stack, vec![1]);
    let out = same_args(
        ".params 2\ngetcaller\nstreq\n",
        &[Arg::Int(9), Arg::from("did:key:alice")],
    );
    assert_eq!(out.stack, vec![9, 1]);
    // Refused runs agree too.
    let out = same_args(".params 2\nadd\n", &Arg::ints(&[1]));
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::InvalidArgument);
}

#[test]
fn empty_and_unreachable_code() {
    same("");
    same("halt\npush 1\nadd\n");
    same("jump e\npush 1\ne: push 2\n");
}

#[test]
fn clif_and_cross_isa() {
    let v = verified(include_str!("../../examples/fib.casm"), Limits::default());
    let text = clif(&v).unwrap();
    // fib's `return` has three sites: compare-and-branch, no jump table.
    assert!(!text.contains("br_table"), "{text}");
    let five = verified(
        "call f\ncall f\ncall f\ncall f\ncall f\nhalt\nf: return\n",
        Limits::default(),
    );
    assert!(clif(&five).unwrap().contains("br_table"));
    same("call f\ncall f\ncall f\ncall f\ncall f\npush 7\nhalt\nf: return\n");
    for triple in ["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"] {
        let isa = isa_for(triple).unwrap();
        assert!(compile_for_isa(&v, &*isa).unwrap() > 0);
    }
}

#[test]
fn compiled_code_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<crate::NativeCode>();
}

#[test]
fn statistics_need_counted_code() {
    let v = verified("push 1\npush 2\nadd\n", Limits::default());
    let ctx = ctx();
    let state = State::new();
    let params = RunParams::new(&ctx, &state, 100);
    let plain = compile(&v).unwrap();
    assert!(!plain.is_counted());
    let (out, stats) = run_with_stats(&plain, &v, params, &mut NoHost);
    let e = out.result.unwrap_err();
    assert_eq!(e.kind, ErrorKind::EngineFailure);
    assert!(
        e.message.starts_with("the JIT engine failed"),
        "{}",
        e.message
    );
    assert_eq!((out.gas_used, stats.instructions), (0, 0));
    let counted = compile_counted(&v).unwrap();
    assert!(counted.is_counted());
    let (out, stats) = run_with_stats(&counted, &v, params, &mut NoHost);
    assert_eq!((out.stack.to_vec(), stats.instructions), (vec![3], 3));
    // Counted code also runs without statistics, with the same outcome as plain code.
    assert_eq!(
        run(&counted, &v, params, &mut NoHost),
        run(&plain, &v, params, &mut NoHost)
    );
}

#[test]
fn one_compiled_contract_runs_on_many_threads() {
    let v = verified(include_str!("../../examples/fib.casm"), Limits::default());
    let code = compile(&v).unwrap();
    let want = run(
        &coopvm_interp::lower(&v),
        &v,
        RunParams::new(&ctx(), &State::new(), 1_000_000),
        &mut NoHost,
    );
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let ctx = ctx();
                let state = State::new();
                for _ in 0..20 {
                    let params = RunParams::new(&ctx, &state, 1_000_000);
                    assert_eq!(run(&code, &v, params, &mut NoHost), want);
                }
            });
        }
    });
}

#[test]
fn unsupported_targets_are_errors() {
    // Parses, but this build has no backend for it (or it is not 64-bit).
    for triple in [
        "riscv64gc-unknown-linux-gnu",
        "i686-unknown-linux-gnu",
        "nonsense",
    ] {
        let e = isa_for(triple)
            .err()
            .unwrap_or_else(|| panic!("{triple} accepted"));
        assert!(matches!(e, crate::JitError::Isa(_)), "{triple}: {e}");
    }
}

#[test]
fn internal_jit_errors_are_engine_failures() {
    use crate::rt::{Exit, Frame};
    use coopvm_core::{memory::Memory, Env};
    let v = verified("push 1\n", Limits::default());
    let ctx = ctx();
    let c = v.contract();
    let mut env = Env::new(&ctx, &c.id, &c.program.strings);
    let mut memory = Memory::new(&c.program, &c.state, 10);
    let mut host = NoHost;
    let (mut rets, mut counts) = (Vec::new(), Vec::new());
    let mut frame = Frame::new(
        &mut env,
        &mut host,
        &mut memory,
        100,
        8,
        true,
        &mut rets,
        &mut counts,
    );
    let mut stack = vec![0; 8];
    let mut native = frame.ctx(&mut stack, 100);
    // A return with no return site, a trampoline that failed without saying why, an exit
    // code native code never writes: the JIT's own faults, not the host's.
    for code in [Exit::Internal as u32, Exit::Trampoline as u32, 99] {
        native.err_code = code;
        native.err_pc = 3;
        let e = frame.error(&native, 8, &crate::lower::Operands::default());
        assert_eq!((e.kind, e.pc), (ErrorKind::EngineFailure, Some(3)), "{e}");
        assert!(e.message.starts_with("the JIT engine failed: "), "{e}");
    }
}

/// Compiles `src` (or has it refused by the compile budget) and, if compiled, runs it on
/// both engines. What these shapes cost to compile is measured by `cargo run --release -p
/// coopvm-jit --example compile_scaling` and the `compile_scaling` bench group, never here.
fn compiled_or_refused(src: &str) {
    let v = verified(src, Limits::default());
    match compile(&v) {
        Ok(code) => {
            let ctx = ctx();
            let state = State::new();
            let params = RunParams::new(&ctx, &state, 10_000_000);
            let want = run(&coopvm_interp::lower(&v), &v, params, &mut NoHost);
            assert_eq!(run(&code, &v, params, &mut NoHost), want);
        }
        Err(crate::JitError::OverBudget { estimate, budget }) => {
            assert!(estimate > budget);
            assert_eq!(estimate, crate::compile_estimate(&v));
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
#[ignore = "slow in debug builds; run with --ignored"]
fn eight_thousand_subroutines_compile_or_are_refused() {
    compiled_or_refused(&crate::shapes::subs(8_000));
}

#[test]
#[ignore = "slow in debug builds; run with --ignored"]
fn a_chain_of_sixteen_thousand_jumpifs_compiles_or_is_refused() {
    compiled_or_refused(&crate::shapes::chain(16_000));
}

#[test]
fn small_attack_shapes_agree() {
    compiled_or_refused(&crate::shapes::subs(50));
    compiled_or_refused(&crate::shapes::chain(300));
}

#[test]
fn the_budget_refuses_what_would_blow_up_and_accepts_the_examples() {
    // 500 values live under a chain of calls: every call spills and reloads them all.
    let mut src = String::new();
    for _ in 0..500 {
        src.push_str("push 1\n");
    }
    for i in 0..1_000 {
        src.push_str(&format!("push 1\njumpif l{i}\nl{i}: call f\n"));
    }
    src.push_str("halt\nf: return\n");
    let v = verified(&src, Limits::default());
    let e = compile(&v).unwrap_err();
    assert!(matches!(e, crate::JitError::OverBudget { .. }), "{e}");
    compiled_or_refused(&src);
    for src in [
        include_str!("../../examples/fib.casm"),
        include_str!("../../examples/loop.casm"),
        include_str!("../../examples/counter.casm"),
        include_str!("../../examples/subroutine.casm"),
        include_str!("../../examples/rollback.casm"),
    ] {
        let v = verified(src, Limits::default());
        let len = v.contract().program.code.len();
        let estimate = crate::compile_estimate(&v);
        assert!(estimate <= crate::budget(len), "{estimate} for {len}");
    }
}

#[test]
fn register_slots_are_written_back_and_checked_where_unproven() {
    // `k` is stored on every path before the loop; `m` only on one branch.
    let src = "push 3\nstore k\nl: load k\ndup\njumpif b\npop\nload m\nhalt\n\
               b: dup\nstore m\npush 1\nsub\nstore k\njump l\n";
    for state in [
        State::new(),
        State::from([("m".into(), 5)]),
        State::from([("k".into(), 9), ("other".into(), 1)]),
    ] {
        for gas in [0, 5, 20, 40, 1_000] {
            same_with(src, Limits::default(), &state, gas);
        }
    }
    // The memory limit at a store that creates a register slot's key.
    for keys in [0, 1, 2] {
        let limits = Limits {
            memory_keys: keys,
            ..Limits::default()
        };
        same_with(src, limits, &State::new(), 1_000);
    }
}

/// A contract storing `value_expr` (assembly leaving the value, with `i` the loop index in
/// slot `i`) under the keys `key(i)` for `i` in `from`, stepping by `step` while `i != to`, then
/// summing the values loaded back under the same keys in the same order, then loading
/// `probe` (which may hold no value).
fn key_loop(from: i64, to: i64, step: i64, key: &str, probe: i64) -> String {
    format!(
        "push {from}\nstore i\n\
         fill: load i\npush {to}\nne\njumpif body\njump sum0\n\
         body: load i\npush 3\nmul\nload i\n{key}\nstore\n\
         load i\npush {step}\nadd\nstore i\njump fill\n\
         sum0: push 0\npush {from}\nstore i\n\
         sum: load i\npush {to}\nne\njumpif more\npush {probe}\nload\nhalt\n\
         more: load i\n{key}\nload\nadd\n\
         load i\npush {step}\nadd\nstore i\njump sum\n"
    )
}

#[test]
fn dense_integer_keys_in_place_agree_with_the_interpreter() {
    // Creation, hit, overwrite and miss of keys within the dense cells, and keys just
    // outside them (negative, the dense range's end, the extremes), with and without
    // initial integer keys, at every gas limit.
    let extremes = [
        0,
        1,
        63,
        64,
        65,
        -1,
        (1 << 20) - 1,
        1 << 20,
        (1 << 20) + 1,
        i64::MIN,
        i64::MAX,
    ];
    let states = [
        State::new(),
        State::from([("5".into(), 50), ("-1".into(), 10), ("70".into(), 7)]),
        State::from([(format!("{}", 1 << 20).into(), 1), ("1048575".into(), 2)]),
    ];
    for k in extremes {
        let programs = [
            format!("push 3\npush {k}\nstore\npush {k}\nload\npush 4\npush {k}\nstore\npush {k}\nload\nadd\n"),
            format!("push {k}\nload\n"),
            format!("push 9\npush 5\nstore\npush {k}\nload\npush 5\nload\n"),
            format!("push 1\npush {k}\nstore\npush 2\npush 5\nstore\npush 5\nload\npush {k}\nload\n"),
        ];
        for src in &programs {
            for state in &states {
                let full = same_with(src, Limits::default(), state, 1_000);
                let gases: Vec<u64> = (0..=full.gas_used + 1).collect();
                same_gas(src, Limits::default(), state, &gases);
            }
        }
    }
    // Hit and overwrite of initial keys through the cells, and the state a run ends with.
    let state = State::from([("5".into(), 50), ("6".into(), 60)]);
    let src =
        "push 5\nload\npush 6\nload\nadd\npush 6\nstore\npush 6\nload\npush 1\npush 7\nstore\n";
    let out = same_with(src, Limits::default(), &state, 1_000);
    assert_eq!(out.stack, vec![110]);
    assert_eq!(
        out.state,
        State::from([("5".into(), 50), ("6".into(), 110), ("7".into(), 1)])
    );
}

#[test]
fn dense_keys_growing_and_moving_mid_run_agree() {
    // Many first stores: the cells grow (and move) while native code keeps writing and
    // reading them in place; keys first held in the hash map move into the cells; then
    // every key is read back through the cells. Upwards, downwards, strided, and across
    // the dense range's end.
    let cases = [
        key_loop(0, 3_000, 1, "", 5),
        key_loop(2_999, -1, -1, "", 3_001),
        key_loop(0, 1_000, 1, "push 7\nmul", 8),
        key_loop(1_999, -1, -1, "push 3\nmul", 1),
        key_loop(0, 400, 1, "push 1048400\nadd", 1_048_575),
        key_loop(0, 300, 1, "push -150\nadd", -151),
    ];
    let limits = Limits {
        memory_keys: 3_100,
        ..Limits::default()
    };
    for src in &cases {
        for state in [
            State::new(),
            State::from([("2".into(), 1), ("100000".into(), 2)]),
        ] {
            let out = same_gas(src, limits, &state, &[10_000_000]);
            // The probe holds a value in some cases, none in others: only that load may
            // fail (the sum before it is checked against the interpreter's).
            if let Err(e) = &out.result {
                assert_eq!(e.kind, ErrorKind::InvalidMemoryAccess, "{src}");
            }
            assert!(out.gas_used > 10_000, "{src}");
        }
    }
    // A spread of gas limits through the growth.
    let src = key_loop(0, 200, 1, "", 0);
    let gases: Vec<u64> = (0..300).map(|g| g * 37).collect();
    same_gas(&src, limits, &State::new(), &gases);
}

#[test]
fn the_key_limit_holds_for_keys_made_in_place() {
    // New keys made in the cells count against the limit exactly: the store that exceeds
    // it fails on both engines, and static keys created in between (through memory)
    // share the same count.
    let dynamic = key_loop(0, 100, 1, "", 0);
    let mixed = "push 1\npush 1\nstore\npush 1\nstore a\npush 2\npush 2\nstore\npush 2\nstore b\n\
                 push 3\npush 3\nstore\npush 4\npush 4\nstore\npush 5\nstore c\npush 6\npush 70\nstore\n";
    for keys in [0, 1, 2, 3, 4, 5, 6, 7, 8, 50, 64, 65, 99, 100, 101, 102] {
        let limits = Limits {
            memory_keys: keys,
            ..Limits::default()
        };
        for state in [State::new(), State::from([("3".into(), 3)])] {
            let out = same_gas(&dynamic, limits, &state, &[1_000_000]);
            if !out.is_ok() {
                let kind = out.result.as_ref().unwrap_err().kind;
                assert!(
                    matches!(
                        kind,
                        ErrorKind::MemoryLimitExceeded | ErrorKind::InvalidMemoryAccess
                    ),
                    "{kind:?}"
                );
            }
            let full = same_with(mixed, limits, &state, 1_000);
            let gases: Vec<u64> = (0..=full.gas_used + 1).collect();
            same_gas(mixed, limits, &state, &gases);
        }
    }
    let limits = Limits {
        memory_keys: 50,
        ..Limits::default()
    };
    let out = same_with(&dynamic, limits, &State::new(), 1_000_000);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::MemoryLimitExceeded);
}

#[test]
fn transient_keys_are_untouched_by_the_dense_cells() {
    // The same integer keys in the transient and the persistent memory are different
    // keys: in-place accesses to one never see the other.
    let programs = [
        "push 7\npush 5\ntstore\npush 5\nload\n",
        "push 7\npush 5\nstore\npush 5\ntload\n",
        "push 7\npush 5\ntstore\npush 8\npush 5\nstore\npush 5\ntload\npush 5\nload\npush 9\npush 5\ntstore\npush 5\nload\npush 5\ntload\n",
        "push 1\npush 6\ntstore\npush 6\nload\n",
    ];
    for src in programs {
        for state in [State::new(), State::from([("5".into(), 50)])] {
            let full = same_with(src, Limits::default(), &state, 1_000);
            let gases: Vec<u64> = (0..=full.gas_used + 1).collect();
            same_gas(src, Limits::default(), &state, &gases);
        }
    }
    let out = same(programs[2]);
    assert_eq!(out.stack, vec![7, 8, 8, 9]);
}

#[test]
fn overflow_exits_report_operands_recovered_on_the_cold_path() {
    // The first operand of an overflowing `add`/`sub` is recomputed from the wrapped result
    // (for a constant second operand, or an accumulator from another block): the error
    // names the interpreter's operands, at every gas limit.
    let programs = [
        // An accumulator from the loop header plus a growing step.
        "push 9223372036854775000\npush 1\nstore i\nloop: load i\npush 100\nmul\nadd\nload i\npush 1\nadd\nstore i\njump loop\n",
        // Downwards, with a variable subtrahend.
        "push -9223372036854775000\npush 1\nstore i\nloop: load i\npush 100\nmul\nsub\nload i\npush 1\nadd\nstore i\njump loop\n",
        // Constant operands on either side.
        "push 9223372036854775800\nloop: push 1\nadd\njump loop\n",
        "push -9223372036854775800\nloop: push 1\nsub\njump loop\n",
        "push 9223372036854775000\nloop: push -900\nswap\nsub\njump loop\n",
        "push 5\npush 9223372036854775807\nadd\n",
    ];
    for src in programs {
        let out = same(src);
        assert_eq!(
            out.result.as_ref().unwrap_err().kind,
            ErrorKind::ArithmeticOverflow,
            "{src}"
        );
        let gases: Vec<u64> = (0..=out.gas_used.min(3_000) + 1).collect();
        let v = verified(src, Limits::default());
        same_gas(src, Limits::default(), &v.contract().state, &gases);
    }
}

/// A host whose `getreputation` runs another contract on the same thread (a nested run, as a
/// host's contract call does) and returns the top of its stack, or -1 if it failed; any other
/// host operation panics.
struct Nesting<F: FnMut() -> Outcome>(F);

impl<F: FnMut() -> Outcome> coopvm_core::Host for Nesting<F> {
    fn get_reputation(
        &mut self,
        _: &mut coopvm_core::HostCx,
        _: &str,
    ) -> coopvm_core::VmResult<i64> {
        let out = (self.0)();
        Ok(match out.result {
            Ok(()) => out.stack.last().copied().unwrap_or(0),
            Err(_) => -1,
        })
    }

    fn create_cooperative(
        &mut self,
        _: &mut coopvm_core::HostCx,
        _: &str,
        _: i64,
    ) -> coopvm_core::VmResult<()> {
        panic!("host bug")
    }
}

/// Runs `src` on the interpreter and on the JIT (every run on this thread, one after the
/// other) and asserts identical outcomes.
fn agree(v: &coopvm_core::Verified, code: &crate::NativeCode, state: &State, gas: u64) -> Outcome {
    let ctx = ctx();
    let params = RunParams::new(&ctx, state, gas);
    let want = run(&coopvm_interp::lower(v), v, params, &mut NoHost);
    let got = run(code, v, params, &mut NoHost);
    assert_eq!(got, want, "with gas {gas}");
    got
}

/// Six static keys (more than live in registers), values crossing a call in the value stack,
/// and a division by the input's key `d`, which fails when it is zero.
const WIDE: &str = "push 1\nstore a\npush 2\nstore b\npush 3\nstore c\npush 4\nstore e\n\
                    push 5\nstore f\nload a\nload b\nload c\ncall g\nhalt\n\
                    g: load e\nload f\nadd\nload d\ndiv\nstore f\nload f\nload e\nadd\nstore g\nreturn\n";

#[test]
fn a_run_after_a_failing_run_or_another_contract_sees_only_its_own_state() {
    let wide = verified(WIDE, Limits::default());
    let wide_code = compile(&wide).unwrap();
    let other = verified(
        "push 7\nstore x\npush 8\npush 9\ncall h\nhalt\nh: mul\nload x\nadd\nreturn\n",
        Limits::default(),
    );
    let other_code = compile(&other).unwrap();
    let ok = State::from([("d".into(), 3), ("g".into(), 100)]);
    let failing = State::from([("d".into(), 0), ("g".into(), 100)]);
    let first = agree(&wide, &wide_code, &ok, 10_000);
    assert_eq!(first.stack, vec![1, 2, 3]);
    assert_eq!(first.state["g"], (4 + 5) / 3 + 4);
    for _ in 0..3 {
        // The failing run wrote some keys before failing; the next runs see none of it.
        let failed = agree(&wide, &wide_code, &failing, 10_000);
        assert_eq!(failed.result.unwrap_err().kind, ErrorKind::DivisionByZero);
        assert_eq!(failed.state, failing);
        // Out of gas part-way, after the stores.
        let short = agree(&wide, &wide_code, &ok, 20);
        assert_eq!(short.result.unwrap_err().kind, ErrorKind::OutOfGas);
        assert_eq!(
            agree(&other, &other_code, &State::new(), 10_000).stack,
            vec![79]
        );
        assert_eq!(agree(&wide, &wide_code, &ok, 10_000), first);
    }
}

#[test]
fn a_run_after_a_host_panic_agrees_with_the_interpreter() {
    // The panic happens inside a subroutine, with the caller's values in the value stack.
    let v = verified(
        "push 1\nstore k\npush 5\ncall f\nhalt\nf: push \"x\"\npush 1\ncreatecooperative\nreturn\n",
        Limits::default(),
    );
    let code = compile(&v).unwrap();
    let ctx = ctx();
    let state = State::new();
    let params = RunParams::new(&ctx, &state, 1_000);
    let mut host = Nesting(|| unreachable!("not called"));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&code, &v, params, &mut host)
    }));
    let payload = caught.expect_err("the host's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"host bug"));
    let wide = verified(WIDE, Limits::default());
    let wide_code = compile(&wide).unwrap();
    let ok = State::from([("d".into(), 3)]);
    for _ in 0..2 {
        assert_eq!(agree(&wide, &wide_code, &ok, 10_000).stack, vec![1, 2, 3]);
    }
}

#[test]
fn nested_runs_on_one_thread_use_buffers_of_their_own() {
    // The outer contract holds values in the value stack (below a call) and in static slots
    // while its host call runs a contract that fills its own stack and slots; the innermost
    // is nested twice.
    let outer_src = "push 10\nstore k\npush 11\npush 12\ncall f\nload k\nhalt\n\
                     f: push \"did:x\"\ngetreputation\nadd\nload k\nadd\nreturn\n";
    let middle_src = "push 20\nstore k\npush 21\npush 22\ncall f\nload k\nadd\nhalt\n\
                      f: push \"did:y\"\ngetreputation\nmul\nreturn\n";
    let inner_src = WIDE;
    let outer = verified(outer_src, Limits::default());
    let middle = verified(middle_src, Limits::default());
    let inner = verified(inner_src, Limits::default());
    let ctx = ctx();
    let empty = State::new();
    let inner_state = State::from([("d".into(), 3)]);
    let failing_state = State::from([("d".into(), 0)]);
    for inner_state in [&inner_state, &failing_state] {
        // Each level run by the interpreter, then each by the JIT: the outer contract's
        // host runs the middle one, whose host runs the innermost.
        fn nested<E: coopvm_core::Execute>(
            [o, m, i]: [&E; 3],
            [outer, middle, inner]: [&coopvm_core::Verified; 3],
            ctx: &ExecutionContext,
            [empty, inner_state]: [&State; 2],
        ) -> Outcome {
            let mut host = Nesting(|| {
                let mut host = Nesting(|| {
                    run(
                        i,
                        inner,
                        RunParams::new(ctx, inner_state, 10_000),
                        &mut NoHost,
                    )
                });
                run(m, middle, RunParams::new(ctx, empty, 10_000), &mut host)
            });
            run(o, outer, RunParams::new(ctx, empty, 10_000), &mut host)
        }
        let contracts = [&outer, &middle, &inner];
        let states = [&empty, inner_state];
        let interp = |v: &coopvm_core::Verified| coopvm_interp::lower(v);
        let (oi, mi, ii) = (interp(&outer), interp(&middle), interp(&inner));
        let (oj, mj, ij) = (
            compile(&outer).unwrap(),
            compile(&middle).unwrap(),
            compile(&inner).unwrap(),
        );
        let want = nested([&oi, &mi, &ii], contracts, &ctx, states);
        for _ in 0..3 {
            assert_eq!(nested([&oj, &mj, &ij], contracts, &ctx, states), want);
        }
        // The middle's top is 22 times the innermost's top (-1 if it failed) plus 20.
        let innermost = if std::ptr::eq(inner_state, &failing_state) {
            -1
        } else {
            3
        };
        let top = 12 + (22 * innermost + 20) + 10;
        assert_eq!(want.stack, vec![11, top, 10], "{:?}", want.result);
    }
}

#[test]
fn a_memory_with_fewer_static_cells_than_the_code_is_refused() {
    use coopvm_core::host::Env;
    use coopvm_core::memory::Memory;
    use coopvm_core::run::Execute;
    // A memory made for a program with fewer keys than the code's: native code works on the
    // memory's cells in place, so the run is refused before anything runs.
    let v = verified(WIDE, Limits::default());
    let code = compile(&v).unwrap();
    let ctx = ctx();
    let keys = &v.contract().program.keys;
    for short in 0..=keys.len() {
        let program = coopvm_core::Program {
            keys: keys[..short].to_vec(),
            ..Default::default()
        };
        let state = State::from([("d".into(), 3)]);
        let mut env = Env::new(&ctx, "t", &v.contract().program.strings);
        let mut memory = Memory::new(&program, &state, 100);
        let got = code.execute(&mut env, &mut NoHost, &mut memory, 10_000);
        if short == keys.len() {
            assert_eq!(got.stack, vec![1, 2, 3]);
        } else {
            let e = got.result.unwrap_err();
            assert_eq!((e.kind, got.gas_used), (ErrorKind::EngineFailure, 0));
            assert!(e.message.contains("static slots"), "{e}");
        }
    }
}

#[test]
fn statistics_of_runs_one_after_another_agree_with_the_interpreter() {
    // Counted runs of contracts with different block counts on one thread, a failing one
    // between them: each starts from zeroed counters.
    let a = verified(include_str!("../../examples/fib.casm"), Limits::default());
    let b = verified(WIDE, Limits::default());
    let (ca, cb) = (compile_counted(&a).unwrap(), compile_counted(&b).unwrap());
    let (la, lb) = (coopvm_interp::lower(&a), coopvm_interp::lower(&b));
    let ctx = ctx();
    let fine = State::from([("d".into(), 3)]);
    let failing = State::from([("d".into(), 0)]);
    for _ in 0..2 {
        for (v, code, lowered, state) in [
            (&a, &ca, &la, State::new()),
            (&b, &cb, &lb, failing.clone()),
            (&b, &cb, &lb, fine.clone()),
        ] {
            let params = RunParams::new(&ctx, &state, 1_000_000);
            let mut want = run_with_stats(lowered, v, params, &mut NoHost);
            let mut got = run_with_stats(code, v, params, &mut NoHost);
            (want.1.wall_time_ns, got.1.wall_time_ns) = (0, 0);
            assert_eq!(got, want);
            // Plain runs of counted code in between do not disturb the next counted run.
            assert_eq!(run(code, v, params, &mut NoHost), want.0);
        }
    }
}
