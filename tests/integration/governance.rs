//! End to end: the governance scenario of `examples/governance/`, run through the `coopvm`
//! binary against one `--state` database across many invocations with different callers.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_coopvm");

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coopvm-gov-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("state.redb")
}

fn example(name: &str) -> String {
    format!(
        "{}/examples/governance/{name}.casm",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs a scenario step; returns (exit code, JSON outcome).
fn step(db: &Path, file: &str, caller: &str, timestamp: u64) -> (i32, Value) {
    let out = Command::new(BIN)
        .args(["run", &example(file), "--json", "--caller", caller])
        .args(["--timestamp", &timestamp.to_string()])
        .arg("--state")
        .arg(db)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{file}: {e}; stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn ok(db: &Path, file: &str, caller: &str, timestamp: u64) -> Value {
    let (code, json) = step(db, file, caller, timestamp);
    assert_eq!(code, 0, "{file} as {caller}: {json}");
    json
}

fn refused(db: &Path, file: &str, caller: &str, timestamp: u64, kind: &str) {
    let (code, json) = step(db, file, caller, timestamp);
    assert_eq!(code, 1, "{file} as {caller}: {json}");
    assert_eq!(json["error"]["kind"], kind, "{json}");
    assert_eq!(json["events"].as_array().unwrap().len(), 1);
    assert_eq!(json["events"][0]["name"], "Error");
}

fn stored(db: &Path) -> Value {
    let out = Command::new(BIN)
        .args(["state", "--json"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The entry of a listed table (`state --json`) whose fields include all of `key`'s.
fn entry<'a>(table: &'a Value, key: &Value) -> &'a Value {
    let key = key.as_object().unwrap();
    table
        .as_array()
        .unwrap()
        .iter()
        .find(|e| key.iter().all(|(k, v)| &e[k] == v))
        .unwrap_or(&Value::Null)
}

const ALICE: &str = "did:key:alice";
const BOB: &str = "did:key:bob";
const CAROL: &str = "did:key:carol";
const DAVE: &str = "did:key:dave";

#[test]
fn governance_scenario_across_invocations() {
    let db = temp_db("scenario");
    let found = ok(&db, "found", ALICE, 0);
    assert_eq!(found["stack"], serde_json::json!([1]));
    let names: Vec<&str> = found["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["CooperativeCreated", "ProposalCreated"]);

    for m in [BOB, CAROL, DAVE] {
        ok(&db, "join", m, 1);
    }
    refused(&db, "join", BOB, 2, "already_member");
    // Carol and dave delegate to bob.
    ok(&db, "delegate", CAROL, 3);
    ok(&db, "delegate", DAVE, 3);
    // Too early to execute, and no votes yet.
    refused(&db, "execute", ALICE, 500, "deadline_not_reached");

    let yes = ok(&db, "vote_yes", BOB, 10);
    assert_eq!(yes["events"][0]["name"], "VoteCast");
    assert_eq!(yes["events"][0]["fields"]["weight"], 3);
    let no = ok(&db, "vote_no", ALICE, 20);
    assert_eq!(no["events"][0]["fields"]["weight"], 1);
    // Carol's vote was cast by her delegate; bob already voted.
    refused(&db, "vote_no", CAROL, 30, "double_vote");
    refused(&db, "vote_yes", BOB, 30, "double_vote");
    // Voting closes at the deadline.
    refused(&db, "vote_yes", "did:key:erin", 1000, "proposal_closed");

    let exec = ok(&db, "execute", ALICE, 1000);
    assert_eq!(exec["stack"], serde_json::json!([1]));
    let names: Vec<&str> = exec["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ProposalExecuted", "ResourceAllocated"]);
    // Only once.
    refused(&db, "execute", ALICE, 1001, "proposal_closed");

    // What the database holds after all these invocations.
    let s = stored(&db);
    let makers = &s["cooperatives"]["makers"];
    assert_eq!(makers["pool"], 60);
    assert_eq!(makers["supply"], 100);
    assert_eq!(makers["members"], 4);
    let bob = entry(
        &s["members"],
        &serde_json::json!({"cooperative": "makers", "member": BOB}),
    );
    assert_eq!(bob["balance"], 40);
    let p = entry(&s["proposals"], &serde_json::json!({"id": 1}));
    assert_eq!(p["executed"], true);
    assert_eq!(p["passed"], true);
    assert_eq!((p["yes"].as_i64(), p["no"].as_i64()), (Some(3), Some(1)));
    assert_eq!(s["contract_states"]["gov_found"]["proposal"], 1);
    // Nine successful runs; the failed ones wrote nothing.
    assert_eq!(s["meta"]["runs"], 9);
    let events: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "CooperativeCreated",
            "ProposalCreated",
            "MemberJoined",
            "MemberJoined",
            "MemberJoined",
            "VotesDelegated",
            "VotesDelegated",
            "VoteCast",
            "VoteCast",
            "ProposalExecuted",
            "ResourceAllocated",
        ]
    );
    assert!(s["events"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .all(|(i, e)| e["seq"] == i as u64));
    assert_eq!(s["events"][7]["caller"], BOB);
    assert_eq!(s["events"][7]["contract"], "gov_vote_yes");
}

#[test]
fn quorum_not_met_blocks_execution() {
    let db = temp_db("quorum");
    ok(&db, "found", ALICE, 0);
    ok(&db, "join", BOB, 0);
    ok(&db, "vote_yes", BOB, 5);
    refused(&db, "execute", ALICE, 1000, "quorum_not_met");
    let s = stored(&db);
    assert_eq!(s["cooperatives"]["makers"]["pool"], 100);
    assert_eq!(
        entry(&s["proposals"], &serde_json::json!({"id": 1}))["executed"],
        false
    );
}

#[test]
fn non_members_cannot_vote_or_delegate() {
    let db = temp_db("nonmember");
    ok(&db, "found", ALICE, 0);
    refused(&db, "vote_yes", "did:key:mallory", 5, "not_member");
    refused(&db, "delegate", "did:key:mallory", 5, "not_member");
    // Bob is not a member either, so delegating to him is refused.
    refused(&db, "delegate", ALICE, 5, "not_member");
}
