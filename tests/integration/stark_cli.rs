//! `coopvm prove --backend stark` and `coopvm verify` of a STARK proof, running the built
//! binary (one small relation: proving is the slow part); without feature `stark`, the
//! error that says how to build it.

use crate::common;
use crate::common::{coopvm, example};
use std::path::PathBuf;
use std::process::Output;

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    common::scratch("stark_cli", test)
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[cfg(feature = "stark")]
#[test]
fn a_stark_proof_from_the_command_line() {
    let dir = scratch("prove");
    let rel = example("relation_square.casm");
    let proof = dir.join("proof.bin");
    let p = proof.to_str().unwrap();
    let o = coopvm(&[
        "prove",
        &rel,
        "--public",
        "49",
        "--private",
        "-7",
        "--backend",
        "stark",
        "-o",
        p,
    ]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("STARK proof"), "{}", out(&o));
    assert!(out(&o).contains("not zero-knowledge"), "{}", out(&o));

    // verify reads the backend from the proof.
    let o = common::verify(&rel, "49", &proof, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "valid\n");
    let o = common::verify(&rel, "48", &proof, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let o = common::verify(&example("loop.casm"), "49", &proof, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    // A verifier allowing one gas less than the relation uses rejects the proof.
    let o = coopvm(&["eval", &rel, "--args", "49,-7"]);
    let gas: u64 = String::from_utf8_lossy(&o.stdout)
        .split("gas used: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", out(&o)));
    let less = (gas - 1).to_string();
    let o = common::verify(&rel, "49", &proof, &["--gas-limit", &less]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let o = common::verify(&rel, "49", &proof, &["--gas-limit", &gas.to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // A changed byte.
    let mut bytes = std::fs::read(&proof).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let changed = dir.join("changed.bin");
    std::fs::write(&changed, &bytes).unwrap();
    let o = common::verify(&rel, "49", &changed, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));

    // A false claim: no proof, no file.
    let none = dir.join("none.bin");
    let o = coopvm(&[
        "prove",
        &rel,
        "--public",
        "50",
        "--private",
        "7",
        "--backend",
        "stark",
        "-o",
        none.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(!none.exists());
}

#[cfg(feature = "stark")]
#[test]
fn unsupported_relations_are_refused_by_name() {
    let dir = scratch("refused");
    let rel = dir.join("logs.casm");
    std::fs::write(&rel, ".params 2\nadd\ndup\nlog\n").unwrap();
    let o = coopvm(&[
        "prove",
        rel.to_str().unwrap(),
        "--public",
        "1",
        "--private",
        "2",
        "--backend",
        "stark",
        "-o",
        dir.join("p.bin").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("`log`"), "{}", out(&o));
}

#[test]
fn help_says_what_the_proofs_hide() {
    let o = coopvm(&["prove", "--help"]);
    let help = out(&o);
    assert!(o.status.success(), "{help}");
    // Both backends are described, neither as zero-knowledge.
    assert!(help.contains("witness") && help.contains("stark"), "{help}");
    assert!(help.matches("NOT zero-knowledge").count() >= 2, "{help}");
    assert!(help.contains("--features stark"), "{help}");
}

#[cfg(not(feature = "stark"))]
#[test]
fn without_the_feature_the_stark_backend_says_how_to_build_it() {
    use coopvm::vmi::{Backend, Proof};
    let dir = scratch("unavailable");
    let rel = example("relation_square.casm");
    let target = dir.join("proof.bin");
    let o = coopvm(&[
        "prove",
        &rel,
        "--public",
        "49",
        "--private",
        "7",
        "--backend",
        "stark",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        out(&o).contains("cargo build --release --features stark"),
        "{}",
        out(&o)
    );
    assert!(!target.exists());
    // A STARK proof envelope cannot be checked either: said so, not reported "invalid".
    let envelope = Proof {
        backend: Backend::Stark.id(),
        payload: b"coopvm-stark-miden-v1".to_vec(),
    };
    std::fs::write(&target, envelope.to_bytes()).unwrap();
    let o = common::verify(&rel, "49", &target, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("--features stark"), "{}", out(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("valid"));
}
