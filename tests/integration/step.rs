//! The step API and run statistics against full runs: for every example and a range of gas
//! limits (so that runs also end in `out_of_gas` at every kind of point), and for contracts
//! that fail in each way, stepping to the end gives exactly the outcome of
//! a full interpreter run, a run with statistics gives the same outcome too, the statistics
//! (derived from block entries) agree with what stepping observed instruction by instruction,
//! and the JIT's counted code reports the same outcome and the same statistics.

use crate::common;

use coopvm::interp::step::{Step, Stepper};
use coopvm::load;
use coopvm::stats::Stats;
use coopvm::{ExecutionContext, Limits, NoHost, Outcome, RunParams, Verified};
use std::collections::BTreeMap;
use std::path::Path;

/// What stepping observed, in the shape of the stats it must agree with.
#[derive(Debug)]
struct Observed {
    outcome: Outcome,
    instructions: u64,
    opcodes: BTreeMap<&'static str, u64>,
    peak_stack: u32,
    peak_call_depth: u32,
}

fn step_through(v: &Verified, params: RunParams<'_>) -> Observed {
    let code = coopvm::interp::lower(v);
    let mut host = NoHost;
    let mut s = Stepper::new(v, &code, params, &mut host);
    let mut opcodes = BTreeMap::new();
    let mut peak_stack = 0;
    let mut peak_call_depth = 0;
    loop {
        let insn = s.next_insn();
        let before = s.stack().len();
        let step = s.step();
        match step {
            Step::Ran(pc) | Step::RanAndEnded(pc) => {
                let insn = insn.expect("a step that ran had a next instruction");
                assert_eq!(s.verified().contract().program.code[pc as usize], insn);
                *opcodes.entry(insn.op.info().mnemonic).or_default() += 1;
            }
            Step::Ended => {}
            Step::Finished => break,
        }
        // After an error the stack is the outcome's (empty); the failing instruction
        // changed nothing, so the height before it stands.
        let height = if matches!(step, Step::Ran(_)) || s.outcome().is_some_and(Outcome::is_ok) {
            s.stack().len()
        } else {
            before
        };
        peak_stack = peak_stack.max(height as u32);
        peak_call_depth = peak_call_depth.max(s.call_depth() as u32);
    }
    Observed {
        instructions: s.executed(),
        outcome: s.into_outcome().expect("finished"),
        opcodes,
        peak_stack,
        peak_call_depth,
    }
}

/// Checks `v` at `gas_limit` on every path (see the file's docs); `jit` is the JIT's counted
/// code for `v`.
fn check_with(name: &str, v: &Verified, jit: &coopvm::jit::NativeCode, gas_limit: u64) -> Outcome {
    check_args(name, v, jit, gas_limit, &[])
}

/// [`check_with`] with the run's inputs `args`.
fn check_args(
    name: &str,
    v: &Verified,
    jit: &coopvm::jit::NativeCode,
    gas_limit: u64,
    args: &[coopvm::Arg],
) -> Outcome {
    let ctx = ExecutionContext::default();
    let params = RunParams::new(&ctx, &v.contract().state, gas_limit).with_args(args);
    let full = coopvm::run::run(&coopvm::interp::lower(v), v, params, &mut NoHost);
    let seen = step_through(v, params);
    assert_eq!(seen.outcome, full, "{name} at gas {gas_limit}: stepping");
    let (with_stats, stats): (Outcome, Stats) =
        coopvm::stats::run_with_stats(&coopvm::interp::lower(v), v, params, &mut NoHost);
    assert_eq!(with_stats, full, "{name} at gas {gas_limit}: stats on");
    assert_eq!(stats.gas_used, full.gas_used, "{name} at gas {gas_limit}");
    assert_eq!(
        stats.host_calls, full.host_calls,
        "{name} at gas {gas_limit}"
    );
    assert_eq!(
        stats.instructions, seen.instructions,
        "{name} at gas {gas_limit}: instructions"
    );
    assert_eq!(stats.opcodes, seen.opcodes, "{name} at gas {gas_limit}");
    assert_eq!(
        stats.peak_stack, seen.peak_stack,
        "{name} at gas {gas_limit}: peak stack"
    );
    assert_eq!(
        stats.peak_call_depth, seen.peak_call_depth,
        "{name} at gas {gas_limit}: peak call depth"
    );
    // The JIT's counters give the same outcome and the same figures.
    let (jit_out, jit_stats) = coopvm::stats::run_with_stats(jit, v, params, &mut NoHost);
    assert_eq!(jit_out, full, "{name} at gas {gas_limit}: JIT with stats");
    assert_eq!(
        jit_stats.deterministic(),
        stats.deterministic(),
        "{name} at gas {gas_limit}: JIT stats"
    );
    full
}

/// Gas limits from 0 to past what the run needs, ending at every kind of point.
fn gas_limits(needed: u64) -> Vec<u64> {
    let mut limits: Vec<u64> = (0..=needed.min(40)).collect();
    let step = (needed / 25).max(1);
    limits.extend((0..=needed).step_by(step as usize));
    limits.extend([
        needed.saturating_sub(1),
        needed,
        needed + 1,
        needed * 2 + 10,
    ]);
    limits.sort_unstable();
    limits.dedup();
    limits
}

fn examples() -> Vec<(String, Verified)> {
    common::runnable_examples()
}

#[test]
fn stepping_and_stats_agree_with_full_runs_on_every_example() {
    for (name, v) in examples() {
        let jit = coopvm::jit::compile_counted(&v).expect("compiles");
        let args = common::example_inputs(&name);
        let ample = check_args(&name, &v, &jit, 1 << 40, &args);
        for gas in gas_limits(ample.gas_used) {
            check_args(&name, &v, &jit, gas, &args);
        }
    }
}

fn source(src: &str, limits: Limits) -> Verified {
    // The assembler, not the loader: the loader refuses a contract without instructions,
    // which the engines must still handle.
    let contract = coopvm::asm::assemble("t.casm", src).expect("assembles");
    coopvm::verify(contract, &limits).expect("verifies")
}

#[test]
fn stepping_and_stats_agree_on_every_kind_of_failure() {
    let small = Limits {
        stack: 8,
        call_depth: 4,
        memory_keys: 3,
        ..Limits::default()
    };
    let cases: &[(&str, &str, Limits)] = &[
        ("division", "push 1\npush 0\ndiv\n", Limits::default()),
        (
            "overflow",
            "push 0x7fffffffffffffff\npush 1\nadd\n",
            Limits::default(),
        ),
        ("neg", "push -0x8000000000000000\nneg\n", Limits::default()),
        ("unset load", "load nothing\n", Limits::default()),
        ("dyn load", "push 5\nload\n", Limits::default()),
        ("recursion", "call f\nhalt\nf: push 1\ncall f\nreturn\n", small),
        (
            "stack",
            "push 1\ncall f\nhalt\nf: push 1\npush 2\npush 3\npush 4\nadd\nadd\nadd\ncall f\nreturn\n",
            Limits {
                stack: 40,
                ..Limits::default()
            },
        ),
        (
            "memory",
            "push 0\nl: dup\ndup\nstore\npush 1\nadd\njump l\n",
            small,
        ),
        (
            "host",
            "push \"coop\"\njoincooperative\nhalt\n",
            Limits::default(),
        ),
        ("bad handle", "push 77\npush 1\nemitevent\n", Limits::default()),
        (
            "no return",
            "call f\npush 5\nhalt\nf: push 3\nhalt\n",
            Limits::default(),
        ),
        ("return from main", "push 1\nreturn\npush 2\n", Limits::default()),
        ("jump to end", "push 1\njump end\npush 2\nend:\n", Limits::default()),
        ("empty", "", Limits::default()),
    ];
    for (name, src, limits) in cases {
        let v = source(src, *limits);
        let jit = coopvm::jit::compile_counted(&v).expect("compiles");
        let ample = check_with(name, &v, &jit, 1 << 40);
        for gas in gas_limits(ample.gas_used) {
            check_with(name, &v, &jit, gas);
        }
    }
}

#[test]
fn stats_figures_for_a_known_contract() {
    // fib(20) makes 21891 calls; its deepest chain is 20 calls.
    let (_, v) = examples()
        .into_iter()
        .find(|(n, _)| n == "fib.casm")
        .expect("fib example");
    let ctx = ExecutionContext::default();
    let params = RunParams::new(&ctx, &v.contract().state, 1 << 40);
    let (out, stats) =
        coopvm::stats::run_with_stats(&coopvm::interp::lower(&v), &v, params, &mut NoHost);
    assert_eq!(out.stack, vec![6765]);
    assert_eq!(stats.opcodes["call"], 21891);
    assert_eq!(stats.peak_call_depth, 20);
    assert_eq!(stats.opcodes["halt"], 1);
    assert_eq!(stats.memory_keys, 0);
    assert_eq!(stats.opcodes.values().sum::<u64>(), stats.instructions);
}

/// The governance scenario of `examples/governance/` on one in-memory cooperative host: at
/// every step and a range of gas limits (out of gas before, inside and after host operations
/// with dynamic gas), stepping, a plain run and a run with statistics (interpreter and JIT)
/// leave the same outcome and the same cooperative world (committed or rolled back).
#[test]
fn stepping_and_stats_agree_with_runs_on_the_cooperative_host() {
    use coopvm::domain::CoopHost;
    use coopvm::Engine;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/governance");
    let bob = [coopvm::Arg::from("did:key:bob")];
    let one = coopvm::Arg::ints(&[1]);
    let (yes, no) = (coopvm::Arg::ints(&[1, 1]), coopvm::Arg::ints(&[1, 0]));
    let scenario: &[(&str, &str, u64, &[coopvm::Arg])] = &[
        ("found", "did:key:alice", 0, &[]),
        ("join", "did:key:bob", 1, &[]),
        ("join", "did:key:carol", 1, &[]),
        ("join", "did:key:bob", 2, &[]), // refused: already a member
        ("delegate", "did:key:carol", 3, &bob),
        ("execute", "did:key:alice", 500, &one), // declines: too early
        ("vote", "did:key:bob", 10, &yes),
        ("vote", "did:key:alice", 20, &no),
        ("vote", "did:key:carol", 20, &no), // declines: counted through bob
        ("execute", "did:key:alice", 1000, &one),
    ];
    let mut world = CoopHost::new();
    for &(file, caller, timestamp, args) in scenario {
        let v = load::from_path(&dir.join(format!("{file}.casm")))
            .expect("loads")
            .verify(&Limits::default())
            .expect("verifies");
        let ctx = ExecutionContext {
            caller_did: caller.to_owned(),
            timestamp,
            ..ExecutionContext::default()
        };
        let state = v.contract().state.clone();
        let name = format!("{file} as {caller} at {timestamp}");
        let need = Engine::Interp
            .run_params(
                &v,
                RunParams::new(&ctx, &state, 1 << 40).with_args(args),
                &mut world.clone(),
            )
            .gas_used;
        let jit = coopvm::jit::compile_counted(&v).expect("compiles");
        for gas in gas_limits(need) {
            let params = RunParams::new(&ctx, &state, gas).with_args(args);
            let mut plain_host = world.clone();
            let plain = coopvm::run::run(&coopvm::interp::lower(&v), &v, params, &mut plain_host);

            let mut step_host = world.clone();
            let code = coopvm::interp::lower(&v);
            let mut stepper = Stepper::new(&v, &code, params, &mut step_host);
            let mut executed = 0;
            loop {
                match stepper.step() {
                    Step::Ran(_) | Step::RanAndEnded(_) => executed += 1,
                    Step::Ended => {}
                    Step::Finished => break,
                }
            }
            let stepped = stepper.into_outcome().expect("finished");

            let mut stats_host = world.clone();
            let (counted, stats) =
                coopvm::stats::run_with_stats(&code, &v, params, &mut stats_host);

            let mut jit_host = world.clone();
            let (jit_out, jit_stats) =
                coopvm::stats::run_with_stats(&jit, &v, params, &mut jit_host);
            assert_eq!(jit_out, plain, "{name} at gas {gas}: JIT with stats");
            assert_eq!(jit_stats.deterministic(), stats.deterministic(), "{name}");
            assert_eq!(
                jit_host.domain, plain_host.domain,
                "{name} at gas {gas}: JIT host"
            );

            assert_eq!(stepped, plain, "{name} at gas {gas}: stepping");
            assert_eq!(counted, plain, "{name} at gas {gas}: stats on");
            assert_eq!(stats.instructions, executed, "{name} at gas {gas}");
            assert_eq!(stats.host_calls, plain.host_calls, "{name} at gas {gas}");
            assert_eq!(step_host.domain, plain_host.domain, "{name}");
            assert_eq!(stats_host.domain, plain_host.domain, "{name}");
        }
        world.execute_with(&v, &ctx, |host, ctx, state| {
            let params = RunParams::new(ctx, state, 1 << 40)
                .with_calls(&Engine::Interp)
                .with_args(args);
            (Engine::Interp.run_params(&v, params, host), ())
        });
    }
    // The scenario ran to its end: the proposal passed.
    let p = world.proposal(1).expect("proposal 1");
    assert!(p.executed && p.passed, "{p:?}");
}
