//! The JIT through the `coopvm` binary: `run --engine interp|jit|auto` print the same outcome,
//! `disasm --clif` prints Cranelift IR, and its errors are reported, not panics.

use crate::common::{coopvm, example};
use serde_json::Value;

fn run_json(file: &str, engine: &str, gas: &str) -> (i32, Value) {
    let out = coopvm(&[
        "run",
        &example(file),
        "--json",
        "--engine",
        engine,
        "--gas-limit",
        gas,
    ]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code().expect("exit code"), v)
}

#[test]
fn every_engine_prints_the_same_outcome() {
    for file in [
        "counter.casm",
        "fib.casm",
        "loop.casm",
        "rollback.casm",
        "subroutine.casm",
    ] {
        for gas in ["10000000", "50"] {
            let (code, mut want) = run_json(file, "interp", gas);
            assert_eq!(want["engine"], "interp");
            for engine in ["jit", "auto"] {
                let (c, mut got) = run_json(file, engine, gas);
                assert_eq!(got["engine"], engine);
                got["engine"] = Value::Null;
                want["engine"] = Value::Null;
                assert_eq!(
                    (c, &got),
                    (code, &want),
                    "{file} on {engine} with gas {gas}"
                );
            }
        }
    }
    let (code, v) = run_json("fib.casm", "jit", "10000000");
    assert_eq!((code, &v["stack"]), (0, &serde_json::json!([6765])));
}

#[test]
fn auto_is_the_default_engine() {
    let out = coopvm(&["run", &example("counter.casm"), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["engine"], "auto");
    let bad = coopvm(&["run", &example("counter.casm"), "--engine", "turbo"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn disasm_clif_prints_cranelift_ir() {
    let out = coopvm(&["disasm", "--clif", &example("fib.casm")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.starts_with("function "), "{text}");
    // fib's `return` has two sites: it tests the site index with `brif` (a jump table,
    // `br_table`, is only for more than four sites).
    for needle in ["brif", "ssub_overflow", "sadd_overflow", "return"] {
        assert!(text.contains(needle), "no {needle} in\n{text}");
    }
    // Limits matter: they are compiled into the code.
    let small = coopvm(&[
        "disasm",
        "--clif",
        &example("fib.casm"),
        "--call-depth",
        "7",
    ]);
    assert!(String::from_utf8_lossy(&small.stdout).contains("uge v"));
    // Plain disasm is unchanged.
    let plain = coopvm(&["disasm", &example("fib.casm")]);
    assert!(String::from_utf8_lossy(&plain.stdout).contains("call L3"));
}

#[test]
fn disasm_clif_of_an_invalid_contract_is_a_located_error() {
    let dir = crate::common::scratch("jit_cli", "clif_invalid");
    let file = dir.join("bad.casm");
    std::fs::write(&file, "push 1\nadd\n").expect("write");
    let out = coopvm(&["disasm", "--clif", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.casm:2"), "{err}");
    // The relation example declares its inputs (`.params 2`), so it verifies and compiles:
    // its entry block loads them from the value stack.
    let out = coopvm(&["disasm", "--clif", &example("relation_square.casm")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("load.i64"));
    let _ = std::fs::remove_dir_all(&dir);
}
