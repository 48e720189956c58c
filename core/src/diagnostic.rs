//! Located diagnostics: an error message with the file, line and column it is about, shown
//! with the offending line and a caret under the offending text.
//!
//! Whatever a source holds, a diagnostic stays small: messages quote input through
//! [`quote`] (at most [`QUOTED_BYTES`] bytes of it), and the line shown is a window of at
//! most [`SHOWN_LINE_BYTES`] bytes around the caret, so a 4 MiB line or token gives a
//! message of a few hundred bytes.
//!
//! ```
//! use coopvm_core::asm::assemble;
//! let long = "x".repeat(100_000);
//! let err = assemble("big.casm", &format!("push 1\n{long}\n")).unwrap_err();
//! let shown = err.to_string();
//! assert!(shown.contains("big.casm:2:1"));
//! assert!(shown.len() < 1_000, "{} bytes", shown.len());
//! ```

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// The most bytes of an input a message quotes (see [`quote`]).
pub const QUOTED_BYTES: usize = 64;

/// The most bytes of a source line a diagnostic shows; longer lines are cut to a window
/// around the caret, marked with `…` where text is left out.
pub const SHOWN_LINE_BYTES: usize = 160;

/// `text` for a message: as it is when short, else its first [`QUOTED_BYTES`] bytes (cut at
/// a character boundary) followed by `… (N bytes)`.
///
/// ```
/// use coopvm_core::diagnostic::quote;
/// assert_eq!(quote("push"), "push");
/// let long = "a".repeat(1000);
/// assert_eq!(quote(&long), format!("{}… (1000 bytes)", "a".repeat(64)));
/// ```
pub fn quote(text: &str) -> Cow<'_, str> {
    if text.len() <= QUOTED_BYTES {
        return Cow::Borrowed(text);
    }
    let end = floor_char_boundary(text, QUOTED_BYTES);
    Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len()))
}

/// Where an instruction came from in the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
    /// Byte offset of the start.
    pub start: usize,
    /// Byte offset one past the end.
    pub end: usize,
}

/// A located error with the source it points into; `Display` shows the file:line:column,
/// the offending line (a window of it when it is long) and a caret under the offending text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name.
    pub file: String,
    /// Source text.
    pub source: String,
    /// Where (line 0 means the whole file).
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can tell.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use codespan_reporting::diagnostic::{Diagnostic as D, Label};
        use codespan_reporting::term;
        let excerpt = Excerpt::new(&self.file, &self.source, self.span);
        let mut d = D::error().with_message(self.message.clone());
        match &excerpt.caret {
            Some(caret) if self.span.line > 0 => {
                d = d.with_labels(vec![Label::primary((), caret.clone())]);
            }
            _ => d = d.with_notes(vec![format!("in {}", self.file)]),
        }
        if let Some(help) = &self.help {
            d = d.with_notes(vec![format!("help: {help}")]);
        }
        let mut out = String::new();
        let config = term::Config::default();
        if term::emit_to_string(&mut out, &config, &excerpt, &d).is_err() {
            // Fall back to a plain line if rendering fails (it should not).
            return write!(
                f,
                "{}:{}:{}: error: {}",
                self.file, self.span.line, self.span.column, self.message
            );
        }
        f.write_str(out.trim_end())
    }
}

/// The one line a diagnostic shows, cut to a window around the caret, presented to the
/// renderer as a one-line file that knows its real line and column numbers.
struct Excerpt<'a> {
    name: &'a str,
    /// The shown text: the window, with `…` where the line goes on.
    text: String,
    /// The caret's byte range in `text`; `None` when the span is not in the source.
    caret: Option<Range<usize>>,
    /// Real 1-based line and column of the caret.
    line: usize,
    column: usize,
}

impl<'a> Excerpt<'a> {
    fn new(name: &'a str, source: &str, span: Span) -> Excerpt<'a> {
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let end = floor_char_boundary(source, span.end.clamp(start, source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line_end = if source[..line_end].ends_with('\r') && line_end > start {
            line_end - 1
        } else {
            line_end
        };
        let end = end.min(line_end);
        // The caret covers at most a third of the window; the window starts a little before
        // it and ends after it, within the line.
        let caret_end = floor_char_boundary(source, end.min(start + SHOWN_LINE_BYTES / 3));
        let lead = SHOWN_LINE_BYTES / 3;
        let from = floor_char_boundary(source, start.saturating_sub(lead).max(line_start));
        let to = floor_char_boundary(
            source,
            (from + SHOWN_LINE_BYTES).min(line_end).max(caret_end),
        );
        let mut text = String::with_capacity(to - from + 8);
        if from > line_start {
            text.push('…');
        }
        let offset = text.len();
        text.push_str(&source[from..to]);
        if to < line_end {
            text.push('…');
        }
        let caret = (span.line > 0 && span.start <= source.len())
            .then(|| offset + start - from..offset + caret_end - from);
        Excerpt {
            name,
            text,
            caret,
            line: span.line.max(1) as usize,
            column: span.column.max(1) as usize,
        }
    }
}

impl<'a> codespan_reporting::files::Files<'a> for Excerpt<'_> {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, codespan_reporting::files::Error> {
        Ok(self.name)
    }

    fn source(&'a self, (): ()) -> Result<&'a str, codespan_reporting::files::Error> {
        Ok(&self.text)
    }

    fn line_index(
        &'a self,
        (): (),
        _byte: usize,
    ) -> Result<usize, codespan_reporting::files::Error> {
        Ok(self.line - 1)
    }

    fn line_range(
        &'a self,
        (): (),
        _line_index: usize,
    ) -> Result<Range<usize>, codespan_reporting::files::Error> {
        Ok(0..self.text.len())
    }

    fn column_number(
        &'a self,
        (): (),
        _line_index: usize,
        byte: usize,
    ) -> Result<usize, codespan_reporting::files::Error> {
        // Columns count characters from the real start of the line: the caret's own column
        // plus the characters between the caret and `byte` in the window.
        let caret = self.caret.as_ref().map_or(0, |c| c.start);
        let (lo, hi, forward) = if byte >= caret {
            (caret, byte, true)
        } else {
            (byte, caret, false)
        };
        let between = self.text.get(lo..hi).map_or(0, |t| t.chars().count());
        Ok(if forward {
            self.column + between
        } else {
            self.column.saturating_sub(between).max(1)
        })
    }
}

/// The largest character boundary of `text` at or below `index`.
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(source: &str, span: Span) -> String {
        Diagnostic {
            file: "t.casm".into(),
            source: source.into(),
            span,
            message: "bad".into(),
            help: None,
        }
        .to_string()
    }

    #[test]
    fn short_lines_are_shown_whole_with_real_line_and_column() {
        let src = "push 1\npusj 2\n";
        let shown = diag(
            src,
            Span {
                line: 2,
                column: 1,
                start: 7,
                end: 11,
            },
        );
        assert!(shown.contains("t.casm:2:1"), "{shown}");
        assert!(shown.contains("2 │ pusj 2"), "{shown}");
        assert!(shown.contains("^^^^"), "{shown}");
    }

    #[test]
    fn long_lines_show_a_window_around_the_caret() {
        let line = format!("{}zzz{}", "a".repeat(50_000), "b".repeat(50_000));
        let src = format!("push 1\n{line}\n");
        let start = 7 + 50_000;
        let shown = diag(
            &src,
            Span {
                line: 2,
                column: 50_001,
                start,
                end: start + 3,
            },
        );
        assert!(shown.len() < 1_000, "{} bytes", shown.len());
        assert!(shown.contains("t.casm:2:50001"), "{shown}");
        assert!(shown.contains("…"), "{shown}");
        assert!(shown.contains("zzz"), "{shown}");
    }

    #[test]
    fn a_huge_token_gets_a_bounded_caret() {
        let src = "x".repeat(1_000_000);
        let shown = diag(
            &src,
            Span {
                line: 1,
                column: 1,
                start: 0,
                end: src.len(),
            },
        );
        assert!(shown.len() < 1_000, "{} bytes", shown.len());
        assert!(shown.contains("t.casm:1:1"), "{shown}");
    }

    #[test]
    fn windows_cut_at_character_boundaries() {
        let line = "é".repeat(10_000);
        let shown = diag(
            &line,
            Span {
                line: 1,
                column: 5_000,
                start: 9_999,
                end: 10_003,
            },
        );
        assert!(shown.contains("t.casm:1:5000"), "{shown}");
        assert!(shown.len() < 1_000, "{} bytes", shown.len());
    }

    #[test]
    fn whole_file_diagnostics_name_the_file() {
        let shown = diag("push 1\n", Span::default());
        assert!(shown.contains("in t.casm"), "{shown}");
    }

    #[test]
    fn quotes_are_bounded_at_character_boundaries() {
        assert_eq!(quote(""), "");
        let long = "é".repeat(100);
        let q = quote(&long);
        assert!(q.starts_with(&"é".repeat(32)), "{q}");
        assert!(q.ends_with("… (200 bytes)"), "{q}");
    }
}
