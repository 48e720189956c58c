//! Unit and property tests of the verifier.

use super::*;
use crate::asm::assemble;
use crate::program::Insn;

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
fn key_tables_are_checked_in_linear_time_and_bounded() {
    // 200,000 distinct keys: a pairwise duplicate check would make 2 * 10^10 comparisons.
    let mut c = assemble("t", "push 1\n").unwrap();
    c.program.keys = (0..200_000).map(|i| format!("k{i}")).collect();
    assert!(verify(c.clone(), &Limits::default()).is_ok());
    c.program.keys.push("k123456".into());
    let e = verify(c, &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("`k123456` appears twice"), "{e}");
    // At the maximum, and one key over it.
    let max = crate::MAX_STATIC_KEYS as usize;
    let mut c = assemble("t", "push 1\n").unwrap();
    c.program.keys = (0..max).map(|i| format!("k{i}")).collect();
    assert!(verify(c.clone(), &Limits::MAX).is_ok());
    c.program.keys.push("one_more".into());
    let e = verify(c, &Limits::MAX).unwrap_err();
    assert!(
        e.to_string().contains("more than the maximum of 1048576"),
        "{e}"
    );
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
            transient_keys: u32::MAX,
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
fn params_are_mains_entry_height() {
    let v = check(".params 2\nadd\n").unwrap();
    let a = v.analysis();
    assert_eq!((a.funcs[0].params, a.funcs[0].max_height), (2, 2));
    assert_eq!(a.height, vec![2]);
    // Unused inputs are fine; needing more than the inputs is an underflow at the
    // instruction, with the absolute height.
    assert!(check(".params 3\npush 1\n").is_ok());
    assert!(check(".params 1\n").is_ok());
    let e = check(".params 1\npush 1\nadd\nadd\n").unwrap_err();
    assert_eq!(
        e,
        VerifyError::StackUnderflow {
            pc: 2,
            op: Op::Add,
            height: 1,
            needs: 2
        }
    );
    let e = check(".params 2\npick 2\n").unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::StackUnderflow {
                pc: 0,
                height: 2,
                needs: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(check(".params 2\npick 1\n").is_ok());
    // A subroutine called from main may use the inputs.
    let v = check(".params 2\ncall f\nhalt\nf: mul\nreturn\n").unwrap();
    assert_eq!(v.analysis().funcs[1].params, 2);
    // Main called as a subroutine takes its inputs from the caller.
    let v =
        check(".params 1\ntop: dup\njumpif more\nreturn\nmore: push 1\nsub\ncall top\nreturn\n")
            .unwrap();
    assert_eq!(v.analysis().funcs[0].params, 1);
    // ... all of them: here main pops its input and then calls itself with none.
    let e = check(".params 1\ntop: pop\ncall top\n").unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::StackUnderflow {
                pc: 1,
                height: 0,
                ..
            }
        ),
        "{e:?}"
    );
    // The inputs count against the stack limit.
    let small = Limits {
        stack: 2,
        ..Limits::default()
    };
    assert!(check_with(".params 2\n", small).is_ok());
    let e = check_with(".params 3\n", small).unwrap_err();
    assert!(
        matches!(e, VerifyError::BadContract(ref m) if m.contains("stack limit of 2")),
        "{e:?}"
    );
    let e = check_with(".params 2\npush 1\n", small).unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::StackOverflow {
                pc: 0,
                height: 3,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn unreachable_code_has_no_block() {
    let v = check("halt\npush 1\npop\n").unwrap();
    let a = v.analysis();
    assert_eq!(a.blocks.len(), 1);
    assert_eq!(a.func_of[1], NONE);
    assert_eq!(a.block_at[1], NONE);
}
