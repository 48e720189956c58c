//! Differential tests: the JIT against the reference interpreter.
//!
//! Every example, and thousands of generated verified programs (straight-line arithmetic with
//! overflow and division by zero, stack shuffles (`over`, `rot`, `pick N`), counted loops,
//! conditionals, subroutine calls and recursion, static and dynamic memory with missing keys
//! and the key limit, transient memory (`tstore`/`tload`) with its own limit, string
//! equality and length on good and bad handles, system host operations, a test host with
//! dynamic gas, failures and reads that return strings, `halt` anywhere, and inputs:
//! `.params N` with integer and string inputs), run on both engines under many gas limits
//! (every limit up to the full cost for small programs, so `out_of_gas` is hit at every block
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
            let want = coopvm::run::run(&coopvm::interp::lower(v), v, params, &mut h1);
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

/// Gas limits to try for a program whose full run uses `full`: all of them for small
/// programs, otherwise a spread plus the edges.
fn gas_limits(full: u64, salt: u64) -> Vec<u64> {
    if full <= 400 {
        return (0..=full + 1).collect();
    }
    let mut g: Vec<u64> = (0..40).map(|i| full * i / 40).collect();
    g.extend([full - 1, full, full + 1, salt % full]);
    g
}

/// Every `.casm` file under `examples/`, verified, with the inputs its `; args:` line
/// declares (for `.params`; none otherwise).
fn examples() -> Vec<(String, Verified, Vec<Arg>)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "casm") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples")),
        &mut paths,
    );
    paths.sort();
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
        assert_eq!(
            format!("{:?}", hosts[1].domain),
            format!("{:?}", hosts[0].domain),
            "domain state after the scenario with gas {gas}"
        );
    }
}

/// A program generator driven by a tape of choices (proptest shrinks the tape, and an
/// exhausted tape always picks the simplest choice, so shrunk programs are small).
struct Gen<'t> {
    tape: &'t [u32],
    at: usize,
    out: String,
    labels: u32,
    /// Subroutines: (name, params, results).
    subs: Vec<(String, u32, u32)>,
    budget: u32,
}

const KEYS: [&str; 3] = ["a", "b", "c"];
/// A string long enough for several units of `streq`'s dynamic gas (1 per 32 bytes).
const LONG: &str = "a string of seventy bytes, long enough to cost streq three units of gas";
/// String inputs of generated programs.
const INPUT_STRINGS: [&str; 4] = ["did:key:alice", "topic", "", LONG];
const IMMS: [i64; 10] = [0, 1, -1, 2, 3, 7, 100, i64::MAX, i64::MIN, -50];

impl Gen<'_> {
    fn pick(&mut self, n: u32) -> u32 {
        let v = self.tape.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        v % n.max(1)
    }

    fn emit(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    fn label(&mut self) -> String {
        self.labels += 1;
        format!("L{}", self.labels)
    }

    fn imm(&mut self) -> i64 {
        if self.pick(3) == 0 {
            IMMS[self.pick(IMMS.len() as u32) as usize]
        } else {
            i64::from(self.pick(9)) - 2
        }
    }

    /// Emits statements starting at height `h` that never consume below `floor`; returns
    /// the height after them.
    fn block(&mut self, mut h: u32, floor: u32, depth: u32) -> u32 {
        let n = self.pick(6) + 1;
        for _ in 0..n {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            h = self.stmt(h, floor, depth);
        }
        h
    }

    /// Brings the height from `h` to `want` (pops or zero pushes).
    fn fix(&mut self, mut h: u32, want: u32) {
        while h > want {
            self.emit("pop");
            h -= 1;
        }
        while h < want {
            self.emit("push 0");
            h += 1;
        }
    }

    fn stmt(&mut self, h: u32, floor: u32, depth: u32) -> u32 {
        let avail = h - floor;
        match self.pick(30) {
            0 | 1 => {
                let v = self.imm();
                self.emit(&format!("push {v}"));
                h + 1
            }
            2..=4 if avail >= 2 => {
                const OPS: [&str; 13] = [
                    "add", "sub", "mul", "div", "mod", "eq", "ne", "lt", "le", "gt", "ge", "and",
                    "or",
                ];
                let op = OPS[self.pick(OPS.len() as u32) as usize];
                self.emit(op);
                h - 1
            }
            5 if avail >= 1 => {
                let op = ["neg", "not", "dup", "pop"][self.pick(4) as usize];
                self.emit(op);
                match op {
                    "dup" => h + 1,
                    "pop" => h - 1,
                    _ => h,
                }
            }
            6 if avail >= 2 => {
                self.emit("swap");
                h
            }
            7 if avail >= 1 => {
                let k = KEYS[self.pick(3) as usize];
                self.emit(&format!("store {k}"));
                h - 1
            }
            8 => {
                let k = KEYS[self.pick(3) as usize];
                self.emit(&format!("load {k}"));
                h + 1
            }
            9 if avail >= 1 => {
                let k = self.pick(5) as i64 - 1;
                self.emit(&format!("push {k}\nstore"));
                h - 1
            }
            10 => {
                let k = self.pick(5) as i64 - 1;
                self.emit(&format!("push {k}\nload"));
                h + 1
            }
            11 => {
                let op = ["gettimestamp", "getcaller", "getblock"][self.pick(3) as usize];
                self.emit(op);
                h + 1
            }
            12 if avail >= 1 => {
                if self.pick(2) == 0 {
                    self.emit("log");
                } else if self.pick(4) == 0 {
                    // A value as the topic: usually not a string handle.
                    self.emit("dup\nemitevent");
                } else {
                    self.emit("push \"topic\"\nswap\nemitevent");
                }
                h - 1
            }
            13 => {
                // Host operations of the test host: dynamic gas, effects, failures.
                match self.pick(4) {
                    0 => self.emit("getcaller\ngetreputation"),
                    1 => self.emit("push \"did:key:bob\"\npush 5\nupdatereputation\npush 0"),
                    2 => self.emit("push \"newcoop\"\npush 10\ncreatecooperative\npush 1"),
                    _ => self.emit("push \"nocoop\"\njoincooperative\npush 2"),
                }
                h + 1
            }
            14 if depth < 3 => {
                // Counted loop; the body keeps the counter.
                let n = self.pick(6);
                let (top, body, end) = (self.label(), self.label(), self.label());
                self.emit(&format!(
                    "push {n}\n{top}:\ndup\njumpif {body}\npop\njump {end}"
                ));
                self.emit(&format!("{body}:"));
                let after = self.block(h + 1, h + 1, depth + 1);
                self.fix(after, h + 1);
                self.emit(&format!("push 1\nsub\njump {top}\n{end}:"));
                h
            }
            15 if avail >= 1 && depth < 3 => {
                // if / else on the top value.
                let (then, end) = (self.label(), self.label());
                self.emit(&format!("jumpif {then}"));
                let a = self.block(h - 1, floor.min(h - 1), depth + 1);
                self.fix(a, h - 1);
                self.emit(&format!("jump {end}\n{then}:"));
                let b = self.block(h - 1, floor.min(h - 1), depth + 1);
                self.fix(b, h - 1);
                self.emit(&format!("{end}:"));
                h - 1
            }
            16 | 17 if !self.subs.is_empty() => {
                let i = self.pick(self.subs.len() as u32) as usize;
                let (name, params, results) = self.subs[i].clone();
                if avail < params {
                    return h;
                }
                self.emit(&format!("call {name}"));
                h - params + results
            }
            18 if self.pick(8) == 0 => {
                self.emit("halt");
                h
            }
            19 if self.pick(10) == 0 => {
                self.emit("jump end");
                h
            }
            20 if avail >= 2 => {
                self.emit("over");
                h + 1
            }
            21 if avail >= 3 => {
                self.emit("rot");
                h
            }
            22 if avail >= 1 => {
                // Any depth the frame allows (the inputs of main included).
                let n = self.pick(avail.min(8));
                self.emit(&format!("pick {n}"));
                h + 1
            }
            23 => {
                // Transient memory: its own keys, missing keys, its own limit.
                let k = KEYS[self.pick(3) as usize];
                let d = self.pick(5) as i64 - 1;
                match self.pick(4) {
                    0 if avail >= 1 => {
                        self.emit(&format!("tstore {k}"));
                        h - 1
                    }
                    1 => {
                        self.emit(&format!("tload {k}"));
                        h + 1
                    }
                    2 if avail >= 1 => {
                        self.emit(&format!("push {d}\ntstore"));
                        h - 1
                    }
                    _ => {
                        self.emit(&format!("push {d}\ntload"));
                        h + 1
                    }
                }
            }
            24 => {
                // String equality and length: constants, made strings, inputs, and values
                // that are no handle; long strings for the dynamic gas.
                match self.pick(6) {
                    0 => self.emit("getcaller\npush \"did:key:alice\"\nstreq"),
                    1 => self.emit(&format!("push \"{LONG}\"\npush \"{LONG}\"\nstreq")),
                    2 => self.emit("getcaller\nstrlen"),
                    3 if avail >= 1 => self.emit("dup\nstrlen"),
                    4 if avail >= 2 => self.emit("over\nover\nstreq"),
                    _ => self.emit(&format!("push \"{LONG}\"\nstrlen")),
                }
                h + 1
            }
            25 => {
                // Reads of the test host: dynamic gas, refusals, strings returned.
                match self.pick(5) {
                    0 => self.emit("push \"newcoop\"\ngetcaller\ngetbalance"),
                    1 => {
                        let i = self.pick(4) as i64 - 1;
                        self.emit(&format!(
                            "push \"fed\"\npush {i}\nfederationmember\ndup\nstrlen\nadd"
                        ))
                    }
                    2 => self.emit("getcaller\ndidcontroller\ngetcaller\nstreq"),
                    3 => self.emit("push \"did:key:alice\"\ndidcontroller"),
                    // Not implemented by the test host: host_unavailable.
                    _ => self.emit("push 1\nproposalstate"),
                }
                h + 1
            }
            _ => {
                let v = self.imm();
                self.emit(&format!("push {v}"));
                h + 1
            }
        }
    }
}

/// Generates a program from `tape`: subroutines (some recursive), then main.
fn program(tape: &[u32]) -> String {
    program_with_inputs(tape).0
}

/// Generates a program from `tape` and the inputs to run it with: `.params N` (0 to 3) and
/// N integers or strings, which main may consume like any other values.
fn program_with_inputs(tape: &[u32]) -> (String, Vec<Arg>) {
    let mut g = Gen {
        tape,
        at: 0,
        out: String::new(),
        labels: 0,
        subs: Vec::new(),
        budget: 60,
    };
    let params = g.pick(4);
    let inputs: Vec<Arg> = (0..params)
        .map(|_| {
            if g.pick(3) == 0 {
                Arg::from(INPUT_STRINGS[g.pick(4) as usize])
            } else {
                Arg::Int(g.imm())
            }
        })
        .collect();
    let mut subs_text = String::new();
    // A recursive countdown: [n] -> [sum], recursing n times (n from the caller).
    if g.pick(2) == 1 {
        let mut s = std::mem::take(&mut g.out);
        s.push_str("rec:\ndup\njumpif rec_more\nreturn\nrec_more:\ndup\npush 1\nsub\n");
        g.out = s;
        let after = g.block(2, 2, 2);
        g.fix(after, 2);
        g.emit("call rec\nadd\nreturn");
        subs_text.push_str(&std::mem::take(&mut g.out));
        g.subs.push(("rec".into(), 1, 1));
    }
    for i in 0..g.pick(3) {
        let name = format!("f{i}");
        let params = g.pick(3);
        let results = g.pick(3);
        g.emit(&format!("{name}:"));
        let after = g.block(params, 0, 1);
        g.fix(after, results);
        g.emit("return");
        subs_text.push_str(&std::mem::take(&mut g.out));
        g.subs.push((name, params, results));
    }
    // Main: sometimes a deep recursion.
    let mut main = String::new();
    if g.subs.iter().any(|s| s.0 == "rec") && g.pick(3) == 0 {
        let n = [3, 20, 300, 2000][g.pick(4) as usize];
        main.push_str(&format!("push {n}\ncall rec\npop\n"));
    }
    g.out = main;
    let h = g.block(params, 0, 0);
    let _ = h;
    g.emit("halt");
    let src = format!(
        ".contract gen\n.permission member\n.params {params}\n{}{subs_text}end:\n",
        g.out
    );
    (src, inputs)
}

fn limits(choice: u32) -> Limits {
    let d = Limits::default();
    match choice % 7 {
        // Above the JIT's preallocated return stack: it grows during the run.
        5 => Limits {
            call_depth: 100_000,
            ..d
        },
        0 => Limits { call_depth: 5, ..d },
        1 => Limits { stack: 12, ..d },
        2 => Limits {
            memory_keys: 2,
            transient_keys: 1,
            ..d
        },
        3 => Limits {
            memory_keys: 0,
            transient_keys: 0,
            call_depth: 40,
            stack: 64,
            ..d
        },
        4 => Limits {
            transient_keys: 2,
            ..d
        },
        _ => d,
    }
}

fn state(choice: u32) -> State {
    match choice % 4 {
        0 => State::new(),
        1 => State::from([("a".into(), 5), ("1".into(), 7)]),
        2 => State::from([
            ("b".into(), i64::MAX),
            ("0".into(), -1),
            ("other".into(), 3),
        ]),
        _ => State::from([("c".into(), 0), ("3".into(), 3), ("-1".into(), 9)]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("DIFF_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(3000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_programs_agree(tape in prop::collection::vec(any::<u32>(), 0..200), env in any::<u32>()) {
        let (src, args) = program_with_inputs(&tape);
        let contract = assemble("gen.casm", &src).expect("generated programs assemble");
        let Ok(v) = verify(contract, &limits(env)) else {
            // Too deep for a small stack limit: the verifier's business, not ours.
            return Ok(());
        };
        let state = state(env / 7);
        let mut host = TestHost::default();
        if env % 5 == 0 {
            host.scores.insert("did:key:alice".into(), 3);
            host.scores.insert("coop:nocoop".into(), 1);
        }
        let code = coopvm::jit::compile(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let full = compare(&v, &code, &state, &host, &args, &[1_000_000])[0].gas_used;
        compare(&v, &code, &state, &host, &args, &gas_limits(full, u64::from(env)));
        compare_stats(&v, &state, &host, &args, &[full, u64::from(env) % (full + 1)]);
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
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..400 {
        let tape: Vec<u32> = (0..150)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u32
            })
            .collect();
        let (src, args) = program_with_inputs(&tape);
        let Ok(v) = verify(assemble("gen.casm", &src).unwrap(), &Limits::default()) else {
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

/// Raw instruction streams (any opcode, small operands, targets anywhere): those the verifier
/// accepts must compile and agree. This reaches shapes the structured generator does not
/// (unreachable code, jumps into the middle of loops, main called as a subroutine).
fn raw_program(ops: &[(u8, i8)]) -> coopvm::Contract {
    use coopvm::{isa::OperandKind, Insn, Op, Program};
    let len = ops.len() as i64;
    let code = ops
        .iter()
        .map(|&(o, a)| {
            // Every other instruction a push, so more streams keep the stack discipline.
            let op = if o % 2 == 0 {
                Op::Push
            } else {
                Op::ALL[(o / 2) as usize % Op::ALL.len()]
            };
            let arg = match op.info().operand {
                OperandKind::None => 0,
                OperandKind::Imm => i64::from(a),
                OperandKind::Str | OperandKind::Key => i64::from(a).rem_euclid(2),
                OperandKind::Target => i64::from(a).rem_euclid(len + 1),
            };
            Insn::with(op, arg)
        })
        .collect();
    coopvm::Contract {
        id: "raw".into(),
        program: Program {
            code,
            keys: vec!["a".into(), "b".into()],
            strings: vec!["did:key:bob".into(), "topic".into()],
        },
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn raw_instruction_streams_agree(
        ops in prop::collection::vec((any::<u8>(), any::<i8>()), 1..16),
        env in any::<u32>(),
    ) {
        // Sometimes with inputs (integers, and a string, whose handle follows the constants).
        let mut contract = raw_program(&ops);
        contract.params = env % 3;
        let args: Vec<Arg> = [Arg::Int(-3), Arg::from("did:key:alice")][..contract.params as usize].to_vec();
        let Ok(v) = verify(contract, &limits(env)) else {
            return Ok(());
        };
        let code = coopvm::jit::compile(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let state = state(env / 7);
        let host = TestHost::default();
        let full = compare(&v, &code, &state, &host, &args, &[100_000])[0].gas_used;
        compare(&v, &code, &state, &host, &args, &gas_limits(full, u64::from(env)));
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
    let tape: Vec<u32> = (0..200u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
    let v = verify(assemble("g", &program(&tape)).unwrap(), &Limits::default()).unwrap();
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
