//! The `store` target: a sequence of operations (deploy, upgrade, runs on both engines,
//! dumps, reopening, read-only opens, corruptions of the file's bytes) against a redb state
//! database. Nothing may panic; an intact database answers every operation (deployment
//! refusals aside) and reopens to the same world; a corrupted one answers `Ok` or a
//! `StoreError`, and a copy that fails to open is left byte for byte as it was.

use arbitrary::Unstructured;
use coopvm::store::{Store, StoreError};
use coopvm::{asm::assemble, verify, Engine, ExecutionContext, Limits, Verified};
use std::path::{Path, PathBuf};

/// The contracts the operations deploy, upgrade and run.
const PROGRAMS: &[&str] = &[
    ".contract lib\n.state calls 0\nload calls\npush 1\nadd\nstore calls\nload arg\npush 2\nmul\n",
    ".contract lib\n.state calls 0\nload calls\npush 1\nadd\nstore calls\nload arg\npush 3\nmul\n",
    ".contract counter\n.state n 0\nload n\npush 1\nadd\ndup\nstore n\npush \"Counted\"\nswap\nemitevent\n",
    ".contract found\npush \"makers\"\npush 100\ncreatecooperative\npush \"makers\"\npush \"kiln\"\npush 2\npush 50\ncreateproposal\n",
    ".contract join\npush \"makers\"\njoincooperative\n",
    ".contract vote\npush 1\npush 1\ncastvote\n",
    ".contract caller\n.depends lib\npush \"lib\"\npush 21\ncallcontract\n",
    ".contract rate\npush \"did:key:bob\"\npush 40\nupdatereputation\n",
    ".contract spin\n.state n 0\ntop:\nload n\npush 1\nadd\nstore n\njump top\n",
    "push \"an anonymous contract\"\npush 7\nemitevent\n",
];
const CALLERS: [&str; 3] = ["did:key:alice", "did:key:bob", "did:key:carol"];

fn program(i: usize) -> Verified {
    verify(
        assemble("store.casm", PROGRAMS[i % PROGRAMS.len()]).expect("the store programs assemble"),
        &Limits::default(),
    )
    .expect("the store programs verify")
}

/// The database file of this process (one at a time: libFuzzer runs inputs one by one), in
/// `COOPVM_FUZZ_TMP`, else in memory (`/dev/shm`) where there is one (a database commit
/// syncs the file, which on a disk costs most of the target's time), else the temporary
/// directory.
fn db_path() -> PathBuf {
    let base = match std::env::var_os("COOPVM_FUZZ_TMP") {
        Some(dir) => PathBuf::from(dir),
        None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    };
    let dir = base.join(format!("coopvm-fuzz-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir.join("state.redb")
}

fn fail(what: &str, e: &StoreError, log: &[String]) -> ! {
    panic!(
        "store: {what} failed on an intact database: {e}\n--- operations ---\n{}",
        log.join("\n")
    )
}

/// Runs the operations the input's choices describe.
pub fn store(data: &[u8]) {
    let path = db_path();
    let _ = std::fs::remove_file(&path);
    run_ops(&mut Unstructured::new(data), &path);
    let _ = std::fs::remove_file(&path);
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

fn run_ops(u: &mut Unstructured, path: &Path) {
    let mut log = Vec::new();
    let mut store = Some(Store::open(path).unwrap_or_else(|e| fail("creating", &e, &log)));
    let mut corrupted = false;
    for clock in 1..=24 {
        let Ok(op) = u.int_in_range(0..=8u8) else {
            break;
        };
        let Some(s) = store.as_mut() else {
            break;
        };
        match op {
            0 | 1 => {
                let (i, who) = (pick(u, 2), CALLERS[pick(u, 3)]);
                log.push(format!(
                    "{} lib #{i} as {who}",
                    ["deploy", "upgrade"][op as usize]
                ));
                let r = if op == 0 {
                    s.deploy(program(i), who)
                } else {
                    s.upgrade(program(i), who)
                };
                match r {
                    Ok(_) | Err(StoreError::Deploy(_)) => {}
                    Err(e) if !corrupted => fail("a deployment", &e, &log),
                    Err(_) => {}
                }
            }
            2 | 3 => {
                let i = pick(u, PROGRAMS.len());
                let ctx = ExecutionContext {
                    caller_did: CALLERS[pick(u, 3)].into(),
                    timestamp: clock,
                    permissions: vec!["reputation".into()],
                    ..Default::default()
                };
                let gas = [100_000, 50, 0, 1_000][pick(u, 4)];
                let engine = [Engine::Interp, Engine::Jit][pick(u, 2)];
                log.push(format!(
                    "run #{i} as {} with gas {gas} on {}",
                    ctx.caller_did,
                    engine.name()
                ));
                if let Err(e) = s.execute(&program(i), &ctx, gas, &engine) {
                    if !corrupted {
                        fail("a run", &e, &log);
                    }
                }
            }
            4 => {
                log.push("dump and events".into());
                let r = s.dump().and_then(|_| s.events().map(|_| ()));
                if let Err(e) = r {
                    if !corrupted {
                        fail("a dump", &e, &log);
                    }
                }
            }
            5 => {
                log.push("reopen".into());
                let before = s.dump().ok().map(|d| d.to_string());
                store = None;
                match Store::open(path) {
                    Ok(mut s) => {
                        if !corrupted {
                            let after = s.dump().ok().map(|d| d.to_string());
                            assert!(
                                after == before,
                                "store: reopening changed the world\n--- operations ---\n{}",
                                log.join("\n")
                            );
                        }
                        store = Some(s);
                    }
                    Err(e) if !corrupted => fail("reopening", &e, &log),
                    Err(_) => {}
                }
            }
            6 => {
                log.push("read-only open".into());
                store = None;
                let bytes = std::fs::read(path).expect("the database file");
                match Store::open_read_only(path).and_then(|mut s| s.dump().map(|_| ())) {
                    Ok(()) => {}
                    Err(e) if !corrupted => fail("a read-only open", &e, &log),
                    Err(_) => {}
                }
                assert!(
                    std::fs::read(path).expect("the database file") == bytes,
                    "store: a read-only open changed the file\n--- operations ---\n{}",
                    log.join("\n")
                );
                match Store::open(path) {
                    Ok(s) => store = Some(s),
                    Err(e) if !corrupted => fail("reopening", &e, &log),
                    Err(_) => {}
                }
            }
            _ => {
                store = None;
                let mut bytes = std::fs::read(path).expect("the database file");
                let n = 1 + pick(u, 8);
                let mut edits = Vec::new();
                for _ in 0..n {
                    let at = match pick(u, 3) {
                        0 => pick(u, bytes.len().min(1024)),
                        _ => u.arbitrary::<u32>().unwrap_or(0) as usize % bytes.len().max(1),
                    };
                    let mask = u.arbitrary::<u8>().unwrap_or(0).max(1);
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= mask;
                        edits.push((at, mask));
                    }
                }
                log.push(format!("corrupt {edits:?}"));
                std::fs::write(path, &bytes).expect("writing the database file");
                corrupted = true;
                match Store::open(path) {
                    Ok(s) => store = Some(s),
                    Err(_) => {
                        assert!(
                            std::fs::read(path).expect("the database file") == bytes,
                            "store: a failed open wrote to the file\n--- operations ---\n{}",
                            log.join("\n")
                        );
                    }
                }
            }
        }
    }
}

fn pick(u: &mut Unstructured, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    u.int_in_range(0..=n - 1).unwrap_or(0)
}
