//! Rendering for people and for tools: run outcomes, statistics and state databases
//! ([`report`]), and execution traces ([`trace`]); and [`escape`], which every human-readable
//! output passes contract-supplied text through.

pub(crate) mod report;
pub(crate) mod trace;

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as it is: control characters (C0, DEL, C1: a
/// newline could forge an output line, an escape sequence could clear the screen),
/// bidirectional overrides and isolates (which reorder what is shown), zero-width and
/// invisible formatting characters, and line or paragraph separators.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// `text` safe to print for people: every character [`unsafe_char`] finds is written as an
/// escape (`\n`, `\t`, `\r`, `\0`, else `\u{hex}`), so contract-supplied text can neither
/// forge a line nor drive the terminal. Everything else is kept.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    escape_keeping(text, false)
}

/// [`escape`], but newlines are kept: for multi-line output (a disassembly, a diagnostic)
/// whose lines are each escaped.
pub(crate) fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_keeping(text, true)
}

fn escape_keeping(text: &str, newlines: bool) -> Cow<'_, str> {
    let bad = |c: char| unsafe_char(c) && !(newlines && c == '\n');
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !bad(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// `text` as a double-quoted string for people: escaped as by [`escape`], with `"` and `\`
/// escaped too, so the quotes show where it ends.
pub(crate) fn quoted(text: &str) -> String {
    let inner = escape(text);
    let mut out = String::with_capacity(inner.len() + 2);
    out.push('"');
    for c in inner.chars() {
        if c == '"' {
            out.push_str("\\\"");
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// The most bytes of an input a message quotes (see [`bounded`]).
pub(crate) const QUOTED_BYTES: usize = 64;

/// `text` for a message: escaped, and cut after [`QUOTED_BYTES`] bytes (at a character
/// boundary) with `… (N bytes)` when longer, so a huge input never fills the message.
pub(crate) fn bounded(text: &str) -> String {
    if text.len() <= QUOTED_BYTES {
        return escape(text).into_owned();
    }
    let mut end = QUOTED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", escape(&text[..end]), text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(escape("plain text, ünïcode ✓"), "plain text, ünïcode ✓");
        assert!(matches!(escape("ok"), Cow::Borrowed(_)));
        assert_eq!(escape("x\nerror: y"), "x\\nerror: y");
        assert_eq!(
            escape("\u{1b}[2J\0\t\r\u{7f}\u{85}"),
            "\\u{1b}[2J\\0\\t\\r\\u{7f}\\u{85}"
        );
        assert_eq!(
            escape("a\u{202e}b\u{2066}c\u{200b}d\u{feff}"),
            "a\\u{202e}b\\u{2066}c\\u{200b}d\\u{feff}"
        );
        assert_eq!(escape_lines("a\nb\u{1b}"), "a\nb\\u{1b}");
        assert_eq!(quoted("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
    }

    #[test]
    fn long_inputs_are_cut_in_messages() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(100);
        let b = bounded(&long);
        assert!(b.ends_with("… (200 bytes)"), "{b}");
        assert!(b.len() < 100);
        assert_eq!(bounded(&"\n".repeat(70)).matches("\\n").count(), 64);
    }
}
