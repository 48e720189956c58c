//! Generates `docs/opcodes.md` from the instruction table and the error kinds, so the
//! reference can never drift from the code (a test compares the file with this output).

use crate::error::ErrorKind;
use crate::isa::{Class, Op, OperandKind};
use std::fmt::Write;

/// The text of `docs/opcodes.md`.
pub fn opcodes_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# coopvm opcodes\n\n\
         <!-- Generated from core/src/isa/table.rs by `coopvm docs`; do not edit by hand. -->\n\n\
         This completes Appendix A of the ICN VM specification. Values are signed 64-bit\n\
         integers. Binary operations pop `b` (the top) and then `a`, and push `a op b`.\n\
         Gas is charged per basic block on entry (the sum of the block's instructions below);\n\
         host operations may charge more at run time, and what one charged counts even when it\n\
         then fails (a failed run's gas used includes it; `out_of_gas` if the gas left does not\n\
         cover it). Strings travel as handles (see\n\
         `docs/strings.md`). Opcodes marked *extension* are coopvm additions to the seed.\n\
         Who may perform each domain operation, its refusals, dynamic gas and events are\n\
         specified in `docs/domain.md`. A contract starts on an empty stack, or with its\n\
         inputs when it declares `.params N` (N values, deepest first, as the run gives them).\n\n",
    );
    for &class in Class::ALL {
        let _ = writeln!(out, "## {}\n", class.title());
        out.push_str("| opcode | byte | assembly | stack | gas | description |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for &op in Op::ALL.iter().filter(|op| op.info().class == class) {
            let i = op.info();
            let form = match i.operand {
                OperandKind::None => i.mnemonic.to_string(),
                OperandKind::Imm => format!("{} N", i.mnemonic),
                OperandKind::Str => format!("{} \"S\"", i.mnemonic),
                OperandKind::Key => format!("{} K", i.mnemonic),
                OperandKind::Target => format!("{} L", i.mnemonic),
            };
            let ext = if i.extension { " *(extension)*" } else { "" };
            let _ = writeln!(
                out,
                "| {:?}{ext} | 0x{:02x} | `{form}` | `{}` | {} | {} |",
                op,
                i.code,
                i.stack,
                i.gas,
                i.doc.replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    out.push_str("## Error kinds\n\n| kind | code | meaning |\n|---|---|---|\n");
    for &k in ErrorKind::ALL {
        let _ = writeln!(out, "| `{}` | {} | {} |", k.name(), k as u8, k.doc());
    }
    out
}
