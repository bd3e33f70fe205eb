//! Linear memory: loads, stores, `memory.size/grow/copy/fill/init`, `data.drop`.

use super::{r, FuncTranslator};
use crate::ir::{S1, S2, S3, ZERO};
use crate::Segment;
use manda::isa::{Instr, Mem};
use wasmparser::{
    Operator,
    ValType::{F32, F64, I32, I64},
};

impl FuncTranslator<'_> {
    /// Translates `op` if it is one of these; `Ok(false)` if not.
    pub(super) fn memory(&mut self, op: &Operator<'_>) -> Result<bool, String> {
        use Operator as O;
        match *op {
            O::I32Load { memarg } => self.load(I32, memarg.offset, |rd, ra, off| Instr::Hld32s { rd, ra, off }),
            O::I64Load { memarg } => self.load(I64, memarg.offset, |rd, ra, off| Instr::Hld64 { rd, ra, off }),
            O::F32Load { memarg } => self.load(F32, memarg.offset, |rd, ra, off| Instr::Hld32u { rd, ra, off }),
            O::F64Load { memarg } => self.load(F64, memarg.offset, |rd, ra, off| Instr::Hld64 { rd, ra, off }),
            O::I32Load8S { memarg } => self.load(I32, memarg.offset, |rd, ra, off| Instr::Hld8s { rd, ra, off }),
            O::I32Load8U { memarg } => self.load(I32, memarg.offset, |rd, ra, off| Instr::Hld8u { rd, ra, off }),
            O::I32Load16S { memarg } => self.load(I32, memarg.offset, |rd, ra, off| Instr::Hld16s { rd, ra, off }),
            O::I32Load16U { memarg } => self.load(I32, memarg.offset, |rd, ra, off| Instr::Hld16u { rd, ra, off }),
            O::I64Load8S { memarg } => self.load(I64, memarg.offset, |rd, ra, off| Instr::Hld8s { rd, ra, off }),
            O::I64Load8U { memarg } => self.load(I64, memarg.offset, |rd, ra, off| Instr::Hld8u { rd, ra, off }),
            O::I64Load16S { memarg } => self.load(I64, memarg.offset, |rd, ra, off| Instr::Hld16s { rd, ra, off }),
            O::I64Load16U { memarg } => self.load(I64, memarg.offset, |rd, ra, off| Instr::Hld16u { rd, ra, off }),
            O::I64Load32S { memarg } => self.load(I64, memarg.offset, |rd, ra, off| Instr::Hld32s { rd, ra, off }),
            O::I64Load32U { memarg } => self.load(I64, memarg.offset, |rd, ra, off| Instr::Hld32u { rd, ra, off }),
            O::I32Store { memarg } | O::F32Store { memarg } | O::I64Store32 { memarg } => {
                self.store(memarg.offset, |rs, ra, off| Instr::Hst32 { rs, ra, off })
            }
            O::I64Store { memarg } | O::F64Store { memarg } => {
                self.store(memarg.offset, |rs, ra, off| Instr::Hst64 { rs, ra, off })
            }
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => {
                self.store(memarg.offset, |rs, ra, off| Instr::Hst8 { rs, ra, off })
            }
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => {
                self.store(memarg.offset, |rs, ra, off| Instr::Hst16 { rs, ra, off })
            }
            O::MemorySize { .. } => {
                let d = self.result(I32);
                self.ins(Instr::Hsize { rd: r(d) });
                self.ins(Instr::Shri { rd: r(d), ra: r(d), imm: 16 });
            }
            O::MemoryGrow { .. } => self.memory_grow(),
            O::MemoryCopy { .. } | O::MemoryFill { .. } => {
                let n = self.stack.len();
                let a = self.operand(n - 3, S1);
                let b = self.operand(n - 2, S2);
                let c = self.operand(n - 1, S3);
                self.stack.truncate(n - 3);
                self.ins(match op {
                    O::MemoryCopy { .. } => Instr::Hcopy { dst: r(a), src: r(b), len: r(c) },
                    _ => Instr::Hfill { dst: r(a), val: r(b), len: r(c) },
                });
            }
            O::MemoryInit { data_index, .. } => self.memory_init(data_index),
            O::DataDrop { data_index } => self.drop_segment(self.module.data_segments[data_index as usize]),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `memory.init`: copies `n` bytes of the segment from `s` to memory at
    /// `d`, trapping (before any byte is written) unless `s + n` is within
    /// what is left of the segment and `d + n` within the memory.
    fn memory_init(&mut self, data_index: u32) {
        let Segment { addr, left } = self.module.data_segments[data_index as usize];
        let n = self.stack.len();
        self.index_operand(n - 2, S2);
        self.index_operand(n - 1, S3);
        // Within the segment: len <= left and s <= left - len, with no overflow.
        let out_of_bounds = self.trap_label(4);
        let t = manda::isa::Target(0);
        self.ins(Instr::Ld64 { rd: r(S1), mem: Mem { base: r(ZERO), off: left as i32 } });
        self.jump(Instr::Bltu { ra: r(S1), rb: r(S3), target: t }, out_of_bounds);
        self.ins(Instr::Sub { rd: r(S1), ra: r(S1), rb: r(S3) });
        self.jump(Instr::Bltu { ra: r(S1), rb: r(S2), target: t }, out_of_bounds);
        self.ins(Instr::Addi { rd: r(S2), ra: r(S2), imm: addr as i32 });
        // `hput` checks the destination against the memory before it writes.
        let d = self.operand(n - 3, S1);
        self.stack.truncate(n - 3);
        self.ins(Instr::Hput { dst: r(d), src: r(S2), len: r(S3) });
    }
}
