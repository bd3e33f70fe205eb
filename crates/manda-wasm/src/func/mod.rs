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

mod control;
mod frames;
mod memory;
mod numeric;
mod simd;
mod stack;
mod table;
mod variable;

use frames::{Frame, Kind};
use stack::Entry;

use super::ir::{CallSite, Callee, Item, Label, RegSet, Src, S1, S2, S3, WINDOW, ZERO};
use super::{Module, Table};
use manda::isa::{Instr, Mem, Reg};
use wasmparser::{Operator, ValType};

/// Not a trap code: [`FuncTranslator::trap_label`]'s name for the stub a
/// call through a table branches to when the entry is null or of another
/// type ([`null_or_mismatch`]).
const NULL_OR_MISMATCH: u8 = u8::MAX;

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
    /// Canonical type ids it calls through a table.
    pub indirect: Vec<u32>,
    /// Whether it writes a table.
    pub writes_tables: bool,
    /// Functions it tail-calls directly (also in `callees`).
    pub tail_callees: Vec<u32>,
    /// Canonical type ids it tail-calls through a table (also in `indirect`).
    pub tail_indirect: Vec<u32>,
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
    /// The locals as placed: a `v128` is two, its low then its high half.
    locals: Vec<ValType>,
    /// Where each of the module's locals starts in `locals`.
    local_base: Vec<u32>,
    in_regs: u32,
    traps: Vec<(u8, Label)>,
    callees: Vec<u32>,
    indirect: Vec<u32>,
    writes_tables: bool,
    tail_callees: Vec<u32>,
    tail_indirect: Vec<u32>,
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
    pub fn new(module: &'m Module, index: u32, wasm_locals: Vec<ValType>) -> Result<Self, String> {
        let mut local_base = Vec::with_capacity(wasm_locals.len());
        let mut base = 0;
        for &t in &wasm_locals {
            local_base.push(base);
            base += if t == ValType::V128 { 2 } else { 1 };
        }
        let locals = super::lowered(&wasm_locals);
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
            local_base,
            in_regs,
            traps: Vec::new(),
            callees: Vec::new(),
            indirect: Vec::new(),
            writes_tables: false,
            tail_callees: Vec::new(),
            tail_indirect: Vec::new(),
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

    fn ins(&mut self, i: Instr) {
        self.items.push(Item::Ins(i));
    }

    fn jump(&mut self, i: Instr, l: Label) {
        self.items.push(Item::Jump(i, l));
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
        let known = self.control(op)?
            || self.variable(op)?
            || self.memory(op)?
            || self.table(op)
            || self.numeric(op)?
            || self.simd(op)?;
        if !known {
            return Err(format!("instruction {op:?} is not supported (see docs/manda/wasm.md for what is)"));
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

    /// `call_indirect`, or `return_call_indirect` when `tail`.
    fn call_indirect(&mut self, type_index: u32, table_index: u32, tail: bool) {
        let table = &self.module.tables[table_index as usize];
        let ty = self.module.canon[type_index as usize];
        self.indirect.push(ty);
        let n = self.stack.len();
        let idx = self.operand(n - 1, S2);
        self.pop();
        let traps = [self.trap_label(5), self.trap_label(NULL_OR_MISMATCH)];
        self.items.extend(table_lookup(idx, table, ty, traps, tail));
        let f = &self.module.types[type_index as usize];
        let (params, results) = (f.params().len(), f.results().to_vec());
        let callee = Callee::Indirect { ty, addr: S1 };
        if tail {
            self.tail_indirect.push(ty);
            self.tail_call(callee, params);
        } else {
            self.call(callee, params, &results);
        }
    }

    /// `data.drop`, `elem.drop`: nothing of the segment is left.
    fn drop_segment(&mut self, segment: super::Segment) {
        self.ins(Instr::St64 { rs: r(ZERO), mem: Mem { base: r(ZERO), off: segment.left as i32 } });
    }

    /// A tail call of `callee`, whose `params` arguments are on top: they
    /// move to the window's first registers, which the callee shares.
    fn tail_call(&mut self, callee: Callee, params: usize) {
        let n = self.stack.len() - params;
        let moves: Vec<(u8, Src)> = (0..params).map(|k| (k as u8, self.src(n + k))).collect();
        self.parallel_move(&moves);
        self.stack.truncate(n);
        self.items.push(Item::TailCall { callee, args: params as u8 });
        self.dead = true;
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
        for list in [&mut self.callees, &mut self.indirect, &mut self.tail_callees, &mut self.tail_indirect] {
            list.sort_unstable();
            list.dedup();
        }
        let size = (self.in_regs as usize + self.max_stack).max(self.module.func_type(self.index).results().len());
        let frame = self.spilled() * 8;
        let results = self.module.func_type(self.index).results().len();
        let items = super::live::simplify(tail_duplicate(self.items, self.labels), self.labels, results);
        Body {
            items,
            labels: self.labels,
            size: size as u8,
            frame,
            callees: self.callees,
            indirect: self.indirect,
            writes_tables: self.writes_tables,
            tail_callees: self.tail_callees,
            tail_indirect: self.tail_indirect,
        }
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

/// Bytes before a function's thunk where a jump to the function itself
/// is: where a tail call through a table goes (a `jmp` is 9 bytes).
pub const TAIL_ENTRY: i32 = 9;

/// The checks and the load of a call through `table`, for the index in
/// register `idx` and canonical type `ty`: a branch to `traps[0]`
/// (*undefined element*) for an index past the end, and to `traps[1]` for
/// a null entry or a function of another type, with the entry's type id in
/// `S3` (0 for null: [`null_or_mismatch`] tells which); then the address
/// the call goes to in `S1`: the function's thunk, or for a `tail` call
/// the jump to the function just before it. Uses `S2` and `S3`.
///
/// An entry is the reference itself — type id in the high half, thunk
/// address in the low — so the hot path reads one word of one page.
pub fn table_lookup(idx: u8, table: &Table, ty: u32, traps: [Label; 2], tail: bool) -> Vec<Item> {
    let t = manda::isa::Target(0);
    let mut items = vec![
        Item::Ins(Instr::Zext32 { rd: r(S2), rs: r(idx) }),
        table_len(table, S1),
        Item::Jump(Instr::Bgeu { ra: r(S2), rb: r(S1), target: t }, traps[0]),
        Item::Ins(Instr::Shli { rd: r(S2), ra: r(S2), imm: 3 }),
        Item::Ins(Instr::Ld64 { rd: r(S1), mem: Mem { base: r(S2), off: table.entries() as i32 } }),
        Item::Ins(Instr::Shri { rd: r(S3), ra: r(S1), imm: 32 }),
        Item::Ins(Instr::Li { rd: r(S2), imm: i64::from(ty) }),
        Item::Jump(Instr::Bne { ra: r(S3), rb: r(S2), target: t }, traps[1]),
        Item::Ins(Instr::Zext32 { rd: r(S1), rs: r(S1) }),
    ];
    if tail {
        items.push(Item::Ins(Instr::Addi { rd: r(S1), ra: r(S1), imm: -TAIL_ENTRY }));
    }
    items
}

/// Where [`table_lookup`]'s second trap branch goes: *uninitialized
/// element* (a branch to `null`) when the entry was null (type id 0 in
/// `S3`), else *indirect call type mismatch*.
pub fn null_or_mismatch(null: Label) -> [Item; 2] {
    [Item::Jump(Instr::Beqz { rs: r(S3), target: manda::isa::Target(0) }, null), Item::Ins(Instr::Trap { code: 7 })]
}

/// `rd` = the table's length: an immediate for a table that never grows.
fn table_len(table: &Table, rd: u8) -> Item {
    if table.fixed() {
        Item::Ins(Instr::Li { rd: r(rd), imm: i64::from(table.initial) })
    } else {
        Item::Ins(Instr::Ld64 { rd: r(rd), mem: Mem { base: r(ZERO), off: table.len_addr as i32 } })
    }
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
