//! The executable format and its loader (`docs/manda/executable.md`).
//!
//! A file is a sequence of sections: a type byte (0 data, 1 code, 2 rodata),
//! a u64 little-endian length, and that many bytes. A code section is a
//! sequence of label headers (0: anonymous; 1 + u64 length + UTF-8 name)
//! and instructions. Addresses are file offsets: a section's contents are
//! loaded at the offsets they have in the file.
//!
//! [`Executable::load`] treats its input as hostile: every problem is a
//! [`LoadError`] naming the file offset, and what it allocates is bounded by
//! the memory limit it loads within. Each code section is validated in one
//! pass that keeps only a map of where its items start: the machine
//! ([`crate::machine`]) and the disassembler decode [`Item`]s from the
//! validated bytes when they need them. The sections' bytes
//! are ranges of one copy of the file ([`Executable::from_vec`] keeps the
//! caller's, so a large section is never held twice by the loader).

use crate::isa::{check_vop, Instr, Opcode, ENCODINGS};
use crate::machine::BYTES_PER_INDEX;
use std::collections::HashMap;
use std::ops::{Deref, Range};
use std::sync::Arc;
use thiserror::Error;

/// The most labels and instructions an executable's code sections may
/// hold together: 2^23 (8,388,608). Each is decoded into some 30 bytes of
/// the machine's tables, so a file of one-byte `nop`s would otherwise cost
/// about 30 times its size; past this limit it is refused where it passes
/// it.
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

/// One element of a code section, at its address (decoded on demand by
/// [`Section::items`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A label header: `name` is `None` for an anonymous label (header 0).
    Label {
        /// Address of the header byte.
        addr: u64,
        /// The name of a header-1 label.
        name: Option<&'a str>,
    },
    /// An instruction.
    Instr {
        /// Address of the opcode byte.
        addr: u64,
        /// The decoded instruction.
        instr: Instr,
    },
}

impl Item<'_> {
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
    /// For a code section, where its items start: what a target check needs,
    /// and what the machine maps addresses to instruction indices with. The
    /// loader keeps this instead of the decoded items (a quarter of a byte
    /// per byte, not some 30 bytes per instruction); [`Section::items`]
    /// decodes the rest when asked.
    starts: ItemStarts,
    /// For a code section, how many instructions and label headers it holds.
    counts: ItemCounts,
}

/// Where a code section's items start: a bit per content byte in each map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemStarts {
    /// Set where an instruction starts.
    pub instrs: Vec<u64>,
    /// Set where a label header starts.
    pub labels: Vec<u64>,
}

impl ItemStarts {
    fn new(len: usize) -> ItemStarts {
        ItemStarts { instrs: vec![0; len.div_ceil(64)], labels: vec![0; len.div_ceil(64)] }
    }

    /// True if bit `at` is set in `map`.
    pub fn get(map: &[u64], at: u64) -> bool {
        map.get((at / 64) as usize).is_some_and(|word| word >> (at % 64) & 1 == 1)
    }

    /// True if an instruction or a label header starts at offset `at`.
    pub fn starts_item(&self, at: u64) -> bool {
        ItemStarts::get(&self.instrs, at) || ItemStarts::get(&self.labels, at)
    }

    fn set(map: &mut [u64], at: usize) {
        map[at / 64] |= 1 << (at % 64);
    }
}

/// How many of each kind of item a code section holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemCounts {
    /// Instructions.
    pub instrs: usize,
    /// Label headers, named or not.
    pub labels: usize,
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

    /// For a code section, its labels and instructions in order, decoded
    /// from its (validated) bytes; nothing for data.
    pub fn items(&self) -> Items<'_> {
        let bytes = if self.kind == SectionKind::Code { &self.bytes[..] } else { &[] };
        Items { bytes, base: self.start, at: 0 }
    }

    /// How many instructions and label headers a code section holds.
    pub fn counts(&self) -> ItemCounts {
        self.counts
    }

    /// For a code section, where its instructions and label headers start.
    pub fn starts(&self) -> &ItemStarts {
        &self.starts
    }

    /// True if a label header or an instruction starts at `addr`.
    pub fn starts_item(&self, addr: u64) -> bool {
        let Some(at) = addr.checked_sub(self.start).filter(|&at| at < self.bytes.len() as u64) else {
            return false;
        };
        self.starts.starts_item(at)
    }
}

/// The items of a code section, decoded one at a time ([`Section::items`]).
#[derive(Debug, Clone)]
pub struct Items<'a> {
    bytes: &'a [u8],
    base: u64,
    at: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        // The loader validated these bytes: a decoding failure cannot happen,
        // and would end the items rather than panic.
        let addr = self.base + self.at as u64;
        let rest = self.bytes.get(self.at..)?;
        let (item, len) = match *rest.first()? {
            header @ (0 | 1) => {
                let len = label_header_len(rest)?;
                let name = match header {
                    0 => None,
                    _ => Some(std::str::from_utf8(rest.get(9..len)?).ok()?),
                };
                (Item::Label { addr, name }, len)
            }
            _ => {
                let instr = Instr::decode(rest).ok()?;
                (Item::Instr { addr, instr }, instr.opcode().encoded_len())
            }
        };
        self.at += len;
        Some(item)
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

impl SectionBytes {
    /// The same bytes in a buffer of their own, not keeping the rest of the file alive.
    pub fn copied(&self) -> SectionBytes {
        SectionBytes { file: Arc::new(self.to_vec()), range: 0..self.range.len() }
    }

    /// The bytes of the whole buffer this is a range of (the file, unless [`copied`](Self::copied)).
    pub fn buffer_len(&self) -> usize {
        self.file.capacity()
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
    /// A vector instruction whose operation byte is not one of its form's.
    #[error("`{mnemonic}` operation {byte} {why}")]
    BadVectorOp {
        /// The instruction.
        mnemonic: &'static str,
        /// The operation byte.
        byte: u8,
        /// Why it is refused.
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

/// The whole length of the label header at the start of `bytes` (a
/// validated code section's, from a header byte 0 or 1 on), its name
/// included; `None` for anything else.
pub(crate) fn label_header_len(bytes: &[u8]) -> Option<usize> {
    match *bytes.first()? {
        0 => Some(1),
        1 => usize::try_from(u64_at(bytes, 1)?).ok()?.checked_add(9),
        _ => None,
    }
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
        let item_room = memory_limit.saturating_sub(file.capacity() as u64) / BYTES_PER_INDEX as u64;
        let file = Arc::new(file);
        let bytes = &file[..];
        let mut sections = Vec::new();
        let mut items_before = 0;
        let mut named = Vec::new();
        let mut targets = Vec::new();
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
            let (starts, counts) = match kind {
                SectionKind::Code => {
                    // Whichever bound is nearer stops the decoding, and names itself.
                    let by_count = (MAX_CODE_ITEMS - items_before) as u64;
                    let by_memory = item_room.saturating_sub(items_before as u64);
                    let (room, past) = match by_count <= by_memory {
                        true => (by_count, LoadErrorKind::TooManyItems),
                        false => (by_memory, LoadErrorKind::PastMemoryLimit(memory_limit)),
                    };
                    let mut scan = Scan { room: room as usize, past, named: &mut named, targets: &mut targets };
                    scan.code(&bytes[start..end], start as u64)?
                }
                _ => (ItemStarts::default(), ItemCounts::default()),
            };
            items_before += counts.instrs + counts.labels;
            let contents = SectionBytes { file: Arc::clone(&file), range: start..end };
            sections.push(Section { kind, start: start as u64, bytes: contents, starts, counts });
            at = end;
        }
        if !sections.iter().any(|s| s.kind == SectionKind::Code) {
            return fail(bytes.len() as u64, LoadErrorKind::NoCode);
        }
        let mut labels = HashMap::with_capacity(named.len());
        for (addr, name) in named {
            if labels.insert(name, addr).is_some() {
                return fail(addr, LoadErrorKind::DuplicateLabel(name.to_string()));
            }
        }
        let labels = labels.into_iter().map(|(name, addr)| (name.to_string(), addr)).collect();
        let exe = Executable { sections, labels };
        for (addr, target) in targets {
            if let Err(why) = exe.check_boundary(target) {
                let mnemonic = Instr::decode(&bytes[addr as usize..]).map_or("?", |i| i.opcode().mnemonic());
                return fail(addr, LoadErrorKind::BadTarget { mnemonic, target, why });
            }
        }
        Ok(exe)
    }

    /// Bytes this executable holds on the heap: the file, the code
    /// sections' boundary maps and the label names. A machine is built from
    /// it within the memory limit while it is held beside the machine's own
    /// copy.
    pub fn heap_bytes(&self) -> u64 {
        let file = self.sections.first().map_or(0, |s| s.bytes.file.capacity());
        let starts: usize =
            self.sections.iter().map(|s| (s.starts.instrs.capacity() + s.starts.labels.capacity()) * 8).sum();
        let names: usize = self.labels.keys().map(String::capacity).sum();
        let labels = self.labels.capacity() * (std::mem::size_of::<(String, u64)>() + 1);
        (file + starts + names + labels) as u64
    }

    /// `Ok` if `addr` is an instruction boundary or label header in a code
    /// section (or a code section's end, where execution would fall off);
    /// else why not.
    pub fn check_boundary(&self, addr: u64) -> Result<(), &'static str> {
        // Sections are in address order: the last one starting at or before `addr`.
        let i = self.sections.partition_point(|s| s.start <= addr);
        let section = i
            .checked_sub(1)
            .map(|i| &self.sections[i])
            .filter(|s| s.contains(addr) || (s.end() == addr && s.kind == SectionKind::Code));
        let Some(section) = section else {
            return Err("is not in any section");
        };
        if section.kind != SectionKind::Code {
            return Err("is not in a code section");
        }
        if addr == section.end() {
            return Err("is the end of a code section, not an instruction");
        }
        match section.starts_item(addr) {
            true => Ok(()),
            false => Err("is inside an instruction or label header, not on a boundary"),
        }
    }

    /// Every named label, with its address, in no particular order.
    pub fn labels(&self) -> impl Iterator<Item = (&str, u64)> {
        self.labels.iter().map(|(name, addr)| (name.as_str(), *addr))
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

/// The loader's pass over code sections: it validates every item and keeps
/// only what the checks after it need.
struct Scan<'s, 'f> {
    /// Items that may still be decoded; one more fails with `past`.
    room: usize,
    past: LoadErrorKind,
    /// Every named label: address and name, in file order.
    named: &'s mut Vec<(u64, &'f str)>,
    /// Every static target: the instruction's address and the target.
    targets: &'s mut Vec<(u64, u64)>,
}

impl<'f> Scan<'_, 'f> {
    /// Validates a code section's contents, which start at address `base`:
    /// the map of where its items start, and how many there are.
    fn code(&mut self, bytes: &'f [u8], base: u64) -> Result<(ItemStarts, ItemCounts), LoadError> {
        let mut starts = ItemStarts::new(bytes.len());
        // Room for as many targets as there can be (one per 9 bytes, a `jmp`):
        // reserved, not touched, so never copied as it would be grown by doubling.
        self.targets.reserve(bytes.len() / 9);
        let mut counts = ItemCounts::default();
        let mut at = 0usize;
        while at < bytes.len() {
            let addr = base + at as u64;
            if counts.instrs + counts.labels == self.room {
                return fail(addr, self.past.clone());
            }
            let left = (bytes.len() - at) as u64;
            match bytes[at] {
                0 => {
                    ItemStarts::set(&mut starts.labels, at);
                    counts.labels += 1;
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
                    self.named.push((addr, name));
                    ItemStarts::set(&mut starts.labels, at);
                    counts.labels += 1;
                    at += 9 + len as usize;
                }
                b @ 2..=9 => return fail(addr, LoadErrorKind::ReservedLabel(b)),
                b => {
                    // Validated without decoding: the operands of a known
                    // opcode are any bytes; only its length and target matter here.
                    let (len, target_at) = ENCODINGS[usize::from(b)];
                    let len = usize::from(len);
                    if len == 0 || len as u64 > left {
                        let Some(op) = Opcode::from_byte(b) else {
                            return fail(addr, LoadErrorKind::UnknownOpcode(b));
                        };
                        let kind =
                            LoadErrorKind::InstructionCut { mnemonic: op.mnemonic(), needed: len, available: left };
                        return fail(addr, kind);
                    }
                    // A vector instruction's operation (its last byte) must be one of its form.
                    if (Opcode::Vbin as u8..=Opcode::Vreplace as u8).contains(&b) {
                        let vector = Opcode::from_byte(b).and_then(|op| op.vector_form().map(|form| (op, form)));
                        if let Some((op, form)) = vector {
                            let byte = bytes[at + len - 1];
                            if let Err(why) = check_vop(form, byte) {
                                return fail(addr, LoadErrorKind::BadVectorOp { mnemonic: op.mnemonic(), byte, why });
                            }
                        }
                    }
                    if target_at > 0 {
                        let target = u64_at(bytes, at + usize::from(target_at)).unwrap_or(u64::MAX);
                        self.targets.push((addr, target));
                    }
                    ItemStarts::set(&mut starts.instrs, at);
                    counts.instrs += 1;
                    at += len;
                }
            }
        }
        Ok((starts, counts))
    }
}
