//! The bytecode text assembler (`.masm`) and the disassembler that inverts it.
//!
//! Syntax, one instruction per line:
//!
//! ```text
//! ; comment to the end of the line
//! start:              ; a label names the next instruction
//!     PUT -0x10       ; mnemonics are case-insensitive; decimal, hex, negative
//! loop: ADD 1         ; a label may share the line with its instruction
//!     GOTO loop       ; a backward label, or a numeric offset: GOTO 1
//! ```
//!
//! The disassembler prints this syntax with `L<index>` labels for GOTO
//! targets, so its output assembles back to the identical bytes.

use crate::bytecode::{Program, MAX_INSTRUCTIONS};
use crate::diag::{finish, Diagnostic, Diagnostics};
use crate::isa::{operand_range, Instr, Opcode, OperandKind};
use std::collections::HashMap;
use std::ops::Range;

/// A successful assembly: the program and any warnings.
pub type Compiled = (Program, Vec<Diagnostic>);

/// Parses an integer literal: optional sign, then decimal or `0x` hex digits,
/// `_` allowed between digits. `None` if malformed; values beyond i128 also
/// give `None` (they are out of every operand's range anyway).
pub(crate) fn parse_int(text: &str) -> Option<i128> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match body.get(..2) {
        Some("0x" | "0X") => (16, &body[2..]),
        _ => (10, body),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    let mut value: i128 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        value = value.checked_mul(radix)?.checked_add(c.to_digit(radix as u32)? as i128)?;
    }
    Some(if negative { -value } else { value })
}

/// True if `text` is a valid label or variable name.
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The error for a literal that does not fit its instruction's operand.
pub(crate) fn out_of_range(span: Range<usize>, text: &str, mnemonic: &str, kind: OperandKind) -> Diagnostic {
    Diagnostic::error(
        span,
        format!("operand `{text}` is out of range for {mnemonic}"),
        format!("{mnemonic} takes {} ({})", kind.name(), operand_range(kind)),
    )
}

/// One whitespace- or colon-separated word of a line, with its byte span.
struct Token<'a> {
    text: &'a str,
    span: Range<usize>,
}

/// Splits a line (without its comment) into words and `:` tokens.
fn tokenize(line: &str, base: usize) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == ':' {
            chars.next();
            tokens.push(Token { text: ":", span: base + start..base + start + 1 });
        } else {
            let mut end = start;
            while let Some(&(i, c)) = chars.peek() {
                if c.is_whitespace() || c == ':' {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            tokens.push(Token { text: &line[start..end], span: base + start..base + end });
        }
    }
    tokens
}

/// A GOTO whose label is resolved once all labels are known.
struct PendingGoto {
    index: usize,
    label: String,
    span: Range<usize>,
}

/// Assembles `.masm` text, reporting every error in the file.
pub fn assemble(source: &str) -> Result<Compiled, crate::CompileError> {
    let mut instrs: Vec<Instr> = Vec::new();
    let mut diags = Diagnostics::new();
    let mut labels: HashMap<String, (usize, Range<usize>)> = HashMap::new();
    let mut pending = Vec::new();
    let mut line_start = 0;
    for raw in source.split_inclusive('\n') {
        let base = line_start;
        line_start += raw.len();
        let line = raw.split(';').next().unwrap_or("");
        let tokens = tokenize(line, base);
        let mut rest = &tokens[..];
        // Leading `name:` pairs define labels for the next instruction.
        while rest.len() >= 2 && rest[1].text == ":" {
            let name = &rest[0];
            if !is_identifier(name.text) {
                diags.push(Diagnostic::error(
                    name.span.clone(),
                    format!("invalid label name `{}`", name.text),
                    "labels are a letter or `_` followed by letters, digits or `_`",
                ));
            } else if let Some((_, first)) = labels.get(name.text) {
                let line = source[..first.start].lines().count().max(1);
                diags.push(
                    Diagnostic::error(
                        name.span.clone(),
                        format!("label `{}` is defined twice", name.text),
                        "second definition",
                    )
                    .with_note(format!("first defined on line {line}")),
                );
            } else {
                labels.insert(name.text.to_string(), (instrs.len(), name.span.clone()));
            }
            rest = &rest[2..];
        }
        let Some((mnemonic, rest)) = rest.split_first() else { continue };
        let index = instrs.len();
        // An erroneous line still occupies its instruction slot, so later messages name the right index.
        let ins = instruction(mnemonic, rest, index, &mut pending, &mut diags);
        instrs.push(ins.unwrap_or(Instr::Print));
    }
    for goto in pending {
        match labels.get(&goto.label) {
            Some(&(target, _)) if target <= goto.index => {
                instrs[goto.index] = Instr::Goto((goto.index - target) as u32);
            }
            Some(&(target, _)) => diags.push(
                Diagnostic::error(
                    goto.span,
                    format!("GOTO cannot jump forward to `{}`", goto.label),
                    "label is further down",
                )
                .with_note(format!(
                    "Mova's GOTO only jumps backwards; `{}` is instruction {target}, this GOTO is instruction {}",
                    goto.label, goto.index
                )),
            ),
            None => diags.push(Diagnostic::error(
                goto.span,
                format!("undefined label `{}`", goto.label),
                "no such label in this file",
            )),
        }
    }
    too_many(instrs.len(), &mut diags);
    let (instrs, warnings) = finish(instrs, diags)?;
    let program = Program::new(instrs).expect("every GOTO was checked above");
    Ok((program, warnings))
}

/// Parses one instruction (mnemonic and operand tokens); `None` after reporting an error.
fn instruction(
    mnemonic: &Token<'_>,
    rest: &[Token<'_>],
    index: usize,
    pending: &mut Vec<PendingGoto>,
    diags: &mut Diagnostics,
) -> Option<Instr> {
    if mnemonic.text == ":" {
        diags.push(Diagnostic::error(mnemonic.span.clone(), "`:` without a label name", "expected `name:`"));
        return None;
    }
    let Some(op) = Opcode::from_mnemonic(mnemonic.text) else {
        let names: Vec<_> = Opcode::ALL.iter().map(|o| o.mnemonic()).collect();
        diags.push(
            Diagnostic::error(
                mnemonic.span.clone(),
                format!("unknown instruction `{}`", mnemonic.text),
                "not a Mova mnemonic",
            )
            .with_note(format!("Mova's instructions are {}", names.join(", "))),
        );
        return None;
    };
    if let Some(extra) = rest.get(1) {
        diags.push(Diagnostic::error(
            extra.span.start..rest.last().map_or(extra.span.end, |t| t.span.end),
            format!("unexpected `{}` after the operand", extra.text),
            "one instruction per line",
        ));
        return None;
    }
    let operand = rest.first();
    let literal = match operand {
        Some(tok) => match parse_int(tok.text) {
            Some(v) => Some(v),
            None if op == Opcode::Goto && is_identifier(tok.text) => {
                pending.push(PendingGoto { index, label: tok.text.to_string(), span: tok.span.clone() });
                return Some(Instr::Goto(0));
            }
            None => {
                diags.push(Diagnostic::error(
                    tok.span.clone(),
                    format!("expected an integer, found `{}`", tok.text),
                    if op == Opcode::Goto { "GOTO takes an offset or a label" } else { "not an integer literal" },
                ));
                return None;
            }
        },
        None => None,
    };
    match Instr::from_literal(op, literal) {
        Ok(Some(ins)) => {
            if let (Instr::Goto(offset), Some(tok)) = (ins, operand) {
                if offset as usize > index {
                    diags.push(Diagnostic::error(
                        tok.span.clone(),
                        format!("GOTO {offset} at instruction {index} lands before instruction 0"),
                        format!("at most {index} here"),
                    ));
                }
            }
            Some(ins)
        }
        Ok(None) if literal.is_some() => {
            let tok = operand.expect("literal came from an operand");
            diags.push(Diagnostic::error(
                tok.span.clone(),
                format!("{} takes no operand", op.mnemonic()),
                "remove this",
            ));
            None
        }
        Ok(None) => {
            diags.push(Diagnostic::error(
                mnemonic.span.clone(),
                format!("{} needs an operand", op.mnemonic()),
                format!("expected `{} {}`", op.mnemonic(), op.operand_name().unwrap_or_default()),
            ));
            None
        }
        Err(kind) => {
            let tok = operand.expect("range error came from an operand");
            diags.push(out_of_range(tok.span.clone(), tok.text, op.mnemonic(), kind));
            None
        }
    }
}

/// The error for a program of more than [`MAX_INSTRUCTIONS`] (both compilers').
pub(crate) fn too_many(count: usize, diags: &mut Diagnostics) {
    if count > MAX_INSTRUCTIONS {
        diags.push(Diagnostic::error(
            0..0,
            format!("too many instructions: {count}, and a program has at most {MAX_INSTRUCTIONS}"),
            "the program starts here",
        ));
    }
}

/// Prints a program as `.masm` text that assembles back to identical bytes.
pub fn disassemble(program: &Program) -> String {
    let mut out = String::new();
    disassemble_to(program, &mut out).expect("a String takes every write");
    out
}

/// [`disassemble`] into `out` a line at a time (`mova disasm` streams a
/// large program's text to stdout rather than hold it).
pub fn disassemble_to(program: &Program, out: &mut (impl std::fmt::Write + ?Sized)) -> std::fmt::Result {
    let instrs = program.instrs();
    let mut is_target = vec![false; instrs.len()];
    for (i, ins) in instrs.iter().enumerate() {
        if let Instr::Goto(offset) = *ins {
            is_target[i - offset as usize] = true;
        }
    }
    writeln!(out, "; Mova bytecode, {} instructions", instrs.len())?;
    for (i, ins) in instrs.iter().enumerate() {
        if is_target[i] {
            writeln!(out, "L{i}:")?;
        }
        match *ins {
            Instr::Goto(offset) => writeln!(out, "    GOTO L{}", i - offset as usize)?,
            other => writeln!(out, "    {other}")?,
        };
    }
    Ok(())
}
