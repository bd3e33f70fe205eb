//! Fixed-width SIMD: `v128` values and their operators, relaxed SIMD's included.
//!
//! A `v128` is two entries of the operand stack, its low then its high
//! half, each a 64-bit register like any other value's (a `v128` local is
//! two locals, a parameter two parameters): calls, blocks, branches and
//! moves need nothing of their own. An operator becomes one of the
//! machine's vector instructions (`vbin`, `vun` …), which names both
//! registers of each vector. Relaxed SIMD's operators are translated to
//! one fixed choice each, the same on every host (see `docs/manda/wasm.md`).

use super::{r, Entry, FuncTranslator};
use crate::ir::{S1, S2, ZERO};
use manda::isa::{Instr, VectorOp as V};
use wasmparser::{
    MemArg, Operator,
    ValType::{self, F32, F64, I32, I64, V128},
};

impl FuncTranslator<'_> {
    /// Translates `op` if it is one of these; `Ok(false)` if not.
    pub(super) fn simd(&mut self, op: &Operator<'_>) -> Result<bool, String> {
        use Operator as O;
        match *op {
            O::V128Const { value } => {
                let v = value.i128() as u128;
                self.push(Entry::Const(v as u64), V128);
                self.push(Entry::Const((v >> 64) as u64), V128);
            }
            O::V128Load { memarg } => {
                let (base, off) = self.vector_address(memarg, 1);
                let (d, dh) = self.vector_result();
                self.ins(Instr::Hld128 { rd: r(d), rdh: r(dh), ra: r(base), off });
            }
            O::V128Store { memarg } => {
                let n = self.stack.len();
                let (base, off) = self.vector_address(memarg, 3);
                let (a, ah) = self.vector(n - 2);
                self.stack.truncate(n - 3);
                self.ins(Instr::Hst128 { rs: r(a), rsh: r(ah), ra: r(base), off });
            }
            O::V128Load8x8S { memarg } => self.load_extend(memarg, V::I16x8ExtendLowI8x16S),
            O::V128Load8x8U { memarg } => self.load_extend(memarg, V::I16x8ExtendLowI8x16U),
            O::V128Load16x4S { memarg } => self.load_extend(memarg, V::I32x4ExtendLowI16x8S),
            O::V128Load16x4U { memarg } => self.load_extend(memarg, V::I32x4ExtendLowI16x8U),
            O::V128Load32x2S { memarg } => self.load_extend(memarg, V::I64x2ExtendLowI32x4S),
            O::V128Load32x2U { memarg } => self.load_extend(memarg, V::I64x2ExtendLowI32x4U),
            O::V128Load8Splat { memarg } => self.load_splat(memarg, 1, V::Splat8),
            O::V128Load16Splat { memarg } => self.load_splat(memarg, 2, V::Splat16),
            O::V128Load32Splat { memarg } => self.load_splat(memarg, 4, V::Splat32),
            O::V128Load64Splat { memarg } => self.load_splat(memarg, 8, V::Splat64),
            O::V128Load32Zero { memarg } | O::V128Load64Zero { memarg } => {
                let width = if matches!(op, O::V128Load32Zero { .. }) { 4 } else { 8 };
                let (base, off) = self.vector_address(memarg, 1);
                let (d, dh) = self.vector_result();
                self.ins(heap_load(width, d, base, off));
                self.ins(Instr::Mov { rd: r(dh), rs: r(ZERO) });
            }
            O::V128Load8Lane { memarg, lane } => self.load_lane(memarg, lane, 1, V::Replace8),
            O::V128Load16Lane { memarg, lane } => self.load_lane(memarg, lane, 2, V::Replace16),
            O::V128Load32Lane { memarg, lane } => self.load_lane(memarg, lane, 4, V::Replace32),
            O::V128Load64Lane { memarg, lane } => self.load_lane(memarg, lane, 8, V::Replace64),
            O::V128Store8Lane { memarg, lane } => self.store_lane(memarg, lane, 1, V::Extract8u),
            O::V128Store16Lane { memarg, lane } => self.store_lane(memarg, lane, 2, V::Extract16u),
            O::V128Store32Lane { memarg, lane } => self.store_lane(memarg, lane, 4, V::Extract32u),
            O::V128Store64Lane { memarg, lane } => self.store_lane(memarg, lane, 8, V::Extract64),
            O::I8x16Shuffle { lanes } => {
                let n = self.stack.len();
                let (a, ah) = self.vector(n - 4);
                let (b, bh) = self.vector(n - 2);
                self.stack.truncate(n - 4);
                let (d, dh) = self.vector_result();
                let lanes = u128::from_le_bytes(lanes);
                self.ins(Instr::Li { rd: r(S1), imm: lanes as i64 });
                self.ins(Instr::Li { rd: r(S2), imm: (lanes >> 64) as i64 });
                let (rd, rdh, ra, rah, rb, rbh) = (r(d), r(dh), r(a), r(ah), r(b), r(bh));
                self.ins(Instr::Vtern { rd, rdh, ra, rah, rb, rbh, rc: r(S1), rch: r(S2), op: V::I8x16Shuffle.into() });
            }
            O::I8x16ExtractLaneS { lane } => self.extract(lane, V::Extract8s, I32),
            O::I8x16ExtractLaneU { lane } => self.extract(lane, V::Extract8u, I32),
            O::I16x8ExtractLaneS { lane } => self.extract(lane, V::Extract16s, I32),
            O::I16x8ExtractLaneU { lane } => self.extract(lane, V::Extract16u, I32),
            O::I32x4ExtractLane { lane } => self.extract(lane, V::Extract32s, I32),
            O::I64x2ExtractLane { lane } => self.extract(lane, V::Extract64, I64),
            O::F32x4ExtractLane { lane } => self.extract(lane, V::Extract32u, F32),
            O::F64x2ExtractLane { lane } => self.extract(lane, V::Extract64, F64),
            O::I8x16ReplaceLane { lane } => self.replace(lane, V::Replace8),
            O::I16x8ReplaceLane { lane } => self.replace(lane, V::Replace16),
            O::I32x4ReplaceLane { lane } | O::F32x4ReplaceLane { lane } => self.replace(lane, V::Replace32),
            O::I64x2ReplaceLane { lane } | O::F64x2ReplaceLane { lane } => self.replace(lane, V::Replace64),
            O::I8x16Splat => self.splat(V::Splat8),
            O::I16x8Splat => self.splat(V::Splat16),
            O::I32x4Splat | O::F32x4Splat => self.splat(V::Splat32),
            O::I64x2Splat | O::F64x2Splat => self.splat(V::Splat64),
            O::I8x16Shl => self.shift(V::I8x16Shl),
            O::I8x16ShrS => self.shift(V::I8x16ShrS),
            O::I8x16ShrU => self.shift(V::I8x16ShrU),
            O::I16x8Shl => self.shift(V::I16x8Shl),
            O::I16x8ShrS => self.shift(V::I16x8ShrS),
            O::I16x8ShrU => self.shift(V::I16x8ShrU),
            O::I32x4Shl => self.shift(V::I32x4Shl),
            O::I32x4ShrS => self.shift(V::I32x4ShrS),
            O::I32x4ShrU => self.shift(V::I32x4ShrU),
            O::I64x2Shl => self.shift(V::I64x2Shl),
            O::I64x2ShrS => self.shift(V::I64x2ShrS),
            O::I64x2ShrU => self.shift(V::I64x2ShrU),
            O::V128AnyTrue => self.test(V::V128AnyTrue),
            O::I8x16AllTrue => self.test(V::I8x16AllTrue),
            O::I16x8AllTrue => self.test(V::I16x8AllTrue),
            O::I32x4AllTrue => self.test(V::I32x4AllTrue),
            O::I64x2AllTrue => self.test(V::I64x2AllTrue),
            O::I8x16Bitmask => self.test(V::I8x16Bitmask),
            O::I16x8Bitmask => self.test(V::I16x8Bitmask),
            O::I32x4Bitmask => self.test(V::I32x4Bitmask),
            O::I64x2Bitmask => self.test(V::I64x2Bitmask),
            O::V128Bitselect
            | O::I8x16RelaxedLaneselect
            | O::I16x8RelaxedLaneselect
            | O::I32x4RelaxedLaneselect
            | O::I64x2RelaxedLaneselect => self.ternary(V::V128Bitselect),
            O::F32x4RelaxedMadd => self.ternary(V::F32x4Madd),
            O::F32x4RelaxedNmadd => self.ternary(V::F32x4Nmadd),
            O::F64x2RelaxedMadd => self.ternary(V::F64x2Madd),
            O::F64x2RelaxedNmadd => self.ternary(V::F64x2Nmadd),
            O::I32x4RelaxedDotI8x16I7x16AddS => self.ternary(V::I32x4DotI8x16I7x16AddS),
            // `gt` and `ge` are `lt` and `le` with the operands swapped.
            O::I8x16GtS => self.binary_vector(V::I8x16LtS, true),
            O::I8x16GtU => self.binary_vector(V::I8x16LtU, true),
            O::I8x16GeS => self.binary_vector(V::I8x16LeS, true),
            O::I8x16GeU => self.binary_vector(V::I8x16LeU, true),
            O::I16x8GtS => self.binary_vector(V::I16x8LtS, true),
            O::I16x8GtU => self.binary_vector(V::I16x8LtU, true),
            O::I16x8GeS => self.binary_vector(V::I16x8LeS, true),
            O::I16x8GeU => self.binary_vector(V::I16x8LeU, true),
            O::I32x4GtS => self.binary_vector(V::I32x4LtS, true),
            O::I32x4GtU => self.binary_vector(V::I32x4LtU, true),
            O::I32x4GeS => self.binary_vector(V::I32x4LeS, true),
            O::I32x4GeU => self.binary_vector(V::I32x4LeU, true),
            O::I64x2GtS => self.binary_vector(V::I64x2LtS, true),
            O::I64x2GeS => self.binary_vector(V::I64x2LeS, true),
            O::F32x4Gt => self.binary_vector(V::F32x4Lt, true),
            O::F32x4Ge => self.binary_vector(V::F32x4Le, true),
            O::F64x2Gt => self.binary_vector(V::F64x2Lt, true),
            O::F64x2Ge => self.binary_vector(V::F64x2Le, true),
            _ => {
                if let Some(v) = binary_op(op) {
                    self.binary_vector(v, false);
                } else if let Some(v) = unary_op(op) {
                    self.unary_vector(v);
                } else {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The register holding half `pos` of a vector: its own, or its slot
    /// once a constant (other than 0) or a spilled local is put there.
    fn half(&mut self, pos: usize) -> u8 {
        let in_register = match self.stack[pos].0 {
            Entry::Slot => Some(self.slot_reg(pos)),
            Entry::Const(0) => Some(ZERO),
            Entry::Local(l) => self.local_reg(l),
            Entry::Const(_) => None,
        };
        match in_register {
            Some(reg) => reg,
            None => {
                self.materialize(pos);
                self.slot_reg(pos)
            }
        }
    }

    /// The registers of the vector whose low half is entry `pos`.
    pub(super) fn vector(&mut self, pos: usize) -> (u8, u8) {
        (self.half(pos), self.half(pos + 1))
    }

    /// Pushes a vector result: its two slot registers.
    fn vector_result(&mut self) -> (u8, u8) {
        (self.result(V128), self.result(V128))
    }

    /// Base register and offset of a heap access whose address is the entry
    /// `depth` below the top (in `S1` if it is not in a register).
    fn vector_address(&mut self, memarg: MemArg, depth: usize) -> (u8, u32) {
        let pos = self.stack.len() - depth;
        let (base, off) = self.address(pos, memarg.offset);
        if depth == 1 {
            self.stack.truncate(pos);
        }
        (base, off)
    }

    fn binary_vector(&mut self, op: V, swapped: bool) {
        let n = self.stack.len();
        let (mut a, mut ah) = self.vector(n - 4);
        let (mut b, mut bh) = self.vector(n - 2);
        if swapped {
            (a, ah, b, bh) = (b, bh, a, ah);
        }
        self.stack.truncate(n - 4);
        let (d, dh) = self.vector_result();
        let (rd, rdh, ra, rah, rb, rbh) = (r(d), r(dh), r(a), r(ah), r(b), r(bh));
        self.ins(Instr::Vbin { rd, rdh, ra, rah, rb, rbh, op: op.into() });
    }

    fn unary_vector(&mut self, op: V) {
        let n = self.stack.len();
        let (a, ah) = self.vector(n - 2);
        self.stack.truncate(n - 2);
        let (d, dh) = self.vector_result();
        self.ins(Instr::Vun { rd: r(d), rdh: r(dh), ra: r(a), rah: r(ah), op: op.into() });
    }

    fn ternary(&mut self, op: V) {
        let n = self.stack.len();
        let (a, ah) = self.vector(n - 6);
        let (b, bh) = self.vector(n - 4);
        let (c, ch) = self.vector(n - 2);
        self.stack.truncate(n - 6);
        let (d, dh) = self.vector_result();
        let (rd, rdh, ra, rah, rb, rbh, rc, rch) = (r(d), r(dh), r(a), r(ah), r(b), r(bh), r(c), r(ch));
        self.ins(Instr::Vtern { rd, rdh, ra, rah, rb, rbh, rc, rch, op: op.into() });
    }

    fn shift(&mut self, op: V) {
        let n = self.stack.len();
        let count = self.operand(n - 1, S1);
        let (a, ah) = self.vector(n - 3);
        self.stack.truncate(n - 3);
        let (d, dh) = self.vector_result();
        let (rd, rdh, ra, rah) = (r(d), r(dh), r(a), r(ah));
        self.ins(Instr::Vshift { rd, rdh, ra, rah, rb: r(count), op: op.into() });
    }

    fn splat(&mut self, op: V) {
        let n = self.stack.len();
        let v = self.operand(n - 1, S1);
        self.stack.truncate(n - 1);
        let (d, dh) = self.vector_result();
        self.ins(Instr::Vsplat { rd: r(d), rdh: r(dh), rs: r(v), op: op.into() });
    }

    fn test(&mut self, op: V) {
        let n = self.stack.len();
        let (a, ah) = self.vector(n - 2);
        self.stack.truncate(n - 2);
        let d = self.result(I32);
        self.ins(Instr::Vtest { rd: r(d), ra: r(a), rah: r(ah), op: op.into() });
    }

    fn extract(&mut self, lane: u8, op: V, ty: ValType) {
        let n = self.stack.len();
        let (a, ah) = self.vector(n - 2);
        self.stack.truncate(n - 2);
        let d = self.result(ty);
        self.ins(Instr::Vextract { rd: r(d), ra: r(a), rah: r(ah), lane, op: op.into() });
    }

    fn replace(&mut self, lane: u8, op: V) {
        let n = self.stack.len();
        let v = self.operand(n - 1, S1);
        let (a, ah) = self.vector(n - 3);
        self.stack.truncate(n - 3);
        let (d, dh) = self.vector_result();
        let (rd, rdh, ra, rah) = (r(d), r(dh), r(a), r(ah));
        self.ins(Instr::Vreplace { rd, rdh, ra, rah, rs: r(v), lane, op: op.into() });
    }

    /// `v128.loadNxM_s/u`: 8 bytes loaded, then their lanes extended.
    fn load_extend(&mut self, memarg: MemArg, extend: V) {
        let (base, off) = self.vector_address(memarg, 1);
        self.ins(Instr::Hld64 { rd: r(S2), ra: r(base), off });
        let (d, dh) = self.vector_result();
        self.ins(Instr::Vun { rd: r(d), rdh: r(dh), ra: r(S2), rah: r(S2), op: extend.into() });
    }

    /// `v128.loadN_splat`.
    fn load_splat(&mut self, memarg: MemArg, width: u32, splat: V) {
        let (base, off) = self.vector_address(memarg, 1);
        self.ins(heap_load(width, S2, base, off));
        let (d, dh) = self.vector_result();
        self.ins(Instr::Vsplat { rd: r(d), rdh: r(dh), rs: r(S2), op: splat.into() });
    }

    /// `v128.loadN_lane`: the address, then the vector whose lane it replaces.
    fn load_lane(&mut self, memarg: MemArg, lane: u8, width: u32, replace: V) {
        let n = self.stack.len();
        let (base, off) = self.vector_address(memarg, 3);
        self.ins(heap_load(width, S2, base, off));
        let (a, ah) = self.vector(n - 2);
        self.stack.truncate(n - 3);
        let (d, dh) = self.vector_result();
        let (rd, rdh, ra, rah) = (r(d), r(dh), r(a), r(ah));
        self.ins(Instr::Vreplace { rd, rdh, ra, rah, rs: r(S2), lane, op: replace.into() });
    }

    /// `v128.storeN_lane`.
    fn store_lane(&mut self, memarg: MemArg, lane: u8, width: u32, extract: V) {
        let n = self.stack.len();
        let (base, off) = self.vector_address(memarg, 3);
        let (a, ah) = self.vector(n - 2);
        self.stack.truncate(n - 3);
        self.ins(Instr::Vextract { rd: r(S2), ra: r(a), rah: r(ah), lane, op: extract.into() });
        let (rs, ra) = (r(S2), r(base));
        self.ins(match width {
            1 => Instr::Hst8 { rs, ra, off },
            2 => Instr::Hst16 { rs, ra, off },
            4 => Instr::Hst32 { rs, ra, off },
            _ => Instr::Hst64 { rs, ra, off },
        });
    }

    /// `select` of two vectors: each half chosen by the one condition.
    pub(super) fn select_vector(&mut self) {
        let n = self.stack.len();
        for pos in n - 5..n {
            self.materialize(pos);
        }
        let c = self.slot_reg(n - 1);
        for half in 0..2 {
            let (a, b) = (self.slot_reg(n - 5 + half), self.slot_reg(n - 3 + half));
            self.ins(Instr::Csel { rd: r(a), rc: r(c), ra: r(a), rb: r(b) });
        }
        self.stack.truncate(n - 3);
    }
}

/// The zero-extending heap load of `width` bytes into `rd`.
fn heap_load(width: u32, rd: u8, base: u8, off: u32) -> Instr {
    let (rd, ra) = (r(rd), r(base));
    match width {
        1 => Instr::Hld8u { rd, ra, off },
        2 => Instr::Hld16u { rd, ra, off },
        4 => Instr::Hld32u { rd, ra, off },
        _ => Instr::Hld64 { rd, ra, off },
    }
}

/// The vector operation of a binary SIMD operator taken as it is.
fn binary_op(op: &Operator<'_>) -> Option<V> {
    use Operator as O;
    Some(match op {
        O::V128And => V::V128And,
        O::V128AndNot => V::V128Andnot,
        O::V128Or => V::V128Or,
        O::V128Xor => V::V128Xor,
        O::I8x16Swizzle | O::I8x16RelaxedSwizzle => V::I8x16Swizzle,
        O::I8x16Eq => V::I8x16Eq,
        O::I8x16Ne => V::I8x16Ne,
        O::I8x16LtS => V::I8x16LtS,
        O::I8x16LtU => V::I8x16LtU,
        O::I8x16LeS => V::I8x16LeS,
        O::I8x16LeU => V::I8x16LeU,
        O::I16x8Eq => V::I16x8Eq,
        O::I16x8Ne => V::I16x8Ne,
        O::I16x8LtS => V::I16x8LtS,
        O::I16x8LtU => V::I16x8LtU,
        O::I16x8LeS => V::I16x8LeS,
        O::I16x8LeU => V::I16x8LeU,
        O::I32x4Eq => V::I32x4Eq,
        O::I32x4Ne => V::I32x4Ne,
        O::I32x4LtS => V::I32x4LtS,
        O::I32x4LtU => V::I32x4LtU,
        O::I32x4LeS => V::I32x4LeS,
        O::I32x4LeU => V::I32x4LeU,
        O::I64x2Eq => V::I64x2Eq,
        O::I64x2Ne => V::I64x2Ne,
        O::I64x2LtS => V::I64x2LtS,
        O::I64x2LeS => V::I64x2LeS,
        O::F32x4Eq => V::F32x4Eq,
        O::F32x4Ne => V::F32x4Ne,
        O::F32x4Lt => V::F32x4Lt,
        O::F32x4Le => V::F32x4Le,
        O::F64x2Eq => V::F64x2Eq,
        O::F64x2Ne => V::F64x2Ne,
        O::F64x2Lt => V::F64x2Lt,
        O::F64x2Le => V::F64x2Le,
        O::I8x16NarrowI16x8S => V::I8x16NarrowI16x8S,
        O::I8x16NarrowI16x8U => V::I8x16NarrowI16x8U,
        O::I8x16Add => V::I8x16Add,
        O::I8x16AddSatS => V::I8x16AddSatS,
        O::I8x16AddSatU => V::I8x16AddSatU,
        O::I8x16Sub => V::I8x16Sub,
        O::I8x16SubSatS => V::I8x16SubSatS,
        O::I8x16SubSatU => V::I8x16SubSatU,
        O::I8x16MinS => V::I8x16MinS,
        O::I8x16MinU => V::I8x16MinU,
        O::I8x16MaxS => V::I8x16MaxS,
        O::I8x16MaxU => V::I8x16MaxU,
        O::I8x16AvgrU => V::I8x16AvgrU,
        O::I16x8Q15MulrSatS | O::I16x8RelaxedQ15mulrS => V::I16x8Q15mulrSatS,
        O::I16x8NarrowI32x4S => V::I16x8NarrowI32x4S,
        O::I16x8NarrowI32x4U => V::I16x8NarrowI32x4U,
        O::I16x8Add => V::I16x8Add,
        O::I16x8AddSatS => V::I16x8AddSatS,
        O::I16x8AddSatU => V::I16x8AddSatU,
        O::I16x8Sub => V::I16x8Sub,
        O::I16x8SubSatS => V::I16x8SubSatS,
        O::I16x8SubSatU => V::I16x8SubSatU,
        O::I16x8Mul => V::I16x8Mul,
        O::I16x8MinS => V::I16x8MinS,
        O::I16x8MinU => V::I16x8MinU,
        O::I16x8MaxS => V::I16x8MaxS,
        O::I16x8MaxU => V::I16x8MaxU,
        O::I16x8AvgrU => V::I16x8AvgrU,
        O::I16x8ExtMulLowI8x16S => V::I16x8ExtmulLowI8x16S,
        O::I16x8ExtMulHighI8x16S => V::I16x8ExtmulHighI8x16S,
        O::I16x8ExtMulLowI8x16U => V::I16x8ExtmulLowI8x16U,
        O::I16x8ExtMulHighI8x16U => V::I16x8ExtmulHighI8x16U,
        O::I16x8RelaxedDotI8x16I7x16S => V::I16x8DotI8x16I7x16S,
        O::I32x4Add => V::I32x4Add,
        O::I32x4Sub => V::I32x4Sub,
        O::I32x4Mul => V::I32x4Mul,
        O::I32x4MinS => V::I32x4MinS,
        O::I32x4MinU => V::I32x4MinU,
        O::I32x4MaxS => V::I32x4MaxS,
        O::I32x4MaxU => V::I32x4MaxU,
        O::I32x4DotI16x8S => V::I32x4DotI16x8S,
        O::I32x4ExtMulLowI16x8S => V::I32x4ExtmulLowI16x8S,
        O::I32x4ExtMulHighI16x8S => V::I32x4ExtmulHighI16x8S,
        O::I32x4ExtMulLowI16x8U => V::I32x4ExtmulLowI16x8U,
        O::I32x4ExtMulHighI16x8U => V::I32x4ExtmulHighI16x8U,
        O::I64x2Add => V::I64x2Add,
        O::I64x2Sub => V::I64x2Sub,
        O::I64x2Mul => V::I64x2Mul,
        O::I64x2ExtMulLowI32x4S => V::I64x2ExtmulLowI32x4S,
        O::I64x2ExtMulHighI32x4S => V::I64x2ExtmulHighI32x4S,
        O::I64x2ExtMulLowI32x4U => V::I64x2ExtmulLowI32x4U,
        O::I64x2ExtMulHighI32x4U => V::I64x2ExtmulHighI32x4U,
        O::F32x4Add => V::F32x4Add,
        O::F32x4Sub => V::F32x4Sub,
        O::F32x4Mul => V::F32x4Mul,
        O::F32x4Div => V::F32x4Div,
        O::F32x4Min | O::F32x4RelaxedMin => V::F32x4Min,
        O::F32x4Max | O::F32x4RelaxedMax => V::F32x4Max,
        O::F32x4PMin => V::F32x4Pmin,
        O::F32x4PMax => V::F32x4Pmax,
        O::F64x2Add => V::F64x2Add,
        O::F64x2Sub => V::F64x2Sub,
        O::F64x2Mul => V::F64x2Mul,
        O::F64x2Div => V::F64x2Div,
        O::F64x2Min | O::F64x2RelaxedMin => V::F64x2Min,
        O::F64x2Max | O::F64x2RelaxedMax => V::F64x2Max,
        O::F64x2PMin => V::F64x2Pmin,
        O::F64x2PMax => V::F64x2Pmax,
        _ => return None,
    })
}

/// The vector operation of a unary SIMD operator.
fn unary_op(op: &Operator<'_>) -> Option<V> {
    use Operator as O;
    Some(match op {
        O::V128Not => V::V128Not,
        O::I8x16Abs => V::I8x16Abs,
        O::I8x16Neg => V::I8x16Neg,
        O::I8x16Popcnt => V::I8x16Popcnt,
        O::I16x8ExtAddPairwiseI8x16S => V::I16x8ExtaddPairwiseI8x16S,
        O::I16x8ExtAddPairwiseI8x16U => V::I16x8ExtaddPairwiseI8x16U,
        O::I16x8Abs => V::I16x8Abs,
        O::I16x8Neg => V::I16x8Neg,
        O::I16x8ExtendLowI8x16S => V::I16x8ExtendLowI8x16S,
        O::I16x8ExtendHighI8x16S => V::I16x8ExtendHighI8x16S,
        O::I16x8ExtendLowI8x16U => V::I16x8ExtendLowI8x16U,
        O::I16x8ExtendHighI8x16U => V::I16x8ExtendHighI8x16U,
        O::I32x4ExtAddPairwiseI16x8S => V::I32x4ExtaddPairwiseI16x8S,
        O::I32x4ExtAddPairwiseI16x8U => V::I32x4ExtaddPairwiseI16x8U,
        O::I32x4Abs => V::I32x4Abs,
        O::I32x4Neg => V::I32x4Neg,
        O::I32x4ExtendLowI16x8S => V::I32x4ExtendLowI16x8S,
        O::I32x4ExtendHighI16x8S => V::I32x4ExtendHighI16x8S,
        O::I32x4ExtendLowI16x8U => V::I32x4ExtendLowI16x8U,
        O::I32x4ExtendHighI16x8U => V::I32x4ExtendHighI16x8U,
        O::I32x4TruncSatF32x4S | O::I32x4RelaxedTruncF32x4S => V::I32x4TruncSatF32x4S,
        O::I32x4TruncSatF32x4U | O::I32x4RelaxedTruncF32x4U => V::I32x4TruncSatF32x4U,
        O::I32x4TruncSatF64x2SZero | O::I32x4RelaxedTruncF64x2SZero => V::I32x4TruncSatF64x2SZero,
        O::I32x4TruncSatF64x2UZero | O::I32x4RelaxedTruncF64x2UZero => V::I32x4TruncSatF64x2UZero,
        O::I64x2Abs => V::I64x2Abs,
        O::I64x2Neg => V::I64x2Neg,
        O::I64x2ExtendLowI32x4S => V::I64x2ExtendLowI32x4S,
        O::I64x2ExtendHighI32x4S => V::I64x2ExtendHighI32x4S,
        O::I64x2ExtendLowI32x4U => V::I64x2ExtendLowI32x4U,
        O::I64x2ExtendHighI32x4U => V::I64x2ExtendHighI32x4U,
        O::F32x4Ceil => V::F32x4Ceil,
        O::F32x4Floor => V::F32x4Floor,
        O::F32x4Trunc => V::F32x4Trunc,
        O::F32x4Nearest => V::F32x4Nearest,
        O::F32x4Abs => V::F32x4Abs,
        O::F32x4Neg => V::F32x4Neg,
        O::F32x4Sqrt => V::F32x4Sqrt,
        O::F32x4ConvertI32x4S => V::F32x4ConvertI32x4S,
        O::F32x4ConvertI32x4U => V::F32x4ConvertI32x4U,
        O::F32x4DemoteF64x2Zero => V::F32x4DemoteF64x2Zero,
        O::F64x2Ceil => V::F64x2Ceil,
        O::F64x2Floor => V::F64x2Floor,
        O::F64x2Trunc => V::F64x2Trunc,
        O::F64x2Nearest => V::F64x2Nearest,
        O::F64x2Abs => V::F64x2Abs,
        O::F64x2Neg => V::F64x2Neg,
        O::F64x2Sqrt => V::F64x2Sqrt,
        O::F64x2ConvertLowI32x4S => V::F64x2ConvertLowI32x4S,
        O::F64x2ConvertLowI32x4U => V::F64x2ConvertLowI32x4U,
        O::F64x2PromoteLowF32x4 => V::F64x2PromoteLowF32x4,
        _ => return None,
    })
}
