//! Run statistics and metrics: statistics on change no outcome (every example, many gas
//! limits, every engine), the figures are right, `run --stats` reports them, and the metrics
//! facade receives them.

use crate::common;

use coopvm::{observe, Engine};
use coopvm::{ExecutionContext, NoHost, RunParams, Verified};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

const ENGINES: &[Engine] = &[Engine::Interp, Engine::Jit, Engine::Auto];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> Vec<(String, Verified)> {
    common::runnable_examples()
}

#[test]
fn stats_on_changes_no_outcome_and_engines_agree() {
    let ctx = ExecutionContext::default();
    for (name, v) in examples() {
        let state = v.contract().state.clone();
        let args = common::example_inputs(&name);
        let params = |gas| RunParams::new(&ctx, &state, gas).with_args(&args);
        let need = Engine::Interp
            .run_params(&v, params(u64::MAX / 2), &mut NoHost)
            .gas_used;
        for gas in [0, 1, 5, need / 3, need / 2, need - 1, need, need + 100] {
            let (_, reference) = Engine::Interp.run_params_with_stats(&v, params(gas), &mut NoHost);
            for &engine in ENGINES {
                let at = format!("{name} on {} at gas {gas}", engine.name());
                let plain = engine.run_params(&v, params(gas).with_calls(&engine), &mut NoHost);
                let (counted, stats) =
                    engine.run_params_with_stats(&v, params(gas).with_calls(&engine), &mut NoHost);
                assert_eq!(counted, plain, "{at}");
                assert_eq!(stats.gas_used, plain.gas_used, "{at}");
                assert_eq!(stats.host_calls, plain.host_calls, "{at}");
                assert_eq!(
                    stats.opcodes.values().sum::<u64>(),
                    stats.instructions,
                    "{at}"
                );
                // Every engine reports the same figures (all but the wall time).
                assert_eq!(stats.deterministic(), reference.deterministic(), "{at}");
            }
        }
    }
}

#[test]
fn figures_of_the_examples() {
    let ctx = ExecutionContext::default();
    let want: BTreeMap<&str, (u64, u32, u32, u32, u64)> = [
        // instructions, peak stack, peak call depth, memory keys, host calls
        ("counter.casm", (6, 2, 0, 1, 0)),
        ("loop.casm", (906, 3, 0, 1, 0)),
        ("subroutine.casm", (16, 2, 1, 1, 0)),
        ("rollback.casm", (10, 2, 0, 1, 2)),
    ]
    .into_iter()
    .collect();
    for (name, v) in examples() {
        let Some(&(instructions, peak_stack, depth, keys, host)) = want.get(name.as_str()) else {
            continue;
        };
        let (_, s) =
            Engine::Interp.run_with_stats(&v, &ctx, &v.contract().state, 1 << 30, &mut NoHost);
        assert_eq!(
            (
                s.instructions,
                s.peak_stack,
                s.peak_call_depth,
                s.memory_keys,
                s.host_calls
            ),
            (instructions, peak_stack, depth, keys, host),
            "{name}: {s:?}"
        );
    }
}

fn coopvm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coopvm"))
        .current_dir(root())
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .expect("run coopvm")
}

#[test]
fn run_stats_on_the_command_line() {
    let out = coopvm(&["run", "examples/subroutine.casm", "--stats"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("stats:    16 instructions in 7 blocks"),
        "{text}"
    );
    assert!(
        text.contains("peak stack 2, peak call depth 1, memory keys 1, host calls 0, gas used 28")
    );
    // Most frequent first, ties by name.
    assert!(
        text.contains(
            "opcodes:  call 3, dup 3, return 3, mul 2, add 1, halt 1, load 1, push 1, store 1"
        ),
        "{text}"
    );

    let out = coopvm(&["run", "examples/rollback.casm", "--stats", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["stats"];
    assert_eq!(s["instructions"], 10);
    assert_eq!(s["gas_used"], v["gas_used"]);
    assert_eq!(s["opcodes"]["div"], 1);
    assert_eq!(s["opcodes"]["halt"], Value::Null);
    assert!(s["wall_time_ns"].as_u64().is_some());

    let out = coopvm(&["run", "examples/counter.casm", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("stats").is_none(), "{v}");
    let out = coopvm(&["run", "examples/counter.casm"]);
    assert!(!String::from_utf8(out.stdout).unwrap().contains("stats:"));
}

#[test]
fn run_stats_are_the_same_on_every_engine_on_the_command_line() {
    for (example, _) in examples() {
        let file = format!("examples/{example}");
        let args = common::example_args(&example).join(",");
        let mut reference = None;
        for engine in ["interp", "jit", "auto"] {
            let out = coopvm(&[
                "run", &file, "--stats", "--json", "--engine", engine, "--args", &args,
            ]);
            let mut v: Value = serde_json::from_slice(&out.stdout).expect("run --json");
            if let Some(stats) = v.get_mut("stats").and_then(Value::as_object_mut) {
                assert!(
                    stats.remove("wall_time_ns").is_some(),
                    "{example} on {engine}"
                );
            }
            let key = (out.status.code(), v["stats"].clone(), v["gas_used"].clone());
            match &reference {
                None => reference = Some(key),
                Some(r) => assert_eq!(*r, key, "{example} on {engine}"),
            }
        }
    }
}

fn labels(key: &metrics::Key) -> BTreeMap<String, String> {
    key.labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect()
}

#[test]
fn metrics_reach_the_recorder() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let ctx = ExecutionContext::default();
    let all = examples();
    let v = &all.iter().find(|(n, _)| n == "subroutine.casm").unwrap().1;
    let fail = &all.iter().find(|(n, _)| n == "rollback.casm").unwrap().1;
    metrics::with_local_recorder(&recorder, || {
        observe::describe();
        for _ in 0..2 {
            Engine::Interp.run_with_stats(v, &ctx, &v.contract().state, 1000, &mut NoHost);
        }
        Engine::Interp.run_with_stats(fail, &ctx, &fail.contract().state, 1000, &mut NoHost);
        // Runs without stats record no metrics.
        Engine::Interp.run(v, &ctx, &v.contract().state, 1000, &mut NoHost);
    });
    let mut counters = BTreeMap::new();
    let mut histograms = BTreeMap::new();
    for (key, unit, _, value) in snapshotter.snapshot().into_vec() {
        let (_, key) = key.into_parts();
        let mut l = labels(&key);
        let contract = l.remove("contract").expect("contract label");
        assert_eq!(l.remove("engine").as_deref(), Some("interp"));
        let extra: Vec<String> = l.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        let id = format!("{} {contract} {}", key.name(), extra.join(","));
        match value {
            DebugValue::Counter(n) => {
                counters.insert(id.trim_end().to_owned(), n);
            }
            DebugValue::Histogram(values) => {
                assert!(unit.is_some(), "{} is described with a unit", key.name());
                histograms.insert(id.trim_end().to_owned(), values.len());
            }
            DebugValue::Gauge(_) => panic!("no gauges expected"),
        }
    }
    let c = |k: &str| counters.get(k).copied();
    assert_eq!(c("coopvm_runs_total squares status=ok"), Some(2));
    assert_eq!(c("coopvm_runs_total rollback_demo status=error"), Some(1));
    assert_eq!(
        c("coopvm_errors_total rollback_demo kind=division_by_zero"),
        Some(1)
    );
    assert_eq!(c("coopvm_instructions_total squares"), Some(32));
    assert_eq!(c("coopvm_instructions_total rollback_demo"), Some(10));
    assert_eq!(c("coopvm_gas_used_total squares"), Some(56));
    assert_eq!(c("coopvm_blocks_total squares"), Some(14));
    assert_eq!(c("coopvm_host_calls_total rollback_demo"), Some(2));
    assert_eq!(c("coopvm_opcodes_total squares opcode=call"), Some(6));
    assert_eq!(c("coopvm_opcodes_total rollback_demo opcode=div"), Some(1));
    assert_eq!(c("coopvm_opcodes_total rollback_demo opcode=halt"), None);
    assert_eq!(histograms.get("coopvm_run_seconds squares"), Some(&2));
    assert_eq!(histograms.get("coopvm_peak_stack_depth squares"), Some(&2));
    assert_eq!(
        histograms.get("coopvm_peak_call_depth rollback_demo"),
        Some(&1)
    );
    assert_eq!(histograms.get("coopvm_memory_keys squares"), Some(&2));
}
