//! Control frames and labels: the blocks, loops and ifs open at each point,
//! where a branch to each goes, and the moves a branch needs.

use super::{fused_branch, r, Entry, FuncTranslator};
use crate::ir::{Item, Label, Src, S1, S2};
use manda::isa::Instr;
use wasmparser::{BlockType, ValType};

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Kind {
    Block,
    Loop,
    If { else_label: Label, has_else: bool },
    Function,
}

pub(super) struct Frame {
    pub(super) kind: Kind,
    /// Where a branch to this frame goes.
    pub(super) target: Label,
    /// The end of the frame.
    pub(super) end: Label,
    /// Stack height below the frame's parameters.
    pub(super) height: usize,
    pub(super) params: Vec<ValType>,
    pub(super) results: Vec<ValType>,
}

impl Frame {
    pub(super) fn branch_arity(&self) -> usize {
        match self.kind {
            Kind::Loop => self.params.len(),
            _ => self.results.len(),
        }
    }
}

impl FuncTranslator<'_> {
    pub(super) fn label(&mut self) -> Label {
        self.labels += 1;
        self.labels - 1
    }

    pub(super) fn bind(&mut self, l: Label) {
        self.items.push(Item::Bind(l));
    }

    pub(super) fn trap_label(&mut self, code: u8) -> Label {
        if let Some(&(_, l)) = self.traps.iter().find(|(c, _)| *c == code) {
            return l;
        }
        let l = self.label();
        self.traps.push((code, l));
        l
    }

    pub(super) fn block_types(&self, ty: BlockType) -> (Vec<ValType>, Vec<ValType>) {
        match ty {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], crate::lowered(&[t])),
            BlockType::FuncType(i) => {
                let f = &self.module.types[i as usize];
                (f.params().to_vec(), f.results().to_vec())
            }
        }
    }

    /// `if` or `br_if`: the condition on top, popped; a branch to `label`
    /// taken when the condition is `when` (true: non-zero).
    pub(super) fn branch_on(&mut self, when: bool, label: Label) {
        if let Some(i) = self.top_def().copied() {
            if let Some(branch) = fused_branch(i, when) {
                self.items.pop();
                self.pop();
                self.jump(branch, label);
                return;
            }
        }
        let n = self.stack.len();
        let c = self.operand(n - 1, S1);
        self.pop();
        let rs = r(c);
        let target = manda::isa::Target(0);
        self.jump(if when { Instr::Bnez { rs, target } } else { Instr::Beqz { rs, target } }, label);
    }

    /// Moves a branch's values to frame `depth`'s slots and jumps there.
    pub(super) fn branch_to(&mut self, depth: u32) {
        let f = &self.frames[self.frames.len() - 1 - depth as usize];
        let (arity, height, target, is_fn) = (f.branch_arity(), f.height, f.target, f.kind == Kind::Function);
        if is_fn {
            return self.ret();
        }
        self.move_top_to(arity, height);
        self.jump(Instr::Jmp { target: manda::isa::Target(0) }, target);
    }

    /// Whether a branch to frame `depth` needs moves first.
    pub(super) fn needs_moves(&self, depth: u32) -> bool {
        let f = &self.frames[self.frames.len() - 1 - depth as usize];
        if f.kind == Kind::Function {
            return true;
        }
        let arity = f.branch_arity();
        let from = self.stack.len() - arity;
        (0..arity).any(|k| from + k != f.height + k || self.stack[from + k].0 != Entry::Slot)
    }

    /// `br_if`'s branch needs moves once its condition is popped.
    pub(super) fn needs_moves_after_cond(&mut self, depth: u32) -> bool {
        let cond = self.stack.pop().expect("validated");
        let needs = self.needs_moves(depth);
        self.stack.push(cond);
        needs
    }

    /// Turns the 0/1 on top into 1/0.
    pub(super) fn flip(&mut self) {
        let d = self.slot_reg(self.stack.len() - 1);
        self.ins(Instr::Xori { rd: r(d), ra: r(d), imm: 1 });
    }

    pub(super) fn else_(&mut self) {
        let was_dead = self.dead;
        self.dead = false;
        self.dead_depth = 0;
        let frame = self.frames.last_mut().expect("validated: else inside if");
        let Kind::If { else_label, .. } = frame.kind else { unreachable!("validated: else inside if") };
        frame.kind = Kind::If { else_label, has_else: true };
        let (height, results, params, end) = (frame.height, frame.results.len(), frame.params.clone(), frame.end);
        if !was_dead {
            self.move_top_to(results, height);
            self.jump(Instr::Jmp { target: manda::isa::Target(0) }, end);
        }
        self.stack.truncate(height);
        for ty in params {
            self.push(Entry::Slot, ty);
        }
        self.bind(else_label);
    }

    pub(super) fn end(&mut self) {
        let was_dead = self.dead;
        self.dead = false;
        self.dead_depth = 0;
        let frame = self.frames.pop().expect("validated: end closes a frame");
        if frame.kind == Kind::Function {
            if !was_dead {
                self.ret();
            }
            self.bind(frame.end);
            if self.traps.iter().any(|t| t.0 == super::NULL_OR_MISMATCH) {
                self.trap_label(6);
            }
            let traps = std::mem::take(&mut self.traps);
            let null = traps.iter().find(|t| t.0 == 6).map(|t| t.1);
            for (code, label) in traps {
                self.bind(label);
                if code == super::NULL_OR_MISMATCH {
                    let null = null.expect("added with it");
                    self.items.extend(super::null_or_mismatch(null));
                } else {
                    self.ins(Instr::Trap { code });
                }
            }
            return;
        }
        if !was_dead {
            self.move_top_to(frame.results.len(), frame.height);
        }
        if let Kind::If { else_label, has_else: false } = frame.kind {
            self.bind(else_label);
        }
        self.bind(frame.end);
        self.stack.truncate(frame.height);
        for &ty in &frame.results {
            self.push(Entry::Slot, ty);
        }
    }

    pub(super) fn br_table(&mut self, depths: &[u32], default: u32) {
        let n = self.stack.len();
        let idx = self.operand(n - 1, S2);
        self.pop();
        // Each distinct depth gets a stub that moves its values, unless none are needed.
        let mut stubs: Vec<(u32, Label)> = Vec::new();
        let mut entry = |t: &mut Self, d: u32| -> Label {
            if let Some(&(_, l)) = stubs.iter().find(|(x, _)| *x == d) {
                return l;
            }
            let l = if t.needs_moves(d) { t.label() } else { t.frames[t.frames.len() - 1 - d as usize].target };
            stubs.push((d, l));
            l
        };
        let default_label = entry(self, default);
        let labels: Vec<Label> = depths.iter().map(|&d| entry(self, d)).collect();
        let table = self.label();
        self.ins(Instr::Zext32 { rd: r(S2), rs: r(idx) });
        self.ins(Instr::Li { rd: r(S1), imm: labels.len() as i64 });
        self.jump(Instr::Bgeu { ra: r(S2), rb: r(S1), target: manda::isa::Target(0) }, default_label);
        self.ins(Instr::Muli { rd: r(S2), ra: r(S2), imm: 9 });
        self.jump(Instr::La { rd: r(S1), addr: manda::isa::Addr(0) }, table);
        self.ins(Instr::Add { rd: r(S1), ra: r(S1), rb: r(S2) });
        self.ins(Instr::Jr { rs: r(S1) });
        self.bind(table);
        for &l in &labels {
            self.items.push(Item::TableEntry(l));
        }
        for (d, l) in stubs {
            if self.needs_moves(d) {
                self.bind(l);
                self.branch_to(d);
            }
        }
    }

    pub(super) fn ret(&mut self) {
        let results = self.module.func_type(self.index).results().len();
        let from = self.stack.len() - results;
        let moves: Vec<(u8, Src)> = (0..results).map(|k| (k as u8, self.src(from + k))).collect();
        self.parallel_move(&moves);
        self.items.push(Item::Return);
    }
}
