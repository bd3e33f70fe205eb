//! One function body: wasm operators to [`Item`]s.
//!
//! The operand stack is simulated at translation time. An entry is a value
//! already in its **slot** register (stack position p lives in window
//! register `locals + p`), or a reference to a local's register, or a
//! constant: `local.get` and `i32.const` emit nothing, and an operator
//! reads its operands where they already are. A result written to a slot
//! and then stored by `local.set` is written to the local directly (the
//! defining instruction's result register is changed), and a comparison
//! consumed by `br_if` or `if` becomes one compare-and-branch instruction.
//! At a control-flow join every entry is in its slot register, so the
//! paths that meet agree.

use super::ir::{CallSite, Callee, Item, Label, RegSet, Src, S1, S2, S3, WINDOW, ZERO};
use super::{GlobalHome, Module};
use manda::isa::{Instr, Mem, Reg};
use wasmparser::{BlockType, Operator, ValType};

/// Locals kept in registers; the rest of a function's locals live in its stack frame.
pub const LOCALS_IN_REGS: u32 = 128;

/// A translated body.
pub struct Body {
    /// The items.
    pub items: Vec<Item>,
    /// How many labels the items use.
    pub labels: u32,
    /// Registers of its window it uses (locals, then slots).
    pub size: u8,
    /// Bytes of stack frame for spilled locals.
    pub frame: u32,
    /// Functions it calls directly.
    pub callees: Vec<u32>,
    /// Canonical type ids it calls through the table.
    pub indirect: Vec<u32>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Entry {
    Slot,
    Local(u32),
    Const(u64),
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Block,
    Loop,
    If { else_label: Label, has_else: bool },
    Function,
}

struct Frame {
    kind: Kind,
    /// Where a branch to this frame goes.
    target: Label,
    /// The end of the frame.
    end: Label,
    /// Stack height below the frame's parameters.
    height: usize,
    params: Vec<ValType>,
    results: Vec<ValType>,
}

impl Frame {
    fn branch_arity(&self) -> usize {
        match self.kind {
            Kind::Loop => self.params.len(),
            _ => self.results.len(),
        }
    }
}

/// The translator of one body.
pub struct FuncTranslator<'m> {
    module: &'m Module,
    index: u32,
    items: Vec<Item>,
    labels: u32,
    stack: Vec<(Entry, ValType)>,
    max_stack: usize,
    frames: Vec<Frame>,
    /// Nesting depth of blocks inside dead code.
    dead_depth: u32,
    dead: bool,
    locals: Vec<ValType>,
    in_regs: u32,
    traps: Vec<(u8, Label)>,
    callees: Vec<u32>,
    indirect: Vec<u32>,
}

fn r(x: u8) -> Reg {
    Reg(x)
}

/// Whether an integer fits an instruction's sign-extended 32-bit immediate.
fn imm32(v: u64) -> Option<i32> {
    i32::try_from(v as i64).ok()
}

impl<'m> FuncTranslator<'m> {
    /// Starts function `index` with its parameter and declared local types.
    pub fn new(module: &'m Module, index: u32, locals: Vec<ValType>) -> Result<Self, String> {
        let ty = module.func_type(index);
        if ty.params().len() as u32 > LOCALS_IN_REGS {
            return Err(format!(
                "function {index} has {} parameters; at most {LOCALS_IN_REGS} are supported",
                ty.params().len()
            ));
        }
        let in_regs = (locals.len() as u32).min(LOCALS_IN_REGS);
        let mut t = FuncTranslator {
            module,
            index,
            items: Vec::new(),
            labels: 0,
            stack: Vec::new(),
            max_stack: 0,
            frames: Vec::new(),
            dead_depth: 0,
            dead: false,
            locals,
            in_regs,
            traps: Vec::new(),
            callees: Vec::new(),
            indirect: Vec::new(),
        };
        let frame = t.spilled() * 8;
        if frame > 0 {
            t.ins(Instr::Salloc { size: frame });
        }
        for l in ty.params().len() as u32..t.locals.len() as u32 {
            match t.local_reg(l) {
                Some(reg) => t.ins(Instr::Mov { rd: r(reg), rs: r(ZERO) }),
                None => t.ins(Instr::Stsp { rs: r(ZERO), off: t.frame_off(l) }),
            }
        }
        let end = t.label();
        t.frames.push(Frame {
            kind: Kind::Function,
            target: end,
            end,
            height: 0,
            params: Vec::new(),
            results: ty.results().to_vec(),
        });
        Ok(t)
    }

    fn spilled(&self) -> u32 {
        self.locals.len() as u32 - self.in_regs
    }

    fn frame_off(&self, l: u32) -> i32 {
        ((l - self.in_regs) * 8) as i32
    }

    fn local_reg(&self, l: u32) -> Option<u8> {
        (l < self.in_regs).then_some(l as u8)
    }

    fn slot_reg(&self, pos: usize) -> u8 {
        (self.in_regs as usize + pos) as u8
    }

    fn label(&mut self) -> Label {
        self.labels += 1;
        self.labels - 1
    }

    fn ins(&mut self, i: Instr) {
        self.items.push(Item::Ins(i));
    }

    fn jump(&mut self, i: Instr, l: Label) {
        self.items.push(Item::Jump(i, l));
    }

    fn bind(&mut self, l: Label) {
        self.items.push(Item::Bind(l));
    }

    fn trap_label(&mut self, code: u8) -> Label {
        if let Some(&(_, l)) = self.traps.iter().find(|(c, _)| *c == code) {
            return l;
        }
        let l = self.label();
        self.traps.push((code, l));
        l
    }

    fn push(&mut self, e: Entry, ty: ValType) -> u8 {
        self.stack.push((e, ty));
        self.max_stack = self.max_stack.max(self.stack.len());
        self.slot_reg(self.stack.len() - 1)
    }

    /// Pushes a slot result and returns its register.
    fn result(&mut self, ty: ValType) -> u8 {
        self.push(Entry::Slot, ty)
    }

    /// The register holding stack entry `pos`, loading a constant or a
    /// spilled local into `scratch`.
    fn operand(&mut self, pos: usize, scratch: u8) -> u8 {
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

    fn src(&self, pos: usize) -> Src {
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
    fn materialize(&mut self, pos: usize) {
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

    fn materialize_all(&mut self) {
        for pos in 0..self.stack.len() {
            self.materialize(pos);
        }
    }

    /// Moves the top `n` entries into the slots starting at `height`.
    fn move_top_to(&mut self, n: usize, height: usize) {
        let from = self.stack.len() - n;
        let moves: Vec<(u8, Src)> = (0..n).map(|k| (self.slot_reg(height + k), self.src(from + k))).collect();
        // A destination is never above its source, so in order is safe for
        // registers; the parallel move also orders constants last.
        self.parallel_move(&moves);
    }

    /// The moves `moves`, as if at once.
    fn parallel_move(&mut self, moves: &[(u8, Src)]) {
        super::ir::parallel_move(|i| self.ins(i), moves, S3);
    }

    fn pop(&mut self) -> (Entry, ValType) {
        self.stack.pop().expect("validated: the operand stack is not empty")
    }

    /// The last item, if it is an instruction writing the top slot.
    fn top_def(&mut self) -> Option<&mut Instr> {
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

    fn binary(&mut self, ty: ValType, make: fn(Reg, Reg, Reg) -> Instr) {
        self.binary_ordered(ty, make, false)
    }

    /// As [`binary`](Self::binary) with the operands swapped (`a > b` is `b < a`).
    fn binary_swapped(&mut self, ty: ValType, make: fn(Reg, Reg, Reg) -> Instr) {
        self.binary_ordered(ty, make, true)
    }

    fn binary_ordered(&mut self, ty: ValType, make: fn(Reg, Reg, Reg) -> Instr, swapped: bool) {
        let n = self.stack.len();
        let a = self.operand(n - 2, S1);
        let b = self.operand(n - 1, S2);
        self.stack.truncate(n - 2);
        let d = self.result(ty);
        let (x, y) = if swapped { (b, a) } else { (a, b) };
        self.ins(make(r(d), r(x), r(y)));
    }

    /// A binary operator with an immediate form used when the second operand is a constant that fits.
    fn binary_imm(
        &mut self,
        ty: ValType,
        make: fn(Reg, Reg, Reg) -> Instr,
        imm: impl Fn(u64) -> Option<i32>,
        make_imm: fn(Reg, Reg, i32) -> Instr,
    ) {
        let n = self.stack.len();
        if let Entry::Const(c) = self.stack[n - 1].0 {
            if let Some(k) = imm(c) {
                let a = self.operand(n - 2, S1);
                self.stack.truncate(n - 2);
                let d = self.result(ty);
                self.ins(make_imm(r(d), r(a), k));
                return;
            }
        }
        self.binary(ty, make);
    }

    fn unary(&mut self, ty: ValType, make: fn(Reg, Reg) -> Instr) {
        let n = self.stack.len();
        let a = self.operand(n - 1, S1);
        self.stack.truncate(n - 1);
        let d = self.result(ty);
        self.ins(make(r(d), r(a)));
    }

    /// Two instructions in a row, the second applied to the first's result.
    fn unary2(&mut self, ty: ValType, first: fn(Reg, Reg) -> Instr, second: fn(Reg, Reg) -> Instr) {
        let n = self.stack.len();
        let a = self.operand(n - 1, S1);
        self.stack.truncate(n - 1);
        let d = self.result(ty);
        self.ins(first(r(S1), r(a)));
        self.ins(second(r(d), r(S1)));
    }

    fn retype(&mut self, ty: ValType) {
        self.stack.last_mut().expect("validated").1 = ty;
    }

    fn load(&mut self, ty: ValType, offset: u64, make: fn(Reg, Reg, u32) -> Instr) {
        let n = self.stack.len();
        let (base, off) = self.address(n - 1, offset);
        self.stack.truncate(n - 1);
        let d = self.result(ty);
        self.ins(make(r(d), r(base), off));
    }

    fn store(&mut self, offset: u64, make: fn(Reg, Reg, u32) -> Instr) {
        let n = self.stack.len();
        let (base, off) = self.address(n - 2, offset);
        let v = self.operand(n - 1, S2);
        self.stack.truncate(n - 2);
        self.ins(make(r(v), r(base), off));
    }

    /// Base register and offset for an access at entry `pos` plus `offset`.
    fn address(&mut self, pos: usize, offset: u64) -> (u8, u32) {
        if let Entry::Const(c) = self.stack[pos].0 {
            if let Ok(off) = u32::try_from(u64::from(c as u32) + offset) {
                return (ZERO, off);
            }
        }
        (self.operand(pos, S1), offset as u32)
    }

    /// `if` or `br_if`: the condition on top, popped; a branch to `label`
    /// taken when the condition is `when` (true: non-zero).
    fn branch_on(&mut self, when: bool, label: Label) {
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

    fn block_types(&self, ty: BlockType) -> (Vec<ValType>, Vec<ValType>) {
        match ty {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![t]),
            BlockType::FuncType(i) => {
                let f = &self.module.types[i as usize];
                (f.params().to_vec(), f.results().to_vec())
            }
        }
    }

    /// Moves a branch's values to frame `depth`'s slots and jumps there.
    fn branch_to(&mut self, depth: u32) {
        let f = &self.frames[self.frames.len() - 1 - depth as usize];
        let (arity, height, target, is_fn) = (f.branch_arity(), f.height, f.target, f.kind == Kind::Function);
        if is_fn {
            return self.ret();
        }
        self.move_top_to(arity, height);
        self.jump(Instr::Jmp { target: manda::isa::Target(0) }, target);
    }

    /// Whether a branch to frame `depth` needs moves first.
    fn needs_moves(&self, depth: u32) -> bool {
        let f = &self.frames[self.frames.len() - 1 - depth as usize];
        if f.kind == Kind::Function {
            return true;
        }
        let arity = f.branch_arity();
        let from = self.stack.len() - arity;
        (0..arity).any(|k| from + k != f.height + k || self.stack[from + k].0 != Entry::Slot)
    }

    fn ret(&mut self) {
        let results = self.module.func_type(self.index).results().len();
        let from = self.stack.len() - results;
        let moves: Vec<(u8, Src)> = (0..results).map(|k| (k as u8, self.src(from + k))).collect();
        self.parallel_move(&moves);
        self.items.push(Item::Return);
    }

    fn call(&mut self, callee: Callee, params: usize, results: &[ValType]) {
        let n = self.stack.len() - params;
        let args: Vec<Src> = (n..self.stack.len()).map(|p| self.src(p)).collect();
        let mut live = RegSet::default();
        for l in 0..self.in_regs {
            live.insert(l as u8);
        }
        for p in 0..n {
            if self.stack[p].0 == Entry::Slot {
                live.insert(self.slot_reg(p));
            }
        }
        let dsts: Vec<u8> = (0..results.len()).map(|k| self.slot_reg(n + k)).collect();
        self.stack.truncate(n);
        for &ty in results {
            self.result(ty);
        }
        self.items.push(Item::Call(Box::new(CallSite { callee, live, args, dsts })));
    }

    /// Translates one operator.
    pub fn op(&mut self, op: &Operator<'_>) -> Result<(), String> {
        use Operator as O;
        use ValType::{F32, F64, I32, I64};
        if self.dead {
            match op {
                O::Block { .. } | O::Loop { .. } | O::If { .. } => self.dead_depth += 1,
                O::Else if self.dead_depth == 0 => self.else_(),
                O::End if self.dead_depth == 0 => self.end(),
                O::End => self.dead_depth -= 1,
                _ => {}
            }
            return Ok(());
        }
        match *op {
            O::Nop => {}
            O::Unreachable => {
                self.ins(Instr::Trap { code: 0 });
                self.dead = true;
            }
            O::Block { blockty } | O::Loop { blockty } => {
                let (params, results) = self.block_types(blockty);
                self.materialize_all();
                let end = self.label();
                let is_loop = matches!(op, O::Loop { .. });
                let target = if is_loop { self.label() } else { end };
                if is_loop {
                    self.bind(target);
                }
                let height = self.stack.len() - params.len();
                let kind = if is_loop { Kind::Loop } else { Kind::Block };
                self.frames.push(Frame { kind, target, end, height, params, results });
            }
            O::If { blockty } => {
                let (params, results) = self.block_types(blockty);
                let else_label = self.label();
                // The condition first, then the rest joins in its slots.
                let cond = self.stack.len() - 1;
                for pos in 0..cond {
                    self.materialize(pos);
                }
                self.branch_on(false, else_label);
                let end = self.label();
                let height = self.stack.len() - params.len();
                let kind = Kind::If { else_label, has_else: false };
                self.frames.push(Frame { kind, target: end, end, height, params, results });
            }
            O::Else => self.else_(),
            O::End => self.end(),
            O::Br { relative_depth } => {
                self.branch_to(relative_depth);
                self.dead = true;
            }
            O::BrIf { relative_depth } => {
                if self.needs_moves_after_cond(relative_depth) {
                    let skip = self.label();
                    self.branch_on(false, skip);
                    self.branch_to(relative_depth);
                    self.bind(skip);
                } else {
                    let target = self.frames[self.frames.len() - 1 - relative_depth as usize].target;
                    self.branch_on(true, target);
                }
            }
            O::BrTable { ref targets } => {
                let depths: Vec<u32> = targets.targets().collect::<Result<_, _>>().map_err(|e| e.to_string())?;
                self.br_table(&depths, targets.default());
                self.dead = true;
            }
            O::Return => {
                self.ret();
                self.dead = true;
            }
            O::Call { function_index } => {
                let ty = self.module.func_type(function_index);
                let (params, results) = (ty.params().len(), ty.results().to_vec());
                self.callees.push(function_index);
                self.call(Callee::Direct(function_index), params, &results);
            }
            O::CallIndirect { type_index, table_index } => {
                if table_index != 0 {
                    return Err("call_indirect on a table other than 0".into());
                }
                self.call_indirect(type_index);
            }
            O::Drop => {
                self.pop();
            }
            O::Select => {
                let n = self.stack.len();
                let ty = self.stack[n - 2].1;
                let a = self.operand(n - 3, S1);
                let b = self.operand(n - 2, S2);
                let c = self.operand(n - 1, S3);
                self.stack.truncate(n - 3);
                let d = self.result(ty);
                self.ins(Instr::Csel { rd: r(d), rc: r(c), ra: r(a), rb: r(b) });
            }
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
            ref other => return Err(format!("unsupported instruction {other:?}")),
        }
        let limit = usize::from(WINDOW) - self.in_regs as usize;
        if self.stack.len() > limit {
            return Err(format!(
                "the operand stack is {} values deep; at most {limit} are supported here",
                self.stack.len()
            ));
        }
        Ok(())
    }

    /// `br_if`'s branch needs moves once its condition is popped.
    fn needs_moves_after_cond(&mut self, depth: u32) -> bool {
        let cond = self.stack.pop().expect("validated");
        let needs = self.needs_moves(depth);
        self.stack.push(cond);
        needs
    }

    /// Turns the 0/1 on top into 1/0.
    fn flip(&mut self) {
        let d = self.slot_reg(self.stack.len() - 1);
        self.ins(Instr::Xori { rd: r(d), ra: r(d), imm: 1 });
    }

    fn local_set(&mut self, l: u32) {
        let n = self.stack.len();
        // Entries that still refer to the local's old value take it now.
        for pos in 0..n - 1 {
            if self.stack[pos].0 == Entry::Local(l) {
                self.materialize(pos);
            }
        }
        match self.local_reg(l) {
            Some(reg) => {
                if let Some(def) = self.top_def() {
                    *def.rd_mut().expect("top_def has a result register") = Reg(reg);
                } else {
                    let v = self.src(n - 1);
                    self.parallel_move(&[(reg, v)]);
                }
            }
            None => {
                let v = self.operand(n - 1, S1);
                let off = self.frame_off(l);
                self.ins(Instr::Stsp { rs: r(v), off });
            }
        }
        self.pop();
    }

    fn else_(&mut self) {
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

    fn end(&mut self) {
        let was_dead = self.dead;
        self.dead = false;
        self.dead_depth = 0;
        let frame = self.frames.pop().expect("validated: end closes a frame");
        if frame.kind == Kind::Function {
            if !was_dead {
                self.ret();
            }
            self.bind(frame.end);
            for (code, label) in std::mem::take(&mut self.traps) {
                self.bind(label);
                self.ins(Instr::Trap { code });
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

    fn br_table(&mut self, depths: &[u32], default: u32) {
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

    fn call_indirect(&mut self, type_index: u32) {
        let (addr, len) = self.module.table.expect("validated: call_indirect needs a table");
        let ty = self.module.canon[type_index as usize];
        self.indirect.push(ty);
        let n = self.stack.len();
        let idx = self.operand(n - 1, S2);
        self.pop();
        let traps = [self.trap_label(5), self.trap_label(6), self.trap_label(7)];
        self.items.extend(table_lookup(idx, (addr, len), ty, traps));
        let f = &self.module.types[type_index as usize];
        let (params, results) = (f.params().len(), f.results().to_vec());
        self.call(Callee::Indirect { ty, addr: S1 }, params, &results);
    }

    fn divide(&mut self, ty: ValType, signed: bool, rem: bool) {
        let n = self.stack.len();
        let mut a = self.operand(n - 2, S1);
        let mut b = self.operand(n - 1, S2);
        self.stack.truncate(n - 2);
        let d = self.result(ty);
        let zero = self.trap_label(1);
        let t = manda::isa::Target(0);
        let wide = ty == ValType::I64;
        if !signed && !wide {
            self.ins(Instr::Zext32 { rd: r(S1), rs: r(a) });
            self.ins(Instr::Zext32 { rd: r(S2), rs: r(b) });
            (a, b) = (S1, S2);
        }
        self.jump(Instr::Beqz { rs: r(b), target: t }, zero);
        let (rd, ra, rb) = (r(d), r(a), r(b));
        match (signed, rem, wide) {
            (true, false, false) => {
                // -2^31 / -1 is 2^31, which is no i32.
                let overflow = self.trap_label(2);
                self.ins(Instr::Div { rd, ra, rb });
                self.ins(Instr::Sext32 { rd: r(S3), rs: rd });
                self.jump(Instr::Bne { ra: r(S3), rb: rd, target: t }, overflow);
            }
            (true, true, false) => self.ins(Instr::Rem { rd, ra, rb }),
            (false, false, false) => {
                self.ins(Instr::Divu { rd, ra, rb });
                self.ins(Instr::Sext32 { rd, rs: rd });
            }
            (false, true, false) => {
                self.ins(Instr::Remu { rd, ra, rb });
                self.ins(Instr::Sext32 { rd, rs: rd });
            }
            (true, _, true) => {
                // -2^63 / -1 overflows; -2^63 rem -1 is 0.
                let ok = self.label();
                let done = self.label();
                self.ins(Instr::Li { rd: r(S3), imm: -1 });
                self.jump(Instr::Bne { ra: rb, rb: r(S3), target: t }, ok);
                if rem {
                    self.ins(Instr::Mov { rd, rs: r(ZERO) });
                    self.jump(Instr::Jmp { target: t }, done);
                } else {
                    let overflow = self.trap_label(2);
                    self.ins(Instr::Li { rd: r(S3), imm: i64::MIN });
                    self.jump(Instr::Beq { ra, rb: r(S3), target: t }, overflow);
                }
                self.bind(ok);
                self.ins(if rem { Instr::Rem { rd, ra, rb } } else { Instr::Div { rd, ra, rb } });
                self.bind(done);
            }
            (false, false, true) => self.ins(Instr::Divu { rd, ra, rb }),
            (false, true, true) => self.ins(Instr::Remu { rd, ra, rb }),
        }
    }

    fn memory_grow(&mut self) {
        let max = self.module.memory.map_or(0, |m| m.1);
        let n = self.stack.len();
        let delta = self.operand(n - 1, S1);
        self.pop();
        let d = self.result(ValType::I32);
        let (fail, done) = (self.label(), self.label());
        let t = manda::isa::Target(0);
        self.ins(Instr::Zext32 { rd: r(S1), rs: r(delta) });
        self.ins(Instr::Hsize { rd: r(S2) });
        self.ins(Instr::Shri { rd: r(S2), ra: r(S2), imm: 16 });
        self.ins(Instr::Add { rd: r(S2), ra: r(S2), rb: r(S1) });
        self.ins(Instr::Li { rd: r(S3), imm: max as i64 });
        self.jump(Instr::Bltu { ra: r(S3), rb: r(S2), target: t }, fail);
        self.ins(Instr::Shli { rd: r(S1), ra: r(S1), imm: 16 });
        self.ins(Instr::Hgrow { rd: r(S1), rs: r(S1) });
        self.ins(Instr::Li { rd: r(S3), imm: -1 });
        self.jump(Instr::Beq { ra: r(S1), rb: r(S3), target: t }, fail);
        self.ins(Instr::Shri { rd: r(d), ra: r(S1), imm: 16 });
        self.jump(Instr::Jmp { target: t }, done);
        self.bind(fail);
        self.ins(Instr::Li { rd: r(d), imm: -1 });
        self.bind(done);
    }

    /// Bytes the body holds so far, and will hold while [`finish`](Self::finish) simplifies it.
    pub fn bytes_to_finish(&self) -> u64 {
        (self.items.capacity() * std::mem::size_of::<Item>()) as u64 + super::live::analysis_bytes(self.items.len())
    }

    /// The translated body.
    pub fn finish(mut self) -> Body {
        for list in [&mut self.callees, &mut self.indirect] {
            list.sort_unstable();
            list.dedup();
        }
        let size = (self.in_regs as usize + self.max_stack).max(self.module.func_type(self.index).results().len());
        let frame = self.spilled() * 8;
        let results = self.module.func_type(self.index).results().len();
        let items = super::live::simplify(tail_duplicate(self.items, self.labels), self.labels, results);
        Body { items, labels: self.labels, size: size as u8, frame, callees: self.callees, indirect: self.indirect }
    }
}

/// A `jmp` to a short straight run that returns becomes a copy of the run
/// (an `if` whose value is the function's result returns from each arm),
/// and a move straight back (`mov a, b` then `mov b, a`) loses its second half.
fn tail_duplicate(items: Vec<Item>, labels: Label) -> Vec<Item> {
    let mut at = vec![0; labels as usize];
    for (i, item) in items.iter().enumerate() {
        if let Item::Bind(l) = item {
            at[*l as usize] = i;
        }
    }
    let tail = |l: &Label| -> Option<&[Item]> {
        let start = at[*l as usize] + 1;
        let end = items[start..].iter().take(4).position(|i| *i == Item::Return)? + start;
        items[start..end].iter().all(|i| matches!(i, Item::Ins(_))).then(|| &items[start..=end])
    };
    let mut out: Vec<Item> = Vec::with_capacity(items.len());
    for item in &items {
        let copy = match item {
            Item::Jump(Instr::Jmp { .. }, l) => tail(l),
            _ => None,
        };
        for item in copy.unwrap_or(std::slice::from_ref(item)) {
            if let (Some(Item::Ins(Instr::Mov { rd: a, rs: b })), Item::Ins(Instr::Mov { rd: c, rs: d })) =
                (out.last(), item)
            {
                if a == d && b == c {
                    continue;
                }
            }
            out.push(item.clone());
        }
    }
    // Labels no jump names any more (their jumps became copies) go, so that
    // what flows past them can be simplified as one run.
    let mut named = vec![false; labels as usize];
    for item in &out {
        if let Item::Jump(_, l) | Item::TableEntry(l) = item {
            named[*l as usize] = true;
        }
    }
    out.retain(|i| !matches!(i, Item::Bind(l) if !named[*l as usize]));
    out
}

/// The checks and the load of a call through the table, for the index in
/// register `idx` of the table at `table` (address, length) and canonical
/// type `ty`: a branch to `traps[0]` (*undefined element*) for an index past
/// the end, `traps[1]` (*uninitialized element*) for an empty entry,
/// `traps[2]` (*indirect call type mismatch*) for another type; then the
/// entry's thunk address in `S1`. Uses `S2` and `S3`.
pub fn table_lookup(idx: u8, table: (u64, u32), ty: u32, traps: [Label; 3]) -> [Item; 9] {
    let (addr, len) = table;
    let t = manda::isa::Target(0);
    [
        Item::Ins(Instr::Zext32 { rd: r(S2), rs: r(idx) }),
        Item::Ins(Instr::Li { rd: r(S1), imm: i64::from(len) }),
        Item::Jump(Instr::Bgeu { ra: r(S2), rb: r(S1), target: t }, traps[0]),
        Item::Ins(Instr::Shli { rd: r(S2), ra: r(S2), imm: 4 }),
        Item::Ins(Instr::Ld64 { rd: r(S1), mem: Mem { base: r(S2), off: addr as i32 } }),
        Item::Jump(Instr::Beqz { rs: r(S1), target: t }, traps[1]),
        Item::Ins(Instr::Li { rd: r(S3), imm: i64::from(ty) }),
        Item::Jump(Instr::Bne { ra: r(S1), rb: r(S3), target: t }, traps[2]),
        Item::Ins(Instr::Ld64 { rd: r(S1), mem: Mem { base: r(S2), off: addr as i32 + 8 } }),
    ]
}

fn shift32(c: u64) -> Option<i32> {
    Some((c & 31) as i32)
}

fn shift64(c: u64) -> Option<i32> {
    Some((c & 63) as i32)
}

fn promote(rd: Reg, rs: Reg) -> Instr {
    Instr::Fpromote { rd, rs }
}

fn zext(rd: Reg, rs: Reg) -> Instr {
    Instr::Zext32 { rd, rs }
}

/// The compare-and-branch for a comparison `i` whose result is tested:
/// taken when the result is non-zero (`when`) or zero (`!when`).
fn fused_branch(i: Instr, when: bool) -> Option<Instr> {
    let target = manda::isa::Target(0);
    Some(match (i, when) {
        (Instr::Seq { ra, rb, .. }, true) if rb.0 == ZERO => Instr::Beqz { rs: ra, target },
        (Instr::Seq { ra, rb, .. }, false) if rb.0 == ZERO => Instr::Bnez { rs: ra, target },
        (Instr::Seq { ra, rb, .. }, true) | (Instr::Sne { ra, rb, .. }, false) => Instr::Beq { ra, rb, target },
        (Instr::Seq { ra, rb, .. }, false) | (Instr::Sne { ra, rb, .. }, true) => Instr::Bne { ra, rb, target },
        (Instr::Slt { ra, rb, .. }, true) => Instr::Blt { ra, rb, target },
        (Instr::Slt { ra, rb, .. }, false) => Instr::Bge { ra, rb, target },
        (Instr::Sltu { ra, rb, .. }, true) => Instr::Bltu { ra, rb, target },
        (Instr::Sltu { ra, rb, .. }, false) => Instr::Bgeu { ra, rb, target },
        // a ≤ b is b ≥ a.
        (Instr::Sle { ra, rb, .. }, true) => Instr::Bge { ra: rb, rb: ra, target },
        (Instr::Sle { ra, rb, .. }, false) => Instr::Blt { ra: rb, rb: ra, target },
        (Instr::Sleu { ra, rb, .. }, true) => Instr::Bgeu { ra: rb, rb: ra, target },
        (Instr::Sleu { ra, rb, .. }, false) => Instr::Bltu { ra: rb, rb: ra, target },
        _ => return None,
    })
}
