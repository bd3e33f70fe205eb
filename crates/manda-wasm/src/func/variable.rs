//! Locals and globals: `local.get/set/tee`, `global.get/set`.

use super::{r, Entry, FuncTranslator};
use crate::ir::Item;
use crate::ir::{S1, ZERO};
use crate::GlobalHome;
use manda::isa::{Instr, Mem};
use wasmparser::{Operator, ValType::V128};

impl FuncTranslator<'_> {
    /// Translates `op` if it is one of these; `Ok(false)` if not.
    pub(super) fn variable(&mut self, op: &Operator<'_>) -> Result<bool, String> {
        use Operator as O;
        match *op {
            O::LocalGet { local_index } => self.local_get(local_index),
            O::LocalSet { local_index } => self.wasm_local_set(local_index),
            O::LocalTee { local_index } => {
                self.wasm_local_set(local_index);
                self.local_get(local_index);
            }
            O::GlobalGet { global_index } => {
                let g = &self.module.globals[global_index as usize];
                let ty = g.ty;
                match g.home {
                    GlobalHome::Mem(addr) if ty == V128 => {
                        for half in 0..2 {
                            let d = self.result(ty);
                            let mem = Mem { base: r(ZERO), off: addr as i32 + 8 * half };
                            self.ins(Instr::Ld64 { rd: r(d), mem });
                        }
                    }
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
                let global = &self.module.globals[global_index as usize];
                let (home, ty) = (global.home, global.ty);
                let n = self.stack.len();
                match home {
                    GlobalHome::Mem(addr) if ty == V128 => {
                        let (lo, hi) = self.vector(n - 2);
                        for (half, v) in [lo, hi].into_iter().enumerate() {
                            let mem = Mem { base: r(ZERO), off: addr as i32 + 8 * half as i32 };
                            self.ins(Instr::St64 { rs: r(v), mem });
                        }
                        self.pop(); // the high half; the low one is popped below
                    }
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

impl FuncTranslator<'_> {
    /// `local.get` of the module's local `l`: one entry, or a `v128`'s two.
    fn local_get(&mut self, l: u32) {
        let at = self.local_base[l as usize];
        let ty = self.locals[at as usize];
        self.push(Entry::Local(at), ty);
        if ty == V128 {
            self.push(Entry::Local(at + 1), ty);
        }
    }

    /// `local.set` of the module's local `l`. A `v128` computed by the
    /// instruction just before is written straight into the local's two
    /// registers when it can be.
    fn wasm_local_set(&mut self, l: u32) {
        let at = self.local_base[l as usize];
        if self.locals[at as usize] != V128 {
            return self.local_set(at);
        }
        let n = self.stack.len();
        let stale = (0..n - 2).any(|p| matches!(self.stack[p].0, Entry::Local(x) if x == at || x == at + 1));
        let homes = (self.local_reg(at), self.local_reg(at + 1));
        if let (false, (Some(lo), Some(hi)), Entry::Slot, Entry::Slot) =
            (stale, homes, self.stack[n - 2].0, self.stack[n - 1].0)
        {
            let (slot_lo, slot_hi) = (self.slot_reg(n - 2), self.slot_reg(n - 1));
            if let Some(Item::Ins(i)) = self.items.last_mut() {
                if i.rd().is_some_and(|d| d.0 == slot_lo) && i.rdh().is_some_and(|d| d.0 == slot_hi) {
                    *i.rd_mut().expect("has rd") = r(lo);
                    *i.rdh_mut().expect("has rdh") = r(hi);
                    self.stack.truncate(n - 2);
                    return;
                }
            }
        }
        self.local_set(at + 1);
        self.local_set(at);
    }
}
