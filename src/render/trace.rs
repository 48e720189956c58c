//! Execution traces (`coopvm trace`): every instruction a run executes, with its index, its
//! source line, the instruction, the gas left and the stack after it, on the reference
//! interpreter's [step API](coopvm::interp::step).
//!
//! The output is bounded: after `limit` instruction lines one `... truncated` line follows,
//! the run goes on silently, and the final line reports its end as usual. With `json`, every
//! line is one JSON object (see [`trace`]).

use coopvm::asm::SourceMap;
use coopvm::disasm::quote;
use coopvm::interp::step::{Step, Stepper};
use coopvm::isa::OperandKind;
use coopvm::{Contract, Host, Insn, Outcome, RunParams, Verified};
use serde::Serialize;
use std::io::{self, Write};

/// Default number of instruction lines before the trace is cut.
pub const DEFAULT_LIMIT: u64 = 10_000;

/// Values of the stack shown (from the top) in a human-readable trace line.
pub const STACK_SHOWN: usize = 16;

/// How to trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Instruction lines to print before cutting the trace short.
    pub limit: u64,
    /// Print JSON lines instead of text.
    pub json: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limit: DEFAULT_LIMIT,
            json: false,
        }
    }
}

/// An instruction as text: its mnemonic and operand, with string constants quoted, static
/// keys by name and jump or call targets as `@index`.
pub fn insn_text(contract: &Contract, insn: Insn) -> String {
    let info = insn.op.info();
    let m = info.mnemonic;
    let lookup = |table: &[String]| {
        usize::try_from(insn.arg)
            .ok()
            .and_then(|i| table.get(i))
            .cloned()
    };
    match info.operand {
        OperandKind::None => m.to_owned(),
        OperandKind::Imm => format!("{m} {}", insn.arg),
        OperandKind::Str => match lookup(&contract.program.strings) {
            Some(s) => format!("{m} {}", quote(&s)),
            None => format!("{m} ?{}", insn.arg),
        },
        OperandKind::Key => match lookup(&contract.program.keys) {
            Some(k) => format!("{m} {k}"),
            None => format!("{m} ?{}", insn.arg),
        },
        OperandKind::Target => format!("{m} @{}", insn.arg),
    }
}

fn stack_text(stack: &[i64]) -> String {
    let shown = &stack[stack.len().saturating_sub(STACK_SHOWN)..];
    let mut parts: Vec<String> = shown.iter().map(i64::to_string).collect();
    if stack.len() > shown.len() {
        parts.insert(0, format!("...{} more", stack.len() - shown.len()));
    }
    format!("[{}]", parts.join(", "))
}

#[derive(Serialize)]
struct JsonStep<'a> {
    step: u64,
    pc: u32,
    line: Option<u32>,
    insn: &'a str,
    op: &'static str,
    gas_left: u64,
    depth: usize,
    stack: &'a [i64],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

#[derive(Serialize)]
struct JsonTruncated {
    truncated: bool,
    after: u64,
}

#[derive(Serialize)]
struct JsonEnd<'a> {
    end: &'static str,
    steps: u64,
    stack: &'a [i64],
    gas_used: u64,
    gas_limit: u64,
    error: Option<super::report::JsonError<'a>>,
}

fn json_line<W: Write, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
    writeln!(out)
}

/// Runs `verified` one instruction at a time and writes its trace to `out`; returns the
/// run's outcome (the same as a full run's) and whether writing succeeded. A write error
/// stops the output, not the run: the run still ends (and commits or rolls back) as usual.
///
/// Text lines are `step pc line instruction gas-left stack` in columns under a header, the
/// stack showing its top [`STACK_SHOWN`] values; the last line starts with `end: ok` or
/// `end: error`. JSON lines are objects with `step`, `pc`, `line` (or null), `insn`, `op`,
/// `gas_left`, `depth` (calls in progress) and `stack` (all of it), plus `error` (the error
/// kind) on an instruction that failed; a failing instruction's stack is the one it found,
/// and the text line ends with `!! kind`. A cut trace has one
/// `{"truncated":true,"after":N}`; the last object has `end` (`"ok"` or `"error"`), `steps`,
/// `stack`, `gas_used`, `gas_limit` and `error` (as in `run --json`).
pub fn trace<H: Host + ?Sized, W: Write>(
    verified: &Verified,
    map: &SourceMap,
    params: RunParams<'_>,
    host: &mut H,
    options: &Options,
    out: &mut W,
) -> (Outcome, io::Result<()>) {
    let code = coopvm::interp::lower(verified);
    let mut stepper = Stepper::new(verified, &code, params, host);
    let mut written =
        write_header(out, options).and_then(|()| write_steps(&mut stepper, map, options, out));
    let outcome = stepper.run_to_end().clone();
    let steps = stepper.executed();
    let gas_limit = stepper.gas_limit();
    if written.is_ok() {
        written = write_end(out, &outcome, steps, gas_limit, map, options.json);
    }
    (outcome, written)
}

/// The column header of a text trace (nothing for JSON).
pub fn write_header<W: Write>(out: &mut W, options: &Options) -> io::Result<()> {
    if options.json {
        return Ok(());
    }
    writeln!(
        out,
        "{:>7} {:>6} {:>5}  {:<24} {:>12}  stack",
        "step", "pc", "line", "instruction", "gas left"
    )
}

fn write_steps<H: Host + ?Sized, W: Write>(
    stepper: &mut Stepper<'_, H>,
    map: &SourceMap,
    options: &Options,
    out: &mut W,
) -> io::Result<()> {
    let contract = stepper.verified().contract();
    let mut printed = 0u64;
    loop {
        if printed == options.limit && !stepper.is_finished() {
            // Something is left to run: say the output stops here, then run silently.
            if options.json {
                json_line(
                    out,
                    &JsonTruncated {
                        truncated: true,
                        after: printed,
                    },
                )?;
            } else {
                writeln!(
                    out,
                    "... truncated after {printed} instructions (raise --limit to see more)"
                )?;
            }
            return Ok(());
        }
        let insn = stepper.next_insn();
        let step = stepper.step();
        let pc = match step {
            Step::Ran(pc) | Step::RanAndEnded(pc) => pc,
            Step::Ended => continue,
            Step::Finished => return Ok(()),
        };
        printed += 1;
        let Some(insn) = insn else { continue };
        let text = insn_text(contract, insn);
        // Strings and keys come from the contract: escaped for people, as they are in JSON.
        let shown = super::escape(&text);
        let line = map.span(pc).map(|s| s.line);
        // The instruction that ended the run with an error: its stack is the one it found.
        let error = match (step, stepper.outcome()) {
            (Step::RanAndEnded(_), Some(Outcome { result: Err(e), .. })) => Some(e.kind.name()),
            _ => None,
        };
        if options.json {
            json_line(
                out,
                &JsonStep {
                    step: stepper.executed(),
                    pc,
                    line,
                    insn: &text,
                    op: insn.op.info().mnemonic,
                    gas_left: stepper.gas_left(),
                    depth: stepper.call_depth(),
                    stack: stepper.machine_stack(),
                    error,
                },
            )?;
        } else {
            let line = line.map_or_else(|| "-".to_owned(), |l| l.to_string());
            let failed = error.map_or_else(String::new, |kind| format!("  !! {kind}"));
            writeln!(
                out,
                "{:>7} {:>6} {:>5}  {:<24} {:>12}  {}{failed}",
                stepper.executed(),
                pc,
                line,
                shown,
                stepper.gas_left(),
                stack_text(stepper.machine_stack())
            )?;
        }
    }
}

/// The last line of a trace: how the run ended after `steps` instructions (also for a run
/// refused before it started, with 0 steps).
pub fn write_end<W: Write>(
    out: &mut W,
    outcome: &Outcome,
    steps: u64,
    gas_limit: u64,
    map: &SourceMap,
    json: bool,
) -> io::Result<()> {
    let error = outcome.result.as_ref().err().map(|e| {
        let span = e.pc.and_then(|pc| map.span(pc));
        super::report::JsonError {
            kind: e.kind.name(),
            message: &e.message,
            pc: e.pc,
            line: span.map(|s| s.line),
            column: span.map(|s| s.column),
        }
    });
    if json {
        return json_line(
            out,
            &JsonEnd {
                end: if outcome.is_ok() { "ok" } else { "error" },
                steps,
                stack: &outcome.stack,
                gas_used: outcome.gas_used,
                gas_limit,
                error,
            },
        );
    }
    match error {
        None => writeln!(
            out,
            "end: ok after {steps} instructions, stack {}, gas used {} of {gas_limit}",
            stack_text(&outcome.stack),
            outcome.gas_used
        ),
        Some(e) => {
            let place = match (e.pc, e.line) {
                (Some(pc), Some(line)) => format!(" at pc {pc} (line {line})"),
                (Some(pc), None) => format!(" at pc {pc}"),
                _ => String::new(),
            };
            writeln!(
                out,
                "end: error {}{place} after {steps} instructions: {}; rolled back, gas used {} of {gas_limit}",
                e.kind,
                super::escape(e.message),
                outcome.gas_used
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_a_run_and_ends_with_its_outcome() {
        use coopvm::{load, ExecutionContext, Limits, NoHost, RunParams};
        let loaded = load::from_source("t.casm", "push 40\npush 2\nadd\n").unwrap();
        let map = loaded.map.clone();
        let v = loaded.verify(&Limits::default()).unwrap();
        let ctx = ExecutionContext::default();
        let params = RunParams::new(&ctx, &v.contract().state, 100);
        let mut text = Vec::new();
        let (out, written) = trace(
            &v,
            &map,
            params,
            &mut NoHost,
            &Options::default(),
            &mut text,
        );
        written.unwrap();
        assert_eq!(out.stack, vec![42]);
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("add"));
        assert!(text.lines().last().unwrap().starts_with("end: ok"));
    }

    #[test]
    fn long_stacks_are_elided_from_the_bottom() {
        let stack: Vec<i64> = (0..20).collect();
        let text = stack_text(&stack);
        assert!(text.starts_with("[...4 more, 4, 5,"), "{text}");
        assert!(text.ends_with("19]"));
        assert_eq!(stack_text(&[]), "[]");
    }

    #[test]
    fn operands_render_by_kind() {
        let c = coopvm::asm::assemble(
            "t",
            "l: push -3\npush \"a b\"\nstore k\nload k\njump l\nadd\n",
        )
        .unwrap();
        let texts: Vec<String> = c.program.code.iter().map(|&i| insn_text(&c, i)).collect();
        assert_eq!(
            texts,
            [
                "push -3",
                "push \"a b\"",
                "store k",
                "load k",
                "jump @0",
                "add"
            ]
        );
        // Operands that index nothing (only in unverified code) still render.
        let bad = Insn {
            op: coopvm::Op::Store,
            arg: 9,
        };
        assert_eq!(insn_text(&c, bad), "store ?9");
        let bad = Insn {
            op: coopvm::Op::PushStr,
            arg: -1,
        };
        assert_eq!(insn_text(&c, bad), "push ?-1");
    }
}
