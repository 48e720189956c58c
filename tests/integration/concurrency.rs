//! Concurrency for embedders: independent contracts, each with its own host, run on several
//! threads at once and give exactly the results of a sequential run. Verified contracts are
//! shared between threads behind an `Arc`.

use coopvm::domain::CoopHost;
use coopvm::{load, Engine};
use coopvm::{ExecutionContext, Limits, Outcome, Verified};
use std::sync::Arc;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn vm_types_are_send_and_sync() {
    assert_send_sync::<Verified>();
    assert_send_sync::<coopvm::interp::Lowered>();
    assert_send_sync::<CoopHost>();
    assert_send_sync::<Outcome>();
    assert_send_sync::<Engine>();
    assert_send_sync::<coopvm::store::Store>();
}

/// A contract computing fib(n) iteratively, storing it, and (for odd n) founding a
/// cooperative and allocating to a member, so both pure and domain work are exercised.
fn contract(i: u32) -> Verified {
    let n = 20 + i % 40;
    let domain = if i % 2 == 1 {
        format!(
            "push \"coop{i}\"\npush {}\ncreatecooperative\n\
             push \"coop{i}\"\npush \"did:key:founder\"\npush {}\nallocateresource\n",
            1000 + i,
            i + 1
        )
    } else {
        String::new()
    };
    let src = format!(
        ".contract c{i}\n.state a 0\n.state b 1\n.state k {n}\n{domain}\
         loop:\n load k\n jumpif body\n jump done\n\
         body:\n load a\n load b\n dup\n store a\n add\n store b\n\
         load k\n push 1\n sub\n store k\n jump loop\n\
         done:\n load a\n push \"Done\"\n load a\n emitevent\n halt\n"
    );
    load::from_source(&format!("c{i}.casm"), &src)
        .unwrap()
        .verify(&Limits::default())
        .unwrap()
}

fn ctx(i: u32) -> ExecutionContext {
    ExecutionContext {
        caller_did: "did:key:founder".into(),
        timestamp: u64::from(i),
        block_number: u64::from(i),
        ..Default::default()
    }
}

/// Runs contract `i` three times on a fresh host; returns every outcome and the final world.
fn work(v: &Verified, i: u32) -> (Vec<Outcome>, String) {
    let mut host = CoopHost::new();
    let outs: Vec<Outcome> = (0..3)
        .map(|_| host.execute(v, &ctx(i), 1_000_000, &Engine::Interp))
        .collect();
    let world = format!(
        "{:?} {:?} {:?}",
        host.contract_state(&v.contract().id),
        host.cooperative(&format!("coop{i}")),
        host.events()
    );
    (outs, world)
}

#[test]
fn parallel_runs_match_sequential_runs() {
    let contracts: Vec<Arc<Verified>> = (0..48).map(|i| Arc::new(contract(i))).collect();
    let sequential: Vec<_> = contracts
        .iter()
        .enumerate()
        .map(|(i, v)| work(v, i as u32))
        .collect();
    // Sanity: the runs did real work and the domain ops behaved as designed.
    assert_eq!(sequential[0].0[0].stack, vec![6765]); // fib(20)
    assert!(sequential[1].0[0].is_ok());
    assert_eq!(
        sequential[1].0[1].result.as_ref().unwrap_err().kind.name(),
        "already_exists"
    );

    let threads = 4;
    let parallel: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let contracts = &contracts;
                s.spawn(move || {
                    (t..contracts.len())
                        .step_by(threads)
                        .map(|i| (i, work(&contracts[i], i as u32)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    });
    assert_eq!(parallel.len(), sequential.len());
    for (i, (p, s)) in parallel.iter().zip(&sequential).enumerate() {
        assert_eq!(p, s, "contract {i}");
    }
}

#[test]
fn one_host_per_thread_can_share_one_contract() {
    let v = Arc::new(contract(3));
    let expected = work(&v, 3);
    let results: Vec<_> = std::thread::scope(|s| {
        (0..4)
            .map(|_| {
                let v = Arc::clone(&v);
                s.spawn(move || work(&v, 3))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    assert!(results.iter().all(|r| *r == expected));
}
