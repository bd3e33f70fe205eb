//! The disassembler: an executable back to assembly text that assembles to
//! the identical bytes.
//!
//! Label headers print as `name:` (quoted when the name is not a plain
//! identifier) or `.label`. Addresses that instructions refer to but that
//! have no named header get an assembler-only local label `.L<hex>`; data
//! prints as `.byte` lines split at such labels. Every line ends with its
//! address as a comment.

use crate::exe::{Executable, Item, SectionKind};
use crate::isa::{Addr, Instr, Operand, Reg, Target};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write};

/// Disassembles a loaded executable.
pub fn disassemble(exe: &Executable) -> String {
    let mut out = String::new();
    disassemble_to(exe, &mut out).expect("a String takes every write");
    out
}

/// Disassembles a loaded executable into `out` a line at a time (the text
/// of a large executable is several times its size: `manda disasm` streams
/// it to stdout rather than hold it).
pub fn disassemble_to(exe: &Executable, out: &mut (impl Write + ?Sized)) -> fmt::Result {
    let names = Names::new(exe);
    writeln!(out, "; manda disassembly: {} bytes, entry 0x{:x}", exe.len(), exe.entry())?;
    for section in &exe.sections {
        let header = section.start - crate::exe::SECTION_HEADER_LEN;
        line(
            out,
            section.kind.directive(),
            header,
            &format!("section header; {} bytes of contents", section.bytes.len()),
        )?;
        if section.kind == SectionKind::Code {
            for item in section.items() {
                names.locals_at(out, item.addr())?;
                match item {
                    Item::Label { addr, name: None } => line(out, ".label", addr, "")?,
                    Item::Label { addr, name: Some(name) } => line(out, &format!("{}:", quote_name(name)), addr, "")?,
                    Item::Instr { addr, instr } => line(out, &format!("    {}", names.instr(&instr)), addr, "")?,
                }
            }
            names.locals_at(out, section.end())?;
            continue;
        }
        let mut at = section.start;
        // Where a local label splits the bytes, then the section's end (once, even when a label
        // sits there: a label just past the last byte, like `buf_end:`, is printed once).
        let mut cuts: Vec<u64> = names.local.range(section.start..=section.end()).map(|(a, _)| *a).collect();
        if cuts.last() != Some(&section.end()) {
            cuts.push(section.end());
        }
        for cut in cuts {
            while at < cut {
                let rest = &section.bytes[(at - section.start) as usize..(cut - section.start) as usize];
                // A run of zeros is one `.zero` line (a `.zero 500000000` stays one line, not 31 million).
                let zeros = rest.iter().take_while(|&&b| b == 0).count();
                if zeros >= 16 {
                    line(out, &format!("    .zero {zeros}"), at, "")?;
                    at += zeros as u64;
                    continue;
                }
                // Up to 16 bytes, ending where a run of 16 zeros starts (that is a `.zero`).
                let zeros_at =
                    (1..rest.len().min(16)).find(|&i| rest[i..].iter().take(16).filter(|&&b| b == 0).count() == 16);
                let chunk = &rest[..zeros_at.unwrap_or(rest.len().min(16))];
                let mut text = String::from("    .byte ");
                for (i, b) in chunk.iter().enumerate() {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    text.push_str(if i == 0 { "0x" } else { ", 0x" });
                    text.push(char::from(HEX[usize::from(b >> 4)]));
                    text.push(char::from(HEX[usize::from(b & 15)]));
                }
                line(out, &text, at, "")?;
                at += chunk.len() as u64;
            }
            names.locals_at(out, cut)?;
        }
    }
    Ok(())
}

fn line(out: &mut (impl Write + ?Sized), text: &str, addr: u64, note: &str) -> fmt::Result {
    let note = if note.is_empty() { String::new() } else { format!(" {note}") };
    writeln!(out, "{text:<44} ; 0x{addr:04x}{note}")
}

/// How each referenced address is written.
struct Names {
    /// Named label headers, by address.
    named: HashMap<u64, String>,
    /// Assembler-only labels to emit, by address.
    local: BTreeMap<u64, String>,
}

impl Names {
    fn new(exe: &Executable) -> Names {
        let mut named = HashMap::new();
        let mut taken = HashSet::new();
        let mut boundaries = HashSet::new();
        for item in exe.sections.iter().flat_map(|s| s.items()) {
            boundaries.insert(item.addr());
            if let Item::Label { addr, name: Some(name) } = item {
                named.entry(addr).or_insert_with(|| name.to_string());
                taken.insert(name.to_string());
            }
        }
        let mut local = BTreeMap::new();
        for item in exe.sections.iter().flat_map(|s| s.items()) {
            let Item::Instr { instr, .. } = item else { continue };
            for operand in instr.operands() {
                let addr = match operand {
                    Operand::Target(Target(a)) | Operand::Addr(Addr(a)) => a,
                    _ => continue,
                };
                if named.contains_key(&addr) || local.contains_key(&addr) {
                    continue;
                }
                let nameable = boundaries.contains(&addr)
                    || exe.sections.iter().any(|s| s.kind != SectionKind::Code && (s.start..=s.end()).contains(&addr));
                if nameable {
                    let mut name = format!(".L{addr:x}");
                    while taken.contains(&name) {
                        name.push('$');
                    }
                    local.insert(addr, name);
                }
            }
        }
        Names { named, local }
    }

    fn locals_at(&self, out: &mut (impl Write + ?Sized), addr: u64) -> fmt::Result {
        match self.local.get(&addr) {
            Some(name) => line(out, &format!("{name}:"), addr, ""),
            None => Ok(()),
        }
    }

    fn address(&self, addr: u64) -> String {
        match (self.named.get(&addr), self.local.get(&addr)) {
            (Some(name), _) => quote_name(name),
            (None, Some(local)) => local.clone(),
            (None, None) => format!("0x{addr:x}"),
        }
    }

    fn instr(&self, instr: &Instr) -> String {
        let mut text = instr.opcode().mnemonic().to_string();
        for (i, operand) in instr.operands().into_iter().enumerate() {
            text.push_str(if i == 0 { " " } else { ", " });
            match operand {
                Operand::Target(Target(a)) | Operand::Addr(Addr(a)) => text.push_str(&self.address(a)),
                other => text.push_str(&other.to_string()),
            }
        }
        text
    }
}

/// A label name as the assembler reads it back: bare if it is a plain
/// identifier that means nothing else, quoted otherwise.
pub fn quote_name(name: &str) -> String {
    let mut chars = name.chars();
    let plain = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
        && !name.starts_with(".L")
        && Reg::parse(name).is_none()
        && !matches!(name, "bits" | "inf" | "nan");
    if plain {
        return name.to_string();
    }
    let mut quoted = String::from("\"");
    for c in name.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            '\0' => quoted.push_str("\\0"),
            c if c.is_ascii_control() => {
                let _ = write!(quoted, "\\x{:02x}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::disassemble;
    use crate::exe::Executable;

    fn round_trips(source: &str) {
        let bytes = crate::asm::assemble(source).unwrap().0;
        let text = disassemble(&Executable::load(&bytes).unwrap());
        let again = crate::asm::assemble(&text).unwrap_or_else(|e| panic!("{text}\n{e:?}")).0;
        assert_eq!(again, bytes, "{text}");
    }

    #[test]
    fn runs_of_zeros_are_one_zero_line() {
        let source = ".data\nbuf: .zero 100000\nmid:\n.byte 1\n.zero 15\n.byte 2\n.zero 40\n.code\nmain:\n    la t0, mid\n    halt\n";
        round_trips(source);
        let text = disassemble(&Executable::load(&crate::asm::assemble(source).unwrap().0).unwrap());
        let data: Vec<&str> = text.lines().skip(2).take(5).map(|l| l.split(';').next().unwrap().trim_end()).collect();
        assert_eq!(
            data,
            [
                "    .zero 100000",
                ".L186a9:",
                "    .byte 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00",
                "    .byte 0x02",
                "    .zero 40"
            ]
        );
    }

    #[test]
    fn a_label_just_past_a_data_section_is_printed_once() {
        round_trips(".data\nbuf: .zero 4\nbuf_end:\n.code\nmain:\n    la t0, buf_end\n    la t1, buf\n    halt\n");
        round_trips(".rodata\nmsg: .ascii \"hi\"\nmsg_end:\n.code\nmain:\n    la t0, msg_end\n    halt\n");
    }
}
