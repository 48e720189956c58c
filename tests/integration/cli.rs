//! End-to-end tests of the `coopvm` binary on the examples: exit codes, `--json` fields,
//! located errors.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coopvm"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example(name: &str) -> String {
    root().join("examples").join(name).display().to_string()
}

fn coopvm(args: &[&str]) -> Output {
    bin().args(args).output().expect("run coopvm")
}

fn json_run(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["run", "--json", "--engine", "interp"];
    all.extend_from_slice(args);
    let out = coopvm(&all);
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code().unwrap(), v)
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn counter_runs() {
    let (code, v) = json_run(&[&example("counter.casm")]);
    assert_eq!(code, 0);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["stack"], serde_json::json!([1]));
    assert_eq!(v["gas_used"], 10);
    assert_eq!(v["state"]["count"], 1);
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["events"], serde_json::json!([]));
    assert_eq!(v["logs"], serde_json::json!([]));
}

#[test]
fn every_example_has_the_expected_outcome() {
    let cases: &[(&str, i32, &str, Value)] = &[
        ("loop.casm", 0, "ok", serde_json::json!([5050])),
        ("fib.casm", 0, "ok", serde_json::json!([6765])),
        ("subroutine.casm", 0, "ok", serde_json::json!([162])),
        ("rollback.casm", 1, "error", serde_json::json!([])),
    ];
    for (file, want_code, status, stack) in cases {
        let (code, v) = json_run(&[&example(file)]);
        assert_eq!(code, *want_code, "{file}: {v}");
        assert_eq!(v["status"], *status, "{file}");
        assert_eq!(v["stack"], *stack, "{file}");
        assert!(v["gas_used"].as_u64().unwrap() > 0, "{file}");
    }
}

#[test]
fn failing_run_rolls_back_and_reports_the_error() {
    let (code, v) = json_run(&[&example("rollback.casm")]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["kind"], "division_by_zero");
    assert_eq!(v["error"]["line"], 17);
    assert_eq!(v["state"]["total"], 10, "state change rolled back");
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "Error");
    assert_eq!(events[0]["fields"]["kind"], "division_by_zero");
    assert_eq!(v["logs"], serde_json::json!([1]));
    // Human output names the place and says what happened.
    let out = coopvm(&["run", &example("rollback.casm")]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(s.contains("rollback.casm:17:5"), "{s}");
    assert!(s.contains("rolled back"), "{s}");
}

#[test]
fn gas_limit_and_context_options() {
    let (code, v) = json_run(&[&example("fib.casm"), "--gas-limit", "1000"]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["kind"], "out_of_gas");
    assert_eq!(v["gas_used"], 1000);
    let dir = tempdir("ctx");
    let f = dir.join("ctx.casm");
    std::fs::write(
        &f,
        ".permission vote\n.reputation 5\ngettimestamp\ngetblock\ngetcaller\n",
    )
    .unwrap();
    let f = f.display().to_string();
    let (code, v) = json_run(&[&f]);
    assert_eq!(
        (code, v["error"]["kind"].clone()),
        (1, "permission_denied".into())
    );
    assert_eq!(v["gas_used"], 0);
    let (code, v) = json_run(&[&f, "--permission", "vote", "--reputation", "4"]);
    assert_eq!(
        (code, v["error"]["kind"].clone()),
        (1, "insufficient_reputation".into())
    );
    let (code, v) = json_run(&[
        &f,
        "--permission",
        "vote",
        "--reputation",
        "5",
        "--timestamp",
        "99",
        "--block",
        "7",
        "--caller",
        "did:key:me",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stack"], serde_json::json!([99, 7, 0]));
}

#[test]
fn args_are_the_inputs_of_a_run() {
    let dir = tempdir("args");
    let f = dir.join("pay.casm");
    std::fs::write(
        &f,
        ".contract pay\n.params 3\n; [who, amount, fee]\nsub\nswap\ngetcaller\nstreq\n",
    )
    .unwrap();
    let f = f.display().to_string();
    // Integers and `s:` strings, deepest first; the string is a handle the run made.
    let (code, v) = json_run(&[&f, "--args", "s:did:key:me,50,-2", "--caller", "did:key:me"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stack"], serde_json::json!([52, 1]));
    assert_eq!(v["gas_used"], 1 + 1 + 2 + 3 + 1);
    // The same for trace and for every engine.
    for engine in ["interp", "jit", "auto"] {
        let out = coopvm(&["run", &f, "--engine", engine, "--args", "s:x,1,1", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["stack"], serde_json::json!([0, 0]), "{engine}");
    }
    let out = coopvm(&["trace", &f, "--args", "s:x,1,1"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("end: ok"),
        "{}",
        text(&out.stdout)
    );
    // A wrong count is a usage error naming both counts, for run and trace.
    for args in [&["--args", "1,2"][..], &[], &["--args", "1,2,3,4"]] {
        for cmd in ["run", "trace"] {
            let mut all = vec![cmd, &f];
            all.extend_from_slice(args);
            let out = coopvm(&all);
            assert_eq!(out.status.code(), Some(2), "{cmd} {args:?}");
            let err = text(&out.stderr);
            let given = args.get(1).map_or(0, |a| a.split(',').count());
            assert!(
                err.contains(&format!(
                    "takes 3 input(s) (`.params 3`), but --args gives {given}"
                )),
                "{err}"
            );
        }
    }
    // A bad value is a usage error too; a contract without `.params` takes none.
    let out = coopvm(&["run", &f, "--args", "1,x,2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`x` is neither"),
        "{}",
        text(&out.stderr)
    );
    let out = coopvm(&["run", &example("counter.casm"), "--args", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("takes 0 input(s)"));
}

#[test]
fn limits_are_configurable() {
    let (code, v) = json_run(&[&example("fib.casm"), "--call-depth", "5"]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["kind"], "call_depth_exceeded");
    // Absurd limits are refused before anything is allocated.
    let out = coopvm(&[
        "run",
        &example("counter.casm"),
        "--stack-limit",
        "4000000000",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("above the maximum"),
        "{}",
        text(&out.stderr)
    );
    let out = coopvm(&["check", &example("loop.casm"), "--stack-limit", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("above the limit of 2"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn transient_keys_flag_limits_transient_memory() {
    let dir = tempdir("transient");
    let f = dir.join("t.casm");
    std::fs::write(&f, "push 1\ntstore a\npush 2\ntstore b\n").unwrap();
    let f = f.display().to_string();
    let (code, v) = json_run(&[&f, "--transient-keys", "2"]);
    assert_eq!(code, 0, "{v}");
    let (code, v) = json_run(&[&f, "--transient-keys", "1"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["error"]["kind"], "memory_limit_exceeded", "{v}");
    let out = coopvm(&["run", &f, "--transient-keys", "-1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_reports_structure() {
    let out = coopvm(&["check", &example("fib.casm")]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(s.contains("2 subroutine(s)"), "{s}");
}

#[test]
fn check_json_reports_structure_and_errors_as_one_object() {
    let out = coopvm(&["check", &example("fib.casm"), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["subroutines"], 2);
    assert!(v["instructions"].as_u64().unwrap() > 0, "{v}");
    assert!(v["max_stack"].as_u64().unwrap() > 0, "{v}");
    let dir = tempdir("check-json");
    let f = dir.join("bad.casm");
    std::fs::write(&f, "push 1\n  ad\n").unwrap();
    let out = coopvm(&["check", &f.display().to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["error"]["kind"], "assembly", "{v}");
}

#[test]
fn assembly_errors_are_located_and_exit_2() {
    let dir = tempdir("asm");
    let f = dir.join("bad.casm");
    std::fs::write(&f, "push 1\n  ad\n").unwrap();
    for cmd in ["run", "check", "disasm"] {
        let out = coopvm(&[cmd, &f.display().to_string()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.contains("bad.casm:2:3"), "{cmd}: {err}");
        assert!(err.contains("unknown instruction `ad`"), "{err}");
        assert!(err.contains("did you mean `add`?"), "{err}");
    }
}

#[test]
fn verification_errors_are_located_and_exit_2() {
    let dir = tempdir("verify");
    let f = dir.join("under.casm");
    std::fs::write(&f, "push 1\n\nadd\n").unwrap();
    let out = coopvm(&["run", &f.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("under.casm:3:1"), "{err}");
    assert!(
        err.contains("needs 2 value(s) but the stack holds 1"),
        "{err}"
    );
}

#[test]
fn disasm_output_reassembles_and_binary_form_runs_the_same() {
    let dir = tempdir("disasm");
    for name in [
        "counter.casm",
        "loop.casm",
        "fib.casm",
        "subroutine.casm",
        "rollback.casm",
    ] {
        let out = coopvm(&["disasm", &example(name)]);
        assert_eq!(out.status.code(), Some(0));
        let text_path = dir.join(name);
        std::fs::write(&text_path, &out.stdout).unwrap();
        let bin_path = dir.join(name.replace(".casm", ".cvm"));
        let a = coopvm(&[
            "assemble",
            &example(name),
            "-o",
            &bin_path.display().to_string(),
        ]);
        assert_eq!(a.status.code(), Some(0));
        let b = coopvm(&[
            "assemble",
            &text_path.display().to_string(),
            "-o",
            &dir.join("again.cvm").display().to_string(),
        ]);
        assert_eq!(b.status.code(), Some(0));
        assert_eq!(
            std::fs::read(&bin_path).unwrap(),
            std::fs::read(dir.join("again.cvm")).unwrap(),
            "{name}"
        );
        let (c1, v1) = json_run(&[&example(name)]);
        let (c2, v2) = json_run(&[&bin_path.display().to_string()]);
        assert_eq!(c1, c2);
        assert_eq!(v1["stack"], v2["stack"]);
        assert_eq!(v1["gas_used"], v2["gas_used"]);
        assert_eq!(v1["state"], v2["state"]);
    }
}

#[test]
fn usage_errors_exit_2_and_help_teaches() {
    assert_eq!(coopvm(&[]).status.code(), Some(2));
    assert_eq!(coopvm(&["run"]).status.code(), Some(2));
    assert_eq!(
        coopvm(&["run", "x.casm", "--gas-limit", "lots"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        coopvm(&["run", "/no/such/file.casm"]).status.code(),
        Some(2)
    );
    let help = coopvm(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let h = text(&help.stdout);
    assert!(h.contains("coopvm run examples/counter.casm"), "{h}");
    let run_help = text(&coopvm(&["run", "--help"]).stdout);
    for opt in [
        "--gas-limit",
        "--caller",
        "--reputation",
        "--permission",
        "--timestamp",
        "--block",
        "--args",
        "--json",
    ] {
        assert!(run_help.contains(opt), "{opt} missing from run --help");
    }
}

#[test]
fn docs_match_the_instruction_table() {
    let out = coopvm(&["docs"]);
    let generated = text(&out.stdout);
    let committed = std::fs::read_to_string(root().join("docs/opcodes.md")).unwrap();
    assert_eq!(
        generated, committed,
        "docs/opcodes.md is stale: regenerate it with `cargo run -- docs > docs/opcodes.md`"
    );
}

#[test]
fn errors_are_printed_once_with_the_error_prefix() {
    let dir = tempdir("errors");
    let bad = dir.join("bad.casm");
    std::fs::write(&bad, "push 1\n  ad\n").unwrap();
    let bad = bad.display().to_string();
    let unwritable = dir.join("no/such/dir/out.bin").display().to_string();
    let relation = example("relation_square.casm");
    let cases: [(&[&str], &str); 6] = [
        (
            &["run", "/no/such/file.casm"],
            "error: cannot read /no/such/file.casm",
        ),
        (&["eval", &bad], "error: unknown instruction `ad`"),
        (&["check", &bad], "error: unknown instruction `ad`"),
        (
            &["assemble", &example("loop.casm"), "-o", &unwritable],
            "error: cannot write ",
        ),
        (
            &[
                "prove",
                &relation,
                "--public",
                "x",
                "--private",
                "1",
                "-o",
                &unwritable,
            ],
            "error: `x` is neither",
        ),
        (&["state", &unwritable], "error: no state database at "),
    ];
    for (args, start) in cases {
        let out = coopvm(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.starts_with(start), "{args:?}: {err}");
        assert_eq!(err.matches("error:").count(), 1, "{args:?}: {err}");
    }
}

fn tempdir(tag: &str) -> PathBuf {
    crate::common::scratch("cli", tag)
}
