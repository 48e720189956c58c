//! Costs of the cooperative host and the store: a run full of domain operations on an
//! in-memory host (with its journaled rollback), a vote weighted through a delegation chain,
//! and a persistent run (one redb write transaction per run, durable commit).
//!
//! `cargo bench -p coopvm-bench --bench domain`

use coopvm::domain::CoopHost;
use coopvm::store::Store;
use coopvm::{load, Engine};
use coopvm::{ExecutionContext, Limits, Verified};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;

fn verified(name: &str, src: &str) -> Verified {
    load::from_source(name, src)
        .unwrap()
        .verify(&Limits::default())
        .unwrap()
}

fn ctx(caller: &str, timestamp: u64) -> ExecutionContext {
    ExecutionContext {
        caller_did: caller.into(),
        timestamp,
        ..Default::default()
    }
}

fn benches(c: &mut Criterion) {
    // Found a cooperative, allocate, transfer, open a proposal, vote: then fail, so every
    // run is rolled back and the host can be reused.
    let busy = verified(
        "busy.casm",
        "push \"c\"\npush 1000\ncreatecooperative\n\
         push \"c\"\npush \"did:key:a\"\npush 10\nallocateresource\n\
         push \"c\"\npush \"c\"\npush \"t\"\npush 1\npush 50\ncreateproposal\n\
         push 1\ncastvote\npop\n\
         push 1\npush 0\ndiv\n",
    );
    let mut host = CoopHost::default();
    c.bench_function("domain/in-memory run of 4 domain ops, rolled back", |b| {
        b.iter(|| {
            let out = host.execute(
                black_box(&busy),
                &ctx("did:key:a", 0),
                100_000,
                &Engine::Interp,
            );
            assert!(!out.is_ok());
        })
    });

    // A cooperative of 64 members, each delegating to the next: one vote counts them all.
    let mut world = CoopHost::default();
    let setup = verified(
        "setup.casm",
        "push \"c\"\npush 0\ncreatecooperative\n\
         push \"c\"\npush \"t\"\npush 1\npush 50\ncreateproposal\npop\n",
    );
    assert!(world
        .execute(&setup, &ctx("did:key:m0", 0), 10_000, &Engine::Interp)
        .is_ok());
    let join = verified("join.casm", "push \"c\"\njoincooperative\n");
    for i in 1..64 {
        assert!(world
            .execute(
                &join,
                &ctx(&format!("did:key:m{i}"), 0),
                10_000,
                &Engine::Interp
            )
            .is_ok());
    }
    for i in 1..64 {
        let d = verified(
            "d.casm",
            &format!("push \"c\"\npush \"did:key:m{}\"\ndelegatevotes\n", i - 1),
        );
        assert!(world
            .execute(
                &d,
                &ctx(&format!("did:key:m{i}"), 0),
                10_000,
                &Engine::Interp
            )
            .is_ok());
    }
    let vote = verified("vote.casm", "push 1\npush 1\ncastvote\n");
    c.bench_function(
        "domain/castvote through a 64-member delegation chain",
        |b| {
            b.iter_batched(
                || world.clone(),
                |mut w| {
                    let out = w.execute(&vote, &ctx("did:key:m0", 1), 1_000_000, &Engine::Interp);
                    assert!(out.is_ok());
                    w
                },
                BatchSize::SmallInput,
            )
        },
    );

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("bench.redb")).unwrap();
    let counter = verified("counter.casm", include_str!("../../examples/counter.casm"));
    c.bench_function("store/persistent counter run (one durable commit)", |b| {
        b.iter(|| {
            let out = store
                .execute(&counter, &ctx("did:key:a", 0), 1_000, &Engine::Interp)
                .unwrap();
            assert!(out.is_ok());
        })
    });
    drop(store);
    drop(dir);
}

criterion_group!(domain, benches);
criterion_main!(domain);
