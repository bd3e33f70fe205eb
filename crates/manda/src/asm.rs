//! The assembler: Manda assembly text (`docs/manda/assembly.md`) to an
//! executable file.
//!
//! Two passes over the parsed lines: the first lays out sections and
//! assigns every label its address (all sizes are known from the opcode
//! table and the directives), the second evaluates operands and encodes.
//! Every problem is collected as a located [`Diagnostic`]; nothing is
//! emitted if there is one error.

use crate::exe::{SectionKind, SECTION_HEADER_LEN};
use crate::isa::{Addr, Kind, Mem, Opcode, Operand, Reg, Target, VectorOp, F64};
use diagnostics::{finish, CompileError, Diagnostic, Diagnostics};
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// The largest executable the assembler writes: the machine's default
/// memory limit, which the image alone must fit in.
pub const MAX_EXECUTABLE: u64 = 1 << 30;
/// The most lines a source may have: 2^23 (8,388,608). A line costs a few
/// hundred bytes as parsed, so a source of short lines would otherwise cost
/// some 40 times its size (80 MB of `nop`s took 3.2 GB).
pub const MAX_LINES: usize = 1 << 23;

type Span = Range<usize>;

/// Assembles `source` into executable bytes, with any warnings.
pub fn assemble(source: &str) -> Result<(Vec<u8>, Vec<Diagnostic>), CompileError> {
    let mut asm = Assembler::default();
    let Some(lines) = asm.parse(source) else {
        return finish(Vec::new(), asm.diagnostics);
    };
    if !asm.layout(&lines) {
        // Too big to write: pass 2 would allocate it (its other errors would follow from the size).
        return finish(Vec::new(), asm.diagnostics);
    }
    let bytes = asm.encode(&lines);
    finish(bytes, asm.diagnostics)
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i128),
    Float(f64),
    Str(Vec<u8>),
    Punct(&'static str),
}

const PUNCT: [&str; 17] = ["<<", ">>", ",", ":", "[", "]", "+", "-", "*", "/", "%", "(", ")", "&", "|", "^", "~"];

fn lex_line(line: &str, base: usize, diags: &mut Diagnostics) -> Vec<(Tok, Span)> {
    let bytes = line.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c == b';' {
            break;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'.' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'$')) {
                i += 1;
            }
            // `bits:0x…` is one token: an f64 given by its bits.
            if &line[start..i] == "bits" && bytes.get(i) == Some(&b':') {
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                match parse_int(&line[start + 5..i]).and_then(|v| u64::try_from(v).ok()) {
                    Some(bits) => toks.push((Tok::Float(f64::from_bits(bits)), base + start..base + i)),
                    None => diags.push(Diagnostic::error(
                        base + start..base + i,
                        "bad f64 bits",
                        "expected bits:0x followed by up to 16 hex digits",
                    )),
                }
                continue;
            }
            toks.push((Tok::Ident(line[start..i].to_string()), base + start..base + i));
            continue;
        }
        if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.') {
                // An exponent sign belongs to the number: 1e-9.
                if matches!(bytes[i], b'e' | b'E')
                    && matches!(bytes.get(i + 1), Some(b'+' | b'-'))
                    && !line[start..i].starts_with("0x")
                {
                    i += 1;
                }
                i += 1;
            }
            let text = &line[start..i];
            let span = base + start..base + i;
            if let Some(v) = parse_int(text) {
                toks.push((Tok::Int(v), span));
            } else if let Some(v) = text.parse::<f64>().ok().filter(|_| !text.starts_with("0x")) {
                toks.push((Tok::Float(v), span));
            } else {
                diags.push(Diagnostic::error(
                    span,
                    format!("bad number `{text}`"),
                    "not a decimal, 0x, 0o or 0b integer, nor a float",
                ));
            }
            continue;
        }
        if c == b'"' || c == b'\'' {
            match lex_quoted(line, start) {
                Ok((value, end)) => {
                    let span = base + start..base + end;
                    if c == b'"' {
                        toks.push((Tok::Str(value), span));
                    } else if value.len() == 1 {
                        toks.push((Tok::Int(i128::from(value[0])), span));
                    } else {
                        diags.push(Diagnostic::error(
                            span,
                            "a character literal holds exactly one byte",
                            "use a string for more",
                        ));
                    }
                    i = end;
                }
                Err((at, message)) => {
                    diags.push(Diagnostic::error(base + at..base + line.len().min(at + 1).max(at), message, "here"));
                    break;
                }
            }
            continue;
        }
        match PUNCT.iter().find(|p| line[i..].starts_with(**p)) {
            Some(p) => {
                i += p.len();
                toks.push((Tok::Punct(p), base + start..base + i));
            }
            None => {
                let ch = line[i..].chars().next().unwrap_or('?');
                diags.push(Diagnostic::error(
                    base + i..base + i + ch.len_utf8(),
                    format!("unexpected character `{ch}`"),
                    "not part of any token",
                ));
                i += ch.len_utf8();
            }
        }
    }
    toks
}

/// Parses a quoted string or character starting at `start` (the quote);
/// returns its bytes and the index after the closing quote.
fn lex_quoted(line: &str, start: usize) -> Result<(Vec<u8>, usize), (usize, String)> {
    let quote = line.as_bytes()[start];
    let mut out = Vec::new();
    let mut chars = line[start + 1..].char_indices().map(|(i, c)| (i + start + 1, c));
    while let Some((i, c)) = chars.next() {
        match c {
            c if c as u32 == u32::from(quote) => return Ok((out, i + 1)),
            '\\' => {
                let Some((j, e)) = chars.next() else { break };
                match e {
                    'n' => out.push(b'\n'),
                    't' => out.push(b'\t'),
                    'r' => out.push(b'\r'),
                    '0' => out.push(0),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    '\'' => out.push(b'\''),
                    'x' => {
                        let hex: String = line.get(j + 1..j + 3).unwrap_or("").to_string();
                        match u8::from_str_radix(&hex, 16) {
                            Ok(b) if hex.len() == 2 => out.push(b),
                            _ => return Err((j - 1, "`\\x` needs two hex digits".into())),
                        }
                        chars.next();
                        chars.next();
                    }
                    other => {
                        return Err((
                            j - 1,
                            format!("unknown escape `\\{other}` (use \\n \\t \\r \\0 \\\\ \\\" \\' \\xNN)"),
                        ))
                    }
                }
            }
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Err((start, format!("unterminated {}", if quote == b'"' { "string" } else { "character literal" })))
}

/// Parses an integer literal: decimal, `0x`, `0o`, `0b`, `_` separators.
pub fn parse_int(text: &str) -> Option<i128> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (digits, radix) = match clean.get(..2) {
        Some("0x" | "0X") => (&clean[2..], 16),
        Some("0o" | "0O") => (&clean[2..], 8),
        Some("0b" | "0B") => (&clean[2..], 2),
        _ => (clean.as_str(), 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i128::from_str_radix(digits, radix).ok()
}

// ---------------------------------------------------------------- lines

#[derive(Debug)]
enum Stmt {
    Section(SectionKind),
    /// An anonymous label header (`.label`).
    AnonLabel,
    /// `.byte/.i8/.i16/.i32/.i64` with the element size.
    Ints(usize, Vec<Expr>),
    F64s(Vec<(Option<Result<f64, i128>>, Span)>),
    Bytes(Vec<u8>),
    Zero(Expr),
    Align(Expr),
    Equ(String, Span, Expr),
    Instr(Opcode, Vec<OperandSrc>),
}

#[derive(Debug)]
struct Line {
    /// `name:` — the name, its span, and whether it was quoted.
    label: Option<(String, Span, bool)>,
    stmt: Option<(Stmt, Span)>,
}

/// An operand as written, parsed by the shape its kind expects in pass 2.
#[derive(Debug)]
struct OperandSrc {
    toks: Vec<(Tok, Span)>,
    span: Span,
}

#[derive(Debug, Clone)]
enum Expr {
    Int(i128, Span),
    Sym(String, Span),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(&'static str, Box<Expr>, Box<Expr>, Span),
}

impl Expr {
    fn span(&self) -> Span {
        match self {
            Expr::Int(_, s) | Expr::Sym(_, s) | Expr::Bin(_, _, _, s) => s.clone(),
            Expr::Neg(e) | Expr::Not(e) => e.span(),
        }
    }

    /// The names it uses, with where, left to right.
    fn symbols(&self) -> Vec<(&str, &Span)> {
        match self {
            Expr::Int(..) => Vec::new(),
            Expr::Sym(name, span) => vec![(name.as_str(), span)],
            Expr::Neg(e) | Expr::Not(e) => e.symbols(),
            Expr::Bin(_, a, b, _) => [a.symbols(), b.symbols()].concat(),
        }
    }
}

/// How deeply parentheses and unary operators may nest in one expression.
pub const MAX_EXPR_DEPTH: usize = 256;
/// How many operators one expression may have. Trees are walked recursively
/// (evaluated, dropped), so their size is bounded as well as their nesting.
pub const MAX_EXPR_OPERATORS: usize = 1024;

/// A recursive-descent expression parser over one operand's tokens.
struct ExprParser<'a> {
    toks: &'a [(Tok, Span)],
    at: usize,
    end: usize,
    /// Parentheses and unary operators open around the current token.
    depth: usize,
    /// Operators so far.
    operators: usize,
}

const LEVELS: [&[&str]; 5] = [&["|"], &["^"], &["&"], &["<<", ">>"], &["+", "-"]];

impl ExprParser<'_> {
    fn peek_punct(&self) -> Option<&'static str> {
        match self.toks.get(self.at) {
            Some((Tok::Punct(p), _)) => Some(p),
            _ => None,
        }
    }

    fn here(&self) -> Span {
        self.toks.get(self.at).map_or(self.end..self.end, |t| t.1.clone())
    }

    /// Counts one more operator, refusing an expression past the limit.
    fn operator(&mut self) -> Result<(), Diagnostic> {
        self.operators += 1;
        let what = format!("expression too long: more than {MAX_EXPR_OPERATORS} operators");
        within(self.operators, MAX_EXPR_OPERATORS, self.here(), what)
    }

    /// Opens one more level of nesting at `span`, refusing one past the limit.
    fn nest(&mut self, span: Span) -> Result<(), Diagnostic> {
        self.depth += 1;
        within(
            self.depth,
            MAX_EXPR_DEPTH,
            span,
            format!("expression nested too deeply: more than {MAX_EXPR_DEPTH} levels"),
        )
    }

    fn binary(&mut self, level: usize) -> Result<Expr, Diagnostic> {
        if level == LEVELS.len() {
            return self.product();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.peek_punct().filter(|p| LEVELS[level].contains(p)) {
            self.operator()?;
            self.at += 1;
            let right = self.binary(level + 1)?;
            let span = left.span().start..right.span().end;
            left = Expr::Bin(op, Box::new(left), Box::new(right), span);
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, Diagnostic> {
        let mut left = self.unary()?;
        while let Some(op) = self.peek_punct().filter(|p| ["*", "/", "%"].contains(p)) {
            self.operator()?;
            self.at += 1;
            let right = self.unary()?;
            let span = left.span().start..right.span().end;
            left = Expr::Bin(op, Box::new(left), Box::new(right), span);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, Diagnostic> {
        let op = self.peek_punct().filter(|p| ["-", "~", "+"].contains(p));
        let Some(op) = op else { return self.primary() };
        self.operator()?;
        self.nest(self.here())?;
        self.at += 1;
        let operand = self.unary()?;
        self.depth -= 1;
        Ok(match op {
            "-" => Expr::Neg(Box::new(operand)),
            "~" => Expr::Not(Box::new(operand)),
            _ => operand,
        })
    }

    fn primary(&mut self) -> Result<Expr, Diagnostic> {
        let span = self.here();
        let tok = self.toks.get(self.at).map(|t| t.0.clone());
        self.at += 1;
        match tok {
            Some(Tok::Int(v)) => Ok(Expr::Int(v, span)),
            Some(Tok::Ident(name)) if Reg::parse(&name).is_none() => Ok(Expr::Sym(name, span)),
            Some(Tok::Str(name)) => match String::from_utf8(name) {
                Ok(name) => Ok(Expr::Sym(name, span)),
                Err(_) => Err(Diagnostic::error(span, "a quoted label name must be UTF-8", "here")),
            },
            Some(Tok::Punct("(")) => {
                self.nest(span)?;
                let inner = self.binary(0)?;
                self.depth -= 1;
                match self.peek_punct() {
                    Some(")") => {
                        self.at += 1;
                        Ok(inner)
                    }
                    _ => Err(Diagnostic::error(self.here(), "expected `)`", "to close this expression")),
                }
            }
            Some(Tok::Ident(name)) => Err(Diagnostic::error(
                span,
                format!("register `{name}` in a constant expression"),
                "expected a number or label",
            )),
            Some(Tok::Float(_)) => Err(Diagnostic::error(
                span,
                "a float where an integer is expected",
                "expected an integer, character or label",
            )),
            _ => Err(Diagnostic::error(span, "expected a value", "expected a number, character, label or `(`")),
        }
    }
}

/// `Ok` while `count` is within `max`; else the error `message` at `span`.
fn within(count: usize, max: usize, span: Span, message: String) -> Result<(), Diagnostic> {
    match count > max {
        true => Err(Diagnostic::error(span, message, "here")),
        false => Ok(()),
    }
}

/// Parses all of `toks` as one expression.
fn parse_expr(toks: &[(Tok, Span)], end: usize) -> Result<Expr, Diagnostic> {
    let mut p = ExprParser { toks, at: 0, end, depth: 0, operators: 0 };
    let expr = p.binary(0)?;
    match toks.get(p.at) {
        None => Ok(expr),
        Some((_, span)) => {
            Err(Diagnostic::error(span.clone(), "unexpected text after the value", "not part of the expression"))
        }
    }
}

/// Splits tokens at top-level commas (outside brackets and parentheses).
fn split_commas(toks: &[(Tok, Span)]) -> Vec<&[(Tok, Span)]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, (tok, _)) in toks.iter().enumerate() {
        match tok {
            Tok::Punct("(" | "[") => depth += 1,
            Tok::Punct(")" | "]") => depth -= 1,
            Tok::Punct(",") if depth == 0 => {
                parts.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < toks.len() || !parts.is_empty() {
        parts.push(&toks[start..]);
    }
    parts
}

fn span_of(toks: &[(Tok, Span)], fallback: usize) -> Span {
    match (toks.first(), toks.last()) {
        (Some(a), Some(b)) => a.1.start..b.1.end,
        _ => fallback..fallback,
    }
}

// ---------------------------------------------------------------- assembler

#[derive(Default)]
struct Assembler {
    diagnostics: Diagnostics,
    /// Label and `.equ` values.
    symbols: HashMap<String, i128>,
    /// Addresses that are code boundaries (labels and instructions).
    boundaries: HashSet<u64>,
    /// Per line, what pass 1 decided; pass 2 follows it.
    layouts: Vec<Layout>,
    /// Every name a label or `.equ` defines anywhere, so pass 1 can tell a
    /// name used before its definition from one never defined.
    defined: HashSet<String>,
}

/// Pass 1's decisions about one line.
#[derive(Debug, Clone, Copy, Default)]
struct Layout {
    /// Address of the line's statement.
    addr: u64,
    /// Its label is a label header in the file (a non-local label in code).
    header: bool,
    /// Zero bytes a `.zero` or `.align` emits.
    fill: u64,
}

impl Assembler {
    fn error(&mut self, span: Span, message: impl Into<String>, label: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(span, message, label));
    }

    /// The lines, parsed; `None` if there are more than [`MAX_LINES`].
    fn parse(&mut self, source: &str) -> Option<Vec<Line>> {
        let mut lines = Vec::new();
        let mut base = 0;
        // Counted before anything is parsed: too many lines are refused at no cost.
        if let Some(past) = source.split_inclusive('\n').nth(MAX_LINES) {
            let start = past.as_ptr() as usize - source.as_ptr() as usize;
            let end = start + past.trim_end_matches(['\n', '\r']).len();
            self.error(start..end, format!("more than {MAX_LINES} lines"), "the most lines a source may have");
            return None;
        }
        for text in source.split_inclusive('\n') {
            let before = self.diagnostics.len();
            let toks = lex_line(text.trim_end_matches(['\n', '\r']), base, &mut self.diagnostics);
            let line_end = base + text.trim_end_matches(['\n', '\r']).len();
            base += text.len();
            // A line that does not even lex is reported once, not again as a parse error.
            let lexed = self.diagnostics.len() == before;
            lines.push(if lexed { self.parse_line(toks, line_end) } else { Line { label: None, stmt: None } });
        }
        Some(lines)
    }

    fn parse_line(&mut self, toks: Vec<(Tok, Span)>, line_end: usize) -> Line {
        let mut rest = &toks[..];
        let mut label = None;
        if let [(name_tok, span), (Tok::Punct(":"), _), ..] = rest {
            let name = match name_tok {
                Tok::Ident(n) => Some((n.clone(), false)),
                Tok::Str(n) => String::from_utf8(n.clone()).ok().map(|n| (n, true)),
                _ => None,
            };
            match name {
                Some((n, quoted)) => {
                    if !quoted && Reg::parse(&n).is_some() {
                        self.error(
                            span.clone(),
                            format!("`{n}` is a register name"),
                            format!("write \"{n}\": to use it as a label"),
                        );
                    }
                    label = Some((n, span.clone(), quoted));
                }
                None => self.error(span.clone(), "a label name must be an identifier or a quoted UTF-8 string", "here"),
            }
            rest = &rest[2..];
        }
        let stmt = match rest.split_first() {
            None => None,
            Some(((Tok::Ident(word), wspan), args)) => {
                let span = wspan.start..span_of(args, wspan.end).end;
                self.parse_stmt(word, wspan.clone(), args, line_end).map(|s| (s, span))
            }
            Some(((_, span), _)) => {
                self.error(span.clone(), "expected a label, directive or instruction", "here");
                None
            }
        };
        Line { label, stmt }
    }

    fn parse_stmt(&mut self, word: &str, wspan: Span, args: &[(Tok, Span)], line_end: usize) -> Option<Stmt> {
        let exprs = |this: &mut Self| -> Option<Vec<Expr>> {
            let mut out = Vec::new();
            for part in split_commas(args) {
                match parse_expr(part, line_end) {
                    Ok(e) => out.push(e),
                    Err(d) => {
                        this.diagnostics.push(d);
                        return None;
                    }
                }
            }
            if out.is_empty() {
                this.error(wspan.clone(), format!("`{word}` needs at least one value"), "nothing follows");
                return None;
            }
            Some(out)
        };
        let no_args = |this: &mut Self, stmt: Stmt| -> Option<Stmt> {
            if let Some((_, span)) = args.first() {
                this.error(span.clone(), format!("`{word}` takes no operands"), "unexpected");
            }
            Some(stmt)
        };
        let one = |this: &mut Self| -> Option<Expr> {
            let mut e = exprs(this)?;
            if e.len() != 1 {
                this.error(e[1].span(), format!("`{word}` takes one value"), "extra value");
                return None;
            }
            e.pop()
        };
        match word {
            ".code" => no_args(self, Stmt::Section(SectionKind::Code)),
            ".data" => no_args(self, Stmt::Section(SectionKind::Data)),
            ".rodata" => no_args(self, Stmt::Section(SectionKind::Rodata)),
            ".label" => no_args(self, Stmt::AnonLabel),
            ".byte" | ".i8" => Some(Stmt::Ints(1, exprs(self)?)),
            ".i16" => Some(Stmt::Ints(2, exprs(self)?)),
            ".i32" => Some(Stmt::Ints(4, exprs(self)?)),
            ".i64" => Some(Stmt::Ints(8, exprs(self)?)),
            ".f64" => {
                let parts = split_commas(args);
                if parts.is_empty() {
                    self.error(wspan, "`.f64` needs at least one value", "nothing follows");
                    return None;
                }
                Some(Stmt::F64s(parts.iter().map(|p| (float_tok(p), span_of(p, line_end))).collect()))
            }
            ".ascii" | ".asciz" => match args {
                [(Tok::Str(bytes), _)] => {
                    let mut bytes = bytes.clone();
                    if word == ".asciz" {
                        bytes.push(0);
                    }
                    Some(Stmt::Bytes(bytes))
                }
                _ => {
                    self.error(span_of(args, wspan.end), format!("`{word}` takes one string"), "expected \"…\"");
                    None
                }
            },
            ".zero" => Some(Stmt::Zero(one(self)?)),
            ".align" => Some(Stmt::Align(one(self)?)),
            ".equ" => {
                let parts = split_commas(args);
                match parts.as_slice() {
                    [[(Tok::Ident(name), nspan)], value] => match parse_expr(value, line_end) {
                        Ok(e) => Some(Stmt::Equ(name.clone(), nspan.clone(), e)),
                        Err(d) => {
                            self.diagnostics.push(d);
                            None
                        }
                    },
                    _ => {
                        self.error(
                            span_of(args, wspan.end),
                            "`.equ` takes a name and a value",
                            "expected `.equ NAME, VALUE`",
                        );
                        None
                    }
                }
            }
            _ if word.starts_with('.') => {
                self.error(wspan, format!("unknown directive `{word}`"), "see docs/manda/assembly.md");
                None
            }
            _ => {
                let Some(op) = Opcode::from_mnemonic(word) else {
                    self.error(
                        wspan,
                        format!("unknown instruction `{word}`"),
                        "not in the opcode table (`manda opcodes` lists it)",
                    );
                    return None;
                };
                let parts = split_commas(args);
                let want = op.operands().len();
                if parts.len() != want {
                    let span = if parts.is_empty() { wspan } else { span_of(args, line_end) };
                    self.error(
                        span,
                        format!("`{word}` takes {want} operand(s), found {}", parts.len()),
                        format!("syntax: {}", crate::isa::syntax(op)),
                    );
                    return None;
                }
                let operands =
                    parts.iter().map(|p| OperandSrc { toks: p.to_vec(), span: span_of(p, line_end) }).collect();
                Some(Stmt::Instr(op, operands))
            }
        }
    }

    /// Pass 1: addresses of every line and label; false if the executable
    /// would be too big to write.
    fn layout(&mut self, lines: &[Line]) -> bool {
        let mut too_big = false;
        for line in lines {
            if let Some((name, _, _)) = &line.label {
                self.defined.insert(name.clone());
            }
            if let Some((Stmt::Equ(name, _, _), _)) = &line.stmt {
                self.defined.insert(name.clone());
            }
        }
        let mut addr = 0u64;
        let mut section: Option<SectionKind> = None;
        let mut sections = 0;
        for line in lines {
            let mut layout = Layout { addr, ..Layout::default() };
            if let Some((Stmt::Section(kind), span)) = &line.stmt {
                section = Some(*kind);
                addr += SECTION_HEADER_LEN;
                sections += 1;
                if sections > crate::exe::MAX_SECTIONS && !too_big {
                    too_big = true;
                    let message = format!("more than {} sections", crate::exe::MAX_SECTIONS);
                    self.error(span.clone(), message, "the most an executable may have");
                }
            }
            if let Some((name, span, quoted)) = &line.label {
                match section {
                    None => {
                        self.error(span.clone(), "label outside a section", "start one with .code, .data or .rodata")
                    }
                    Some(kind) => {
                        if self.symbols.insert(name.clone(), i128::from(addr)).is_some() {
                            self.error(span.clone(), format!("`{name}` is defined twice"), "second definition");
                        }
                        if kind == SectionKind::Code && (*quoted || !name.starts_with(".L")) {
                            layout.header = true;
                            self.boundaries.insert(addr);
                            addr += 9 + name.len() as u64;
                        }
                    }
                }
            }
            layout.addr = addr;
            let index = self.layouts.len();
            self.layouts.push(layout);
            let Some((stmt, span)) = &line.stmt else { continue };
            if section.is_none() && !matches!(stmt, Stmt::Section(_) | Stmt::Equ(..)) {
                self.error(span.clone(), "outside a section", "start one with .code, .data or .rodata");
                continue;
            }
            let in_code = section == Some(SectionKind::Code);
            let size = match stmt {
                Stmt::Section(_) => 0,
                Stmt::AnonLabel if in_code => {
                    self.boundaries.insert(addr);
                    1
                }
                Stmt::Instr(op, _) if in_code => {
                    self.boundaries.insert(addr);
                    op.encoded_len() as u64
                }
                Stmt::AnonLabel | Stmt::Instr(..) => {
                    self.error(
                        span.clone(),
                        "an instruction or label header outside a code section",
                        "data sections hold only data",
                    );
                    0
                }
                Stmt::Ints(size, values) => (size * values.len()) as u64,
                Stmt::F64s(values) => 8 * values.len() as u64,
                Stmt::Bytes(bytes) => bytes.len() as u64,
                Stmt::Zero(e) => match self.eval_now(e) {
                    Some(n) if (0..=1 << 32).contains(&n) => n as u64,
                    Some(_) => {
                        self.error(e.span(), "`.zero` count out of range", "0 to 4294967296");
                        0
                    }
                    None => 0,
                },
                Stmt::Align(e) => match self.eval_now(e) {
                    Some(n) if (1..=1 << 16).contains(&n) && (n as u64).is_power_of_two() => {
                        addr.next_multiple_of(n as u64) - addr
                    }
                    Some(_) => {
                        self.error(e.span(), "`.align` needs a power of two up to 65536", "here");
                        0
                    }
                    None => 0,
                },
                Stmt::Equ(name, nspan, e) => {
                    if let Some(v) = self.eval_now(e) {
                        if self.symbols.insert(name.clone(), v).is_some() {
                            self.error(nspan.clone(), format!("`{name}` is defined twice"), "second definition");
                        }
                    }
                    0
                }
            };
            if matches!(stmt, Stmt::Zero(_) | Stmt::Align(_)) {
                self.layouts[index].fill = size;
            }
            if in_code
                && matches!(stmt, Stmt::Ints(..) | Stmt::F64s(_) | Stmt::Bytes(_) | Stmt::Zero(_) | Stmt::Align(_))
            {
                self.error(span.clone(), "data in a code section", "code sections hold only labels and instructions");
            }
            addr += size;
            if self.boundaries.len() > crate::exe::MAX_CODE_ITEMS && !too_big {
                too_big = true;
                self.error(
                    span.clone(),
                    format!("more than {} instructions and labels", crate::exe::MAX_CODE_ITEMS),
                    "the most an executable may hold",
                );
            }
            if addr > MAX_EXECUTABLE && !too_big {
                // Checked before a byte is written: the output is never allocated.
                too_big = true;
                self.error(
                    span.clone(),
                    format!("the executable would pass {} MiB here (at byte {addr})", MAX_EXECUTABLE >> 20),
                    "the largest executable the assembler writes",
                );
            }
        }
        if !lines.iter().any(|l| matches!(l.stmt, Some((Stmt::Section(SectionKind::Code), _)))) {
            self.error(0..0, "no .code section", "a program needs code to run");
        }
        !too_big
    }

    /// Evaluates with the symbols defined so far (pass 1).
    fn eval_now(&mut self, e: &Expr) -> Option<i128> {
        match self.eval(e) {
            Ok(v) => Some(v),
            Err(d) => {
                let later = e
                    .symbols()
                    .into_iter()
                    .find(|(name, _)| !self.symbols.contains_key(*name) && self.defined.contains(*name));
                let d = match later {
                    Some((name, span)) => Diagnostic::error(
                        span.clone(),
                        format!("`{name}` is used before it is defined"),
                        "defined further down",
                    )
                    .with_note(
                        "sizes and `.equ` values must be known where they are written: define it above this line",
                    ),
                    None => d.with_note("sizes and `.equ` values must be known where they are written"),
                };
                self.diagnostics.push(d);
                None
            }
        }
    }

    fn eval(&self, e: &Expr) -> Result<i128, Diagnostic> {
        let overflow = |span: Span| Diagnostic::error(span, "constant expression overflows", "the value is too large");
        match e {
            Expr::Int(v, _) => Ok(*v),
            Expr::Sym(name, span) => self.symbols.get(name).copied().ok_or_else(|| {
                Diagnostic::error(span.clone(), format!("undefined label or constant `{name}`"), "not defined")
            }),
            Expr::Neg(e) => self.eval(e)?.checked_neg().ok_or_else(|| overflow(e.span())),
            Expr::Not(e) => Ok(!self.eval(e)?),
            Expr::Bin(op, a, b, span) => {
                let (x, y) = (self.eval(a)?, self.eval(b)?);
                let v = match *op {
                    "+" => x.checked_add(y),
                    "-" => x.checked_sub(y),
                    "*" => x.checked_mul(y),
                    "/" | "%" if y == 0 => {
                        return Err(Diagnostic::error(
                            span.clone(),
                            "division by zero in a constant expression",
                            "here",
                        ))
                    }
                    "/" => x.checked_div(y),
                    "%" => x.checked_rem(y),
                    "&" => Some(x & y),
                    "|" => Some(x | y),
                    "^" => Some(x ^ y),
                    "<<" => u32::try_from(y).ok().filter(|s| *s < 127).and_then(|s| x.checked_shl(s)),
                    ">>" => u32::try_from(y).ok().filter(|s| *s < 127).map(|s| x >> s),
                    _ => None,
                };
                v.filter(|v| (-(1i128 << 64)..(1i128 << 64)).contains(v)).ok_or_else(|| overflow(span.clone()))
            }
        }
    }

    /// Pass 2: the bytes.
    fn encode(&mut self, lines: &[Line]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut header_at: Option<usize> = None;
        let close = |out: &mut Vec<u8>, header_at: Option<usize>| {
            if let Some(h) = header_at {
                let len = (out.len() - h - SECTION_HEADER_LEN as usize) as u64;
                out[h + 1..h + 9].copy_from_slice(&len.to_le_bytes());
            }
        };
        let mut section = None;
        let layouts = std::mem::take(&mut self.layouts);
        for (line, layout) in lines.iter().zip(&layouts) {
            if let Some((Stmt::Section(kind), _)) = &line.stmt {
                close(&mut out, header_at);
                header_at = Some(out.len());
                section = Some(*kind);
                out.push(kind.byte());
                out.extend_from_slice(&[0; 8]);
            }
            if let Some((name, _, _)) = line.label.as_ref().filter(|_| layout.header) {
                out.push(1);
                out.extend_from_slice(&(name.len() as u64).to_le_bytes());
                out.extend_from_slice(name.as_bytes());
            }
            let Some((stmt, _)) = &line.stmt else { continue };
            if section.is_none() {
                continue;
            }
            debug_assert!(self.diagnostics.has_errors() || out.len() as u64 == layout.addr);
            match stmt {
                Stmt::Section(_) | Stmt::Equ(..) => {}
                Stmt::AnonLabel => out.push(0),
                Stmt::Ints(size, values) => {
                    for e in values {
                        let v = self.eval(e).and_then(|v| fit_int(v, *size, e.span()));
                        match v {
                            Ok(v) => out.extend_from_slice(&v.to_le_bytes()[..*size]),
                            Err(d) => {
                                self.diagnostics.push(d);
                                out.extend(std::iter::repeat_n(0, *size));
                            }
                        }
                    }
                }
                Stmt::F64s(values) => {
                    for (tok, span) in values {
                        let v = self.float_value(tok, span.clone());
                        out.extend_from_slice(&v.unwrap_or(0).to_le_bytes());
                    }
                }
                Stmt::Bytes(bytes) => out.extend_from_slice(bytes),
                // The count was checked in pass 1; an out-of-range one is an error there and fills nothing.
                Stmt::Zero(_) | Stmt::Align(_) => out.extend(std::iter::repeat_n(0, layout.fill as usize)),
                Stmt::Instr(op, operands) => {
                    let mut values = Vec::new();
                    for ((_, kind), src) in op.operands().iter().zip(operands) {
                        match self.operand(*op, *kind, src) {
                            Ok(v) => values.push(v),
                            Err(d) => self.diagnostics.push(d),
                        }
                    }
                    match crate::isa::Instr::from_operands(*op, &values) {
                        Some(instr) => instr.encode(&mut out),
                        None => out.extend(std::iter::repeat_n(0, op.encoded_len())),
                    }
                }
            }
        }
        close(&mut out, header_at);
        out
    }

    fn float_value(&mut self, tok: &Option<Result<f64, i128>>, span: Span) -> Option<u64> {
        match tok {
            Some(Ok(v)) => Some(v.to_bits()),
            Some(Err(i)) => {
                let f = *i as f64;
                if f as i128 == *i && f.abs() <= 9007199254740992.0 {
                    Some(f.to_bits())
                } else {
                    self.error(span, "integer is not exactly representable as f64", "write it as a float");
                    None
                }
            }
            None => {
                self.error(span, "expected an f64", "a float such as 1.5, -2e-3, inf, nan or bits:0x…");
                None
            }
        }
    }

    fn operand(&mut self, op: Opcode, kind: Kind, src: &OperandSrc) -> Result<Operand, Diagnostic> {
        let toks = &src.toks[..];
        let end = src.span.end;
        let expect = |what: &str| {
            Diagnostic::error(
                src.span.clone(),
                format!("`{}` expects {what} here", op.mnemonic()),
                format!("syntax: {}", crate::isa::syntax(op)),
            )
        };
        match kind {
            Kind::Reg => match toks {
                [(Tok::Ident(name), _)] => Reg::parse(name)
                    .map(Operand::Reg)
                    .ok_or_else(|| expect("a register (a0–a63, s0–s63, v0–v63, t0–t63)")),
                _ => Err(expect("a register (a0–a63, s0–s63, v0–v63, t0–t63)")),
            },
            Kind::Mem => {
                let inner = match toks {
                    [(Tok::Punct("["), _), inner @ .., (Tok::Punct("]"), _)] => inner,
                    _ => return Err(expect("a memory operand `[reg]` or `[reg ± offset]`")),
                };
                let parsed = match inner.split_first() {
                    Some(((Tok::Ident(name), _), rest)) => Reg::parse(name).map(|base| (base, rest)),
                    _ => None,
                };
                let Some((base, rest)) = parsed else { return Err(expect("a base register inside `[…]`")) };
                let off = match rest.split_first() {
                    None => 0,
                    Some(((Tok::Punct(sign @ ("+" | "-")), _), e)) => {
                        let v = self.eval(&parse_expr(e, end)?)?;
                        let v = if *sign == "-" { -v } else { v };
                        i32::try_from(v).map_err(|_| {
                            Diagnostic::error(span_of(e, end), "offset out of range", "-2147483648 to 2147483647")
                        })?
                    }
                    Some((_, _)) => return Err(expect("`+` or `-` after the base register")),
                };
                Ok(Operand::Mem(Mem { base, off }))
            }
            Kind::VOp => {
                let what = "a vector operation such as i32x4.add (see docs/manda/OPCODES.md)";
                let [(Tok::Ident(name), _)] = toks else { return Err(expect(what)) };
                let Some(vop) = VectorOp::from_name(name) else { return Err(expect(what)) };
                match op.vector_form() {
                    Some(form) if form != vop.form() => Err(Diagnostic::error(
                        src.span.clone(),
                        format!("`{name}` is an operation of `{}`, not of `{}`", vop.form().mnemonic(), op.mnemonic()),
                        format!("syntax: {}", crate::isa::syntax(op)),
                    )),
                    _ => Ok(Operand::VOp(vop.into())),
                }
            }
            Kind::F64 => {
                let tok = float_tok(toks);
                self.float_value(&tok, src.span.clone()).map(|b| Operand::F64(F64(b))).ok_or_else(|| expect("an f64"))
            }
            _ => {
                let v = self.eval(&parse_expr(toks, end)?)?;
                let range = |lo: i128, hi: i128, text: &str| {
                    if (lo..=hi).contains(&v) {
                        Ok(v)
                    } else {
                        Err(Diagnostic::error(
                            src.span.clone(),
                            format!("{v} is out of range for {}", kind.name()),
                            text.to_string(),
                        ))
                    }
                };
                Ok(match kind {
                    Kind::I32 => {
                        Operand::I32(range(i32::MIN.into(), i32::MAX.into(), "-2147483648 to 2147483647")? as i32)
                    }
                    Kind::U32 => Operand::U32(range(0, u32::MAX.into(), "0 to 4294967295")? as u32),
                    Kind::U8 => Operand::U8(range(0, 255, "0 to 255")? as u8),
                    // i64 immediates also take u64 values, as their bits.
                    Kind::I64 => {
                        Operand::I64(range(i64::MIN.into(), u64::MAX.into(), "-2^63 to 2^64-1")? as u64 as i64)
                    }
                    Kind::Addr => Operand::Addr(Addr(range(0, u64::MAX.into(), "0 to 2^64-1")? as u64)),
                    _ => {
                        let target = range(0, u64::MAX.into(), "0 to 2^64-1")? as u64;
                        if !self.boundaries.contains(&target) {
                            return Err(Diagnostic::error(
                                src.span.clone(),
                                format!(
                                    "`{}` target 0x{target:x} is not an instruction or label in a code section",
                                    op.mnemonic()
                                ),
                                "not a code boundary",
                            ));
                        }
                        Operand::Target(Target(target))
                    }
                })
            }
        }
    }
}

/// One f64 value as written: `Ok(float)`, `Err(int)` for an integer literal.
fn float_tok(toks: &[(Tok, Span)]) -> Option<Result<f64, i128>> {
    let (neg, rest) = match toks.split_first() {
        Some(((Tok::Punct("-"), _), rest)) => (true, rest),
        _ => (false, toks),
    };
    let v = match rest {
        [(Tok::Float(f), _)] => Ok(*f),
        [(Tok::Int(i), _)] => Err(*i),
        [(Tok::Ident(w), _)] if w == "inf" => Ok(f64::INFINITY),
        [(Tok::Ident(w), _)] if w == "nan" => Ok(f64::NAN),
        _ => return None,
    };
    Some(match (neg, v) {
        (false, v) => v,
        (true, Ok(f)) => Ok(-f),
        (true, Err(i)) => Err(-i),
    })
}

/// Checks that `v` fits `size` bytes as signed or unsigned; its bits.
fn fit_int(v: i128, size: usize, span: Span) -> Result<u64, Diagnostic> {
    let bits = 8 * size as u32;
    let (lo, hi) = (-(1i128 << (bits - 1)), (1i128 << bits) - 1);
    if (lo..=hi).contains(&v) {
        Ok(v as u64)
    } else {
        Err(Diagnostic::error(span, format!("{v} does not fit in {size} byte(s)"), format!("{lo} to {hi}")))
    }
}
