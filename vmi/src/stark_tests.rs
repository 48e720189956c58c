//! The STARK backend against the interpreter: the translated relation holds exactly when
//! the interpreter says it does, with the same result and gas (executed on Miden without a
//! proof, which is fast), and proofs of a few of them (slow in a test: kept small).

use crate::{Backend, CoopValue, CoopVm, Function, Proof, ProvableVm, ProveError};

/// What the interpreter says: `Some((result, gas))` if the relation holds.
fn interpreted(vm: &CoopVm, f: &Function, public: i64, private: i64) -> Option<(i64, u64)> {
    let out = vm
        .call(
            &CoopValue::Function(f.clone()),
            &[CoopValue::Int(public), CoopValue::Int(private)],
            vm.proof_gas_limit,
        )
        .ok()?;
    out.result.ok()?;
    let top = *out.stack.last()?;
    (top != 0).then_some((top, out.gas_used))
}

/// Asserts that Miden's execution of the translation agrees with the interpreter on every
/// input pair.
fn agree_all(src: &str, inputs: &[(i64, i64)]) {
    let vm = CoopVm::default();
    let f = Function::assemble("t.casm", src).unwrap();
    let compiled = coopvm_stark::Compiled::new(f.contract(), &vm.limits)
        .unwrap_or_else(|e| panic!("{e}\n{src}"));
    for &(public, private) in inputs {
        let miden = coopvm_stark::execute(&compiled, public, private).ok();
        let interp = interpreted(&vm, &f, public, private);
        assert_eq!(
            miden, interp,
            "miden vs interpreter on ({public}, {private}):\n{src}"
        );
    }
}

fn agree(src: &str, public: i64, private: i64) {
    agree_all(src, &[(public, private)]);
}

const EDGES: &[i64] = &[
    0,
    1,
    -1,
    2,
    -2,
    3,
    -7,
    100,
    i64::MAX,
    i64::MIN,
    i64::MAX - 1,
    i64::MIN + 1,
    1 << 31,
    -(1 << 31),
    (1 << 31) - 1,
    1 << 32,
    -(1 << 32),
    (1 << 32) - 1,
    (1 << 32) + 1,
    3_037_000_499,
    -3_037_000_499,
    3_037_000_500,
    1 << 62,
    -(1 << 62),
    0x1234_5678_9abc_def0,
];

#[test]
fn arithmetic_and_comparisons_agree_on_edge_values() {
    for op in [
        "add", "sub", "mul", "div", "mod", "eq", "ne", "lt", "le", "gt", "ge", "and", "or",
    ] {
        let pairs: Vec<(i64, i64)> = EDGES
            .iter()
            .flat_map(|&a| EDGES.iter().map(move |&b| (a, b)))
            .collect();
        agree_all(&format!(".params 2\n{op}\n"), &pairs);
    }
    for op in ["neg", "not"] {
        let pairs: Vec<(i64, i64)> = EDGES.iter().map(|&a| (5, a)).collect();
        agree_all(&format!(".params 2\nswap\npop\n{op}\n"), &pairs);
    }
}

#[test]
fn stack_operations_agree() {
    for body in [
        "dup\nadd\nadd",
        "over\nsub\nmul",
        "swap\nsub",
        "push 3\nrot\nsub\nsub",
        "push 1\npush 2\npush 3\npush 4\npush 5\npush 6\npick 7\npick 7\nsub\nadd\nadd\nadd\nadd\nadd\nadd\nadd\nadd",
        "pop",
        "pop\npop\npush 9",
        "pop\npop",
        "halt",
        "pop\nhalt",
        "pop\npop\nhalt",
    ] {
        agree_all(
            &format!(".params 2\n{body}\n"),
            &[(3, 4), (0, 0), (i64::MAX, 1), (-5, 5)],
        );
    }
}

#[test]
fn control_flow_calls_and_recursion_agree() {
    // fib(private) by recursion; public is added to keep it an input.
    let fib = ".params 2
    call fib
    add
    halt
fib:
    dup
    push 2
    lt
    jumpif done
    dup
    push 1
    sub
    call fib
    swap
    push 2
    sub
    call fib
    add
done:
    return
";
    agree_all(fib, &[(1, 0), (1, 1), (1, 2), (1, 5), (1, 9)]);
    // A loop summing 1..=private, with static memory.
    let sum = ".params 2
    push 0
    swap
loop:
    dup
    jumpif body
    pop
    add
    halt
body:
    dup
    store i
    add
    load i
    push 1
    sub
    jump loop
";
    agree_all(sum, &[(0, 0), (0, 1), (0, 10), (-1, 30), (-1, 0)]);
    // Unbounded recursion hits the call depth limit; deep stacks hit the stack limit.
    agree(".params 2\ncall f\nf: call f\n", 1, 1);
    agree(".params 2\ncall f\nf: dup\ncall f\n", 1, 1);
    // A return from the main body ends the run; so does the end of the code.
    agree(".params 2\nreturn\n", 1, 2);
    agree(".params 2\npush 0\njumpif x\npop\nx:\n", 1, 2);
    agree(".params 2\npop\npop\nreturn\n", 1, 2);
    // Halt inside a subroutine: the result is the caller's value.
    agree(".params 2\ncall f\nf: pop\nhalt\n", 1, 2);
    agree(".params 2\npop\ncall f\nf: pop\nhalt\n", 1, 2);
    // Mid-block return targets (a call not at the end of a block).
    agree(
        ".params 2\ncall sq\npush 1\nadd\ncall sq\nadd\nhalt\nsq: dup\nmul\nreturn\n",
        2,
        3,
    );
}

#[test]
fn memory_agrees() {
    // Static keys, with initial state; a missing key fails.
    let src = ".params 2\n.state a 5\nload a\nadd\nstore b\nload b\nmul\n";
    agree(src, 3, 4);
    agree(".params 2\nload nothing\n", 1, 2);
    agree(".params 2\n.state a 5\nstore a\nload a\nadd\n", 1, 2);
    // Dynamic keys: store [v, k]; load [k].
    let dynamic = ".params 2\nswap\npush 7\nstore\npush 7\nload\npush 3\npush 7\nstore\npush 7\nload\nadd\nadd\n";
    agree(dynamic, 10, 20);
    agree(".params 2\nload\n", 1, 2);
    agree(".params 2\n.state 42 8\npush 42\nload\nadd\nadd\n", 1, 2);
    agree(".params 2\n.state 42 8\npop\nload\n", 1, 42);
    agree(".params 2\n.state 42 8\npop\nload\n", 1, 43);
    // Keys are distinct as integers, not as limbs.
    agree(
        ".params 2\npush 1\npush 4294967296\nstore\npush 2\npush 1\nstore\npush 4294967296\nload\n",
        0,
        0,
    );
    // Transient memory: its own namespace, empty at the start.
    agree(
        ".params 2\n.state k 1\ntstore k\ntload k\nload k\nadd\npush 9\npush 3\ntstore\npush 3\ntload\nadd\n",
        5,
        6,
    );
    agree(".params 2\n.state k 1\ntload k\n", 5, 6);
    agree(".params 2\n.state 3 1\npush 3\ntload\n", 5, 6);
}

#[test]
fn memory_key_limits_agree() {
    let vm = CoopVm {
        limits: coopvm_core::Limits {
            memory_keys: 2,
            transient_keys: 1,
            ..coopvm_core::Limits::default()
        },
        ..CoopVm::default()
    };
    let cases = [
        (".params 2\nstore a\nstore b\npush 1\n", true),
        (
            ".params 2\nstore a\nstore b\npush 1\nstore c\npush 1\n",
            false,
        ),
        (".params 2\nstore a\nstore a\npush 1\n", true),
        (
            ".params 2\npush 1\nstore\npush 2\npush 2\nstore\npush 1\n",
            true,
        ),
        (
            ".params 2\npush 1\nstore\npush 2\npush 2\nstore\npush 3\npush 3\nstore\npush 1\n",
            false,
        ),
        (
            ".params 2\n.state a 1\n.state b 1\npush 5\nstore\npush 1\n",
            false,
        ),
        (".params 2\ntstore a\ntstore b\npush 1\n", false),
        (".params 2\ntstore a\ntstore a\npush 1\n", true),
        (".params 2\npush 1\ntstore\ntstore a\npush 1\n", false),
    ];
    for (src, holds) in cases {
        let f = Function::assemble("t.casm", src).unwrap();
        let compiled = coopvm_stark::Compiled::new(f.contract(), &vm.limits).unwrap();
        let miden = coopvm_stark::execute(&compiled, 1, 2).ok();
        let interp = interpreted(&vm, &f, 1, 2);
        assert_eq!(miden, interp, "{src}");
        assert_eq!(interp.is_some(), holds, "{src}");
    }
}

/// A small deterministic generator (xorshift) for relation programs.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn value(&mut self) -> i64 {
        match self.below(4) {
            0 => EDGES[self.below(EDGES.len() as u64) as usize],
            1 => self.next() as i64,
            _ => self.below(21) as i64 - 10,
        }
    }
}

/// A random relation: straight-line code over the inputs with branches around balanced
/// pieces, calls, static, dynamic and transient memory. It always verifies; it may fail at
/// run time (overflow, a missing key, ...), which the translation must agree with.
fn relation(g: &mut Gen) -> String {
    let mut code = String::from(".params 2\n");
    let mut h = 2u32;
    let mut label = 0;
    for _ in 0..g.below(24) + 1 {
        let choice = g.below(20);
        let line = match choice {
            0 | 1 => {
                h += 1;
                format!("push {}", g.value())
            }
            2 if h >= 1 => {
                h += 1;
                "dup".into()
            }
            3 if h >= 2 => {
                h += 1;
                "over".into()
            }
            4 if h >= 2 => "swap".into(),
            5 if h >= 3 => "rot".into(),
            6 if h >= 1 => {
                let n = g.below(u64::from(h.min(8)));
                h += 1;
                format!("pick {n}")
            }
            7 if h >= 2 => {
                h -= 1;
                "pop".into()
            }
            8..=11 if h >= 2 => {
                h -= 1;
                let ops = [
                    "add", "sub", "mul", "div", "mod", "eq", "ne", "lt", "le", "gt", "ge", "and",
                    "or",
                ];
                ops[g.below(ops.len() as u64) as usize].into()
            }
            12 if h >= 1 => ["neg", "not"][g.below(2) as usize].into(),
            13 if h >= 1 => {
                // Store then load a static or transient key: net zero.
                let key = ["a", "b"][g.below(2) as usize];
                let (s, l) = if g.below(2) == 0 {
                    ("store", "load")
                } else {
                    ("tstore", "tload")
                };
                format!("{s} {key}\n{l} {key}")
            }
            14 if h >= 1 => {
                // Dynamic store and load under a small key: net zero.
                let k = g.below(4);
                let (s, l) = if g.below(2) == 0 {
                    ("store", "load")
                } else {
                    ("tstore", "tload")
                };
                format!("push {k}\n{s}\npush {k}\n{l}")
            }
            15 if h >= 1 => {
                // A conditional skip over a balanced piece.
                label += 1;
                format!(
                    "dup\njumpif skip{label}\npush {}\nadd\nskip{label}:",
                    g.value()
                )
            }
            16 if h >= 1 => "call square".into(),
            17 if h >= 1 => {
                // A loop: add the top to itself (top mod 8) times.
                label += 1;
                format!(
                    "dup\npush 8\nmod\ndup\nmul\npush 8\nmod\nloop{label}:\ndup\njumpif body{label}\npop\njump done{label}\nbody{label}:\nswap\ndup\nadd\nswap\npush 1\nsub\njump loop{label}\ndone{label}:"
                )
            }
            18 if h >= 1 => "call fact".into(),
            _ => {
                h += 1;
                format!("push {}", g.value())
            }
        };
        code.push_str(&line);
        code.push('\n');
    }
    code.push_str("halt\nsquare:\ndup\nmul\nreturn\n");
    // fact(n mod 6), recursively: [n] -> [n!]
    code.push_str(
        "fact:\npush 6\nmod\ncall factr\nreturn\nfactr:\ndup\npush 1\nle\njumpif one\ndup\npush 1\nsub\ncall factr\nmul\nreturn\none:\npop\npush 1\nreturn\n",
    );
    code
}

#[test]
fn generated_relations_agree() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut held = 0;
    for _ in 0..300 {
        let src = relation(&mut g);
        let (a, b) = (g.value(), g.value());
        let vm = CoopVm::default();
        let f = Function::assemble("g.casm", &src).unwrap();
        if interpreted(&vm, &f, a, b).is_some() {
            held += 1;
        }
        agree(&src, a, b);
    }
    // The generator makes relations that hold and ones that do not.
    assert!(held > 50, "only {held} of 300 generated relations held");
}

fn relation_value(src: &str) -> CoopValue {
    CoopValue::Function(Function::assemble("r.casm", src).unwrap())
}

#[test]
fn stark_proofs_verify_and_bind_everything() {
    let vm = CoopVm::default();
    let square = relation_value(include_str!("../../examples/relation_square.casm"));
    let public = CoopValue::Int(49);
    let proof = vm
        .prove_with(Backend::Stark, &square, &public, &CoopValue::Int(7))
        .unwrap();
    assert_eq!(proof.backend, Backend::Stark.id());
    let bytes = proof.to_bytes();
    let proof = Proof::from_bytes(&bytes).unwrap();
    assert!(vm.verify(&square, &public, &proof));
    let stark = coopvm_stark::StarkProof::from_bytes(&proof.payload).unwrap();
    // Result and gas are the interpreter's.
    let f = Function::assemble(
        "r.casm",
        include_str!("../../examples/relation_square.casm"),
    )
    .unwrap();
    assert_eq!(interpreted(&vm, &f, 49, 7), Some((stark.result, stark.gas)));
    // Another public input, another relation.
    assert!(!vm.verify(&square, &CoopValue::Int(48), &proof));
    assert!(!vm.verify(&square, &CoopValue::Bytes(b"49".to_vec()), &proof));
    let other = relation_value(".params 2\ndup\nmul\neq\nhalt\n");
    assert!(!vm.verify(&other, &public, &proof));
    // The same code under another name is another relation (its encoding differs).
    let renamed = relation_value(
        &include_str!("../../examples/relation_square.casm").replace("relation_square", "sq2"),
    );
    assert!(!vm.verify(&renamed, &public, &proof));
    // Another gas figure or result, even with the relation hash kept.
    for (result, gas) in [
        (stark.result, stark.gas + 1),
        (stark.result, stark.gas - 1),
        (stark.result, 0),
        (2, stark.gas),
        (0, stark.gas),
        (-1, stark.gas),
    ] {
        let forged = coopvm_stark::StarkProof {
            result,
            gas,
            ..stark.clone()
        };
        let p = Proof {
            backend: Backend::Stark.id(),
            payload: forged.to_bytes(),
        };
        assert!(
            !vm.verify(&square, &public, &p),
            "result {result} gas {gas}"
        );
    }
    // A verifier with less gas than the proof states rejects it.
    let tight = CoopVm {
        proof_gas_limit: stark.gas - 1,
        ..CoopVm::default()
    };
    assert!(!tight.verify(&square, &public, &proof));
    // Changed bytes: every byte of the header and a spread of the STARK proof (every byte
    // would take too long in a test).
    let payload = &proof.payload;
    let header = coopvm_stark::LABEL.len() + 48;
    let mut positions: Vec<usize> = (0..header).collect();
    positions.extend((header..payload.len()).step_by(payload.len() / 64 + 1));
    positions.push(payload.len() - 1);
    for i in positions {
        let mut p = proof.clone();
        p.payload[i] ^= 0x01;
        assert!(!vm.verify(&square, &public, &p), "byte {i} changed");
    }
    let mut short = proof.clone();
    short.payload.truncate(payload.len() - 1);
    assert!(!vm.verify(&square, &public, &short));
    let mut long = proof.clone();
    long.payload.push(0);
    assert!(!vm.verify(&square, &public, &long));
    for junk in [vec![], b"junk".to_vec(), coopvm_stark::LABEL.to_vec()] {
        let p = Proof {
            backend: Backend::Stark.id(),
            payload: junk,
        };
        assert!(!vm.verify(&square, &public, &p));
    }
}

#[test]
fn false_claims_have_no_stark_proof() {
    let vm = CoopVm::default();
    let square = relation_value(include_str!("../../examples/relation_square.casm"));
    let prove = |public: i64, private: i64| {
        vm.prove_with(
            Backend::Stark,
            &square,
            &CoopValue::Int(public),
            &CoopValue::Int(private),
        )
    };
    assert_eq!(prove(50, 7), Err(ProveError::False(0)));
    assert!(matches!(prove(1, i64::MAX), Err(ProveError::Failed(_))));
    // The translated program itself has no execution for a false claim, whatever a prover
    // would do around the interpreter.
    let f = Function::assemble(
        "r.casm",
        include_str!("../../examples/relation_square.casm"),
    )
    .unwrap();
    let compiled = coopvm_stark::Compiled::new(f.contract(), &vm.limits).unwrap();
    assert!(coopvm_stark::prove_compiled(&compiled, 50, 7, 1000).is_err());
    assert!(coopvm_stark::prove_compiled(&compiled, 1, i64::MAX, 1000).is_err());
    // Nor within less gas than it needs (the interpreter's figure).
    let (_, gas) = interpreted(&vm, &f, 49, 7).unwrap();
    assert!(matches!(
        coopvm_stark::prove_compiled(&compiled, 49, 7, gas - 1),
        Err(coopvm_stark::StarkError::OverGas { gas: g, limit }) if g == gas && limit == gas - 1
    ));
}

#[test]
fn unsupported_relations_are_refused_by_name() {
    let vm = CoopVm::default();
    let refused = |src: &str, private: CoopValue| match vm.prove_with(
        Backend::Stark,
        &relation_value(src),
        &CoopValue::Int(1),
        &private,
    ) {
        Err(ProveError::Backend { backend, message }) => {
            assert_eq!(backend, "stark");
            message
        }
        other => panic!("{src}: {other:?}"),
    };
    let m = refused(".params 2\nlog\n", CoopValue::Int(1));
    assert!(m.contains("`log`"), "{m}");
    let m = refused(".params 2\npop\npop\ngetcaller\n", CoopValue::Int(1));
    assert!(m.contains("`getcaller`"), "{m}");
    let m = refused(".params 2\npop\npush \"x\"\n", CoopValue::Int(1));
    assert!(m.contains("`push`") && m.contains("string"), "{m}");
    let m = refused(
        ".params 2\npush 1\npush 1\npush 1\npush 1\npush 1\npush 1\npush 1\npick 8\n",
        CoopValue::Int(1),
    );
    assert!(m.contains("`pick`"), "{m}");
    let m = refused(".params 2\n.permission admin\nadd\n", CoopValue::Int(1));
    assert!(m.contains("permission"), "{m}");
    let m = refused(".params 2\nadd\n", CoopValue::Bytes(b"text".to_vec()));
    assert!(m.contains("integer"), "{m}");
    // Not a relation at all.
    assert!(matches!(
        vm.prove_with(
            Backend::Stark,
            &relation_value(".params 1\n"),
            &CoopValue::Int(1),
            &CoopValue::Int(1)
        ),
        Err(ProveError::Call(crate::CallError::Arity { .. }))
    ));
}

#[test]
fn a_loop_relation_proves() {
    // Sum 1..=private, compared with public (a loop with memory and a few hundred steps).
    let src = ".params 2
    push 0
    swap
loop:
    dup
    jumpif body
    pop
    eq
    halt
body:
    dup
    store i
    add
    load i
    push 1
    sub
    jump loop
";
    let vm = CoopVm::default();
    let f = relation_value(src);
    let proof = vm
        .prove_with(
            Backend::Stark,
            &f,
            &CoopValue::Int(210),
            &CoopValue::Int(20),
        )
        .unwrap();
    assert!(vm.verify(&f, &CoopValue::Int(210), &proof));
    assert!(!vm.verify(&f, &CoopValue::Int(211), &proof));
    assert_eq!(
        vm.prove_with(
            Backend::Stark,
            &f,
            &CoopValue::Int(211),
            &CoopValue::Int(20)
        ),
        Err(ProveError::False(0))
    );
}

#[test]
fn stark_proofs_are_deterministic_so_they_are_not_zero_knowledge() {
    // What docs/vmi.md and `--help` say: the same inputs give the same proof bytes, and two
    // private inputs that both satisfy a relation give different proofs, so whoever holds a
    // proof can test a guess of the private input by proving with it and comparing.
    let vm = CoopVm::default();
    let square = relation_value(include_str!("../../examples/relation_square.casm"));
    let public = CoopValue::Int(49);
    let prove = |private: i64| {
        vm.prove_with(Backend::Stark, &square, &public, &CoopValue::Int(private))
            .unwrap()
    };
    let seven = prove(7);
    assert_eq!(prove(7), seven);
    let minus_seven = prove(-7);
    assert!(vm.verify(&square, &public, &minus_seven));
    assert_ne!(minus_seven, seven);
}
