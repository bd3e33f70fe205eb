//! The seed's pseudo language (`.mv`), compiled to Mova bytecode.
//!
//! ```text
//! var i = 0;          // PUT 0 — the one variable lives on top of the stack
//! loop:               // a label; the more-indented lines below are its body,
//!     i++;            //   ADD 1          which repeats forever (implicit GOTO)
//!     i += 5;         //   ADD 5     (i -= k is ADD -k, i-- is ADD -1)
//!     print(i);       //   PRINT
//!     sleep(100);     //   SLEEP 100
//! ```
//!
//! `goto name;` jumps back to a label explicitly. Whatever Mova's five
//! instructions cannot express — a second variable, assignment, a
//! condition, a forward jump, arithmetic other than adding a constant — is a
//! compile error that says why, never a silent miscompile.

use crate::asm::{out_of_range, parse_int, too_many, Compiled};
use crate::bytecode::Program;
use crate::diag::{finish, Diagnostic, Diagnostics};
use crate::isa::{Instr, Opcode};
use std::collections::HashMap;
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Ident,
    Int,
    Punct,
    Other,
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: TokenKind,
    text: &'a str,
    span: Range<usize>,
    line: usize,
    indent: usize,
}

const PUNCTS: [&str; 9] = ["++", "--", "+=", "-=", "=", ";", ":", "(", ")"];

fn lex(source: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut line_start = 0;
    for (line, raw) in source.split_inclusive('\n').enumerate() {
        let base = line_start;
        line_start += raw.len();
        let text = raw.split("//").next().unwrap_or("");
        let indent = text.len() - text.trim_start().len();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let start = i;
            let kind = if c.is_ascii_whitespace() {
                i += 1;
                continue;
            } else if c.is_ascii_alphabetic() || c == b'_' {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                TokenKind::Ident
            } else if c.is_ascii_digit() || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                TokenKind::Int
            } else if let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
                i += p.len();
                TokenKind::Punct
            } else {
                // Any other character (an operator Mova has no instruction for, a brace…).
                i += text[i..].chars().next().map_or(1, char::len_utf8);
                TokenKind::Other
            };
            tokens.push(Token { kind, text: &text[start..i], span: base + start..base + i, line, indent });
        }
    }
    tokens
}

#[derive(Debug, Clone)]
enum StmtKind<'a> {
    Var { name: &'a str, value: i64 },
    Label(&'a str),
    Add { name: &'a str, name_span: Range<usize>, delta: i64 },
    Print { name: &'a str, name_span: Range<usize> },
    Sleep(u32),
    Goto { label: &'a str, label_span: Range<usize> },
}

#[derive(Debug, Clone)]
struct Stmt<'a> {
    kind: StmtKind<'a>,
    span: Range<usize>,
    line: usize,
    indent: usize,
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    end: usize,
    diags: Diagnostics,
}

/// Control-flow words of other languages, each an error with an explanation.
const UNSUPPORTED_KEYWORDS: [&str; 10] =
    ["if", "else", "while", "for", "do", "switch", "break", "continue", "return", "function"];

impl<'a> Parser<'a> {
    fn peek(&self, ahead: usize) -> Option<&Token<'a>> {
        self.tokens.get(self.pos + ahead)
    }

    fn at_eof_span(&self) -> Range<usize> {
        self.end..self.end
    }

    /// Skips the rest of a broken statement: to its `;` or the end of its line.
    fn recover(&mut self, line: usize) {
        while let Some((t_line, t_text)) = self.peek(0).map(|t| (t.line, t.text)) {
            if t_line != line {
                return;
            }
            self.pos += 1;
            if t_text == ";" {
                return;
            }
        }
    }

    /// Consumes the punctuation `p` or reports what was found instead.
    fn expect(&mut self, p: &str, after: &str) -> Result<Range<usize>, ()> {
        match self.peek(0) {
            Some(t) if t.text == p => {
                let span = t.span.clone();
                self.pos += 1;
                Ok(span)
            }
            found => {
                let prev = self.pos.checked_sub(1).map(|i| &self.tokens[i]);
                let (span, what) = match (found, prev) {
                    // Nothing more on this line: point just after the last token, where `p` belongs.
                    (Some(t), Some(prev)) if t.line != prev.line => {
                        (prev.span.end..prev.span.end, format!("expected `{p}` here"))
                    }
                    (None, Some(prev)) => (prev.span.end..prev.span.end, format!("expected `{p}` here")),
                    (Some(t), _) => (t.span.clone(), format!("found `{}`", t.text)),
                    (None, None) => (self.at_eof_span(), "found the end of the file".to_string()),
                };
                self.diags.push(Diagnostic::error(span, format!("expected `{p}` after {after}"), what));
                Err(())
            }
        }
    }

    fn expect_kind(&mut self, kind: TokenKind, what: &str) -> Result<Token<'a>, ()> {
        match self.peek(0) {
            Some(t) if t.kind == kind => {
                let t = t.clone();
                self.pos += 1;
                Ok(t)
            }
            found => {
                let (span, text) = match found {
                    Some(t) => (t.span.clone(), format!("found `{}`", t.text)),
                    None => (self.at_eof_span(), "found the end of the file".to_string()),
                };
                self.diags.push(Diagnostic::error(span, format!("expected {what}"), text));
                Err(())
            }
        }
    }

    /// An integer literal that must fit the operand of `op`.
    fn int_operand(&mut self, op: Opcode, what: &str) -> Result<i128, ()> {
        let tok = self.expect_kind(TokenKind::Int, what)?;
        let Some(value) = parse_int(tok.text) else {
            self.diags.push(Diagnostic::error(
                tok.span,
                format!("malformed number `{}`", tok.text),
                "not an integer literal",
            ));
            return Err(());
        };
        if Instr::from_literal(op, Some(value)).is_err() {
            self.diags.push(out_of_range(tok.span, tok.text, op.mnemonic(), op.operand_kind()));
            return Err(());
        }
        Ok(value)
    }

    fn statement(&mut self) -> Result<Stmt<'a>, ()> {
        let first = self.tokens[self.pos].clone();
        let start = first.span.start;
        let kind = match first.text {
            "var" => {
                self.pos += 1;
                let name = self.expect_kind(TokenKind::Ident, "a variable name after `var`")?;
                self.expect("=", "the variable name")?;
                let value = self.int_operand(Opcode::Put, "an integer constant (the initial value)")? as i64;
                StmtKind::Var { name: name.text, value }
            }
            "print" => {
                self.pos += 1;
                self.expect("(", "`print`")?;
                let arg = self.peek(0).cloned();
                let name = match arg {
                    Some(t) if t.kind == TokenKind::Ident && self.peek(1).is_some_and(|n| n.text == ")") => t,
                    Some(t) => {
                        self.diags.push(
                            Diagnostic::error(
                                t.span,
                                "print can only print the variable",
                                "expected the variable's name",
                            )
                            .with_note("Mova's PRINT prints the top of the stack, where the one variable lives"),
                        );
                        return Err(());
                    }
                    None => {
                        self.expect_kind(TokenKind::Ident, "the variable to print")?;
                        return Err(());
                    }
                };
                self.pos += 2;
                StmtKind::Print { name: name.text, name_span: name.span }
            }
            "sleep" => {
                self.pos += 1;
                self.expect("(", "`sleep`")?;
                if let Some(t) = self.peek(0).filter(|t| t.kind == TokenKind::Ident).cloned() {
                    self.diags.push(
                        Diagnostic::error(t.span, "sleep takes a constant number of milliseconds", "not a constant")
                            .with_note("Mova's SLEEP carries its duration in the instruction"),
                    );
                    return Err(());
                }
                let ms = self.int_operand(Opcode::Sleep, "a number of milliseconds")? as u32;
                self.expect(")", "the milliseconds")?;
                StmtKind::Sleep(ms)
            }
            "goto" => {
                self.pos += 1;
                let label = self.expect_kind(TokenKind::Ident, "a label after `goto`")?;
                StmtKind::Goto { label: label.text, label_span: label.span }
            }
            kw if UNSUPPORTED_KEYWORDS.contains(&kw) => {
                // The construct's braces and parentheses mean nothing here: skip its whole line.
                while self.peek(0).is_some_and(|t| t.line == first.line) {
                    self.pos += 1;
                }
                self.diags.push(
                    Diagnostic::error(first.span.clone(), format!("`{kw}` cannot be expressed in Mova"), "no instruction for this")
                        .with_note("Mova has no condition and no forward jump: GOTO always jumps backwards, so every loop is endless"),
                );
                return Err(());
            }
            _ if first.kind == TokenKind::Ident => {
                self.pos += 1;
                let op = self.peek(0).cloned();
                match op.as_ref().map(|t| t.text) {
                    Some(":") => {
                        self.pos += 1;
                        let stmt = StmtKind::Label(first.text);
                        return Ok(Stmt {
                            kind: stmt,
                            span: start..first.span.end,
                            line: first.line,
                            indent: first.indent,
                        });
                    }
                    Some("++") | Some("--") => {
                        self.pos += 1;
                        let delta = if op.as_ref().is_some_and(|t| t.text == "++") { 1 } else { -1 };
                        StmtKind::Add { name: first.text, name_span: first.span.clone(), delta }
                    }
                    Some("+=") | Some("-=") => {
                        self.pos += 1;
                        let negate = op.as_ref().is_some_and(|t| t.text == "-=");
                        if let Some(t) = self.peek(0).filter(|t| t.kind != TokenKind::Int).cloned() {
                            self.diags.push(
                                Diagnostic::error(t.span, "only a constant can be added", "not a constant")
                                    .with_note("Mova's ADD adds the constant carried in the instruction"),
                            );
                            return Err(());
                        }
                        let k = self.int_operand(Opcode::Add, "an integer constant")? as i64;
                        let delta = if negate { k.wrapping_neg() } else { k };
                        StmtKind::Add { name: first.text, name_span: first.span.clone(), delta }
                    }
                    Some("=") => {
                        self.diags.push(
                            Diagnostic::error(
                                op.expect("matched").span,
                                "assignment cannot be expressed in Mova",
                                "no instruction sets a value",
                            )
                            .with_note("only `var` sets the initial value; change it with `+=`, `-=`, `++` or `--`"),
                        );
                        return Err(());
                    }
                    _ => {
                        let (span, found) = match op {
                            Some(t) => (t.span, format!("found `{}`", t.text)),
                            None => (self.at_eof_span(), "found the end of the file".into()),
                        };
                        self.diags.push(Diagnostic::error(
                            span,
                            format!("expected `:`, `++`, `--`, `+=` or `-=` after `{}`", first.text),
                            found,
                        ));
                        return Err(());
                    }
                }
            }
            _ => {
                self.diags.push(Diagnostic::error(
                    first.span.clone(),
                    format!("expected a statement, found `{}`", first.text),
                    "not a statement",
                ));
                return Err(());
            }
        };
        let end = self.expect(";", "the statement")?.end;
        Ok(Stmt { kind, span: start..end, line: first.line, indent: first.indent })
    }
}

struct Codegen<'a> {
    instrs: Vec<Instr>,
    diags: Diagnostics,
    /// Every label in the file, to tell a forward jump from an undefined label.
    all_labels: HashMap<&'a str, usize>,
    defined: HashMap<&'a str, usize>,
    /// The one variable: name, declaration span and line, index of its PUT.
    var: Option<(&'a str, Range<usize>, usize, usize)>,
    /// (target, goto index) of every backward jump.
    loops: Vec<(usize, usize)>,
}

impl<'a> Codegen<'a> {
    fn use_var(&mut self, name: &str, span: &Range<usize>) {
        match &self.var {
            Some((declared, ..)) if *declared == name => {}
            Some((declared, ..)) => self.diags.push(
                Diagnostic::error(span.clone(), format!("unknown variable `{name}`"), "not declared")
                    .with_note(format!("the program's one variable is `{declared}`")),
            ),
            None => self.diags.push(Diagnostic::error(
                span.clone(),
                format!("`{name}` is used before it is declared"),
                format!("declare it first with `var {name} = 0;`"),
            )),
        }
    }

    /// Compiles a block nested `depth` labels deep; returns true if control
    /// never falls out of it.
    fn block(&mut self, stmts: &[Stmt<'a>], depth: usize) -> bool {
        let mut i = 0;
        let mut endless: Option<&Stmt<'a>> = None;
        let mut warned = false;
        while i < stmts.len() {
            let s = &stmts[i];
            if let (Some(cause), false) = (endless, warned) {
                // Still compiled, so that its own errors are reported too.
                warned = true;
                let line = cause.line + 1;
                self.diags.push(Diagnostic::warning(
                    s.span.clone(),
                    "unreachable code",
                    format!("the jump back on line {line} never lets execution get here"),
                ));
            }
            i += 1;
            match &s.kind {
                StmtKind::Var { name, value } => {
                    if let Some((first, _, _, first_line)) = &self.var {
                        self.diags.push(
                            Diagnostic::error(s.span.clone(), format!("a second variable `{name}` cannot be expressed in Mova"), "second variable")
                                .with_note(format!(
                                    "`{first}` (line {}) already lives on top of the stack; ADD and PRINT reach only the top, so Mova programs have one variable",
                                    first_line + 1
                                )),
                        );
                    } else {
                        self.var = Some((name, s.span.clone(), self.instrs.len(), s.line));
                        self.instrs.push(Instr::Put(*value));
                    }
                }
                StmtKind::Label(name) => {
                    let body_end = stmts[i..]
                        .iter()
                        .position(|b| b.line != s.line && b.indent <= s.indent)
                        .map_or(stmts.len(), |n| i + n);
                    if self.defined.insert(name, self.instrs.len()).is_some() {
                        self.diags.push(Diagnostic::error(
                            s.span.clone(),
                            format!("label `{name}` is defined twice"),
                            "second definition",
                        ));
                    }
                    if body_end > i && depth >= MAX_NESTING {
                        // Bodies compile recursively: a bound keeps hostile input from the stack's end.
                        self.diags.push(Diagnostic::error(
                            s.span.clone(),
                            format!("labels nested too deeply: more than {MAX_NESTING} levels"),
                            "this label's body is not compiled",
                        ));
                        i = body_end;
                        endless = Some(s);
                    } else if body_end > i {
                        let target = self.instrs.len();
                        let body = &stmts[i..body_end];
                        if !self.block(body, depth + 1) {
                            let index = self.instrs.len();
                            self.instrs.push(Instr::Goto((index - target) as u32));
                            self.loops.push((target, index));
                        }
                        i = body_end;
                        endless = Some(s);
                    }
                }
                StmtKind::Add { name, name_span, delta } => {
                    self.use_var(name, name_span);
                    self.instrs.push(Instr::Add(*delta));
                }
                StmtKind::Print { name, name_span } => {
                    self.use_var(name, name_span);
                    self.instrs.push(Instr::Print);
                }
                StmtKind::Sleep(ms) => self.instrs.push(Instr::Sleep(*ms)),
                StmtKind::Goto { label, label_span } => {
                    let index = self.instrs.len();
                    match (self.defined.get(label), self.all_labels.contains_key(label)) {
                        (Some(&target), _) => {
                            self.instrs.push(Instr::Goto((index - target) as u32));
                            self.loops.push((target, index));
                        }
                        (None, true) => self.diags.push(
                            Diagnostic::error(
                                label_span.clone(),
                                format!("`goto {label}` jumps forward"),
                                "label is further down",
                            )
                            .with_note("Mova's GOTO only jumps backwards"),
                        ),
                        (None, false) => self.diags.push(Diagnostic::error(
                            label_span.clone(),
                            format!("undefined label `{label}`"),
                            "no such label in this file",
                        )),
                    }
                    endless = Some(s);
                }
            }
        }
        endless.is_some()
    }
}

/// How deeply label bodies may nest.
pub const MAX_NESTING: usize = 256;

/// Compiles pseudo-language source, reporting every error in the file.
pub fn compile(source: &str) -> Result<Compiled, crate::CompileError> {
    let mut parser = Parser { tokens: lex(source), pos: 0, end: source.len(), diags: Diagnostics::new() };
    let mut stmts = Vec::new();
    while let Some(t) = parser.peek(0) {
        let line = t.line;
        match parser.statement() {
            Ok(s) => stmts.push(s),
            Err(()) => parser.recover(line),
        }
    }
    let mut all_labels = HashMap::new();
    for s in &stmts {
        if let StmtKind::Label(name) = s.kind {
            all_labels.entry(name).or_insert(s.span.start);
        }
    }
    let mut gen = Codegen {
        instrs: Vec::new(),
        diags: parser.diags,
        all_labels,
        defined: HashMap::new(),
        var: None,
        loops: Vec::new(),
    };
    gen.block(&stmts, 0);
    if let Some((name, span, put, _)) = gen.var.clone() {
        if gen.loops.iter().any(|&(target, goto)| (target..=goto).contains(&put)) {
            gen.diags.push(
                Diagnostic::error(span, format!("`var {name}` is inside a loop"), "runs again on every pass")
                    .with_note("each pass would push another value until the stack overflows; declare the variable before the loop"),
            );
        }
    }
    too_many(gen.instrs.len(), &mut gen.diags);
    let (instrs, warnings) = finish(gen.instrs, gen.diags)?;
    let program = Program::new(instrs).expect("the code generator only emits backward jumps");
    Ok((program, warnings))
}
