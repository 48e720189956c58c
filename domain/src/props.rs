//! Properties over random sequences of domain operations: resources are conserved, a
//! refused operation changes nothing, and a rolled-back run restores the world exactly.
use super::testkit::{Harness, A};
use super::*;
use coopvm_core::Op;
use proptest::prelude::*;

const CALLERS: [&str; 4] = ["did:key:a", "did:key:b", "did:key:c", "did:key:d"];
const COOPS: [&str; 2] = ["x", "y"];

#[derive(Clone, Debug)]
struct Step {
    op: u8,
    caller: usize,
    coop: usize,
    other: usize,
    n: i64,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..10, 0usize..4, 0usize..2, 0usize..4, -5i64..60).prop_map(
        |(op, caller, coop, other, n)| Step {
            op,
            caller,
            coop,
            other,
            n,
        },
    )
}

fn apply(h: &mut Harness, s: &Step) -> VmResult<i64> {
    let coop = A::S(COOPS[s.coop]);
    let other = A::S(CALLERS[s.other]);
    h.caller(CALLERS[s.caller]);
    h.ctx.timestamp = 100 + s.n.unsigned_abs() % 3;
    match s.op {
        0 => h.op(Op::CreateCooperative, &[coop, A::I(s.n * 10)]),
        1 | 2 => h.op(Op::JoinCooperative, &[coop]),
        3 => h.op(Op::LeaveCooperative, &[coop]),
        4 => h.op(Op::AllocateResource, &[coop, other, A::I(s.n)]),
        5 => h.op(Op::TransferResource, &[coop, other, A::I(s.n)]),
        6 => h.op(Op::DelegateVotes, &[coop, other]),
        7 => h.op(
            Op::CreateProposal,
            &[coop, A::S("p"), A::I(s.n.max(1) % 4 + 1), A::I(102)],
        ),
        8 => h.op(Op::CastVote, &[A::I(s.other as i64), A::I(s.n % 2)]),
        _ => h.op(Op::ExecuteProposal, &[A::I(s.other as i64)]),
    }
}

fn snapshot(host: &CoopHost) -> Vec<Vec<(serde_json::Value, serde_json::Value)>> {
    host.domain
        .journals()
        .iter()
        .map(|j| j.entries_json())
        .collect()
}

fn conserved(host: &CoopHost) {
    for (name, c) in host.domain.cooperatives.iter() {
        let held: i64 = host
            .domain
            .members
            .iter()
            .filter(|((coop, _), _)| coop == name)
            .map(|(_, m)| {
                assert!(m.balance >= 0, "negative balance");
                m.balance
            })
            .sum();
        assert!(c.pool >= 0, "negative pool");
        assert_eq!(c.pool + held, c.supply, "cooperative {name}");
    }
}

fn no_delegation_cycles(host: &CoopHost) {
    for ((coop, from), _) in host.domain.delegations.iter() {
        let mut at = from.clone();
        for _ in 0..=host.domain.delegations.len() {
            match host.domain.delegations.get(&(coop.clone(), at.clone())) {
                Some(next) => at = next.clone(),
                None => break,
            }
            assert_ne!(&at, from, "cycle through {from}");
        }
    }
}

/// Every read operation, with arguments drawn from the step's choices.
fn read(h: &mut Harness, s: &Step) -> VmResult<i64> {
    let coop = A::S(COOPS[s.coop]);
    let other = A::S(CALLERS[s.other]);
    let id = A::I(s.other as i64);
    match s.op {
        0 => h.op(Op::GetBalance, &[coop, other]),
        1 => h.op(Op::GetPool, &[coop]),
        2 => h.op(Op::IsMember, &[coop, other]),
        3 => h.op(Op::InFederation, &[A::S("f"), coop]),
        4 => h.op(Op::FederationSize, &[A::S("f")]),
        5 => h.op(Op::FederationMember, &[A::S("f"), A::I(s.n % 3)]),
        6 => h.op(Op::ProposalState, &[id]),
        7 => h.op(Op::ProposalTally, &[id, A::I(s.n % 2)]),
        8 => h.op(Op::HasVoted, &[id, other]),
        _ => {
            if s.n % 2 == 0 {
                h.op(Op::DidRegistered, &[other])
            } else {
                h.op(Op::DidController, &[other])
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn reads_change_nothing(
        setup in proptest::collection::vec(step(), 0..40),
        reads in proptest::collection::vec(step(), 1..20),
    ) {
        let mut h = Harness::new();
        for s in &setup {
            let _ = apply(&mut h, s);
        }
        // Sometimes a federation and a registered DID to read about.
        let _ = h.caller(CALLERS[0]).op(Op::CreateFederation, &[A::S("f"), A::S(COOPS[0])]);
        let _ = h.op(Op::UpdateDidDocument, &[A::S(CALLERS[0]), A::S("doc")]);
        let before = snapshot(&h.host);
        for s in &reads {
            h.caller(CALLERS[s.caller]);
            if read(&mut h, s).is_ok() {
                prop_assert!(h.events.is_empty(), "a read emitted {:?}", h.events);
            }
            prop_assert_eq!(&snapshot(&h.host), &before, "read {:?}", s);
        }
    }

    #[test]
    fn every_step_conserves_and_refusals_change_nothing(
        steps in proptest::collection::vec(step(), 1..60)
    ) {
        let mut h = Harness::new();
        for s in &steps {
            let before = snapshot(&h.host);
            if apply(&mut h, s).is_err() {
                prop_assert_eq!(&snapshot(&h.host), &before, "refused {:?}", s);
            }
            conserved(&h.host);
            no_delegation_cycles(&h.host);
        }
    }

    #[test]
    fn a_rolled_back_run_restores_the_world(
        setup in proptest::collection::vec(step(), 0..30),
        run in proptest::collection::vec(step(), 1..30),
    ) {
        let mut h = Harness::new();
        for s in &setup {
            let _ = apply(&mut h, s);
        }
        let before = snapshot(&h.host);
        // One outer transaction around many committed inner ones, then a rollback.
        h.host.begin();
        for s in &run {
            let _ = apply(&mut h, s);
        }
        h.host.rollback();
        prop_assert!(!h.host.in_transaction());
        prop_assert_eq!(snapshot(&h.host), before);
    }
}
