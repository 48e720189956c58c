//! No input, however malformed, makes coopvm panic: random, truncated and mutated files are
//! fed to the loader, verifier and interpreter in-process (thousands of cases) and to the
//! binary (a few dozen), which must answer with a clear error and exit code 2.

use coopvm::{codec, ExecutionContext, Limits, NoHost};
use coopvm::{load, Engine};
use proptest::prelude::*;
use std::process::Command;

fn examples() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "casm") {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

/// Loads, verifies and (if valid) runs `bytes` with little gas; must never panic.
fn exercise(bytes: &[u8]) {
    let Ok(loaded) = load::from_bytes("fuzz", bytes) else {
        return;
    };
    let limits = Limits {
        stack: 64,
        call_depth: 16,
        memory_keys: 16,
        ..Limits::default()
    };
    let Ok(v) = loaded.verify(&limits) else {
        return;
    };
    let ctx = ExecutionContext::default();
    let out = Engine::Interp.run(&v, &ctx, &v.contract().state, 2_000, &mut NoHost);
    assert!(out.gas_used <= 2_000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        exercise(&bytes);
    }

    #[test]
    fn random_magic_prefixed_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut b = codec::MAGIC.to_vec();
        b.push(codec::FORMAT_VERSION);
        b.extend(bytes);
        exercise(&b);
    }

    #[test]
    fn mutated_examples(which in 0usize..16, binary in any::<bool>(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let all = examples();
        let (name, src) = &all[which % all.len()];
        let mut bytes = if binary {
            codec::encode(&load::from_bytes(name, src).unwrap().contract)
        } else {
            src.clone()
        };
        for (at, b) in edits {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        exercise(&bytes);
    }

    #[test]
    fn truncated_examples(which in 0usize..16, binary in any::<bool>(), cut in any::<usize>()) {
        let all = examples();
        let (name, src) = &all[which % all.len()];
        let bytes = if binary {
            codec::encode(&load::from_bytes(name, src).unwrap().contract)
        } else {
            src.clone()
        };
        exercise(&bytes[..cut % (bytes.len() + 1)]);
    }
}

#[test]
fn the_binary_rejects_garbage_files_cleanly() {
    let dir = crate::common::scratch("garbage", "files");
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 64],
        b"\0cvm".to_vec(),
        b"\0cvm\x01".to_vec(),
        b"\0cvm\x09rest".to_vec(),
        b"push \"unterminated\n".to_vec(),
        b"jump nowhere\n".to_vec(),
        "ünïcødé ☃ \u{0}\u{7f}".as_bytes().to_vec(),
    ];
    // A deterministic pseudo-random stream (xorshift) for more junk.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for len in [1usize, 7, 33, 200, 1000] {
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
        cases.push(v);
    }
    for (_, src) in examples() {
        let bin = codec::encode(&load::from_bytes("x", &src).unwrap().contract);
        cases.push(bin[..bin.len() / 2].to_vec());
        cases.push(src[..src.len() / 3].to_vec());
    }
    for (i, bytes) in cases.iter().enumerate() {
        let path = dir.join(format!("case{i}.casm"));
        std::fs::write(&path, bytes).unwrap();
        for cmd in ["run", "check", "disasm"] {
            let out = Command::new(env!("CARGO_BIN_EXE_coopvm"))
                .args([cmd, &path.display().to_string()])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "case {i} {cmd}: {stderr}");
            let code = out.status.code();
            assert!(
                matches!(code, Some(0..=2)),
                "case {i} {cmd}: {code:?} {stderr}"
            );
            if code == Some(2) {
                assert!(
                    !stderr.trim().is_empty(),
                    "case {i} {cmd}: an error must be explained"
                );
            }
        }
    }
}
