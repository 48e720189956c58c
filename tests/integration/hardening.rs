//! The CLI end to end against hostile use (issue 13): the library fixes seen from the command
//! line (contract hijacking, anonymous identities, empty and endless inputs, reputation
//! bounds, corrupted and read-only databases), output a contract cannot forge, `--json` on
//! every failure, and the CLI's edges.

use crate::common::example;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_coopvm");

fn dir(name: &str) -> PathBuf {
    crate::common::scratch("hardening", name)
}

fn coopvm<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("killed by a signal")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    let text = stdout(out);
    assert_eq!(text.lines().count(), 1, "one JSON line expected: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_deployed_contract_cannot_be_hijacked() {
    let d = dir("hijack");
    let db = d.join("s.redb").display().to_string();
    let evil = write(&d.join("evil.casm"), ".contract doubler\npush 99\n");
    let doubler = example("calls/doubler.casm");
    let caller = example("calls/caller.casm");
    let out = coopvm(&[
        "deploy",
        &doubler,
        "--state",
        &db,
        "--caller",
        "did:key:alice",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = coopvm(&[
        "deploy",
        &evil,
        "--state",
        &db,
        "--caller",
        "did:key:mallory",
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("only its owner can replace it"),
        "{}",
        stderr(&out)
    );
    let out = coopvm(&["deploy", &evil, "--state", &db, "--caller", "did:key:alice"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("upgrade"), "{}", stderr(&out));
    let out = coopvm(&["run", &evil, "--state", &db, "--json"]);
    assert_eq!(code(&out), 1);
    assert_eq!(json(&out)["error"]["kind"], "already_exists");
    let out = coopvm(&["run", &caller, "--state", &db, "--json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(json(&out)["stack"], serde_json::json!([42]));
    let out = coopvm(&[
        "upgrade",
        &evil,
        "--state",
        &db,
        "--caller",
        "did:key:mallory",
    ]);
    assert_eq!(code(&out), 2);
    let out = coopvm(&[
        "upgrade",
        &evil,
        "--state",
        &db,
        "--caller",
        "did:key:alice",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("upgraded `doubler` to revision 2"),
        "{}",
        stdout(&out)
    );
    let out = coopvm(&["run", &caller, "--state", &db, "--json"]);
    assert_eq!(json(&out)["stack"], serde_json::json!([99]));
}

#[test]
fn anonymous_contracts_keep_their_own_state() {
    let d = dir("anon");
    let db = d.join("s.redb").display().to_string();
    let a = write(
        &d.join("a.casm"),
        ".state n 0\nload n\npush 1\nadd\ndup\nstore n\n",
    );
    let b = write(
        &d.join("b.casm"),
        ".state n 0\nload n\npush 10\nadd\ndup\nstore n\n",
    );
    let run = |f: &str| json(&coopvm(&["run", f, "--state", &db, "--json"]));
    let r = run(&a);
    assert_eq!(r["stack"], serde_json::json!([1]));
    let id_a = r["contract"].as_str().unwrap().to_owned();
    assert_eq!(run(&a)["stack"], serde_json::json!([2]));
    let r = run(&b);
    assert_eq!(r["stack"], serde_json::json!([10]));
    let id_b = r["contract"].as_str().unwrap();
    assert!(id_a.starts_with("c_") && id_b.starts_with("c_"));
    assert_ne!(id_a, id_b);
}

#[test]
fn empty_and_endless_inputs_are_refused() {
    let d = dir("empty");
    let empty = write(&d.join("empty.casm"), "");
    let comments = write(&d.join("c.casm"), "; nothing\n  ; at all\n");
    for f in [&empty, &comments] {
        for cmd in ["run", "check"] {
            let out = coopvm(&[cmd, f]);
            assert_eq!(code(&out), 2, "{cmd} {f}");
            assert!(stderr(&out).contains("no instructions"), "{}", stderr(&out));
        }
    }
    if Path::new("/dev/zero").exists() {
        for args in [
            vec!["run", "/dev/zero"],
            vec!["decode", "/dev/zero"],
            vec!["eval", "/dev/zero"],
        ] {
            let out = coopvm(&args);
            assert_eq!(code(&out), 2, "{args:?}");
            assert!(stderr(&out).contains("input limit"), "{}", stderr(&out));
        }
    }
}

#[test]
fn reputation_is_bounded_and_stored_scores_are_used() {
    let d = dir("rep");
    let db = d.join("r.redb").display().to_string();
    let g = write(
        &d.join("g.casm"),
        ".contract guarded\n.reputation 50\npush 1\n",
    );
    let eve = ["--caller", "did:key:eve"];
    let out = coopvm(
        &[
            &["run", &g, "--state", &db, "--reputation", "10000000"][..],
            &eve,
        ]
        .concat(),
    );
    assert_eq!(code(&out), 2);
    let out = coopvm(&[&["run", &g, "--state", &db, "--json"][..], &eve].concat());
    assert_eq!(code(&out), 1);
    assert_eq!(json(&out)["error"]["kind"], "insufficient_reputation");
    assert_eq!(code(&coopvm(&["run", &g, "--reputation", "50"])), 0);
    assert_eq!(code(&coopvm(&["run", &g, "--reputation", "10000000"])), 2);
}

fn counter_db(d: &Path) -> PathBuf {
    let db = d.join("c.redb");
    for _ in 0..3 {
        let out = coopvm(&[
            "run".as_ref(),
            example("counter.casm").as_ref(),
            "--state".as_ref(),
            db.as_os_str(),
        ]);
        assert_eq!(code(&out), 0);
    }
    db
}

#[test]
fn a_corrupted_database_is_reported_never_a_panic() {
    let d = dir("corrupt");
    let db = counter_db(&d);
    let bytes = std::fs::read(&db).unwrap();
    let at: Vec<usize> = bytes
        .windows(7)
        .enumerate()
        .filter(|(_, w)| *w == b"counter")
        .map(|(i, _)| i)
        .collect();
    assert!(!at.is_empty());
    let mut corrupted = 0;
    for (n, i) in at.iter().enumerate() {
        let mut copy = bytes.clone();
        copy[*i] ^= 0x80;
        for cmd in ["state", "run"] {
            let path = d.join(format!("copy{n}-{cmd}.redb"));
            std::fs::write(&path, &copy).unwrap();
            let out = if cmd == "state" {
                coopvm(&["state".as_ref(), path.as_os_str()])
            } else {
                coopvm(&[
                    "run".as_ref(),
                    example("counter.casm").as_ref(),
                    "--state".as_ref(),
                    path.as_os_str(),
                ])
            };
            let c = code(&out);
            assert!(
                c == 0 || c == 2,
                "{cmd} copy {n}: exit {c}: {}",
                stderr(&out)
            );
            assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
            if stderr(&out).contains("state database is corrupted") {
                corrupted += 1;
            }
            if c == 2 {
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    copy,
                    "{cmd} copy {n} changed the file"
                );
            }
        }
    }
    assert!(corrupted > 0, "no copy was reported corrupted");
}

#[test]
fn state_is_read_only() {
    let d = dir("ro");
    let db = counter_db(&d);
    let before = std::fs::read(&db).unwrap();
    assert_eq!(code(&coopvm(&["state".as_ref(), db.as_os_str()])), 0);
    assert_eq!(std::fs::read(&db).unwrap(), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
        let out = coopvm(&["state".as_ref(), db.as_os_str()]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(std::fs::read(&db).unwrap(), before);
    }
}

#[test]
fn a_database_of_a_failed_run_dumps_empty_sections() {
    let d = dir("failed");
    let db = d.join("s.redb").display().to_string();
    let out = coopvm(&["run", &example("rollback.casm"), "--state", &db]);
    assert_eq!(code(&out), 1);
    let v = json(&coopvm(&["state", &db, "--json"]));
    for section in [
        "members",
        "proposals",
        "ballots",
        "delegations",
        "federation_members",
    ] {
        assert_eq!(v[section], serde_json::json!([]), "{section}: {v}");
    }
    assert_eq!(v["contracts"], serde_json::json!({}));
}

#[test]
fn contract_text_cannot_forge_output() {
    let d = dir("forge");
    let f = write(
        &d.join("f.casm"),
        "push \"x\\nerror: division_by_zero\"\npush 1\nemitevent\n\
         push \"Error\"\npush 2\nemitevent\npush \"\\u{1b}[2J\\u{202e}\"\npush 3\nemitevent\n",
    );
    let out = coopvm(&["run", &f]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(!text.lines().any(|l| l.starts_with("error")), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text}"
    );
    assert!(
        text.contains("event:    contract event \"Error\" value=2"),
        "{text}"
    );
    let trace = stdout(&coopvm(&["trace", &f]));
    assert!(
        !trace.contains('\u{1b}') && !trace.lines().any(|l| l.starts_with("error")),
        "{trace}"
    );
    // JSON: escaped by serde, and every event says who emitted it.
    let v = json(&coopvm(&["run", &f, "--json"]));
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["source"] == "contract"));
    // The host's own error event is `source: host`.
    let z = write(&d.join("z.casm"), "push 1\npush 0\ndiv\n");
    let v = json(&coopvm(&["run", &z, "--json"]));
    assert_eq!(v["events"][0]["name"], "Error");
    assert_eq!(v["events"][0]["source"], "host");
    // A stored event log keeps the source.
    let db = d.join("s.redb").display().to_string();
    assert_eq!(code(&coopvm(&["run", &f, "--state", &db])), 0);
    let dump = stdout(&coopvm(&["state", &db, "--json"]));
    assert!(dump.contains("\"source\":\"contract\""), "{dump}");
    let human = stdout(&coopvm(&["state", &db]));
    assert!(
        !human.contains('\u{1b}') && !human.contains('\u{202e}'),
        "{human}"
    );
    // Error messages quoting contract text.
    let id = write(
        &d.join("id.casm"),
        ".contract \"a\\nerror: b\\u{1b}\"\npush \"x\"\npush 1\ncallcontract\n",
    );
    let out = coopvm(&["run", &id]);
    assert!(!stdout(&out).contains('\u{1b}') && !stderr(&out).contains('\u{1b}'));
    let nul = write(&d.join("nul.casm"), "push \"a\\0b\"\npush 1\nemitevent\n");
    let out = coopvm(&["run", &nul]);
    assert!(!stdout(&out).contains('\0'), "{}", stdout(&out));
}

fn error_json(out: &Output, kind: &str) -> Value {
    assert_eq!(code(out), 2, "{}", stderr(out));
    let v = json(out);
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["error"]["kind"], kind, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert!(stderr(out).starts_with("error:"), "{}", stderr(out));
    v
}

#[test]
fn every_failure_under_json_is_one_json_object() {
    let d = dir("json");
    let bad = write(&d.join("bad.casm"), "push 1\nfrob\n");
    let unverifiable = write(&d.join("v.casm"), "push 1\nadd\n");
    let missing = d.join("missing.casm").display().to_string();
    let empty = write(&d.join("e.casm"), "");
    let notdb = write(&d.join("not.redb"), "hello, not a database");
    let good = example("counter.casm");
    for cmd in ["run", "trace"] {
        let v = error_json(&coopvm(&[cmd, &bad, "--json"]), "assembly");
        assert_eq!(v["error"]["location"]["line"], 2);
        assert_eq!(v["error"]["location"]["column"], 1);
        let v = error_json(&coopvm(&[cmd, &unverifiable, "--json"]), "verification");
        assert_eq!(v["error"]["location"]["line"], 2);
        error_json(&coopvm(&[cmd, &missing, "--json"]), "io");
        error_json(&coopvm(&[cmd, &empty, "--json"]), "empty_contract");
        error_json(
            &coopvm(&[cmd, &good, "--json", "--gas-limit", "x"]),
            "usage",
        );
    }
    error_json(
        &coopvm(&["run", &good, "--json", "--state", &notdb]),
        "state_database_open",
    );
    error_json(&coopvm(&["state", &missing, "--json"]), "no_state_database");
    error_json(&coopvm(&["state", &notdb, "--json"]), "state_database_open");
    error_json(&coopvm(&["eval", &missing, "--json"]), "io");
    error_json(&coopvm(&["eval", &good, "--json", "--args", "zz"]), "usage");
    if Path::new("/dev/zero").exists() {
        error_json(&coopvm(&["run", "/dev/zero", "--json"]), "input_too_large");
    }
}

#[test]
fn the_cli_edges() {
    let d = dir("edges");
    let src = d.join("f.casm");
    let text = "push 1\n";
    write(&src, text);
    // assemble -o the input (however named) refuses and keeps the source.
    let same = d.join(".").join("f.casm");
    let out = coopvm(&[
        "assemble".as_ref(),
        src.as_os_str(),
        "-o".as_ref(),
        same.as_os_str(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).starts_with("error: refusing to write"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&src).unwrap(), text);
    let out = coopvm(&[
        "encode".as_ref(),
        src.as_os_str(),
        "-o".as_ref(),
        src.as_os_str(),
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read_to_string(&src).unwrap(), text);
    // A coopvm function whose code is invalid: an error saying so, not a foreign function.
    let dv = coopvm::vmi::DataValue::FunctionV {
        vm: coopvm::vmi::COOPVM_NUMBER,
        code: b"hello".to_vec(),
    };
    let bad = d.join("bad.dv");
    std::fs::write(&bad, dv.to_bytes()).unwrap();
    for cmd in ["decode", "eval"] {
        let out = coopvm(&[cmd.as_ref(), bad.as_os_str()]);
        assert_eq!(code(&out), 2, "{cmd}");
        assert!(stderr(&out).contains("code is invalid"), "{}", stderr(&out));
        assert!(!stdout(&out).contains("fn<vm"), "{}", stdout(&out));
    }
    // A huge value is quoted cut.
    let big = coopvm::vmi::DataValue::Bytes(vec![b'A'; 1 << 20]);
    let big_path = d.join("big.dv");
    std::fs::write(&big_path, big.to_bytes()).unwrap();
    let out = coopvm(&["eval".as_ref(), big_path.as_os_str()]);
    assert_eq!(code(&out), 2);
    assert!(
        out.stderr.len() < 1000,
        "{} bytes of error",
        out.stderr.len()
    );
    let out = coopvm(&[
        "eval",
        &src.display().to_string(),
        "--args",
        &"9".repeat(100_000),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        out.stderr.len() < 1000,
        "{} bytes of error",
        out.stderr.len()
    );
}

#[test]
fn absurd_flags_get_clear_errors() {
    let d = dir("flags");
    let c = example("counter.casm");
    let out = coopvm(&["run", &c, "--gas-limit", "-1"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("invalid value '-1'"),
        "{}",
        stderr(&out)
    );
    let out = coopvm(&["run", &c, "--stack-limit", "4294967295"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("above the maximum"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&coopvm(&["run", &c, "--gas-limit", "0"])), 1);
    let dir_arg = d.display().to_string();
    assert_eq!(code(&coopvm(&["run", &dir_arg])), 2);
    assert_eq!(code(&coopvm(&["state", &dir_arg])), 2);
    #[cfg(unix)]
    {
        // A FIFO as a state database: refused at once, not opened (which would block).
        let fifo = d.join("fifo");
        let made = Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let f = fifo.display().to_string();
            let out = coopvm(&["state", &f, "--json"]);
            assert_eq!(code(&out), 2);
            assert_eq!(json(&out)["error"]["kind"], "usage");
            assert_eq!(code(&coopvm(&["run", &c, "--state", &f])), 2);
        }
    }
}
