//! End to end: DID registration and ed25519 signature checks through the CLI, against a
//! `--state` database (`examples/identity/`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_coopvm");
const DID: &str = "did:key:z6MkgAnvkP45uNxwCKeNdt6wrYkEjpYX4f7Nrd8MQqFL8Fbn";

fn dir(name: &str) -> PathBuf {
    crate::common::scratch("identity", name)
}

fn run(file: &Path, db: &Path, caller: &str) -> (i32, Value) {
    let out = Command::new(BIN)
        .arg("run")
        .arg(file)
        .args(["--json", "--caller", caller, "--state"])
        .arg(db)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), json)
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/examples/identity/{name}.casm",
        env!("CARGO_MANIFEST_DIR")
    ))
}

#[test]
fn register_then_verify_a_did_key_signature() {
    let d = dir("verify");
    let db = d.join("id.redb");
    // Not registered yet: the signature is not accepted.
    let (code, out) = run(&example("verify"), &db, "did:key:anyone");
    assert_eq!((code, &out["stack"]), (0, &serde_json::json!([0])));

    let (code, out) = run(&example("register"), &db, DID);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["events"][0]["name"], "DidDocumentUpdated");
    assert_eq!(out["events"][0]["fields"]["controller"], DID);

    let (code, out) = run(&example("verify"), &db, "did:key:anyone");
    assert_eq!((code, &out["stack"]), (0, &serde_json::json!([1])));

    // The same signature over another payload does not verify (a contract of its own: the
    // id `id_verify` is deployed with the original code).
    let src = std::fs::read_to_string(example("verify"))
        .unwrap()
        .replace("I approve proposal 1\"", "I approve proposal 2\"")
        .replace(".contract id_verify", ".contract id_verify_tampered");
    let tampered = d.join("tampered.casm");
    std::fs::write(&tampered, src).unwrap();
    let (_, out) = run(&tampered, &db, "did:key:anyone");
    assert_eq!(out["stack"], serde_json::json!([0]));
}

#[test]
fn only_the_controller_changes_a_document() {
    let d = dir("controller");
    let db = d.join("id.redb");
    assert_eq!(run(&example("register"), &db, DID).0, 0);
    let hijack = d.join("hijack.casm");
    std::fs::write(
        &hijack,
        format!(".contract hijack\npush \"{DID}\"\npush \"{{}}\"\nupdatediddocument\n"),
    )
    .unwrap();
    let (code, out) = run(&hijack, &db, "did:key:mallory");
    assert_eq!(code, 1);
    assert_eq!(out["error"]["kind"], "not_controller");
    // The controller itself may.
    let (code, _) = run(&hijack, &db, DID);
    assert_eq!(code, 0);
    // A malformed DID is refused.
    let bad = d.join("bad.casm");
    std::fs::write(
        &bad,
        ".contract bad\npush \"did:nope\"\npush \"{}\"\nupdatediddocument\n",
    )
    .unwrap();
    let (code, out) = run(&bad, &db, DID);
    assert_eq!(
        (code, &out["error"]["kind"]),
        (1, &Value::from("invalid_did"))
    );
}
