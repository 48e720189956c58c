use super::*;
use coopvm_core::{load, Limits};
use coopvm_engine::Engine;

/// A database path in a fresh directory, removed when the returned guard drops.
fn temp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("coopvm-store-{name}-"))
        .tempdir()
        .unwrap();
    let path = dir.path().join("state.redb");
    (dir, path)
}

fn verified(src: &str) -> Verified {
    load::from_source("t.casm", src)
        .unwrap()
        .verify(&Limits::default())
        .unwrap()
}

fn ctx(caller: &str) -> ExecutionContext {
    ExecutionContext {
        caller_did: caller.into(),
        ..Default::default()
    }
}

/// Writes raw entries into `table` of the database at `path` (with valid checksums).
fn poke(path: &Path, table: &'static str, entries: &[(&[u8], &[u8])]) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(domain_table(table)).unwrap();
        for (k, v) in entries {
            t.insert(*k, *v).unwrap();
        }
    }
    txn.commit().unwrap();
}

#[test]
fn runs_persist_domain_state_and_events_failures_write_nothing() {
    let (_dir, path) = temp("persist");
    let create = verified(
        ".contract setup\n.state n 0\n\
         push \"makers\"\npush 50\ncreatecooperative\n\
         load n\npush 1\nadd\nstore n\n",
    );
    {
        let mut s = Store::open(&path).unwrap();
        assert!(s
            .execute(&create, &ctx("did:key:a"), 10_000, &Engine::Interp)
            .unwrap()
            .is_ok());
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.host().cooperative("makers").unwrap().pool, 50);
    assert_eq!(s.host().contract_state("setup").unwrap()["n"], 1);
    assert_eq!(s.host().runs(), 1);
    assert_eq!(s.events().unwrap().len(), 1);
    // Running it again fails (already exists) and writes nothing.
    let out = s
        .execute(&create, &ctx("did:key:a"), 10_000, &Engine::Interp)
        .unwrap();
    assert_eq!(out.result.unwrap_err().kind.name(), "already_exists");
    drop(s);
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.host().contract_state("setup").unwrap()["n"], 1);
    assert_eq!(s.host().runs(), 1);
    assert_eq!(s.events().unwrap().len(), 1);
    let dump = s.dump().unwrap();
    assert_eq!(dump["cooperatives"]["makers"]["pool"], 50);
    assert_eq!(dump["contract_states"]["setup"]["n"], 1);
    assert_eq!(dump["events"][0]["name"], "CooperativeCreated");
    assert_eq!(
        dump["members"][0],
        serde_json::json!({"cooperative": "makers", "member": "did:key:a", "balance": 0, "joined_block": 0})
    );
    // The first run deployed `setup`, owned by its caller.
    assert_eq!(dump["contracts"]["setup"]["owner"], "did:key:a");
    assert_eq!(dump["contracts"]["setup"]["revision"], 1);
}

#[test]
fn deployments_persist_and_enable_calls() {
    let (_dir, path) = temp("deploy");
    {
        let mut s = Store::open(&path).unwrap();
        let lib = verified(".contract lib\nload arg\npush 1\nadd\n");
        assert_eq!(
            s.deploy(lib.clone(), "did:key:a").unwrap(),
            DeployOutcome::Deployed
        );
        assert_eq!(
            s.deploy(lib, "did:key:b").unwrap(),
            DeployOutcome::Unchanged
        );
    }
    let mut s = Store::open(&path).unwrap();
    assert!(s.host().deployed("lib").is_some());
    let main = verified(".contract main\n.depends lib\npush \"lib\"\npush 41\ncallcontract\n");
    let out = s
        .execute(&main, &ctx("did:key:a"), 10_000, &Engine::Interp)
        .unwrap();
    assert_eq!(out.stack, vec![42]);
}

#[test]
fn identity_survives_reopening_only_the_owner_upgrades() {
    let (_dir, path) = temp("identity");
    let lib = verified(".contract lib\n.state calls 0\nload calls\npush 1\nadd\nstore calls\nload arg\npush 1\nadd\n");
    let evil = verified(".contract lib\n.state calls 0\npush 99\nstore calls\npush 99\n");
    let main = verified(".contract main\n.depends lib\npush \"lib\"\npush 41\ncallcontract\n");
    {
        let mut s = Store::open(&path).unwrap();
        s.deploy(lib.clone(), "did:key:alice").unwrap();
        s.execute(&main, &ctx("did:key:bob"), 10_000, &Engine::Interp)
            .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    let e = s.deploy(evil.clone(), "did:key:mallory").unwrap_err();
    assert!(e.to_string().contains("only its owner"), "{e}");
    let out = s
        .execute(&evil, &ctx("did:key:mallory"), 10_000, &Engine::Interp)
        .unwrap();
    assert_eq!(out.result.unwrap_err().kind.name(), "already_exists");
    let e = s.upgrade(evil.clone(), "did:key:mallory").unwrap_err();
    assert!(
        matches!(e, StoreError::Deploy(DeployError::NotOwner { .. })),
        "{e}"
    );
    drop(s);
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.host().contract_state("lib").unwrap()["calls"], 1);
    assert_eq!(
        s.upgrade(evil.clone(), "did:key:alice").unwrap(),
        DeployOutcome::Upgraded
    );
    drop(s);
    let mut s = Store::open(&path).unwrap();
    let d = s.host().deployment("lib").unwrap().clone();
    assert_eq!(d.revision, 2);
    assert_eq!(
        d.previous,
        vec![coopvm_core::address::code_hash_hex(lib.contract())]
    );
    let out = s
        .execute(&main, &ctx("did:key:bob"), 10_000, &Engine::Interp)
        .unwrap();
    assert_eq!(out.stack, vec![99]);
    let dump = s.dump().unwrap();
    assert_eq!(dump["contracts"]["lib"]["revision"], 2);
    assert_eq!(dump["contracts"]["lib"]["owner"], "did:key:alice");
    assert_eq!(dump["contracts"]["main"]["owner"], "did:key:bob");
}

#[test]
fn reputation_is_read_from_the_database() {
    let (_dir, path) = temp("reputation");
    let rate = verified(".contract rate\npush \"did:key:eve\"\npush 50\nupdatereputation\n");
    let guarded = verified(".contract guarded\n.reputation 50\npush 1\n");
    let mut s = Store::open(&path).unwrap();
    // A claimed score counts for nothing: eve's stored score is 0.
    let eve = ExecutionContext {
        reputation_score: 10_000_000,
        ..ctx("did:key:eve")
    };
    let out = s.execute(&guarded, &eve, 1_000, &Engine::Interp).unwrap();
    assert_eq!(
        out.result.unwrap_err().kind.name(),
        "insufficient_reputation"
    );
    let rater = ExecutionContext {
        permissions: vec![crate::PERM_REPUTATION.into()],
        ..ctx("did:key:rater")
    };
    assert!(s
        .execute(&rate, &rater, 1_000, &Engine::Interp)
        .unwrap()
        .is_ok());
    drop(s);
    let mut s = Store::open(&path).unwrap();
    let out = s
        .execute(&guarded, &ctx("did:key:eve"), 1_000, &Engine::Interp)
        .unwrap();
    assert!(out.is_ok(), "{:?}", out.result);
}

#[test]
fn deployments_must_verify_with_default_limits() {
    let (_dir, path) = temp("limits");
    let mut s = Store::open(&path).unwrap();
    let big = Limits {
        stack: 1 << 20,
        ..Limits::default()
    };
    let deep: String = ".contract deep\n".to_owned() + &"push 1\n".repeat(1100);
    let v = coopvm_core::verify(load::from_source("t", &deep).unwrap().contract, &big).unwrap();
    let e = s.deploy(v, "did:key:a").unwrap_err();
    assert!(
        matches!(e, StoreError::Deploy(DeployError::Unverifiable { .. })),
        "{e}"
    );
    drop(s);
    let s = Store::open(&path).unwrap();
    assert!(s.host().deployed("deep").is_none());
}

#[test]
fn a_second_open_waits_for_the_first() {
    let (_dir, path) = temp("busy");
    let s = Store::open(&path).unwrap();
    let p2 = path.clone();
    let t = std::thread::spawn(move || Store::open(&p2).map(|_| ()));
    std::thread::sleep(Duration::from_millis(50));
    drop(s);
    t.join().unwrap().unwrap();
}

#[test]
fn a_failed_write_leaves_memory_and_disk_as_they_were() {
    let (_dir, path) = temp("failwrite");
    let v = verified(
        ".contract c\n.state n 0\nload n\npush 1\nadd\nstore n\n\
         push \"k\"\npush 5\ncreatecooperative\n",
    );
    let mut s = Store::open(&path).unwrap();
    s.fail_next_commit();
    let e = s
        .execute(&v, &ctx("did:key:a"), 10_000, &Engine::Interp)
        .unwrap_err();
    assert!(e.to_string().contains("injected"), "{e}");
    // Reloaded: the run's changes are neither in memory nor on disk.
    assert!(s.host().cooperative("k").is_none());
    assert!(s.host().contract_state("c").is_none());
    assert!(s.host().deployment("c").is_none());
    assert_eq!(s.host().runs(), 0);
    assert_eq!(s.host().event_count(), 0);
    // And the store keeps working.
    assert!(s
        .execute(&v, &ctx("did:key:a"), 10_000, &Engine::Interp)
        .unwrap()
        .is_ok());
    drop(s);
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.host().contract_state("c").unwrap()["n"], 1);
    assert!(s.host().deployed("c").is_some());
    assert_eq!(s.events().unwrap().len(), 1);
    assert_eq!(s.host().event_count(), 1);
}

#[test]
fn a_held_database_is_busy_after_the_timeout() {
    let (_dir, path) = temp("held");
    let _held = Store::open(&path).unwrap();
    let e = Store::open_with_timeout(&path, Duration::from_millis(30)).unwrap_err();
    assert!(matches!(e, StoreError::Busy { .. }), "{e}");
    assert!(e.to_string().contains("in use by another process"));
    let e = Store::open_read_only_with_timeout(&path, Duration::from_millis(30)).unwrap_err();
    assert!(matches!(e, StoreError::Busy { .. }), "{e}");
}

#[test]
fn unreadable_contents_are_reported() {
    // A newer layout version.
    let (_dir, path) = temp("format");
    drop(Store::open(&path).unwrap());
    poke(&path, "coopvm", &[(FORMAT_KEY, &99u64.to_be_bytes())]);
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Version { found: 99, .. }), "{e}");
    assert!(e.to_string().contains("newer"), "{e}");
    // A domain entry that is not the JSON of its type.
    let (_dir, path) = temp("entry");
    drop(Store::open(&path).unwrap());
    poke(
        &path,
        "cooperatives",
        &[(b"\"c\"", b"{\"pool\": \"lots\"}")],
    );
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("state database is corrupted"), "{e}");
    assert!(e.to_string().contains("cooperatives"), "{e}");
    // A key that is not UTF-8 (redb's own `&str` keys would panic here).
    let (_dir, path) = temp("utf8");
    drop(Store::open(&path).unwrap());
    poke(&path, "reputations", &[(b"\"\xff\"", b"1")]);
    for e in [
        Store::open(&path).unwrap_err(),
        Store::open_read_only(&path).unwrap_err(),
    ] {
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
        assert!(e.to_string().contains("reputations"), "{e}");
    }
    // Contract bytes that do not decode, or that disagree with the deployment record.
    let (_dir, path) = temp("contract");
    drop(Store::open(&path).unwrap());
    poke(&path, "contracts", &[(b"x", b"junk")]);
    let e = Store::open(&path).unwrap_err();
    assert!(e.to_string().contains("deployed contract `x`"), "{e}");
    let (_dir, path) = temp("record");
    {
        let mut s = Store::open(&path).unwrap();
        s.deploy(verified(".contract x\npush 1\n"), "did:key:a")
            .unwrap();
    }
    let other = codec::encode(verified(".contract x\npush 2\n").contract());
    poke(&path, "contracts", &[(b"x", &other)]);
    let e = Store::open(&path).unwrap_err();
    assert!(
        e.to_string().contains("does not match its recorded hash"),
        "{e}"
    );
    // An event log with a hole.
    let (_dir, path) = temp("events");
    drop(Store::open(&path).unwrap());
    poke(&path, "events", &[(&5u64.to_be_bytes(), b"{}")]);
    let e = Store::open(&path).unwrap_err();
    assert!(e.to_string().contains("event log"), "{e}");
}

#[test]
fn a_layout_1_database_is_refused_clearly() {
    let (_dir, path) = temp("v1");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let old: TableDefinition<&str, u64> = TableDefinition::new(LEGACY_INFO);
        txn.open_table(old).unwrap().insert("format", 1).unwrap();
        txn.commit().unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Version { found: 1, .. }), "{e}");
    assert!(e.to_string().contains("start a new database"), "{e}");
    let e = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(e, StoreError::Version { found: 1, .. }), "{e}");
    drop(e);
    // An unrelated redb database is not a state database.
    let (_dir, path) = temp("foreign");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let t: TableDefinition<u64, u64> = TableDefinition::new("mine");
        txn.open_table(t).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
    }
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::NotAStore { .. }), "{e}");
    let _ = before;
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let (_dir, path) = temp("garbage");
    std::fs::write(&path, b"this is not a database at all, not even close").unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Open { .. }), "{e}");
    let e = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(e, StoreError::Open { .. }), "{e}");
    // An empty file is no database to show (a writer makes it a new one).
    std::fs::write(&path, b"").unwrap();
    let e = Store::open_read_only(&path).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    assert_eq!(Store::open(&path).unwrap().host().runs(), 0);
}

/// A world with some of everything.
fn populated(path: &Path) {
    let mut s = Store::open(path).unwrap();
    let setup = verified(
        ".contract setup\n\
         push \"makers\"\npush 100\ncreatecooperative\n\
         push \"makers\"\npush \"p\"\npush 2\npush 50\ncreateproposal\npop\n",
    );
    assert!(s
        .execute(&setup, &ctx("did:key:alice"), 10_000, &Engine::Interp)
        .unwrap()
        .is_ok());
    let join = verified(".contract join\npush \"makers\"\njoincooperative\n");
    assert!(s
        .execute(&join, &ctx("did:key:bob"), 10_000, &Engine::Interp)
        .unwrap()
        .is_ok());
    let delegate =
        verified(".contract delegate\npush \"makers\"\npush \"did:key:alice\"\ndelegatevotes\n");
    assert!(s
        .execute(&delegate, &ctx("did:key:bob"), 10_000, &Engine::Interp)
        .unwrap()
        .is_ok());
    let vote = verified(".contract vote\npush 1\npush 1\ncastvote\n");
    assert!(s
        .execute(&vote, &ctx("did:key:alice"), 10_000, &Engine::Interp)
        .unwrap()
        .is_ok());
    let fed = verified(".contract fed\npush \"f\"\npush \"makers\"\ncreatefederation\n");
    assert!(s
        .execute(&fed, &ctx("did:key:alice"), 10_000, &Engine::Interp)
        .unwrap()
        .is_ok());
}

#[test]
fn the_json_shape_is_the_same_empty_or_not() {
    use serde_json::json;
    let (_dir, path) = temp("shape-empty");
    drop(Store::open(&path).unwrap());
    let empty = Store::open_read_only(&path).unwrap().dump().unwrap();
    let (_dir, path) = temp("shape-full");
    populated(&path);
    let full = Store::open_read_only(&path).unwrap().dump().unwrap();
    let kind = |v: &serde_json::Value| match v {
        serde_json::Value::Object(_) => "object",
        serde_json::Value::Array(_) => "array",
        _ => "other",
    };
    let (e, f) = (empty.as_object().unwrap(), full.as_object().unwrap());
    assert_eq!(e.keys().collect::<Vec<_>>(), f.keys().collect::<Vec<_>>());
    for (name, v) in e {
        assert_eq!(kind(v), kind(&f[name]), "{name}");
    }
    for name in [
        "members",
        "federation_members",
        "proposals",
        "ballots",
        "delegations",
        "events",
    ] {
        assert_eq!(empty[name], json!([]), "{name}");
        assert!(!full[name].as_array().unwrap().is_empty(), "{name}");
    }
    for name in [
        "contracts",
        "cooperatives",
        "federations",
        "reputations",
        "dids",
        "contract_states",
        "meta",
    ] {
        assert_eq!(empty[name], json!({}), "{name}");
    }
    assert_eq!(full["proposals"][0]["id"], 1);
    assert_eq!(full["proposals"][0]["cooperative"], "makers");
    assert_eq!(
        full["ballots"],
        json!([
            {"proposal": 1, "member": "did:key:alice", "by": "did:key:alice", "yes": true},
            {"proposal": 1, "member": "did:key:bob", "by": "did:key:alice", "yes": true},
        ])
    );
    assert_eq!(
        full["delegations"],
        json!([{"cooperative": "makers", "delegator": "did:key:bob", "delegate": "did:key:alice"}])
    );
    assert_eq!(full["federation_members"][0]["federation"], "f");
    assert_eq!(full["federation_members"][0]["cooperative"], "makers");
    assert_eq!(full["members"][1]["member"], "did:key:bob");
    assert!(
        full["contracts"]["setup"]["code_hash"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
}

#[test]
fn showing_state_writes_nothing_and_reads_read_only_files() {
    let (_dir, path) = temp("readonly");
    populated(&path);
    let before = std::fs::read(&path).unwrap();
    for _ in 0..3 {
        let mut s = Store::open_read_only(&path).unwrap();
        assert_eq!(s.dump().unwrap()["meta"]["runs"], 5);
        // Nothing can be written through it.
        let e = s
            .deploy(verified(".contract z\npush 1\n"), "did:key:a")
            .unwrap_err();
        assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
        let e = s
            .execute(
                &verified(".contract z\npush 1\n"),
                &ctx("did:key:a"),
                100,
                &Engine::Interp,
            )
            .unwrap_err();
        assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
    }
    assert!(
        std::fs::read(&path).unwrap() == before,
        "showing state changed the file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let shown = Store::open_read_only(&path).unwrap().dump().unwrap();
        assert_eq!(shown["cooperatives"]["makers"]["pool"], 100);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

#[test]
fn a_database_left_open_by_a_crash_is_shown_without_writing() {
    let (_dir, path) = temp("crashed");
    populated(&path);
    {
        // Commit, then vanish without closing (as a killed process would).
        let mut s = Store::open(&path).unwrap();
        let tick = verified(".contract tick\npush 1\n");
        assert!(s
            .execute(&tick, &ctx("did:key:a"), 100, &Engine::Interp)
            .unwrap()
            .is_ok());
        // A copy of the file as it is now: committed, never closed.
        let copy = path.with_file_name("copy.redb");
        std::fs::copy(&path, &copy).unwrap();
        let before = std::fs::read(&copy).unwrap();
        let mut shown = Store::open_read_only(&copy).unwrap();
        assert_eq!(shown.dump().unwrap()["meta"]["runs"], 6);
        assert!(std::fs::read(&copy).unwrap() == before);
        // And a writer recovers it.
        drop(shown);
        assert_eq!(Store::open(&copy).unwrap().host().runs(), 6);
    }
}
