//! Every engine gives the same outcome for domain operations, including nested contract
//! calls and running out of gas inside a callee, at every gas limit around the edges.

use coopvm::domain::CoopHost;
use coopvm::{load, Engine};
use coopvm::{Arg, ExecutionContext, Limits, Outcome, RunParams, Verified};

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
        ("governance/found.casm", "did:key:alice", 0, ""),
        ("governance/join.casm", "did:key:bob", 1, ""),
        ("governance/join.casm", "did:key:carol", 1, ""),
        ("governance/join.casm", "did:key:carol", 1, ""),
        (
            "governance/delegate.casm",
            "did:key:carol",
            2,
            "s:did:key:bob",
        ),
        ("governance/execute.casm", "did:key:alice", 5, "1"),
        ("governance/vote.casm", "did:key:bob", 10, "1,1"),
        ("governance/vote.casm", "did:key:alice", 11, "1,0"),
        ("governance/vote.casm", "did:key:carol", 12, "1,0"),
        ("governance/execute.casm", "did:key:alice", 1000, "1"),
        ("governance/execute.casm", "did:key:alice", 1001, "1"),
        (
            "treasury/pay.casm",
            "did:key:bob",
            1002,
            "s:did:key:carol,30",
        ),
        (
            "treasury/pay.casm",
            "did:key:bob",
            1003,
            "s:did:key:carol,30",
        ),
    ];
    let outs = steps
        .iter()
        .map(|(file, caller, t, args)| {
            let args: Vec<Arg> = args
                .split(',')
                .filter(|a| !a.is_empty())
                .map(|a| match a.strip_prefix("s:") {
                    Some(s) => Arg::from(s),
                    None => Arg::Int(a.parse().unwrap()),
                })
                .collect();
            engine.run_on(&mut host, &verified(file), &ctx(caller, *t), &args)
        })
        .collect();
    (outs, world(&host))
}

trait RunOn {
    fn run_on(
        self,
        host: &mut CoopHost,
        v: &Verified,
        ctx: &ExecutionContext,
        args: &[Arg],
    ) -> Outcome;
}

impl RunOn for Engine {
    fn run_on(
        self,
        host: &mut CoopHost,
        v: &Verified,
        ctx: &ExecutionContext,
        args: &[Arg],
    ) -> Outcome {
        host.execute_with(v, ctx, |host, ctx, state| {
            let params = RunParams::new(ctx, state, 100_000)
                .with_calls(&self)
                .with_args(args);
            (self.run_params(v, params, host), ())
        })
        .0
    }
}

#[test]
fn engines_agree_on_the_governance_scenario() {
    let (reference, ref_world) = scenario(Engine::Interp);
    assert_eq!(reference[9].stack, vec![1], "the proposal executes");
    assert_eq!(reference[5].stack, vec![-2], "too early");
    assert_eq!(reference[8].stack, vec![0], "carol was counted through bob");
    assert_eq!(reference[11].stack, vec![1], "bob pays carol 30 of his 40");
    assert_eq!(reference[12].stack, vec![0], "and cannot pay 30 more");
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

/// A world to read: `makers` (alice, bob with 30 units), the federation `fed` (makers and
/// `other`), proposal 1 with bob's yes vote, and alice's DID registered.
fn readable_world(engine: Engine) -> CoopHost {
    let mut host = CoopHost::new();
    let steps = [
        (
            "did:key:alice",
            "push \"makers\"\npush 100\ncreatecooperative\npush \"fed\"\npush \"makers\"\ncreatefederation\n\
             push \"did:key:alice\"\npush \"{}\"\nupdatediddocument\n",
        ),
        (
            "did:key:bob",
            "push \"makers\"\njoincooperative\npush \"other\"\npush 0\ncreatecooperative\n\
             push \"fed\"\npush \"other\"\njoinfederation\n",
        ),
        (
            "did:key:alice",
            "push \"makers\"\npush \"did:key:bob\"\npush 30\nallocateresource\n\
             push \"makers\"\npush \"p\"\npush 2\npush 50\ncreateproposal\npop\n",
        ),
        ("did:key:bob", "push 1\npush 1\ncastvote\n"),
    ];
    for (caller, src) in steps {
        let v = load::from_source("setup.casm", src)
            .unwrap()
            .verify(&Limits::default())
            .unwrap();
        let out = host.execute(&v, &ctx(caller, 10), 100_000, &engine);
        assert!(out.is_ok(), "{src}: {:?}", out.result);
    }
    host
}

/// Every read operation, answered and refused, agrees on every engine at every gas limit up
/// to its cost, and leaves the world as it was.
#[test]
fn engines_agree_on_reads() {
    let cases: &[(&str, Result<&[i64], &str>)] = &[
        (
            "push \"makers\"\npush \"did:key:bob\"\ngetbalance",
            Ok(&[30]),
        ),
        (
            "push \"makers\"\npush \"did:key:zed\"\ngetbalance",
            Err("not_member"),
        ),
        (
            "push \"nope\"\npush \"did:key:bob\"\ngetbalance",
            Err("not_found"),
        ),
        ("push \"makers\"\ngetpool", Ok(&[70])),
        ("push \"nope\"\ngetpool", Err("not_found")),
        (
            "push \"makers\"\npush \"did:key:bob\"\nismember\npush \"makers\"\ngetcaller\nismember",
            Ok(&[1, 0]),
        ),
        ("push \"nope\"\ngetcaller\nismember", Err("not_found")),
        (
            "push \"fed\"\npush \"other\"\ninfederation\npush \"fed\"\npush \"x\"\ninfederation",
            Ok(&[1, 0]),
        ),
        ("push \"nope\"\npush \"x\"\ninfederation", Err("not_found")),
        ("push \"fed\"\nfederationsize", Ok(&[2])),
        ("push \"nope\"\nfederationsize", Err("not_found")),
        // Member 1 in name order is `other`: its handle is the run's first made string (2,
        // after the two constants), and streq confirms the text.
        (
            "push \"fed\"\npush 1\nfederationmember\ndup\npush \"other\"\nstreq",
            Ok(&[2, 1]),
        ),
        (
            "push \"fed\"\npush 2\nfederationmember",
            Err("invalid_argument"),
        ),
        ("push \"nope\"\npush 0\nfederationmember", Err("not_found")),
        (
            "push 1\nproposalstate\npush 1\npush 1\nproposaltally\npush 1\npush 0\nproposaltally",
            Ok(&[0, 1, 0]),
        ),
        ("push 2\nproposalstate", Err("not_found")),
        ("push 2\npush 1\nproposaltally", Err("not_found")),
        (
            "push 1\npush \"did:key:bob\"\nhasvoted\npush 1\ngetcaller\nhasvoted",
            Ok(&[1, 0]),
        ),
        ("push 7\npush \"did:key:bob\"\nhasvoted", Err("not_found")),
        (
            "push \"did:key:alice\"\ndidregistered\ngetcaller\ndidregistered",
            Ok(&[1, 0]),
        ),
        ("push \"nope\"\ndidregistered", Err("invalid_did")),
        (
            "push \"did:key:alice\"\ndidcontroller\npush \"did:key:alice\"\nstreq",
            Ok(&[1]),
        ),
        ("getcaller\ndidcontroller", Err("not_found")),
        ("push \"nope\"\ndidcontroller", Err("invalid_did")),
    ];
    for (src, want) in cases {
        let v = load::from_source("read.casm", src)
            .unwrap()
            .verify(&Limits::default())
            .unwrap();
        let full: u64 = v.analysis().blocks.iter().map(|b| b.gas).sum::<u64>() + 1;
        for gas in (0..=full).chain([100_000]) {
            let mut results = Vec::new();
            for engine in ENGINES {
                let mut host = readable_world(engine);
                let before = world(&host);
                let out = host.execute(&v, &ctx("did:key:carol", 20), gas, &engine);
                // The domain tables (not the contract states and the run counter, which
                // every successful run updates).
                assert_eq!(
                    world(&host)[..9],
                    before[..9],
                    "{src}: a read changed the world"
                );
                results.push(out);
            }
            for r in &results[1..] {
                assert_eq!(r, &results[0], "{src} with gas {gas}");
            }
            if gas == 100_000 {
                let out = &results[0];
                match want {
                    Ok(stack) => {
                        assert_eq!(out.result, Ok(()), "{src}");
                        assert_eq!(&out.stack[..], *stack, "{src}");
                        assert!(out.events.is_empty(), "{src}");
                    }
                    Err(kind) => {
                        let e = out.result.as_ref().expect_err(src);
                        assert_eq!(e.kind.name(), *kind, "{src}");
                    }
                }
            }
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
    const OPS: [Op; 25] = [
        Op::GetBalance,
        Op::GetPool,
        Op::IsMember,
        Op::InFederation,
        Op::FederationSize,
        Op::FederationMember,
        Op::ProposalState,
        Op::ProposalTally,
        Op::HasVoted,
        Op::DidRegistered,
        Op::DidController,
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
            steps in proptest::collection::vec((0usize..25, proptest::collection::vec(-3i64..9, 4)), 1..12),
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
