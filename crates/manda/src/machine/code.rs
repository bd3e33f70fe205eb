//! The executable's code, decoded once into the form the interpreter runs.
//!
//! Every instruction of every code section gets an **index**; the
//! interpreter's program counter is an index, so a jump is an array
//! access, never an address lookup. Static targets (jumps, branches,
//! calls) are resolved to indices here; label headers execute as nothing,
//! so a target on a label resolves to the instruction after it. After each
//! code section's last instruction sits an [`Op::End`] sentinel: running
//! into it traps instead of running into the next section.
//!
//! [`Op`] is expanded from the instruction table in `isa.rs`: one variant
//! per instruction, operands lowered (registers as numbers, targets as
//! indices), then the superinstructions. `ops` holds one [`Op`] per index,
//! where a hot pair is replaced by one superinstruction at the first index
//! (the second keeps its plain op, so a jump straight to it still works);
//! a single step runs the plain op, decoded again for the first index of a
//! pair ([`Code::plain_op`]). The system, context and port groups
//! ([`Op::is_system`]) are run from their [`Instr`], decoded again from the
//! executable's bytes ([`Code::instr`]), outside the interpreter's hot loop.
//!
//! Only what the loop needs per instruction is kept: an op and a run
//! length, 20 bytes. Addresses come from the loader's maps of where items
//! start (an index is a count of instructions before its address: see
//! `CodeSection`), and everything else is decoded from the bytes when it is
//! needed, so a large program starts in the time of one pass over it.
//!
//! `run_len[i]` is the number of instructions from `i` to the end of its
//! straight-line run (the next instruction that can transfer control,
//! inclusive). The interpreter charges the step budget a run at a time,
//! when control arrives at `i`, which keeps `--max-steps` exact without a
//! counter per instruction.

use crate::exe::{label_header_len, Executable, ItemStarts, SectionBytes, SectionKind};
use crate::isa::{for_each_op, Addr, Field, Group, Instr, Mem, Opcode, Operand, Reg, Target, VOp, VectorOp, F64};
use std::mem::MaybeUninit;

/// A register number: the index into the 256-entry register file.
pub type R = u8;

/// A memory operand in internal form: `[base + off]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct M {
    /// The base register.
    pub base: R,
    /// The signed byte offset.
    pub off: i32,
}

/// How an operand type of the instruction table is held in an [`Op`]:
/// registers as their number, addresses and f64 constants as their bits,
/// static targets as instruction indices.
pub trait Lower: Field {
    /// The internal form.
    type Out;
    /// Converts, resolving targets through `code`.
    fn lower(self, code: &Code) -> Self::Out;
    /// Marks the register this operand names, if it names one, in `used`.
    #[inline]
    fn note(self, used: &mut [bool; 256]) {
        match self.to_operand() {
            Operand::Reg(r) => used[usize::from(r.0)] = true,
            Operand::Mem(m) => used[usize::from(m.base.0)] = true,
            _ => {}
        }
    }
}

macro_rules! lower_as {
    ($($ty:ty => $out:ty, |$v:ident, $code:ident| $e:expr;)*) => {
        $(impl Lower for $ty {
            type Out = $out;
            #[inline]
            fn lower(self, $code: &Code) -> $out {
                let $v = self;
                let _ = $code;
                $e
            }
        })*
    };
}

lower_as! {
    Reg => R, |v, code| v.0;
    i32 => i32, |v, code| v;
    u32 => u32, |v, code| v;
    i64 => i64, |v, code| v;
    u8 => u8, |v, code| v;
    F64 => u64, |v, code| v.0;
    Addr => u64, |v, code| v.0;
    Target => u32, |v, code| code.target(v);
    Mem => M, |v, code| M { base: v.base.0, off: v.off };
    // The loader has refused every byte that names no operation of the
    // instruction's form (`check_vop`), so the fallback is never taken.
    VOp => VectorOp, |v, code| v.op().unwrap_or(VectorOp::V128And);
}

/// Expands the internal op set from the instruction table (`isa.rs`): one
/// [`Op`] variant per instruction with its operands lowered ([`Lower`]),
/// the lowering itself, and each op's group. The superinstructions follow
/// them in the enum; `fuse` makes them.
macro_rules! define_ops {
    ($(
        $variant:ident = $byte:literal, $mnemonic:literal, $group:ident, $kind:ident, ($($field:ident : $ty:ty),*),
            $semantics:literal, $traps:literal;
    )*) => {
        /// One instruction in internal form: each instruction of the table
        /// with its operands lowered, then the superinstructions.
        #[derive(Debug, Clone, Copy, PartialEq)]
        #[allow(missing_docs)] // each variant before `End` is the instruction of the same name in isa.rs
        pub enum Op {
            $($variant { $($field: <$ty as Lower>::Out),* },)*
            /// Past a code section's last instruction.
            End,

            // Superinstructions: the pair named, in order, as one dispatch.
            /// `addi r, r, imm` then `blt r, y, t`: the step and test of a counted loop.
            StepBlt { r: R, y: R, imm: i32, t: u32 },
            /// `addi r, r, imm` then `bltu r, y, t` (a pointer walking to an end).
            StepBltu { r: R, y: R, imm: i32, t: u32 },
            /// `add r, r, rb` then `bltu r, y, t`: a pointer stepping by a register.
            StepAddBltu { r: R, rb: R, y: R, t: u32 },
            /// `pop rd` then `ret`: a function's epilogue.
            PopRet { rd: R },
            /// `mov rd, rs` then `ret`: returning a value.
            MovRet { rd: R, rs: R },
            /// `fmul rd, ra, rb` then `fadd rd2, rc, rd`: an accumulating
            /// multiply-add, rounded twice like the pair. (Operand order is
            /// kept: with two NaNs it decides which payload comes out.)
            FmulFadd { rd: R, ra: R, rb: R, rd2: R, rc: R },
            /// `fmul rd, ra, rb` then `fsub rd2, rc, rd`: rc - ra × rb, rounded twice.
            FmulFsub { rd: R, ra: R, rb: R, rd2: R, rc: R },
            /// `ld64 rd, [base + off]` then `fmul rd2, ra, rd`.
            Ld64Fmul { rd: R, mem: M, rd2: R, ra: R },
            /// `addi rd, ra, imm` then `blt x, y, t`.
            AddiBlt { rd: R, ra: R, x: R, y: R, imm: i32, t: u32 },
            /// `addi rd, ra, imm` then `bltu x, y, t`.
            AddiBltu { rd: R, ra: R, x: R, y: R, imm: i32, t: u32 },
            /// `li rd, imm` then `blt x, y, t` (a compare with a small constant).
            LiBlt { rd: R, x: R, y: R, imm: i32, t: u32 },
            /// `li rd, imm` then `bge x, y, t`.
            LiBge { rd: R, x: R, y: R, imm: i32, t: u32 },
            /// `mov rd, rs` then `mov rd2, rs2`.
            Mov2 { rd: R, rs: R, rd2: R, rs2: R },
            /// `ld64 rd, [base + off]` then `fsub rd2, ra, rd`.
            Ld64Fsub { rd: R, mem: M, rd2: R, ra: R },
            /// `ld64 rd, [base + off]` then `fadd rd2, rd, rb`.
            Ld64Fadd { rd: R, mem: M, rd2: R, rb: R },
            /// `fmul rd, ra, rb` then `fmul rd2, rd, rc`: (ra × rb) × rc, two roundings.
            Fmul2 { rd: R, ra: R, rb: R, rd2: R, rc: R },
            /// `ld8u rd, [base + off]` then `add rd2, ra, rd`.
            Ld8uAdd { rd: R, mem: M, rd2: R, ra: R },
            /// `addi32 rd, ra, imm` then `hld64 rd2, rd, off`: a heap load at a computed index
            /// (what wasm's `i32.add` then `load` becomes).
            Addi32Hld64 { rd: R, ra: R, imm: i32, rd2: R, off: u32 },
            /// `addi32 rd, ra, imm` then `hld32s rd2, rd, off`.
            Addi32Hld32s { rd: R, ra: R, imm: i32, rd2: R, off: u32 },
            /// `addi32 rd, ra, imm` then `hld8u rd2, rd, off`.
            Addi32Hld8u { rd: R, ra: R, imm: i32, rd2: R, off: u32 },
            /// `addi32 rd, ra, imm` then `hst64 rs, rd, off` (rs ≠ rd).
            Addi32Hst64 { rd: R, ra: R, imm: i32, rs: R, off: u32 },
            /// `addi32 rd, ra, imm` then `hst32 rs, rd, off` (rs ≠ rd).
            Addi32Hst32 { rd: R, ra: R, imm: i32, rs: R, off: u32 },
            /// `addi32 rd, ra, imm` then `hst8 rs, rd, off` (rs ≠ rd).
            Addi32Hst8 { rd: R, ra: R, imm: i32, rs: R, off: u32 },
            /// `hld64 rd, ra, off` then `fsub rd2, rb, rd`.
            Hld64Fsub { rd: R, ra: R, off: u32, rd2: R, rb: R },
            /// `hld64 rd, ra, off` then `fadd rd2, rb, rd`.
            Hld64Fadd { rd: R, ra: R, off: u32, rd2: R, rb: R },
            /// `li rd, imm` then `bltu x, y, t`.
            LiBltu { rd: R, x: R, y: R, imm: i32, t: u32 },
            /// `li rd, imm` then `bgeu x, y, t`.
            LiBgeu { rd: R, x: R, y: R, imm: i32, t: u32 },
            /// `li rd, imm` then `beq x, y, t`.
            LiBeq { rd: R, x: R, y: R, imm: i32, t: u32 },
            /// `li rd, imm` then `bne x, y, t` (a translated `call_indirect`'s type check).
            LiBne { rd: R, x: R, y: R, imm: i32, t: u32 },
        }

        impl Op {
            /// The instruction-table group of a plain op (`None` for `End`
            /// and superinstructions).
            pub fn group(&self) -> Option<Group> {
                match self {
                    $(Op::$variant { .. } => Some(Group::$group),)*
                    _ => None,
                }
            }
        }

        impl Code {
            /// The internal form of one instruction.
            fn lower(&self, instr: Instr) -> Op {
                match instr {
                    $(Instr::$variant { $($field),* } => Op::$variant { $($field: Lower::lower($field, self)),* },)*
                }
            }

            /// Writes into `slot` the internal form of the instruction at the
            /// start of `bytes` (validated by the loader), decoded straight
            /// from its bytes, and returns its length; the registers it names
            /// are marked in `used`. The same as [`Instr::decode`] then
            /// [`lower`](Code::lower), in one step and with the op made in
            /// place: this is most of what a large program's start costs.
            #[allow(unused_assignments, unused_mut, unused_variables)] // the last field's advance
            fn lower_into(&self, bytes: &[u8], used: &mut [bool; 256], slot: &mut MaybeUninit<Op>) -> Option<usize> {
                let op = Opcode::from_byte(*bytes.first()?)?;
                let len = op.encoded_len();
                let body = bytes.get(1..len)?;
                let mut at = 0;
                let lowered = match op {
                    $(Opcode::$variant => Op::$variant { $($field: {
                        let v = <$ty as Field>::read_le(&body[at..]);
                        at += <$ty as Field>::KIND.size();
                        Lower::note(v, used);
                        Lower::lower(v, self)
                    }),* },)*
                };
                slot.write(lowered);
                Some(len)
            }
        }
    };
}

for_each_op!(define_ops);

// A dispatch loads one op: keep it two words.
const _: () = assert!(std::mem::size_of::<Op>() == 16);

impl Op {
    /// True for the system instructions, which the interpreter runs from
    /// their [`Instr`] outside its hot loop.
    pub fn is_system(&self) -> bool {
        self.group().is_some_and(Group::is_system)
    }
}

/// The bytes [`Code`] holds per index (an instruction or a section's
/// `End`): its op and its run length. What the loader charges the memory
/// limit for each item before the machine is built.
pub const BYTES_PER_INDEX: usize = std::mem::size_of::<Op>() + std::mem::size_of::<u32>();

/// The decoded code of an executable.
#[derive(Debug, Clone)]
pub struct Code {
    /// One op per index, superinstructions in place (unless
    /// [`without_fusion`](Code::without_fusion)): what the fast loop runs.
    pub ops: Vec<Op>,
    /// Steps from each index to the end of its run, inclusive.
    pub run_len: Vec<u32>,
    /// The code sections, in address order: what maps an address to its
    /// index and back.
    code: Vec<CodeSection>,
    /// The file's size when the code sections' bytes are ranges of it (kept
    /// whole), `None` when they are copies of their own.
    shared_file: Option<usize>,
    /// Named labels, sorted by address, for "nearest label" in messages.
    labels: Vec<(u64, String)>,
    /// Every section's content range and kind, for *bad jump* messages.
    sections: Vec<(u64, u64, SectionKind)>,
    /// Index of the entry point.
    pub entry: u32,
    /// The registers any instruction names, as one span per bank: all the
    /// interpreter's fast loop copies in and out of its frame.
    pub used_regs: Vec<std::ops::Range<usize>>,
    /// True if the code holds a `fork`: without one, a machine of one
    /// context can never run two at once.
    pub forks: bool,
}

/// One code section as the machine keeps it. An instruction's index is the
/// section's first index plus the number of instructions before it (its
/// *rank*); a label header's is the index of the instruction after it (the
/// same count). So the maps of where items start, with a running count per
/// 64 bytes, turn an address into an index in constant time, and an index
/// back into its address by a binary search — with no table of addresses.
#[derive(Debug, Clone)]
struct CodeSection {
    /// Address of the first content byte.
    start: u64,
    /// The contents, which an instruction is decoded from again when one is
    /// needed whole ([`Code::instr`]): the system instructions, single
    /// steps, traces and trap messages.
    bytes: SectionBytes,
    /// Index of the first instruction; the section's `End` is at `first + instrs`.
    first: u32,
    /// How many instructions it holds.
    instrs: u32,
    /// Where instructions and label headers start.
    starts: ItemStarts,
    /// Instructions starting before each word of `starts.instrs`.
    rank: Vec<u32>,
}

impl CodeSection {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Instructions of this section that start before offset `at`.
    fn rank(&self, at: u64) -> u32 {
        let (word, bit) = ((at / 64) as usize, at % 64);
        let below = self.starts.instrs.get(word).map_or(0, |w| (w & ((1u64 << bit) - 1)).count_ones());
        self.rank.get(word).map_or(self.instrs, |r| r + below)
    }

    /// The offset of the `k`-th instruction (`k < instrs`).
    fn select(&self, k: u32) -> u64 {
        // The last word with fewer than k + 1 instructions before it holds it.
        let word = self.rank.partition_point(|&r| r <= k) - 1;
        let mut bits = self.starts.instrs[word];
        for _ in 0..k - self.rank[word] {
            bits &= bits - 1; // clear the lowest set bit
        }
        word as u64 * 64 + u64::from(bits.trailing_zeros())
    }
}

impl Code {
    /// Decodes and lowers the code sections of a validated executable.
    pub fn new(exe: &Executable) -> Code {
        let mut code_sections = Vec::new();
        let mut first = 0u32;
        // A file that is mostly code is kept whole (no copy to make); one
        // that is mostly data (which the memory holds) gives copies of its
        // code, so the code never holds more than twice its own size.
        let code_len: usize = exe.sections.iter().filter(|s| s.kind == SectionKind::Code).map(|s| s.bytes.len()).sum();
        let file_len = exe.sections.first().map_or(0, |s| s.bytes.buffer_len());
        let shared_file = (code_len.saturating_mul(2) >= file_len).then_some(file_len);
        for s in exe.sections.iter().filter(|s| s.kind == SectionKind::Code) {
            let starts = s.starts().clone();
            let mut rank = Vec::with_capacity(starts.instrs.len());
            let mut before = 0u32;
            for word in &starts.instrs {
                rank.push(before);
                before += word.count_ones();
            }
            let bytes = if shared_file.is_some() { s.bytes.clone() } else { s.bytes.copied() };
            code_sections.push(CodeSection { start: s.start, bytes, first, instrs: before, starts, rank });
            first += before + 1;
        }
        let mut labels: Vec<(u64, String)> = exe.labels().map(|(name, addr)| (addr, name.to_string())).collect();
        labels.sort();
        let mut code = Code {
            ops: Vec::new(),
            run_len: Vec::new(),
            code: code_sections,
            shared_file,
            labels,
            sections: exe.sections.iter().map(|s| (s.start, s.end(), s.kind)).collect(),
            entry: 0,
            used_regs: Vec::new(),
            forks: false,
        };
        // Sized exactly, once: grown by doubling, a large program's tables would hold
        // up to twice what they need.
        let (mut ops, used_regs) = code.lower_all(first as usize);
        code.used_regs = used_regs;
        (code.run_len, code.forks) = run_lengths(&ops);
        fuse(&mut ops);
        code.ops = ops;
        code.entry = code.index_of(exe.entry()).unwrap_or(0);
        code
    }

    /// Every index's op (superinstructions not yet made), and the spans of
    /// registers the instructions name. A large program's instructions are
    /// lowered in two halves on two threads, each writing its own part of the
    /// one array: this pass is most of its start.
    fn lower_all(&self, total: usize) -> (Vec<Op>, Vec<std::ops::Range<usize>>) {
        /// Below this many indices a second thread costs more than it saves.
        const PARALLEL_FROM: usize = 1 << 16;
        let mut ops: Vec<Op> = Vec::with_capacity(total);
        let mut used = [false; 256];
        let out = &mut ops.spare_capacity_mut()[..total];
        let mid = if total >= PARALLEL_FROM { total / 2 } else { total };
        let (front, back) = out.split_at_mut(mid);
        let section = self.code.partition_point(|c| c.first as usize <= mid).saturating_sub(1);
        let at = match self.section_of_index(mid) {
            Some((c, k)) if k < c.instrs => c.select(k) as usize,
            Some((c, _)) => c.bytes.len(),
            None => 0,
        };
        let mut back_used = [false; 256];
        std::thread::scope(|scope| {
            let back_half =
                (!back.is_empty()).then(|| scope.spawn(|| self.lower_run(section, at, back, &mut back_used)));
            self.lower_run(0, 0, front, &mut used);
            if let Some(half) = back_half {
                // A panic there (a bug) is this thread's panic.
                if let Err(panic) = half.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
        // SAFETY: `lower_run` wrote every slot of both halves, which are the
        // first `total` slots of the capacity.
        unsafe { ops.set_len(total) };
        for (u, b) in used.iter_mut().zip(back_used) {
            *u |= b;
        }
        (ops, used_spans(&used))
    }

    /// Lowers the instructions from byte `at` of code section `section` on
    /// into `out`, a section's `End` after its last, until every slot of
    /// `out` is written.
    fn lower_run(&self, mut section: usize, mut at: usize, out: &mut [MaybeUninit<Op>], used: &mut [bool; 256]) {
        let mut n = 0;
        while n < out.len() {
            let Some(bytes) = self.code.get(section).map(|c| &c.bytes[..]) else { break };
            match bytes.get(at) {
                None => {
                    out[n].write(Op::End);
                    n += 1;
                    (section, at) = (section + 1, 0);
                }
                Some(0 | 1) => at = at.saturating_add(label_header_len(&bytes[at..]).unwrap_or(usize::MAX)),
                // The loader validated these bytes: what cannot decode ends the section.
                Some(_) => match self.lower_into(&bytes[at..], used, &mut out[n]) {
                    Some(len) => (n, at) = (n + 1, at + len),
                    None => at = bytes.len(),
                },
            }
        }
        // Never short of slots for a validated executable; were it, the rest trap as `End`.
        for slot in &mut out[n..] {
            slot.write(Op::End);
        }
    }

    /// What [`Code::new`] will hold for `exe`'s code, but its label names,
    /// computed before it allocates anything: so a program whose decoded code
    /// passes the memory limit is refused before the host holds it.
    pub fn bytes_for(exe: &Executable) -> u64 {
        let held = exe.sections.iter().filter(|s| s.kind == SectionKind::Code).map(|s| {
            let words = s.bytes.len().div_ceil(64);
            // The code's bytes count as a copy: kept whole, the file is counted in `exe`.
            (s.counts().instrs + 1) * BYTES_PER_INDEX + s.bytes.len() + words * (8 + 8 + 4)
        });
        held.sum::<usize>() as u64
    }

    /// The bytes this decoded code holds on the host: what the memory limit
    /// charges for it (a large translated module's code can be tens of
    /// megabytes).
    pub fn heap_bytes(&self) -> u64 {
        fn held<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        let names: usize = self.labels.iter().map(|(_, name)| name.capacity()).sum();
        let sections: usize = self
            .code
            .iter()
            .map(|c| {
                let bytes = if self.shared_file.is_some() { 0 } else { c.bytes.len() };
                bytes + held(&c.starts.instrs) + held(&c.starts.labels) + held(&c.rank)
            })
            .sum();
        (held(&self.ops)
            + held(&self.run_len)
            + held(&self.code)
            + sections
            + held(&self.labels)
            + names
            + held(&self.sections)
            + self.shared_file.unwrap_or(0)) as u64
    }

    /// The code section holding `index`, and the instruction's place in it
    /// (`instrs` for its `End`).
    fn section_of_index(&self, index: usize) -> Option<(&CodeSection, u32)> {
        let i = self.code.partition_point(|c| c.first as usize <= index).checked_sub(1)?;
        let section = &self.code[i];
        let k = u32::try_from(index).ok()? - section.first;
        (k <= section.instrs).then_some((section, k))
    }

    /// The address of `index`: its instruction's, or for a section's `End`
    /// the section's end.
    pub fn addr_of(&self, index: usize) -> u64 {
        match self.section_of_index(index) {
            Some((section, k)) if k < section.instrs => section.start + section.select(k),
            Some((section, _)) => section.end(),
            None => 0,
        }
    }

    /// The instruction at `index` (`None` for a section's `End`).
    pub fn instr(&self, index: usize) -> Option<Instr> {
        let (section, k) = self.section_of_index(index)?;
        if k >= section.instrs {
            return None; // the section's `End`
        }
        let at = usize::try_from(section.select(k)).ok()?;
        Instr::decode(section.bytes.get(at..)?).ok()
    }

    /// True if `index` holds an instruction (not a section's `End`).
    pub fn is_instr(&self, index: usize) -> bool {
        self.ops.get(index).is_some_and(|op| !matches!(op, Op::End))
    }

    /// The plain op at `index`: the op itself, or for a superinstruction the
    /// first instruction of its pair (what a single step runs).
    #[inline]
    pub fn plain_op(&self, index: usize) -> Op {
        let op = self.ops[index];
        match op.group().is_some() || matches!(op, Op::End) {
            true => op,
            false => self.instr(index).map_or(Op::End, |i| self.lower(i)),
        }
    }

    /// The same code with every superinstruction replaced by its plain op.
    pub fn without_fusion(&self) -> Code {
        let mut code = self.clone();
        code.ops = (0..self.ops.len()).map(|i| self.plain_op(i)).collect();
        code
    }

    /// The index of the instruction at (or, for a label, after) `addr`, if
    /// it is an instruction boundary or label header in code.
    pub fn index_of(&self, addr: u64) -> Option<u32> {
        let (section, at) = self.section_at(addr)?;
        section.starts.starts_item(at).then(|| section.first + section.rank(at))
    }

    /// The index of the instruction that starts exactly at `addr` (not a
    /// label header's, nor a section's end): where a saved pc or return
    /// address may point.
    pub fn instr_index(&self, addr: u64) -> Option<u32> {
        let (section, at) = self.section_at(addr)?;
        ItemStarts::get(&section.starts.instrs, at).then(|| section.first + section.rank(at))
    }

    /// The last code section starting at or before `addr`, and `addr`'s
    /// offset from its start (which may be past its end: no item starts there).
    fn section_at(&self, addr: u64) -> Option<(&CodeSection, u64)> {
        let section = &self.code[self.code.partition_point(|c| c.start <= addr).checked_sub(1)?];
        Some((section, addr - section.start))
    }

    /// Why `addr` is not a jump target, for a *bad jump* trap.
    pub fn why_not_target(&self, addr: u64) -> &'static str {
        match self.sections.iter().find(|(start, end, _)| (*start..*end).contains(&addr)) {
            Some((_, _, SectionKind::Code)) => "is inside an instruction or label header, not on a boundary",
            Some((_, _, SectionKind::Data)) => "is in a data section, which is not executable",
            Some((_, _, SectionKind::Rodata)) => "is in a rodata section, which is not executable",
            None => "is not in any code section",
        }
    }

    /// The nearest named label at or before `addr`, and the distance.
    pub fn label_near(&self, addr: u64) -> Option<(String, u64)> {
        let i = self.labels.partition_point(|(a, _)| *a <= addr);
        let (at, name) = self.labels.get(i.checked_sub(1)?)?;
        Some((name.clone(), addr - at))
    }

    fn target(&self, t: Target) -> u32 {
        // The loader checked every static target; an unchecked one would be a bug here.
        self.index_of(t.0).expect("static targets are checked by the loader")
    }
}

/// One span per bank (a, s, v, t) covering every register in `used`.
fn used_spans(used: &[bool; 256]) -> Vec<std::ops::Range<usize>> {
    (0..4)
        .filter_map(|bank| {
            let regs = bank * 64..bank * 64 + 64;
            let first = regs.clone().find(|&r| used[r])?;
            let last = regs.rev().find(|&r| used[r])?;
            Some(first..last + 1)
        })
        .collect()
}

/// True for an op after which control may not simply go to the next index:
/// the control-flow group of the table, `halt` (the context ends) and `End`.
fn ends_run(op: &Op) -> bool {
    op.group().is_some_and(Group::transfers_control) || matches!(op, Op::Halt {} | Op::End)
}

/// Each index's run length, and whether any op is a `fork` (one pass for both).
fn run_lengths(plain: &[Op]) -> (Vec<u32>, bool) {
    let mut run_len = vec![0u32; plain.len()];
    let mut next = 0u32;
    let mut forks = false;
    for (i, op) in plain.iter().enumerate().rev() {
        next = if ends_run(op) { 1 } else { next + 1 };
        run_len[i] = next;
        forks |= matches!(op, Op::Fork { .. });
    }
    (run_len, forks)
}

/// Replaces hot pairs by superinstructions: shapes a simple compiler emits
/// in many programs (the step and test of a counted loop, a compare with a
/// constant, argument shuffles, function epilogues, a load feeding its
/// use, multiply-add), never one program's loop; docs/performance.md lists
/// the programs of the corpus each fires in. The second op of a pair is never the target of a fused op itself: pairs are
/// taken greedily left to right. A fused op whose first half traps stops
/// at the first index with nothing done; if its second half traps, the
/// first half's effect stands and the trap is at the second index — the
/// same as the plain code.
fn fuse(ops: &mut [Op]) {
    let mut i = 0;
    while i + 1 < ops.len() {
        i += 1;
        // The pair is read before its first op is replaced; the next pair starts past it.
        let op = match (ops[i - 1], ops[i]) {
            (Op::Addi { rd, ra, imm }, Op::Blt { ra: x, rb: y, target: t }) if rd == ra && x == rd => {
                Op::StepBlt { r: rd, y, imm, t }
            }
            (Op::Addi { rd, ra, imm }, Op::Bltu { ra: x, rb: y, target: t }) if rd == ra && x == rd => {
                Op::StepBltu { r: rd, y, imm, t }
            }
            (Op::Addi { rd, ra, imm }, Op::Blt { ra: x, rb: y, target: t }) => Op::AddiBlt { rd, ra, x, y, imm, t },
            (Op::Addi { rd, ra, imm }, Op::Bltu { ra: x, rb: y, target: t }) => Op::AddiBltu { rd, ra, x, y, imm, t },
            (Op::Add { rd, ra, rb }, Op::Bltu { ra: x, rb: y, target: t }) if rd == ra && x == rd && rb != rd => {
                Op::StepAddBltu { r: rd, rb, y, t }
            }
            (Op::Pop { rd }, Op::Ret {}) => Op::PopRet { rd },
            (Op::Mov { rd, rs }, Op::Ret {}) => Op::MovRet { rd, rs },
            (Op::Fmul { rd, ra, rb }, Op::Fadd { rd: rd2, ra: rc, rb: y }) if y == rd && rc != rd => {
                Op::FmulFadd { rd, ra, rb, rd2, rc }
            }
            (Op::Fmul { rd, ra, rb }, Op::Fsub { rd: rd2, ra: rc, rb: y }) if y == rd && rc != rd => {
                Op::FmulFsub { rd, ra, rb, rd2, rc }
            }
            (Op::Ld64 { rd, mem }, Op::Fmul { rd: rd2, ra, rb }) if rb == rd && ra != rd => {
                Op::Ld64Fmul { rd, mem, rd2, ra }
            }
            (Op::Li { rd, imm }, Op::Blt { ra: x, rb: y, target: t }) if i32::try_from(imm).is_ok() => {
                Op::LiBlt { rd, x, y, imm: imm as i32, t }
            }
            (Op::Li { rd, imm }, Op::Bge { ra: x, rb: y, target: t }) if i32::try_from(imm).is_ok() => {
                Op::LiBge { rd, x, y, imm: imm as i32, t }
            }
            (Op::Mov { rd, rs }, Op::Mov { rd: rd2, rs: rs2 }) => Op::Mov2 { rd, rs, rd2, rs2 },
            (Op::Ld64 { rd, mem }, Op::Fsub { rd: rd2, ra, rb }) if rb == rd => Op::Ld64Fsub { rd, mem, rd2, ra },
            (Op::Ld64 { rd, mem }, Op::Fadd { rd: rd2, ra, rb }) if ra == rd => Op::Ld64Fadd { rd, mem, rd2, rb },
            (Op::Fmul { rd, ra, rb }, Op::Fmul { rd: rd2, ra: x, rb: rc }) if x == rd => {
                Op::Fmul2 { rd, ra, rb, rd2, rc }
            }
            (Op::Ld8u { rd, mem }, Op::Add { rd: rd2, ra, rb }) if rb == rd => Op::Ld8uAdd { rd, mem, rd2, ra },
            (Op::Addi32 { rd, ra, imm }, Op::Hld64 { rd: rd2, ra: x, off }) if x == rd => {
                Op::Addi32Hld64 { rd, ra, imm, rd2, off }
            }
            (Op::Addi32 { rd, ra, imm }, Op::Hld32s { rd: rd2, ra: x, off }) if x == rd => {
                Op::Addi32Hld32s { rd, ra, imm, rd2, off }
            }
            (Op::Addi32 { rd, ra, imm }, Op::Hld8u { rd: rd2, ra: x, off }) if x == rd => {
                Op::Addi32Hld8u { rd, ra, imm, rd2, off }
            }
            (Op::Addi32 { rd, ra, imm }, Op::Hst64 { rs, ra: x, off }) if x == rd && rs != rd => {
                Op::Addi32Hst64 { rd, ra, imm, rs, off }
            }
            (Op::Addi32 { rd, ra, imm }, Op::Hst32 { rs, ra: x, off }) if x == rd && rs != rd => {
                Op::Addi32Hst32 { rd, ra, imm, rs, off }
            }
            (Op::Addi32 { rd, ra, imm }, Op::Hst8 { rs, ra: x, off }) if x == rd && rs != rd => {
                Op::Addi32Hst8 { rd, ra, imm, rs, off }
            }
            (Op::Hld64 { rd, ra, off }, Op::Fsub { rd: rd2, ra: rb, rb: y }) if y == rd => {
                Op::Hld64Fsub { rd, ra, off, rd2, rb }
            }
            (Op::Hld64 { rd, ra, off }, Op::Fadd { rd: rd2, ra: rb, rb: y }) if y == rd => {
                Op::Hld64Fadd { rd, ra, off, rd2, rb }
            }
            (Op::Li { rd, imm }, Op::Bltu { ra: x, rb: y, target: t }) if i32::try_from(imm).is_ok() => {
                Op::LiBltu { rd, x, y, imm: imm as i32, t }
            }
            (Op::Li { rd, imm }, Op::Bgeu { ra: x, rb: y, target: t }) if i32::try_from(imm).is_ok() => {
                Op::LiBgeu { rd, x, y, imm: imm as i32, t }
            }
            (Op::Li { rd, imm }, Op::Beq { ra: x, rb: y, target: t }) if i32::try_from(imm).is_ok() => {
                Op::LiBeq { rd, x, y, imm: imm as i32, t }
            }
            (Op::Li { rd, imm }, Op::Bne { ra: x, rb: y, target: t }) if i32::try_from(imm).is_ok() => {
                Op::LiBne { rd, x, y, imm: imm as i32, t }
            }
            _ => continue,
        };
        ops[i - 1] = op;
        i += 1; // the second op is part of this pair
    }
}
