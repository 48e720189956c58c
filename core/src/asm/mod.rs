//! The assembler: `.casm` text to a [`Contract`].
//!
//! One instruction per line; `;` starts a comment; `name:` defines a label (on its own line
//! or before an instruction); mnemonics are case-insensitive. Operands are integers
//! (`42`, `-7`, `0x2a`, `1_000`), string literals (`"did:key:z6Mk..."`, with `\"`, `\\`, `\n`,
//! `\t`, `\u{..}` escapes), labels (targets of `jump`, `jumpif`, `call`) and identifiers
//! (static memory keys of `store` / `load`). Directives describe the contract:
//! `.contract ID`, `.version V`, `.reputation N`, `.permission NAME` (repeatable),
//! `.depends ID` (repeatable), `.meta KEY VALUE`, `.state KEY VALUE`, `.params N` (the
//! contract starts with N input values on its stack, deepest first as given).
//!
//! Two directives and one operand form let a listing say exactly what a contract holds, for
//! the disassembler ([`crate::disasm`]; `docs/assembly.md`): `.string "TEXT"` and `.key NAME`
//! append an entry to the string or static-key pool (even one no instruction uses, or one
//! equal to an earlier entry; an operand written by value names the first equal entry), and
//! `#N` is an operand's raw index: `push #2` pushes the handle of string 2, `load #0` uses
//! static key 0, `jump #7` jumps to instruction 7 (any integer: the verifier refuses what is
//! out of range).
//!
//! ```
//! use coopvm_core::asm::assemble;
//! let c = assemble("count.casm", ".contract counter\n.state count 0\nload count\npush 1\nadd\nstore count\n").unwrap();
//! assert_eq!(c.state["count"], 0);
//! assert_eq!(c.program.keys, vec!["count".to_string()]);
//! let err = assemble("bad.casm", "pusj 1\n").unwrap_err();
//! assert_eq!((err.line, err.column), (1, 1));
//! assert!(err.to_string().contains("did you mean `push`"));
//! ```

use crate::diagnostic::quote;
pub use crate::diagnostic::{Diagnostic, Span};
use crate::isa::{Op, OperandKind};
use crate::program::{is_identifier, Contract, Insn, StateKey};
use std::collections::HashMap;

/// Maps instruction indices back to their source, for located run-time and verifier errors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// The file name as given to the assembler.
    pub file: String,
    /// The source text.
    pub source: String,
    /// One span per instruction.
    pub spans: Vec<Span>,
}

impl SourceMap {
    /// The span of instruction `pc`, if it has one.
    pub fn span(&self, pc: u32) -> Option<Span> {
        self.spans.get(pc as usize).copied()
    }

    /// A located diagnostic about instruction `pc` (or the whole file when `pc` is `None`).
    pub fn diagnostic(&self, pc: Option<u32>, message: &str, help: Option<String>) -> Diagnostic {
        let span = pc.and_then(|pc| self.span(pc)).unwrap_or_default();
        Diagnostic {
            file: self.file.clone(),
            source: self.source.clone(),
            span,
            message: message.to_owned(),
            help,
        }
    }
}

/// An assembly error: what is wrong and exactly where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct AsmError {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can tell.
    pub help: Option<String>,
    diagnostic: Box<Diagnostic>,
}

impl AsmError {
    fn render(&self) -> String {
        self.diagnostic.to_string()
    }

    /// `file:line:column: message`, on one line.
    pub fn short(&self) -> String {
        format!(
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Assembles `source` (named `file` in errors) into a contract.
pub fn assemble(file: &str, source: &str) -> Result<Contract, AsmError> {
    assemble_with_map(file, source).map(|(c, _)| c)
}

/// Assembles `source` and also returns the map from instructions to source spans.
pub fn assemble_with_map(file: &str, source: &str) -> Result<(Contract, SourceMap), AsmError> {
    let mut asm = Assembler {
        file,
        source,
        contract: Contract::default(),
        spans: Vec::new(),
        labels: HashMap::new(),
        fixups: Vec::new(),
        keys: HashMap::new(),
        strings: HashMap::new(),
        seen: HashMap::new(),
    };
    let mut offset = 0;
    for (index, line) in source.split_inclusive('\n').enumerate() {
        let text = line.strip_suffix('\n').unwrap_or(line);
        let text = text.strip_suffix('\r').unwrap_or(text);
        asm.line(index as u32 + 1, offset, text)?;
        offset += line.len();
    }
    asm.finish()
}

#[derive(Clone, Debug, PartialEq)]
enum Tok<'s> {
    Word(&'s str),
    Str(String),
}

#[derive(Clone, Debug)]
struct Token<'s> {
    tok: Tok<'s>,
    span: Span,
}

struct Assembler<'s> {
    file: &'s str,
    source: &'s str,
    contract: Contract,
    spans: Vec<Span>,
    labels: HashMap<String, (u32, Span)>,
    fixups: Vec<(usize, String, Span)>,
    keys: HashMap<String, i64>,
    strings: HashMap<String, i64>,
    seen: HashMap<&'static str, Span>,
}

impl<'s> Assembler<'s> {
    fn error(&self, span: Span, message: impl Into<String>, help: Option<String>) -> AsmError {
        let message = message.into();
        AsmError {
            file: self.file.to_owned(),
            line: span.line,
            column: span.column,
            message: message.clone(),
            help: help.clone(),
            diagnostic: Box::new(Diagnostic {
                file: self.file.to_owned(),
                source: self.source.to_owned(),
                span,
                message,
                help,
            }),
        }
    }

    fn tokenize(
        &self,
        line_no: u32,
        offset: usize,
        text: &'s str,
    ) -> Result<Vec<Token<'s>>, AsmError> {
        let mut tokens = Vec::new();
        let mut chars = text.char_indices().peekable();
        let span_at = |start: usize, end: usize| Span {
            line: line_no,
            column: text[..start].chars().count() as u32 + 1,
            start: offset + start,
            end: offset + end,
        };
        while let Some(&(i, c)) = chars.peek() {
            if c == ';' {
                break;
            }
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            if c == '"' {
                chars.next();
                let mut value = String::new();
                let mut closed = None;
                while let Some((j, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = Some(j + 1);
                            break;
                        }
                        '\\' => {
                            let Some((k, e)) = chars.next() else { break };
                            match e {
                                'n' => value.push('\n'),
                                't' => value.push('\t'),
                                'r' => value.push('\r'),
                                '0' => value.push('\0'),
                                '\\' => value.push('\\'),
                                '"' => value.push('"'),
                                'u' => {
                                    let rest = &text[k + 1..];
                                    let close = rest.find('}');
                                    let parsed = rest
                                        .strip_prefix('{')
                                        .zip(close)
                                        .and_then(|(_, end)| {
                                            u32::from_str_radix(&rest[1..end], 16).ok()
                                        })
                                        .and_then(char::from_u32);
                                    let (Some(ch), Some(end)) = (parsed, close) else {
                                        return Err(self.error(
                                            span_at(j, k + 1 + e.len_utf8()),
                                            "bad unicode escape",
                                            Some("write it as \\u{1F600}".into()),
                                        ));
                                    };
                                    value.push(ch);
                                    // Skip `{hex}`.
                                    while chars.peek().is_some_and(|&(p, _)| p <= k + 1 + end) {
                                        chars.next();
                                    }
                                }
                                other => {
                                    return Err(self.error(
                                        span_at(j, k + other.len_utf8()),
                                        format!("unknown escape `\\{other}`"),
                                        Some(
                                            "the escapes are \\n \\t \\r \\0 \\\\ \\\" \\u{..}"
                                                .into(),
                                        ),
                                    ))
                                }
                            }
                        }
                        c => value.push(c),
                    }
                }
                let Some(end) = closed else {
                    return Err(self.error(
                        span_at(i, text.len()),
                        "unterminated string literal",
                        Some("close it with `\"` on the same line".into()),
                    ));
                };
                tokens.push(Token {
                    tok: Tok::Str(value),
                    span: span_at(i, end),
                });
                continue;
            }
            let start = i;
            let mut end = text.len();
            while let Some(&(j, c)) = chars.peek() {
                if c.is_whitespace() || c == ';' || c == '"' {
                    end = j;
                    break;
                }
                chars.next();
            }
            tokens.push(Token {
                tok: Tok::Word(&text[start..end]),
                span: span_at(start, end),
            });
        }
        Ok(tokens)
    }

    fn line(&mut self, line_no: u32, offset: usize, text: &'s str) -> Result<(), AsmError> {
        let tokens = self.tokenize(line_no, offset, text)?;
        let mut rest = &tokens[..];
        // Leading label definitions.
        while let Some(Token {
            tok: Tok::Word(w),
            span,
        }) = rest.first()
        {
            let Some(name) = w.strip_suffix(':') else {
                break;
            };
            if !is_identifier(name) {
                return Err(self.error(
                    *span,
                    format!("`{}` is not a valid label name", quote(name)),
                    Some(
                        "labels are identifiers: a letter or `_`, then letters, digits, `_` or `.`"
                            .into(),
                    ),
                ));
            }
            let pc = self.contract.program.code.len() as u32;
            if let Some((_, first)) = self.labels.get(name) {
                return Err(self.error(
                    *span,
                    format!("label `{}` is defined twice", quote(name)),
                    Some(format!("it was first defined on line {}", first.line)),
                ));
            }
            self.labels.insert(name.to_owned(), (pc, *span));
            rest = &rest[1..];
        }
        let Some((head, args)) = rest.split_first() else {
            return Ok(());
        };
        match &head.tok {
            Tok::Word(w) if w.starts_with('.') => self.directive(w, head.span, args),
            Tok::Word(w) => self.instruction(w, head.span, args),
            Tok::Str(_) => Err(self.error(
                head.span,
                "expected an instruction, found a string literal",
                Some("strings are operands: `push \"text\"`".into()),
            )),
        }
    }

    fn directive(&mut self, name: &str, span: Span, args: &[Token<'s>]) -> Result<(), AsmError> {
        let lower = name.to_ascii_lowercase();
        let (key, arity): (&'static str, usize) = match lower.as_str() {
            ".contract" => ("contract", 1),
            ".version" => ("version", 1),
            ".reputation" => ("reputation", 1),
            ".permission" => ("permission", 1),
            ".depends" => ("depends", 1),
            ".meta" => ("meta", 2),
            ".state" => ("state", 2),
            ".params" => ("params", 1),
            ".string" => ("string", 1),
            ".key" => ("key", 1),
            _ => {
                return Err(self.error(
                    span,
                    format!("unknown directive `{}`", quote(name)),
                    Some(".contract, .version, .reputation, .permission, .depends, .meta, .state, .params, .string and .key are the directives".into()),
                ))
            }
        };
        if args.len() != arity {
            let what = if arity == 1 {
                "one value"
            } else {
                "two values"
            };
            let at = args.get(arity).map_or(span, |t| t.span);
            return Err(self.error(
                at,
                format!("`{name}` takes {what}, found {}", args.len()),
                Some(directive_usage(key).into()),
            ));
        }
        let text = |t: &Token<'_>| match &t.tok {
            Tok::Word(w) => (*w).to_owned(),
            Tok::Str(s) => s.clone(),
        };
        if matches!(key, "contract" | "version" | "reputation" | "params") {
            if let Some(first) = self.seen.get(key) {
                return Err(self.error(
                    span,
                    format!("`{name}` is given twice"),
                    Some(format!("it was first given on line {}", first.line)),
                ));
            }
            self.seen.insert(key, span);
        }
        let reputation = if matches!(key, "reputation" | "params") {
            self.int(&args[0])?
        } else {
            0
        };
        let params = if key == "params" {
            let max = crate::limits::Limits::MAX.stack;
            match u32::try_from(reputation) {
                Ok(n) if n <= max => n,
                _ => {
                    return Err(self.error(
                        args[0].span,
                        format!("`.params` takes 0 to {max} inputs, not {reputation}"),
                        Some(directive_usage(key).into()),
                    ))
                }
            }
        } else {
            0
        };
        let c = &mut self.contract;
        match key {
            "contract" => c.id = text(&args[0]),
            "version" => c.version = text(&args[0]),
            "reputation" => c.required_reputation = reputation,
            "params" => c.params = params,
            "permission" => c.permissions.push(text(&args[0])),
            "depends" => c.dependencies.push(text(&args[0])),
            "string" => declare(&mut self.strings, &mut c.program.strings, text(&args[0])),
            "key" => declare(&mut self.keys, &mut c.program.keys, text(&args[0])),
            "meta" => {
                let k = text(&args[0]);
                if c.metadata.insert(k.clone(), text(&args[1])).is_some() {
                    return Err(self.error(
                        args[0].span,
                        format!("metadata key `{}` is given twice", quote(&k)),
                        None,
                    ));
                }
            }
            _ => {
                let k = text(&args[0]);
                if StateKey::parse(&k).is_none() {
                    return Err(self.error(
                        args[0].span,
                        format!("`{}` is not a valid state key", quote(&k)),
                        Some(
                            "state keys are identifiers (`votes`) or decimal integers (`7`)".into(),
                        ),
                    ));
                }
                let v = self.int(&args[1])?;
                if self.contract.state.insert(k.as_str().into(), v).is_some() {
                    return Err(self.error(
                        args[0].span,
                        format!("state key `{}` is given twice", quote(&k)),
                        None,
                    ));
                }
            }
        }
        Ok(())
    }

    fn int(&self, t: &Token<'_>) -> Result<i64, AsmError> {
        match &t.tok {
            Tok::Word(w) => parse_int(w).map_err(|m| self.error(t.span, m, None)),
            Tok::Str(_) => {
                Err(self.error(t.span, "expected an integer, found a string literal", None))
            }
        }
    }

    fn instruction(&mut self, word: &str, span: Span, args: &[Token<'s>]) -> Result<(), AsmError> {
        let candidates: Vec<Op> = Op::by_mnemonic(word).collect();
        if candidates.is_empty() {
            let help = suggest(word).map(|s| format!("did you mean `{s}`?"));
            return Err(self.error(span, format!("unknown instruction `{}`", quote(word)), help));
        }
        if args.len() > 1 {
            return Err(self.error(
                args[1].span,
                format!("`{}` takes at most one operand", candidates[0]),
                None,
            ));
        }
        let arg = args.first();
        if let Some(
            t @ Token {
                tok: Tok::Word(w), ..
            },
        ) = arg
        {
            if let Some(raw) = w.strip_prefix('#') {
                return self.raw_operand(&candidates, t, raw, span);
            }
        }
        let kind_wanted = match arg.map(|t| &t.tok) {
            None => OperandKind::None,
            Some(Tok::Str(_)) => OperandKind::Str,
            Some(Tok::Word(w)) if looks_numeric(w) => OperandKind::Imm,
            Some(Tok::Word(_)) => OperandKind::Key, // or Target: resolved below
        };
        let op = candidates.iter().copied().find(|op| {
            let k = op.info().operand;
            k == kind_wanted || (kind_wanted == OperandKind::Key && k == OperandKind::Target)
        });
        let Some(op) = op else {
            return Err(self.operand_error(&candidates, arg, span));
        };
        let mut insn = Insn::new(op);
        let pc = self.contract.program.code.len();
        if let Some(t) = arg {
            match (&t.tok, op.info().operand) {
                (Tok::Word(_), OperandKind::Imm) => insn.arg = self.int(t)?,
                (Tok::Str(s), OperandKind::Str) => {
                    insn.arg = intern(&mut self.strings, &mut self.contract.program.strings, s);
                }
                (Tok::Word(w), OperandKind::Key) => {
                    if !is_identifier(w) {
                        return Err(self.error(
                            t.span,
                            format!("`{}` is not a valid key name", quote(w)),
                            Some("static keys are identifiers; for an integer key push it and use `store` / `load` without an operand".into()),
                        ));
                    }
                    insn.arg = intern(&mut self.keys, &mut self.contract.program.keys, w);
                }
                (Tok::Word(w), OperandKind::Target) => {
                    if !is_identifier(w) {
                        return Err(self.error(
                            t.span,
                            format!("`{}` is not a valid label name", quote(w)),
                            None,
                        ));
                    }
                    self.fixups.push((pc, (*w).to_owned(), t.span));
                }
                _ => return Err(self.operand_error(&candidates, arg, span)),
            }
        }
        self.contract.program.code.push(insn);
        self.spans.push(span);
        Ok(())
    }

    /// An instruction with a raw operand `#N` (see the module docs): the form of `candidates`
    /// whose operand is an index (a string, a static key or a target), with index `N`.
    fn raw_operand(
        &mut self,
        candidates: &[Op],
        t: &Token<'_>,
        raw: &str,
        span: Span,
    ) -> Result<(), AsmError> {
        let Some(op) = candidates.iter().copied().find(|op| {
            matches!(
                op.info().operand,
                OperandKind::Str | OperandKind::Key | OperandKind::Target
            )
        }) else {
            let name = candidates[0].info().mnemonic;
            let forms: Vec<String> = candidates.iter().map(|op| usage(*op)).collect();
            return Err(self.error(
                t.span,
                format!("`{name}` does not take a raw index `#N`"),
                Some(format!(
                    "`#N` is for string, key and target operands; write it as {}",
                    forms.join(" or ")
                )),
            ));
        };
        let index = parse_int(raw).map_err(|m| {
            self.error(
                t.span,
                format!("`#{}`: {m}", quote(raw)),
                Some("write a raw index as `#3`".into()),
            )
        })?;
        let mut insn = Insn::new(op);
        insn.arg = index;
        self.contract.program.code.push(insn);
        self.spans.push(span);
        Ok(())
    }

    fn operand_error(&self, candidates: &[Op], arg: Option<&Token<'_>>, span: Span) -> AsmError {
        let name = candidates[0].info().mnemonic;
        let forms: Vec<String> = candidates.iter().map(|op| usage(*op)).collect();
        let help = Some(format!("write it as {}", forms.join(" or ")));
        match arg {
            None => self.error(span, format!("`{name}` needs an operand"), help),
            Some(t) => {
                let found = match &t.tok {
                    Tok::Str(_) => "a string literal",
                    Tok::Word(w) if looks_numeric(w) => "an integer",
                    Tok::Word(_) => "a name",
                };
                let message = if candidates
                    .iter()
                    .all(|op| op.info().operand == OperandKind::None)
                {
                    format!("`{name}` takes no operand, found {found}")
                } else {
                    format!("`{name}` does not take {found} here")
                };
                self.error(t.span, message, help)
            }
        }
    }

    fn finish(mut self) -> Result<(Contract, SourceMap), AsmError> {
        for (pc, label, span) in std::mem::take(&mut self.fixups) {
            match self.labels.get(&label) {
                Some(&(target, _)) => self.contract.program.code[pc].arg = i64::from(target),
                None => {
                    let mut names: Vec<&String> = self.labels.keys().collect();
                    names.sort();
                    let help = closest(&label, names.iter().map(|s| s.as_str()))
                        .map(|s| format!("did you mean `{s}`?"))
                        .or_else(|| Some("define it with `name:` before an instruction".into()));
                    return Err(self.error(
                        span,
                        format!("undefined label `{}`", quote(&label)),
                        help,
                    ));
                }
            }
        }
        let map = SourceMap {
            file: self.file.to_owned(),
            source: self.source.to_owned(),
            spans: self.spans,
        };
        Ok((self.contract, map))
    }
}

fn intern(index: &mut HashMap<String, i64>, table: &mut Vec<String>, s: &str) -> i64 {
    *index.entry(s.to_owned()).or_insert_with(|| {
        table.push(s.to_owned());
        table.len() as i64 - 1
    })
}

/// `.string` / `.key`: appends `s` to the pool, even when an equal entry is there already
/// (operands written by value keep naming the first one).
fn declare(index: &mut HashMap<String, i64>, table: &mut Vec<String>, s: String) {
    index.entry(s.clone()).or_insert(table.len() as i64);
    table.push(s);
}

fn usage(op: Op) -> String {
    let m = op.info().mnemonic;
    match op.info().operand {
        OperandKind::None => format!("`{m}`"),
        OperandKind::Imm => format!("`{m} 42`"),
        OperandKind::Str => format!("`{m} \"text\"`"),
        OperandKind::Key => format!("`{m} key`"),
        OperandKind::Target => format!("`{m} label`"),
    }
}

fn directive_usage(key: &str) -> &'static str {
    match key {
        "contract" => "write it as `.contract my_contract`",
        "version" => "write it as `.version 1.0.0`",
        "reputation" => "write it as `.reputation 10`",
        "permission" => "write it as `.permission vote` (one per line)",
        "depends" => "write it as `.depends other_contract` (one per line)",
        "meta" => "write it as `.meta key \"value\"`",
        "params" => "write it as `.params 2` (the number of inputs)",
        "string" => "write it as `.string \"text\"` (one string constant per line)",
        "key" => "write it as `.key name` (one static key per line)",
        _ => "write it as `.state key 0`",
    }
}

fn looks_numeric(w: &str) -> bool {
    let w = w.strip_prefix('-').unwrap_or(w);
    w.starts_with(|c: char| c.is_ascii_digit())
}

/// Parses an integer literal: decimal or `0x` hex, optional leading `-`, `_` separators.
///
/// ```
/// use coopvm_core::asm::parse_int;
/// assert_eq!(parse_int("-0x10"), Ok(-16));
/// assert_eq!(parse_int("1_000"), Ok(1000));
/// assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
/// assert!(parse_int("9223372036854775808").is_err());
/// ```
pub fn parse_int(text: &str) -> Result<i64, String> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (radix, digits) = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => (16, hex),
        None => (10, body),
    };
    let bad = || format!("`{}` is not an integer literal", quote(text));
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(bad());
    }
    let mut magnitude: u128 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix).ok_or_else(bad)?;
        magnitude = magnitude * u128::from(radix) + u128::from(d);
        if magnitude > 1 << 64 {
            break;
        }
    }
    let value = if negative {
        -(magnitude as i128)
    } else {
        magnitude as i128
    };
    i64::try_from(value)
        .map_err(|_| format!("`{}` does not fit in a signed 64-bit integer", quote(text)))
}

fn suggest(word: &str) -> Option<&'static str> {
    closest(word, Op::ALL.iter().map(|op| op.info().mnemonic))
}

/// Names longer than this get no "did you mean" suggestion (nobody mistypes a name that
/// long, and comparing it with every label would cost its length times theirs).
const MAX_SUGGESTED_LEN: usize = 64;

/// The name closest to `word` within a small edit distance. Only names of similar length are
/// compared (the distance is at least the length difference), and each comparison costs at
/// most `MAX_SUGGESTED_LEN` squared, so the search is linear in the number of names.
fn closest<'a>(word: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    let word = word.to_ascii_lowercase();
    names
        .filter(|n| n.len() <= MAX_SUGGESTED_LEN)
        .filter(|n| word.len().abs_diff(n.len()) <= 2.max(n.len() / 4))
        .map(|n| (edit_distance(&word, &n.to_ascii_lowercase()), n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
