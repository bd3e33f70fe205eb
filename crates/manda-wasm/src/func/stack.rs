//! The operand stack, simulated at translation time: where each value is
//! (its slot register, a local's register, or a constant), and the moves
//! that put values where they must be.

use super::{r, FuncTranslator};
use crate::ir::{Item, Src, S3, ZERO};
use manda::isa::Instr;
use wasmparser::ValType;

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Entry {
    Slot,
    Local(u32),
    Const(u64),
}

impl FuncTranslator<'_> {
    pub(super) fn slot_reg(&self, pos: usize) -> u8 {
        (self.in_regs as usize + pos) as u8
    }

    pub(super) fn push(&mut self, e: Entry, ty: ValType) -> u8 {
        self.stack.push((e, ty));
        self.max_stack = self.max_stack.max(self.stack.len());
        self.slot_reg(self.stack.len() - 1)
    }

    /// Pushes a slot result and returns its register.
    pub(super) fn result(&mut self, ty: ValType) -> u8 {
        self.push(Entry::Slot, ty)
    }

    /// The register holding stack entry `pos`, loading a constant or a
    /// spilled local into `scratch`.
    pub(super) fn operand(&mut self, pos: usize, scratch: u8) -> u8 {
        match self.stack[pos].0 {
            Entry::Slot => self.slot_reg(pos),
            Entry::Local(l) => match self.local_reg(l) {
                Some(reg) => reg,
                None => {
                    let off = self.frame_off(l);
                    self.ins(Instr::Ldsp { rd: r(scratch), off });
                    scratch
                }
            },
            Entry::Const(0) => ZERO,
            Entry::Const(c) => {
                self.ins(Instr::Li { rd: r(scratch), imm: c as i64 });
                scratch
            }
        }
    }

    /// Reads operand `pos` into `scratch`, zero-extended (an i32 index,
    /// offset or count of a bulk operator).
    pub(super) fn index_operand(&mut self, pos: usize, scratch: u8) {
        let v = self.operand(pos, scratch);
        self.ins(Instr::Zext32 { rd: r(scratch), rs: r(v) });
    }

    pub(super) fn src(&self, pos: usize) -> Src {
        match self.stack[pos].0 {
            Entry::Slot => Src::Reg(self.slot_reg(pos)),
            Entry::Local(l) => match self.local_reg(l) {
                Some(reg) => Src::Reg(reg),
                None => Src::Frame(self.frame_off(l)),
            },
            Entry::Const(c) => Src::Imm(c),
        }
    }

    /// Puts entry `pos` in its slot register.
    pub(super) fn materialize(&mut self, pos: usize) {
        let dst = self.slot_reg(pos);
        match self.stack[pos].0 {
            Entry::Slot => return,
            Entry::Local(l) => match self.local_reg(l) {
                Some(reg) => self.ins(Instr::Mov { rd: r(dst), rs: r(reg) }),
                None => {
                    let off = self.frame_off(l);
                    self.ins(Instr::Ldsp { rd: r(dst), off })
                }
            },
            Entry::Const(c) => self.ins(Instr::Li { rd: r(dst), imm: c as i64 }),
        }
        self.stack[pos].0 = Entry::Slot;
    }

    pub(super) fn materialize_all(&mut self) {
        for pos in 0..self.stack.len() {
            self.materialize(pos);
        }
    }

    /// Moves the top `n` entries into the slots starting at `height`.
    pub(super) fn move_top_to(&mut self, n: usize, height: usize) {
        let from = self.stack.len() - n;
        let moves: Vec<(u8, Src)> = (0..n).map(|k| (self.slot_reg(height + k), self.src(from + k))).collect();
        // A destination is never above its source, so in order is safe for
        // registers; the parallel move also orders constants last.
        self.parallel_move(&moves);
    }

    /// The moves `moves`, as if at once.
    pub(super) fn parallel_move(&mut self, moves: &[(u8, Src)]) {
        crate::ir::parallel_move(|i| self.ins(i), moves, S3);
    }

    pub(super) fn pop(&mut self) -> (Entry, ValType) {
        self.stack.pop().expect("validated: the operand stack is not empty")
    }

    /// The last item, if it is an instruction writing the top slot.
    pub(super) fn top_def(&mut self) -> Option<&mut Instr> {
        let top = self.stack.len().checked_sub(1)?;
        if self.stack[top].0 != Entry::Slot {
            return None;
        }
        let slot = self.slot_reg(top);
        match self.items.last_mut() {
            Some(Item::Ins(i)) if i.rd().is_some_and(|d| d.0 == slot) => Some(i),
            _ => None,
        }
    }

    pub(super) fn retype(&mut self, ty: ValType) {
        self.stack.last_mut().expect("validated").1 = ty;
    }
}
