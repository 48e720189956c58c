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
use crate::program::Contract;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Disassembles `contract`. Jump and call targets get labels `L<index>`; string and key
/// operands are printed by value.
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
    let targets: BTreeSet<i64> = code
        .iter()
        .filter(|i| i.op.info().operand == OperandKind::Target)
        .map(|i| i.arg)
        .collect();
    for (pc, insn) in code.iter().enumerate() {
        if targets.contains(&(pc as i64)) {
            let _ = writeln!(out, "L{pc}:");
        }
        let m = insn.op.info().mnemonic;
        let text = |table: &[String]| {
            usize::try_from(insn.arg)
                .ok()
                .and_then(|i| table.get(i))
                .cloned()
                .unwrap_or_else(|| format!("?{}", insn.arg))
        };
        let _ = match insn.op.info().operand {
            OperandKind::None => writeln!(out, "    {m}"),
            OperandKind::Imm => writeln!(out, "    {m} {}", insn.arg),
            OperandKind::Str => writeln!(out, "    {m} {}", quote(&text(&c.program.strings))),
            OperandKind::Key => writeln!(out, "    {m} {}", text(&c.program.keys)),
            OperandKind::Target => writeln!(out, "    {m} L{}", insn.arg),
        };
    }
    for &t in targets.range(code.len() as i64..) {
        let _ = writeln!(out, "L{t}:");
    }
    out
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
}
