//! The executable format and its loader (`docs/manda/executable.md`).
//!
//! A file is a sequence of sections: a type byte (0 data, 1 code, 2 rodata),
//! a u64 little-endian length, and that many bytes. A code section is a
//! sequence of label headers (0: anonymous; 1 + u64 length + UTF-8 name)
//! and instructions. Addresses are file offsets: a section's contents are
//! loaded at the offsets they have in the file.
//!
//! [`Executable::load`] treats its input as hostile: every problem is a
//! [`LoadError`] naming the file offset, no allocation is larger than the
//! input, and each code section is decoded once into [`Item`]s — the form
//! the machine executes and the disassembler prints. The sections' bytes
//! are ranges of one copy of the file ([`Executable::from_vec`] keeps the
//! caller's, so a large section is never held twice by the loader).

use crate::isa::{Instr, Opcode, Operand, Target};
use std::collections::HashMap;
use std::ops::{Deref, Range};
use std::sync::Arc;
use thiserror::Error;

/// The most labels and instructions an executable's code sections may
/// hold together: 2^23 (8,388,608). Each is decoded into some 90 bytes of
/// the machine's tables, so a file of one-byte `nop`s would otherwise cost
/// about 90 times its size (100 MB took 11 GB); past this limit it is
/// refused where it passes it.
pub const MAX_CODE_ITEMS: usize = 1 << 23;

/// The most sections an executable may have: 2^16 (65,536). Each costs some
/// 70 bytes as loaded for its 9-byte header, so a file of empty sections
/// would otherwise cost about 8 times its size.
pub const MAX_SECTIONS: usize = 1 << 16;

/// Bytes in a section header: type byte + u64 length.
pub const SECTION_HEADER_LEN: u64 = 9;

/// What a section holds and how the machine may touch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// Readable and writable data (type byte 0).
    Data,
    /// Executable code, neither readable nor writable (type byte 1).
    Code,
    /// Read-only data (type byte 2).
    Rodata,
}

impl SectionKind {
    /// The type byte.
    pub const fn byte(self) -> u8 {
        match self {
            SectionKind::Data => 0,
            SectionKind::Code => 1,
            SectionKind::Rodata => 2,
        }
    }

    /// The kind for a type byte.
    pub const fn from_byte(byte: u8) -> Option<SectionKind> {
        match byte {
            0 => Some(SectionKind::Data),
            1 => Some(SectionKind::Code),
            2 => Some(SectionKind::Rodata),
            _ => None,
        }
    }

    /// The assembler directive that starts such a section.
    pub const fn directive(self) -> &'static str {
        match self {
            SectionKind::Data => ".data",
            SectionKind::Code => ".code",
            SectionKind::Rodata => ".rodata",
        }
    }
}

/// One element of a code section, at its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A label header: `name` is `None` for an anonymous label (header 0).
    Label {
        /// Address of the header byte.
        addr: u64,
        /// The name of a header-1 label.
        name: Option<String>,
    },
    /// An instruction.
    Instr {
        /// Address of the opcode byte.
        addr: u64,
        /// The decoded instruction.
        instr: Instr,
    },
}

impl Item {
    /// The item's address.
    pub fn addr(&self) -> u64 {
        match self {
            Item::Label { addr, .. } | Item::Instr { addr, .. } => *addr,
        }
    }
}

/// One section, as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Data, code or rodata.
    pub kind: SectionKind,
    /// File offset (= address) of the first content byte, just after the header.
    pub start: u64,
    /// The contents.
    pub bytes: SectionBytes,
    /// For a code section, its labels and instructions in order; empty otherwise.
    pub items: Vec<Item>,
}

impl Section {
    /// One past the last content byte's address.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// True if `addr` is one of this section's content bytes.
    pub fn contains(&self, addr: u64) -> bool {
        (self.start..self.end()).contains(&addr)
    }
}

/// A section's contents: a range of the executable's file bytes, which
/// all its sections share. Reads as a `[u8]`.
#[derive(Clone)]
pub struct SectionBytes {
    file: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl Deref for SectionBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.file[self.range.clone()]
    }
}

impl PartialEq for SectionBytes {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for SectionBytes {}

impl std::fmt::Debug for SectionBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// A validated executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// The sections, in file order.
    pub sections: Vec<Section>,
    labels: HashMap<String, u64>,
}

/// Why an executable was rejected, and at which file offset.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("offset {offset} (0x{offset:x}): {kind}")]
pub struct LoadError {
    /// File offset of the offending byte (the start of the offending header or instruction).
    pub offset: u64,
    /// What is wrong.
    pub kind: LoadErrorKind,
}

/// The kinds of [`LoadError`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadErrorKind {
    /// A section type byte other than 0, 1, 2.
    #[error("unknown section type {0} (0 data, 1 code, 2 rodata)")]
    UnknownSection(u8),
    /// Fewer than 9 bytes left for a section header.
    #[error("section header cut short: {0} of 9 bytes")]
    HeaderCut(u64),
    /// A section length past the end of the file.
    #[error("section length {len} runs past the end of the file ({available} byte{s} left)", s = if *.available == 1 { "" } else { "s" })]
    LengthPastEnd {
        /// The length field.
        len: u64,
        /// Bytes after the header.
        available: u64,
    },
    /// A label header byte 2–9.
    #[error("reserved label header {0} (only 0, anonymous, and 1, named, are defined)")]
    ReservedLabel(u8),
    /// A byte that is neither a label header nor an opcode.
    #[error("unknown opcode {0} (0x{0:02x})")]
    UnknownOpcode(u8),
    /// An instruction cut by the end of its section.
    #[error("`{mnemonic}` needs {needed} bytes but its section ends after {available}")]
    InstructionCut {
        /// The instruction.
        mnemonic: &'static str,
        /// Its encoded length.
        needed: usize,
        /// Bytes left in the section.
        available: u64,
    },
    /// A named label header cut by the end of its section.
    #[error("label name of {len} bytes runs past the end of its section ({available} byte{s} left)", s = if *.available == 1 { "" } else { "s" })]
    LabelCut {
        /// The name length field.
        len: u64,
        /// Bytes left in the section.
        available: u64,
    },
    /// A named label header whose length field is cut by the end of its section.
    #[error("named label header cut short: {0} of 9 bytes")]
    LabelHeaderCut(u64),
    /// A label name that is not UTF-8.
    #[error("label name is not valid UTF-8")]
    LabelNotUtf8,
    /// Two labels with one name.
    #[error("duplicate label name `{0}`")]
    DuplicateLabel(String),
    /// A static control-flow target that is not a code boundary.
    #[error("`{mnemonic}` target 0x{target:x} {why}")]
    BadTarget {
        /// The instruction.
        mnemonic: &'static str,
        /// The target address.
        target: u64,
        /// Why it is not a boundary.
        why: &'static str,
    },
    /// No code section.
    #[error("no code section: there is nothing to execute")]
    NoCode,
    /// More than [`MAX_SECTIONS`] sections.
    #[error("too many sections: an executable has at most {MAX_SECTIONS}")]
    TooManySections,
    /// More than [`MAX_CODE_ITEMS`] labels and instructions.
    #[error("too many instructions and labels: an executable has at most {MAX_CODE_ITEMS}")]
    TooManyItems,
    /// The file and its decoded code would pass the memory limit it is loaded within.
    #[error("the file and its decoded code need more than the memory limit of {0} bytes")]
    PastMemoryLimit(u64),
}

fn fail<T>(offset: u64, kind: LoadErrorKind) -> Result<T, LoadError> {
    Err(LoadError { offset, kind })
}

/// Reads a u64 at `at`, if 8 bytes are there.
fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

impl Executable {
    /// Validates and decodes `bytes` (copied once; see [`from_vec`](Self::from_vec)).
    pub fn load(bytes: &[u8]) -> Result<Executable, LoadError> {
        Executable::from_vec(bytes.to_vec())
    }

    /// Validates and decodes `file`, keeping it as the sections' bytes: no copy.
    pub fn from_vec(file: Vec<u8>) -> Result<Executable, LoadError> {
        Executable::from_vec_within(file, u64::MAX)
    }

    /// [`from_vec`](Self::from_vec), refusing as soon as the file and its
    /// decoded code would hold more than `memory_limit` bytes: a machine's
    /// `--max-memory`, so that a file within the limit cannot decode into
    /// several times the limit before the machine is built.
    pub fn from_vec_within(file: Vec<u8>, memory_limit: u64) -> Result<Executable, LoadError> {
        let item_room = memory_limit.saturating_sub(file.capacity() as u64) / std::mem::size_of::<Item>() as u64;
        let file = Arc::new(file);
        let bytes = &file[..];
        let mut sections = Vec::new();
        let mut items_before = 0;
        let mut at = 0usize;
        while at < bytes.len() {
            let offset = at as u64;
            if sections.len() == MAX_SECTIONS {
                return fail(offset, LoadErrorKind::TooManySections);
            }
            let kind = SectionKind::from_byte(bytes[at])
                .ok_or(LoadError { offset, kind: LoadErrorKind::UnknownSection(bytes[at]) })?;
            let Some(len) = u64_at(bytes, at + 1) else {
                return fail(offset, LoadErrorKind::HeaderCut((bytes.len() - at) as u64));
            };
            let start = at + SECTION_HEADER_LEN as usize;
            let available = (bytes.len() - start) as u64;
            if len > available {
                return fail(offset, LoadErrorKind::LengthPastEnd { len, available });
            }
            let end = start + len as usize;
            let items = match kind {
                SectionKind::Code => {
                    // Whichever bound is nearer stops the decoding, and names itself.
                    let by_count = (MAX_CODE_ITEMS - items_before) as u64;
                    let by_memory = item_room.saturating_sub(items_before as u64);
                    let (room, past) = match by_count <= by_memory {
                        true => (by_count, LoadErrorKind::TooManyItems),
                        false => (by_memory, LoadErrorKind::PastMemoryLimit(memory_limit)),
                    };
                    decode_code(&bytes[start..end], start as u64, room as usize, past)?
                }
                _ => Vec::new(),
            };
            items_before += items.len();
            let contents = SectionBytes { file: Arc::clone(&file), range: start..end };
            sections.push(Section { kind, start: start as u64, bytes: contents, items });
            at = end;
        }
        if !sections.iter().any(|s| s.kind == SectionKind::Code) {
            return fail(bytes.len() as u64, LoadErrorKind::NoCode);
        }
        let mut labels = HashMap::new();
        for item in sections.iter().flat_map(|s| &s.items) {
            if let Item::Label { addr, name: Some(name) } = item {
                if labels.insert(name.clone(), *addr).is_some() {
                    return fail(*addr, LoadErrorKind::DuplicateLabel(name.clone()));
                }
            }
        }
        let exe = Executable { sections, labels };
        exe.check_targets()?;
        Ok(exe)
    }

    /// Bytes this executable holds on the heap: the file and its decoded
    /// code. A machine is built from it within the memory limit while it is
    /// held beside the machine's own copy.
    pub fn heap_bytes(&self) -> u64 {
        let file = self.sections.first().map_or(0, |s| s.bytes.file.capacity());
        let items: usize = self.sections.iter().map(|s| s.items.capacity() * std::mem::size_of::<Item>()).sum();
        let names: usize = self
            .sections
            .iter()
            .flat_map(|s| &s.items)
            .map(|item| match item {
                Item::Label { name: Some(name), .. } => name.capacity(),
                _ => 0,
            })
            .sum();
        let labels = self.labels.capacity() * (std::mem::size_of::<(String, u64)>() + 1);
        (file + items + 2 * names + labels) as u64
    }

    /// Every static target (`jmp`, branches, `call`, `fork`) must be a boundary.
    fn check_targets(&self) -> Result<(), LoadError> {
        for item in self.sections.iter().flat_map(|s| &s.items) {
            let Item::Instr { addr, instr } = item else { continue };
            for operand in instr.operands() {
                if let Operand::Target(Target(target)) = operand {
                    if let Err(why) = self.check_boundary(target) {
                        let mnemonic = instr.opcode().mnemonic();
                        return fail(*addr, LoadErrorKind::BadTarget { mnemonic, target, why });
                    }
                }
            }
        }
        Ok(())
    }

    /// `Ok` if `addr` is an instruction boundary or label header in a code
    /// section (or a code section's end, where execution would fall off);
    /// else why not.
    pub fn check_boundary(&self, addr: u64) -> Result<(), &'static str> {
        let Some(section) =
            self.sections.iter().find(|s| s.contains(addr) || (s.end() == addr && s.kind == SectionKind::Code))
        else {
            return Err("is not in any section");
        };
        if section.kind != SectionKind::Code {
            return Err("is not in a code section");
        }
        if addr == section.end() {
            return Err("is the end of a code section, not an instruction");
        }
        match section.items.binary_search_by_key(&addr, Item::addr) {
            Ok(_) => Ok(()),
            Err(_) => Err("is inside an instruction or label header, not on a boundary"),
        }
    }

    /// The address of the label named `name`.
    pub fn label(&self, name: &str) -> Option<u64> {
        self.labels.get(name).copied()
    }

    /// Where execution starts: the label `main`, else the first code byte.
    pub fn entry(&self) -> u64 {
        self.label("main").unwrap_or_else(|| {
            // `load` guarantees a code section.
            self.sections.iter().find(|s| s.kind == SectionKind::Code).map_or(0, |s| s.start)
        })
    }

    /// The file's length: one past the last address of the image.
    pub fn len(&self) -> u64 {
        self.sections.last().map_or(0, Section::end)
    }

    /// True for a file with no sections (which `load` never returns).
    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }

    /// The file bytes: loading then writing gives back the input exactly.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() as usize);
        self.encode(|bytes| out.extend_from_slice(bytes));
        out
    }

    /// The SHA-256 of the file bytes (a snapshot's program identity),
    /// hashed section by section rather than from a second copy of them.
    pub fn sha256(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        self.encode(|bytes| hasher.update(bytes));
        hasher.finalize().into()
    }

    /// Hands the file bytes to `out` a piece at a time, in order.
    fn encode(&self, mut out: impl FnMut(&[u8])) {
        for section in &self.sections {
            out(&[section.kind.byte()]);
            out(&(section.bytes.len() as u64).to_le_bytes());
            out(&section.bytes);
        }
    }
}

/// How many items a code section's contents hold, up to the first that
/// does not decode (which [`decode_code`] then reports).
fn count_items(bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut at = 0usize;
    while let Some(&b) = bytes.get(at) {
        let len = match b {
            0 => 1,
            1 => match u64_at(bytes, at + 1).and_then(|len| usize::try_from(len).ok()) {
                Some(len) => len.saturating_add(9),
                None => break,
            },
            b => match Opcode::from_byte(b) {
                Some(op) if b > 9 => op.encoded_len(),
                _ => break,
            },
        };
        count += 1;
        at = at.saturating_add(len);
    }
    count
}

/// Decodes a code section's contents, which start at address `base`.
/// At most `room` items are decoded; one more fails with `past`.
fn decode_code(bytes: &[u8], base: u64, room: usize, past: LoadErrorKind) -> Result<Vec<Item>, LoadError> {
    // Sized once: a doubling vector would hold its old and new buffers at
    // once, and the allocator keeps what it freed.
    let mut items = Vec::with_capacity(count_items(bytes).min(room));
    let mut at = 0usize;
    while at < bytes.len() {
        let addr = base + at as u64;
        if items.len() == room {
            return fail(addr, past);
        }
        let left = (bytes.len() - at) as u64;
        match bytes[at] {
            0 => {
                items.push(Item::Label { addr, name: None });
                at += 1;
            }
            1 => {
                let Some(len) = u64_at(bytes, at + 1) else {
                    return fail(addr, LoadErrorKind::LabelHeaderCut(left));
                };
                let available = left - 9;
                if len > available {
                    return fail(addr, LoadErrorKind::LabelCut { len, available });
                }
                let name = &bytes[at + 9..at + 9 + len as usize];
                let name = std::str::from_utf8(name)
                    .map_err(|_| LoadError { offset: addr, kind: LoadErrorKind::LabelNotUtf8 })?;
                items.push(Item::Label { addr, name: Some(name.to_string()) });
                at += 9 + len as usize;
            }
            b @ 2..=9 => return fail(addr, LoadErrorKind::ReservedLabel(b)),
            b => match Instr::decode(&bytes[at..]) {
                Ok(instr) => {
                    items.push(Item::Instr { addr, instr });
                    at += instr.opcode().encoded_len();
                }
                Err(None) => return fail(addr, LoadErrorKind::UnknownOpcode(b)),
                Err(Some(op)) => {
                    let kind = LoadErrorKind::InstructionCut {
                        mnemonic: op.mnemonic(),
                        needed: op.encoded_len(),
                        available: left,
                    };
                    return fail(addr, kind);
                }
            },
        }
    }
    Ok(items)
}
