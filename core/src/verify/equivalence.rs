//! The incremental verifier against the old one ([`super::reference`]): the same analysis
//! and the same errors on examples, targeted shapes and random code, also when the budget
//! runs out; and the shapes that were (or could be) superlinear.

use super::*;
use crate::asm::assemble;
use crate::program::{Insn, Program};
use proptest::prelude::*;

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

/// `call f(levels-1); halt`, `fi: call fi-1; call fi-1; return`, `f0: push 1; return`.
fn doubling(levels: usize) -> Vec<Insn> {
    let at = |i: usize| (2 + 3 * (levels - 1 - i)) as i64;
    let mut code = vec![Insn::with(Op::Call, at(levels - 1)), Insn::new(Op::Halt)];
    for i in (1..levels).rev() {
        code.push(Insn::with(Op::Call, at(i - 1)));
        code.push(Insn::with(Op::Call, at(i - 1)));
        code.push(Insn::new(Op::Return));
    }
    code.push(Insn::with(Op::Push, 1));
    code.push(Insn::new(Op::Return));
    code
}

/// A recursion through `k` subroutines: `Fi: pop; call Fi+1; return` for i < k and
/// `Fk: push 1 (k times); call F1; return`, entered with `k - 1` values. Each `Fi` needs one
/// value more than the next, and the cycle as a whole consumes nothing (needs k-1 .. 0).
fn descending_ring(k: usize) -> Vec<Insn> {
    let main = k + 1;
    let f = |i: usize| (main + 3 * (i - 1)) as i64;
    let mut code: Vec<Insn> = (1..k).map(|_| Insn::with(Op::Push, 0)).collect();
    code.push(Insn::with(Op::Call, f(1)));
    code.push(Insn::new(Op::Halt));
    for i in 1..k {
        code.push(Insn::new(Op::Pop));
        code.push(Insn::with(Op::Call, f(i + 1)));
        code.push(Insn::new(Op::Return));
    }
    code.extend((0..k).map(|_| Insn::with(Op::Push, 0)));
    code.push(Insn::with(Op::Call, f(1)));
    code.push(Insn::new(Op::Return));
    code
}

/// `X: jumpif r; push 0; return; r: call G1; ...; call Gm; pop; call X; push 0; push 0;
/// return` with every `Gj: call X; return`: each Gj sits on a cycle through X that consumes
/// a value, and each rise of X's need raises all of theirs.
fn fan(m: usize) -> Vec<Insn> {
    let x: i64 = 3;
    let g = |j: usize| x + 8 + (m + 2 * j) as i64;
    let mut code = vec![
        Insn::with(Op::Push, 1),
        Insn::with(Op::Call, x),
        Insn::new(Op::Halt),
    ];
    code.push(Insn::with(Op::JumpIf, x + 3));
    code.push(Insn::with(Op::Push, 0));
    code.push(Insn::new(Op::Return));
    code.extend((0..m).map(|j| Insn::with(Op::Call, g(j))));
    code.push(Insn::new(Op::Pop));
    code.push(Insn::with(Op::Call, x));
    code.push(Insn::with(Op::Push, 0));
    code.push(Insn::with(Op::Push, 0));
    code.push(Insn::new(Op::Return));
    for _ in 0..m {
        code.push(Insn::with(Op::Call, x));
        code.push(Insn::new(Op::Return));
    }
    code
}

/// `n` subroutines (called from main) that all jump into one tail of `tail` instructions.
fn shared_tail(n: usize, tail: usize) -> Vec<Insn> {
    let mut code: Vec<Insn> = (0..n)
        .map(|i| Insn::with(Op::Call, (n + 1 + i) as i64))
        .collect();
    code.push(Insn::new(Op::Halt));
    let t = (2 * n + 1) as i64;
    code.extend((0..n).map(|_| Insn::with(Op::Jump, t)));
    for i in 0..tail {
        code.push(if i % 2 == 0 {
            Insn::with(Op::Push, 1)
        } else {
            Insn::new(Op::Pop)
        });
    }
    code.push(Insn::new(Op::Return));
    code
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
    same_as_reference(&contract_of(shared_tail(3, 5)), &Limits::default()).unwrap_err();
    let e = analyze(&contract_of(shared_tail(2_000, 4_000)), &Limits::default()).unwrap_err();
    assert!(matches!(e, VerifyError::SharedCode { .. }), "{e:?}");
}

#[test]
fn recursion_through_descending_calls_settles() {
    for k in [1, 2, 3, 10, 40] {
        let a = same_as_reference(&contract_of(descending_ring(k)), &Limits::default()).unwrap();
        assert_eq!(a.funcs[1].params as usize, k - 1);
    }
    let c = contract_of(descending_ring(1000));
    let limits = Limits::default();
    let (a, exhausted) = with_budget(&c, &limits, budget(c.program.code.len(), &limits));
    assert!(exhausted);
    assert_eq!(a.unwrap().funcs[1].params, 999);
    for m in [1, 2, 7] {
        same_as_reference(&contract_of(fan(m)), &limits).unwrap_err();
    }
    let e = analyze(&contract_of(fan(2000)), &limits).unwrap_err();
    assert!(
        matches!(e, VerifyError::UnboundedStackUse { entry: 3 }),
        "{e:?}"
    );
}

#[test]
fn doubling_heights_do_not_overflow() {
    // `f0: push 1; return` and `fi: call fi-1; call fi-1; return`: fi leaves 2^i values.
    // The old verifier added heights without bound and overflowed at f63: a panic in debug
    // builds.
    let c = contract_of(doubling(70));
    let e = analyze(&c, &Limits::default()).unwrap_err();
    assert!(
        matches!(e, VerifyError::StackOverflow { pc: 0, .. }),
        "{e:?}"
    );
    let old = std::panic::catch_unwind(|| reference::analyze(&c, &Limits::default()));
    if cfg!(debug_assertions) {
        assert!(old.is_err());
    }
    // Below the overflow, the same error as before (with the exact height).
    same_as_reference(&contract_of(doubling(40)), &Limits::default()).unwrap_err();
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

/// Prints verification times for the hard shapes (`cargo test -p coopvm-core --release --lib
/// -- --ignored --nocapture hard_shapes`); set `OLD=1` to time the old verifier too where it
/// finishes in reasonable time.
#[test]
#[ignore]
fn hard_shapes() {
    let old = std::env::var_os("OLD").is_some();
    let wide = Limits {
        stack: 1 << 16,
        ..Limits::default()
    };
    let cases: Vec<(&str, Vec<Insn>, Limits, bool)> = vec![
        (
            "subroutines 16000",
            many_subroutines(16_000),
            Limits::default(),
            true,
        ),
        (
            "subroutines 32767",
            many_subroutines(32_767),
            Limits::default(),
            false,
        ),
        (
            "popping chain 1000",
            popping_chain(1_000),
            Limits::default(),
            true,
        ),
        (
            "popping chain 16000, stack 2^16",
            popping_chain(16_000),
            wide,
            false,
        ),
        (
            "descending ring 1000",
            descending_ring(1_000),
            Limits::default(),
            true,
        ),
        (
            "descending ring 13000, stack 2^16",
            descending_ring(13_000),
            wide,
            false,
        ),
        ("fan 2000", fan(2_000), Limits::default(), true),
        ("fan 20000", fan(20_000), Limits::default(), false),
        ("fan 20000, stack 2^16", fan(20_000), wide, false),
        ("fan 20000, stack 2^20", fan(20_000), Limits::MAX, false),
        (
            "shared tail 2000 x 4000",
            shared_tail(2_000, 4_000),
            Limits::default(),
            true,
        ),
        (
            "shared tail 20000 x 20000",
            shared_tail(20_000, 20_000),
            Limits::default(),
            false,
        ),
        ("doubling 70", doubling(70), Limits::default(), false),
    ];
    for (name, code, limits, old_too) in cases {
        let n = code.len();
        let c = contract_of(code);
        let mut budget = fixpoint::Budget {
            left: budget(n, &limits),
            exhausted: false,
        };
        let t = std::time::Instant::now();
        let r = analyze_with_budget(&c, &limits, &mut budget);
        let new = t.elapsed();
        let verdict = r
            .map(|_| "ok".to_string())
            .unwrap_or_else(|e| format!("{e:?}"));
        let past = if budget.exhausted {
            ", past the budget"
        } else {
            ""
        };
        print!("{name} ({n} instructions): {new:?}{past}: {verdict}");
        if old && old_too {
            let t = std::time::Instant::now();
            let _ = reference::analyze(&c, &limits);
            print!("; old verifier {:?}", t.elapsed());
        }
        println!();
    }
}

/// Prints, over random contracts, how many are accepted, how many exhaust the budget, and how
/// often a rejection names the same fault as the old verifier when the budget is 0 from the
/// start (`cargo test -p coopvm-core --lib -- --ignored --nocapture divergence`).
#[test]
#[ignore]
fn divergence_past_the_budget() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let spec = || prop::collection::vec((0u8..20, 0u32..1000), 0..8);
    let strategy = (
        spec(),
        prop::collection::vec(spec(), 0..6),
        prop::collection::vec((0u8..20, 0u32..1000), 1..28),
        prop_oneof![Just(4u32), Just(16), Just(1024)],
    );
    let variant = |r: &Result<Analysis, VerifyError>| match r {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{e:?}")
            .split([' ', '('])
            .next()
            .unwrap()
            .to_string(),
    };
    let mut counts = std::collections::BTreeMap::<String, [u32; 4]>::new();
    for case in 0..40_000 {
        let (main, bodies, code, limit) = strategy.new_tree(&mut runner).unwrap().current();
        let code = if case % 2 == 0 {
            random_subroutines(&main, &bodies)
        } else {
            random_code(&code)
        };
        let c = contract_of(code);
        let limits = stack(limit);
        let want = reference::analyze(&c, &limits);
        let (got, exhausted) = with_budget(&c, &limits, budget(c.program.code.len(), &limits));
        assert!(
            exhausted || got == want,
            "{:?}: {got:?} {want:?}",
            c.program.code
        );
        let (zero, _) = with_budget(&c, &limits, 0);
        let row = counts.entry(variant(&want)).or_default();
        row[0] += 1;
        row[1] += u32::from(exhausted);
        row[2] += u32::from(zero == want);
        row[3] += u32::from(variant(&zero) == variant(&want));
    }
    println!("old result: cases, past the default budget, same with budget 0, same kind");
    for (k, [n, ex, same, kind]) in counts {
        println!("{k}: {n}, {ex}, {same}, {kind}");
    }
}
