//! Every engine gives the same outcome for domain operations, including nested contract
//! calls and running out of gas inside a callee, at every gas limit around the edges.

use coopvm::core::{ExecutionContext, Limits, Outcome, Verified};
use coopvm::domain::CoopHost;
use coopvm::{load, Engine};

const ENGINES: [Engine; 3] = [Engine::Interp, Engine::Jit, Engine::Auto];

fn verified(path: &str) -> Verified {
    let full = format!("{}/examples/{path}", env!("CARGO_MANIFEST_DIR"));
    load::from_path(std::path::Path::new(&full))
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

fn world(host: &CoopHost) -> Vec<String> {
    host.domain
        .journals()
        .iter()
        .map(|j| format!("{:?}", j.entries_json()))
        .collect()
}

/// The governance scenario on one engine: every outcome, then the final world.
fn scenario(engine: Engine) -> (Vec<Outcome>, Vec<String>) {
    let mut host = CoopHost::new(engine);
    let steps = [
        ("governance/found.casm", "did:key:alice", 0),
        ("governance/join.casm", "did:key:bob", 1),
        ("governance/join.casm", "did:key:carol", 1),
        ("governance/join.casm", "did:key:carol", 1),
        ("governance/delegate.casm", "did:key:carol", 2),
        ("governance/execute.casm", "did:key:alice", 5),
        ("governance/vote_yes.casm", "did:key:bob", 10),
        ("governance/vote_no.casm", "did:key:alice", 11),
        ("governance/vote_no.casm", "did:key:carol", 12),
        ("governance/execute.casm", "did:key:alice", 1000),
        ("governance/execute.casm", "did:key:alice", 1001),
    ];
    let outs = steps
        .iter()
        .map(|(file, caller, t)| engine.run_on(&mut host, &verified(file), &ctx(caller, *t)))
        .collect();
    (outs, world(&host))
}

trait RunOn {
    fn run_on(self, host: &mut CoopHost, v: &Verified, ctx: &ExecutionContext) -> Outcome;
}

impl RunOn for Engine {
    fn run_on(self, host: &mut CoopHost, v: &Verified, ctx: &ExecutionContext) -> Outcome {
        host.set_engine(self);
        host.execute(v, ctx, 100_000)
    }
}

#[test]
fn engines_agree_on_the_governance_scenario() {
    let (reference, ref_world) = scenario(Engine::Interp);
    assert!(reference[9].is_ok(), "the proposal executes");
    assert!(!reference[5].is_ok(), "too early");
    for engine in &ENGINES[1..] {
        let (outs, w) = scenario(*engine);
        assert_eq!(outs, reference, "{}", engine.name());
        assert_eq!(w, ref_world, "{}", engine.name());
    }
}

#[test]
fn engines_agree_on_nested_calls_at_every_gas_limit() {
    let doubler = verified("calls/doubler.casm");
    let caller = verified("calls/caller.casm");
    // The full run uses 53 (caller) + 15 (callee) = 68 gas: sweep across and past it.
    for gas in 0..90 {
        let mut results = Vec::new();
        for engine in ENGINES {
            let mut host = CoopHost::new(engine);
            host.deploy(doubler.clone());
            let out = host.execute(&caller, &ctx("did:key:a", 0), gas);
            results.push((out, world(&host)));
        }
        let (reference, rest) = results.split_first().unwrap();
        if gas >= 68 {
            assert_eq!(reference.0.stack, vec![42], "gas {gas}");
        } else {
            assert_eq!(
                reference.0.result.as_ref().unwrap_err().kind.name(),
                "out_of_gas",
                "gas {gas}"
            );
            assert_eq!(reference.0.gas_used, gas);
        }
        for r in rest {
            assert_eq!(r, reference, "gas {gas}");
        }
    }
}
