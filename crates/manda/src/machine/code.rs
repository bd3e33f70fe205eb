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
//! Only what the loop needs per instruction is kept: an op, a run length
//! and an address, 28 bytes. Everything else is decoded from the bytes when
//! it is needed, so a large program starts in the time of one pass over it.
//!
//! `run_len[i]` is the number of instructions from `i` to the end of its
//! straight-line run (the next instruction that can transfer control,
//! inclusive). The interpreter charges the step budget a run at a time,
//! when control arrives at `i`, which keeps `--max-steps` exact without a
//! counter per instruction.

use crate::exe::{Executable, Item, SectionKind};
use crate::isa::{for_each_op, Addr, Group, Instr, Mem, Reg, Target, F64};

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
pub trait Lower {
    /// The internal form.
    type Out;
    /// Converts, resolving targets through `code`.
    fn lower(self, code: &Code) -> Self::Out;
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
/// `End`): its op, its run length and its address. What the loader charges
/// the memory limit for each item before the machine is built.
pub const BYTES_PER_INDEX: usize = std::mem::size_of::<Op>() + std::mem::size_of::<u32>() + std::mem::size_of::<u64>();

/// The decoded code of an executable.
#[derive(Debug, Clone)]
pub struct Code {
    /// One op per index, superinstructions in place (unless
    /// [`without_fusion`](Code::without_fusion)): what the fast loop runs.
    pub ops: Vec<Op>,
    /// Steps from each index to the end of its run, inclusive.
    pub run_len: Vec<u32>,
    /// Address of each index (for `End`: the section's end).
    pub addrs: Vec<u64>,
    /// Every label header's address with the index it resolves to (the
    /// instruction after it), in address order.
    label_targets: Vec<(u64, u32)>,
    /// Named labels, sorted by address, for "nearest label" in messages.
    labels: Vec<(u64, String)>,
    /// Every section's content range and kind, for *bad jump* messages.
    sections: Vec<(u64, u64, SectionKind)>,
    /// The code sections' bytes, one after another, which an instruction is
    /// decoded from again when one is needed whole ([`Code::instr`]): the
    /// system instructions, single steps, traces and trap messages. Keeping
    /// them costs a byte per byte; keeping every decoded instruction cost 24
    /// per instruction.
    bytes: Vec<u8>,
    /// Each code section's start address and where its bytes begin in `bytes`.
    code_starts: Vec<(u64, usize)>,
    /// Index of the entry point.
    pub entry: u32,
    /// The registers any instruction names, as one span per bank: all the
    /// interpreter's fast loop copies in and out of its frame.
    pub used_regs: Vec<std::ops::Range<usize>>,
}

impl Code {
    /// Decodes and lowers the code sections of a validated executable.
    pub fn new(exe: &Executable) -> Code {
        let code_sections = || exe.sections.iter().filter(|s| s.kind == SectionKind::Code);
        // Sized exactly, once: grown by doubling, a large program's tables would hold
        // up to twice what they need.
        let indices: usize = code_sections().map(|s| s.counts().instrs + 1).sum();
        let label_count: usize = code_sections().map(|s| s.counts().labels).sum();
        let mut addrs = Vec::with_capacity(indices);
        let mut label_targets = Vec::with_capacity(label_count);
        let mut labels = Vec::new();
        // First every index's address (static targets may point forward), then the ops.
        for section in code_sections() {
            for item in section.items() {
                match item {
                    Item::Label { addr, name } => {
                        label_targets.push((addr, addrs.len() as u32));
                        if let Some(name) = name {
                            labels.push((addr, name.to_string()));
                        }
                    }
                    Item::Instr { addr, .. } => addrs.push(addr),
                }
            }
            addrs.push(section.end());
        }
        labels.sort();
        let mut code = Code {
            ops: Vec::new(),
            run_len: Vec::new(),
            addrs,
            label_targets,
            labels,
            sections: exe.sections.iter().map(|s| (s.start, s.end(), s.kind)).collect(),
            bytes: code_sections().flat_map(|s| s.bytes.iter().copied()).collect(),
            code_starts: code_sections()
                .scan(0, |at, s| {
                    let start = (s.start, *at);
                    *at += s.bytes.len();
                    Some(start)
                })
                .collect(),
            entry: 0,
            used_regs: Vec::new(),
        };
        let mut ops = Vec::with_capacity(indices);
        let mut used = [false; 256];
        for section in code_sections() {
            for item in section.items() {
                let Item::Instr { instr, .. } = item else { continue };
                instr.map_regs(&mut |r| {
                    used[usize::from(r.0)] = true;
                    r
                });
                ops.push(code.lower(instr));
            }
            ops.push(Op::End);
        }
        code.run_len = run_lengths(&ops);
        fuse(&mut ops);
        code.ops = ops;
        code.entry = code.index_of(exe.entry()).unwrap_or(0);
        code.used_regs = used_spans(&used);
        code
    }

    /// What [`Code::new`] will hold for `exe`'s code, but its label names,
    /// computed before it allocates
    /// anything: so a program whose decoded code passes the memory limit is
    /// refused before the host holds it.
    pub fn bytes_for(exe: &Executable) -> u64 {
        let code = exe.sections.iter().filter(|s| s.kind == SectionKind::Code);
        let (indices, labels) = code.fold((0, 0), |(i, l), s| (i + s.counts().instrs + 1, l + s.counts().labels));
        let bytes: usize = exe.sections.iter().filter(|s| s.kind == SectionKind::Code).map(|s| s.bytes.len()).sum();
        (indices * BYTES_PER_INDEX + labels * std::mem::size_of::<(u64, u32)>() + bytes) as u64
    }

    /// The bytes this decoded code holds on the host: what the memory limit
    /// charges for it (a large translated module's code can be tens of
    /// megabytes).
    pub fn heap_bytes(&self) -> u64 {
        fn held<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        let names: usize = self.labels.iter().map(|(_, name)| name.capacity()).sum();
        (held(&self.ops)
            + held(&self.run_len)
            + held(&self.addrs)
            + held(&self.label_targets)
            + held(&self.labels)
            + names
            + held(&self.sections)
            + held(&self.bytes)
            + held(&self.code_starts)) as u64
    }

    /// The instruction at `index` (`None` for a section's `End`).
    pub fn instr(&self, index: usize) -> Option<Instr> {
        if matches!(self.ops.get(index)?, Op::End) {
            return None;
        }
        let addr = self.addrs[index];
        let section = self.code_starts.partition_point(|&(start, _)| start <= addr).checked_sub(1)?;
        let (start, offset) = self.code_starts[section];
        let at = offset.checked_add(usize::try_from(addr - start).ok()?)?;
        Instr::decode(self.bytes.get(at..)?).ok()
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
        self.resolve(addr).filter(|&i| self.is_instr(i as usize) || self.addrs[i as usize] != addr)
    }

    /// [`index_of`](Code::index_of) without telling a section's end (the
    /// address of its `End`) from an instruction: for static targets, which
    /// the loader checked, while the ops are being made.
    fn resolve(&self, addr: u64) -> Option<u32> {
        match self.addrs.binary_search(&addr) {
            Ok(i) => Some(i as u32),
            Err(_) => {
                let i = self.label_targets.binary_search_by_key(&addr, |t| t.0).ok()?;
                Some(self.label_targets[i].1)
            }
        }
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
        self.resolve(t.0).expect("static targets are checked by the loader")
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

fn run_lengths(plain: &[Op]) -> Vec<u32> {
    let mut run_len = vec![0u32; plain.len()];
    let mut next = 0u32;
    for (i, op) in plain.iter().enumerate().rev() {
        next = if ends_run(op) { 1 } else { next + 1 };
        run_len[i] = next;
    }
    run_len
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
            _ => continue,
        };
        ops[i - 1] = op;
        i += 1; // the second op is part of this pair
    }
}
