//! Locals and globals: `local.get/set/tee`, `global.get/set`.

use super::{r, Entry, FuncTranslator};
use crate::ir::{S1, ZERO};
use crate::GlobalHome;
use manda::isa::{Instr, Mem};
use wasmparser::Operator;

impl FuncTranslator<'_> {
    /// Translates `op` if it is one of these; `Ok(false)` if not.
    pub(super) fn variable(&mut self, op: &Operator<'_>) -> Result<bool, String> {
        use Operator as O;
        match *op {
            O::LocalGet { local_index } => {
                let ty = self.locals[local_index as usize];
                self.push(Entry::Local(local_index), ty);
            }
            O::LocalSet { local_index } => self.local_set(local_index),
            O::LocalTee { local_index } => {
                self.local_set(local_index);
                let ty = self.locals[local_index as usize];
                self.push(Entry::Local(local_index), ty);
            }
            O::GlobalGet { global_index } => {
                let g = &self.module.globals[global_index as usize];
                let ty = g.ty;
                match g.home {
                    GlobalHome::Const(v) => {
                        self.push(Entry::Const(v), ty);
                    }
                    GlobalHome::Reg(reg) => {
                        let d = self.result(ty);
                        self.ins(Instr::Mov { rd: r(d), rs: r(reg) });
                    }
                    GlobalHome::Mem(addr) => {
                        let d = self.result(ty);
                        self.ins(Instr::Ld64 { rd: r(d), mem: Mem { base: r(ZERO), off: addr as i32 } });
                    }
                }
            }
            O::GlobalSet { global_index } => {
                let home = self.module.globals[global_index as usize].home;
                let n = self.stack.len();
                match home {
                    GlobalHome::Reg(reg) => {
                        let v = self.src(n - 1);
                        self.parallel_move(&[(reg, v)]);
                    }
                    GlobalHome::Mem(addr) => {
                        let v = self.operand(n - 1, S1);
                        self.ins(Instr::St64 { rs: r(v), mem: Mem { base: r(ZERO), off: addr as i32 } });
                    }
                    GlobalHome::Const(_) => unreachable!("validated: an immutable global is never set"),
                }
                self.pop();
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
