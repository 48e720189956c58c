//! A corrupted state database never panics, aborts or hangs the store: a real database
//! (deployments, governance, events, an upgrade) is copied hundreds of times with bytes and
//! bits flipped at deterministic pseudo-random positions, and every copy is opened, shown
//! (read-only) and run against. Each must answer `Ok` or a `StoreError` within a time bound;
//! a copy that fails to open must be left byte for byte as it was.

use coopvm_core::{load, ExecutionContext, Limits, Verified};
use coopvm_domain::store::{Store, StoreError};
use coopvm_engine::Engine;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How many corrupted copies are tried (`COOPVM_CORRUPT_COPIES` overrides it, and
/// `COOPVM_CORRUPT_SEED` the seed, for longer campaigns).
const COPIES: usize = 150;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
/// How long one copy may take (open + show + run) before it counts as a hang.
const PER_COPY: Duration = Duration::from_secs(20);

fn verified(src: &str) -> Verified {
    load::from_source("t.casm", src)
        .unwrap()
        .verify(&Limits::default())
        .unwrap()
}

fn ctx(caller: &str, timestamp: u64) -> ExecutionContext {
    ExecutionContext {
        caller_did: caller.into(),
        timestamp,
        permissions: vec!["reputation".into()],
        ..Default::default()
    }
}

const COUNTER: &str = ".contract counter\n.state n 0\nload n\npush 1\nadd\ndup\nstore n\n\
    push \"Counted\"\nswap\nemitevent\n";

/// A database that has seen a bit of everything.
fn build(path: &Path) {
    let mut s = Store::open(path).unwrap();
    let lib = verified(".contract lib\n.state calls 0\nload calls\npush 1\nadd\nstore calls\nload arg\npush 2\nmul\n");
    s.deploy(lib, "did:key:alice").unwrap();
    let steps: &[(&str, &str, u64)] = &[
        (
            ".contract found\npush \"makers\"\npush 100\ncreatecooperative\n\
          push \"makers\"\npush \"kiln\"\npush 2\npush 50\ncreateproposal\n",
            "did:key:alice",
            0,
        ),
        (
            ".contract join\npush \"makers\"\njoincooperative\n",
            "did:key:bob",
            1,
        ),
        (
            ".contract join\npush \"makers\"\njoincooperative\n",
            "did:key:carol",
            1,
        ),
        (
            ".contract delegate\npush \"makers\"\npush \"did:key:bob\"\ndelegatevotes\n",
            "did:key:carol",
            2,
        ),
        (
            ".contract vote\npush 1\npush 1\ncastvote\n",
            "did:key:bob",
            3,
        ),
        (
            ".contract rate\npush \"did:key:bob\"\npush 40\nupdatereputation\n",
            "did:key:alice",
            4,
        ),
        (
            ".contract caller\n.depends lib\npush \"lib\"\npush 21\ncallcontract\n",
            "did:key:dave",
            5,
        ),
        (
            ".contract fed\npush \"f\"\npush \"makers\"\ncreatefederation\n",
            "did:key:alice",
            6,
        ),
        (
            "push \"an anonymous contract\"\npush 7\nemitevent\n",
            "did:key:erin",
            7,
        ),
    ];
    for (src, caller, t) in steps {
        let out = s
            .execute(&verified(src), &ctx(caller, *t), 100_000, &Engine::Interp)
            .unwrap();
        assert!(out.is_ok(), "{src}: {:?}", out.result);
    }
    for i in 0..5 {
        let out = s
            .execute(
                &verified(COUNTER),
                &ctx("did:key:alice", 10 + i),
                1_000,
                &Engine::Interp,
            )
            .unwrap();
        assert!(out.is_ok());
    }
    let upgraded = verified(".contract lib\n.state calls 0\nload calls\npush 1\nadd\nstore calls\nload arg\npush 3\nmul\n");
    s.upgrade(upgraded, "did:key:alice").unwrap();
}

/// A deterministic pseudo-random stream (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// How one copy is corrupted.
#[derive(Debug, Clone)]
struct Damage {
    /// (position, xor mask) for every changed byte.
    edits: Vec<(usize, u8)>,
}

fn damage(rng: &mut Rng, original: &[u8], interesting: &[usize]) -> Damage {
    let pick = |rng: &mut Rng| match rng.below(4) {
        // The file header and commit slots.
        0 => rng.below(original.len().min(1024)),
        // A byte that holds data.
        1 | 2 => interesting[rng.below(interesting.len())],
        _ => rng.below(original.len()),
    };
    let n = match rng.below(4) {
        0 | 1 => 1,
        2 => 2,
        _ => 1 + rng.below(8),
    };
    let edits = (0..n)
        .map(|_| {
            let at = pick(rng);
            let mask = match rng.below(3) {
                0 => 1u8 << rng.below(8),
                1 => 0xff,
                _ => (rng.next() as u8).max(1),
            };
            (at, mask)
        })
        .collect();
    Damage { edits }
}

/// What happened to one copy.
#[derive(Debug)]
enum Verdict {
    /// Opened and ran.
    Fine,
    /// Refused with a clear error.
    Refused,
    /// A panic, an unexpected error, or a write after a failed open.
    Problem(String),
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Opens, shows and runs against the copy at `rw` (and its twin `ro` read-only).
fn exercise(rw: &Path, ro: &Path) -> Verdict {
    let before = std::fs::read(rw).unwrap();
    let before_ro = std::fs::read(ro).unwrap();
    // Read-only first: it must never write.
    match catch_unwind(AssertUnwindSafe(|| {
        Store::open_read_only(ro).and_then(|mut s| s.dump().map(|_| ()))
    })) {
        Err(p) => {
            return Verdict::Problem(format!("read-only open/dump panicked: {}", panic_text(p)))
        }
        Ok(r) => {
            if let Err(e) = &r {
                if !expected(e) {
                    return Verdict::Problem(format!("read-only: unexpected error: {e}"));
                }
            }
        }
    }
    if std::fs::read(ro).unwrap() != before_ro {
        return Verdict::Problem("the read-only open changed the file".into());
    }
    let opened = catch_unwind(AssertUnwindSafe(|| Store::open(rw)));
    let mut store = match opened {
        Err(p) => return Verdict::Problem(format!("open panicked: {}", panic_text(p))),
        Ok(Err(e)) => {
            if !expected(&e) {
                return Verdict::Problem(format!("open: unexpected error: {e}"));
            }
            if std::fs::read(rw).unwrap() != before {
                return Verdict::Problem(format!("a failed open ({e}) wrote to the file"));
            }
            return Verdict::Refused;
        }
        Ok(Ok(s)) => s,
    };
    let counter = verified(COUNTER);
    let caller = verified(".contract caller\n.depends lib\npush \"lib\"\npush 21\ncallcontract\n");
    let ran = catch_unwind(AssertUnwindSafe(|| {
        let a = store.execute(&counter, &ctx("did:key:alice", 99), 1_000, &Engine::Interp)?;
        let b = store.execute(&caller, &ctx("did:key:dave", 99), 10_000, &Engine::Interp)?;
        let _ = (a, b);
        store.dump().map(|_| ())
    }));
    match ran {
        Err(p) => Verdict::Problem(format!("a run panicked: {}", panic_text(p))),
        Ok(Err(e)) if !expected(&e) => Verdict::Problem(format!("run: unexpected error: {e}")),
        Ok(_) => Verdict::Fine,
    }
}

/// The errors a corrupted database may give: anything but a deployment refusal, which
/// would mean the store misread a database as holding something it does not.
fn expected(e: &StoreError) -> bool {
    !matches!(e, StoreError::Deploy(_) | StoreError::ReadOnly { .. })
}

/// A fresh directory, removed when the guard drops (also when the test fails).
fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("coopvm-corrupt-")
        .tempdir()
        .unwrap()
}

#[test]
fn corrupted_databases_never_panic_abort_or_hang() {
    let guard = temp();
    let dir = guard.path();
    let original_path = dir.join("original.redb");
    build(&original_path);
    let original = std::fs::read(&original_path).unwrap();
    // The intact database opens, shows and runs.
    let intact = dir.join("intact.redb");
    std::fs::write(&intact, &original).unwrap();
    let ro = dir.join("intact-ro.redb");
    std::fs::write(&ro, &original).unwrap();
    let v = exercise(&intact, &ro);
    assert!(matches!(v, Verdict::Fine), "{v:?}");

    let interesting: Vec<usize> = original
        .iter()
        .enumerate()
        .filter(|(_, b)| **b != 0)
        .map(|(i, _)| i)
        .collect();
    let copies = setting("COOPVM_CORRUPT_COPIES", COPIES as u64) as usize;
    let mut rng = Rng(setting("COOPVM_CORRUPT_SEED", 0x9e37_79b9_7f4a_7c15).max(1));
    let mut problems = Vec::new();
    let mut errors = 0;
    let started = Instant::now();
    for copy in 0..copies {
        let d = damage(&mut rng, &original, &interesting);
        let mut bytes = original.clone();
        for (at, mask) in &d.edits {
            bytes[*at] ^= mask;
        }
        let rw = dir.join(format!("copy{copy}.redb"));
        let ro = dir.join(format!("copy{copy}-ro.redb"));
        std::fs::write(&rw, &bytes).unwrap();
        std::fs::write(&ro, &bytes).unwrap();
        // On its own thread, so a hang is reported instead of hanging the test.
        let (tx, rx) = mpsc::channel();
        let (rw2, ro2) = (rw.clone(), ro.clone());
        std::thread::spawn(move || {
            let _ = tx.send(exercise(&rw2, &ro2));
        });
        match rx.recv_timeout(PER_COPY) {
            Ok(Verdict::Fine) => {}
            Ok(Verdict::Refused) => errors += 1,
            Ok(Verdict::Problem(p)) => problems.push(format!("copy {copy} {:?}: {p}", d.edits)),
            Err(_) => problems.push(format!(
                "copy {copy} {:?}: took longer than {PER_COPY:?}",
                d.edits
            )),
        }
        let _ = std::fs::remove_file(&rw);
        let _ = std::fs::remove_file(&ro);
    }
    eprintln!(
        "{copies} corrupted copies of a {}-byte database in {:?}: {errors} refused as corrupted, {} problem(s)",
        original.len(),
        started.elapsed(),
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
