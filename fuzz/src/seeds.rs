//! Seed corpora: the examples, the saved regression cases and the library programs of the
//! base world, in the form each target reads; and pseudo-random inputs.

use crate::case::{Case, HostKind, DOUBLER, SPENDER};
use crate::CASE_PREFIX;
use coopvm::vmi::DataValue;
use coopvm::{asm::assemble, codec, ExecutionContext};
use coopvm_testgen::{bytes, casm_files};
use std::path::Path;

/// Listings with the forms only the disassembler needs (`docs/assembly.md`): declared pools
/// with entries no instruction uses or repeated, and raw indices out of range.
const LISTING_FORMS: &[(&str, &str)] = &[
    (
        "listing-pools.casm",
        ".string \"b\"\n.string \"unused\"\n.string \"b\"\n.key spare\n.key k\n\
         push \"b\"\npush #2\nstore k\nload k\nhalt\n",
    ),
    (
        "listing-raw.casm",
        "top: push 1\njumpif #9\ncall #-1\npush #7\nload #3\njump top\n",
    ),
];

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
    for (name, text) in LISTING_FORMS {
        sources.push(((*name).into(), (*text).into()));
    }
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
            bytes(i + 1, 64 + 16 * i as usize),
        ));
        out.push(("verify", name.clone(), bytes(i + 101, 32 + 4 * i as usize)));
        out.push(("store", name.clone(), bytes(i + 201, 16 + 4 * i as usize)));
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
