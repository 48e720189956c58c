//! Rendering an [`Outcome`] for people and for tools (`run --json`).

use super::{escape, quoted};
use coopvm::asm::SourceMap;
use coopvm::{Event, Outcome, Stats};
use serde::Serialize;
use std::fmt::Write;

/// The JSON object `coopvm run --json` prints.
#[derive(Debug, Serialize)]
pub struct JsonOutcome<'a> {
    /// `"ok"` or `"error"`.
    pub status: &'static str,
    /// The contract id.
    pub contract: &'a str,
    /// The engine that ran it.
    pub engine: &'a str,
    /// Final stack, bottom first (empty after an error).
    pub stack: &'a [i64],
    /// Gas used.
    pub gas_used: u64,
    /// Gas limit of the run.
    pub gas_limit: u64,
    /// State after the run.
    pub state: &'a coopvm::State,
    /// Events (only the error event after an error).
    pub events: &'a [Event],
    /// Logged values.
    pub logs: &'a [i64],
    /// The error, or null.
    pub error: Option<JsonError<'a>>,
    /// The run's statistics, when asked for (`run --stats`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<&'a Stats>,
}

/// The `error` member of [`JsonOutcome`].
#[derive(Debug, Serialize)]
pub struct JsonError<'a> {
    /// The snake_case error kind.
    pub kind: &'static str,
    /// The message.
    pub message: &'a str,
    /// Instruction index, if any.
    pub pc: Option<u32>,
    /// Source line, if known.
    pub line: Option<u32>,
    /// Source column, if known.
    pub column: Option<u32>,
}

/// Builds the JSON view of `out`.
pub fn json<'a>(
    out: &'a Outcome,
    contract: &'a str,
    engine: &'a str,
    gas_limit: u64,
    map: &SourceMap,
) -> JsonOutcome<'a> {
    let error = out.result.as_ref().err().map(|e| {
        let span = e.pc.and_then(|pc| map.span(pc));
        JsonError {
            kind: e.kind.name(),
            message: &e.message,
            pc: e.pc,
            line: span.map(|s| s.line),
            column: span.map(|s| s.column),
        }
    });
    JsonOutcome {
        status: if out.is_ok() { "ok" } else { "error" },
        contract,
        engine,
        stack: &out.stack,
        gas_used: out.gas_used,
        gas_limit,
        state: &out.state,
        events: &out.events,
        logs: &out.logs,
        error,
        stats: None,
    }
}

/// A readable summary of a run's statistics (`run --stats`).
pub fn human_stats(stats: &Stats) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "stats:    {} instructions in {} blocks, {:.3} ms",
        stats.instructions,
        stats.blocks,
        stats.wall_time().as_secs_f64() * 1e3
    );
    let _ = writeln!(
        s,
        "          peak stack {}, peak call depth {}, memory keys {}, host calls {}, gas used {}",
        stats.peak_stack,
        stats.peak_call_depth,
        stats.memory_keys,
        stats.host_calls,
        stats.gas_used
    );
    // Most frequent first; ties in mnemonic order.
    let mut ops: Vec<(&str, u64)> = stats.opcodes.iter().map(|(k, v)| (*k, *v)).collect();
    ops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !ops.is_empty() {
        let list: Vec<String> = ops.iter().map(|(op, n)| format!("{op} {n}")).collect();
        let _ = writeln!(s, "opcodes:  {}", list.join(", "));
    }
    s
}

/// A readable multi-line summary of `out`.
pub fn human(
    out: &Outcome,
    contract: &str,
    engine: &str,
    gas_limit: u64,
    map: &SourceMap,
) -> String {
    let mut s = String::new();
    match &out.result {
        Ok(()) => {
            let _ = writeln!(s, "ok: contract `{}` ran on {engine}", escape(contract));
        }
        Err(e) => {
            let message = format!("{}: {}", e.kind, escape(&e.message));
            let _ = writeln!(s, "{}", coopvm::load::render(map, e.pc, &message, None));
            let _ = writeln!(
                s,
                "the run was rolled back; no state change or event survives"
            );
        }
    }
    let stack: Vec<String> = out.stack.iter().map(i64::to_string).collect();
    let _ = writeln!(s, "stack:    [{}]", stack.join(", "));
    let _ = writeln!(s, "gas used: {} of {gas_limit}", out.gas_used);
    if out.state.is_empty() {
        let _ = writeln!(s, "state:    (empty)");
    } else {
        let pairs: Vec<String> = out
            .state
            .iter()
            .map(|(k, v)| format!("{} = {v}", escape(k)))
            .collect();
        let _ = writeln!(s, "state:    {}", pairs.join(", "));
    }
    for e in &out.events {
        let fields: Vec<String> = e
            .fields
            .iter()
            .map(|(k, v)| match v {
                coopvm::EventValue::Int(i) => format!("{}={i}", escape(k)),
                coopvm::EventValue::Str(t) => format!("{}={}", escape(k), quoted(t)),
            })
            .collect();
        // A contract's own event (`emitevent`) is shown as such, its name quoted: it can
        // never pass for the host's event of the same name.
        let name = match e.source {
            coopvm::EventSource::Host => escape(&e.name).into_owned(),
            coopvm::EventSource::Contract => format!("contract event {}", quoted(&e.name)),
        };
        let _ = writeln!(s, "event:    {name} {}", fields.join(" "));
    }
    if !out.logs.is_empty() {
        let logs: Vec<String> = out.logs.iter().map(i64::to_string).collect();
        let _ = writeln!(s, "logs:     {}", logs.join(" "));
    }
    s
}

/// A readable listing of a state database's contents, from [`coopvm::store::Store::dump`].
pub fn state_human(dump: &serde_json::Value) -> String {
    use serde_json::Value;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "state database {}",
        escape(dump["path"].as_str().unwrap_or_default())
    );
    let Value::Object(root) = dump else {
        return s;
    };
    for (section, value) in root {
        if section == "path" {
            continue;
        }
        let count = match value {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        let _ = writeln!(s, "{} ({count}):", escape(section));
        match value {
            Value::Object(m) => {
                for (k, v) in m {
                    let _ = writeln!(s, "  {}: {}", escape(k), escape(&v.to_string()));
                }
            }
            Value::Array(a) => {
                for v in a {
                    let _ = writeln!(s, "  {}", escape(&v.to_string()));
                }
            }
            other => {
                let _ = writeln!(s, "  {}", escape(&other.to_string()));
            }
        }
    }
    s
}
