//! `coopvm trace` against expected output: the traces of the examples are kept in
//! `tests/golden/`. After an intended change of the trace format or of the examples,
//! regenerate them with `COOPVM_BLESS=1 cargo test --test integration trace::` and review
//! the diff.

use crate::common;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn coopvm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coopvm"))
        .current_dir(root())
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .expect("run coopvm")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// (golden file, arguments after `trace`, expected exit code)
const CASES: &[(&str, &[&str], i32)] = &[
    ("counter.trace", &["examples/counter.casm"], 0),
    ("subroutine.trace", &["examples/subroutine.casm"], 0),
    ("rollback.trace", &["examples/rollback.casm"], 1),
    ("loop.trace", &["examples/loop.casm"], 0),
    (
        "fib.limit200.trace",
        &["examples/fib.casm", "--limit", "200"],
        0,
    ),
    (
        "fib.gas120.trace",
        &["examples/fib.casm", "--gas-limit", "120"],
        1,
    ),
    (
        "loop.limit30.jsonl",
        &["examples/loop.casm", "--limit", "30", "--json"],
        0,
    ),
    ("rollback.jsonl", &["examples/rollback.casm", "--json"], 1),
    (
        "subroutine.depth0.trace",
        &["examples/subroutine.casm", "--call-depth", "0"],
        1,
    ),
];

#[test]
fn traces_of_the_examples_match_the_golden_files() {
    let bless = std::env::var_os("COOPVM_BLESS").is_some();
    let dir = root().join("tests").join("golden");
    let mut failures = Vec::new();
    for (golden, args, code) in CASES {
        let mut all = vec!["trace"];
        all.extend_from_slice(args);
        let out = coopvm(&all);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{golden}: {}",
            text(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{golden}: {}", text(&out.stderr));
        let got = text(&out.stdout);
        let path = dir.join(golden);
        if bless {
            std::fs::create_dir_all(&dir).expect("create tests/golden");
            std::fs::write(&path, &got).expect("write golden file");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run COOPVM_BLESS=1 cargo test --test integration trace::)",
                path.display()
            )
        });
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(g, w)| g != w)
                .map_or(got.lines().count().min(want.lines().count()), |i| i);
            failures.push(format!(
                "{golden}: first difference at line {}:\n  got:  {:?}\n  want: {:?}",
                line + 1,
                got.lines().nth(line),
                want.lines().nth(line)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "traces differ from tests/golden (if intended, regenerate with COOPVM_BLESS=1):\n{}",
        failures.join("\n")
    );
}

#[test]
fn json_traces_are_one_object_per_line_and_end_like_run_on_every_example() {
    for (example, _) in common::runnable_examples() {
        let file = format!("examples/{example}");
        let args = common::example_args(&example).join(",");
        let out = coopvm(&["trace", &file, "--json", "--args", &args]);
        let lines: Vec<Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let end = lines.last().expect("an end line");
        let run = coopvm(&["run", &file, "--json", "--stats", "--args", &args]);
        let run: Value = serde_json::from_slice(&run.stdout).expect("run --json");
        assert_eq!(end["end"], run["status"], "{example}");
        assert_eq!(end["stack"], run["stack"], "{example}");
        assert_eq!(end["gas_used"], run["gas_used"], "{example}");
        assert_eq!(end["error"], run["error"], "{example}");
        // One line per instruction, numbered from 1, as many as the stats count (or the
        // limit, followed by the truncation line).
        let mut steps = &lines[..lines.len() - 1];
        let shown = match steps.last() {
            Some(t) if t["truncated"] == true => {
                steps = &steps[..steps.len() - 1];
                assert_eq!(t["after"], 10_000, "{example}");
                10_000
            }
            _ => end["steps"].as_u64().unwrap(),
        };
        // (A run refused before it started has no stats: it executed nothing.)
        let executed = match &run["stats"] {
            Value::Null => Value::from(0),
            stats => stats["instructions"].clone(),
        };
        assert_eq!(end["steps"], executed, "{example}");
        assert_eq!(steps.len() as u64, shown, "{example}");
        for (i, s) in steps.iter().enumerate() {
            assert_eq!(s["step"], i as u64 + 1);
            assert!(s["gas_left"].as_u64().is_some());
            assert!(s["stack"].is_array());
        }
        // Gas left never grows.
        let gas: Vec<u64> = steps
            .iter()
            .map(|s| s["gas_left"].as_u64().unwrap())
            .collect();
        assert!(gas.windows(2).all(|w| w[0] >= w[1]), "{example}");
    }
}

#[test]
fn the_limit_bounds_the_output_but_not_the_run() {
    let out = coopvm(&["trace", "examples/fib.casm", "--limit", "3"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    // Header, 3 instructions, the truncation line, the end line.
    assert_eq!(lines.len(), 6, "{stdout}");
    assert!(lines[4].starts_with("... truncated after 3 instructions"));
    assert!(lines[5].starts_with("end: ok after 207963 instructions, stack [6765]"));
    let out = coopvm(&["trace", "examples/fib.casm", "--limit", "0", "--json"]);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], r#"{"truncated":true,"after":0}"#);
}

#[test]
fn the_default_limit_is_ten_thousand_lines() {
    let out = coopvm(&["trace", "examples/fib.casm"]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1 + 10_000 + 2);
}

#[test]
fn binary_contracts_trace_without_source_lines() {
    let dir = common::scratch("trace", "binary");
    let cvm = dir.join("counter.cvm");
    let cvm = cvm.to_str().unwrap();
    let out = coopvm(&["assemble", "examples/counter.casm", "-o", cvm]);
    assert_eq!(out.status.code(), Some(0));
    let out = coopvm(&["trace", cvm]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let first = stdout.lines().nth(1).unwrap();
    assert!(first.contains("      0     -  load count"), "{first}");
    let out = coopvm(&["trace", cvm, "--json", "--limit", "1"]);
    let first: Value = serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["line"], Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trace_errors_are_usage_errors() {
    let out = coopvm(&["trace", "examples/no-such-file.casm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no-such-file"));
    let out = coopvm(&["trace", "examples/counter.casm", "--limit", "-1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_refused_run_traces_no_instruction() {
    let dir = common::scratch("trace", "refused");
    let file = dir.join("p.casm");
    std::fs::write(&file, ".permission admin\npush 1\n").unwrap();
    let out = coopvm(&["trace", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("end: error permission_denied after 0 instructions"));
    let out = coopvm(&["trace", file.to_str().unwrap(), "--permission", "admin"]);
    assert_eq!(out.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
