//! End to end: the governance scenario of `examples/governance/`, run through the `coopvm`
//! binary against one `--state` database across many invocations with different callers.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_coopvm");

fn temp_db(name: &str) -> PathBuf {
    crate::common::scratch("governance", name).join("state.redb")
}

fn example(name: &str) -> String {
    format!("{}/examples/{name}.casm", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a scenario step (`file` under `examples/`, with the inputs `args`, `--args`
/// syntax, empty for none); returns (exit code, JSON outcome).
fn step(db: &Path, file: &str, caller: &str, timestamp: u64, args: &str) -> (i32, Value) {
    let out = Command::new(BIN)
        .args(["run", &example(file), "--json", "--caller", caller])
        .args(["--timestamp", &timestamp.to_string()])
        .args(["--args", args])
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

/// A step that succeeds; returns its outcome.
fn ok(db: &Path, file: &str, caller: &str, timestamp: u64, args: &str) -> Value {
    let (code, json) = step(db, file, caller, timestamp, args);
    assert_eq!(code, 0, "{file} as {caller}: {json}");
    json
}

/// A step that succeeds, leaving `stack` and emitting no event: a contract that read the
/// world and decided not to act.
fn declined(db: &Path, file: &str, caller: &str, timestamp: u64, args: &str, stack: i64) {
    let json = ok(db, file, caller, timestamp, args);
    assert_eq!(
        json["stack"],
        serde_json::json!([stack]),
        "{file} as {caller}"
    );
    assert_eq!(json["events"], serde_json::json!([]), "{file} as {caller}");
}

fn refused(db: &Path, file: &str, caller: &str, timestamp: u64, args: &str, kind: &str) {
    let (code, json) = step(db, file, caller, timestamp, args);
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

fn names(json: &Value) -> Vec<&str> {
    json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

const FOUND: &str = "governance/found";
const JOIN: &str = "governance/join";
const DELEGATE: &str = "governance/delegate";
const VOTE: &str = "governance/vote";
const EXECUTE: &str = "governance/execute";
const PAY: &str = "treasury/pay";
const BALANCE: &str = "treasury/balance";

#[test]
fn governance_scenario_across_invocations() {
    let db = temp_db("scenario");
    let found = ok(&db, FOUND, ALICE, 0, "");
    assert_eq!(found["stack"], serde_json::json!([1]));
    assert_eq!(names(&found), ["CooperativeCreated", "ProposalCreated"]);

    for m in [BOB, CAROL, DAVE] {
        ok(&db, JOIN, m, 1, "");
    }
    refused(&db, JOIN, BOB, 2, "", "already_member");
    // Carol and dave delegate to bob (the delegate is the contract's input).
    ok(&db, DELEGATE, CAROL, 3, "s:did:key:bob");
    ok(&db, DELEGATE, DAVE, 3, "s:did:key:bob");
    // Too early: the execute contract reads the proposal's state and declines (-2).
    declined(&db, EXECUTE, ALICE, 500, "1", -2);

    // Votes: [proposal, choice] from --args.
    let yes = ok(&db, VOTE, BOB, 10, "1,1");
    assert_eq!(yes["stack"], serde_json::json!([1]));
    assert_eq!(yes["events"][0]["name"], "VoteCast");
    assert_eq!(yes["events"][0]["fields"]["weight"], 3);
    let no = ok(&db, VOTE, ALICE, 20, "1,0");
    assert_eq!(no["events"][0]["fields"]["weight"], 1);
    // Carol was counted through bob, bob already voted: the vote contract reads that
    // (hasvoted) and casts nothing (0) instead of failing with double_vote.
    declined(&db, VOTE, CAROL, 30, "1,0", 0);
    declined(&db, VOTE, BOB, 30, "1,1", 0);
    // Voting closes at the deadline.
    refused(&db, VOTE, "did:key:erin", 1000, "1,1", "proposal_closed");

    // Only the treasurer executes (a caller check on the DID's text): bob gets -1.
    declined(&db, EXECUTE, BOB, 1000, "1", -1);
    let exec = ok(&db, EXECUTE, ALICE, 1000, "1");
    assert_eq!(exec["stack"], serde_json::json!([1]));
    assert_eq!(names(&exec), ["ProposalExecuted", "ResourceAllocated"]);
    // It logged the tally it read: 3 yes, 1 no.
    assert_eq!(exec["logs"], serde_json::json!([3, 1]));
    // Only once: executed already, it declines.
    declined(&db, EXECUTE, ALICE, 1001, "1", -2);

    // The treasury: bob pays carol 15 of his 40, then cannot pay 100: the contract reads
    // his balance, transfers nothing and logs the shortfall.
    let paid = ok(&db, PAY, BOB, 1002, "s:did:key:carol,15");
    assert_eq!(paid["stack"], serde_json::json!([1]));
    assert_eq!(names(&paid), ["ResourceTransferred"]);
    let short = ok(&db, PAY, BOB, 1003, "s:did:key:carol,100");
    assert_eq!(short["stack"], serde_json::json!([0]));
    assert_eq!(short["events"], serde_json::json!([]));
    assert_eq!(short["logs"], serde_json::json!([75]));
    // A non-member has no balance to read.
    refused(
        &db,
        PAY,
        "did:key:erin",
        1004,
        "s:did:key:carol,1",
        "not_member",
    );
    let bal = ok(&db, BALANCE, CAROL, 1005, "s:did:key:bob");
    assert_eq!(bal["stack"], serde_json::json!([25, 60]));
    // A wrong number of inputs is a usage error: nothing runs.
    let out = Command::new(BIN)
        .args(["run", &example(PAY), "--args", "s:did:key:carol", "--state"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("takes 2 input(s)"));

    // What the database holds after all these invocations.
    let s = stored(&db);
    let makers = &s["cooperatives"]["makers"];
    assert_eq!(makers["pool"], 60);
    assert_eq!(makers["supply"], 100);
    assert_eq!(makers["members"], 4);
    let balance = |who: &str| {
        entry(
            &s["members"],
            &serde_json::json!({"cooperative": "makers", "member": who}),
        )["balance"]
            .clone()
    };
    assert_eq!((balance(BOB), balance(CAROL)), (25.into(), 15.into()));
    let p = entry(&s["proposals"], &serde_json::json!({"id": 1}));
    assert_eq!(p["executed"], true);
    assert_eq!(p["passed"], true);
    assert_eq!((p["yes"].as_i64(), p["no"].as_i64()), (Some(3), Some(1)));
    assert_eq!(s["contract_states"]["gov_found"]["proposal"], 1);
    // Transient values are never stored: the pay contract has no state.
    let pay_state = &s["contract_states"]["treasury_pay"];
    assert!(
        pay_state.as_object().is_none_or(|o| o.is_empty()),
        "{pay_state}"
    );
    // Seventeen successful runs; the failed ones wrote nothing.
    assert_eq!(s["meta"]["runs"], 17);
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
            "ResourceTransferred",
        ]
    );
    assert!(s["events"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .all(|(i, e)| e["seq"] == i as u64));
    assert_eq!(s["events"][7]["caller"], BOB);
    assert_eq!(s["events"][7]["contract"], "gov_vote");
}

#[test]
fn quorum_not_met_blocks_execution() {
    let db = temp_db("quorum");
    ok(&db, FOUND, ALICE, 0, "");
    ok(&db, JOIN, BOB, 0, "");
    ok(&db, VOTE, BOB, 5, "1,1");
    refused(&db, EXECUTE, ALICE, 1000, "1", "quorum_not_met");
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
    ok(&db, FOUND, ALICE, 0, "");
    refused(&db, VOTE, "did:key:mallory", 5, "1,1", "not_member");
    refused(
        &db,
        DELEGATE,
        "did:key:mallory",
        5,
        "s:did:key:alice",
        "not_member",
    );
    // Bob is not a member either, so delegating to him is refused.
    refused(&db, DELEGATE, ALICE, 5, "s:did:key:bob", "not_member");
    // A proposal that does not exist: the vote contract's read refuses it first.
    refused(&db, VOTE, ALICE, 5, "7,1", "not_found");
}
