//! The disassembler: a [`Contract`] back to `.casm` text that assembles to the same contract.
//!
//! ```
//! use coopvm_core::{asm::assemble, disasm::disassemble};
//! let c = assemble("t.casm", ".contract t\nloop: push 1\njumpif loop\n").unwrap();
//! let text = disassemble(&c);
//! assert!(text.contains("jumpif L0"));
//! assert_eq!(assemble("t.casm", &text).unwrap(), c);
//! ```

use crate::isa::OperandKind;
use crate::program::{is_identifier, Contract, Insn};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write;

/// Disassembles `contract` into text that assembles to exactly the same contract, whether it
/// verifies or not.
///
/// Jump and call targets get labels `L<index>` (a target past the end or negative, which
/// the verifier refuses, is written as its raw index `#N`); string and key operands are
/// written by value, or as `#N` when the value would not name that entry (an index out of
/// range, a later copy of an equal entry, a key that is not an identifier). When the pools
/// are not exactly what the operands written by value build (entries no instruction uses,
/// another order, repeated entries), the listing declares them first, one `.string` or
/// `.key` line per entry in order.
pub fn disassemble(contract: &Contract) -> String {
    let mut out = String::new();
    let c = contract;
    if !c.id.is_empty() {
        let _ = writeln!(out, ".contract {}", word(&c.id));
    }
    if !c.version.is_empty() {
        let _ = writeln!(out, ".version {}", word(&c.version));
    }
    if c.required_reputation != 0 {
        let _ = writeln!(out, ".reputation {}", c.required_reputation);
    }
    for p in &c.permissions {
        let _ = writeln!(out, ".permission {}", word(p));
    }
    for d in &c.dependencies {
        let _ = writeln!(out, ".depends {}", word(d));
    }
    for (k, v) in &c.metadata {
        let _ = writeln!(out, ".meta {} {}", word(k), word(v));
    }
    for (k, v) in &c.state {
        let _ = writeln!(out, ".state {} {v}", word(k));
    }
    if c.params != 0 {
        let _ = writeln!(out, ".params {}", c.params);
    }
    let code = &c.program.code;
    let (strings, keys) = (Pool::new(&c.program.strings), Pool::new(&c.program.keys));
    if !rebuilt(code, OperandKind::Str, &strings) {
        for s in strings.entries {
            let _ = writeln!(out, ".string {}", quote(s));
        }
    }
    if !rebuilt(code, OperandKind::Key, &keys) {
        for k in keys.entries {
            let _ = writeln!(out, ".key {}", word(k));
        }
    }
    let in_range = |t: i64| (0..=code.len() as i64).contains(&t);
    let targets: BTreeSet<i64> = code
        .iter()
        .filter(|i| i.op.info().operand == OperandKind::Target && in_range(i.arg))
        .map(|i| i.arg)
        .collect();
    for (pc, insn) in code.iter().enumerate() {
        if targets.contains(&(pc as i64)) {
            let _ = writeln!(out, "L{pc}:");
        }
        let m = insn.op.info().mnemonic;
        let raw = insn.arg;
        let _ = match insn.op.info().operand {
            OperandKind::None => writeln!(out, "    {m}"),
            OperandKind::Imm => writeln!(out, "    {m} {raw}"),
            OperandKind::Str => match by_value(insn, OperandKind::Str, &strings) {
                Some(s) => writeln!(out, "    {m} {}", quote(s)),
                None => writeln!(out, "    {m} #{raw}"),
            },
            OperandKind::Key => match by_value(insn, OperandKind::Key, &keys) {
                Some(k) => writeln!(out, "    {m} {k}"),
                None => writeln!(out, "    {m} #{raw}"),
            },
            OperandKind::Target if in_range(raw) => writeln!(out, "    {m} L{raw}"),
            OperandKind::Target => writeln!(out, "    {m} #{raw}"),
        };
    }
    if targets.contains(&(code.len() as i64)) {
        let _ = writeln!(out, "L{}:", code.len());
    }
    out
}

/// The entry of `pool` that `insn`'s operand (of kind `kind`) names, when writing it by
/// value names exactly that entry: the index is in range, no earlier entry is equal, and a
/// key is an identifier (what `load K` / `store K` accept).
fn by_value<'p>(insn: &Insn, kind: OperandKind, pool: &Pool<'p>) -> Option<&'p str> {
    let i = usize::try_from(insn.arg).ok()?;
    let entry = pool.entries.get(i)?;
    let first = pool.first.get(entry.as_str()) == Some(&i);
    let writable = kind == OperandKind::Str || is_identifier(entry);
    (first && writable).then_some(entry.as_str())
}

/// A pool and the index of the first entry of each value.
struct Pool<'p> {
    entries: &'p [String],
    first: HashMap<&'p str, usize>,
}

impl<'p> Pool<'p> {
    fn new(entries: &'p [String]) -> Pool<'p> {
        let mut first = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            first.entry(e.as_str()).or_insert(i);
        }
        Pool { entries, first }
    }
}

/// The pool the assembler builds from the operands of kind `kind` written by value (each new
/// value appended on its first use): when it is `pool`, the listing need not declare it.
fn built_pool<'p>(code: &[Insn], kind: OperandKind, pool: &Pool<'p>) -> Vec<&'p str> {
    let mut built = Vec::new();
    let mut seen = HashSet::new();
    for insn in code.iter().filter(|i| i.op.info().operand == kind) {
        if let Some(v) = by_value(insn, kind, pool) {
            if seen.insert(v) {
                built.push(v);
            }
        }
    }
    built
}

/// Whether the assembler rebuilds `pool` from the operands written by value.
fn rebuilt(code: &[Insn], kind: OperandKind, pool: &Pool<'_>) -> bool {
    built_pool(code, kind, pool)
        .into_iter()
        .eq(pool.entries.iter().map(String::as_str))
}

/// `s` as a bare word when it reads back unchanged, else as a string literal.
fn word(s: &str) -> String {
    let bare = !s.is_empty()
        && !s.ends_with(':')
        && !s.starts_with('.')
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != ';' && c != '"' && c != '\\');
    if bare {
        s.to_owned()
    } else {
        quote(s)
    }
}

/// `s` as a string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    #[test]
    fn round_trips_a_full_contract() {
        let src = r#"
            .contract "my contract"
            .version 1.0
            .reputation -3
            .permission "a b"
            .depends x.y
            .meta "k;" "v\"\n"
            .state c 1
            .params 2
        top: push "s\t\u{1}"
            load c
            store d
            call sub
            jump end
        sub: return
        end:
        "#;
        let c = assemble("t", src).unwrap();
        let text = disassemble(&c);
        assert_eq!(assemble("t", &text).unwrap(), c, "{text}");
    }

    /// Assembles `src`, applies `change`, and checks that the listing assembles to exactly
    /// the changed contract and lists itself again; returns the listing.
    fn round_trip(src: &str, change: impl FnOnce(&mut Contract)) -> String {
        let mut c = assemble("t", src).unwrap();
        change(&mut c);
        let text = disassemble(&c);
        let again = assemble("listing", &text)
            .unwrap_or_else(|e| panic!("the listing does not assemble: {e}\n{text}"));
        assert_eq!(again, c, "the round trip changed the contract\n{text}");
        assert_eq!(disassemble(&again), text, "the listing is not stable");
        text
    }

    #[test]
    fn pool_entries_no_instruction_uses_survive() {
        let text = round_trip("push \"a\"\nload k\npop\npop\n", |c| {
            c.program.strings.push("never pushed".into());
            c.program.keys.insert(0, "unused".into());
        });
        assert!(
            text.contains(".string \"a\"\n.string \"never pushed\"\n"),
            "{text}"
        );
        assert!(text.contains(".key unused\n.key k\n"), "{text}");
        // A contract whose pools the operands rebuild declares nothing.
        let text = round_trip("push \"a\"\npush \"b\"\npush \"a\"\nload k\n", |_| {});
        assert!(
            !text.contains(".string") && !text.contains(".key"),
            "{text}"
        );
        // Pools in another order than first use, repeated entries, empty code.
        round_trip("push \"a\"\npush \"b\"\n", |c| c.program.strings.reverse());
        round_trip("push \"a\"\npush \"b\"\n", |c| {
            c.program.strings.push("a".into());
            c.program.code[1].arg = 2;
        });
        round_trip("", |c| {
            c.program.strings = vec!["x".into(), "x".into()];
            c.program.keys = vec!["not a key".into(), "#1".into(), "k:".into()];
        });
    }

    #[test]
    fn operands_that_no_value_names_are_raw_indices() {
        // A string index out of range, a later copy of an equal string, a key out of range
        // and a key that is not an identifier (the verifier refuses all but the copy).
        let text = round_trip(
            "push \"a\"\npush \"a\"\nload k\nstore k\npush \"b\"\n",
            |c| {
                c.program.strings.push("a".into());
                c.program.code[1].arg = 2;
                c.program.code[4].arg = -5;
                c.program.keys[0] = "not key".into();
                c.program.code[3].arg = 9;
            },
        );
        for line in ["push #2", "load #0", "store #9", "push #-5"] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }

    #[test]
    fn jumps_out_of_range_keep_their_targets() {
        let src = "top: push 1\njumpif top\ncall top\njump end\nend:\n";
        let c = assemble("t", src).unwrap();
        assert!(crate::verify(c.clone(), &crate::Limits::default()).is_ok());
        let n = c.program.code.len() as i64;
        for target in [n + 1, n + 7, -1, i64::MIN, i64::MAX] {
            let text = round_trip(src, |c| c.program.code[1].arg = target);
            assert!(text.contains(&format!("jumpif #{target}\n")), "{text}");
            let text = round_trip(src, |c| c.program.code[2].arg = target);
            assert!(text.contains(&format!("call #{target}\n")), "{text}");
            let mut bad = c.clone();
            bad.program.code[3].arg = target;
            assert!(crate::verify(bad, &crate::Limits::default()).is_err());
        }
        // In range, the end included, targets stay labels.
        let text = round_trip(src, |_| {});
        assert!(text.contains("jump L4\nL4:\n"), "{text}");
    }
}
