//! End-to-end tests of `coopvm encode`, `decode`, `eval`, `prove` and `verify`, running the
//! built binary.

use crate::common;
use crate::common::{coopvm, example};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    common::scratch("vmi_cli", test)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn prove_to_a_file_and_verify_from_it() {
    let dir = scratch("prove");
    let rel = example("relation_square.casm");
    let proof = dir.join("proof.bin");
    let p = proof.to_str().unwrap();
    let o = coopvm(&["prove", &rel, "--public", "49", "--private", "-7", "-o", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("contains the private input"));

    let o = common::verify(&rel, "49", &proof, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "valid\n");

    // Another public input: invalid.
    let o = common::verify(&rel, "48", &proof, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "invalid\n");

    // Another relation: invalid.
    let o = common::verify(&example("loop.casm"), "49", &proof, &[]);
    assert_eq!(o.status.code(), Some(1));

    // A tampered proof file: flip one bit of the commitment (the last 32 bytes), of the gas
    // claim and of the private input (-7, zigzag 13, just before the gas).
    let bytes = std::fs::read(&proof).unwrap();
    assert_eq!(bytes[bytes.len() - 37], 13);
    for at in [bytes.len() - 1, bytes.len() - 35, bytes.len() - 37] {
        let mut t = bytes.clone();
        t[at] ^= 0x01;
        let tampered = dir.join(format!("tampered{at}.bin"));
        std::fs::write(&tampered, &t).unwrap();
        let o = common::verify(&rel, "49", &tampered, &[]);
        assert_eq!(o.status.code(), Some(1), "byte {at}");
        assert_eq!(stdout(&o), "invalid\n");
    }
    // A truncated one does not even parse.
    let cut = dir.join("cut.bin");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = common::verify(&rel, "49", &cut, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid DataValue bytes"),
        "{}",
        stderr(&o)
    );

    // A verifier that allows less gas than the relation needs rejects.
    let o = common::verify(&rel, "49", &proof, &["--gas-limit", "3"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn false_relations_give_no_proof_file() {
    let dir = scratch("false");
    let rel = example("relation_square.casm");
    let proof = dir.join("proof.bin");
    let p = proof.to_str().unwrap();
    let o = coopvm(&["prove", &rel, "--public", "50", "--private", "7", "-o", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not hold"), "{}", stderr(&o));
    assert!(!proof.exists());
    // Out of gas (the relation needs 5): no proof either.
    let o = coopvm(&[
        "prove",
        &rel,
        "--public",
        "49",
        "--private",
        "7",
        "-o",
        p,
        "--gas-limit",
        "4",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("out of gas"), "{}", stderr(&o));
    assert!(!proof.exists());
}

/// `coopvm eval FILE --args A` gives the top of the stack and the gas of `coopvm run FILE
/// --args A` for every example (with the inputs it declares), including those using the
/// cooperative host.
#[test]
fn eval_agrees_with_run_on_every_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "casm") {
                files.push(p);
            }
        }
    }
    let mut ok = 0;
    for path in &files {
        let f = &path.display().to_string();
        let name = path.strip_prefix(&root).unwrap().to_string_lossy();
        let args = common::example_args(&name).join(",");
        let with = |cmd: &str| {
            let mut all = vec![cmd, f.as_str(), "--json"];
            if !args.is_empty() {
                all.extend(["--args", &args]);
            }
            coopvm(&all)
        };
        let run = with("run");
        assert_ne!(run.status.code(), Some(2), "{f}: {}", stderr(&run));
        let eval = with("eval");
        let run: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        let eval: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
        assert_eq!(eval["gas_used"], run["gas_used"], "{f}");
        let top = if run["status"] == "ok" {
            run["stack"]
                .as_array()
                .unwrap()
                .last()
                .cloned()
                .unwrap_or_default()
        } else {
            serde_json::Value::Null
        };
        assert_eq!(eval["result"], top, "{f}");
        ok += usize::from(!top.is_null());
    }
    assert!(ok >= 5, "only {ok} examples produced a result");
}

#[test]
fn eval_uses_the_same_gas_as_run() {
    let fib = example("fib.casm");
    let run = coopvm(&["run", &fib, "--json", "--gas-limit", "300000"]);
    let eval = coopvm(&["eval", &fib, "--json", "--gas-limit", "300000"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let run: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let eval: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(eval["gas_used"], run["gas_used"]);
    assert_eq!(eval["result"], run["stack"][0]);
    assert_eq!(eval["engine"], "interp");
    for engine in ["jit", "auto"] {
        let other = coopvm(&[
            "eval",
            &fib,
            "--json",
            "--gas-limit",
            "300000",
            "--engine",
            engine,
        ]);
        assert!(other.status.success(), "{engine}: {}", stderr(&other));
        let other: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
        assert_eq!(other["engine"], engine);
        assert_eq!(other["gas_used"], eval["gas_used"], "{engine}");
        assert_eq!(other["result"], eval["result"], "{engine}");
    }

    // Out of gas: no result, exit 1, gas used = limit.
    let o = coopvm(&["eval", &fib, "--json", "--gas-limit", "100"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], serde_json::Value::Null);
    assert_eq!(v["gas_used"], 100);
}

#[test]
fn eval_with_arguments() {
    let rel = example("relation_square.casm");
    // The arguments are the relation's inputs: no gas for them (dup, mul, eq, halt: 5).
    let o = coopvm(&["eval", &rel, "--args", "49,-7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "result: 1\ngas used: 5 of 10000000\n");
    let o = coopvm(&["eval", &rel, "--args", "48,7"]);
    assert_eq!(stdout(&o), "result: 0\ngas used: 5 of 10000000\n");
    // A string argument is a handle: the first string of the run after the relation's
    // constants (it has none: 0).
    let o = coopvm(&["eval", &rel, "--args", "0,s:did:key:a"]);
    assert_eq!(stdout(&o), "result: 1\ngas used: 5 of 10000000\n");
    // The same as `run --args`.
    let o = coopvm(&["run", &rel, "--args", "49,-7", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["stack"].clone(), v["gas_used"].clone()),
        (serde_json::json!([1]), 5.into())
    );
    // Too few arguments (the relation takes two): no result.
    let o = coopvm(&["eval", &rel, "--args", "49"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("result: none"));
    // Not a value.
    let o = coopvm(&["eval", &rel, "--args", "4x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`4x` is neither"), "{}", stderr(&o));
}

#[test]
fn encode_decode_and_eval_a_datavalue() {
    let dir = scratch("encode");
    let dv = dir.join("loop.dv");
    let d = dv.to_str().unwrap();
    let o = coopvm(&["encode", &example("loop.casm"), "-o", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&dv).unwrap();
    assert!(bytes.starts_with(b"\0cdv\x01\x03"));

    let o = coopvm(&["decode", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("fn<vm 1668247408>("), "{text}");
    assert!(text.contains("contract `sum_loop`"), "{text}");
    assert!(text.contains("jumpif"), "{text}");

    let from_dv = coopvm(&["eval", d, "--json"]);
    let from_casm = coopvm(&["eval", &example("loop.casm"), "--json"]);
    assert!(from_dv.status.success());
    assert_eq!(from_dv.stdout, from_casm.stdout);

    // A DataValue that is not a function cannot be evaluated.
    let int = dir.join("int.dv");
    std::fs::write(&int, b"\0cdv\x01\x00\x02").unwrap();
    let o = coopvm(&["decode", int.to_str().unwrap()]);
    assert_eq!(stdout(&o), "1\n");
    let o = coopvm(&["eval", int.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a coopvm function"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_files_are_usage_errors() {
    let dir = scratch("bad");
    let junk = dir.join("junk.dv");
    std::fs::write(&junk, b"\0cdv\x01\x09").unwrap();
    let j = junk.to_str().unwrap();
    let o = coopvm(&["decode", j]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a DataValue tag"), "{}", stderr(&o));
    let o = coopvm(&["eval", j]);
    assert_eq!(o.status.code(), Some(2));
    let missing = dir.join("missing");
    let m = missing.to_str().unwrap();
    let o = coopvm(&["decode", m]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"));
    let rel = example("relation_square.casm");
    let o = common::verify(&rel, "1", &missing, &[]);
    assert_eq!(o.status.code(), Some(2));
    let o = coopvm(&["prove", &rel, "--public", "x", "--private", "1", "-o", m]);
    assert_eq!(o.status.code(), Some(2));
    let o = coopvm(&["encode", m, "-o", j]);
    assert_eq!(o.status.code(), Some(2));
    // Writing to a directory that does not exist.
    let nowhere = dir.join("no/such/dir/out");
    let o = coopvm(&["encode", &rel, "-o", nowhere.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot write"), "{}", stderr(&o));
}
