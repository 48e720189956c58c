//! Seed corpora: the examples, the saved regression cases and the library programs of the
//! base world, in the form each target reads; and raw instruction streams for `verify`.

use crate::case::{Case, HostKind, DOUBLER, SPENDER};
use crate::CASE_PREFIX;
use arbitrary::Unstructured;
use coopvm::isa::OperandKind;
use coopvm::vmi::DataValue;
use coopvm::{asm::assemble, codec, Contract, ExecutionContext, Insn, Op, Program};
use std::path::{Path, PathBuf};

/// A raw instruction stream from the input's choices: any opcode (every other one a push, so
/// more streams keep the stack discipline), operands in range, targets anywhere. It reaches
/// shapes no structured generator writes (unreachable code, jumps into loops, main called
/// as a subroutine).
pub fn raw_contract(u: &mut Unstructured) -> Contract {
    let n = u.int_in_range(1..=48usize).unwrap_or(1);
    let ops: Vec<(u8, i8)> = (0..n)
        .map(|_| (u.arbitrary().unwrap_or(0), u.arbitrary().unwrap_or(0)))
        .collect();
    let len = ops.len() as i64;
    let code = ops
        .iter()
        .map(|&(o, a)| {
            let op = if o % 2 == 0 {
                Op::Push
            } else {
                Op::ALL[(o / 2) as usize % Op::ALL.len()]
            };
            let arg = match op.info().operand {
                OperandKind::None => 0,
                OperandKind::Imm => i64::from(a),
                OperandKind::Str | OperandKind::Key => i64::from(a).rem_euclid(2),
                OperandKind::Target => i64::from(a).rem_euclid(len + 1),
            };
            Insn::with(op, arg)
        })
        .collect();
    Contract {
        id: "raw".into(),
        params: u.int_in_range(0..=2).unwrap_or(0),
        program: Program {
            code,
            keys: vec!["a".into(), "b".into()],
            strings: vec!["did:key:bob".into(), "makers".into()],
        },
        ..Default::default()
    }
}

/// Every `.casm` file under `dir`, sorted.
pub fn casm_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "casm") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// A deterministic byte stream (xorshift64*).
pub fn pseudo_random(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// The seeds of every target, by target name: (file name, bytes). `root` is the coopvm
/// checkout (its `examples/` and `tests/regressions/` are read).
pub fn all(root: &Path) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut sources: Vec<(String, String)> = Vec::new();
    for dir in ["examples", "tests/regressions"] {
        for path in casm_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string()
                .replace(['/', '\\'], "_");
            sources.push((name, text));
        }
    }
    sources.push(("doubler.casm".into(), DOUBLER.into()));
    sources.push(("spender.casm".into(), SPENDER.into()));
    for (name, text) in &sources {
        out.push(("asm", name.clone(), text.clone().into_bytes()));
        // A saved case replays as it is; an example runs as alice, a member, with the
        // inputs its `; args:` line declares (read by `Case::from_casm`).
        let case = Case::from_casm(text).map(|case| {
            if text.starts_with("; coopvm differential case") {
                case
            } else {
                Case {
                    host: HostKind::Coop,
                    ctx: ExecutionContext {
                        caller_did: "did:key:alice".into(),
                        cooperative_id: "makers".into(),
                        timestamp: 1_000,
                        permissions: vec!["member".into()],
                        ..ExecutionContext::default()
                    },
                    ..case
                }
            }
        });
        if let Ok(case) = case {
            let mut bytes = CASE_PREFIX.to_vec();
            bytes.extend_from_slice(case.to_casm().as_bytes());
            out.push(("differential", name.clone(), bytes));
        }
        if let Ok(contract) = assemble(name, text) {
            let bytes = codec::encode(&contract);
            out.push(("codec", name.clone(), bytes.clone()));
            out.push(("verify", name.clone(), bytes));
        }
    }
    for i in 0..32u64 {
        let name = format!("random-{i:02}");
        out.push((
            "differential",
            name.clone(),
            pseudo_random(i + 1, 64 + 16 * i as usize),
        ));
        out.push((
            "verify",
            name.clone(),
            pseudo_random(i + 101, 32 + 4 * i as usize),
        ));
        out.push((
            "store",
            name.clone(),
            pseudo_random(i + 201, 16 + 4 * i as usize),
        ));
    }
    let deep = (0..coopvm::vmi::data::MAX_DEPTH - 1)
        .fold(DataValue::Int(1), |v, _| DataValue::List(vec![v]));
    let values = [
        DataValue::Int(0),
        DataValue::Int(-1),
        DataValue::Int(i64::MIN),
        DataValue::Bytes(b"coopvm".to_vec()),
        DataValue::List(vec![DataValue::Int(1), DataValue::Bytes(vec![])]),
        DataValue::FunctionV {
            vm: 1,
            code: codec::encode(&assemble("f", "push 1").expect("assembles")),
        },
        deep,
    ];
    for (i, v) in values.iter().enumerate() {
        out.push(("datavalue", format!("value-{i}"), v.to_bytes()));
    }
    out
}
