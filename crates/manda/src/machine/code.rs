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
//! Two op arrays share the indices: `plain`, one [`Op`] per instruction,
//! and `fused`, where a hot pair is replaced by one superinstruction at
//! the first index (the second keeps its plain op, so a jump straight to
//! it still works). Instructions outside the hot set — system calls and
//! ports — are [`Op::Slow`]: the interpreter runs them from their
//! [`Instr`] in `instrs`.
//!
//! `run_len[i]` is the number of instructions from `i` to the end of its
//! straight-line run (the next instruction that can transfer control,
//! inclusive). The interpreter charges the step budget a run at a time,
//! when control arrives at `i`, which keeps `--max-steps` exact without a
//! counter per instruction.

use crate::exe::{Executable, Item, SectionKind};
use crate::isa::{Instr, Target};

/// A register number: the index into the 256-entry register file.
pub type R = u8;

/// One instruction in internal form. Targets are instruction indices.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)] // each variant is the instruction of the same name in isa.rs
pub enum Op {
    Nop,
    Mov {
        rd: R,
        rs: R,
    },
    /// `li`, `la` and `fli`: a 64-bit constant.
    Li {
        rd: R,
        imm: u64,
    },
    Add {
        rd: R,
        ra: R,
        rb: R,
    },
    Sub {
        rd: R,
        ra: R,
        rb: R,
    },
    Mul {
        rd: R,
        ra: R,
        rb: R,
    },
    Mulh {
        rd: R,
        ra: R,
        rb: R,
    },
    Mulhu {
        rd: R,
        ra: R,
        rb: R,
    },
    Div {
        rd: R,
        ra: R,
        rb: R,
    },
    Divu {
        rd: R,
        ra: R,
        rb: R,
    },
    Rem {
        rd: R,
        ra: R,
        rb: R,
    },
    Remu {
        rd: R,
        ra: R,
        rb: R,
    },
    And {
        rd: R,
        ra: R,
        rb: R,
    },
    Or {
        rd: R,
        ra: R,
        rb: R,
    },
    Xor {
        rd: R,
        ra: R,
        rb: R,
    },
    Shl {
        rd: R,
        ra: R,
        rb: R,
    },
    Shr {
        rd: R,
        ra: R,
        rb: R,
    },
    Sar {
        rd: R,
        ra: R,
        rb: R,
    },
    Addi {
        rd: R,
        ra: R,
        imm: i32,
    },
    Muli {
        rd: R,
        ra: R,
        imm: i32,
    },
    Andi {
        rd: R,
        ra: R,
        imm: i32,
    },
    Ori {
        rd: R,
        ra: R,
        imm: i32,
    },
    Xori {
        rd: R,
        ra: R,
        imm: i32,
    },
    Shli {
        rd: R,
        ra: R,
        imm: i32,
    },
    Shri {
        rd: R,
        ra: R,
        imm: i32,
    },
    Sari {
        rd: R,
        ra: R,
        imm: i32,
    },
    Neg {
        rd: R,
        rs: R,
    },
    Not {
        rd: R,
        rs: R,
    },
    Seq {
        rd: R,
        ra: R,
        rb: R,
    },
    Sne {
        rd: R,
        ra: R,
        rb: R,
    },
    Slt {
        rd: R,
        ra: R,
        rb: R,
    },
    Sle {
        rd: R,
        ra: R,
        rb: R,
    },
    Sltu {
        rd: R,
        ra: R,
        rb: R,
    },
    Sleu {
        rd: R,
        ra: R,
        rb: R,
    },
    Slti {
        rd: R,
        ra: R,
        imm: i32,
    },
    Sext8 {
        rd: R,
        rs: R,
    },
    Sext16 {
        rd: R,
        rs: R,
    },
    Sext32 {
        rd: R,
        rs: R,
    },
    Zext8 {
        rd: R,
        rs: R,
    },
    Zext16 {
        rd: R,
        rs: R,
    },
    Zext32 {
        rd: R,
        rs: R,
    },
    Fadd {
        rd: R,
        ra: R,
        rb: R,
    },
    Fsub {
        rd: R,
        ra: R,
        rb: R,
    },
    Fmul {
        rd: R,
        ra: R,
        rb: R,
    },
    Fdiv {
        rd: R,
        ra: R,
        rb: R,
    },
    Fmin {
        rd: R,
        ra: R,
        rb: R,
    },
    Fmax {
        rd: R,
        ra: R,
        rb: R,
    },
    Fsqrt {
        rd: R,
        rs: R,
    },
    Fneg {
        rd: R,
        rs: R,
    },
    Fabs {
        rd: R,
        rs: R,
    },
    Feq {
        rd: R,
        ra: R,
        rb: R,
    },
    Flt {
        rd: R,
        ra: R,
        rb: R,
    },
    Fle {
        rd: R,
        ra: R,
        rb: R,
    },
    Itof {
        rd: R,
        rs: R,
    },
    Utof {
        rd: R,
        rs: R,
    },
    Ftoi {
        rd: R,
        rs: R,
    },
    Ld8s {
        rd: R,
        base: R,
        off: i32,
    },
    Ld8u {
        rd: R,
        base: R,
        off: i32,
    },
    Ld16s {
        rd: R,
        base: R,
        off: i32,
    },
    Ld16u {
        rd: R,
        base: R,
        off: i32,
    },
    Ld32s {
        rd: R,
        base: R,
        off: i32,
    },
    Ld32u {
        rd: R,
        base: R,
        off: i32,
    },
    Ld64 {
        rd: R,
        base: R,
        off: i32,
    },
    St8 {
        rs: R,
        base: R,
        off: i32,
    },
    St16 {
        rs: R,
        base: R,
        off: i32,
    },
    St32 {
        rs: R,
        base: R,
        off: i32,
    },
    St64 {
        rs: R,
        base: R,
        off: i32,
    },
    Push {
        rs: R,
    },
    Pop {
        rd: R,
    },
    Salloc {
        size: u32,
    },
    Sfree {
        size: u32,
    },
    Ldsp {
        rd: R,
        off: i32,
    },
    Stsp {
        rs: R,
        off: i32,
    },
    Getsp {
        rd: R,
    },
    Jmp {
        t: u32,
    },
    Jr {
        rs: R,
    },
    Beq {
        ra: R,
        rb: R,
        t: u32,
    },
    Bne {
        ra: R,
        rb: R,
        t: u32,
    },
    Blt {
        ra: R,
        rb: R,
        t: u32,
    },
    Bge {
        ra: R,
        rb: R,
        t: u32,
    },
    Bltu {
        ra: R,
        rb: R,
        t: u32,
    },
    Bgeu {
        ra: R,
        rb: R,
        t: u32,
    },
    Beqz {
        rs: R,
        t: u32,
    },
    Bnez {
        rs: R,
        t: u32,
    },
    Call {
        t: u32,
    },
    Callr {
        rs: R,
    },
    Ret,
    Halt,
    /// Everything else (system instructions, ports): run from `instrs`.
    Slow,
    /// Past a code section's last instruction.
    End,

    // Superinstructions: the pair named, in order, as one dispatch.
    /// `addi rd, ra, imm` then `blt x, y, t`.
    AddiBlt {
        rd: R,
        ra: R,
        x: R,
        y: R,
        imm: i32,
        t: u32,
    },
    /// `addi rd, ra, imm` then `bltu x, y, t`.
    AddiBltu {
        rd: R,
        ra: R,
        x: R,
        y: R,
        imm: i32,
        t: u32,
    },
    /// `addi rd, ra, imm` then `bne x, y, t`.
    AddiBne {
        rd: R,
        ra: R,
        x: R,
        y: R,
        imm: i32,
        t: u32,
    },
    /// `add rd, ra, rb` then `bltu x, y, t`.
    AddBltu {
        rd: R,
        ra: R,
        rb: R,
        x: R,
        y: R,
        t: u32,
    },
    /// `add rd, ra, rb` then `blt x, y, t`.
    AddBlt {
        rd: R,
        ra: R,
        rb: R,
        x: R,
        y: R,
        t: u32,
    },
    /// `li rd, imm` then `blt x, y, t` (a compare with a small constant).
    LiBlt {
        rd: R,
        x: R,
        y: R,
        imm: i32,
        t: u32,
    },
    /// `li rd, imm` then `bge x, y, t`.
    LiBge {
        rd: R,
        x: R,
        y: R,
        imm: i32,
        t: u32,
    },
    /// `mov rd, rs` then `mov rd2, rs2`.
    Mov2 {
        rd: R,
        rs: R,
        rd2: R,
        rs2: R,
    },
    /// `ld64 rd, [base + off]` then `fsub rd2, ra, rd`.
    Ld64Fsub {
        rd: R,
        base: R,
        off: i32,
        rd2: R,
        ra: R,
    },
    /// `ld64 rd, [base + off]` then `fadd rd2, rd, rb`.
    Ld64Fadd {
        rd: R,
        base: R,
        off: i32,
        rd2: R,
        rb: R,
    },
    /// `fmul rd, ra, rb` then `fmul rd2, rd, rc`: (ra × rb) × rc, two roundings.
    Fmul2 {
        rd: R,
        ra: R,
        rb: R,
        rd2: R,
        rc: R,
    },
    /// `ld8u rd, [base + off]` then `add rd2, ra, rd`.
    Ld8uAdd {
        rd: R,
        base: R,
        off: i32,
        rd2: R,
        ra: R,
    },
}

/// The decoded code of an executable.
#[derive(Debug, Clone)]
pub struct Code {
    /// One op per index, no superinstructions: what single-stepping runs.
    pub plain: Vec<Op>,
    /// The same with superinstructions: what the fast loop runs.
    pub fused: Vec<Op>,
    /// Steps from each index to the end of its run, inclusive.
    pub run_len: Vec<u32>,
    /// Address of each index (for `End`: the section's end).
    pub addrs: Vec<u64>,
    /// The instruction at each index (`None` for `End`).
    pub instrs: Vec<Option<Instr>>,
    /// Every jump-able address (instructions and label headers), sorted, with its index.
    targets: Vec<(u64, u32)>,
    /// Named labels, sorted by address, for "nearest label" in messages.
    labels: Vec<(u64, String)>,
    /// Every section's content range and kind, for *bad jump* messages.
    sections: Vec<(u64, u64, SectionKind)>,
    /// Index of the entry point.
    pub entry: u32,
    /// The registers any instruction names, as one span per bank: all the
    /// interpreter's fast loop copies in and out of its frame.
    pub used_regs: Vec<std::ops::Range<usize>>,
}

impl Code {
    /// Decodes and lowers the code sections of a validated executable.
    pub fn new(exe: &Executable) -> Code {
        let mut addrs = Vec::new();
        let mut instrs = Vec::new();
        let mut targets = Vec::new();
        let mut labels = Vec::new();
        for section in exe.sections.iter().filter(|s| s.kind == SectionKind::Code) {
            let mut pending = Vec::new(); // label addresses waiting for the next index
            for item in &section.items {
                match item {
                    Item::Label { addr, name } => {
                        pending.push(*addr);
                        if let Some(name) = name {
                            labels.push((*addr, name.clone()));
                        }
                    }
                    Item::Instr { addr, instr } => {
                        let index = addrs.len() as u32;
                        targets.extend(pending.drain(..).map(|a| (a, index)));
                        targets.push((*addr, index));
                        addrs.push(*addr);
                        instrs.push(Some(*instr));
                    }
                }
            }
            let index = addrs.len() as u32;
            targets.extend(pending.drain(..).map(|a| (a, index)));
            addrs.push(section.end());
            instrs.push(None);
        }
        targets.sort_unstable();
        labels.sort();
        let mut code = Code {
            plain: Vec::new(),
            fused: Vec::new(),
            run_len: Vec::new(),
            addrs,
            instrs,
            targets,
            labels,
            sections: exe.sections.iter().map(|s| (s.start, s.end(), s.kind)).collect(),
            entry: 0,
            used_regs: Vec::new(),
        };
        code.entry = code.index_of(exe.entry()).unwrap_or(0);
        code.plain = code.instrs.iter().map(|i| i.map_or(Op::End, |i| code.lower(i))).collect();
        code.fused = fuse(&code.plain);
        code.used_regs = used_registers(code.instrs.iter().flatten());
        code.run_len = run_lengths(&code.plain);
        code
    }

    /// The index of the instruction at (or, for a label, after) `addr`, if
    /// it is an instruction boundary or label header in code.
    pub fn index_of(&self, addr: u64) -> Option<u32> {
        self.targets.binary_search_by_key(&addr, |t| t.0).ok().map(|i| self.targets[i].1)
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

    /// The internal form of one instruction.
    fn lower(&self, instr: Instr) -> Op {
        use Instr as I;
        match instr {
            I::Nop {} => Op::Nop,
            I::Mov { rd, rs } => Op::Mov { rd: rd.0, rs: rs.0 },
            I::Li { rd, imm } => Op::Li { rd: rd.0, imm: imm as u64 },
            I::La { rd, addr } => Op::Li { rd: rd.0, imm: addr.0 },
            I::Fli { rd, imm } => Op::Li { rd: rd.0, imm: imm.0 },
            I::Add { rd, ra, rb } => Op::Add { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Sub { rd, ra, rb } => Op::Sub { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Mul { rd, ra, rb } => Op::Mul { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Mulh { rd, ra, rb } => Op::Mulh { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Mulhu { rd, ra, rb } => Op::Mulhu { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Div { rd, ra, rb } => Op::Div { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Divu { rd, ra, rb } => Op::Divu { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Rem { rd, ra, rb } => Op::Rem { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Remu { rd, ra, rb } => Op::Remu { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::And { rd, ra, rb } => Op::And { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Or { rd, ra, rb } => Op::Or { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Xor { rd, ra, rb } => Op::Xor { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Shl { rd, ra, rb } => Op::Shl { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Shr { rd, ra, rb } => Op::Shr { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Sar { rd, ra, rb } => Op::Sar { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Addi { rd, ra, imm } => Op::Addi { rd: rd.0, ra: ra.0, imm },
            I::Muli { rd, ra, imm } => Op::Muli { rd: rd.0, ra: ra.0, imm },
            I::Andi { rd, ra, imm } => Op::Andi { rd: rd.0, ra: ra.0, imm },
            I::Ori { rd, ra, imm } => Op::Ori { rd: rd.0, ra: ra.0, imm },
            I::Xori { rd, ra, imm } => Op::Xori { rd: rd.0, ra: ra.0, imm },
            I::Shli { rd, ra, imm } => Op::Shli { rd: rd.0, ra: ra.0, imm },
            I::Shri { rd, ra, imm } => Op::Shri { rd: rd.0, ra: ra.0, imm },
            I::Sari { rd, ra, imm } => Op::Sari { rd: rd.0, ra: ra.0, imm },
            I::Neg { rd, rs } => Op::Neg { rd: rd.0, rs: rs.0 },
            I::Not { rd, rs } => Op::Not { rd: rd.0, rs: rs.0 },
            I::Seq { rd, ra, rb } => Op::Seq { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Sne { rd, ra, rb } => Op::Sne { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Slt { rd, ra, rb } => Op::Slt { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Sle { rd, ra, rb } => Op::Sle { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Sltu { rd, ra, rb } => Op::Sltu { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Sleu { rd, ra, rb } => Op::Sleu { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Slti { rd, ra, imm } => Op::Slti { rd: rd.0, ra: ra.0, imm },
            I::Sext8 { rd, rs } => Op::Sext8 { rd: rd.0, rs: rs.0 },
            I::Sext16 { rd, rs } => Op::Sext16 { rd: rd.0, rs: rs.0 },
            I::Sext32 { rd, rs } => Op::Sext32 { rd: rd.0, rs: rs.0 },
            I::Zext8 { rd, rs } => Op::Zext8 { rd: rd.0, rs: rs.0 },
            I::Zext16 { rd, rs } => Op::Zext16 { rd: rd.0, rs: rs.0 },
            I::Zext32 { rd, rs } => Op::Zext32 { rd: rd.0, rs: rs.0 },
            I::Fadd { rd, ra, rb } => Op::Fadd { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Fsub { rd, ra, rb } => Op::Fsub { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Fmul { rd, ra, rb } => Op::Fmul { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Fdiv { rd, ra, rb } => Op::Fdiv { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Fmin { rd, ra, rb } => Op::Fmin { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Fmax { rd, ra, rb } => Op::Fmax { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Fsqrt { rd, rs } => Op::Fsqrt { rd: rd.0, rs: rs.0 },
            I::Fneg { rd, rs } => Op::Fneg { rd: rd.0, rs: rs.0 },
            I::Fabs { rd, rs } => Op::Fabs { rd: rd.0, rs: rs.0 },
            I::Feq { rd, ra, rb } => Op::Feq { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Flt { rd, ra, rb } => Op::Flt { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Fle { rd, ra, rb } => Op::Fle { rd: rd.0, ra: ra.0, rb: rb.0 },
            I::Itof { rd, rs } => Op::Itof { rd: rd.0, rs: rs.0 },
            I::Utof { rd, rs } => Op::Utof { rd: rd.0, rs: rs.0 },
            I::Ftoi { rd, rs } => Op::Ftoi { rd: rd.0, rs: rs.0 },
            I::Ld8s { rd, mem } => Op::Ld8s { rd: rd.0, base: mem.base.0, off: mem.off },
            I::Ld8u { rd, mem } => Op::Ld8u { rd: rd.0, base: mem.base.0, off: mem.off },
            I::Ld16s { rd, mem } => Op::Ld16s { rd: rd.0, base: mem.base.0, off: mem.off },
            I::Ld16u { rd, mem } => Op::Ld16u { rd: rd.0, base: mem.base.0, off: mem.off },
            I::Ld32s { rd, mem } => Op::Ld32s { rd: rd.0, base: mem.base.0, off: mem.off },
            I::Ld32u { rd, mem } => Op::Ld32u { rd: rd.0, base: mem.base.0, off: mem.off },
            I::Ld64 { rd, mem } => Op::Ld64 { rd: rd.0, base: mem.base.0, off: mem.off },
            I::St8 { rs, mem } => Op::St8 { rs: rs.0, base: mem.base.0, off: mem.off },
            I::St16 { rs, mem } => Op::St16 { rs: rs.0, base: mem.base.0, off: mem.off },
            I::St32 { rs, mem } => Op::St32 { rs: rs.0, base: mem.base.0, off: mem.off },
            I::St64 { rs, mem } => Op::St64 { rs: rs.0, base: mem.base.0, off: mem.off },
            I::Push { rs } => Op::Push { rs: rs.0 },
            I::Pop { rd } => Op::Pop { rd: rd.0 },
            I::Salloc { size } => Op::Salloc { size },
            I::Sfree { size } => Op::Sfree { size },
            I::Ldsp { rd, off } => Op::Ldsp { rd: rd.0, off },
            I::Stsp { rs, off } => Op::Stsp { rs: rs.0, off },
            I::Getsp { rd } => Op::Getsp { rd: rd.0 },
            I::Jmp { target } => Op::Jmp { t: self.target(target) },
            I::Jr { rs } => Op::Jr { rs: rs.0 },
            I::Beq { ra, rb, target } => Op::Beq { ra: ra.0, rb: rb.0, t: self.target(target) },
            I::Bne { ra, rb, target } => Op::Bne { ra: ra.0, rb: rb.0, t: self.target(target) },
            I::Blt { ra, rb, target } => Op::Blt { ra: ra.0, rb: rb.0, t: self.target(target) },
            I::Bge { ra, rb, target } => Op::Bge { ra: ra.0, rb: rb.0, t: self.target(target) },
            I::Bltu { ra, rb, target } => Op::Bltu { ra: ra.0, rb: rb.0, t: self.target(target) },
            I::Bgeu { ra, rb, target } => Op::Bgeu { ra: ra.0, rb: rb.0, t: self.target(target) },
            I::Beqz { rs, target } => Op::Beqz { rs: rs.0, t: self.target(target) },
            I::Bnez { rs, target } => Op::Bnez { rs: rs.0, t: self.target(target) },
            I::Call { target } => Op::Call { t: self.target(target) },
            I::Callr { rs } => Op::Callr { rs: rs.0 },
            I::Ret {} => Op::Ret,
            I::Halt {} => Op::Halt,
            I::Fork { .. }
            | I::Ctxid { .. }
            | I::Pnew { .. }
            | I::Psend { .. }
            | I::Precv { .. }
            | I::Ptry { .. }
            | I::Pclose { .. }
            | I::Write { .. }
            | I::Read { .. }
            | I::Argc { .. }
            | I::Arg { .. }
            | I::Exit { .. }
            | I::Clock { .. }
            | I::Sleep { .. }
            | I::Grow { .. }
            | I::Printi { .. }
            | I::Printf { .. }
            | I::Putc { .. } => Op::Slow,
        }
    }
}

/// One span per bank (a, s, v, t) covering every register the instructions name.
fn used_registers<'a>(instrs: impl Iterator<Item = &'a Instr>) -> Vec<std::ops::Range<usize>> {
    use crate::isa::Operand;
    let mut used = [false; 256];
    for instr in instrs {
        for operand in instr.operands() {
            match operand {
                Operand::Reg(r) => used[usize::from(r.0)] = true,
                Operand::Mem(m) => used[usize::from(m.base.0)] = true,
                _ => {}
            }
        }
    }
    (0..4)
        .filter_map(|bank| {
            let regs = bank * 64..bank * 64 + 64;
            let first = regs.clone().find(|&r| used[r])?;
            let last = regs.rev().find(|&r| used[r])?;
            Some(first..last + 1)
        })
        .collect()
}

/// True for an op after which control may not simply go to the next index.
fn ends_run(op: &Op) -> bool {
    matches!(
        op,
        Op::Jmp { .. }
            | Op::Jr { .. }
            | Op::Beq { .. }
            | Op::Bne { .. }
            | Op::Blt { .. }
            | Op::Bge { .. }
            | Op::Bltu { .. }
            | Op::Bgeu { .. }
            | Op::Beqz { .. }
            | Op::Bnez { .. }
            | Op::Call { .. }
            | Op::Callr { .. }
            | Op::Ret
            | Op::Halt
            | Op::End
    )
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

/// Replaces hot pairs by superinstructions, chosen from profiles of the
/// benchmark programs (counted loops, compare-with-constant, argument
/// shuffles before calls, load-then-use in float and byte loops). The
/// second op of a pair is never the target of a fused op itself: pairs are
/// taken greedily left to right. A fused op whose first half traps stops
/// at the first index with nothing done; if its second half traps, the
/// first half's effect stands and the trap is at the second index — the
/// same as the plain code.
fn fuse(plain: &[Op]) -> Vec<Op> {
    let mut fused = plain.to_vec();
    let mut i = 0;
    while i + 1 < plain.len() {
        i += 1;
        let op = match (plain[i - 1], plain[i]) {
            (Op::Addi { rd, ra, imm }, Op::Blt { ra: x, rb: y, t }) => Op::AddiBlt { rd, ra, x, y, imm, t },
            (Op::Addi { rd, ra, imm }, Op::Bltu { ra: x, rb: y, t }) => Op::AddiBltu { rd, ra, x, y, imm, t },
            (Op::Addi { rd, ra, imm }, Op::Bne { ra: x, rb: y, t }) => Op::AddiBne { rd, ra, x, y, imm, t },
            (Op::Add { rd, ra, rb }, Op::Bltu { ra: x, rb: y, t }) => Op::AddBltu { rd, ra, rb, x, y, t },
            (Op::Add { rd, ra, rb }, Op::Blt { ra: x, rb: y, t }) => Op::AddBlt { rd, ra, rb, x, y, t },
            (Op::Li { rd, imm }, Op::Blt { ra: x, rb: y, t }) if i32::try_from(imm as i64).is_ok() => {
                Op::LiBlt { rd, x, y, imm: imm as i64 as i32, t }
            }
            (Op::Li { rd, imm }, Op::Bge { ra: x, rb: y, t }) if i32::try_from(imm as i64).is_ok() => {
                Op::LiBge { rd, x, y, imm: imm as i64 as i32, t }
            }
            (Op::Mov { rd, rs }, Op::Mov { rd: rd2, rs: rs2 }) => Op::Mov2 { rd, rs, rd2, rs2 },
            (Op::Ld64 { rd, base, off }, Op::Fsub { rd: rd2, ra, rb }) if rb == rd => {
                Op::Ld64Fsub { rd, base, off, rd2, ra }
            }
            (Op::Ld64 { rd, base, off }, Op::Fadd { rd: rd2, ra, rb }) if ra == rd => {
                Op::Ld64Fadd { rd, base, off, rd2, rb }
            }
            (Op::Fmul { rd, ra, rb }, Op::Fmul { rd: rd2, ra: x, rb: rc }) if x == rd => {
                Op::Fmul2 { rd, ra, rb, rd2, rc }
            }
            (Op::Ld8u { rd, base, off }, Op::Add { rd: rd2, ra, rb }) if rb == rd => {
                Op::Ld8uAdd { rd, base, off, rd2, ra }
            }
            _ => continue,
        };
        fused[i - 1] = op;
        i += 1; // the second op is part of this pair
    }
    fused
}
