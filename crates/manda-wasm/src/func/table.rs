//! Tables and references: `table.get/set/size/grow/fill/copy/init`,
//! `elem.drop`, `ref.null`, `ref.is_null`, `ref.func`.
//!
//! A reference is one register: 0 for null, a function's canonical type id
//! and thunk address (high and low half), or an `externref`'s bits. A table is a length
//! word and 8-byte entries in the data section (`crate::Table`), so a
//! snapshot carries it like any memory. The bulk operators check their
//! whole range first, then loop over it: a trap writes nothing.
//!
//! They need more registers than the three scratch ones: the top slots of
//! the operands they pop are free once the operands are read (nothing else
//! refers to them), so they serve as temporaries.

use super::{r, stack::Entry, table_len, FuncTranslator};
use crate::ir::{Item, S1, S2, S3, ZERO};
use crate::{Segment, Table};
use manda::isa::{Instr, Mem, Target};
use wasmparser::{Operator, RefType, ValType};

/// Trap code of *out of bounds table access*.
const OUT_OF_BOUNDS: u8 = 8;

impl FuncTranslator<'_> {
    /// Translates `op` if it is one of these; `false` if not.
    pub(super) fn table(&mut self, op: &Operator<'_>) -> bool {
        use Operator as O;
        match *op {
            O::RefNull { hty } => {
                let ty = RefType::new(true, hty).unwrap_or(RefType::FUNCREF);
                self.push(Entry::Const(0), ValType::Ref(ty));
            }
            O::RefIsNull => {
                let n = self.stack.len();
                let a = self.operand(n - 1, S1);
                self.pop();
                let d = self.result(ValType::I32);
                self.ins(Instr::Seq { rd: r(d), ra: r(a), rb: r(ZERO) });
            }
            O::RefFunc { function_index } => {
                let d = self.result(ValType::Ref(RefType::FUNCREF));
                self.items.push(Item::FuncRef { rd: d, func: function_index });
            }
            O::TableGet { table } => self.table_get(table),
            O::TableSet { table } => self.table_set(table),
            O::TableSize { table } => {
                let t = self.module.tables[table as usize];
                let d = self.result(ValType::I32);
                self.items.push(table_len(&t, d));
            }
            O::TableGrow { table } => self.table_grow(table),
            O::TableFill { table } => self.table_fill(table),
            O::TableCopy { dst_table, src_table } => self.table_copy(dst_table, src_table),
            O::TableInit { elem_index, table } => self.table_init(elem_index, table),
            O::ElemDrop { elem_index } => self.drop_segment(self.module.elem_segments[elem_index as usize]),
            _ => return false,
        }
        true
    }

    /// Branches to the out-of-bounds trap unless `end` (an index one past
    /// the last one touched, in a register) is within the bound `load`
    /// puts in `temp`: a table's length ([`table_len`]), or what is left of
    /// a segment.
    fn check_end(&mut self, load: Item, end: u8, temp: u8) {
        let trap = self.trap_label(OUT_OF_BOUNDS);
        self.items.push(load);
        self.jump(Instr::Bltu { ra: r(temp), rb: r(end), target: Target(0) }, trap);
    }

    /// Reads operand `pos` (a reference) into `S3`.
    fn value_operand(&mut self, pos: usize) {
        let v = self.operand(pos, S3);
        if v != S3 {
            self.ins(Instr::Mov { rd: r(S3), rs: r(v) });
        }
    }

    /// The index at operand `pos`, checked against the table's length, as
    /// a byte offset from its first entry in `S2`. Uses `S1`.
    fn entry_offset(&mut self, pos: usize, t: &Table) {
        self.index_operand(pos, S2);
        let trap = self.trap_label(OUT_OF_BOUNDS);
        self.items.push(table_len(t, S1));
        self.jump(Instr::Bgeu { ra: r(S2), rb: r(S1), target: Target(0) }, trap);
        self.ins(Instr::Shli { rd: r(S2), ra: r(S2), imm: 3 });
    }

    fn table_get(&mut self, table: u32) {
        let t = self.module.tables[table as usize];
        self.entry_offset(self.stack.len() - 1, &t);
        self.pop();
        let d = self.result(ValType::Ref(t.ty));
        self.ins(Instr::Ld64 { rd: r(d), mem: Mem { base: r(S2), off: t.entries() as i32 } });
    }

    fn table_set(&mut self, table: u32) {
        self.writes_tables = true;
        let t = self.module.tables[table as usize];
        let n = self.stack.len();
        self.entry_offset(n - 2, &t);
        let v = self.operand(n - 1, S1);
        self.stack.truncate(n - 2);
        self.ins(Instr::St64 { rs: r(v), mem: Mem { base: r(S2), off: t.entries() as i32 } });
    }

    /// `table.grow`: the old length, or -1 when the table cannot hold `delta` more.
    fn table_grow(&mut self, table: u32) {
        self.writes_tables = true;
        let t = self.module.tables[table as usize];
        let n = self.stack.len();
        let (a, b) = (self.slot_reg(n - 2), self.slot_reg(n - 1));
        self.index_operand(n - 1, S2);
        self.value_operand(n - 2);
        self.stack.truncate(n - 2);
        let d = self.result(ValType::I32);
        debug_assert_eq!(d, a);
        let (fail, done) = (self.label(), self.label());
        let len = Mem { base: r(ZERO), off: t.len_addr as i32 };
        self.ins(Instr::Ld64 { rd: r(S1), mem: len });
        self.ins(Instr::Add { rd: r(b), ra: r(S1), rb: r(S2) });
        // new length - capacity > 0: no room (both are far below 2^63).
        self.ins(Instr::Addi { rd: r(a), ra: r(b), imm: -(t.capacity as i32) });
        self.jump(Instr::Blt { ra: r(ZERO), rb: r(a), target: Target(0) }, fail);
        self.ins(Instr::St64 { rs: r(b), mem: len });
        self.ins(Instr::Mov { rd: r(a), rs: r(S1) });
        // The new entries take the value: S1 runs from the old end to the new.
        self.ins(Instr::Shli { rd: r(S1), ra: r(S1), imm: 3 });
        self.ins(Instr::Shli { rd: r(b), ra: r(b), imm: 3 });
        self.store_loop(S1, b, S3, t.entries());
        self.jump(Instr::Jmp { target: Target(0) }, done);
        self.bind(fail);
        self.ins(Instr::Li { rd: r(a), imm: -1 });
        self.bind(done);
    }

    /// Stores `value` at `entries + at` for `at` from `at` to `end` (byte
    /// offsets, a multiple of 8 apart), advancing `at`.
    fn store_loop(&mut self, at: u8, end: u8, value: u8, entries: u64) {
        let (top, done) = (self.label(), self.label());
        self.bind(top);
        self.jump(Instr::Beq { ra: r(at), rb: r(end), target: Target(0) }, done);
        self.ins(Instr::St64 { rs: r(value), mem: Mem { base: r(at), off: entries as i32 } });
        self.ins(Instr::Addi { rd: r(at), ra: r(at), imm: 8 });
        self.jump(Instr::Jmp { target: Target(0) }, top);
        self.bind(done);
    }

    /// `table.fill`: `n` entries from `i` take the value.
    fn table_fill(&mut self, table: u32) {
        self.writes_tables = true;
        let t = self.module.tables[table as usize];
        let n = self.stack.len();
        let (a, b) = (self.slot_reg(n - 3), self.slot_reg(n - 2));
        self.index_operand(n - 1, S2);
        self.index_operand(n - 3, S1);
        self.value_operand(n - 2);
        self.stack.truncate(n - 3);
        self.ins(Instr::Add { rd: r(b), ra: r(S1), rb: r(S2) });
        self.check_end(table_len(&t, a), b, a);
        self.ins(Instr::Shli { rd: r(S1), ra: r(S1), imm: 3 });
        self.ins(Instr::Shli { rd: r(b), ra: r(b), imm: 3 });
        self.store_loop(S1, b, S3, t.entries());
    }

    /// Reads the three i32 operands of `table.copy` and `table.init` (a
    /// destination index, a source index, a count) into `S1`, `S2`, `S3`.
    fn three_indices(&mut self) {
        let n = self.stack.len();
        self.index_operand(n - 3, S1);
        self.index_operand(n - 2, S2);
        self.index_operand(n - 1, S3);
        self.stack.truncate(n - 3);
    }

    /// `table.copy`: `n` entries from `s` in one table to `d` in another (or
    /// the same: the copy runs backwards when the ranges overlap that way).
    fn table_copy(&mut self, dst_table: u32, src_table: u32) {
        self.writes_tables = true;
        let (dt, st) = (self.module.tables[dst_table as usize], self.module.tables[src_table as usize]);
        let n = self.stack.len();
        let (a, b) = (self.slot_reg(n - 3), self.slot_reg(n - 2));
        self.three_indices();
        self.ins(Instr::Add { rd: r(b), ra: r(S1), rb: r(S3) });
        self.check_end(table_len(&dt, a), b, a);
        self.ins(Instr::Add { rd: r(b), ra: r(S2), rb: r(S3) });
        self.check_end(table_len(&st, a), b, a);
        // Addresses now: S1 the destination, S2 the source, S3 the bytes.
        self.entry_address(S1, dt.entries());
        self.entry_address(S2, st.entries());
        self.ins(Instr::Shli { rd: r(S3), ra: r(S3), imm: 3 });
        let (backwards, done) = (self.label(), self.label());
        self.jump(Instr::Bltu { ra: r(S2), rb: r(S1), target: Target(0) }, backwards);
        self.ins(Instr::Add { rd: r(b), ra: r(S1), rb: r(S3) });
        self.copy_loop(S1, b, S2, a, 8);
        self.jump(Instr::Jmp { target: Target(0) }, done);
        self.bind(backwards);
        self.ins(Instr::Mov { rd: r(b), rs: r(S1) });
        self.ins(Instr::Add { rd: r(S1), ra: r(S1), rb: r(S3) });
        self.ins(Instr::Add { rd: r(S2), ra: r(S2), rb: r(S3) });
        self.copy_loop(S1, b, S2, a, -8);
        self.bind(done);
    }

    /// Turns the index in `reg` into the address of that entry.
    fn entry_address(&mut self, reg: u8, entries: u64) {
        self.ins(Instr::Shli { rd: r(reg), ra: r(reg), imm: 3 });
        self.ins(Instr::Addi { rd: r(reg), ra: r(reg), imm: entries as i32 });
    }

    /// Copies 8-byte words from `src` to `dst` until `dst` reaches `end`,
    /// stepping both by `step` (forwards: copy, then step; backwards: step,
    /// then copy). `temp` carries each word.
    fn copy_loop(&mut self, dst: u8, end: u8, src: u8, temp: u8, step: i32) {
        let (top, done) = (self.label(), self.label());
        self.bind(top);
        self.jump(Instr::Beq { ra: r(dst), rb: r(end), target: Target(0) }, done);
        let (before, after) = if step < 0 { (step, 0) } else { (0, step) };
        let advance = |t: &mut Self, by: i32| {
            if by != 0 {
                t.ins(Instr::Addi { rd: r(dst), ra: r(dst), imm: by });
                t.ins(Instr::Addi { rd: r(src), ra: r(src), imm: by });
            }
        };
        advance(self, before);
        self.ins(Instr::Ld64 { rd: r(temp), mem: Mem { base: r(src), off: 0 } });
        self.ins(Instr::St64 { rs: r(temp), mem: Mem { base: r(dst), off: 0 } });
        advance(self, after);
        self.jump(Instr::Jmp { target: Target(0) }, top);
        self.bind(done);
    }

    /// `table.init`: `n` references of a passive segment from `s` to the table at `d`.
    fn table_init(&mut self, elem_index: u32, table: u32) {
        self.writes_tables = true;
        let t = self.module.tables[table as usize];
        let Segment { addr, left } = self.module.elem_segments[elem_index as usize];
        let n = self.stack.len();
        let (a, b) = (self.slot_reg(n - 3), self.slot_reg(n - 2));
        self.three_indices();
        self.ins(Instr::Add { rd: r(b), ra: r(S2), rb: r(S3) });
        let left = Item::Ins(Instr::Ld64 { rd: r(a), mem: Mem { base: r(ZERO), off: left as i32 } });
        self.check_end(left, b, a);
        self.ins(Instr::Add { rd: r(b), ra: r(S1), rb: r(S3) });
        self.check_end(table_len(&t, a), b, a);
        self.entry_address(S1, t.entries());
        self.entry_address(S2, addr);
        self.ins(Instr::Shli { rd: r(S3), ra: r(S3), imm: 3 });
        self.ins(Instr::Add { rd: r(b), ra: r(S1), rb: r(S3) });
        self.copy_loop(S1, b, S2, a, 8);
    }
}
