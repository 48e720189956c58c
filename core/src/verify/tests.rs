//! Unit and property tests of the verifier.

use super::*;
use crate::asm::assemble;
use crate::program::{Insn, Program};
use proptest::prelude::*;

fn check(src: &str) -> Result<Verified, VerifyError> {
    verify(assemble("t.casm", src).unwrap(), &Limits::default())
}

fn check_with(src: &str, limits: Limits) -> Result<Verified, VerifyError> {
    verify(assemble("t.casm", src).unwrap(), &limits)
}

fn raw(code: Vec<Insn>) -> Result<Verified, VerifyError> {
    let contract = Contract {
        program: crate::program::Program {
            code,
            ..Default::default()
        },
        ..Default::default()
    };
    verify(contract, &Limits::default())
}

#[test]
fn empty_code_is_valid() {
    let v = check("").unwrap();
    assert!(v.analysis().blocks.is_empty());
    assert_eq!(v.analysis().funcs.len(), 1);
}

#[test]
fn straight_line_heights_and_gas() {
    let v = check("push 1\npush 2\nadd\ndup\nmul\n").unwrap();
    let a = v.analysis();
    assert_eq!(a.height, vec![0, 1, 2, 1, 2]);
    assert_eq!(a.funcs[0].max_height, 2);
    assert_eq!(a.blocks.len(), 1);
    assert_eq!(a.blocks[0].gas, 1 + 1 + 1 + 1 + 2);
}

#[test]
fn blocks_split_at_targets_and_after_control() {
    let v = check("push 3\nl: push 1\nsub\ndup\njumpif l\nhalt\n").unwrap();
    let a = v.analysis();
    let starts: Vec<u32> = a.blocks.iter().map(|b| b.start).collect();
    assert_eq!(starts, vec![0, 1, 5]);
    assert_eq!(a.block_at[1], 1);
    assert_eq!(a.block_at[2], NONE);
    assert_eq!(a.blocks[1].end, 5);
}

#[test]
fn underflow_in_main_is_located() {
    let e = check("push 1\nadd\n").unwrap_err();
    assert_eq!(
        e,
        VerifyError::StackUnderflow {
            pc: 1,
            op: Op::Add,
            height: 1,
            needs: 2
        }
    );
    assert_eq!(e.pc(), Some(1));
    assert!(matches!(
        check("jumpif x\nx: halt").unwrap_err(),
        VerifyError::StackUnderflow { pc: 0, .. }
    ));
    assert!(matches!(
        check("pop").unwrap_err(),
        VerifyError::StackUnderflow { pc: 0, .. }
    ));
}

#[test]
fn call_needing_more_than_main_has_is_underflow() {
    let e = check("push 1\ncall f\nhalt\nf: add\nreturn\n").unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::StackUnderflow {
                pc: 1,
                op: Op::Call,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn heights_must_agree_on_every_path() {
    // The loop body pushes one value per iteration.
    let e = check("l: push 1\npush 1\njumpif l\n").unwrap_err();
    assert!(
        matches!(e, VerifyError::HeightMismatch { pc: 0, .. }),
        "{e:?}"
    );
    // Two branches join with different heights.
    let e = check("push 0\njumpif a\npush 1\na: halt\n").unwrap_err();
    assert!(
        matches!(e, VerifyError::HeightMismatch { pc: 3, .. }),
        "{e:?}"
    );
}

#[test]
fn stack_limit_is_static_for_each_function() {
    let small = Limits {
        stack: 2,
        ..Limits::default()
    };
    assert!(check_with("push 1\npush 2\n", small).is_ok());
    let e = check_with("push 1\npush 2\npush 3\n", small).unwrap_err();
    assert_eq!(
        e,
        VerifyError::StackOverflow {
            pc: 2,
            height: 3,
            limit: 2
        }
    );
    let e = check_with(
        "call f\nhalt\nf: push 1\npush 1\npush 1\npop\npop\npop\nreturn\n",
        small,
    )
    .unwrap_err();
    assert!(
        matches!(e, VerifyError::StackOverflow { pc: 4, .. }),
        "{e:?}"
    );
}

#[test]
fn subroutine_signatures_are_inferred() {
    let v = check("push 2\ncall sq\nhalt\nsq: dup\nmul\nreturn\n").unwrap();
    let a = v.analysis();
    assert_eq!(a.funcs.len(), 2);
    let sq = &a.funcs[1];
    assert_eq!(
        (sq.entry, sq.params, sq.results, sq.max_height),
        (3, 1, Some(1), 2)
    );
    assert_eq!(a.func_at(3), Some(1));
    assert_eq!(a.func_at(4), None);
    // Heights inside the callee are relative to its frame (params below).
    assert_eq!(&a.height[3..6], &[1, 2, 1]);
    // The block after a call starts a new block.
    assert_ne!(a.block_at[2], NONE);
}

#[test]
fn recursion_is_inferred() {
    let src = include_str!("../../../examples/fib.casm");
    let v = check(src).unwrap();
    let fib = &v.analysis().funcs[1];
    assert_eq!((fib.params, fib.results), (1, Some(1)));
}

#[test]
fn mutual_recursion_is_inferred() {
    let src = "push 10\ncall even\nhalt\n\
               even: dup\njumpif e1\npop\npush 1\nreturn\ne1: push 1\nsub\ncall odd\nreturn\n\
               odd: dup\njumpif o1\npop\npush 0\nreturn\no1: push 1\nsub\ncall even\nreturn\n";
    let v = check(src).unwrap();
    for f in &v.analysis().funcs[1..] {
        assert_eq!((f.params, f.results), (1, Some(1)), "{f:?}");
    }
}

#[test]
fn never_returning_subroutine() {
    let v = check("call f\npush 1\nf: halt\n").unwrap();
    let a = v.analysis();
    assert_eq!(a.funcs[1].results, None);
    // The instruction after the call is unreachable.
    assert!(!a.reachable(1));
    assert!(a.reachable(2));
}

#[test]
fn returns_must_agree() {
    let e = check("push 0\ncall f\nhalt\nf: jumpif a\npush 1\nreturn\na: return\n").unwrap_err();
    assert!(matches!(e, VerifyError::ReturnMismatch { .. }), "{e:?}");
}

#[test]
fn subroutines_must_not_share_code() {
    let e = check("call f\njump f\nf: return\n").unwrap_err();
    assert!(matches!(e, VerifyError::SharedCode { pc: 2, .. }), "{e:?}");
}

#[test]
fn unbounded_consumption_is_rejected() {
    let e = check("push 1\ncall f\nhalt\nf: pop\ncall f\nreturn\n").unwrap_err();
    assert!(
        matches!(e, VerifyError::UnboundedStackUse { entry: 3 }),
        "{e:?}"
    );
}

#[test]
fn targets_must_be_in_range() {
    let e = raw(vec![Insn::with(Op::Jump, 5)]).unwrap_err();
    assert!(matches!(
        e,
        VerifyError::TargetOutOfRange {
            pc: 0,
            target: 5,
            ..
        }
    ));
    let e = raw(vec![Insn::with(Op::JumpIf, -1)]).unwrap_err();
    assert!(matches!(
        e,
        VerifyError::TargetOutOfRange { target: -1, .. }
    ));
    // A jump to the end is allowed; a call to the end is not.
    assert!(raw(vec![Insn::with(Op::Jump, 1)]).is_ok());
    let e = raw(vec![Insn::with(Op::Call, 1)]).unwrap_err();
    assert!(matches!(e, VerifyError::TargetOutOfRange { .. }));
    // Unreachable code is still checked.
    let e = raw(vec![Insn::new(Op::Halt), Insn::with(Op::Jump, 99)]).unwrap_err();
    assert!(matches!(e, VerifyError::TargetOutOfRange { pc: 1, .. }));
}

#[test]
fn operands_must_be_valid() {
    let e = raw(vec![Insn::with(Op::Load, 0)]).unwrap_err();
    assert!(matches!(e, VerifyError::BadOperand { pc: 0, .. }));
    let e = raw(vec![Insn::with(Op::PushStr, 3)]).unwrap_err();
    assert!(matches!(e, VerifyError::BadOperand { .. }));
    let e = raw(vec![Insn::with(Op::Add, 1)]).unwrap_err();
    assert!(e.to_string().contains("takes no operand"));
}

#[test]
fn code_length_is_limited() {
    let limits = Limits {
        code_len: 2,
        ..Limits::default()
    };
    let e = check_with("push 1\npush 1\npop\n", limits).unwrap_err();
    assert_eq!(e, VerifyError::CodeTooLong { len: 3, limit: 2 });
    assert_eq!(e.pc(), None);
}

#[test]
fn contract_tables_are_checked() {
    let mut c = assemble("t", "load a\n").unwrap();
    c.program.keys.push("a".into());
    assert!(matches!(
        verify(c, &Limits::default()),
        Err(VerifyError::BadContract(_))
    ));
    let mut c = assemble("t", "").unwrap();
    c.program.keys.push("1x".into());
    assert!(matches!(
        verify(c, &Limits::default()),
        Err(VerifyError::BadContract(_))
    ));
    let mut c = assemble("t", "").unwrap();
    c.state.insert("not a key".into(), 1);
    assert!(matches!(
        verify(c, &Limits::default()),
        Err(VerifyError::BadContract(_))
    ));
}

#[test]
fn limits_must_be_in_range() {
    for limits in [
        Limits {
            stack: Limits::MAX.stack + 1,
            ..Limits::default()
        },
        Limits {
            call_depth: u32::MAX,
            ..Limits::default()
        },
        Limits {
            memory_keys: u32::MAX,
            ..Limits::default()
        },
        Limits {
            code_len: u32::MAX,
            ..Limits::default()
        },
    ] {
        let e = check_with("push 1", limits).unwrap_err();
        assert!(matches!(e, VerifyError::BadLimits(_)), "{e:?}");
        assert!(e.to_string().contains("above the maximum"), "{e}");
    }
    assert!(check_with("push 1", Limits::MAX).is_ok());
}

#[test]
fn unreachable_code_has_no_block() {
    let v = check("halt\npush 1\npop\n").unwrap();
    let a = v.analysis();
    assert_eq!(a.blocks.len(), 1);
    assert_eq!(a.func_of[1], NONE);
    assert_eq!(a.block_at[1], NONE);
}

// --- The incremental verifier against the old one ---------------------------------------

fn contract_of(code: Vec<Insn>) -> Contract {
    Contract {
        program: Program {
            code,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn stack(stack: u32) -> Limits {
    Limits {
        stack,
        ..Limits::default()
    }
}

/// Verifies with `units` of budget; also says whether they ran out.
fn with_budget(c: &Contract, limits: &Limits, units: u64) -> (Result<Analysis, VerifyError>, bool) {
    let mut budget = fixpoint::Budget {
        left: units,
        exhausted: false,
    };
    let result = analyze_with_budget(c, limits, &mut budget);
    (result, budget.exhausted)
}

/// The verifier gives exactly what the old one gives as long as its budget holds; past it
/// (tried at many points), the same analysis or a rejection too (maybe for another of the
/// contract's faults). Returns the result.
fn same_as_reference(c: &Contract, limits: &Limits) -> Result<Analysis, VerifyError> {
    let want = reference::analyze(c, limits);
    let code = &c.program.code;
    let units = budget(code.len(), limits);
    for units in [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, units] {
        match with_budget(c, limits, units) {
            (got, false) => assert_eq!(got, want, "{code:?}"),
            (Ok(got), true) => assert_eq!(Ok(got), want, "{code:?}: budget {units}"),
            (Err(got), true) => assert!(want.is_err(), "{code:?}: budget {units}: {got:?}"),
        }
    }
    want
}

fn same_as_reference_src(src: &str) -> Result<Analysis, VerifyError> {
    same_as_reference(&assemble("t.casm", src).unwrap(), &Limits::default())
}

/// `call F0; ...; call Fn-1; halt` with every `Fi: return`.
fn many_subroutines(n: usize) -> Vec<Insn> {
    let mut code: Vec<Insn> = (0..n)
        .map(|i| Insn::with(Op::Call, (n + 1 + i) as i64))
        .collect();
    code.push(Insn::new(Op::Halt));
    code.extend((0..n).map(|_| Insn::new(Op::Return)));
    code
}

/// `push k; call F1; halt` and `Fi: pop; call Fi+1; return` for i < k, `Fk: pop; return`:
/// each subroutine needs one more value than the next.
fn popping_chain(k: usize) -> Vec<Insn> {
    let mut code = vec![
        Insn::with(Op::Push, 0),
        Insn::with(Op::Call, 3),
        Insn::new(Op::Halt),
    ];
    code[0] = Insn::with(Op::Push, 0);
    for i in 0..k {
        code.push(Insn::new(Op::Pop));
        if i + 1 < k {
            code.push(Insn::with(Op::Call, (code.len() + 2) as i64));
        }
        code.push(Insn::new(Op::Return));
    }
    // Main must push as many values as the chain consumes.
    let mut main: Vec<Insn> = (0..k).map(|_| Insn::with(Op::Push, 0)).collect();
    let shift = k as i64 - 1;
    for insn in &mut code[1..] {
        if insn.op == Op::Call {
            insn.arg += shift;
        }
    }
    main.extend_from_slice(&code[1..]);
    main
}

#[test]
fn examples_analyse_as_before() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut dirs = vec![root];
    let mut seen = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "casm") {
                let src = std::fs::read_to_string(&path).unwrap();
                let c = assemble("t.casm", &src).unwrap();
                seen += usize::from(same_as_reference(&c, &Limits::default()).is_ok());
            }
        }
    }
    assert!(seen >= 10, "{seen}");
}

#[test]
fn recursion_analyses_as_before() {
    // Self recursion (fib), mutual recursion, a subroutine that never returns, one whose
    // effect is known only through recursion, unreachable code after it.
    let fib = same_as_reference_src(include_str!("../../../examples/fib.casm")).unwrap();
    assert_eq!(fib.funcs[1].results, Some(1));
    let even_odd = "push 10\ncall even\nhalt\n\
                    even: dup\njumpif e1\npop\npush 1\nreturn\ne1: push 1\nsub\ncall odd\nreturn\n\
                    odd: dup\njumpif o1\npop\npush 0\nreturn\no1: push 1\nsub\ncall even\nreturn\n";
    same_as_reference_src(even_odd).unwrap();
    let a = same_as_reference_src("call f\npush 1\npop\nf: push 1\ncall f\nhalt\n").unwrap();
    assert_eq!(a.funcs[1].results, None);
    assert!(!a.reachable(1) && !a.reachable(2));
    // `f` returns only through a path that calls itself first: its effect comes from the
    // other path, then the recursive path is walked with it.
    let a = same_as_reference_src(
        "push 3\ncall f\nhalt\nf: dup\njumpif r\nreturn\nr: push 1\nsub\ncall f\nreturn\n",
    )
    .unwrap();
    assert_eq!((a.funcs[1].params, a.funcs[1].results), (1, Some(1)));
    // Recursion that consumes caller values through a cycle of three.
    let e = same_as_reference_src(
        "push 1\ncall a\nhalt\na: call b\nreturn\nb: pop\ncall c\nreturn\nc: call a\nreturn\n",
    )
    .unwrap_err();
    assert!(matches!(e, VerifyError::UnboundedStackUse { .. }), "{e:?}");
    // Unreachable code, also after a call that never returns and after a `jump`.
    let a = same_as_reference_src("jump l\npush 1\nl: call f\npop\nhalt\nf: halt\n").unwrap();
    assert!(!a.reachable(1) && !a.reachable(3));
}

#[test]
fn errors_are_worded_as_before() {
    for src in [
        "push 1\nadd\n",
        "call f\nhalt\nf: pop\nreturn\n",
        "push 1\ncall f\nhalt\nf: add\nreturn\n",
        "l: push 1\npush 1\njumpif l\n",
        "push 0\njumpif a\npush 1\na: halt\n",
        "push 0\ncall f\nhalt\nf: jumpif a\npush 1\nreturn\na: return\n",
        "call f\njump f\nf: return\n",
        "call f\ncall g\nhalt\nf: jump t\ng: jump t\nt: push 1\npop\nreturn\n",
        "push 1\ncall f\nhalt\nf: pop\ncall f\nreturn\n",
        // A height mismatch met only once a callee's effect is known.
        "push 1\ncall f\njumpif x\npush 1\nx: halt\nf: push 1\nreturn\n",
        // Two faults: the one met first in entry order is named.
        "call g\ncall f\nhalt\nf: pop\ncall f\nreturn\ng: push 1\njumpif g\nreturn\n",
    ] {
        assert!(same_as_reference_src(src).is_err(), "{src}");
    }
    let small = stack(4);
    for src in [
        "call f\nhalt\nf: push 1\npush 1\npush 1\npush 1\npush 1\npop\npop\npop\npop\npop\nreturn\n",
        "call f\ncall f\ncall f\ncall f\ncall f\nhalt\nf: push 1\nreturn\n",
    ] {
        let c = assemble("t.casm", src).unwrap();
        assert!(matches!(
            same_as_reference(&c, &small),
            Err(VerifyError::StackOverflow { .. })
        ));
    }
}

#[test]
fn many_subroutines_verify_in_linear_work() {
    // The shape that was quadratic: 16,000 subroutines (about 25 s before).
    let c = contract_of(many_subroutines(16_000));
    let a = analyze(&c, &Limits::default()).unwrap();
    assert_eq!(a.funcs.len(), 16_001);
    assert_eq!(a.blocks.len(), 16_000 + 1 + 16_000);
    same_as_reference(&contract_of(many_subroutines(200)), &Limits::default()).unwrap();
}

#[test]
fn need_chains_verify_past_the_budget() {
    // Each need change travels up the chain: quadratic for the ordered propagation, so the
    // budget runs out and the component solver finishes (same analysis).
    for k in [1, 2, 3, 40] {
        same_as_reference(&contract_of(popping_chain(k)), &Limits::default()).unwrap();
    }
    let c = contract_of(popping_chain(1000));
    let (a, exhausted) = with_budget(
        &c,
        &Limits::default(),
        budget(c.program.code.len(), &Limits::default()),
    );
    assert!(exhausted);
    let a = a.unwrap();
    assert_eq!(a.funcs[1].params, 1000);
    assert_eq!(a.funcs[1000].params, 1);
    // One more value than the stack holds.
    let e = analyze(&c, &stack(999)).unwrap_err();
    assert!(matches!(e, VerifyError::UnboundedStackUse { .. }), "{e:?}");
}

#[test]
fn consuming_recursion_is_rejected_within_the_budget_or_past_it() {
    // A cycle of `n` subroutines, one of which consumes a value before calling the next.
    for n in [1, 2, 5, 3000] {
        let mut code = vec![
            Insn::with(Op::Push, 1),
            Insn::with(Op::Call, 3),
            Insn::new(Op::Halt),
        ];
        for i in 0..n {
            let next = if i + 1 == n {
                3
            } else {
                code.len() + 2 + usize::from(i == 0)
            };
            if i == 0 {
                code.push(Insn::new(Op::Pop));
            }
            code.push(Insn::with(Op::Call, next as i64));
            code.push(Insn::new(Op::Return));
        }
        let c = contract_of(code);
        let e = analyze(&c, &Limits::MAX).unwrap_err();
        assert_eq!(e, VerifyError::UnboundedStackUse { entry: 3 }, "{n}");
        if n <= 5 {
            same_as_reference(&c, &Limits::default()).unwrap_err();
        }
    }
}

#[test]
fn shared_tails_are_rejected_without_walking_them_once_per_subroutine() {
    // 2,000 subroutines all jumping into one long tail.
    let n = 2_000;
    let tail = 4_000;
    let mut code: Vec<Insn> = (0..n)
        .map(|i| Insn::with(Op::Call, (n + 1 + i) as i64))
        .collect();
    code.push(Insn::new(Op::Halt));
    let t = (2 * n + 1) as i64;
    code.extend((0..n).map(|_| Insn::with(Op::Jump, t)));
    code.extend((0..tail).map(|i| Insn::new(if i % 2 == 0 { Op::Push } else { Op::Pop })));
    for insn in &mut code[2 * n + 1..] {
        if insn.op == Op::Push {
            insn.arg = 1;
        }
    }
    code.push(Insn::new(Op::Return));
    let e = analyze(&contract_of(code), &Limits::default()).unwrap_err();
    assert!(matches!(e, VerifyError::SharedCode { .. }), "{e:?}");
}

#[test]
fn doubling_heights_do_not_overflow() {
    // `f0: push 1; return` and `fi: call fi-1; call fi-1; return`: fi leaves 2^i values.
    // The old verifier added heights without bound and overflowed at f63 (a panic in debug
    // builds, a wrapped height in release ones).
    let levels = 70;
    let mut code = vec![Insn::with(Op::Call, 2), Insn::new(Op::Halt)];
    let base = |i: usize| 2 + 3 * (levels - 1 - i);
    for i in (1..levels).rev() {
        code.push(Insn::with(Op::Call, base(i - 1) as i64));
        code.push(Insn::with(Op::Call, base(i - 1) as i64));
        code.push(Insn::new(Op::Return));
    }
    code.push(Insn::with(Op::Push, 1));
    code.push(Insn::new(Op::Return));
    code[0] = Insn::with(Op::Call, base(levels - 1) as i64);
    let c = contract_of(code);
    let e = analyze(&c, &Limits::default()).unwrap_err();
    assert!(
        matches!(e, VerifyError::StackOverflow { pc: 0, .. }),
        "{e:?}"
    );
    assert!(std::panic::catch_unwind(|| reference::analyze(&c, &Limits::default())).is_err());
}

/// Random code over the opcodes the verifier tells apart.
fn random_code(spec: &[(u8, u32)]) -> Vec<Insn> {
    let len = spec.len() as u32;
    spec.iter()
        .map(|&(k, a)| match k {
            0..=4 => Insn::with(Op::Push, i64::from(a % 5)),
            5 => Insn::new(Op::Pop),
            6 => Insn::new(Op::Dup),
            7 => Insn::new(Op::Add),
            8 => Insn::new(Op::Swap),
            9 => Insn::new(Op::AllocateResource), // 3 -> 0
            10 => Insn::with(Op::Jump, i64::from(a % (len + 1))),
            11 | 12 => Insn::with(Op::JumpIf, i64::from(a % (len + 1))),
            13..=15 => Insn::with(Op::Call, i64::from(a % len)),
            16 | 17 => Insn::new(Op::Return),
            _ => Insn::new(Op::Halt),
        })
        .collect()
}

/// Random subroutines: main then `bodies`, each body's jumps staying inside it (but for
/// `k == 19`, a jump anywhere), main ending with `halt` and the others with `return`.
fn random_subroutines(main: &[(u8, u32)], bodies: &[Vec<(u8, u32)>]) -> Vec<Insn> {
    let mut starts = vec![0u32];
    for (i, b) in std::iter::once(main)
        .chain(bodies.iter().map(Vec::as_slice))
        .enumerate()
    {
        starts.push(starts[i] + b.len() as u32 + 1);
    }
    let total = *starts.last().unwrap();
    let mut code = Vec::with_capacity(total as usize);
    for (i, b) in std::iter::once(main)
        .chain(bodies.iter().map(Vec::as_slice))
        .enumerate()
    {
        let (start, end) = (starts[i], starts[i + 1]);
        let local = |a: u32| i64::from(start + a % (end - start));
        for &(k, a) in b {
            code.push(match k {
                0..=4 => Insn::with(Op::Push, i64::from(a % 5)),
                5 => Insn::new(Op::Pop),
                6 => Insn::new(Op::Dup),
                7 => Insn::new(Op::Add),
                8 => Insn::new(Op::Swap),
                9..=11 => Insn::with(Op::JumpIf, local(a)),
                12 => Insn::with(Op::Jump, local(a)),
                13..=17 if bodies.is_empty() => Insn::new(Op::Dup),
                13..=17 => Insn::with(Op::Call, i64::from(starts[1 + a as usize % bodies.len()])),
                18 => Insn::new(if i == 0 { Op::Halt } else { Op::Return }),
                _ => Insn::with(Op::Jump, i64::from(a % total)),
            });
        }
        code.push(Insn::new(if i == 0 { Op::Halt } else { Op::Return }));
    }
    code
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary code: mostly rejected, in every way.
    #[test]
    fn random_code_verifies_as_before(
        spec in prop::collection::vec((0u8..20, 0u32..1000), 1..28),
        limit in prop_oneof![Just(3u32), Just(6), Just(1024)],
    ) {
        same_as_reference(&contract_of(random_code(&spec)), &stack(limit)).ok();
    }

    /// Code made of subroutines: often accepted, with recursion of every kind.
    #[test]
    fn random_subroutines_verify_as_before(
        main in prop::collection::vec((0u8..20, 0u32..1000), 0..8),
        bodies in prop::collection::vec(prop::collection::vec((0u8..20, 0u32..1000), 0..7), 0..6),
        limit in prop_oneof![Just(4u32), Just(16), Just(1024)],
    ) {
        same_as_reference(&contract_of(random_subroutines(&main, &bodies)), &stack(limit)).ok();
    }
}

/// Prints how long verification of the many-subroutines shape takes at growing sizes
/// (`cargo test -p coopvm-core --release -- --ignored --nocapture verify_time`); the
/// criterion bench `core/benches/verify.rs` is the real measurement.
#[test]
#[ignore]
fn verify_time_many_subroutines() {
    for n in [2_000, 4_000, 8_000, 16_000] {
        let t = std::time::Instant::now();
        analyze(&contract_of(many_subroutines(n)), &Limits::default()).unwrap();
        println!("{n} subroutines: {:?}", t.elapsed());
    }
}
