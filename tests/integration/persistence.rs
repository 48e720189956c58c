//! End to end: `coopvm run --state`, `coopvm deploy` and `coopvm state` on a redb database.

use crate::common::example;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_coopvm");

fn temp_db(name: &str) -> PathBuf {
    crate::common::scratch("persistence", name).join("state.redb")
}

fn coopvm(args: &[&str], db: &PathBuf) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--state")
        .arg(db)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn state(db: &PathBuf, as_json: bool) -> Output {
    let mut c = Command::new(BIN);
    c.arg("state").arg(db);
    if as_json {
        c.arg("--json");
    }
    c.output().unwrap()
}

#[test]
fn counter_counts_across_processes() {
    let db = temp_db("counter");
    let counter = example("counter.casm");
    for expected in 1..=3 {
        let out = coopvm(&["run", &counter, "--json"], &db);
        assert!(out.status.success());
        assert_eq!(json(&out)["stack"], serde_json::json!([expected]));
    }
    let s = json(&state(&db, true));
    assert_eq!(s["contract_states"]["counter"]["count"], 3);
    assert_eq!(s["meta"]["runs"], 3);
    let human = String::from_utf8(state(&db, false).stdout).unwrap();
    assert!(human.contains("counter: {\"count\":3}"), "{human}");
    assert!(human.contains("runs: 3"), "{human}");
}

#[test]
fn without_state_nothing_is_kept() {
    for _ in 0..2 {
        let out = Command::new(BIN)
            .args(["run", &example("counter.casm"), "--json"])
            .output()
            .unwrap();
        assert_eq!(json(&out)["stack"], serde_json::json!([1]));
    }
}

#[test]
fn a_failed_run_writes_nothing() {
    let db = temp_db("rollback");
    let out = coopvm(&["run", &example("rollback.casm"), "--json"], &db);
    assert_eq!(out.status.code(), Some(1));
    let s = json(&state(&db, true));
    assert_eq!(s["contract_states"], serde_json::json!({}));
    assert_eq!(s["events"], serde_json::json!([]));
    assert_eq!(s["meta"], serde_json::json!({}));
}

#[test]
fn deploy_then_call_a_dependency() {
    let db = temp_db("calls");
    let caller = example("calls/caller.casm");
    // Not deployed yet: a clear missing_dependency error before the run.
    let out = coopvm(&["run", &caller], &db);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("missing_dependency") && text.contains("`doubler`"),
        "{text}"
    );
    let out = coopvm(&["deploy", &example("calls/doubler.casm")], &db);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployed `doubler`"));
    for _ in 0..2 {
        let out = coopvm(&["run", &caller, "--json"], &db);
        assert_eq!(json(&out)["stack"], serde_json::json!([42]));
    }
    let s = json(&state(&db, true));
    assert_eq!(s["contracts"]["doubler"]["version"], "1.0.0");
    assert_eq!(
        s["contract_states"]["doubler"],
        serde_json::json!({"calls": 2})
    );
}

#[test]
fn bad_databases_are_clear_errors() {
    let dir = temp_db("bad");
    std::fs::write(&dir, b"definitely not a redb file").unwrap();
    let out = coopvm(&["run", &example("counter.casm")], &dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open the state database"), "{err}");
    let out = state(&temp_db("missing").with_file_name("nope.redb"), false);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no state database"));
    let out = Command::new(BIN)
        .args(["deploy", "/nonexistent/x.casm", "--state"])
        .arg(temp_db("deploy-missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn concurrent_processes_serialize_on_the_database() {
    let counter = example("counter.casm");
    let db = temp_db("concurrent");
    let mut running: Vec<_> = (0..6)
        .map(|_| {
            Command::new(BIN)
                .args(["run", &counter, "--json", "--state"])
                .arg(&db)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut seen: Vec<i64> = running
        .iter_mut()
        .map(|c| {
            let mut text = String::new();
            std::io::Read::read_to_string(c.stdout.as_mut().unwrap(), &mut text).unwrap();
            assert!(c.wait().unwrap().success());
            let v: Value = serde_json::from_str(&text).unwrap();
            v["stack"][0].as_i64().unwrap()
        })
        .collect();
    seen.sort_unstable();
    // Each process waited for the previous one: every count from 1 to 6 exactly once.
    assert_eq!(seen, (1..=6).collect::<Vec<_>>());
    let s = json(&state(&db, true));
    assert_eq!(s["contract_states"]["counter"]["count"], 6);
}

#[test]
fn stats_and_engines_work_with_state() {
    let db = temp_db("stats");
    let counter = example("counter.casm");
    for (i, engine) in ["interp", "jit", "auto"].iter().enumerate() {
        let out = coopvm(
            &["run", &counter, "--json", "--stats", "--engine", engine],
            &db,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&out);
        assert_eq!(v["stack"], serde_json::json!([i + 1]), "{engine}");
        assert_eq!(v["stats"]["instructions"], 6, "{engine}");
    }
    assert_eq!(
        json(&state(&db, true))["contract_states"]["counter"]["count"],
        3
    );
}
