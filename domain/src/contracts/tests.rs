use super::*;
use coopvm_core::load;
use coopvm_core::{EventValue, Limits};
use coopvm_engine::Engine;

fn verified(src: &str) -> Verified {
    load::from_source("t.casm", src)
        .unwrap()
        .verify(&Limits::default())
        .unwrap()
}

/// Deploys `src` as alice.
fn deploy(host: &mut CoopHost, src: &str) {
    host.deploy(verified(src), "did:key:alice").unwrap();
}

fn ctx() -> ExecutionContext {
    ExecutionContext {
        caller_did: "did:key:alice".into(),
        ..Default::default()
    }
}

const DOUBLER: &str = ".contract doubler\n.state calls 0\n\
    load calls\npush 1\nadd\nstore calls\n\
    push \"Doubled\"\nload arg\nemitevent\n\
    load arg\npush 2\nmul\nhalt\n";

#[test]
fn call_runs_the_dependency_with_its_argument() {
    let mut host = CoopHost::default();
    deploy(&mut host, DOUBLER);
    let main = verified(
        ".contract main\n.depends doubler\n\
         push \"doubler\"\npush 21\ncallcontract\nhalt\n",
    );
    let out = host.execute(&main, &ctx(), 10_000, &Engine::Interp);
    assert_eq!(out.result, Ok(()));
    assert_eq!(out.stack, vec![42]);
    // The callee's state persisted, without the argument.
    let s = host.contract_state("doubler").unwrap();
    assert_eq!(s.get("calls"), Some(&1));
    assert!(!s.contains_key(ARG_KEY));
    // Its event carries its own id.
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].contract, "doubler");
    assert_eq!(out.events[0].fields["value"], EventValue::Int(21));
    // Gas: the caller's block (push 1 + push 1 + callcontract 50 + halt 1) plus the
    // callee's whole run (3+1+1+3 + 1+3+10 + 3+1+2+1).
    assert_eq!(out.gas_used, 53 + 29);
    host.execute(&main, &ctx(), 10_000, &Engine::Interp);
    assert_eq!(host.contract_state("doubler").unwrap()["calls"], 2);
}

#[test]
fn callee_failure_rolls_back_everything() {
    let mut host = CoopHost::default();
    deploy(
        &mut host,
        ".contract failing\n.state n 0\n\
         push \"c\"\npush 5\ncreatecooperative\n\
         push 1\nstore n\npush 1\npush 0\ndiv\n",
    );
    let main = verified(
        ".contract main\n.depends failing\n.state x 0\n\
         push 7\nstore x\n\
         push \"failing\"\npush 0\ncallcontract\n",
    );
    let out = host.execute(&main, &ctx(), 10_000, &Engine::Interp);
    let e = out.result.unwrap_err();
    assert_eq!(e.kind, ErrorKind::DivisionByZero);
    assert!(
        e.message.contains("in contract `failing` at instruction"),
        "{}",
        e.message
    );
    assert!(host.cooperative("c").is_none());
    assert!(host.contract_state("failing").is_none());
    assert!(host.contract_state("main").is_none());
    assert!(host.events().is_empty());
}

#[test]
fn caller_failure_after_a_successful_call_rolls_back_the_callee() {
    let mut host = CoopHost::default();
    deploy(&mut host, DOUBLER);
    let main = verified(
        ".contract main\n.depends doubler\n\
         push \"doubler\"\npush 1\ncallcontract\npush 0\ndiv\n",
    );
    let out = host.execute(&main, &ctx(), 10_000, &Engine::Interp);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::DivisionByZero);
    assert!(host.contract_state("doubler").is_none());
}

#[test]
fn callee_out_of_gas_uses_the_callers_limit() {
    let mut host = CoopHost::default();
    deploy(&mut host, ".contract spin\nl:\njump l\n");
    let main = verified(".contract main\n.depends spin\npush \"spin\"\npush 0\ncallcontract\n");
    let out = host.execute(&main, &ctx(), 500, &Engine::Interp);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::OutOfGas);
    assert_eq!(out.gas_used, 500);
}

#[test]
fn refusals() {
    let mut host = CoopHost::default();
    // Not declared.
    deploy(&mut host, DOUBLER);
    let undeclared = verified(".contract m\npush \"doubler\"\npush 1\ncallcontract\n");
    let out = host.execute(&undeclared, &ctx(), 10_000, &Engine::Interp);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::PermissionDenied);
    // Declared but not deployed: refused before the run, no gas used.
    let missing = verified(".contract m\n.depends ghost\npush 1\n");
    let out = host.execute(&missing, &ctx(), 10_000, &Engine::Interp);
    let e = out.result.unwrap_err();
    assert_eq!(e.kind, ErrorKind::MissingDependency);
    assert!(e.message.contains("`ghost`"));
    assert_eq!(out.gas_used, 0);
    assert_eq!(out.events[0].name, "Error");
    // Re-entrancy: a -> b -> a.
    deploy(
        &mut host,
        ".contract a\n.depends b\npush \"b\"\npush 0\ncallcontract\n",
    );
    deploy(
        &mut host,
        ".contract b\n.depends a\npush \"a\"\npush 0\ncallcontract\n",
    );
    let a = host.deployed("a").unwrap().clone();
    let out = host.execute(&a, &ctx(), 10_000, &Engine::Interp);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::InvalidArgument);
    // Depth: c0 -> c1 -> ... -> c9.
    for i in 0..10 {
        deploy(
            &mut host,
            &format!(
                ".contract c{i}\n.depends c{}\npush \"c{}\"\npush 0\ncallcontract\n",
                i + 1,
                i + 1
            ),
        );
    }
    deploy(&mut host, ".contract c10\npush 1\n");
    let c0 = host.deployed("c0").unwrap().clone();
    let out = host.execute(&c0, &ctx(), 100_000, &Engine::Interp);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::CallDepthExceeded);
    // The callee's own permission checks apply.
    deploy(&mut host, ".contract guarded\n.permission admin\npush 1\n");
    let g = verified(".contract m2\n.depends guarded\npush \"guarded\"\npush 0\ncallcontract\n");
    let out = host.execute(&g, &ctx(), 10_000, &Engine::Interp);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::PermissionDenied);
}

const CALLER: &str = ".contract caller\n.depends doubler\n\
    push \"doubler\"\npush 21\ncallcontract\n";
const EVIL: &str =
    ".contract doubler\n.state calls 0\npush 99\nstore calls\nload arg\npop\npush 99\n";

#[test]
fn a_deployed_id_runs_only_its_deployed_code() {
    let mut host = CoopHost::default();
    deploy(&mut host, DOUBLER);
    let caller = verified(CALLER);
    assert_eq!(
        host.execute(&caller, &ctx(), 10_000, &Engine::Interp).stack,
        [42]
    );
    // A file declaring `.contract doubler` with other code cannot run under that id...
    let evil = verified(EVIL);
    let mallory = ExecutionContext {
        caller_did: "did:key:mallory".into(),
        ..ctx()
    };
    let out = host.execute(&evil, &mallory, 10_000, &Engine::Interp);
    let e = out.result.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    assert!(
        e.message.contains("deployed with different code"),
        "{}",
        e.message
    );
    assert!(e.message.contains("did:key:alice"), "{}", e.message);
    assert_eq!(out.gas_used, 0);
    // ... nor be deployed over it, by anyone.
    let e = host.deploy(verified(EVIL), "did:key:mallory").unwrap_err();
    assert!(matches!(e, DeployError::NotOwner { .. }), "{e}");
    let e = host.deploy(verified(EVIL), "did:key:alice").unwrap_err();
    assert!(
        matches!(e, DeployError::AlreadyDeployed { revision: 1, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("upgrade"), "{e}");
    // So the caller still gets the real doubler, whose state was not touched.
    assert_eq!(
        host.execute(&caller, &ctx(), 10_000, &Engine::Interp).stack,
        [42]
    );
    assert_eq!(host.contract_state("doubler").unwrap()["calls"], 2);
    // Running or deploying the deployed code itself is fine, for anyone.
    assert_eq!(
        host.deploy(verified(DOUBLER), "did:key:mallory"),
        Ok(DeployOutcome::Unchanged)
    );
    // (It runs, and fails only because `arg` is given by callers.)
    let out = host.execute(&verified(DOUBLER), &mallory, 10_000, &Engine::Interp);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::InvalidMemoryAccess);
}

#[test]
fn only_the_owner_upgrades_and_the_state_stays() {
    let mut host = CoopHost::default();
    deploy(&mut host, DOUBLER);
    let caller = verified(CALLER);
    host.execute(&caller, &ctx(), 10_000, &Engine::Interp);
    let first = host.deployment("doubler").unwrap().clone();
    assert_eq!((first.owner.as_str(), first.revision), ("did:key:alice", 1));
    assert_eq!(
        first.code_hash,
        address::code_hash_hex(verified(DOUBLER).contract())
    );
    let tripler = DOUBLER.replace("push 2", "push 3");
    let e = host
        .upgrade(verified(&tripler), "did:key:mallory")
        .unwrap_err();
    assert!(matches!(e, DeployError::NotOwner { .. }), "{e}");
    assert_eq!(
        host.upgrade(verified(&tripler), "did:key:alice"),
        Ok(DeployOutcome::Upgraded)
    );
    let d = host.deployment("doubler").unwrap();
    assert_eq!(d.revision, 2);
    assert_eq!(d.previous, vec![first.code_hash]);
    // callcontract resolves to the upgraded code, which keeps the stored state.
    assert_eq!(
        host.execute(&caller, &ctx(), 10_000, &Engine::Interp).stack,
        [63]
    );
    assert_eq!(host.contract_state("doubler").unwrap()["calls"], 2);
    // Upgrading to the same code changes nothing; an unknown id cannot be upgraded.
    assert_eq!(
        host.upgrade(verified(&tripler), "did:key:alice"),
        Ok(DeployOutcome::Unchanged)
    );
    assert_eq!(host.deployment("doubler").unwrap().revision, 2);
    let e = host
        .upgrade(verified(".contract ghost\npush 1\n"), "did:key:alice")
        .unwrap_err();
    assert!(matches!(e, DeployError::NotDeployed { .. }), "{e}");
}

#[test]
fn the_first_successful_run_deploys_with_the_caller_as_owner() {
    let mut host = CoopHost::default();
    let bob = ExecutionContext {
        caller_did: "did:key:bob".into(),
        ..ctx()
    };
    // A failed first run deploys nothing.
    let failing = verified(".contract counter\npush 1\npush 0\ndiv\n");
    assert!(!host.execute(&failing, &bob, 1_000, &Engine::Interp).is_ok());
    assert!(host.deployment("counter").is_none());
    let counter = verified(".contract counter\n.state n 0\nload n\npush 1\nadd\ndup\nstore n\n");
    assert!(host.execute(&counter, &bob, 1_000, &Engine::Interp).is_ok());
    let d = host.deployment("counter").unwrap();
    assert_eq!((d.owner.as_str(), d.revision), ("did:key:bob", 1));
    assert!(host.deployed("counter").is_some());
    // Now the failing file (other code, same id) is refused, and the counter counts on.
    let out = host.execute(&failing, &bob, 1_000, &Engine::Interp);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::AlreadyExists);
    assert_eq!(
        host.execute(&counter, &ctx(), 1_000, &Engine::Interp).stack,
        [2]
    );
}

#[test]
fn anonymous_contracts_do_not_share_state() {
    let mut host = CoopHost::default();
    let a = verified(".state n 0\nload n\npush 1\nadd\ndup\nstore n\n");
    let b = verified(".state n 0\nload n\npush 10\nadd\ndup\nstore n\n");
    assert_ne!(a.contract().id, b.contract().id);
    for _ in 0..2 {
        host.execute(&a, &ctx(), 1_000, &Engine::Interp);
    }
    assert_eq!(host.execute(&b, &ctx(), 1_000, &Engine::Interp).stack, [10]);
    assert_eq!(host.contract_state(&a.contract().id).unwrap()["n"], 2);
    // A code address cannot be upgraded.
    let e = host.upgrade(a.clone(), "did:key:alice").unwrap_err();
    assert!(matches!(e, DeployError::CodeAddress { .. }), "{e}");
}

#[test]
fn ids_and_owners_are_checked() {
    let mut host = CoopHost::default();
    let mut c = verified(".contract x\npush 1\n").into_contract();
    c.id = "bad\nid".into();
    let v = coopvm_core::verify(c, &Limits::default()).unwrap();
    let out = host.execute(&v, &ctx(), 1_000, &Engine::Interp);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::InvalidArgument);
    let e = host.deploy(v, "did:key:alice").unwrap_err();
    assert!(matches!(e, DeployError::InvalidId { .. }), "{e}");
    let e = host
        .deploy(verified(".contract x\npush 1\n"), "alice")
        .unwrap_err();
    assert!(matches!(e, DeployError::InvalidOwner { .. }), "{e}");
    // A contract built without the loader, without an id, is known by its code address.
    let src =
        ".state n 0\nload n\npush 1\nadd\ndup\nstore n\npush \"Counted\"\npush 1\nemitevent\n";
    let anonymous = coopvm_core::verify(
        coopvm_core::asm::assemble("t", src).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    let loaded = verified(src);
    let id = loaded.contract().id.clone();
    assert!(address::is_address(&id));
    let out = host.execute(&anonymous, &ctx(), 1_000, &Engine::Interp);
    assert_eq!(out.stack, [1]);
    assert_eq!(out.events[0].contract, id);
    assert_eq!(host.contract_state(&id).unwrap()["n"], 1);
    assert_eq!(host.deployed(&id).unwrap().contract(), loaded.contract());
    // The loaded form (which carries the address) is the same contract.
    assert_eq!(
        host.execute(&loaded, &ctx(), 1_000, &Engine::Interp).stack,
        [2]
    );
    assert_eq!(
        host.execute(&anonymous, &ctx(), 1_000, &Engine::Interp)
            .stack,
        [3]
    );
    assert_eq!(
        host.deploy(anonymous, "did:key:bob"),
        Ok(DeployOutcome::Unchanged)
    );
}

#[test]
fn reputation_is_the_stored_score_not_the_contexts() {
    let mut host = CoopHost::default();
    let guarded = verified(".contract guarded\n.reputation 50\npush 1\n");
    let claims = ExecutionContext {
        reputation_score: 10_000_000,
        ..ctx()
    };
    let out = host.execute(&guarded, &claims, 1_000, &Engine::Interp);
    assert_eq!(
        out.result.unwrap_err().kind,
        ErrorKind::InsufficientReputation
    );
    host.set_reputation("did:key:alice", 50).unwrap();
    assert!(host
        .execute(
            &guarded,
            &ExecutionContext::default(),
            1_000,
            &Engine::Interp
        )
        .result
        .is_err());
    assert!(host
        .execute(&guarded, &ctx(), 1_000, &Engine::Interp)
        .is_ok());
    assert!(host.set_reputation("did:key:alice", 1001).is_err());
    // A callee's `.reputation` is checked against the stored score too.
    deploy(&mut host, ".contract lib\n.reputation 60\npush 7\n");
    let main = verified(".contract main\n.depends lib\npush \"lib\"\npush 0\ncallcontract\n");
    let out = host.execute(&main, &claims, 1_000, &Engine::Interp);
    assert_eq!(
        out.result.unwrap_err().kind,
        ErrorKind::InsufficientReputation
    );
    host.set_reputation("did:key:alice", 60).unwrap();
    assert_eq!(
        host.execute(&main, &ctx(), 1_000, &Engine::Interp).stack,
        [7]
    );
}

#[test]
fn deployments_need_the_default_limits() {
    let mut host = CoopHost::default();
    let big = Limits {
        stack: 1 << 20,
        ..Limits::default()
    };
    let deep: String = ".contract deep\n".to_owned() + &"push 1\n".repeat(1100);
    let v = coopvm_core::verify(load::from_source("t", &deep).unwrap().contract, &big).unwrap();
    let e = host.deploy(v.clone(), "did:key:alice").unwrap_err();
    assert!(matches!(e, DeployError::Unverifiable { .. }), "{e}");
    // Nor can its first run deploy it.
    let out = host.execute(&v, &ctx(), 10_000, &Engine::Interp);
    assert!(out.result.unwrap_err().message.contains("cannot be"));
    // Smaller limits are fine: the deployment is verified again with the defaults.
    let small = Limits {
        stack: 2,
        ..Limits::default()
    };
    let v = coopvm_core::verify(
        load::from_source("t", ".contract a\npush 1\n")
            .unwrap()
            .contract,
        &small,
    )
    .unwrap();
    assert!(host.execute(&v, &ctx(), 10_000, &Engine::Interp).is_ok());
    assert_eq!(host.deployed("a").unwrap().limits(), &Limits::default());
}

/// A contract verified with other limits than the host's is verified again for its
/// deployment once, not on every run: hosts reset between runs (or clones of one world)
/// deploy the same verified form, which is the verifier's result for the host's limits and
/// the contract's id (its code address when it has none). A host with other limits verifies
/// for itself; a contract that cannot be deployed is refused on every run.
#[test]
fn the_deployed_form_is_verified_once_per_contract() {
    let small = Limits {
        stack: 5,
        ..Limits::default()
    };
    for src in [".contract a\npush 1\n", "push 7\npush 1\nadd\n"] {
        let contract = load::from_source("t", src).unwrap().contract;
        let v = coopvm_core::verify(contract.clone(), &small).unwrap();
        let id = contract_id(&contract).unwrap();
        let base = CoopHost::default();
        let mut forms = Vec::new();
        for _ in 0..3 {
            let mut host = base.clone();
            assert!(host.execute(&v, &ctx(), 10_000, &Engine::Interp).is_ok());
            forms.push(host.deployed(&id).unwrap().clone());
            host.reset_to(&base);
            assert!(host.deployed(&id).is_none());
        }
        assert!(forms.iter().all(|f| Arc::ptr_eq(f, &forms[0])), "{src}");
        let mut as_deployed = contract.clone();
        as_deployed.id.clone_from(&id);
        let want = coopvm_core::verify(as_deployed, &Limits::default()).unwrap();
        assert_eq!(*forms[0], want);
        // A host with other limits deploys the form verified with its own.
        let mut other = CoopHost::default();
        other.limits.stack = 4;
        assert!(other.execute(&v, &ctx(), 10_000, &Engine::Interp).is_ok());
        let theirs = other.deployed(&id).unwrap();
        assert_eq!(theirs.limits().stack, 4);
        assert!(!Arc::ptr_eq(theirs, &forms[0]));
    }
    // Refused on every run, with the same reason.
    let big = Limits {
        stack: 1 << 20,
        ..Limits::default()
    };
    let deep: String = ".contract deep\n".to_owned() + &"push 1\n".repeat(1100);
    let v = coopvm_core::verify(load::from_source("t", &deep).unwrap().contract, &big).unwrap();
    let mut host = CoopHost::default();
    let first = host.execute(&v, &ctx(), 10_000, &Engine::Interp);
    let again = host.execute(&v, &ctx(), 10_000, &Engine::Interp);
    assert!(first
        .result
        .as_ref()
        .unwrap_err()
        .message
        .contains("cannot be"));
    assert_eq!(first, again);
    assert!(host.deployed("deep").is_none());
}

#[test]
fn a_callee_with_inputs_is_refused() {
    let mut host = CoopHost::default();
    host.deploy(
        verified(".contract takes_one\n.params 1\npush 2\nmul\n"),
        "did:key:alice",
    )
    .unwrap();
    let main =
        verified(".contract main\n.depends takes_one\npush \"takes_one\"\npush 21\ncallcontract\n");
    let out = host.execute(&main, &ctx(), 10_000, &Engine::Interp);
    let e = out.result.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("takes 1 input(s)"), "{}", e.message);
}
