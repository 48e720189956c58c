//! Every engine gives the same outcome for domain operations, including nested contract
//! calls and running out of gas inside a callee, at every gas limit around the edges.

use coopvm::domain::CoopHost;
use coopvm::{load, Engine};
use coopvm::{ExecutionContext, Limits, Outcome, Verified};

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
    let mut host = CoopHost::new();
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
        host.execute(v, ctx, 100_000, &self)
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
            let mut host = CoopHost::new();
            host.deploy(doubler.clone(), "did:key:a").unwrap();
            let out = host.execute(&caller, &ctx("did:key:a", 0), gas, &engine);
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

mod random_programs {
    //! Random straight-line programs of domain operations, on a small prepared world, give
    //! the same outcome and the same world on every engine, at any gas limit.
    use super::*;
    use coopvm::Op;
    use proptest::prelude::*;

    const STRINGS: [&str; 6] = [
        "makers",
        "other",
        "did:key:alice",
        "did:key:bob",
        "not a did",
        "fed",
    ];
    const OPS: [Op; 14] = [
        Op::CreateCooperative,
        Op::JoinCooperative,
        Op::LeaveCooperative,
        Op::AllocateResource,
        Op::TransferResource,
        Op::CreateFederation,
        Op::JoinFederation,
        Op::CreateProposal,
        Op::CastVote,
        Op::DelegateVotes,
        Op::ExecuteProposal,
        Op::GetReputation,
        Op::UpdateDidDocument,
        Op::VerifyDid,
    ];

    fn program(steps: &[(usize, Vec<i64>)]) -> String {
        let mut src = String::from(".contract random\n");
        for (op, args) in steps {
            let op = OPS[*op % OPS.len()];
            for (i, a) in args.iter().take(op.info().pops as usize).enumerate() {
                // Alternate strings and integers so both kinds of operand occur.
                if (i + a.unsigned_abs() as usize).is_multiple_of(2) {
                    src += &format!("push \"{}\"\n", STRINGS[a.unsigned_abs() as usize % 6]);
                } else {
                    src += &format!("push {a}\n");
                }
            }
            src += &format!("{}\n", op.info().mnemonic);
            if op.info().pushes == 1 {
                src += "pop\n";
            }
        }
        src
    }

    fn prepared(engine: Engine) -> CoopHost {
        let mut host = CoopHost::new();
        let setup = load::from_source(
            "setup.casm",
            "push \"makers\"\npush 100\ncreatecooperative\n\
             push \"makers\"\npush \"p\"\npush 2\npush 50\ncreateproposal\npop\n",
        )
        .unwrap()
        .verify(&Limits::default())
        .unwrap();
        assert!(host
            .execute(&setup, &ctx("did:key:alice", 0), 10_000, &engine)
            .is_ok());
        host
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn engines_agree(
            steps in proptest::collection::vec((0usize..14, proptest::collection::vec(-3i64..9, 4)), 1..12),
            gas in 0u64..2_000,
            bob in any::<bool>(),
            t in 0u64..100,
        ) {
            let v = load::from_source("random.casm", &program(&steps))
                .unwrap()
                .verify(&Limits::default())
                .unwrap();
            let caller = if bob { "did:key:bob" } else { "did:key:alice" };
            let mut results = Vec::new();
            for engine in ENGINES {
                let mut host = prepared(engine);
                let out = host.execute(&v, &ctx(caller, t), gas, &engine);
                results.push((out, world(&host)));
            }
            for r in &results[1..] {
                prop_assert_eq!(r, &results[0]);
            }
        }
    }
}
