//! The Manda instruction set: one table, everything else derived from it.
//!
//! `for_each_op!` lists every instruction once — opcode byte, mnemonic,
//! group, operands, semantics and traps. The [`Opcode`] and [`Instr`]
//! types, the encoder and decoder, the assembler's mnemonic and operand
//! tables, the disassembler's printing and `docs/manda/OPCODES.md` are all
//! expanded from it (a test checks the committed doc against
//! [`opcodes_markdown`]).
//!
//! Opcodes are 10–255; 0–9 are label headers in a code section. Each
//! instruction is its opcode byte followed by its operands in table order,
//! little-endian, with no padding.

use std::fmt;

mod vector;
pub use vector::{check_vop, vops_markdown, Form, VOp, VectorOp};

/// The instruction groups: each is a section of the reference
/// (`docs/manda/OPCODES.md`), and says what the machine makes of its
/// instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `nop`, `mov`, `li`, `la`, `fli`.
    MovesAndConstants,
    /// 64-bit integer arithmetic and logic.
    IntegerArithmetic,
    /// Sign and zero extension.
    Extension,
    /// Integer comparisons into a register.
    Comparisons,
    /// 32-bit integer arithmetic (a value held sign-extended).
    Int32,
    /// f64 arithmetic, comparisons and conversions.
    FloatingPoint,
    /// f32 arithmetic, comparisons and conversions.
    F32,
    /// Loads and stores anywhere in the address space.
    Memory,
    /// Loads and stores in the heap, bounds-checked at its size.
    Heap,
    /// The stack.
    Stack,
    /// Jumps, branches, calls and returns: a straight-line run ends after each.
    ControlFlow,
    /// Output, time, memory growth and the like: run outside the interpreter's hot loop.
    System,
    /// `fork`, ports: run outside the interpreter's hot loop too.
    ContextsAndPorts,
    /// 128-bit vectors, each in two registers.
    Vector,
    /// `trap`.
    Traps,
}

impl Group {
    /// Its heading in the reference.
    pub const fn heading(self) -> &'static str {
        match self {
            Group::MovesAndConstants => "Moves and constants",
            Group::IntegerArithmetic => "Integer arithmetic",
            Group::Extension => "Extension",
            Group::Comparisons => "Comparisons",
            Group::Int32 => "32-bit integers",
            Group::FloatingPoint => "Floating point",
            Group::F32 => "f32",
            Group::Memory => "Memory",
            Group::Heap => "Heap",
            Group::Stack => "Stack",
            Group::ControlFlow => "Control flow",
            Group::System => "System",
            Group::ContextsAndPorts => "Contexts and ports",
            Group::Vector => "Vectors",
            Group::Traps => "Traps",
        }
    }

    /// Whether its instructions transfer control (a straight-line run ends after each).
    pub const fn transfers_control(self) -> bool {
        matches!(self, Group::ControlFlow)
    }

    /// Whether the interpreter runs its instructions from their [`Instr`],
    /// outside its hot loop (system calls, contexts and ports).
    pub const fn is_system(self) -> bool {
        matches!(self, Group::System | Group::ContextsAndPorts)
    }
}

/// What an instruction's result register receives: an integer (or nothing
/// but bits), or the bits of an f64 or an f32 — how a trace prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// An integer, or bits with no float meaning (and instructions without a result).
    Int,
    /// An f64's bits.
    F64,
    /// An f32's bits, in the low 32.
    F32,
}

/// Calls `$m!` with the whole instruction table.
///
/// Each row: `Variant = byte, "mnemonic", Group, ValueKind, (field: Type, …), "semantics", "traps";`:
/// its [`Group`] (the heading it is documented under, and what the machine
/// makes of it) and the [`ValueKind`] its result register receives.
/// Field types are the operand types below ([`Reg`], `i32`, `u32`, `i64`,
/// `u8`, [`F64`], [`Addr`], [`Target`], [`Mem`]).
macro_rules! for_each_op {
    ($m:ident) => {
        $m! {
            // Moves and constants.
            Nop = 10, "nop", MovesAndConstants, Int, (),
                "Does nothing.", "none";
            Mov = 11, "mov", MovesAndConstants, Int, (rd: Reg, rs: Reg),
                "rd = rs. Registers are untyped 64-bit cells, so this is also the bit move between integer and f64 values.", "none";
            Li = 12, "li", MovesAndConstants, Int, (rd: Reg, imm: i64),
                "rd = imm.", "none";
            La = 13, "la", MovesAndConstants, Int, (rd: Reg, addr: Addr),
                "rd = addr, an address (in source, usually a label: a data label, or a code label for `callr`/`jr`). Not checked until used.", "none";
            Fli = 14, "fli", MovesAndConstants, F64, (rd: Reg, imm: F64),
                "rd = the bits of the f64 constant imm.", "none";

            // Integer arithmetic: 64-bit, wrapping.
            Add = 20, "add", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra + rb, wrapping.", "none";
            Sub = 21, "sub", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra - rb, wrapping.", "none";
            Mul = 22, "mul", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = low 64 bits of ra × rb.", "none";
            Mulh = 23, "mulh", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = high 64 bits of the signed 128-bit product ra × rb.", "none";
            Mulhu = 24, "mulhu", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = high 64 bits of the unsigned 128-bit product ra × rb.", "none";
            Div = 25, "div", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra / rb, signed, rounded toward zero.", "*division by zero* if rb = 0; *division overflow* if ra = -2^63 and rb = -1.";
            Divu = 26, "divu", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra / rb, unsigned.", "*division by zero* if rb = 0.";
            Rem = 27, "rem", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra - (ra / rb) × rb, signed: the sign follows ra.", "*division by zero* if rb = 0; *division overflow* if ra = -2^63 and rb = -1.";
            Remu = 28, "remu", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra mod rb, unsigned.", "*division by zero* if rb = 0.";
            And = 29, "and", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra & rb.", "none";
            Or = 30, "or", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra | rb.", "none";
            Xor = 31, "xor", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra ^ rb.", "none";
            Shl = 32, "shl", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra << (rb mod 64).", "none";
            Shr = 33, "shr", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra >> (rb mod 64), logical (zeros shifted in).", "none";
            Sar = 34, "sar", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra >> (rb mod 64), arithmetic (sign bit shifted in).", "none";
            Addi = 40, "addi", IntegerArithmetic, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = ra + imm (imm sign-extended), wrapping. `addi rd, ra, -k` subtracts.", "none";
            Muli = 41, "muli", IntegerArithmetic, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = low 64 bits of ra × imm (imm sign-extended).", "none";
            Andi = 42, "andi", IntegerArithmetic, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = ra & imm (imm sign-extended).", "none";
            Ori = 43, "ori", IntegerArithmetic, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = ra | imm (imm sign-extended).", "none";
            Xori = 44, "xori", IntegerArithmetic, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = ra ^ imm (imm sign-extended).", "none";
            Shli = 45, "shli", IntegerArithmetic, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = ra << (imm mod 64).", "none";
            Shri = 46, "shri", IntegerArithmetic, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = ra >> (imm mod 64), logical.", "none";
            Sari = 47, "sari", IntegerArithmetic, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = ra >> (imm mod 64), arithmetic.", "none";
            Neg = 50, "neg", IntegerArithmetic, Int, (rd: Reg, rs: Reg),
                "rd = -rs, wrapping (-(-2^63) = -2^63).", "none";
            Not = 51, "not", IntegerArithmetic, Int, (rd: Reg, rs: Reg),
                "rd = !rs (every bit flipped).", "none";
            Rotl = 35, "rotl", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra rotated left by rb mod 64 bits.", "none";
            Rotr = 36, "rotr", IntegerArithmetic, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra rotated right by rb mod 64 bits.", "none";
            Clz = 37, "clz", IntegerArithmetic, Int, (rd: Reg, rs: Reg),
                "rd = the number of leading zero bits of rs (64 for 0).", "none";
            Ctz = 38, "ctz", IntegerArithmetic, Int, (rd: Reg, rs: Reg),
                "rd = the number of trailing zero bits of rs (64 for 0).", "none";
            Popcnt = 39, "popcnt", IntegerArithmetic, Int, (rd: Reg, rs: Reg),
                "rd = the number of one bits of rs.", "none";

            // 32-bit integers: the low 32 bits of the operands, the result sign-extended to 64 bits
            // (so the comparisons and branches, signed or unsigned, work on them unchanged).
            Add32 = 182, "add32", Int32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra + rb on the low 32 bits, wrapping, sign-extended.", "none";
            Sub32 = 183, "sub32", Int32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra - rb on the low 32 bits, wrapping, sign-extended.", "none";
            Mul32 = 184, "mul32", Int32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the low 32 bits of ra × rb, sign-extended.", "none";
            Addi32 = 185, "addi32", Int32, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = ra + imm on the low 32 bits, wrapping, sign-extended.", "none";
            Shl32 = 186, "shl32", Int32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the low 32 bits of ra << (rb mod 32), sign-extended.", "none";
            Shr32 = 187, "shr32", Int32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the low 32 bits of ra >> (rb mod 32), logical, sign-extended.", "none";
            Sar32 = 188, "sar32", Int32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the low 32 bits of ra >> (rb mod 32), arithmetic, sign-extended.", "none";
            Shli32 = 189, "shli32", Int32, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = the low 32 bits of ra << (imm mod 32), sign-extended.", "none";
            Shri32 = 190, "shri32", Int32, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = the low 32 bits of ra >> (imm mod 32), logical, sign-extended.", "none";
            Sari32 = 191, "sari32", Int32, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = the low 32 bits of ra >> (imm mod 32), arithmetic, sign-extended.", "none";
            Rotl32 = 192, "rotl32", Int32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the low 32 bits of ra rotated left by rb mod 32, sign-extended.", "none";
            Rotr32 = 193, "rotr32", Int32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the low 32 bits of ra rotated right by rb mod 32, sign-extended.", "none";
            Clz32 = 194, "clz32", Int32, Int, (rd: Reg, rs: Reg),
                "rd = the number of leading zero bits of the low 32 bits of rs (32 for 0).", "none";
            Ctz32 = 195, "ctz32", Int32, Int, (rd: Reg, rs: Reg),
                "rd = the number of trailing zero bits of the low 32 bits of rs (32 for 0).", "none";
            Popcnt32 = 196, "popcnt32", Int32, Int, (rd: Reg, rs: Reg),
                "rd = the number of one bits in the low 32 bits of rs.", "none";

            // Comparisons into a register.
            Seq = 55, "seq", Comparisons, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra = rb, else 0.", "none";
            Sne = 56, "sne", Comparisons, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra ≠ rb, else 0.", "none";
            Slt = 57, "slt", Comparisons, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra < rb (signed), else 0.", "none";
            Sle = 58, "sle", Comparisons, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra ≤ rb (signed), else 0.", "none";
            Sltu = 59, "sltu", Comparisons, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra < rb (unsigned), else 0.", "none";
            Sleu = 60, "sleu", Comparisons, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra ≤ rb (unsigned), else 0.", "none";
            Slti = 61, "slti", Comparisons, Int, (rd: Reg, ra: Reg, imm: i32),
                "rd = 1 if ra < imm (signed, imm sign-extended), else 0.", "none";
            Csel = 62, "csel", Comparisons, Int, (rd: Reg, rc: Reg, ra: Reg, rb: Reg),
                "rd = ra if rc ≠ 0, else rb.", "none";

            // Sign and zero extension of the low bits.
            Sext8 = 65, "sext8", Extension, Int, (rd: Reg, rs: Reg),
                "rd = the low 8 bits of rs, sign-extended.", "none";
            Sext16 = 66, "sext16", Extension, Int, (rd: Reg, rs: Reg),
                "rd = the low 16 bits of rs, sign-extended.", "none";
            Sext32 = 67, "sext32", Extension, Int, (rd: Reg, rs: Reg),
                "rd = the low 32 bits of rs, sign-extended.", "none";
            Zext8 = 68, "zext8", Extension, Int, (rd: Reg, rs: Reg),
                "rd = the low 8 bits of rs, zero-extended.", "none";
            Zext16 = 69, "zext16", Extension, Int, (rd: Reg, rs: Reg),
                "rd = the low 16 bits of rs, zero-extended.", "none";
            Zext32 = 70, "zext32", Extension, Int, (rd: Reg, rs: Reg),
                "rd = the low 32 bits of rs, zero-extended.", "none";

            // f64 arithmetic on register bits (IEEE 754 binary64, round to nearest even).
            Fadd = 80, "fadd", FloatingPoint, F64, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra + rb as f64.", "none";
            Fsub = 81, "fsub", FloatingPoint, F64, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra - rb as f64.", "none";
            Fmul = 82, "fmul", FloatingPoint, F64, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra × rb as f64.", "none";
            Fdiv = 83, "fdiv", FloatingPoint, F64, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra / rb as f64 (x/0 is ±inf or NaN, never a trap).", "none";
            Fmin = 84, "fmin", FloatingPoint, F64, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the smaller of ra and rb; NaN if either is NaN; -0.0 is smaller than +0.0.", "none";
            Fmax = 85, "fmax", FloatingPoint, F64, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the larger of ra and rb; NaN if either is NaN; +0.0 is larger than -0.0.", "none";
            Fsqrt = 86, "fsqrt", FloatingPoint, F64, (rd: Reg, rs: Reg),
                "rd = √rs (NaN for rs < 0).", "none";
            Fneg = 87, "fneg", FloatingPoint, F64, (rd: Reg, rs: Reg),
                "rd = -rs (flips the sign bit, NaN included).", "none";
            Fabs = 88, "fabs", FloatingPoint, F64, (rd: Reg, rs: Reg),
                "rd = |rs| (clears the sign bit).", "none";
            Feq = 89, "feq", FloatingPoint, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra = rb as f64, else 0 (0 if either is NaN; -0.0 = +0.0).", "none";
            Flt = 90, "flt", FloatingPoint, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra < rb as f64, else 0 (0 if either is NaN).", "none";
            Fle = 91, "fle", FloatingPoint, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra ≤ rb as f64, else 0 (0 if either is NaN).", "none";
            Itof = 92, "itof", FloatingPoint, F64, (rd: Reg, rs: Reg),
                "rd = the signed integer rs converted to f64 (rounded to nearest).", "none";
            Utof = 93, "utof", FloatingPoint, F64, (rd: Reg, rs: Reg),
                "rd = the unsigned integer rs converted to f64 (rounded to nearest).", "none";
            Ftoi = 94, "ftoi", FloatingPoint, Int, (rd: Reg, rs: Reg),
                "rd = the f64 rs truncated toward zero to a signed integer, saturating at ±2^63 bounds; NaN gives 0.", "none";
            Fcopysign = 95, "fcopysign", FloatingPoint, F64, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra with the sign bit of rb (bits, NaN included).", "none";
            Fceil = 96, "fceil", FloatingPoint, F64, (rd: Reg, rs: Reg),
                "rd = rs rounded up to a whole number as f64.", "none";
            Ffloor = 97, "ffloor", FloatingPoint, F64, (rd: Reg, rs: Reg),
                "rd = rs rounded down to a whole number as f64.", "none";
            Ftrunc = 98, "ftrunc", FloatingPoint, F64, (rd: Reg, rs: Reg),
                "rd = rs rounded toward zero to a whole number as f64.", "none";
            Fround = 99, "fround", FloatingPoint, F64, (rd: Reg, rs: Reg),
                "rd = rs rounded to the nearest whole number as f64, ties to even.", "none";
            Truncs32 = 71, "truncs32", FloatingPoint, Int, (rd: Reg, rs: Reg),
                "rd = the f64 rs truncated toward zero to a signed 32-bit integer, sign-extended.", "*invalid conversion to integer* if rs is NaN; *integer overflow* if the result is not in -2^31 … 2^31-1.";
            Truncu32 = 72, "truncu32", FloatingPoint, Int, (rd: Reg, rs: Reg),
                "rd = the f64 rs truncated toward zero to an unsigned 32-bit integer, whose bits are then sign-extended.", "*invalid conversion to integer* if rs is NaN; *integer overflow* if the result is not in 0 … 2^32-1.";
            Truncs64 = 73, "truncs64", FloatingPoint, Int, (rd: Reg, rs: Reg),
                "rd = the f64 rs truncated toward zero to a signed 64-bit integer.", "*invalid conversion to integer* if rs is NaN; *integer overflow* if the result is not in -2^63 … 2^63-1.";
            Truncu64 = 74, "truncu64", FloatingPoint, Int, (rd: Reg, rs: Reg),
                "rd = the f64 rs truncated toward zero to an unsigned 64-bit integer.", "*invalid conversion to integer* if rs is NaN; *integer overflow* if the result is not in 0 … 2^64-1.";
            Sats32 = 75, "sats32", FloatingPoint, Int, (rd: Reg, rs: Reg),
                "rd = the f64 rs truncated toward zero to a signed 32-bit integer, saturating at its bounds, NaN giving 0; sign-extended.", "none";
            Satu32 = 76, "satu32", FloatingPoint, Int, (rd: Reg, rs: Reg),
                "rd = the f64 rs truncated toward zero to an unsigned 32-bit integer, saturating at its bounds, NaN giving 0; its bits sign-extended.", "none";
            Satu64 = 77, "satu64", FloatingPoint, Int, (rd: Reg, rs: Reg),
                "rd = the f64 rs truncated toward zero to an unsigned 64-bit integer, saturating at its bounds, NaN giving 0.", "none";

            // f32: an f32 is held as its 32 bits in the low half of a register, the high half 0.
            Fadd32 = 200, "fadd32", F32, F32, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra + rb as f32.", "none";
            Fsub32 = 201, "fsub32", F32, F32, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra - rb as f32.", "none";
            Fmul32 = 202, "fmul32", F32, F32, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra × rb as f32.", "none";
            Fdiv32 = 203, "fdiv32", F32, F32, (rd: Reg, ra: Reg, rb: Reg),
                "rd = ra / rb as f32.", "none";
            Fmin32 = 204, "fmin32", F32, F32, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the smaller of ra and rb as f32, as `fmin`.", "none";
            Fmax32 = 205, "fmax32", F32, F32, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the larger of ra and rb as f32, as `fmax`.", "none";
            Fsqrt32 = 206, "fsqrt32", F32, F32, (rd: Reg, rs: Reg),
                "rd = √rs as f32.", "none";
            Fneg32 = 207, "fneg32", F32, F32, (rd: Reg, rs: Reg),
                "rd = -rs as f32 (flips bit 31).", "none";
            Fabs32 = 208, "fabs32", F32, F32, (rd: Reg, rs: Reg),
                "rd = |rs| as f32 (clears bit 31).", "none";
            Fcopysign32 = 209, "fcopysign32", F32, F32, (rd: Reg, ra: Reg, rb: Reg),
                "rd = the f32 ra with the sign bit of the f32 rb.", "none";
            Feq32 = 210, "feq32", F32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra = rb as f32, else 0.", "none";
            Flt32 = 211, "flt32", F32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra < rb as f32, else 0.", "none";
            Fle32 = 212, "fle32", F32, Int, (rd: Reg, ra: Reg, rb: Reg),
                "rd = 1 if ra ≤ rb as f32, else 0.", "none";
            Fceil32 = 213, "fceil32", F32, F32, (rd: Reg, rs: Reg),
                "rd = rs rounded up to a whole number as f32.", "none";
            Ffloor32 = 214, "ffloor32", F32, F32, (rd: Reg, rs: Reg),
                "rd = rs rounded down to a whole number as f32.", "none";
            Ftrunc32 = 215, "ftrunc32", F32, F32, (rd: Reg, rs: Reg),
                "rd = rs rounded toward zero to a whole number as f32.", "none";
            Fround32 = 216, "fround32", F32, F32, (rd: Reg, rs: Reg),
                "rd = rs rounded to the nearest whole number as f32, ties to even.", "none";
            Fpromote = 217, "fpromote", F32, F64, (rd: Reg, rs: Reg),
                "rd = the f32 rs as f64 (exact).", "none";
            Fdemote = 218, "fdemote", F32, F32, (rd: Reg, rs: Reg),
                "rd = the f64 rs rounded to f32 (to nearest, ties to even).", "none";
            Itof32 = 219, "itof32", F32, F32, (rd: Reg, rs: Reg),
                "rd = the signed integer rs converted to f32 (rounded to nearest).", "none";
            Utof32 = 220, "utof32", F32, F32, (rd: Reg, rs: Reg),
                "rd = the unsigned integer rs converted to f32 (rounded to nearest).", "none";

            // Memory: base register + signed 32-bit offset; any alignment.
            Ld8s = 100, "ld8s", Memory, Int, (rd: Reg, mem: Mem),
                "rd = the byte at mem, sign-extended.", "*memory fault* unless the byte is readable (data, rodata, stack or heap).";
            Ld8u = 101, "ld8u", Memory, Int, (rd: Reg, mem: Mem),
                "rd = the byte at mem, zero-extended.", "*memory fault* unless the byte is readable.";
            Ld16s = 102, "ld16s", Memory, Int, (rd: Reg, mem: Mem),
                "rd = the 16-bit little-endian value at mem, sign-extended.", "*memory fault* unless all 2 bytes are readable.";
            Ld16u = 103, "ld16u", Memory, Int, (rd: Reg, mem: Mem),
                "rd = the 16-bit value at mem, zero-extended.", "*memory fault* unless all 2 bytes are readable.";
            Ld32s = 104, "ld32s", Memory, Int, (rd: Reg, mem: Mem),
                "rd = the 32-bit value at mem, sign-extended.", "*memory fault* unless all 4 bytes are readable.";
            Ld32u = 105, "ld32u", Memory, Int, (rd: Reg, mem: Mem),
                "rd = the 32-bit value at mem, zero-extended.", "*memory fault* unless all 4 bytes are readable.";
            Ld64 = 106, "ld64", Memory, Int, (rd: Reg, mem: Mem),
                "rd = the 64-bit value at mem.", "*memory fault* unless all 8 bytes are readable.";
            St8 = 107, "st8", Memory, Int, (rs: Reg, mem: Mem),
                "The byte at mem = the low 8 bits of rs.", "*memory fault* unless the byte is writable (data, stack or heap; never code or rodata).";
            St16 = 108, "st16", Memory, Int, (rs: Reg, mem: Mem),
                "The 2 bytes at mem = the low 16 bits of rs, little-endian.", "*memory fault* unless all 2 bytes are writable.";
            St32 = 109, "st32", Memory, Int, (rs: Reg, mem: Mem),
                "The 4 bytes at mem = the low 32 bits of rs, little-endian.", "*memory fault* unless all 4 bytes are writable.";
            St64 = 110, "st64", Memory, Int, (rs: Reg, mem: Mem),
                "The 8 bytes at mem = rs, little-endian.", "*memory fault* unless all 8 bytes are writable.";

            // The heap as a bounds-checked array: address = the heap's first address + the low
            // 32 bits of ra (unsigned) + off. Nothing but the heap is reachable this way.
            Hld8s = 111, "hld8s", Heap, Int, (rd: Reg, ra: Reg, off: u32),
                "rd = the heap byte at offset ra + off, sign-extended.", "*out of bounds memory access* unless the byte is in the heap.";
            Hld8u = 112, "hld8u", Heap, Int, (rd: Reg, ra: Reg, off: u32),
                "rd = the heap byte at offset ra + off, zero-extended.", "*out of bounds memory access* unless the byte is in the heap.";
            Hld16s = 113, "hld16s", Heap, Int, (rd: Reg, ra: Reg, off: u32),
                "rd = the 16 bits at heap offset ra + off, sign-extended.", "*out of bounds memory access* unless all 2 bytes are in the heap.";
            Hld16u = 114, "hld16u", Heap, Int, (rd: Reg, ra: Reg, off: u32),
                "rd = the 16 bits at heap offset ra + off, zero-extended.", "*out of bounds memory access* unless all 2 bytes are in the heap.";
            Hld32s = 122, "hld32s", Heap, Int, (rd: Reg, ra: Reg, off: u32),
                "rd = the 32 bits at heap offset ra + off, sign-extended.", "*out of bounds memory access* unless all 4 bytes are in the heap.";
            Hld32u = 123, "hld32u", Heap, Int, (rd: Reg, ra: Reg, off: u32),
                "rd = the 32 bits at heap offset ra + off, zero-extended.", "*out of bounds memory access* unless all 4 bytes are in the heap.";
            Hld64 = 124, "hld64", Heap, Int, (rd: Reg, ra: Reg, off: u32),
                "rd = the 64 bits at heap offset ra + off.", "*out of bounds memory access* unless all 8 bytes are in the heap.";
            Hst8 = 125, "hst8", Heap, Int, (rs: Reg, ra: Reg, off: u32),
                "The heap byte at offset ra + off = the low 8 bits of rs.", "*out of bounds memory access* unless the byte is in the heap.";
            Hst16 = 126, "hst16", Heap, Int, (rs: Reg, ra: Reg, off: u32),
                "The 2 heap bytes at offset ra + off = the low 16 bits of rs.", "*out of bounds memory access* unless all 2 bytes are in the heap.";
            Hst32 = 127, "hst32", Heap, Int, (rs: Reg, ra: Reg, off: u32),
                "The 4 heap bytes at offset ra + off = the low 32 bits of rs.", "*out of bounds memory access* unless all 4 bytes are in the heap.";
            Hst64 = 128, "hst64", Heap, Int, (rs: Reg, ra: Reg, off: u32),
                "The 8 heap bytes at offset ra + off = rs.", "*out of bounds memory access* unless all 8 bytes are in the heap.";
            Hld128 = 129, "hld128", Heap, Int, (rd: Reg, rdh: Reg, ra: Reg, off: u32),
                "rd = the 64 bits at heap offset ra + off, rdh = the 64 bits after them: a 128-bit vector.", "*out of bounds memory access* unless all 16 bytes are in the heap.";
            Hst128 = 157, "hst128", Heap, Int, (rs: Reg, rsh: Reg, ra: Reg, off: u32),
                "The 16 heap bytes at offset ra + off = rs, then rsh: a 128-bit vector.", "*out of bounds memory access* unless all 16 bytes are in the heap (checked before any byte is written).";

            // The stack: a region of its own; `sp` is a machine register, not one of the 256.
            Push = 115, "push", Stack, Int, (rs: Reg),
                "sp = sp - 8; the 8 bytes at sp = rs.", "*stack overflow* if sp would go below the stack's base.";
            Pop = 116, "pop", Stack, Int, (rd: Reg),
                "rd = the 8 bytes at sp; sp = sp + 8.", "*stack underflow* if sp would go past the stack's top.";
            Salloc = 117, "salloc", Stack, Int, (size: u32),
                "sp = sp - size: reserves a frame of size bytes (contents unspecified).", "*stack overflow* if sp would go below the stack's base.";
            Sfree = 118, "sfree", Stack, Int, (size: u32),
                "sp = sp + size: releases size bytes.", "*stack underflow* if sp would go past the stack's top.";
            Ldsp = 119, "ldsp", Stack, Int, (rd: Reg, off: i32),
                "rd = the 64-bit value at sp + off.", "*memory fault* unless all 8 bytes are readable.";
            Stsp = 120, "stsp", Stack, Int, (rs: Reg, off: i32),
                "The 8 bytes at sp + off = rs.", "*memory fault* unless all 8 bytes are writable.";
            Getsp = 121, "getsp", Stack, Int, (rd: Reg),
                "rd = sp, so a frame's address can be passed or used as a base register.", "none";

            // Control flow. A target is an instruction boundary or a label header in a code section.
            Jmp = 130, "jmp", ControlFlow, Int, (target: Target),
                "Continues at target.", "none (a bad static target is rejected when the executable is loaded).";
            Jr = 131, "jr", ControlFlow, Int, (rs: Reg),
                "Continues at the address in rs.", "*bad jump* unless rs is an instruction boundary or label in a code section.";
            Beq = 132, "beq", ControlFlow, Int, (ra: Reg, rb: Reg, target: Target),
                "Continues at target if ra = rb.", "none";
            Bne = 133, "bne", ControlFlow, Int, (ra: Reg, rb: Reg, target: Target),
                "Continues at target if ra ≠ rb.", "none";
            Blt = 134, "blt", ControlFlow, Int, (ra: Reg, rb: Reg, target: Target),
                "Continues at target if ra < rb (signed).", "none";
            Bge = 135, "bge", ControlFlow, Int, (ra: Reg, rb: Reg, target: Target),
                "Continues at target if ra ≥ rb (signed).", "none";
            Bltu = 136, "bltu", ControlFlow, Int, (ra: Reg, rb: Reg, target: Target),
                "Continues at target if ra < rb (unsigned).", "none";
            Bgeu = 137, "bgeu", ControlFlow, Int, (ra: Reg, rb: Reg, target: Target),
                "Continues at target if ra ≥ rb (unsigned).", "none";
            Beqz = 138, "beqz", ControlFlow, Int, (rs: Reg, target: Target),
                "Continues at target if rs = 0.", "none";
            Bnez = 139, "bnez", ControlFlow, Int, (rs: Reg, target: Target),
                "Continues at target if rs ≠ 0.", "none";
            Call = 140, "call", ControlFlow, Int, (target: Target),
                "Pushes the address of the next instruction on the call stack and continues at target.", "*call stack overflow* past the call depth limit; *out of memory* when the call stack would pass the memory limit.";
            Callr = 141, "callr", ControlFlow, Int, (rs: Reg),
                "As `call`, to the address in rs.", "*bad jump* as for `jr`; *call stack overflow*; *out of memory*.";
            Ret = 142, "ret", ControlFlow, Int, (),
                "Pops a return address from the call stack and continues there. The call stack is the machine's, apart from memory, so a return address cannot be overwritten.", "*return with an empty call stack*.";

            // Contexts and message ports.
            Fork = 150, "fork", ContextsAndPorts, Int, (rd: Reg, target: Target),
                "Starts a new context at target with a copy of this context's memory (copied page by page as either side writes) and of a0–a63 (other registers 0, sp at the top of its stack, an empty call stack); rd = the new context's id (≥ 1, in fork order, never reused) in this context.", "*too many contexts* past `--max-contexts`; *out of memory*.";
            Ctxid = 151, "ctxid", ContextsAndPorts, Int, (rd: Reg),
                "rd = this context's id (the first context is 0).", "none";
            Pnew = 152, "pnew", ContextsAndPorts, Int, (rd: Reg),
                "rd = the id of a new, empty message port. Port ids are machine-wide: a forked context can use ports created before the fork.", "*too many ports* past the limit.";
            Psend = 153, "psend", ContextsAndPorts, Int, (port: Reg, addr: Reg, len: Reg),
                "Queues a copy of the len bytes at addr as one message on port, or hands it straight to a context waiting there. Never waits.", "*bad port*; *port closed*; *memory fault* unless the bytes are readable; *ports full* past `--max-port-bytes` and *out of memory* past the memory limit (each queued message counting 64 bytes more than its length).";
            Precv = 154, "precv", ContextsAndPorts, Int, (rd: Reg, port: Reg, addr: Reg, cap: Reg),
                "Waits for a message on port (parking this context, not a thread), copies its first min(len, cap) bytes to addr and sets rd = len, the message's whole length. rd = -1 if the port is closed and empty.", "*bad port*; *memory fault* unless the bytes are writable; the machine stops with a *deadlock* when every context waits on an empty port.";
            Ptry = 155, "ptry", ContextsAndPorts, Int, (rd: Reg, port: Reg, addr: Reg, cap: Reg),
                "As `precv` without waiting: rd = -2 if the port is open and empty.", "*bad port*; *memory fault*.";
            Pclose = 156, "pclose", ContextsAndPorts, Int, (port: Reg),
                "Closes port: queued messages can still be received, further sends trap.", "*bad port*.";

            // System.
            Write = 170, "write", System, Int, (fd: Reg, addr: Reg, len: Reg),
                "Writes the len bytes at addr to standard output (fd = 1) or standard error (fd = 2).", "*bad file descriptor* for other fds; *memory fault*; *output failed* if the write fails.";
            Read = 171, "read", System, Int, (rd: Reg, addr: Reg, cap: Reg),
                "Reads up to cap bytes from standard input into addr; rd = the number read, 0 at end of input.", "*memory fault*; *input failed* if the read fails.";
            Argc = 172, "argc", System, Int, (rd: Reg),
                "rd = the number of program arguments (those after the program's path on the `manda run` command line).", "none";
            Arg = 173, "arg", System, Int, (rd: Reg, index: Reg, addr: Reg, cap: Reg),
                "Copies the first min(len, cap) bytes of argument index (UTF-8, no terminator) to addr; rd = len, its whole length (so cap = 0 asks the length).", "*bad argument index*; *memory fault*.";
            Exit = 174, "exit", System, Int, (rs: Reg),
                "Ends the whole machine: every other context stops at an instruction boundary; the process exit status is rs mod 256.", "none";
            Halt = 175, "halt", System, Int, (),
                "Ends this context. The machine ends, with status 0, when every context has ended.", "none";
            Clock = 176, "clock", System, Int, (rd: Reg),
                "rd = nanoseconds on a monotonic clock since the machine started.", "none";
            Sleep = 177, "sleep", System, Int, (rs: Reg),
                "Sleeps rs milliseconds (0 or negative: none), parking this context, not a thread. An interrupt cuts the sleep short; the rest is part of the state.", "none";
            Grow = 178, "grow", System, Int, (rd: Reg, rs: Reg),
                "Grows the heap by rs bytes (zeroed); rd = the address of the new bytes (the old end of the heap).", "*out of memory* past the memory limit.";
            Printi = 179, "printi", System, Int, (rs: Reg),
                "Writes rs as a signed decimal integer and a newline to standard output.", "*output failed*.";
            Printf = 180, "printf", System, Int, (rs: Reg, digits: u8),
                "Writes the f64 rs and a newline to standard output: with exactly digits decimals (0–17, rounded half to even), or for digits > 17 the shortest text that reads back as the same value, with `.0` on whole numbers and an exponent when large or small (`-6.0`, `1e21`, `1.8446744073709552e19`); `inf`, `-inf`, `NaN`.", "*output failed*.";
            Putc = 181, "putc", System, Int, (rs: Reg),
                "Writes the low byte of rs to standard output.", "*output failed*.";
            Printf32 = 236, "printf32", System, Int, (rs: Reg),
                "Writes the f32 in the low 32 bits of rs and a newline to standard output: the shortest text that reads back as the same f32, as `printf` with digits > 17.", "*output failed*.";
            Now = 235, "now", System, Int, (rd: Reg),
                "rd = nanoseconds since 1970-01-01 00:00 UTC on the host's wall clock.", "none";
            Wasi = 238, "wasi", System, Int, (rd: Reg, call: u8, args: Reg),
                "Runs WASI preview 1 function number call (its index in the witx, listed in `docs/manda/wasm.md`) with its arguments in the registers args, args+1, … (pointers are heap offsets); rd = the errno it returns. `proc_exit` ends the machine as `exit` does; `poll_oneoff` waiting on a clock parks this context as `sleep` does.", "*bad system call* for a number past the table or arguments past the last register.";
            Hsize = 230, "hsize", System, Int, (rd: Reg),
                "rd = the heap's size in bytes.", "none";
            Hgrow = 231, "hgrow", System, Int, (rd: Reg, rs: Reg),
                "Grows the heap by rs bytes (zeroed), as `grow` but never trapping: rd = the heap's old size, or -1 (and no change) if the memory limit refuses.", "none";
            Hcopy = 232, "hcopy", System, Int, (dst: Reg, src: Reg, len: Reg),
                "Copies len bytes from heap offset src to heap offset dst (each the low 32 bits of its register, unsigned), as if through a buffer: the ranges may overlap.", "*out of bounds memory access* unless both ranges are in the heap (checked before any byte is written).";
            Hfill = 233, "hfill", System, Int, (dst: Reg, val: Reg, len: Reg),
                "Sets the len bytes at heap offset dst to the low 8 bits of val (dst and len: the low 32 bits, unsigned).", "*out of bounds memory access* unless the range is in the heap (checked before any byte is written).";
            Hput = 234, "hput", System, Int, (dst: Reg, src: Reg, len: Reg),
                "Copies len bytes (the low 32 bits, unsigned) from address src to heap offset dst (the low 32 bits): how an image's bytes are put in the heap.", "*memory fault* unless the source bytes are readable; *out of bounds memory access* unless the destination is in the heap.";

            // Vectors: a 128-bit vector is two registers, its low 64 bits then its high 64 bits
            // (`rd, rdh` …); the operation `op` is one of the "Vector operations" below.
            Vbin = 160, "vbin", Vector, Int, (rd: Reg, rdh: Reg, ra: Reg, rah: Reg, rb: Reg, rbh: Reg, op: VOp),
                "(rd, rdh) = op applied to the vectors (ra, rah) and (rb, rbh).", "none";
            Vun = 161, "vun", Vector, Int, (rd: Reg, rdh: Reg, ra: Reg, rah: Reg, op: VOp),
                "(rd, rdh) = op applied to the vector (ra, rah).", "none";
            Vtern = 162, "vtern", Vector, Int, (rd: Reg, rdh: Reg, ra: Reg, rah: Reg, rb: Reg, rbh: Reg, rc: Reg, rch: Reg, op: VOp),
                "(rd, rdh) = op applied to the vectors (ra, rah), (rb, rbh) and (rc, rch).", "none";
            Vshift = 163, "vshift", Vector, Int, (rd: Reg, rdh: Reg, ra: Reg, rah: Reg, rb: Reg, op: VOp),
                "(rd, rdh) = the vector (ra, rah) shifted lane by lane by the count in rb (modulo the lane's width).", "none";
            Vsplat = 164, "vsplat", Vector, Int, (rd: Reg, rdh: Reg, rs: Reg, op: VOp),
                "(rd, rdh) = a vector whose every lane is the low bits of rs.", "none";
            Vtest = 165, "vtest", Vector, Int, (rd: Reg, ra: Reg, rah: Reg, op: VOp),
                "rd = op's scalar summary of the vector (ra, rah).", "none";
            Vextract = 166, "vextract", Vector, Int, (rd: Reg, ra: Reg, rah: Reg, lane: u8, op: VOp),
                "rd = lane `lane` of the vector (ra, rah), extended as op says.", "none";
            Vreplace = 167, "vreplace", Vector, Int, (rd: Reg, rdh: Reg, ra: Reg, rah: Reg, rs: Reg, lane: u8, op: VOp),
                "(rd, rdh) = the vector (ra, rah) with lane `lane` = the low bits of rs.", "none";

            // Traps.
            Trap = 237, "trap", Traps, Int, (code: u8),
                "Stops the context with a trap named by code: 0 *unreachable*, 1 *integer divide by zero*, 2 *integer overflow*, 3 *invalid conversion to integer*, 4 *out of bounds memory access*, 5 *undefined element*, 6 *uninitialized element*, 7 *indirect call type mismatch*, 8 *out of bounds table access*; other codes *trap N*. The WebAssembly translator raises wasm's traps with it.", "always.";
        }
    };
}

/// A register operand: one byte, 0–63 `a`, 64–127 `s`, 128–191 `v`, 192–255 `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(pub u8);

impl Reg {
    /// Parses `a0`…`t63`.
    pub fn parse(name: &str) -> Option<Reg> {
        let bank = match name.as_bytes().first()? {
            b'a' => 0,
            b's' => 64,
            b'v' => 128,
            b't' => 192,
            _ => return None,
        };
        let digits = &name[1..];
        if digits.is_empty()
            || (digits.len() > 1 && digits.starts_with('0'))
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let n: u8 = digits.parse().ok().filter(|n| *n < 64)?;
        Some(Reg(bank + n))
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bank = ["a", "s", "v", "t"][usize::from(self.0 / 64)];
        write!(f, "{bank}{}", self.0 % 64)
    }
}

/// An f64 immediate, kept as its bits so every value (NaN payloads too) round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct F64(pub u64);

impl F64 {
    /// The value.
    pub fn value(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl fmt::Display for F64 {
    /// Shortest text that reads back to the same bits; `bits:0x…` for other NaNs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.value();
        if v.is_nan() && self.0 != f64::NAN.to_bits() {
            write!(f, "bits:0x{:016x}", self.0)
        } else if v.is_nan() {
            f.write_str("nan")
        } else if v.is_infinite() {
            f.write_str(if v > 0.0 { "inf" } else { "-inf" })
        } else {
            write!(f, "{v:?}")
        }
    }
}

/// A data or code address operand (`la`), not checked until used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Addr(pub u64);

/// A static control-flow target: must be an instruction boundary or a label
/// in a code section, which the loader checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target(pub u64);

/// A memory operand: `[base + off]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mem {
    /// Base register.
    pub base: Reg,
    /// Signed byte offset.
    pub off: i32,
}

impl fmt::Display for Mem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.off {
            0 => write!(f, "[{}]", self.base),
            off if off < 0 => write!(f, "[{} - {}]", self.base, -i64::from(off)),
            off => write!(f, "[{} + {off}]", self.base),
        }
    }
}

/// The kinds of operand, as the docs and the assembler name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A register, 1 byte.
    Reg,
    /// A signed 32-bit integer, 4 bytes.
    I32,
    /// An unsigned 32-bit integer, 4 bytes.
    U32,
    /// A signed 64-bit integer, 8 bytes.
    I64,
    /// An unsigned 8-bit integer, 1 byte.
    U8,
    /// An f64, 8 bytes.
    F64,
    /// An address, 8 bytes.
    Addr,
    /// A static code target, 8 bytes.
    Target,
    /// Base register and signed 32-bit offset, 5 bytes.
    Mem,
    /// A vector operation ([`VectorOp`]), 1 byte.
    VOp,
}

impl Kind {
    /// Encoded size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Kind::Reg | Kind::U8 | Kind::VOp => 1,
            Kind::I32 | Kind::U32 => 4,
            Kind::I64 | Kind::F64 | Kind::Addr | Kind::Target => 8,
            Kind::Mem => 5,
        }
    }

    /// The name in the docs.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Reg => "register",
            Kind::I32 => "i32",
            Kind::U32 => "u32",
            Kind::I64 => "i64",
            Kind::U8 => "u8",
            Kind::F64 => "f64",
            Kind::Addr => "address (u64)",
            Kind::Target => "code target (u64)",
            Kind::Mem => "memory `[reg ± i32]`",
            Kind::VOp => "vector operation (u8)",
        }
    }
}

/// One operand value, kind-tagged: what the assembler produces and the
/// disassembler prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A register.
    Reg(Reg),
    /// An i32.
    I32(i32),
    /// A u32.
    U32(u32),
    /// An i64.
    I64(i64),
    /// A u8.
    U8(u8),
    /// An f64.
    F64(F64),
    /// An address.
    Addr(Addr),
    /// A code target.
    Target(Target),
    /// A memory operand.
    Mem(Mem),
    /// A vector operation.
    VOp(VOp),
}

/// A Rust type that is an operand in the table.
pub trait Field: Copy {
    /// Its kind.
    const KIND: Kind;
    /// Appends the little-endian encoding.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads it from the start of `bytes` (exactly `KIND.size()` bytes long).
    fn read_le(bytes: &[u8]) -> Self;
    /// Tags it.
    fn to_operand(self) -> Operand;
    /// Untags it, if the kind matches.
    fn from_operand(operand: Operand) -> Option<Self>;
    /// Itself with every register it names passed through `f`.
    fn map_reg(self, _f: &mut dyn FnMut(Reg) -> Reg) -> Self {
        self
    }
    /// The register, if this is one.
    fn as_reg(&mut self) -> Option<&mut Reg> {
        None
    }
    /// The code target, if this is one.
    fn as_target(self) -> Option<Target> {
        match self.to_operand() {
            Operand::Target(t) => Some(t),
            _ => None,
        }
    }
}

/// Implements [`Field`] for a type stored as the little-endian bytes of
/// `$bits`, an integer type: `$to` and `$from` convert to and from it.
macro_rules! field {
    ($ty:ty, $kind:ident, $bits:ty, $to:expr, $from:expr $(, $map:expr, $reg:ident)?) => {
        impl Field for $ty {
            const KIND: Kind = Kind::$kind;
            fn write_le(self, out: &mut Vec<u8>) {
                let bits: $bits = $to(self);
                out.extend_from_slice(&bits.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                let mut le = [0; std::mem::size_of::<$bits>()];
                let n = le.len();
                le.copy_from_slice(&bytes[..n]);
                $from(<$bits>::from_le_bytes(le))
            }
            fn to_operand(self) -> Operand {
                Operand::$kind(self)
            }
            fn from_operand(operand: Operand) -> Option<Self> {
                match operand {
                    Operand::$kind(v) => Some(v),
                    _ => None,
                }
            }
            $(fn map_reg(self, f: &mut dyn FnMut(Reg) -> Reg) -> Self {
                $map(self, f)
            }
            fn as_reg(&mut self) -> Option<&mut Reg> {
                let $reg = self;
                Some($reg)
            })?
        }
    };
}

field!(i32, I32, i32, |v| v, |v| v);
field!(u32, U32, u32, |v| v, |v| v);
field!(i64, I64, i64, |v| v, |v| v);
field!(u8, U8, u8, |v| v, |v| v);
field!(F64, F64, u64, |v: F64| v.0, F64);
field!(Addr, Addr, u64, |v: Addr| v.0, Addr);
field!(Target, Target, u64, |v: Target| v.0, Target);
field!(Reg, Reg, u8, |v: Reg| v.0, Reg, |v: Reg, f: &mut dyn FnMut(Reg) -> Reg| f(v), reg);

impl Field for Mem {
    const KIND: Kind = Kind::Mem;
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self.base.0);
        self.off.write_le(out);
    }
    fn read_le(bytes: &[u8]) -> Self {
        Mem { base: Reg(bytes[0]), off: i32::read_le(&bytes[1..]) }
    }
    fn to_operand(self) -> Operand {
        Operand::Mem(self)
    }
    fn from_operand(operand: Operand) -> Option<Self> {
        match operand {
            Operand::Mem(v) => Some(v),
            _ => None,
        }
    }
    fn map_reg(self, f: &mut dyn FnMut(Reg) -> Reg) -> Self {
        Mem { base: f(self.base), off: self.off }
    }
}

/// `true` (and `rd` set) if the first field is named `rd`: the register an
/// instruction writes its result to.
macro_rules! first_rd {
    ($first:ident $(, $rest:ident)*) => {
        if stringify!($first) == "rd" {
            Field::as_reg($first)
        } else {
            None
        }
    };
    () => {
        None
    };
}

/// `Some` (the register) if the second field is named `rdh`: a vector
/// result's high half.
macro_rules! second_rdh {
    ($first:ident, $second:ident $(, $rest:ident)*) => {
        if stringify!($second) == "rdh" {
            Field::as_reg($second)
        } else {
            None
        }
    };
    ($($any:ident),*) => {
        None
    };
}

macro_rules! define_isa {
    ($(
        $variant:ident = $byte:literal, $mnemonic:literal, $group:ident, $kind:ident, ($($field:ident : $ty:ty),*),
            $semantics:literal, $traps:literal;
    )*) => {
        /// An opcode byte of the Manda instruction set.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Opcode {
            $(
                #[doc = $semantics]
                $variant = $byte,
            )*
        }

        impl Opcode {
            /// Every opcode, in table order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant),*];

            /// The opcode for `byte`, if it is one.
            pub const fn from_byte(byte: u8) -> Option<Opcode> {
                match byte {
                    $($byte => Some(Opcode::$variant),)*
                    _ => None,
                }
            }

            /// The lower-case mnemonic.
            pub const fn mnemonic(self) -> &'static str {
                match self { $(Opcode::$variant => $mnemonic,)* }
            }

            /// The opcode for a mnemonic (lower case, as in the table).
            pub fn from_mnemonic(name: &str) -> Option<Opcode> {
                match name {
                    $($mnemonic => Some(Opcode::$variant),)*
                    _ => None,
                }
            }

            /// Its group: the section of the reference it is listed under,
            /// and what the machine makes of it ([`Group::transfers_control`], …).
            pub const fn group(self) -> Group {
                match self { $(Opcode::$variant => Group::$group,)* }
            }

            /// What its result register (`rd`) receives.
            pub const fn result_kind(self) -> ValueKind {
                match self { $(Opcode::$variant => ValueKind::$kind,)* }
            }

            /// Its operands' names and kinds, in encoding order.
            pub const fn operands(self) -> &'static [(&'static str, Kind)] {
                match self { $(Opcode::$variant => &[$((stringify!($field), <$ty as Field>::KIND)),*],)* }
            }

            /// Exact semantics, one paragraph.
            pub const fn semantics(self) -> &'static str {
                match self { $(Opcode::$variant => $semantics,)* }
            }

            /// What makes the instruction trap.
            pub const fn traps(self) -> &'static str {
                match self { $(Opcode::$variant => $traps,)* }
            }

            /// The form of the vector operations it takes, for a vector instruction.
            pub const fn vector_form(self) -> Option<Form> {
                Some(match self {
                    Opcode::Vbin => Form::Binary,
                    Opcode::Vun => Form::Unary,
                    Opcode::Vtern => Form::Ternary,
                    Opcode::Vshift => Form::Shift,
                    Opcode::Vsplat => Form::Splat,
                    Opcode::Vtest => Form::Test,
                    Opcode::Vextract => Form::Extract,
                    Opcode::Vreplace => Form::Replace,
                    _ => return None,
                })
            }

            /// Encoded size: the opcode byte plus the operands.
            pub const fn encoded_len(self) -> usize {
                match self { $(Opcode::$variant => 1 $(+ <$ty as Field>::KIND.size())*,)* }
            }

            /// Where its code target's eight bytes start in its encoding, if it has one.
            pub const fn target_at(self) -> Option<usize> {
                let operands = self.operands();
                let (mut i, mut at) = (0, 1);
                while i < operands.len() {
                    if matches!(operands[i].1, Kind::Target) {
                        return Some(at);
                    }
                    at += operands[i].1.size();
                    i += 1;
                }
                None
            }
        }

        /// Per byte value, what a pass over code needs of it without decoding
        /// the instruction: its encoded length (0: not an opcode) and where its
        /// code target starts (0: it has none). One table lookup per instruction.
        pub const ENCODINGS: [(u8, u8); 256] = {
            let mut table = [(0, 0); 256];
            let mut i = 0;
            while i < Opcode::ALL.len() {
                let op = Opcode::ALL[i];
                let target_at = match op.target_at() {
                    Some(at) => at as u8,
                    None => 0,
                };
                table[op as usize] = (op.encoded_len() as u8, target_at);
                i += 1;
            }
            table
        };

        /// One decoded Manda instruction with its operands.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Instr {
            $(
                #[doc = $semantics]
                $variant { $(#[doc = concat!("Operand `", stringify!($field), "`.")] $field: $ty),* },
            )*
        }

        impl Instr {
            /// The instruction's opcode.
            pub const fn opcode(&self) -> Opcode {
                match self { $(Instr::$variant { .. } => Opcode::$variant,)* }
            }

            /// Appends the instruction's encoding to `out`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                match *self {
                    $(Instr::$variant { $($field),* } => {
                        out.push($byte);
                        $(Field::write_le($field, out);)*
                    })*
                }
            }

            /// Decodes one instruction from the start of `bytes`: `Err(None)`
            /// for an unknown opcode, `Err(Some(op))` if `bytes` ends inside it.
            #[allow(unused_assignments)] // the last field's advance
            pub fn decode(bytes: &[u8]) -> Result<Instr, Option<Opcode>> {
                let op = bytes.first().and_then(|&b| Opcode::from_byte(b)).ok_or(None)?;
                let body = bytes.get(1..op.encoded_len()).ok_or(Some(op))?;
                #[allow(unused_mut, unused_variables)]
                let mut at = 0;
                Ok(match op {
                    $(Opcode::$variant => Instr::$variant { $($field: {
                        let v = <$ty as Field>::read_le(&body[at..]);
                        at += <$ty as Field>::KIND.size();
                        v
                    }),* },)*
                })
            }

            /// Itself with every register operand passed through `f`.
            pub fn map_regs(self, f: &mut dyn FnMut(Reg) -> Reg) -> Instr {
                match self {
                    $(Instr::$variant { $($field),* } => Instr::$variant { $($field: Field::map_reg($field, f)),* },)*
                }
            }
            /// The result register: the first operand, if it is named `rd`.
            #[allow(unused_variables)]
            pub fn rd_mut(&mut self) -> Option<&mut Reg> {
                match self {
                    $(Instr::$variant { $($field),* } => first_rd!($($field),*),)*
                }
            }
            /// The second result register: a vector result's high half, the second operand if it is named `rdh`.
            #[allow(unused_variables)]
            pub fn rdh_mut(&mut self) -> Option<&mut Reg> {
                match self {
                    $(Instr::$variant { $($field),* } => second_rdh!($($field),*),)*
                }
            }
            /// The second result register, as [`rdh_mut`](Instr::rdh_mut).
            pub fn rdh(&self) -> Option<Reg> {
                let mut copy = *self;
                copy.rdh_mut().copied()
            }
            /// The result register: the first operand, if it is named `rd`.
            pub fn rd(&self) -> Option<Reg> {
                let mut copy = *self;
                copy.rd_mut().copied()
            }
            /// The static code target (`jmp`, branches, `call`, `fork`: an
            /// instruction has at most one).
            pub fn target(&self) -> Option<Target> {
                #[allow(unused_variables)]
                match *self {
                    $(Instr::$variant { $($field),* } => None $(.or(Field::as_target($field)))*,)*
                }
            }

            /// The operands, in encoding order.
            pub fn operands(&self) -> Vec<Operand> {
                match *self {
                    $(Instr::$variant { $($field),* } => vec![$(Field::to_operand($field)),*],)*
                }
            }

            /// Builds `op` from operands of the right kinds, in order.
            pub fn from_operands(op: Opcode, operands: &[Operand]) -> Option<Instr> {
                #[allow(unused_mut, unused_variables)]
                let mut it = operands.iter().copied();
                let instr = match op {
                    $(Opcode::$variant => Instr::$variant { $($field: <$ty as Field>::from_operand(it.next()?)?),* },)*
                };
                it.next().is_none().then_some(instr)
            }
        }
    };
}

for_each_op!(define_isa);

// For the machine, which expands its internal op set from the same table.
pub(crate) use for_each_op;

impl fmt::Display for Operand {
    /// Plain text; the disassembler prints addresses as labels instead.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Reg(r) => r.fmt(f),
            Operand::I32(v) => v.fmt(f),
            Operand::U32(v) => v.fmt(f),
            Operand::I64(v) => v.fmt(f),
            Operand::U8(v) => v.fmt(f),
            Operand::F64(v) => v.fmt(f),
            Operand::Addr(Addr(a)) | Operand::Target(Target(a)) => write!(f, "0x{a:x}"),
            Operand::Mem(m) => m.fmt(f),
            Operand::VOp(v) => v.fmt(f),
        }
    }
}

impl fmt::Display for Instr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.opcode().mnemonic())?;
        for (i, operand) in self.operands().iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            operand.fmt(f)?;
        }
        Ok(())
    }
}

/// `mnemonic rd, ra, rb`: the syntax line of an opcode.
pub fn syntax(op: Opcode) -> String {
    let names: Vec<&str> = op.operands().iter().map(|(name, _)| *name).collect();
    match names.is_empty() {
        true => op.mnemonic().to_string(),
        false => format!("{} {}", op.mnemonic(), names.join(", ")),
    }
}

/// Renders the instruction reference, `docs/manda/OPCODES.md`, from the table.
pub fn opcodes_markdown() -> String {
    use std::fmt::Write as _;
    let mut md = String::from(
        "# Manda opcodes\n\n\
         <!-- Generated from the table in crates/manda/src/isa.rs; a test fails when they differ.\n     \
         Re-record with: BLESS=1 cargo test -p manda --test docs -->\n\n\
         Every instruction is its opcode byte (10–255; 0–9 are label headers) followed by its\n\
         operands in the order shown, little-endian, unpadded. Registers are one byte: 0–63 `a0`–`a63`,\n\
         64–127 `s0`–`s63`, 128–191 `v0`–`v63`, 192–255 `t0`–`t63`. Integer arithmetic is 64-bit and\n\
         wraps; f64 arithmetic is IEEE 754 binary64. The machine model — memory and its permissions,\n\
         the stack, the call stack, the calling convention, contexts and traps — is described in\n\
         [README.md](README.md); the assembler syntax in [assembly.md](assembly.md).\n\n\
         Operand kinds: register (1 byte), i32/u32 (4), i64/u64/f64 (8), u8 (1), vector operation (1), memory\n\
         `[reg ± i32]` (base register byte, then i32 offset: 5 bytes), address and code target (u64,\n\
         8). A code target must be an instruction boundary or a label header in a code section; the\n\
         loader rejects any other.\n",
    );
    let mut group = None;
    for &op in Opcode::ALL {
        if Some(op.group()) != group {
            group = Some(op.group());
            let group = op.group().heading();
            let _ = write!(
                md,
                "\n## {group}\n\n| Opcode | Syntax | Size | Semantics | Traps |\n| --- | --- | --- | --- | --- |\n"
            );
        }
        let _ = writeln!(
            md,
            "| {} (0x{:02X}) | `{}` | {} | {} | {} |",
            op as u8,
            op as u8,
            syntax(op),
            op.encoded_len(),
            op.semantics(),
            op.traps()
        );
    }
    md.push_str(&vops_markdown());
    md.push_str("\n## Operand encodings\n\n| Opcode | Operands (kind) |\n| --- | --- |\n");
    for &op in Opcode::ALL {
        let kinds: Vec<String> =
            op.operands().iter().map(|(name, kind)| format!("`{name}`: {}", kind.name())).collect();
        let _ = writeln!(
            md,
            "| `{}` | {} |",
            op.mnemonic(),
            if kinds.is_empty() { "none".into() } else { kinds.join(", ") }
        );
    }
    md
}
