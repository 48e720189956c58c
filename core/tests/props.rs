//! Property tests: assemble -> disassemble -> assemble is the identity, and the binary codec
//! is a bijection on contracts.

use coopvm_core::asm::assemble;
use coopvm_core::codec::{decode, encode};
use coopvm_core::disasm::disassemble;
use coopvm_core::isa::{Op, OperandKind};
use coopvm_core::{Contract, Insn, Program};
use proptest::prelude::*;

/// An abstract operand choice, resolved against tables when the contract is built.
#[derive(Clone, Debug)]
enum Arg {
    Imm(i64),
    Text(String),
    Index(usize),
}

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_.]{0,8}"
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
        Just(String::new()),
        Just("a \"quoted\" ; not a comment\\".to_string()),
    ]
}

fn insn() -> impl Strategy<Value = (Op, Arg)> {
    let op = proptest::sample::select(Op::ALL.to_vec());
    (op, any::<i64>(), ident(), any_text(), 0usize..64).prop_map(|(op, n, id, text, idx)| {
        let arg = match op.info().operand {
            OperandKind::None => Arg::Imm(0),
            OperandKind::Imm => Arg::Imm(n),
            OperandKind::Str => Arg::Text(text),
            OperandKind::Key => Arg::Text(id),
            OperandKind::Target => Arg::Index(idx),
        };
        (op, arg)
    })
}

/// Contracts exactly as the assembler would produce them: tables in first-use order.
fn assembled_contract() -> impl Strategy<Value = Contract> {
    (
        prop_oneof![Just(String::new()), any_text()],
        prop_oneof![Just(String::new()), any_text()],
        any::<i64>(),
        proptest::collection::vec(any_text(), 0..3),
        proptest::collection::vec(any_text(), 0..3),
        proptest::collection::btree_map(any_text(), any_text(), 0..3),
        proptest::collection::btree_map(
            prop_oneof![ident(), any::<i64>().prop_map(|k| k.to_string())],
            any::<i64>(),
            0..4,
        ),
        proptest::collection::vec(insn(), 0..40),
        prop_oneof![Just(0u32), 0u32..5, Just(1u32 << 20)],
    )
        .prop_map(
            |(id, version, rep, perms, deps, metadata, state, insns, params)| {
                let mut program = Program::default();
                let len = insns.len();
                for (op, arg) in insns {
                    let arg = match arg {
                        Arg::Imm(n) => n,
                        Arg::Index(i) => (i % (len + 1)) as i64,
                        Arg::Text(t) => {
                            let table = if op.info().operand == OperandKind::Key {
                                &mut program.keys
                            } else {
                                &mut program.strings
                            };
                            match table.iter().position(|x| *x == t) {
                                Some(i) => i as i64,
                                None => {
                                    table.push(t);
                                    table.len() as i64 - 1
                                }
                            }
                        }
                    };
                    program.code.push(Insn { op, arg });
                }
                Contract {
                    id,
                    version,
                    required_reputation: rep,
                    permissions: perms,
                    dependencies: deps,
                    metadata,
                    state: state.into_iter().map(|(k, v)| (k.into(), v)).collect(),
                    params,
                    program,
                }
            },
        )
}

/// Any contract at all, valid or not.
fn arbitrary_contract() -> impl Strategy<Value = Contract> {
    (
        any_text(),
        any::<i64>(),
        proptest::collection::btree_map(any_text(), any::<i64>(), 0..4),
        proptest::collection::vec(any_text(), 0..4),
        proptest::collection::vec(
            (proptest::sample::select(Op::ALL.to_vec()), any::<i64>()),
            0..30,
        ),
        prop_oneof![Just(0u32), any::<u32>()],
    )
        .prop_map(|(id, rep, state, strings, code, params)| Contract {
            id,
            required_reputation: rep,
            state: state.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            params,
            program: Program {
                code: code
                    .into_iter()
                    .map(|(op, arg)| Insn {
                        op,
                        arg: if op.info().operand == OperandKind::None {
                            0
                        } else {
                            arg
                        },
                    })
                    .collect(),
                keys: strings.clone(),
                strings,
            },
            ..Default::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn disassembly_reassembles_to_the_same_contract(c in assembled_contract()) {
        let text = disassemble(&c);
        let back = assemble("roundtrip.casm", &text);
        prop_assert!(back.is_ok(), "{}\n---\n{}", back.unwrap_err(), text);
        prop_assert_eq!(back.unwrap(), c, "{}", text);
    }

    #[test]
    fn decode_inverts_encode(c in arbitrary_contract()) {
        let bytes = encode(&c);
        prop_assert_eq!(decode(&bytes).unwrap(), c);
    }

    #[test]
    fn decode_inverts_encode_for_assembled(c in assembled_contract()) {
        prop_assert_eq!(decode(&encode(&c)).unwrap(), c);
    }

    #[test]
    fn whatever_decodes_re_encodes_to_the_same_bytes(
        c in arbitrary_contract(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode(&c);
        for (at, b) in flips {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        if let Ok(d) = decode(&bytes) {
            prop_assert_eq!(encode(&d), bytes);
        }
    }

    #[test]
    fn assembler_never_panics(text in "(?s).{0,200}") {
        let _ = assemble("fuzz.casm", &text);
    }

    #[test]
    fn assembler_never_panics_on_near_misses(
        lines in proptest::collection::vec(
            prop_oneof![
                "(push|store|load|jump|call|jumpif|pick|tstore|tload|\\.state|\\.meta|\\.contract|\\.params) ?[-0-9a-z_\"\\\\x:]{0,10}",
                "[a-z]{1,6}: ?[a-z]{0,6}",
                "\"[^\"]{0,5}\\\\?\"?",
            ],
            0..12,
        )
    ) {
        let _ = assemble("fuzz.casm", &lines.join("\n"));
    }
}
