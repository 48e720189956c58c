//! Crash safety of `coopvm run --state`: a process killed at any moment, or aborting between
//! writing and committing, leaves the database with every committed run intact and no part
//! of any other run.
//!
//! The contract increments a counter and emits an event carrying the new value, so a partial
//! run would show up as a counter that disagrees with the event log or the run counter.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_coopvm");

const TICK: &str = ".contract tick\n.state n 0\n\
    load n\npush 1\nadd\ndup\nstore n\n\
    push \"Tick\"\nswap\nemitevent\n";

fn setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = crate::common::scratch("crash", name);
    let src = dir.join("tick.casm");
    std::fs::write(&src, TICK).unwrap();
    (src, dir.join("state.redb"))
}

fn run(src: &Path, db: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("run").arg(src).arg("--state").arg(db);
    c
}

/// Checks the database is consistent and returns the number of committed runs.
fn committed(db: &Path) -> i64 {
    if !db.exists() {
        return 0; // killed before it created the database
    }
    let out = Command::new(BIN)
        .arg("state")
        .arg(db)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = s["contract_states"]["tick"]["n"].as_i64().unwrap_or(0);
    assert_eq!(
        s["meta"]["runs"].as_i64().unwrap_or(0),
        n,
        "runs vs counter"
    );
    let events = s["events"].as_array().unwrap();
    assert_eq!(events.len() as i64, n, "events vs counter");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["name"], "Tick");
        assert_eq!(e["seq"], i as u64);
        assert_eq!(e["fields"]["value"], i as i64 + 1, "event {i}");
    }
    n
}

#[test]
fn abort_between_write_and_commit_leaves_no_trace() {
    let (src, db) = setup("abort");
    for _ in 0..3 {
        assert!(run(&src, &db).output().unwrap().status.success());
    }
    assert_eq!(committed(&db), 3);
    let out = run(&src, &db)
        .env("COOPVM_CRASH_BEFORE_COMMIT", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process should have aborted");
    assert_eq!(committed(&db), 3);
    // The database keeps working after the crash.
    assert!(run(&src, &db).output().unwrap().status.success());
    assert_eq!(committed(&db), 4);
}

#[test]
fn killed_processes_never_leave_partial_runs() {
    let (src, db) = setup("kill");
    // Measure an uninterrupted run, then kill runs at moments spread over 0..1.3 times that:
    // before opening, while running, while committing, and after.
    assert!(run(&src, &db).output().unwrap().status.success());
    let start = std::time::Instant::now();
    assert!(run(&src, &db).output().unwrap().status.success());
    let span = start.elapsed().mul_f64(1.3);
    let attempts = 24u32;
    let mut completed = 2;
    for i in 0..attempts {
        let mut child = run(&src, &db)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(span * i / attempts);
        let _ = child.kill();
        if child.wait().unwrap().success() {
            completed += 1;
        }
        // Consistent after every kill.
        let n = committed(&db);
        assert!(
            n >= completed && n <= i as i64 + 3,
            "{n} runs after {i} kills"
        );
    }
    let n = committed(&db);
    eprintln!(
        "{attempts} killed processes, {} of them finished first; {n} runs committed in all",
        completed - 2
    );
    assert!(n >= completed, "every completed run is committed");
    // And the database still works.
    assert!(run(&src, &db).output().unwrap().status.success());
    assert_eq!(committed(&db), n + 1);
}
