//! Constants and the numeric operators: comparisons, arithmetic, bit
//! operations, conversions and reinterpretations.

use super::{imm32, promote, shift32, shift64, zext, Entry, FuncTranslator};
use crate::ir::ZERO;
use manda::isa::{Instr, Reg};
use wasmparser::{
    Operator,
    ValType::{F32, F64, I32, I64},
};

impl FuncTranslator<'_> {
    /// Translates `op` if it is one of these; `Ok(false)` if not.
    pub(super) fn numeric(&mut self, op: &Operator<'_>) -> Result<bool, String> {
        use Operator as O;
        match *op {
            O::I32Const { value } => {
                self.push(Entry::Const(value as i64 as u64), I32);
            }
            O::I64Const { value } => {
                self.push(Entry::Const(value as u64), I64);
            }
            O::F32Const { value } => {
                self.push(Entry::Const(u64::from(value.bits())), F32);
            }
            O::F64Const { value } => {
                self.push(Entry::Const(value.bits()), F64);
            }
            O::I32Eqz | O::I64Eqz => self.unary(I32, |rd, ra| Instr::Seq { rd, ra, rb: Reg(ZERO) }),
            O::I32Eq | O::I64Eq => self.binary(I32, |rd, ra, rb| Instr::Seq { rd, ra, rb }),
            O::I32Ne | O::I64Ne => self.binary(I32, |rd, ra, rb| Instr::Sne { rd, ra, rb }),
            O::I32LtS | O::I64LtS => self.binary(I32, |rd, ra, rb| Instr::Slt { rd, ra, rb }),
            O::I32LtU | O::I64LtU => self.binary(I32, |rd, ra, rb| Instr::Sltu { rd, ra, rb }),
            O::I32GtS | O::I64GtS => self.binary_swapped(I32, |rd, ra, rb| Instr::Slt { rd, ra, rb }),
            O::I32GtU | O::I64GtU => self.binary_swapped(I32, |rd, ra, rb| Instr::Sltu { rd, ra, rb }),
            O::I32LeS | O::I64LeS => self.binary(I32, |rd, ra, rb| Instr::Sle { rd, ra, rb }),
            O::I32LeU | O::I64LeU => self.binary(I32, |rd, ra, rb| Instr::Sleu { rd, ra, rb }),
            O::I32GeS | O::I64GeS => self.binary_swapped(I32, |rd, ra, rb| Instr::Sle { rd, ra, rb }),
            O::I32GeU | O::I64GeU => self.binary_swapped(I32, |rd, ra, rb| Instr::Sleu { rd, ra, rb }),
            O::F32Eq => self.binary(I32, |rd, ra, rb| Instr::Feq32 { rd, ra, rb }),
            O::F32Ne => {
                self.binary(I32, |rd, ra, rb| Instr::Feq32 { rd, ra, rb });
                self.flip()
            }
            O::F32Lt => self.binary(I32, |rd, ra, rb| Instr::Flt32 { rd, ra, rb }),
            O::F32Gt => self.binary_swapped(I32, |rd, ra, rb| Instr::Flt32 { rd, ra, rb }),
            O::F32Le => self.binary(I32, |rd, ra, rb| Instr::Fle32 { rd, ra, rb }),
            O::F32Ge => self.binary_swapped(I32, |rd, ra, rb| Instr::Fle32 { rd, ra, rb }),
            O::F64Eq => self.binary(I32, |rd, ra, rb| Instr::Feq { rd, ra, rb }),
            O::F64Ne => {
                self.binary(I32, |rd, ra, rb| Instr::Feq { rd, ra, rb });
                self.flip()
            }
            O::F64Lt => self.binary(I32, |rd, ra, rb| Instr::Flt { rd, ra, rb }),
            O::F64Gt => self.binary_swapped(I32, |rd, ra, rb| Instr::Flt { rd, ra, rb }),
            O::F64Le => self.binary(I32, |rd, ra, rb| Instr::Fle { rd, ra, rb }),
            O::F64Ge => self.binary_swapped(I32, |rd, ra, rb| Instr::Fle { rd, ra, rb }),
            O::I32Clz => self.unary(I32, |rd, rs| Instr::Clz32 { rd, rs }),
            O::I32Ctz => self.unary(I32, |rd, rs| Instr::Ctz32 { rd, rs }),
            O::I32Popcnt => self.unary(I32, |rd, rs| Instr::Popcnt32 { rd, rs }),
            O::I64Clz => self.unary(I64, |rd, rs| Instr::Clz { rd, rs }),
            O::I64Ctz => self.unary(I64, |rd, rs| Instr::Ctz { rd, rs }),
            O::I64Popcnt => self.unary(I64, |rd, rs| Instr::Popcnt { rd, rs }),
            O::I32Add => self.binary_imm(
                I32,
                |rd, ra, rb| Instr::Add32 { rd, ra, rb },
                imm32,
                |rd, ra, imm| Instr::Addi32 { rd, ra, imm },
            ),
            O::I32Sub => self.binary_imm(
                I32,
                |rd, ra, rb| Instr::Sub32 { rd, ra, rb },
                |c| imm32(c.wrapping_neg()),
                |rd, ra, imm| Instr::Addi32 { rd, ra, imm },
            ),
            O::I32Mul => self.binary(I32, |rd, ra, rb| Instr::Mul32 { rd, ra, rb }),
            O::I32DivS => self.divide(I32, true, false),
            O::I32DivU => self.divide(I32, false, false),
            O::I32RemS => self.divide(I32, true, true),
            O::I32RemU => self.divide(I32, false, true),
            O::I64DivS => self.divide(I64, true, false),
            O::I64DivU => self.divide(I64, false, false),
            O::I64RemS => self.divide(I64, true, true),
            O::I64RemU => self.divide(I64, false, true),
            O::I32And | O::I64And => {
                let ty = if matches!(op, O::I32And) { I32 } else { I64 };
                self.binary_imm(
                    ty,
                    |rd, ra, rb| Instr::And { rd, ra, rb },
                    imm32,
                    |rd, ra, imm| Instr::Andi { rd, ra, imm },
                )
            }
            O::I32Or | O::I64Or => {
                let ty = if matches!(op, O::I32Or) { I32 } else { I64 };
                self.binary_imm(
                    ty,
                    |rd, ra, rb| Instr::Or { rd, ra, rb },
                    imm32,
                    |rd, ra, imm| Instr::Ori { rd, ra, imm },
                )
            }
            O::I32Xor | O::I64Xor => {
                let ty = if matches!(op, O::I32Xor) { I32 } else { I64 };
                self.binary_imm(
                    ty,
                    |rd, ra, rb| Instr::Xor { rd, ra, rb },
                    imm32,
                    |rd, ra, imm| Instr::Xori { rd, ra, imm },
                )
            }
            O::I32Shl => self.binary_imm(
                I32,
                |rd, ra, rb| Instr::Shl32 { rd, ra, rb },
                shift32,
                |rd, ra, imm| Instr::Shli32 { rd, ra, imm },
            ),
            O::I32ShrS => self.binary_imm(
                I32,
                |rd, ra, rb| Instr::Sar32 { rd, ra, rb },
                shift32,
                |rd, ra, imm| Instr::Sari32 { rd, ra, imm },
            ),
            O::I32ShrU => self.binary_imm(
                I32,
                |rd, ra, rb| Instr::Shr32 { rd, ra, rb },
                shift32,
                |rd, ra, imm| Instr::Shri32 { rd, ra, imm },
            ),
            O::I32Rotl => self.binary(I32, |rd, ra, rb| Instr::Rotl32 { rd, ra, rb }),
            O::I32Rotr => self.binary(I32, |rd, ra, rb| Instr::Rotr32 { rd, ra, rb }),
            O::I64Add => self.binary_imm(
                I64,
                |rd, ra, rb| Instr::Add { rd, ra, rb },
                imm32,
                |rd, ra, imm| Instr::Addi { rd, ra, imm },
            ),
            O::I64Sub => self.binary_imm(
                I64,
                |rd, ra, rb| Instr::Sub { rd, ra, rb },
                |c| imm32(c.wrapping_neg()).filter(|_| c as i64 != i64::MIN),
                |rd, ra, imm| Instr::Addi { rd, ra, imm },
            ),
            O::I64Mul => self.binary_imm(
                I64,
                |rd, ra, rb| Instr::Mul { rd, ra, rb },
                imm32,
                |rd, ra, imm| Instr::Muli { rd, ra, imm },
            ),
            O::I64Shl => self.binary_imm(
                I64,
                |rd, ra, rb| Instr::Shl { rd, ra, rb },
                shift64,
                |rd, ra, imm| Instr::Shli { rd, ra, imm },
            ),
            O::I64ShrS => self.binary_imm(
                I64,
                |rd, ra, rb| Instr::Sar { rd, ra, rb },
                shift64,
                |rd, ra, imm| Instr::Sari { rd, ra, imm },
            ),
            O::I64ShrU => self.binary_imm(
                I64,
                |rd, ra, rb| Instr::Shr { rd, ra, rb },
                shift64,
                |rd, ra, imm| Instr::Shri { rd, ra, imm },
            ),
            O::I64Rotl => self.binary(I64, |rd, ra, rb| Instr::Rotl { rd, ra, rb }),
            O::I64Rotr => self.binary(I64, |rd, ra, rb| Instr::Rotr { rd, ra, rb }),
            O::F32Abs => self.unary(F32, |rd, rs| Instr::Fabs32 { rd, rs }),
            O::F32Neg => self.unary(F32, |rd, rs| Instr::Fneg32 { rd, rs }),
            O::F32Ceil => self.unary(F32, |rd, rs| Instr::Fceil32 { rd, rs }),
            O::F32Floor => self.unary(F32, |rd, rs| Instr::Ffloor32 { rd, rs }),
            O::F32Trunc => self.unary(F32, |rd, rs| Instr::Ftrunc32 { rd, rs }),
            O::F32Nearest => self.unary(F32, |rd, rs| Instr::Fround32 { rd, rs }),
            O::F32Sqrt => self.unary(F32, |rd, rs| Instr::Fsqrt32 { rd, rs }),
            O::F32Add => self.binary(F32, |rd, ra, rb| Instr::Fadd32 { rd, ra, rb }),
            O::F32Sub => self.binary(F32, |rd, ra, rb| Instr::Fsub32 { rd, ra, rb }),
            O::F32Mul => self.binary(F32, |rd, ra, rb| Instr::Fmul32 { rd, ra, rb }),
            O::F32Div => self.binary(F32, |rd, ra, rb| Instr::Fdiv32 { rd, ra, rb }),
            O::F32Min => self.binary(F32, |rd, ra, rb| Instr::Fmin32 { rd, ra, rb }),
            O::F32Max => self.binary(F32, |rd, ra, rb| Instr::Fmax32 { rd, ra, rb }),
            O::F32Copysign => self.binary(F32, |rd, ra, rb| Instr::Fcopysign32 { rd, ra, rb }),
            O::F64Abs => self.unary(F64, |rd, rs| Instr::Fabs { rd, rs }),
            O::F64Neg => self.unary(F64, |rd, rs| Instr::Fneg { rd, rs }),
            O::F64Ceil => self.unary(F64, |rd, rs| Instr::Fceil { rd, rs }),
            O::F64Floor => self.unary(F64, |rd, rs| Instr::Ffloor { rd, rs }),
            O::F64Trunc => self.unary(F64, |rd, rs| Instr::Ftrunc { rd, rs }),
            O::F64Nearest => self.unary(F64, |rd, rs| Instr::Fround { rd, rs }),
            O::F64Sqrt => self.unary(F64, |rd, rs| Instr::Fsqrt { rd, rs }),
            O::F64Add => self.binary(F64, |rd, ra, rb| Instr::Fadd { rd, ra, rb }),
            O::F64Sub => self.binary(F64, |rd, ra, rb| Instr::Fsub { rd, ra, rb }),
            O::F64Mul => self.binary(F64, |rd, ra, rb| Instr::Fmul { rd, ra, rb }),
            O::F64Div => self.binary(F64, |rd, ra, rb| Instr::Fdiv { rd, ra, rb }),
            O::F64Min => self.binary(F64, |rd, ra, rb| Instr::Fmin { rd, ra, rb }),
            O::F64Max => self.binary(F64, |rd, ra, rb| Instr::Fmax { rd, ra, rb }),
            O::F64Copysign => self.binary(F64, |rd, ra, rb| Instr::Fcopysign { rd, ra, rb }),
            O::I32WrapI64 => self.unary(I32, |rd, rs| Instr::Sext32 { rd, rs }),
            O::I64ExtendI32S => self.retype(I64),
            O::I64ExtendI32U => self.unary(I64, |rd, rs| Instr::Zext32 { rd, rs }),
            O::I32Extend8S | O::I64Extend8S => {
                let ty = if matches!(op, O::I32Extend8S) { I32 } else { I64 };
                self.unary(ty, |rd, rs| Instr::Sext8 { rd, rs })
            }
            O::I32Extend16S | O::I64Extend16S => {
                let ty = if matches!(op, O::I32Extend16S) { I32 } else { I64 };
                self.unary(ty, |rd, rs| Instr::Sext16 { rd, rs })
            }
            O::I64Extend32S => self.unary(I64, |rd, rs| Instr::Sext32 { rd, rs }),
            O::I32TruncF32S => self.unary2(I32, promote, |rd, rs| Instr::Truncs32 { rd, rs }),
            O::I32TruncF32U => self.unary2(I32, promote, |rd, rs| Instr::Truncu32 { rd, rs }),
            O::I32TruncF64S => self.unary(I32, |rd, rs| Instr::Truncs32 { rd, rs }),
            O::I32TruncF64U => self.unary(I32, |rd, rs| Instr::Truncu32 { rd, rs }),
            O::I64TruncF32S => self.unary2(I64, promote, |rd, rs| Instr::Truncs64 { rd, rs }),
            O::I64TruncF32U => self.unary2(I64, promote, |rd, rs| Instr::Truncu64 { rd, rs }),
            O::I64TruncF64S => self.unary(I64, |rd, rs| Instr::Truncs64 { rd, rs }),
            O::I64TruncF64U => self.unary(I64, |rd, rs| Instr::Truncu64 { rd, rs }),
            O::I32TruncSatF32S => self.unary2(I32, promote, |rd, rs| Instr::Sats32 { rd, rs }),
            O::I32TruncSatF32U => self.unary2(I32, promote, |rd, rs| Instr::Satu32 { rd, rs }),
            O::I32TruncSatF64S => self.unary(I32, |rd, rs| Instr::Sats32 { rd, rs }),
            O::I32TruncSatF64U => self.unary(I32, |rd, rs| Instr::Satu32 { rd, rs }),
            O::I64TruncSatF32S => self.unary2(I64, promote, |rd, rs| Instr::Ftoi { rd, rs }),
            O::I64TruncSatF32U => self.unary2(I64, promote, |rd, rs| Instr::Satu64 { rd, rs }),
            O::I64TruncSatF64S => self.unary(I64, |rd, rs| Instr::Ftoi { rd, rs }),
            O::I64TruncSatF64U => self.unary(I64, |rd, rs| Instr::Satu64 { rd, rs }),
            O::F32ConvertI32S | O::F32ConvertI64S => self.unary(F32, |rd, rs| Instr::Itof32 { rd, rs }),
            O::F32ConvertI32U => self.unary2(F32, zext, |rd, rs| Instr::Utof32 { rd, rs }),
            O::F32ConvertI64U => self.unary(F32, |rd, rs| Instr::Utof32 { rd, rs }),
            O::F64ConvertI32S | O::F64ConvertI64S => self.unary(F64, |rd, rs| Instr::Itof { rd, rs }),
            O::F64ConvertI32U => self.unary2(F64, zext, |rd, rs| Instr::Utof { rd, rs }),
            O::F64ConvertI64U => self.unary(F64, |rd, rs| Instr::Utof { rd, rs }),
            O::F32DemoteF64 => self.unary(F32, |rd, rs| Instr::Fdemote { rd, rs }),
            O::F64PromoteF32 => self.unary(F64, |rd, rs| Instr::Fpromote { rd, rs }),
            O::I32ReinterpretF32 => self.unary(I32, |rd, rs| Instr::Sext32 { rd, rs }),
            O::F32ReinterpretI32 => self.unary(F32, |rd, rs| Instr::Zext32 { rd, rs }),
            O::I64ReinterpretF64 => self.retype(I64),
            O::F64ReinterpretI64 => self.retype(F64),
            _ => return Ok(false),
        }
        Ok(true)
    }
}
