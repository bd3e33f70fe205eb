//! The vector operations: what the `v…` instructions do to 128-bit values.
//!
//! A 128-bit vector (WebAssembly's `v128`) lives in two ordinary registers,
//! its low 64 bits in one and its high 64 bits in the other, so the machine
//! has no second register file and a snapshot carries vectors like any
//! other register. A vector instruction names both registers of each vector
//! operand (`rd, rdh` the result's low and high halves, `ra, rah` …) and a
//! **vector operation** ([`VOp`], one byte, the instruction's last operand)
//! from the table below. Each instruction takes the operations of one
//! [`Form`]: `vbin` the binary ones, `vun` the unary ones and so on; the
//! loader refuses an operation byte that is not in the table or not of the
//! instruction's form.
//!
//! The table is one list, `for_each_vop!`: byte, name (WebAssembly's, whose
//! semantics each operation has), form and a sentence. [`VectorOp`], the
//! names the assembler reads and the disassembler prints, and the "Vector
//! operations" section of `docs/manda/OPCODES.md` are expanded from it.
//!
//! Lanes are numbered from the low end: lane 0 of an `i32x4` is bits 0–31
//! of the low register. Float lanes are computed as the scalar float
//! instructions compute (the same NaNs). WebAssembly's relaxed-SIMD
//! operations are given fixed semantics, the same on every host: each is
//! translated to the deterministic operation named in
//! `docs/manda/wasm.md`, and the four with no such twin are here with one
//! exact definition.

use super::{Field, Kind, Operand};
use std::fmt;

/// What operands the operations of an instruction take and give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Two vectors to a vector (`vbin`).
    Binary,
    /// A vector to a vector (`vun`).
    Unary,
    /// Three vectors to a vector (`vtern`).
    Ternary,
    /// A vector and a shift count to a vector (`vshift`).
    Shift,
    /// A scalar to a vector of copies (`vsplat`).
    Splat,
    /// A vector to a scalar (`vtest`).
    Test,
    /// A vector's lane to a scalar (`vextract`).
    Extract,
    /// A vector with one lane replaced by a scalar (`vreplace`).
    Replace,
}

impl Form {
    /// Its operations, in table order.
    pub fn ops(self) -> impl Iterator<Item = VectorOp> {
        VectorOp::ALL.iter().copied().filter(move |v| v.form() == self)
    }

    /// The instruction that takes operations of this form.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            Form::Binary => "vbin",
            Form::Unary => "vun",
            Form::Ternary => "vtern",
            Form::Shift => "vshift",
            Form::Splat => "vsplat",
            Form::Test => "vtest",
            Form::Extract => "vextract",
            Form::Replace => "vreplace",
        }
    }
}

/// Calls `$m!` with the whole vector-operation table. Each row:
/// `Variant = byte, "name", Form, "semantics";`.
macro_rules! for_each_vop {
    ($m:ident) => {
        $m! {
            // Bitwise.
            V128And = 0, "v128.and", Binary, "a & b.";
            V128Andnot = 1, "v128.andnot", Binary, "a & !b.";
            V128Or = 2, "v128.or", Binary, "a | b.";
            V128Xor = 3, "v128.xor", Binary, "a ^ b.";
            V128Not = 4, "v128.not", Unary, "!a.";
            V128Bitselect = 5, "v128.bitselect", Ternary, "(a & c) | (b & !c): each bit from a where c's is 1, else from b.";
            V128AnyTrue = 6, "v128.any_true", Test, "1 if any bit of a is 1, else 0.";
            // Lane shuffles.
            I8x16Swizzle = 7, "i8x16.swizzle", Binary, "Lane i = a's lane b[i] (unsigned), or 0 if b[i] ≥ 16.";
            I8x16Shuffle = 8, "i8x16.shuffle", Ternary, "Lane i = lane c[i] of the 32 lanes of a then b, or 0 if c[i] ≥ 32 (c holds the lane indices).";
            // Splats, lane reads and writes.
            Splat8 = 9, "splat8", Splat, "Every 8-bit lane = the low 8 bits of the scalar.";
            Splat16 = 10, "splat16", Splat, "Every 16-bit lane = the low 16 bits of the scalar.";
            Splat32 = 11, "splat32", Splat, "Every 32-bit lane = the low 32 bits of the scalar.";
            Splat64 = 12, "splat64", Splat, "Both 64-bit lanes = the scalar.";
            Extract8s = 13, "extract8_s", Extract, "rd = 8-bit lane (lane mod 16), sign-extended.";
            Extract8u = 14, "extract8_u", Extract, "rd = 8-bit lane (lane mod 16), zero-extended.";
            Extract16s = 15, "extract16_s", Extract, "rd = 16-bit lane (lane mod 8), sign-extended.";
            Extract16u = 16, "extract16_u", Extract, "rd = 16-bit lane (lane mod 8), zero-extended.";
            Extract32s = 17, "extract32_s", Extract, "rd = 32-bit lane (lane mod 4), sign-extended (an i32 as registers hold it).";
            Extract32u = 18, "extract32_u", Extract, "rd = 32-bit lane (lane mod 4), zero-extended (an f32's bits).";
            Extract64 = 19, "extract64", Extract, "rd = 64-bit lane (lane mod 2).";
            Replace8 = 20, "replace8", Replace, "a with 8-bit lane (lane mod 16) = the low 8 bits of rs.";
            Replace16 = 21, "replace16", Replace, "a with 16-bit lane (lane mod 8) = the low 16 bits of rs.";
            Replace32 = 22, "replace32", Replace, "a with 32-bit lane (lane mod 4) = the low 32 bits of rs.";
            Replace64 = 23, "replace64", Replace, "a with 64-bit lane (lane mod 2) = rs.";
            // Comparisons: each lane all ones if true, else 0 (`gt`, `ge` are these with a and b swapped).
            I8x16Eq = 24, "i8x16.eq", Binary, "a[i] = b[i].";
            I8x16Ne = 25, "i8x16.ne", Binary, "a[i] ≠ b[i].";
            I8x16LtS = 26, "i8x16.lt_s", Binary, "a[i] < b[i], signed.";
            I8x16LtU = 27, "i8x16.lt_u", Binary, "a[i] < b[i], unsigned.";
            I8x16LeS = 28, "i8x16.le_s", Binary, "a[i] ≤ b[i], signed.";
            I8x16LeU = 29, "i8x16.le_u", Binary, "a[i] ≤ b[i], unsigned.";
            I16x8Eq = 30, "i16x8.eq", Binary, "a[i] = b[i].";
            I16x8Ne = 31, "i16x8.ne", Binary, "a[i] ≠ b[i].";
            I16x8LtS = 32, "i16x8.lt_s", Binary, "a[i] < b[i], signed.";
            I16x8LtU = 33, "i16x8.lt_u", Binary, "a[i] < b[i], unsigned.";
            I16x8LeS = 34, "i16x8.le_s", Binary, "a[i] ≤ b[i], signed.";
            I16x8LeU = 35, "i16x8.le_u", Binary, "a[i] ≤ b[i], unsigned.";
            I32x4Eq = 36, "i32x4.eq", Binary, "a[i] = b[i].";
            I32x4Ne = 37, "i32x4.ne", Binary, "a[i] ≠ b[i].";
            I32x4LtS = 38, "i32x4.lt_s", Binary, "a[i] < b[i], signed.";
            I32x4LtU = 39, "i32x4.lt_u", Binary, "a[i] < b[i], unsigned.";
            I32x4LeS = 40, "i32x4.le_s", Binary, "a[i] ≤ b[i], signed.";
            I32x4LeU = 41, "i32x4.le_u", Binary, "a[i] ≤ b[i], unsigned.";
            I64x2Eq = 42, "i64x2.eq", Binary, "a[i] = b[i].";
            I64x2Ne = 43, "i64x2.ne", Binary, "a[i] ≠ b[i].";
            I64x2LtS = 44, "i64x2.lt_s", Binary, "a[i] < b[i], signed.";
            I64x2LeS = 45, "i64x2.le_s", Binary, "a[i] ≤ b[i], signed.";
            F32x4Eq = 46, "f32x4.eq", Binary, "a[i] = b[i] (false if either is NaN).";
            F32x4Ne = 47, "f32x4.ne", Binary, "a[i] ≠ b[i] (true if either is NaN).";
            F32x4Lt = 48, "f32x4.lt", Binary, "a[i] < b[i].";
            F32x4Le = 49, "f32x4.le", Binary, "a[i] ≤ b[i].";
            F64x2Eq = 50, "f64x2.eq", Binary, "a[i] = b[i] (false if either is NaN).";
            F64x2Ne = 51, "f64x2.ne", Binary, "a[i] ≠ b[i] (true if either is NaN).";
            F64x2Lt = 52, "f64x2.lt", Binary, "a[i] < b[i].";
            F64x2Le = 53, "f64x2.le", Binary, "a[i] ≤ b[i].";
            // Lane tests.
            I8x16AllTrue = 54, "i8x16.all_true", Test, "1 if every 8-bit lane is non-zero, else 0.";
            I16x8AllTrue = 55, "i16x8.all_true", Test, "1 if every 16-bit lane is non-zero, else 0.";
            I32x4AllTrue = 56, "i32x4.all_true", Test, "1 if every 32-bit lane is non-zero, else 0.";
            I64x2AllTrue = 57, "i64x2.all_true", Test, "1 if every 64-bit lane is non-zero, else 0.";
            I8x16Bitmask = 58, "i8x16.bitmask", Test, "Bit i = the top bit of 8-bit lane i.";
            I16x8Bitmask = 59, "i16x8.bitmask", Test, "Bit i = the top bit of 16-bit lane i.";
            I32x4Bitmask = 60, "i32x4.bitmask", Test, "Bit i = the top bit of 32-bit lane i.";
            I64x2Bitmask = 61, "i64x2.bitmask", Test, "Bit i = the top bit of 64-bit lane i.";
            // i8x16.
            I8x16Abs = 62, "i8x16.abs", Unary, "|a[i]|, wrapping (|-128| = -128).";
            I8x16Neg = 63, "i8x16.neg", Unary, "-a[i], wrapping.";
            I8x16Popcnt = 64, "i8x16.popcnt", Unary, "The number of one bits of a[i].";
            I8x16NarrowI16x8S = 65, "i8x16.narrow_i16x8_s", Binary, "The 16 signed 16-bit lanes of a then b, each saturated to a signed 8-bit lane.";
            I8x16NarrowI16x8U = 66, "i8x16.narrow_i16x8_u", Binary, "The 16 signed 16-bit lanes of a then b, each saturated to an unsigned 8-bit lane.";
            I8x16Shl = 67, "i8x16.shl", Shift, "a[i] << (rb mod 8).";
            I8x16ShrS = 68, "i8x16.shr_s", Shift, "a[i] >> (rb mod 8), arithmetic.";
            I8x16ShrU = 69, "i8x16.shr_u", Shift, "a[i] >> (rb mod 8), logical.";
            I8x16Add = 70, "i8x16.add", Binary, "a[i] + b[i], wrapping.";
            I8x16AddSatS = 71, "i8x16.add_sat_s", Binary, "a[i] + b[i], signed, saturating.";
            I8x16AddSatU = 72, "i8x16.add_sat_u", Binary, "a[i] + b[i], unsigned, saturating.";
            I8x16Sub = 73, "i8x16.sub", Binary, "a[i] - b[i], wrapping.";
            I8x16SubSatS = 74, "i8x16.sub_sat_s", Binary, "a[i] - b[i], signed, saturating.";
            I8x16SubSatU = 75, "i8x16.sub_sat_u", Binary, "a[i] - b[i], unsigned, saturating.";
            I8x16MinS = 76, "i8x16.min_s", Binary, "The lesser of a[i] and b[i], signed.";
            I8x16MinU = 77, "i8x16.min_u", Binary, "The lesser of a[i] and b[i], unsigned.";
            I8x16MaxS = 78, "i8x16.max_s", Binary, "The greater of a[i] and b[i], signed.";
            I8x16MaxU = 79, "i8x16.max_u", Binary, "The greater of a[i] and b[i], unsigned.";
            I8x16AvgrU = 80, "i8x16.avgr_u", Binary, "(a[i] + b[i] + 1) / 2, unsigned, without overflow.";
            // i16x8.
            I16x8ExtaddPairwiseI8x16S = 81, "i16x8.extadd_pairwise_i8x16_s", Unary, "a[2i] + a[2i+1], the 8-bit lanes signed.";
            I16x8ExtaddPairwiseI8x16U = 82, "i16x8.extadd_pairwise_i8x16_u", Unary, "a[2i] + a[2i+1], the 8-bit lanes unsigned.";
            I16x8Abs = 83, "i16x8.abs", Unary, "|a[i]|, wrapping.";
            I16x8Neg = 84, "i16x8.neg", Unary, "-a[i], wrapping.";
            I16x8Q15mulrSatS = 85, "i16x8.q15mulr_sat_s", Binary, "(a[i] × b[i] + 2^14) >> 15, signed, saturated to 16 bits.";
            I16x8NarrowI32x4S = 86, "i16x8.narrow_i32x4_s", Binary, "The 8 signed 32-bit lanes of a then b, each saturated to a signed 16-bit lane.";
            I16x8NarrowI32x4U = 87, "i16x8.narrow_i32x4_u", Binary, "The 8 signed 32-bit lanes of a then b, each saturated to an unsigned 16-bit lane.";
            I16x8ExtendLowI8x16S = 88, "i16x8.extend_low_i8x16_s", Unary, "8-bit lanes 0–7 of a, sign-extended.";
            I16x8ExtendHighI8x16S = 89, "i16x8.extend_high_i8x16_s", Unary, "8-bit lanes 8–15 of a, sign-extended.";
            I16x8ExtendLowI8x16U = 90, "i16x8.extend_low_i8x16_u", Unary, "8-bit lanes 0–7 of a, zero-extended.";
            I16x8ExtendHighI8x16U = 91, "i16x8.extend_high_i8x16_u", Unary, "8-bit lanes 8–15 of a, zero-extended.";
            I16x8Shl = 92, "i16x8.shl", Shift, "a[i] << (rb mod 16).";
            I16x8ShrS = 93, "i16x8.shr_s", Shift, "a[i] >> (rb mod 16), arithmetic.";
            I16x8ShrU = 94, "i16x8.shr_u", Shift, "a[i] >> (rb mod 16), logical.";
            I16x8Add = 95, "i16x8.add", Binary, "a[i] + b[i], wrapping.";
            I16x8AddSatS = 96, "i16x8.add_sat_s", Binary, "a[i] + b[i], signed, saturating.";
            I16x8AddSatU = 97, "i16x8.add_sat_u", Binary, "a[i] + b[i], unsigned, saturating.";
            I16x8Sub = 98, "i16x8.sub", Binary, "a[i] - b[i], wrapping.";
            I16x8SubSatS = 99, "i16x8.sub_sat_s", Binary, "a[i] - b[i], signed, saturating.";
            I16x8SubSatU = 100, "i16x8.sub_sat_u", Binary, "a[i] - b[i], unsigned, saturating.";
            I16x8Mul = 101, "i16x8.mul", Binary, "a[i] × b[i], wrapping.";
            I16x8MinS = 102, "i16x8.min_s", Binary, "The lesser of a[i] and b[i], signed.";
            I16x8MinU = 103, "i16x8.min_u", Binary, "The lesser of a[i] and b[i], unsigned.";
            I16x8MaxS = 104, "i16x8.max_s", Binary, "The greater of a[i] and b[i], signed.";
            I16x8MaxU = 105, "i16x8.max_u", Binary, "The greater of a[i] and b[i], unsigned.";
            I16x8AvgrU = 106, "i16x8.avgr_u", Binary, "(a[i] + b[i] + 1) / 2, unsigned, without overflow.";
            I16x8ExtmulLowI8x16S = 107, "i16x8.extmul_low_i8x16_s", Binary, "a[i] × b[i] for 8-bit lanes 0–7, signed, as 16 bits.";
            I16x8ExtmulHighI8x16S = 108, "i16x8.extmul_high_i8x16_s", Binary, "a[i] × b[i] for 8-bit lanes 8–15, signed, as 16 bits.";
            I16x8ExtmulLowI8x16U = 109, "i16x8.extmul_low_i8x16_u", Binary, "a[i] × b[i] for 8-bit lanes 0–7, unsigned, as 16 bits.";
            I16x8ExtmulHighI8x16U = 110, "i16x8.extmul_high_i8x16_u", Binary, "a[i] × b[i] for 8-bit lanes 8–15, unsigned, as 16 bits.";
            I16x8DotI8x16I7x16S = 111, "i16x8.relaxed_dot_i8x16_i7x16_s", Binary, "a[2i] × b[2i] + a[2i+1] × b[2i+1], the 8-bit lanes signed, wrapping to 16 bits (relaxed SIMD's, made exact).";
            // i32x4.
            I32x4ExtaddPairwiseI16x8S = 112, "i32x4.extadd_pairwise_i16x8_s", Unary, "a[2i] + a[2i+1], the 16-bit lanes signed.";
            I32x4ExtaddPairwiseI16x8U = 113, "i32x4.extadd_pairwise_i16x8_u", Unary, "a[2i] + a[2i+1], the 16-bit lanes unsigned.";
            I32x4Abs = 114, "i32x4.abs", Unary, "|a[i]|, wrapping.";
            I32x4Neg = 115, "i32x4.neg", Unary, "-a[i], wrapping.";
            I32x4ExtendLowI16x8S = 116, "i32x4.extend_low_i16x8_s", Unary, "16-bit lanes 0–3 of a, sign-extended.";
            I32x4ExtendHighI16x8S = 117, "i32x4.extend_high_i16x8_s", Unary, "16-bit lanes 4–7 of a, sign-extended.";
            I32x4ExtendLowI16x8U = 118, "i32x4.extend_low_i16x8_u", Unary, "16-bit lanes 0–3 of a, zero-extended.";
            I32x4ExtendHighI16x8U = 119, "i32x4.extend_high_i16x8_u", Unary, "16-bit lanes 4–7 of a, zero-extended.";
            I32x4Shl = 120, "i32x4.shl", Shift, "a[i] << (rb mod 32).";
            I32x4ShrS = 121, "i32x4.shr_s", Shift, "a[i] >> (rb mod 32), arithmetic.";
            I32x4ShrU = 122, "i32x4.shr_u", Shift, "a[i] >> (rb mod 32), logical.";
            I32x4Add = 123, "i32x4.add", Binary, "a[i] + b[i], wrapping.";
            I32x4Sub = 124, "i32x4.sub", Binary, "a[i] - b[i], wrapping.";
            I32x4Mul = 125, "i32x4.mul", Binary, "a[i] × b[i], wrapping.";
            I32x4MinS = 126, "i32x4.min_s", Binary, "The lesser of a[i] and b[i], signed.";
            I32x4MinU = 127, "i32x4.min_u", Binary, "The lesser of a[i] and b[i], unsigned.";
            I32x4MaxS = 128, "i32x4.max_s", Binary, "The greater of a[i] and b[i], signed.";
            I32x4MaxU = 129, "i32x4.max_u", Binary, "The greater of a[i] and b[i], unsigned.";
            I32x4DotI16x8S = 130, "i32x4.dot_i16x8_s", Binary, "a[2i] × b[2i] + a[2i+1] × b[2i+1], the 16-bit lanes signed, wrapping.";
            I32x4ExtmulLowI16x8S = 131, "i32x4.extmul_low_i16x8_s", Binary, "a[i] × b[i] for 16-bit lanes 0–3, signed, as 32 bits.";
            I32x4ExtmulHighI16x8S = 132, "i32x4.extmul_high_i16x8_s", Binary, "a[i] × b[i] for 16-bit lanes 4–7, signed, as 32 bits.";
            I32x4ExtmulLowI16x8U = 133, "i32x4.extmul_low_i16x8_u", Binary, "a[i] × b[i] for 16-bit lanes 0–3, unsigned, as 32 bits.";
            I32x4ExtmulHighI16x8U = 134, "i32x4.extmul_high_i16x8_u", Binary, "a[i] × b[i] for 16-bit lanes 4–7, unsigned, as 32 bits.";
            I32x4TruncSatF32x4S = 135, "i32x4.trunc_sat_f32x4_s", Unary, "Each f32 lane truncated to a signed 32-bit lane, saturating (NaN: 0).";
            I32x4TruncSatF32x4U = 136, "i32x4.trunc_sat_f32x4_u", Unary, "Each f32 lane truncated to an unsigned 32-bit lane, saturating (NaN: 0).";
            I32x4TruncSatF64x2SZero = 137, "i32x4.trunc_sat_f64x2_s_zero", Unary, "The two f64 lanes truncated to signed 32-bit lanes 0 and 1, saturating (NaN: 0); lanes 2 and 3 are 0.";
            I32x4TruncSatF64x2UZero = 138, "i32x4.trunc_sat_f64x2_u_zero", Unary, "The two f64 lanes truncated to unsigned 32-bit lanes 0 and 1, saturating (NaN: 0); lanes 2 and 3 are 0.";
            I32x4DotI8x16I7x16AddS = 139, "i32x4.relaxed_dot_i8x16_i7x16_add_s", Ternary, "c[i] + the four products a[4i+k] × b[4i+k] (8-bit lanes, signed), summed in pairs wrapping to 16 bits, then added as 32 bits, wrapping (relaxed SIMD's, made exact).";
            // i64x2.
            I64x2Abs = 140, "i64x2.abs", Unary, "|a[i]|, wrapping.";
            I64x2Neg = 141, "i64x2.neg", Unary, "-a[i], wrapping.";
            I64x2ExtendLowI32x4S = 142, "i64x2.extend_low_i32x4_s", Unary, "32-bit lanes 0–1 of a, sign-extended.";
            I64x2ExtendHighI32x4S = 143, "i64x2.extend_high_i32x4_s", Unary, "32-bit lanes 2–3 of a, sign-extended.";
            I64x2ExtendLowI32x4U = 144, "i64x2.extend_low_i32x4_u", Unary, "32-bit lanes 0–1 of a, zero-extended.";
            I64x2ExtendHighI32x4U = 145, "i64x2.extend_high_i32x4_u", Unary, "32-bit lanes 2–3 of a, zero-extended.";
            I64x2Shl = 146, "i64x2.shl", Shift, "a[i] << (rb mod 64).";
            I64x2ShrS = 147, "i64x2.shr_s", Shift, "a[i] >> (rb mod 64), arithmetic.";
            I64x2ShrU = 148, "i64x2.shr_u", Shift, "a[i] >> (rb mod 64), logical.";
            I64x2Add = 149, "i64x2.add", Binary, "a[i] + b[i], wrapping.";
            I64x2Sub = 150, "i64x2.sub", Binary, "a[i] - b[i], wrapping.";
            I64x2Mul = 151, "i64x2.mul", Binary, "a[i] × b[i], wrapping.";
            I64x2ExtmulLowI32x4S = 152, "i64x2.extmul_low_i32x4_s", Binary, "a[i] × b[i] for 32-bit lanes 0–1, signed, as 64 bits.";
            I64x2ExtmulHighI32x4S = 153, "i64x2.extmul_high_i32x4_s", Binary, "a[i] × b[i] for 32-bit lanes 2–3, signed, as 64 bits.";
            I64x2ExtmulLowI32x4U = 154, "i64x2.extmul_low_i32x4_u", Binary, "a[i] × b[i] for 32-bit lanes 0–1, unsigned, as 64 bits.";
            I64x2ExtmulHighI32x4U = 155, "i64x2.extmul_high_i32x4_u", Binary, "a[i] × b[i] for 32-bit lanes 2–3, unsigned, as 64 bits.";
            // f32x4.
            F32x4Ceil = 156, "f32x4.ceil", Unary, "Each lane rounded up, as `fceil32`.";
            F32x4Floor = 157, "f32x4.floor", Unary, "Each lane rounded down, as `ffloor32`.";
            F32x4Trunc = 158, "f32x4.trunc", Unary, "Each lane rounded toward zero, as `ftrunc32`.";
            F32x4Nearest = 159, "f32x4.nearest", Unary, "Each lane rounded to nearest, ties to even, as `fround32`.";
            F32x4Abs = 160, "f32x4.abs", Unary, "Each lane with its sign bit cleared.";
            F32x4Neg = 161, "f32x4.neg", Unary, "Each lane with its sign bit flipped.";
            F32x4Sqrt = 162, "f32x4.sqrt", Unary, "√a[i], as `fsqrt32`.";
            F32x4Add = 163, "f32x4.add", Binary, "a[i] + b[i], as `fadd32`.";
            F32x4Sub = 164, "f32x4.sub", Binary, "a[i] - b[i], as `fsub32`.";
            F32x4Mul = 165, "f32x4.mul", Binary, "a[i] × b[i], as `fmul32`.";
            F32x4Div = 166, "f32x4.div", Binary, "a[i] / b[i], as `fdiv32`.";
            F32x4Min = 167, "f32x4.min", Binary, "As `fmin32`: NaN if either is NaN, -0 below +0.";
            F32x4Max = 168, "f32x4.max", Binary, "As `fmax32`: NaN if either is NaN, +0 above -0.";
            F32x4Pmin = 169, "f32x4.pmin", Binary, "b[i] < a[i] ? b[i] : a[i].";
            F32x4Pmax = 170, "f32x4.pmax", Binary, "a[i] < b[i] ? b[i] : a[i].";
            F32x4ConvertI32x4S = 171, "f32x4.convert_i32x4_s", Unary, "Each signed 32-bit lane as the nearest f32.";
            F32x4ConvertI32x4U = 172, "f32x4.convert_i32x4_u", Unary, "Each unsigned 32-bit lane as the nearest f32.";
            F32x4DemoteF64x2Zero = 173, "f32x4.demote_f64x2_zero", Unary, "The two f64 lanes as f32 lanes 0 and 1, as `fdemote`; lanes 2 and 3 are 0.";
            F32x4Madd = 174, "f32x4.relaxed_madd", Ternary, "a[i] × b[i] + c[i], rounded after each step (relaxed SIMD's, made exact: never fused).";
            F32x4Nmadd = 175, "f32x4.relaxed_nmadd", Ternary, "c[i] - a[i] × b[i], rounded after each step (never fused).";
            // f64x2.
            F64x2Ceil = 176, "f64x2.ceil", Unary, "Each lane rounded up, as `fceil`.";
            F64x2Floor = 177, "f64x2.floor", Unary, "Each lane rounded down, as `ffloor`.";
            F64x2Trunc = 178, "f64x2.trunc", Unary, "Each lane rounded toward zero, as `ftrunc`.";
            F64x2Nearest = 179, "f64x2.nearest", Unary, "Each lane rounded to nearest, ties to even, as `fround`.";
            F64x2Abs = 180, "f64x2.abs", Unary, "Each lane with its sign bit cleared.";
            F64x2Neg = 181, "f64x2.neg", Unary, "Each lane with its sign bit flipped.";
            F64x2Sqrt = 182, "f64x2.sqrt", Unary, "√a[i], as `fsqrt`.";
            F64x2Add = 183, "f64x2.add", Binary, "a[i] + b[i], as `fadd`.";
            F64x2Sub = 184, "f64x2.sub", Binary, "a[i] - b[i], as `fsub`.";
            F64x2Mul = 185, "f64x2.mul", Binary, "a[i] × b[i], as `fmul`.";
            F64x2Div = 186, "f64x2.div", Binary, "a[i] / b[i], as `fdiv`.";
            F64x2Min = 187, "f64x2.min", Binary, "As `fmin`: NaN if either is NaN, -0 below +0.";
            F64x2Max = 188, "f64x2.max", Binary, "As `fmax`: NaN if either is NaN, +0 above -0.";
            F64x2Pmin = 189, "f64x2.pmin", Binary, "b[i] < a[i] ? b[i] : a[i].";
            F64x2Pmax = 190, "f64x2.pmax", Binary, "a[i] < b[i] ? b[i] : a[i].";
            F64x2ConvertLowI32x4S = 191, "f64x2.convert_low_i32x4_s", Unary, "Signed 32-bit lanes 0 and 1 as f64s.";
            F64x2ConvertLowI32x4U = 192, "f64x2.convert_low_i32x4_u", Unary, "Unsigned 32-bit lanes 0 and 1 as f64s.";
            F64x2PromoteLowF32x4 = 193, "f64x2.promote_low_f32x4", Unary, "f32 lanes 0 and 1 as f64s, as `fpromote`.";
            F64x2Madd = 194, "f64x2.relaxed_madd", Ternary, "a[i] × b[i] + c[i], rounded after each step (never fused).";
            F64x2Nmadd = 195, "f64x2.relaxed_nmadd", Ternary, "c[i] - a[i] × b[i], rounded after each step (never fused).";
        }
    };
}

macro_rules! define_vops {
    ($($variant:ident = $byte:literal, $name:literal, $form:ident, $semantics:literal;)*) => {
        /// One vector operation of the table (see the module doc).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum VectorOp {
            $(
                // Named, not described: the sentences use `a[i]`, which rustdoc reads as links.
                #[doc = concat!("`", $name, "` (its semantics: [`VectorOp::semantics`]).")]
                $variant = $byte,
            )*
        }

        impl VectorOp {
            /// Every operation, in table order.
            pub const ALL: &'static [VectorOp] = &[$(VectorOp::$variant),*];

            /// The operation numbered `byte`, if there is one.
            pub const fn from_byte(byte: u8) -> Option<VectorOp> {
                match byte {
                    $($byte => Some(VectorOp::$variant),)*
                    _ => None,
                }
            }

            /// Its name: WebAssembly's, for the operations that are WebAssembly's.
            pub const fn name(self) -> &'static str {
                match self { $(VectorOp::$variant => $name,)* }
            }

            /// The operation named `name`.
            pub fn from_name(name: &str) -> Option<VectorOp> {
                match name {
                    $($name => Some(VectorOp::$variant),)*
                    _ => None,
                }
            }

            /// The form of its operands: which instruction takes it.
            pub const fn form(self) -> Form {
                match self { $(VectorOp::$variant => Form::$form,)* }
            }

            /// Exact semantics, one sentence.
            pub const fn semantics(self) -> &'static str {
                match self { $(VectorOp::$variant => $semantics,)* }
            }
        }
    };
}

for_each_vop!(define_vops);

/// A vector-operation operand: one byte naming a [`VectorOp`]. Any byte
/// decodes (an instruction's operands are any bytes); the loader refuses
/// those that name no operation, or one of another [`Form`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VOp(pub u8);

impl VOp {
    /// The operation it names, if any.
    pub const fn op(self) -> Option<VectorOp> {
        VectorOp::from_byte(self.0)
    }
}

impl From<VectorOp> for VOp {
    fn from(op: VectorOp) -> VOp {
        VOp(op as u8)
    }
}

impl fmt::Display for VOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op() {
            Some(op) => f.write_str(op.name()),
            None => write!(f, "vop:{}", self.0),
        }
    }
}

impl Field for VOp {
    const KIND: Kind = Kind::VOp;
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
    fn read_le(bytes: &[u8]) -> Self {
        VOp(bytes[0])
    }
    fn to_operand(self) -> Operand {
        Operand::VOp(self)
    }
    fn from_operand(operand: Operand) -> Option<Self> {
        match operand {
            Operand::VOp(v) => Some(v),
            _ => None,
        }
    }
}

/// Why a vector instruction's operation byte is refused, if it is: it
/// names no operation, or one of another form than `form`'s instruction takes.
pub fn check_vop(form: Form, byte: u8) -> Result<VectorOp, &'static str> {
    match VectorOp::from_byte(byte) {
        None => Err("names no vector operation"),
        Some(op) if op.form() != form => Err("is an operation of another vector instruction"),
        Some(op) => Ok(op),
    }
}

/// The "Vector operations" section of `docs/manda/OPCODES.md`.
pub fn vops_markdown() -> String {
    use std::fmt::Write as _;
    let mut md = String::from(
        "\n## Vector operations\n\n\
         The last operand of a vector instruction (one byte). a, b, c are its vector operands, rb the\n\
         scalar of `vshift`, rs that of `vsplat` and `vreplace`; lanes are numbered from the low end,\n\
         and `[i]` is the lane i of the width the name gives. A comparison sets a lane to all ones\n\
         when it holds, else to 0. The loader refuses a byte that is not below, or one used with\n\
         another instruction than its own.\n\n\
         | Byte | Operation | Instruction | Semantics |\n| --- | --- | --- | --- |\n",
    );
    for &op in VectorOp::ALL {
        let _ = writeln!(md, "| {} | `{}` | `{}` | {} |", op as u8, op.name(), op.form().mnemonic(), op.semantics());
    }
    md
}
