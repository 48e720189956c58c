//! Differential tests: the JIT against the reference interpreter.
//!
//! Every example, and thousands of generated verified programs (`coopvm_testgen::program`:
//! arithmetic, stack shuffles, loops, conditionals, calls and recursion, static, dynamic and
//! transient memory, strings, every host operation, nested calls, inputs, requirements and
//! small limits) against a test host with dynamic gas, failures and reads that return
//! strings, and raw instruction streams, run on both engines under many gas limits (every
//! limit up to the full cost for small programs, so `out_of_gas` is hit at every block
//! boundary and host charge). Status, stack, gas used, state, events, logs, error (kind,
//! location and message) and the host's final state must be identical. A failing case prints
//! the program as assembly and its inputs.

use coopvm::error::{ErrorKind, VmError, VmResult};
use coopvm::host::HostCx;
use coopvm::jit::NativeCode;
use coopvm::{
    asm::assemble, disasm::disassemble, verify, Arg, ExecutionContext, Host, Limits, NoHost,
    Outcome, RunParams, State, Verified,
};
use coopvm_testgen::arbitrary::Unstructured;
use coopvm_testgen::gas_limits;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn ctx() -> ExecutionContext {
    ExecutionContext {
        caller_did: "did:key:alice".into(),
        cooperative_id: "coop".into(),
        timestamp: 1_700_000_000,
        block_number: 42,
        reputation_score: 10,
        permissions: vec!["member".into()],
    }
}

/// A small deterministic host: reputation scores and a call counter, with dynamic gas
/// (`getreputation` charges the DID's length) and failures (`joincooperative` of an unknown
/// cooperative; the operations it does not implement fail with `host_unavailable`, the trait's
/// default). Transactional like a real host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TestHost {
    scores: BTreeMap<String, i64>,
    pending: Option<BTreeMap<String, i64>>,
    log: Vec<String>,
}

impl TestHost {
    fn live(&mut self) -> &mut BTreeMap<String, i64> {
        let scores = &self.scores;
        self.pending.get_or_insert_with(|| scores.clone())
    }
}

fn refuse<T>(what: &str) -> VmResult<T> {
    Err(VmError::new(
        ErrorKind::NotFound,
        format!("{what}: not found"),
    ))
}

impl Host for TestHost {
    fn begin(&mut self) {
        self.log.push("begin".into());
        self.pending = None;
    }
    fn commit(&mut self) {
        self.log.push("commit".into());
        if let Some(p) = self.pending.take() {
            self.scores = p;
        }
    }
    fn rollback(&mut self) {
        self.log.push("rollback".into());
        self.pending = None;
    }
    fn create_cooperative(&mut self, cx: &mut HostCx, name: &str, pool: i64) -> VmResult<()> {
        cx.emit(
            "CooperativeCreated",
            [("name", name.into()), ("pool", pool.into())],
        );
        self.live().insert(format!("coop:{name}"), pool);
        Ok(())
    }
    fn join_cooperative(&mut self, _: &mut HostCx, coop: &str) -> VmResult<()> {
        if self.live().contains_key(&format!("coop:{coop}")) {
            Ok(())
        } else {
            refuse(coop)
        }
    }
    fn update_reputation(&mut self, cx: &mut HostCx, did: &str, delta: i64) -> VmResult<()> {
        let e = self.live().entry(did.to_owned()).or_insert(0);
        *e = e
            .checked_add(delta)
            .ok_or_else(|| VmError::new(ErrorKind::ArithmeticOverflow, "reputation overflows"))?;
        cx.emit(
            "ReputationUpdated",
            [("did", did.into()), ("delta", delta.into())],
        );
        Ok(())
    }
    fn get_reputation(&mut self, cx: &mut HostCx, did: &str) -> VmResult<i64> {
        cx.charge(did.len() as u64);
        Ok(self.live().get(did).copied().unwrap_or(0))
    }
    fn verify_did(&mut self, _: &mut HostCx, d: &str, _: &str, _: &str) -> VmResult<bool> {
        Ok(d.starts_with("did:"))
    }
    // Reads: dynamic gas, refusals, and results that are strings of the run.
    fn get_balance(&mut self, cx: &mut HostCx, coop: &str, member: &str) -> VmResult<i64> {
        cx.charge(1);
        if !self.live().contains_key(&format!("coop:{coop}")) {
            return refuse(coop);
        }
        Ok(self.live().get(member).copied().unwrap_or(0))
    }
    fn federation_member(
        &mut self,
        cx: &mut HostCx,
        federation: &str,
        index: i64,
    ) -> VmResult<String> {
        let Ok(n) = u64::try_from(index) else {
            return Err(VmError::new(ErrorKind::InvalidArgument, "negative index"));
        };
        cx.charge(n);
        Ok(format!("{federation}-{index}"))
    }
    fn did_controller(&mut self, _: &mut HostCx, did: &str) -> VmResult<String> {
        Ok(did.to_uppercase())
    }
}

/// Both engines on `v` with inputs `args` and each gas limit; panics with the program's
/// assembly on the first disagreement. Returns the outcomes (JIT's).
fn compare(
    v: &Verified,
    code: &NativeCode,
    state: &State,
    host: &TestHost,
    args: &[Arg],
    gases: &[u64],
) -> Vec<Outcome> {
    let ctx = ctx();
    let t1 = std::time::Instant::now();
    let r = gases
        .iter()
        .map(|&gas| {
            let params = RunParams::new(&ctx, state, gas).with_args(args);
            let mut h1 = host.clone();
            let want = coopvm::run::run(&*coopvm::interp::lowered(v), v, params, &mut h1);
            let mut h2 = host.clone();
            let got = coopvm::run::run(code, v, params, &mut h2);
            if got != want || h1 != h2 {
                panic!(
                    "engines disagree with gas limit {gas}, limits {:?}, state {state:?}, inputs {args:?}\n\
                     --- program ---\n{}\n--- interp ---\n{want:#?}\n{h1:?}\n--- jit ---\n{got:#?}\n{h2:?}",
                    v.limits(),
                    disassemble(v.contract())
                );
            }
            got
        })
        .collect();
    if std::env::var("DIFF_TIME").is_ok() {
        eprintln!("TIME runs {} {:?}", gases.len(), t1.elapsed());
    }
    r
}

/// Run statistics on both engines (the interpreter's stats loop and the JIT's counted code)
/// for `v` with each gas limit: the same outcome as a plain run and the same figures.
fn compare_stats(v: &Verified, state: &State, host: &TestHost, args: &[Arg], gases: &[u64]) {
    let ctx = ctx();
    let counted = coopvm::jit::compile_counted(v).expect("the JIT compiles what it compiled");
    let lowered = coopvm::interp::lower(v);
    for &gas in gases {
        let params = RunParams::new(&ctx, state, gas).with_args(args);
        let plain = coopvm::run::run(&lowered, v, params, &mut host.clone());
        let (interp, want) = coopvm::stats::run_with_stats(&lowered, v, params, &mut host.clone());
        let (jit, got) = coopvm::stats::run_with_stats(&counted, v, params, &mut host.clone());
        assert!(
            interp == plain && jit == plain && got.deterministic() == want.deterministic(),
            "stats disagree with gas limit {gas}\n--- program ---\n{}\n--- interp ---\n{want:#?}\n--- jit ---\n{got:#?}",
            disassemble(v.contract())
        );
    }
}

/// Every `.casm` file under `examples/`, verified, with the inputs its `; args:` line
/// declares (for `.params`; none otherwise).
fn examples() -> Vec<(String, Verified, Vec<Arg>)> {
    let paths = coopvm_testgen::casm_files(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples"
    )));
    paths
        .into_iter()
        .map(|path| {
            let name = path.display().to_string();
            let src = std::fs::read_to_string(&path).expect("readable");
            let contract = assemble(&name, &src).expect("examples assemble");
            let v = verify(contract, &Limits::default())
                .unwrap_or_else(|e| panic!("{name} does not verify: {e}"));
            let args: Vec<Arg> = src
                .lines()
                .find_map(|l| l.trim().strip_prefix("; args:"))
                .map(|a| {
                    a.split(',')
                        .map(|v| match v.trim().strip_prefix("s:") {
                            Some(s) => Arg::from(s),
                            None => Arg::Int(v.trim().parse().expect("an integer input")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(
                args.len(),
                v.contract().params as usize,
                "{name}: `; args:`"
            );
            (name, v, args)
        })
        .collect()
}

#[test]
fn every_example_agrees_at_every_gas_limit() {
    let all = examples();
    assert!(all.len() >= 10, "only {} examples found", all.len());
    for (_, v, args) in &all {
        let state = v.contract().state.clone();
        let host = TestHost::default();
        let code = coopvm::jit::compile(v).expect("compiles");
        let full = compare(v, &code, &state, &host, args, &[coopvm::DEFAULT_GAS_LIMIT])[0].gas_used;
        compare(v, &code, &state, &host, args, &gas_limits(full, 7));
    }
}

/// The governance and contract-call examples against the real cooperative host, one host
/// per engine, step by step: every outcome and the final domain state must agree.
#[test]
fn cooperative_host_scenarios_agree() {
    use coopvm::domain::CoopHost;
    use coopvm::Engine;
    let all = examples();
    let get = |suffix: &str| {
        all.iter()
            .find(|(n, _, _)| n.ends_with(suffix))
            .map(|(_, v, _)| v.clone())
            .unwrap_or_else(|| panic!("no example {suffix}"))
    };
    let bob = || vec![Arg::from("did:key:bob")];
    let vote = |choice| Arg::ints(&[1, choice]);
    let one = || Arg::ints(&[1]);
    let steps: &[(&str, &str, u64, Vec<Arg>)] = &[
        ("governance/found.casm", "did:key:alice", 0, vec![]),
        ("governance/join.casm", "did:key:bob", 1, vec![]),
        ("governance/join.casm", "did:key:carol", 1, vec![]),
        ("governance/join.casm", "did:key:dave", 1, vec![]),
        ("governance/join.casm", "did:key:bob", 2, vec![]),
        ("governance/delegate.casm", "did:key:carol", 3, bob()),
        ("governance/delegate.casm", "did:key:dave", 3, bob()),
        ("governance/execute.casm", "did:key:alice", 500, one()),
        ("governance/vote.casm", "did:key:bob", 10, vote(1)),
        ("governance/vote.casm", "did:key:alice", 20, vote(0)),
        ("governance/vote.casm", "did:key:carol", 30, vote(0)),
        ("governance/vote.casm", "did:key:erin", 1000, vote(1)),
        ("governance/execute.casm", "did:key:bob", 1000, one()),
        ("governance/execute.casm", "did:key:alice", 1000, one()),
        ("governance/execute.casm", "did:key:alice", 1001, one()),
        (
            "treasury/pay.casm",
            "did:key:bob",
            1002,
            vec![Arg::from("did:key:carol"), Arg::Int(15)],
        ),
        (
            "treasury/pay.casm",
            "did:key:bob",
            1002,
            vec![Arg::from("did:key:carol"), Arg::Int(100)],
        ),
        ("treasury/balance.casm", "did:key:carol", 1003, bob()),
        ("calls/caller.casm", "did:key:alice", 1004, vec![]),
    ];
    for gas in [coopvm::DEFAULT_GAS_LIMIT, 120, 260] {
        let mut hosts = [CoopHost::new(), CoopHost::new()];
        for host in &mut hosts {
            host.deploy(get("calls/doubler.casm"), "did:key:alice")
                .unwrap();
        }
        let mut succeeded = 0;
        for (file, caller, timestamp, args) in steps {
            let v = get(file);
            let ctx = ExecutionContext {
                caller_did: (*caller).into(),
                timestamp: *timestamp,
                ..ctx()
            };
            let [a, b] = &mut hosts;
            let on = |host: &mut CoopHost, engine: Engine| {
                host.execute_with(&v, &ctx, |host, ctx, state| {
                    let params = RunParams::new(ctx, state, gas)
                        .with_calls(&engine)
                        .with_args(args);
                    (engine.run_params(&v, params, host), ())
                })
                .0
            };
            let want = on(a, Engine::Interp);
            let got = on(b, Engine::Jit);
            assert_eq!(got, want, "{file} as {caller} with gas {gas}");
            succeeded += usize::from(got.is_ok());
        }
        if gas == coopvm::DEFAULT_GAS_LIMIT {
            // The scenario really runs (the refusals are the ones tests/governance.rs expects).
            assert_eq!(succeeded, 17, "successful steps");
        }
        // Compared as values (every table: entries, undo log, dirty keys); the text is only
        // written for a failure's report.
        assert_eq!(
            hosts[1].domain, hosts[0].domain,
            "domain state after the scenario with gas {gas}"
        );
    }
}

/// The gas limit of a generated program's reference run (a loop that never ends burns all
/// of it at every limit of the sweep).
const REFERENCE_GAS: u64 = 100_000;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("DIFF_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(3000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_programs_agree(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        let mut u = Unstructured::new(&data);
        // One host in five starts with a reputation and a cooperative.
        let seeded = u.int_in_range(0..=4u8).unwrap_or(0) == 4;
        let salt: u64 = u.arbitrary().unwrap_or(0);
        let g = coopvm_testgen::program(&mut u);
        let contract = assemble("gen.casm", &g.source).expect("generated programs assemble");
        let Ok(v) = verify(contract, &g.limits) else {
            // Too deep for a small stack limit: the verifier's business, not ours.
            return Ok(());
        };
        let state = v.contract().state.clone();
        let mut host = TestHost::default();
        if seeded {
            host.scores.insert("did:key:alice".into(), 3);
            host.scores.insert("coop:nocoop".into(), 1);
        }
        let code = coopvm::jit::compile(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let full = compare(&v, &code, &state, &host, &g.args, &[REFERENCE_GAS])[0].gas_used;
        compare(&v, &code, &state, &host, &g.args, &gas_limits(full, salt));
        compare_stats(&v, &state, &host, &g.args, &[full, salt % (full + 1)]);
    }
}

/// The generator reaches every opcode of the toolkit (stack shuffles, transient memory,
/// strings, reads) and inputs of both kinds in programs the verifier accepts, so the
/// property above compares the engines on them.
#[test]
fn the_generator_reaches_the_new_opcodes_and_inputs() {
    use std::collections::BTreeSet;
    let mut seen = BTreeSet::new();
    let (mut with_inputs, mut string_inputs) = (0, 0);
    for seed in 1..=400 {
        let data = coopvm_testgen::bytes(seed, 600);
        let g = coopvm_testgen::program(&mut Unstructured::new(&data));
        let args = g.args;
        let Ok(v) = verify(assemble("gen.casm", &g.source).unwrap(), &Limits::default()) else {
            continue;
        };
        with_inputs += usize::from(!args.is_empty());
        string_inputs += usize::from(args.iter().any(|a| matches!(a, Arg::Str(_))));
        seen.extend(v.contract().program.code.iter().map(|i| i.op));
    }
    use coopvm::Op::*;
    for op in [
        Over,
        Rot,
        Pick,
        TStore,
        TLoad,
        TStoreDyn,
        TLoadDyn,
        StrEq,
        StrLen,
        GetBalance,
        FederationMember,
        DidController,
        ProposalState,
    ] {
        assert!(seen.contains(&op), "{op:?} never generated");
    }
    assert!(
        with_inputs > 100 && string_inputs > 30,
        "{with_inputs} {string_inputs}"
    );
}

// Raw instruction streams (`coopvm_testgen::raw_contract`): those the verifier accepts must
// compile and agree. This reaches shapes the structured generator does not (unreachable
// code, jumps into the middle of loops, main called as a subroutine).
proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn raw_instruction_streams_agree(data in prop::collection::vec(any::<u8>(), 0..128)) {
        let mut u = Unstructured::new(&data);
        let limits = coopvm_testgen::limits(&mut u);
        let salt: u64 = u.arbitrary().unwrap_or(0);
        // Sometimes with inputs (integers, and a string, whose handle follows the constants).
        let contract = coopvm_testgen::raw_contract(&mut u);
        let args: Vec<Arg> = [Arg::Int(-3), Arg::from("did:key:alice")][..contract.params as usize].to_vec();
        let Ok(v) = verify(contract, &limits) else {
            return Ok(());
        };
        let code = coopvm::jit::compile(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let state = v.contract().state.clone();
        let host = TestHost::default();
        let full = compare(&v, &code, &state, &host, &args, &[REFERENCE_GAS])[0].gas_used;
        compare(&v, &code, &state, &host, &args, &gas_limits(full, salt));
    }
}

#[test]
fn a_panicking_host_panics_through_the_jit_like_the_interpreter() {
    struct Panicky;
    impl Host for Panicky {
        fn create_cooperative(&mut self, _: &mut HostCx, _: &str, _: i64) -> VmResult<()> {
            panic!("host bug")
        }
    }
    let v = verify(
        assemble("p", "push \"x\"\npush 1\ncreatecooperative\n").unwrap(),
        &Limits::default(),
    )
    .unwrap();
    let code = coopvm::jit::compile(&v).unwrap();
    let ctx = ExecutionContext::default();
    let params = RunParams::new(&ctx, &v.contract().state, 1_000);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        coopvm::run::run(&code, &v, params, &mut Panicky)
    }));
    let payload = caught.expect_err("the host's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"host bug"));
    // The code is still usable afterwards.
    let ok = verify(assemble("q", "push 2\n").unwrap(), &Limits::default()).unwrap();
    let out = coopvm::run::run(
        &coopvm::jit::compile(&ok).unwrap(),
        &ok,
        params,
        &mut NoHost,
    );
    assert_eq!(out.stack, vec![2]);
}

#[test]
fn cross_isa_aarch64_compiles_every_example() {
    let isa = coopvm::jit::isa_for("aarch64-unknown-linux-gnu").expect("aarch64 backend");
    for (name, v, _) in examples() {
        let size =
            coopvm::jit::compile_for_isa(&v, &*isa).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(size > 0, "{name}");
    }
    // And a generated program using every kind of statement.
    let v = (1..)
        .find_map(|seed| {
            let data = coopvm_testgen::bytes(seed, 800);
            let g = coopvm_testgen::program(&mut Unstructured::new(&data));
            (g.source.lines().count() > 100)
                .then(|| verify(assemble("g", &g.source).unwrap(), &Limits::default()).ok())
                .flatten()
        })
        .expect("a long generated program verifies");
    assert!(coopvm::jit::compile_for_isa(&v, &*isa).unwrap() > 0);
}

#[test]
fn unknown_triples_are_errors() {
    assert!(coopvm::jit::isa_for("nonsense").is_err());
}

/// A host whose `joincooperative` charges dynamic gas and then fails.
struct ChargeThenFail(u64);

impl Host for ChargeThenFail {
    fn join_cooperative(&mut self, cx: &mut HostCx, _: &str) -> VmResult<()> {
        cx.charge(self.0);
        refuse("charged, then failed")
    }
}

#[test]
fn gas_a_failing_host_operation_charged_is_counted_and_reproducible() {
    // Found by the fuzzer: the charge of a host operation that then failed (a nested
    // contract call's gas, say) was dropped, so gas_used was too low, and rerunning with
    // exactly that limit ended in out_of_gas instead of the same error.
    let v = coopvm::load::from_source("t.casm", "push \"c\"\njoincooperative\nhalt\n")
        .unwrap()
        .verify(&Limits::default())
        .unwrap();
    let ctx = ExecutionContext::default();
    for engine in [coopvm::Engine::Interp, coopvm::Engine::Jit] {
        let run = |limit: u64| {
            let mut host = ChargeThenFail(40);
            engine.run(&v, &ctx, &v.contract().state, limit, &mut host)
        };
        let full = run(1_000_000);
        let err = full.result.as_ref().unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound, "{engine:?}");
        let without_charge = {
            let mut host = ChargeThenFail(0);
            engine
                .run(&v, &ctx, &v.contract().state, 1_000_000, &mut host)
                .gas_used
        };
        assert_eq!(full.gas_used, without_charge + 40, "{engine:?}");
        let again = run(full.gas_used);
        assert_eq!(again.result, full.result, "{engine:?}");
        assert_eq!(again.gas_used, full.gas_used, "{engine:?}");
        // A limit that covers the blocks but not the charge: out of gas at the host
        // operation, using all of it, as if the operation had succeeded.
        let short = run(full.gas_used - 1);
        let e = short.result.as_ref().unwrap_err();
        assert_eq!((e.kind, e.pc), (ErrorKind::OutOfGas, err.pc), "{engine:?}");
        assert_eq!(short.gas_used, full.gas_used - 1, "{engine:?}");
    }
}
