//! One region's instructions to Cranelift IR: a visitor over the plain ops.
//!
//! Registers (and the stack pointer) live in the context: every write is
//! stored there at once, so the context is current at every instruction
//! boundary and a way out of the region — an exit to the interpreter, a
//! call, a helper — costs nothing. Within a line of code (from one leader
//! to the next) a register is read from the context once and then used as
//! a value (as is a value just written); a new line starts afresh, and so
//! does the code after a helper or a call. So no value lives across a
//! block boundary but in memory, and compile time grows in proportion to a
//! region's size. (Registers as Cranelift variables across the region,
//! merged at every block, compiled a 537-instruction region no faster and
//! ran the project's six programs no faster but a tight loop, 20 %; past
//! 1,000 instructions their compile time grew faster than the region.) Each
//! instruction either becomes IR that does what the interpreter does
//! (arithmetic, memory through the translation cache, branches, calls), or
//! leaves the region for the interpreter at an instruction boundary (see
//! the module doc of `jit`).

use super::helpers;
use super::region::{next, Next, Region};
use super::{status, Env};
use crate::machine::arena::Flat;
use crate::machine::code::{Code, Op, M};
use crate::machine::interp::Truncation;
use crate::machine::memory::{PAGE_BITS, TLB_SETS};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F64, I16, I32, I64, I8};
use cranelift_codegen::ir::{
    AbiParam, Block, Endianness, Function, InstBuilder, MemFlagsData, SigRef, Signature, Type, Value,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use std::collections::HashMap;
use std::mem::offset_of;

/// The stack pointer's variable: after the 256 registers.
const SP: usize = 256;

/// Instructions a line holds at most: past them a new one starts (values
/// are read from the context again). A value used throughout a long line
/// lives across each of its helper calls, and the register allocator's
/// time grew with the square of the line (4,900 stores to the stack in one
/// line took 12 s to compile).
const LINE_MAX: usize = 32;

/// The signatures of a region and of the helpers it calls.
struct Sigs {
    region: SigRef,
    step: SigRef,
    load: SigRef,
    store: SigRef,
    push: SigRef,
    pop: SigRef,
    index_of: SigRef,
    callee: SigRef,
    convert: SigRef,
    f64_2: SigRef,
    f64_1: SigRef,
    f32_2: SigRef,
    f32_1: SigRef,
}

/// The translator's state for one region.
struct Translator<'a> {
    b: FunctionBuilder<'a>,
    code: &'a Code,
    region: &'a Region,
    ptr: Type,
    env: Value,
    /// The index the region is entered at (a leader).
    at: Value,
    /// The block that goes to the block of the index it is given, or out
    /// of the region if it is not one of its leaders.
    dispatch: Block,
    /// The [`Env`] fields read in the current line of code, and the block
    /// that read each (a value kept alive across the region would be one
    /// register fewer for the program's, and spilled around every call).
    fields: [Option<(Value, Block)>; FIELDS],
    /// Each register's (and `SP`'s) value as known in the current line
    /// of code, and the block that defined it (see the module doc).
    known: Vec<Option<(Value, Block)>>,
    /// The current line: the blocks instructions started in since the last
    /// leader, helper or call (at most [`LINE_MAX`] instructions). Each
    /// dominates those after it (an instruction's own branches join again,
    /// or leave), so a value defined in one of them, or in the current
    /// block, can be used; one defined in a branch of an instruction
    /// cannot. Lines are numbered, and `lines` holds each block's (by block
    /// number; 0: none).
    line: u32,
    lines: Vec<u32>,
    /// Instructions in the current line.
    line_len: usize,
    /// Instructions translated as interpreter steps.
    steps: Vec<u32>,
    /// The spans of the region's loops: from a backward branch's target
    /// to the branch.
    loops: Vec<std::ops::RangeInclusive<u32>>,
    /// The time slice's count.
    slice: Variable,
    blocks: HashMap<u32, Block>,
    /// Edge blocks still to fill.
    stubs: Vec<(Block, Stub)>,
    sigs: Sigs,
    /// Each translated instruction's position: the weights of the
    /// region's instructions before it (see [`weight`]).
    positions: HashMap<u32, u64>,
    /// The position after the instruction being translated.
    position: u64,
    /// Where the prologue counts the region's whole weight down (filled
    /// after the body, when that is known).
    entry_count: Block,
}

/// What one instruction counts against the time slice (whose unit is an
/// inline instruction's weight): instructions run through a helper cost
/// tens of nanoseconds, an inline one one or two.
mod weight {
    /// Most instructions.
    pub(super) const INLINE: u64 = 1;
    /// Calls and returns (a helper for the call stack, a native call).
    pub(super) const CALL: u64 = 4;
    /// An instruction the interpreter runs through the step helper.
    pub(super) const STEP: u64 = 32;
    /// What one count takes at most. A region may weigh more than a whole
    /// time slice (20,000 instructions, some run by steps): counted whole,
    /// its entry would end every slice before it began, and the program
    /// would never run on. Capped, what runs between two counts is bounded
    /// by the region's size instead (at most a millisecond or so).
    pub(super) const COUNT_MAX: u64 = 1 << 16;
}

/// The [`Env`] fields compiled code reads.
#[derive(Clone, Copy)]
enum Field {
    Regs,
    Sp,
    ReadWays,
    WriteWays,
    HeapBase,
    StackBase,
    StackTop,
    /// The memory's [`Flat`] (a pointer), and its fields.
    Flat,
    FlatBase,
    FlatLen,
    FlatPresent,
}

/// How many [`Field`]s there are.
const FIELDS: usize = 11;

/// A status to leave a region with: a value, or a constant.
enum Status {
    Value(Value),
    Const(u64),
}

/// An edge block: out of the region at an index, or a backward transfer
/// that counts the time slice down (by the weight it may have run since
/// the last count) on its way to a block.
enum Stub {
    Leave(u32),
    CountDown { to: u32, target: Block, weight: u64 },
}

/// Flags for the program's memory: unaligned, little-endian, never
/// trapping (a translation names bytes that are there).
fn guest() -> MemFlagsData {
    MemFlagsData::new().with_notrap().with_endianness(Endianness::Little)
}

/// Flags for the host's own data: aligned, never trapping.
fn host() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Flags for the context's registers and stack pointer: the host's.
fn context() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Writes the IR of `region` into `func`; what share of the region's
/// loops (or of the whole region, if it has none) are interpreter steps
/// (see [`Translator::step`]): that many steps of that many instructions.
pub(super) fn translate(
    func: &mut Function,
    fbc: &mut FunctionBuilderContext,
    code: &Code,
    region: &Region,
    ptr: Type,
    config: TargetFrontendConfig,
) -> (usize, usize) {
    let call_conv = config.default_call_conv;
    let sig = |params: &[Type], returns: &[Type]| {
        let mut s = Signature::new(call_conv);
        s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        s.returns.extend(returns.iter().map(|&t| AbiParam::new(t)));
        s
    };
    func.signature = sig(&[ptr, I32], &[I64]);
    let mut b = FunctionBuilder::new(func, fbc);
    let sigs = Sigs {
        region: b.import_signature(sig(&[ptr, I32], &[I64])),
        step: b.import_signature(sig(&[ptr, I32], &[I64])),
        load: b.import_signature(sig(&[ptr, I64], &[I32])),
        store: b.import_signature(sig(&[ptr, I64, I64], &[I32])),
        push: b.import_signature(sig(&[ptr, I32], &[I32])),
        pop: b.import_signature(sig(&[ptr], &[I64])),
        index_of: b.import_signature(sig(&[ptr, I64], &[I64])),
        callee: b.import_signature(sig(&[ptr, I32], &[ptr])),
        convert: b.import_signature(sig(&[ptr, I32, I64], &[I32])),
        f64_2: b.import_signature(sig(&[F64, F64], &[F64])),
        f64_1: b.import_signature(sig(&[F64], &[F64])),
        f32_2: b.import_signature(sig(&[F32, F32], &[F32])),
        f32_1: b.import_signature(sig(&[F32], &[F32])),
    };
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let (env, at) = (b.block_params(entry)[0], b.block_params(entry)[1]);
    let slice = b.declare_var(I64);
    let dispatch = b.create_block();
    b.append_block_param(dispatch, I32);
    let entry_count = b.create_block();
    let mut t = Translator {
        b,
        code,
        region,
        ptr,
        env,
        at,
        dispatch,
        fields: [None; FIELDS],
        known: vec![None; SP + 1],
        line: 1,
        lines: Vec::new(),
        line_len: 0,
        steps: Vec::new(),
        loops: Vec::new(),
        slice,
        blocks: HashMap::new(),
        stubs: Vec::new(),
        sigs,
        positions: HashMap::new(),
        position: 0,
        entry_count,
    };
    t.prologue();
    t.body();
    t.fill_entry_count();
    t.fill_stubs();
    t.fill_dispatch();
    t.b.seal_all_blocks();
    t.b.finalize(config);
    if t.loops.is_empty() {
        return (t.steps.len(), region.indices.len());
    }
    let in_loop = |i: &u32| t.loops.iter().any(|span| span.contains(i));
    (t.steps.iter().filter(|i| in_loop(i)).count(), region.indices.iter().filter(|i| in_loop(i)).count())
}

macro_rules! env_field {
    ($field:ident) => {
        offset_of!(Env, $field) as i32
    };
}

impl Translator<'_> {
    /// The native stack and time slice checks, then the registers in, then
    /// on to the entry index's block.
    fn prologue(&mut self) {
        let at = self.b.ins().uextend(I64, self.at);
        let limit = self.b.ins().load(self.ptr, host(), self.env, env_field!(stack_limit));
        let sp = self.b.ins().get_stack_pointer(self.ptr);
        let deep = self.b.ins().icmp(IntCC::UnsignedLessThan, sp, limit);
        let unwind = self.b.create_block();
        let go = self.b.create_block();
        self.b.ins().brif(deep, unwind, &[], go, &[]);
        self.b.switch_to_block(unwind);
        self.b.ins().return_(&[at]);
        self.b.switch_to_block(go);
        self.b.ins().jump(self.entry_count, &[]);
    }

    /// The prologue's time-slice count: the region's whole weight (up to
    /// [`weight::COUNT_MAX`]), which bounds what it can run from its entry
    /// to its first backward transfer (then on to the entry index's block).
    fn fill_entry_count(&mut self) {
        self.b.switch_to_block(self.entry_count);
        self.forget();
        let body = self.b.create_block();
        let out = self.b.create_block();
        let slice = self.b.ins().load(I64, host(), self.env, env_field!(slice));
        self.b.def_var(self.slice, slice);
        self.count_down(out, body, self.position);
        self.b.switch_to_block(out);
        let at = self.b.ins().uextend(I64, self.at);
        let yielded = self.b.ins().bor_imm_s(at, status::YIELD as i64);
        self.exit(yielded);
        self.b.switch_to_block(body);
        self.forget();
        self.b.ins().jump(self.dispatch, &[self.at.into()]);
    }

    /// The dispatch: to the block of each leader, else out of the region
    /// at the index given.
    fn fill_dispatch(&mut self) {
        self.b.switch_to_block(self.dispatch);
        let at = self.b.block_params(self.dispatch)[0];
        let outside = self.b.create_block();
        let mut switch = cranelift_frontend::Switch::new();
        let mut leaders: Vec<u32> =
            self.region.leaders.iter().copied().filter(|i| self.region.indices.contains(i)).collect();
        leaders.sort_unstable();
        for leader in leaders {
            let block = self.block(leader);
            switch.set_entry(u128::from(leader), block);
        }
        switch.emit(&mut self.b, at, outside);
        self.b.switch_to_block(outside);
        let at = self.b.ins().uextend(I64, at);
        self.exit(at);
    }

    /// Counts the time slice down by `weight` (at most
    /// [`weight::COUNT_MAX`]): to `out` when it ends, else to `go`. (The
    /// count is a variable, kept in `Env::slice` only outside the region:
    /// through memory, it made a tight loop's every iteration wait for the
    /// store of the one before.)
    fn count_down(&mut self, out: Block, go: Block, weight: u64) {
        let slice = self.b.use_var(self.slice);
        let left = self.b.ins().iadd_imm_s(slice, -(weight.min(weight::COUNT_MAX) as i64));
        self.b.def_var(self.slice, left);
        let ended = self.b.ins().icmp_imm_s(IntCC::SignedLessThanOrEqual, left, 0);
        self.b.ins().brif(ended, out, &[], go, &[]);
    }

    /// Whether a value defined in `block` can be used here: it is the
    /// current block or one of the line's (see [`Translator::line`]).
    fn visible(&self, block: Block) -> bool {
        self.b.current_block() == Some(block) || self.lines.get(block.as_u32() as usize) == Some(&self.line)
    }

    /// The [`Env`] field `f`, read once per line of code.
    fn field(&mut self, f: Field) -> Value {
        if let Some((v, block)) = self.fields[f as usize] {
            if self.visible(block) {
                return v;
            }
        }
        let (from, offset) = match f {
            Field::FlatBase => (self.field(Field::Flat), offset_of!(Flat, base) as i32),
            Field::FlatLen => (self.field(Field::Flat), offset_of!(Flat, len) as i32),
            Field::FlatPresent => (self.field(Field::Flat), offset_of!(Flat, present) as i32),
            _ => (self.env, self.env_offset(f)),
        };
        let v = self.b.ins().load(self.ptr, host(), from, offset);
        self.fields[f as usize] = Some((v, self.b.current_block().expect("in a block")));
        v
    }

    /// Where field `f` is in the [`Env`].
    fn env_offset(&self, f: Field) -> i32 {
        match f {
            Field::Regs => env_field!(regs),
            Field::Sp => env_field!(sp),
            Field::ReadWays => env_field!(read_ways),
            Field::WriteWays => env_field!(write_ways),
            Field::HeapBase => env_field!(heap_base),
            Field::StackBase => env_field!(stack_base),
            Field::StackTop => env_field!(stack_top),
            Field::Flat | Field::FlatBase | Field::FlatLen | Field::FlatPresent => env_field!(flat),
        }
    }

    /// Leaves the region with `kind | index`.
    fn leave(&mut self, kind: u64, index: u32) {
        let v = self.b.ins().iconst(I64, (kind | u64::from(index)) as i64);
        self.exit(v);
    }

    /// Leaves the region with `status`, the time slice's count stored.
    /// (Each way out returns on its own: one block for all, its status a
    /// parameter, merged thousands of values in a large region, and the
    /// register allocator took seconds over it.)
    fn exit(&mut self, status: Value) {
        self.store_slice();
        self.b.ins().return_(&[status]);
    }

    /// Leaves the region with `status` if `cond` is non-zero, else goes on
    /// in `go` (a new block, the current one then).
    fn exit_if(&mut self, cond: Value, status: Status, go: Block) {
        let out = self.b.create_block();
        self.b.set_cold_block(out);
        self.b.ins().brif(cond, out, &[], go, &[]);
        self.b.switch_to_block(out);
        let status = match status {
            Status::Value(v) => v,
            Status::Const(c) => self.b.ins().iconst(I64, c as i64),
        };
        self.exit(status);
        self.b.switch_to_block(go);
    }

    /// Stores the time slice's count for the helpers and callees (and the runner).
    fn store_slice(&mut self) {
        let slice = self.b.use_var(self.slice);
        self.b.ins().store(host(), slice, self.env, env_field!(slice));
    }

    /// The block of the instruction at `index` (in the region).
    fn block(&mut self, index: u32) -> Block {
        *self.blocks.entry(index).or_insert_with(|| self.b.create_block())
    }

    /// Where a transfer from `from` to `to` goes: `to`'s block, through a
    /// time-slice count if it goes backward, or out of the region. (Stubs
    /// are filled after the body: the current block is not finished yet.)
    ///
    /// A backward transfer counts the weight from `to` to `from`: between
    /// two counts control only moves forward, so what runs is bounded by
    /// the positions it moved over — the region's weight from an entry,
    /// the loop's from a back-edge (and an outer loop's back-edge counts
    /// the inner loop's way out).
    fn edge(&mut self, from: u32, to: u32) -> Block {
        if !self.region.indices.contains(&to) {
            let stub = self.b.create_block();
            self.stubs.push((stub, Stub::Leave(to)));
            return stub;
        }
        let target = self.block(to);
        if to > from {
            return target;
        }
        let stub = self.b.create_block();
        // `to` is translated already (it is at or before `from`).
        let weight = self.position - self.positions[&to];
        self.loops.push(to..=from);
        self.stubs.push((stub, Stub::CountDown { to, target, weight }));
        stub
    }

    /// Fills the stubs [`edge`](Self::edge) made.
    fn fill_stubs(&mut self) {
        for (stub, kind) in std::mem::take(&mut self.stubs) {
            self.b.switch_to_block(stub);
            match kind {
                Stub::Leave(to) => self.leave(status::AT, to),
                Stub::CountDown { to, target, weight } => {
                    let out = self.b.create_block();
                    self.count_down(out, target, weight);
                    self.b.switch_to_block(out);
                    self.leave(status::YIELD, to);
                }
            }
        }
    }

    /// The address of frame `n` of the call stack's top chunk.
    fn frame(&mut self, n: Value) -> Value {
        let frames = self.b.ins().load(self.ptr, host(), self.env, env_field!(frames));
        let offset = self.scaled(n, 4);
        self.b.ins().iadd(frames, offset)
    }

    /// The byte offset of element `n` (an `I64`) of an array of `size`-byte
    /// elements, as a pointer-sized value.
    fn scaled(&mut self, n: Value, size: i64) -> Value {
        let offset = self.b.ins().imul_imm_s(n, size);
        match self.ptr == I64 {
            true => offset,
            false => self.b.ins().ireduce(self.ptr, offset),
        }
    }

    /// Register `r`'s value.
    fn r(&mut self, r: u8) -> Value {
        self.get(usize::from(r))
    }

    /// Register `r` becomes `v`, in the context too (see the module doc).
    fn set(&mut self, r: u8, v: Value) {
        self.keep(usize::from(r), v);
        let regs = self.field(Field::Regs);
        self.b.ins().store(context(), v, regs, i32::from(r) * 8);
    }

    fn sp(&mut self) -> Value {
        self.get(SP)
    }

    fn set_sp(&mut self, v: Value) {
        self.keep(SP, v);
        let slot = self.field(Field::Sp);
        self.b.ins().store(context(), v, slot, 0);
    }

    /// Register (or `SP`) `r`'s value: the value known in this line of
    /// code, or read from the context now.
    fn get(&mut self, r: usize) -> Value {
        if let Some((v, block)) = self.known[r] {
            if self.visible(block) {
                return v;
            }
        }
        let v = match r {
            SP => {
                let slot = self.field(Field::Sp);
                self.b.ins().load(I64, context(), slot, 0)
            }
            r => {
                let regs = self.field(Field::Regs);
                self.b.ins().load(I64, context(), regs, (r * 8) as i32)
            }
        };
        self.keep(r, v);
        v
    }

    /// Register (or `SP`) `r` is `v` from here on.
    fn keep(&mut self, r: usize, v: Value) {
        self.known[r] = Some((v, self.b.current_block().expect("in a block")));
    }

    /// An instruction starts in the current block (see [`Translator::line`]).
    fn start_instruction(&mut self) {
        self.line_len += 1;
        if self.line_len > LINE_MAX {
            self.forget();
        }
        let k = self.b.current_block().expect("in a block").as_u32() as usize;
        if self.lines.len() <= k {
            self.lines.resize(k + 1, 0);
        }
        self.lines[k] = self.line;
    }

    /// A new block (control may arrive from elsewhere), or a helper or
    /// call that may have changed the registers: the [`Env`] fields and
    /// the registers are read afresh, when used.
    fn forget(&mut self) {
        self.fields = [None; FIELDS];
        self.line += 1;
        self.line_len = 0;
        self.known.fill(None);
    }

    fn imm(&mut self, v: i64) -> Value {
        self.b.ins().iconst(I64, v)
    }

    /// Calls helper `f` (an address) with `sig` and `args`; its results.
    fn call(&mut self, f: usize, sig: SigRef, args: &[Value]) -> Vec<Value> {
        let callee = self.b.ins().iconst(self.ptr, f as i64);
        let call = self.b.ins().call_indirect(sig, callee, args);
        self.b.inst_results(call).to_vec()
    }

    /// Goes on in a new block when `failed` is zero; else leaves the region
    /// for the interpreter to run instruction `index` (which then traps).
    fn or_step(&mut self, failed: Value, index: u32) {
        let ok = self.b.create_block();
        self.exit_if(failed, Status::Const(status::STEP | u64::from(index)), ok);
    }

    fn body(&mut self) {
        let indices: Vec<u32> = self.region.indices.iter().copied().collect();
        let mut open = false;
        for &i in &indices {
            if self.region.leaders.contains(&i) || !open {
                let block = self.block(i);
                if open {
                    self.b.ins().jump(block, &[]);
                }
                self.b.switch_to_block(block);
                self.forget();
            }
            let op = self.code.plain_op(i as usize);
            self.positions.insert(i, self.position);
            self.position += match op {
                Op::Call { .. } | Op::Callr { .. } | Op::Ret {} => weight::CALL,
                _ => weight::INLINE, // `step` adds to it
            };
            self.start_instruction();
            open = self.instruction(i, op);
            if open && !self.region.indices.contains(&(i + 1)) {
                self.leave(status::AT, i + 1);
                open = false;
            }
        }
    }

    /// Translates instruction `i`; true if control falls through to `i + 1`.
    fn instruction(&mut self, i: u32, op: Op) -> bool {
        use Op::*;
        macro_rules! bin {
            ($rd:expr, $ra:expr, $rb:expr, $f:ident) => {{
                let (a, b) = (self.r($ra), self.r($rb));
                let v = self.b.ins().$f(a, b);
                self.set($rd, v);
            }};
        }
        macro_rules! bin_imm {
            ($rd:expr, $ra:expr, $imm:expr, $f:ident) => {{
                let a = self.r($ra);
                let v = self.b.ins().$f(a, $imm);
                self.set($rd, v);
            }};
        }
        macro_rules! un {
            ($rd:expr, $rs:expr, $f:ident) => {{
                let a = self.r($rs);
                let v = self.b.ins().$f(a);
                self.set($rd, v);
            }};
        }
        macro_rules! cmp {
            ($rd:expr, $ra:expr, $rb:expr, $cc:expr) => {{
                let (a, b) = (self.r($ra), self.r($rb));
                let c = self.b.ins().icmp($cc, a, b);
                let v = self.b.ins().uextend(I64, c);
                self.set($rd, v);
            }};
        }
        macro_rules! bin32 {
            ($rd:expr, $ra:expr, $rb:expr, $f:ident) => {{
                let (a, b) = (self.low32($ra), self.low32($rb));
                let v = self.b.ins().$f(a, b);
                let v = self.b.ins().sextend(I64, v);
                self.set($rd, v);
            }};
        }
        macro_rules! bin32_imm {
            ($rd:expr, $ra:expr, $imm:expr, $f:ident) => {{
                let a = self.low32($ra);
                let v = self.b.ins().$f(a, $imm);
                let v = self.b.ins().sextend(I64, v);
                self.set($rd, v);
            }};
        }
        macro_rules! un32 {
            ($rd:expr, $rs:expr, $f:ident) => {{
                let a = self.low32($rs);
                let v = self.b.ins().$f(a);
                let v = self.b.ins().uextend(I64, v);
                self.set($rd, v);
            }};
        }
        macro_rules! fbin {
            ($rd:expr, $ra:expr, $rb:expr, $f:ident) => {{
                let (a, b) = (self.f64($ra), self.f64($rb));
                let v = self.b.ins().$f(a, b);
                self.set_f64($rd, v);
            }};
        }
        macro_rules! fbin32 {
            ($rd:expr, $ra:expr, $rb:expr, $f:ident) => {{
                let (a, b) = (self.f32($ra), self.f32($rb));
                let v = self.b.ins().$f(a, b);
                self.set_f32($rd, v);
            }};
        }
        macro_rules! fcmp {
            ($rd:expr, $ra:expr, $rb:expr, $cc:expr, $get:ident) => {{
                let (a, b) = (self.$get($ra), self.$get($rb));
                let c = self.b.ins().fcmp($cc, a, b);
                let v = self.b.ins().uextend(I64, c);
                self.set($rd, v);
            }};
        }
        macro_rules! branch {
            ($cond:expr, $t:expr) => {{
                let c = $cond;
                let taken = self.edge(i, $t);
                let fall = self.edge(i, i + 1);
                self.b.ins().brif(c, taken, &[], fall, &[]);
                return false;
            }};
        }
        macro_rules! bcmp {
            ($ra:expr, $rb:expr, $cc:expr, $t:expr) => {{
                let (a, b) = (self.r($ra), self.r($rb));
                branch!(self.b.ins().icmp($cc, a, b), $t)
            }};
        }
        match op {
            Nop {} => {}
            Mov { rd, rs } => {
                let v = self.r(rs);
                self.set(rd, v);
            }
            Li { rd, imm } => {
                let v = self.imm(imm);
                self.set(rd, v);
            }
            La { rd, addr: imm } | Fli { rd, imm } => {
                let v = self.imm(imm as i64);
                self.set(rd, v);
            }
            Add { rd, ra, rb } => bin!(rd, ra, rb, iadd),
            Sub { rd, ra, rb } => bin!(rd, ra, rb, isub),
            Mul { rd, ra, rb } => bin!(rd, ra, rb, imul),
            Mulh { rd, ra, rb } => bin!(rd, ra, rb, smulhi),
            Mulhu { rd, ra, rb } => bin!(rd, ra, rb, umulhi),
            Div { rd, ra, rb } | Rem { rd, ra, rb } => {
                let (a, b) = (self.r(ra), self.r(rb));
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
                let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
                let min = self.b.ins().icmp_imm_s(IntCC::Equal, a, i64::MIN);
                let overflow = self.b.ins().band(minus_one, min);
                let bad = self.b.ins().bor(zero, overflow);
                self.or_step(bad, i);
                let v = match op {
                    Div { .. } => self.b.ins().sdiv(a, b),
                    _ => self.b.ins().srem(a, b),
                };
                self.set(rd, v);
            }
            Divu { rd, ra, rb } | Remu { rd, ra, rb } => {
                let (a, b) = (self.r(ra), self.r(rb));
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
                self.or_step(zero, i);
                let v = match op {
                    Divu { .. } => self.b.ins().udiv(a, b),
                    _ => self.b.ins().urem(a, b),
                };
                self.set(rd, v);
            }
            And { rd, ra, rb } => bin!(rd, ra, rb, band),
            Or { rd, ra, rb } => bin!(rd, ra, rb, bor),
            Xor { rd, ra, rb } => bin!(rd, ra, rb, bxor),
            Shl { rd, ra, rb } => bin!(rd, ra, rb, ishl),
            Shr { rd, ra, rb } => bin!(rd, ra, rb, ushr),
            Sar { rd, ra, rb } => bin!(rd, ra, rb, sshr),
            Addi { rd, ra, imm } => bin_imm!(rd, ra, i64::from(imm), iadd_imm_s),
            Muli { rd, ra, imm } => bin_imm!(rd, ra, i64::from(imm), imul_imm_s),
            Andi { rd, ra, imm } => bin_imm!(rd, ra, i64::from(imm), band_imm_s),
            Ori { rd, ra, imm } => bin_imm!(rd, ra, i64::from(imm), bor_imm_s),
            Xori { rd, ra, imm } => bin_imm!(rd, ra, i64::from(imm), bxor_imm_s),
            Shli { rd, ra, imm } => bin_imm!(rd, ra, i64::from(imm & 63), ishl_imm_s),
            Shri { rd, ra, imm } => bin_imm!(rd, ra, i64::from(imm & 63), ushr_imm_s),
            Sari { rd, ra, imm } => bin_imm!(rd, ra, i64::from(imm & 63), sshr_imm_s),
            Neg { rd, rs } => un!(rd, rs, ineg),
            Not { rd, rs } => un!(rd, rs, bnot),
            Seq { rd, ra, rb } => cmp!(rd, ra, rb, IntCC::Equal),
            Sne { rd, ra, rb } => cmp!(rd, ra, rb, IntCC::NotEqual),
            Slt { rd, ra, rb } => cmp!(rd, ra, rb, IntCC::SignedLessThan),
            Sle { rd, ra, rb } => cmp!(rd, ra, rb, IntCC::SignedLessThanOrEqual),
            Sltu { rd, ra, rb } => cmp!(rd, ra, rb, IntCC::UnsignedLessThan),
            Sleu { rd, ra, rb } => cmp!(rd, ra, rb, IntCC::UnsignedLessThanOrEqual),
            Slti { rd, ra, imm } => {
                let a = self.r(ra);
                let c = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, a, i64::from(imm));
                let v = self.b.ins().uextend(I64, c);
                self.set(rd, v);
            }
            Rotl { rd, ra, rb } => bin!(rd, ra, rb, rotl),
            Rotr { rd, ra, rb } => bin!(rd, ra, rb, rotr),
            Clz { rd, rs } => un!(rd, rs, clz),
            Ctz { rd, rs } => un!(rd, rs, ctz),
            Popcnt { rd, rs } => un!(rd, rs, popcnt),
            Add32 { rd, ra, rb } => bin32!(rd, ra, rb, iadd),
            Sub32 { rd, ra, rb } => bin32!(rd, ra, rb, isub),
            Mul32 { rd, ra, rb } => bin32!(rd, ra, rb, imul),
            Addi32 { rd, ra, imm } => bin32_imm!(rd, ra, i64::from(imm), iadd_imm_s),
            Shl32 { rd, ra, rb } => bin32!(rd, ra, rb, ishl),
            Shr32 { rd, ra, rb } => bin32!(rd, ra, rb, ushr),
            Sar32 { rd, ra, rb } => bin32!(rd, ra, rb, sshr),
            Shli32 { rd, ra, imm } => bin32_imm!(rd, ra, i64::from(imm & 31), ishl_imm_s),
            Shri32 { rd, ra, imm } => bin32_imm!(rd, ra, i64::from(imm & 31), ushr_imm_s),
            Sari32 { rd, ra, imm } => bin32_imm!(rd, ra, i64::from(imm & 31), sshr_imm_s),
            Rotl32 { rd, ra, rb } => bin32!(rd, ra, rb, rotl),
            Rotr32 { rd, ra, rb } => bin32!(rd, ra, rb, rotr),
            Clz32 { rd, rs } => un32!(rd, rs, clz),
            Ctz32 { rd, rs } => un32!(rd, rs, ctz),
            Popcnt32 { rd, rs } => un32!(rd, rs, popcnt),
            Csel { rd, rc, ra, rb } => {
                let (c, a, b) = (self.r(rc), self.r(ra), self.r(rb));
                let v = self.b.ins().select(c, a, b);
                self.set(rd, v);
            }
            Sext8 { rd, rs } => self.extend(rd, rs, I8, true),
            Sext16 { rd, rs } => self.extend(rd, rs, I16, true),
            Sext32 { rd, rs } => self.extend(rd, rs, I32, true),
            Zext8 { rd, rs } => self.extend(rd, rs, I8, false),
            Zext16 { rd, rs } => self.extend(rd, rs, I16, false),
            Zext32 { rd, rs } => self.extend(rd, rs, I32, false),
            Fadd { rd, ra, rb } => fbin!(rd, ra, rb, fadd),
            Fsub { rd, ra, rb } => fbin!(rd, ra, rb, fsub),
            Fmul { rd, ra, rb } => fbin!(rd, ra, rb, fmul),
            Fdiv { rd, ra, rb } => fbin!(rd, ra, rb, fdiv),
            Fsqrt { rd, rs } => {
                let a = self.f64(rs);
                let v = self.b.ins().sqrt(a);
                self.set_f64(rd, v);
            }
            Fneg { rd, rs } => bin_imm!(rd, rs, i64::MIN, bxor_imm_s),
            Fabs { rd, rs } => bin_imm!(rd, rs, i64::MAX, band_imm_s),
            Fcopysign { rd, ra, rb } => {
                let (a, b) = (self.r(ra), self.r(rb));
                let a = self.b.ins().band_imm_s(a, i64::MAX);
                let b = self.b.ins().band_imm_s(b, i64::MIN);
                let v = self.b.ins().bor(a, b);
                self.set(rd, v);
            }
            Feq { rd, ra, rb } => fcmp!(rd, ra, rb, FloatCC::Equal, f64),
            Flt { rd, ra, rb } => fcmp!(rd, ra, rb, FloatCC::LessThan, f64),
            Fle { rd, ra, rb } => fcmp!(rd, ra, rb, FloatCC::LessThanOrEqual, f64),
            Itof { rd, rs } => {
                let a = self.r(rs);
                let v = self.b.ins().fcvt_from_sint(F64, a);
                self.set_f64(rd, v);
            }
            Utof { rd, rs } => {
                let a = self.r(rs);
                let v = self.b.ins().fcvt_from_uint(F64, a);
                self.set_f64(rd, v);
            }
            Ftoi { rd, rs } => {
                let a = self.f64(rs);
                let v = self.b.ins().fcvt_to_sint_sat(I64, a);
                self.set(rd, v);
            }
            Sats32 { rd, rs } => {
                let a = self.f64(rs);
                let v = self.b.ins().fcvt_to_sint_sat(I32, a);
                let v = self.b.ins().sextend(I64, v);
                self.set(rd, v);
            }
            Satu32 { rd, rs } => {
                let a = self.f64(rs);
                let v = self.b.ins().fcvt_to_uint_sat(I32, a);
                let v = self.b.ins().sextend(I64, v);
                self.set(rd, v);
            }
            Satu64 { rd, rs } => {
                let a = self.f64(rs);
                let v = self.b.ins().fcvt_to_uint_sat(I64, a);
                self.set(rd, v);
            }
            Fmin { rd, ra, rb } => self.pure_f64_2(rd, ra, rb, helpers::fmin as *const () as usize),
            Fmax { rd, ra, rb } => self.pure_f64_2(rd, ra, rb, helpers::fmax as *const () as usize),
            Fceil { rd, rs } => self.pure_f64_1(rd, rs, helpers::ceil as *const () as usize),
            Ffloor { rd, rs } => self.pure_f64_1(rd, rs, helpers::floor as *const () as usize),
            Ftrunc { rd, rs } => self.pure_f64_1(rd, rs, helpers::trunc as *const () as usize),
            Fround { rd, rs } => self.pure_f64_1(rd, rs, helpers::round as *const () as usize),
            Truncs32 { rd, rs } => self.convert(i, rd, rs, Truncation::S32 as u32),
            Truncu32 { rd, rs } => self.convert(i, rd, rs, Truncation::U32 as u32),
            Truncs64 { rd, rs } => self.convert(i, rd, rs, Truncation::S64 as u32),
            Truncu64 { rd, rs } => self.convert(i, rd, rs, Truncation::U64 as u32),
            Fadd32 { rd, ra, rb } => fbin32!(rd, ra, rb, fadd),
            Fsub32 { rd, ra, rb } => fbin32!(rd, ra, rb, fsub),
            Fmul32 { rd, ra, rb } => fbin32!(rd, ra, rb, fmul),
            Fdiv32 { rd, ra, rb } => fbin32!(rd, ra, rb, fdiv),
            Fmin32 { rd, ra, rb } => self.pure_f32_2(rd, ra, rb, helpers::fmin32 as *const () as usize),
            Fmax32 { rd, ra, rb } => self.pure_f32_2(rd, ra, rb, helpers::fmax32 as *const () as usize),
            Fsqrt32 { rd, rs } => {
                let a = self.f32(rs);
                let v = self.b.ins().sqrt(a);
                self.set_f32(rd, v);
            }
            Fneg32 { rd, rs } => {
                let a = self.r(rs);
                let a = self.b.ins().bxor_imm_s(a, 1 << 31);
                let v = self.b.ins().band_imm_s(a, 0xffff_ffff);
                self.set(rd, v);
            }
            Fabs32 { rd, rs } => bin_imm!(rd, rs, 0x7fff_ffff, band_imm_s),
            Fcopysign32 { rd, ra, rb } => {
                let (a, b) = (self.r(ra), self.r(rb));
                let a = self.b.ins().band_imm_s(a, 0x7fff_ffff);
                let b = self.b.ins().band_imm_s(b, 0x8000_0000);
                let v = self.b.ins().bor(a, b);
                self.set(rd, v);
            }
            Feq32 { rd, ra, rb } => fcmp!(rd, ra, rb, FloatCC::Equal, f32),
            Flt32 { rd, ra, rb } => fcmp!(rd, ra, rb, FloatCC::LessThan, f32),
            Fle32 { rd, ra, rb } => fcmp!(rd, ra, rb, FloatCC::LessThanOrEqual, f32),
            Fceil32 { rd, rs } => self.pure_f32_1(rd, rs, helpers::ceil32 as *const () as usize),
            Ffloor32 { rd, rs } => self.pure_f32_1(rd, rs, helpers::floor32 as *const () as usize),
            Ftrunc32 { rd, rs } => self.pure_f32_1(rd, rs, helpers::trunc32 as *const () as usize),
            Fround32 { rd, rs } => self.pure_f32_1(rd, rs, helpers::round32 as *const () as usize),
            Fpromote { rd, rs } => {
                let a = self.f32(rs);
                let v = self.b.ins().fpromote(F64, a);
                self.set_f64(rd, v);
            }
            Fdemote { rd, rs } => {
                let a = self.f64(rs);
                let v = self.b.ins().fdemote(F32, a);
                self.set_f32(rd, v);
            }
            Itof32 { rd, rs } => {
                let a = self.r(rs);
                let v = self.b.ins().fcvt_from_sint(F32, a);
                self.set_f32(rd, v);
            }
            Utof32 { rd, rs } => {
                let a = self.r(rs);
                let v = self.b.ins().fcvt_from_uint(F32, a);
                self.set_f32(rd, v);
            }
            Ld8s { rd, mem } => self.ld(i, rd, mem, 1, true),
            Ld8u { rd, mem } => self.ld(i, rd, mem, 1, false),
            Ld16s { rd, mem } => self.ld(i, rd, mem, 2, true),
            Ld16u { rd, mem } => self.ld(i, rd, mem, 2, false),
            Ld32s { rd, mem } => self.ld(i, rd, mem, 4, true),
            Ld32u { rd, mem } => self.ld(i, rd, mem, 4, false),
            Ld64 { rd, mem } => self.ld(i, rd, mem, 8, false),
            St8 { rs, mem } => self.st(i, rs, mem, 1),
            St16 { rs, mem } => self.st(i, rs, mem, 2),
            St32 { rs, mem } => self.st(i, rs, mem, 4),
            St64 { rs, mem } => self.st(i, rs, mem, 8),
            Hld8s { rd, ra, off } => self.hld(i, rd, ra, off, 1, true),
            Hld8u { rd, ra, off } => self.hld(i, rd, ra, off, 1, false),
            Hld16s { rd, ra, off } => self.hld(i, rd, ra, off, 2, true),
            Hld16u { rd, ra, off } => self.hld(i, rd, ra, off, 2, false),
            Hld32s { rd, ra, off } => self.hld(i, rd, ra, off, 4, true),
            Hld32u { rd, ra, off } => self.hld(i, rd, ra, off, 4, false),
            Hld64 { rd, ra, off } => self.hld(i, rd, ra, off, 8, false),
            Hst8 { rs, ra, off } => self.hst(i, rs, ra, off, 1),
            Hst16 { rs, ra, off } => self.hst(i, rs, ra, off, 2),
            Hst32 { rs, ra, off } => self.hst(i, rs, ra, off, 4),
            Hst64 { rs, ra, off } => self.hst(i, rs, ra, off, 8),
            Push { rs } => {
                let sp = self.sp();
                let base = self.field(Field::StackBase);
                let room = self.b.ins().isub(sp, base);
                let full = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, room, 8);
                self.or_step(full, i);
                let at = self.b.ins().iadd_imm_s(sp, -8);
                let v = self.r(rs);
                self.store(i, at, v, 8);
                self.set_sp(at);
            }
            Pop { rd } => {
                let sp = self.sp();
                let top = self.field(Field::StackTop);
                let held = self.b.ins().isub(top, sp);
                let empty = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, held, 8);
                self.or_step(empty, i);
                let v = self.load(i, sp, 8, false);
                let up = self.b.ins().iadd_imm_s(sp, 8);
                self.set_sp(up);
                self.set(rd, v);
            }
            Salloc { size } => {
                let sp = self.sp();
                let base = self.field(Field::StackBase);
                let room = self.b.ins().isub(sp, base);
                let full = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, room, i64::from(size));
                self.or_step(full, i);
                let at = self.b.ins().iadd_imm_s(sp, -i64::from(size));
                self.set_sp(at);
            }
            Sfree { size } => {
                let sp = self.sp();
                let top = self.field(Field::StackTop);
                let held = self.b.ins().isub(top, sp);
                let empty = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, held, i64::from(size));
                self.or_step(empty, i);
                let up = self.b.ins().iadd_imm_s(sp, i64::from(size));
                self.set_sp(up);
            }
            Ldsp { rd, off } => {
                let sp = self.sp();
                let at = self.b.ins().iadd_imm_s(sp, i64::from(off));
                let v = self.load(i, at, 8, false);
                self.set(rd, v);
            }
            Stsp { rs, off } => {
                let sp = self.sp();
                let at = self.b.ins().iadd_imm_s(sp, i64::from(off));
                let v = self.r(rs);
                self.store(i, at, v, 8);
            }
            Getsp { rd } => {
                let sp = self.sp();
                self.set(rd, sp);
            }
            Jmp { target } => {
                let to = self.edge(i, target);
                self.b.ins().jump(to, &[]);
                return false;
            }
            Beq { ra, rb, target } => bcmp!(ra, rb, IntCC::Equal, target),
            Bne { ra, rb, target } => bcmp!(ra, rb, IntCC::NotEqual, target),
            Blt { ra, rb, target } => bcmp!(ra, rb, IntCC::SignedLessThan, target),
            Bge { ra, rb, target } => bcmp!(ra, rb, IntCC::SignedGreaterThanOrEqual, target),
            Bltu { ra, rb, target } => bcmp!(ra, rb, IntCC::UnsignedLessThan, target),
            Bgeu { ra, rb, target } => bcmp!(ra, rb, IntCC::UnsignedGreaterThanOrEqual, target),
            Beqz { rs, target } => {
                let a = self.r(rs);
                branch!(self.b.ins().icmp_imm_s(IntCC::Equal, a, 0), target)
            }
            Bnez { rs, target } => {
                let a = self.r(rs);
                branch!(self.b.ins().icmp_imm_s(IntCC::NotEqual, a, 0), target)
            }
            Call { target } => {
                let t = self.imm(i64::from(target));
                self.call_to(i, t);
                return false;
            }
            Callr { rs } => {
                let t = self.index_of(i, rs);
                self.call_to(i, t);
                return false;
            }
            Ret {} => {
                // The top chunk's last frame in place; the helper when it
                // is empty (a chunk below, or a trap).
                let depth = self.b.ins().load(I64, host(), self.env, env_field!(depth));
                let empty = self.b.ins().icmp_imm_s(IntCC::Equal, depth, 0);
                let slow = self.b.create_block();
                self.b.set_cold_block(slow);
                let fast = self.b.create_block();
                self.b.ins().brif(empty, slow, &[], fast, &[]);
                self.b.switch_to_block(fast);
                let below = self.b.ins().iadd_imm_s(depth, -1);
                let slot = self.frame(below);
                let popped = self.b.ins().uload32(host(), slot, 0);
                self.b.ins().store(host(), below, self.env, env_field!(depth));
                self.exit(popped);
                self.b.switch_to_block(slow);
                let env = self.env;
                let popped = self.call(helpers::pop as *const () as usize, self.sigs.pop, &[env])[0];
                let none = self.b.ins().icmp_imm_s(IntCC::Equal, popped, -1);
                let ok = self.b.create_block();
                self.exit_if(none, Status::Const(status::STEP | u64::from(i)), ok);
                self.exit(popped);
                return false;
            }
            Jr { rs } => {
                // To a leader of this region (a jump table's entry), else
                // out; counted as a backward transfer to the region's
                // first instruction, wherever it goes.
                let t = self.index_of(i, rs);
                let t = self.b.ins().ireduce(I32, t);
                let go = self.b.create_block();
                let out = self.b.create_block();
                self.count_down(out, go, self.position);
                self.b.switch_to_block(out);
                let at = self.b.ins().uextend(I64, t);
                let yielded = self.b.ins().bor_imm_s(at, status::YIELD as i64);
                self.exit(yielded);
                self.b.switch_to_block(go);
                self.b.ins().jump(self.dispatch, &[t.into()]);
                return false;
            }
            Trap { .. } | Halt {} | End | Exit { .. } => {
                self.leave(status::STEP, i);
                return false;
            }
            _ => {
                debug_assert!(matches!(next(&op), Next::Fall), "{op:?} is not a plain instruction");
                self.step(i);
            }
        }
        true
    }

    /// The low 32 bits of register `r`.
    fn low32(&mut self, r: u8) -> Value {
        let v = self.r(r);
        self.b.ins().ireduce(I32, v)
    }

    fn f64(&mut self, r: u8) -> Value {
        let v = self.r(r);
        self.b.ins().bitcast(F64, MemFlagsData::new(), v)
    }

    fn set_f64(&mut self, rd: u8, v: Value) {
        let v = self.b.ins().bitcast(I64, MemFlagsData::new(), v);
        self.set(rd, v);
    }

    fn f32(&mut self, r: u8) -> Value {
        let v = self.low32(r);
        self.b.ins().bitcast(F32, MemFlagsData::new(), v)
    }

    /// An f32 result: its bits, zero-extended.
    fn set_f32(&mut self, rd: u8, v: Value) {
        let v = self.b.ins().bitcast(I32, MemFlagsData::new(), v);
        let v = self.b.ins().uextend(I64, v);
        self.set(rd, v);
    }

    fn extend(&mut self, rd: u8, rs: u8, ty: Type, signed: bool) {
        let v = self.r(rs);
        let v = self.b.ins().ireduce(ty, v);
        let v = match signed {
            true => self.b.ins().sextend(I64, v),
            false => self.b.ins().uextend(I64, v),
        };
        self.set(rd, v);
    }

    fn pure_f64_2(&mut self, rd: u8, ra: u8, rb: u8, f: usize) {
        let (a, b) = (self.f64(ra), self.f64(rb));
        let v = self.call(f, self.sigs.f64_2, &[a, b])[0];
        self.set_f64(rd, v);
    }

    fn pure_f64_1(&mut self, rd: u8, rs: u8, f: usize) {
        let a = self.f64(rs);
        let v = self.call(f, self.sigs.f64_1, &[a])[0];
        self.set_f64(rd, v);
    }

    fn pure_f32_2(&mut self, rd: u8, ra: u8, rb: u8, f: usize) {
        let (a, b) = (self.f32(ra), self.f32(rb));
        let v = self.call(f, self.sigs.f32_2, &[a, b])[0];
        self.set_f32(rd, v);
    }

    fn pure_f32_1(&mut self, rd: u8, rs: u8, f: usize) {
        let a = self.f32(rs);
        let v = self.call(f, self.sigs.f32_1, &[a])[0];
        self.set_f32(rd, v);
    }

    /// A trapping conversion through the helper: its result, or the
    /// interpreter runs instruction `i` (and traps).
    fn convert(&mut self, i: u32, rd: u8, rs: u8, kind: u32) {
        let a = self.r(rs);
        let kind = self.b.ins().iconst(I32, i64::from(kind));
        let env = self.env;
        let failed = self.call(helpers::convert as *const () as usize, self.sigs.convert, &[env, kind, a])[0];
        self.or_step(failed, i);
        let v = self.b.ins().load(I64, host(), self.env, env_field!(scratch));
        self.set(rd, v);
    }

    /// Instruction `i` run by the interpreter in place: registers out,
    /// one step, registers in; out of the region if the step ended in a
    /// flow of its own (a block, a sleep, an exit, a trap).
    fn step(&mut self, i: u32) {
        self.steps.push(i);
        self.position += weight::STEP - weight::INLINE;
        let index = self.b.ins().iconst(I32, i64::from(i));
        let env = self.env;
        let flow = self.call(helpers::step as *const () as usize, self.sigs.step, &[env, index])[0];
        let on = self.b.create_block();
        self.exit_if(flow, Status::Value(flow), on);
        self.forget();
    }

    /// The index of the instruction at register `rs`'s address, or the
    /// interpreter runs instruction `i` (a bad jump).
    fn index_of(&mut self, i: u32, rs: u8) -> Value {
        let addr = self.r(rs);
        let env = self.env;
        let t = self.call(helpers::index_of as *const () as usize, self.sigs.index_of, &[env, addr])[0];
        let bad = self.b.ins().icmp_imm_s(IntCC::Equal, t, -1);
        self.or_step(bad, i);
        t
    }

    /// `call` at `i` to index `t`: the return index pushed, the callee's
    /// region called natively; on at `i + 1` if it returns there, else
    /// out with what it returned.
    fn call_to(&mut self, i: u32, t: Value) {
        let env = self.env;
        let ret = self.b.ins().iconst(I32, i64::from(i + 1));
        // Into the top chunk's charged room in place; the helper past it
        // (a new chunk, the depth limit, the memory limit).
        let depth = self.b.ins().load(I64, host(), self.env, env_field!(depth));
        let room = self.b.ins().load(I64, host(), self.env, env_field!(room));
        let full = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, depth, room);
        let slow = self.b.create_block();
        self.b.set_cold_block(slow);
        let fast = self.b.create_block();
        let pushed = self.b.create_block();
        self.b.ins().brif(full, slow, &[], fast, &[]);
        self.b.switch_to_block(fast);
        let slot = self.frame(depth);
        self.b.ins().store(host(), ret, slot, 0);
        let above = self.b.ins().iadd_imm_s(depth, 1);
        self.b.ins().store(host(), above, self.env, env_field!(depth));
        self.b.ins().jump(pushed, &[]);
        self.b.switch_to_block(slow);
        let failed = self.call(helpers::push as *const () as usize, self.sigs.push, &[env, ret])[0];
        self.or_step(failed, i);
        self.b.ins().jump(pushed, &[]);
        self.b.switch_to_block(pushed);
        let entries = self.b.ins().load(self.ptr, host(), self.env, env_field!(entries));
        let offset = self.scaled(t, i64::from(self.ptr.bytes()));
        let slot = self.b.ins().iadd(entries, offset);
        let known = self.b.ins().atomic_load(self.ptr, host(), slot);
        let compile = self.b.create_block();
        self.b.set_cold_block(compile);
        let enter = self.b.create_block();
        self.b.append_block_param(enter, self.ptr);
        // 0: not compiled yet; `INTERPRETED`: never to be; `QUEUED`: not
        // yet (all through the helper).
        let compiled = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThan, known, super::QUEUED as i64);
        self.b.ins().brif(compiled, enter, &[known.into()], compile, &[]);
        self.b.switch_to_block(compile);
        let t32 = self.b.ins().ireduce(I32, t);
        let compiled = self.call(helpers::callee as *const () as usize, self.sigs.callee, &[env, t32])[0];
        let out = self.b.create_block();
        self.b.ins().brif(compiled, enter, &[compiled.into()], out, &[]);
        self.b.switch_to_block(out);
        self.exit(t);
        self.b.switch_to_block(enter);
        let f = self.b.block_params(enter)[0];
        let t32 = self.b.ins().ireduce(I32, t);
        self.store_slice();
        let call = self.b.ins().call_indirect(self.sigs.region, f, &[env, t32]);
        let result = self.b.inst_results(call)[0];
        let slice = self.b.ins().load(I64, host(), self.env, env_field!(slice));
        self.b.def_var(self.slice, slice);
        let elsewhere = self.b.ins().icmp_imm_s(IntCC::NotEqual, result, i64::from(i + 1));
        let on = self.b.create_block();
        self.exit_if(elsewhere, Status::Value(result), on);
        self.forget();
        let next = self.edge(i, i + 1);
        self.b.ins().jump(next, &[]);
    }

    /// A load of `n` bytes at `addr` through the translation cache (the
    /// helper on a miss); sign- or zero-extended.
    fn load(&mut self, i: u32, addr: Value, n: u8, signed: bool) -> Value {
        let ways = self.field(Field::ReadWays);
        let way = self.way(ways, addr);
        let hit = self.hit(way, addr, n);
        let (slow, join) = self.fast_or_cold(hit, true);
        let delta = self.b.ins().load(I64, host(), way, (2 * TLB_SETS * 8) as i32);
        let at = self.b.ins().iadd(addr, delta);
        let v = self.load_at(at, n, signed);
        self.b.ins().jump(join, &[v.into()]);
        self.b.switch_to_block(slow);
        let f = match n {
            1 => helpers::load::<1> as *const () as usize,
            2 => helpers::load::<2> as *const () as usize,
            4 => helpers::load::<4> as *const () as usize,
            _ => helpers::load::<8> as *const () as usize,
        };
        let env = self.env;
        let failed = self.call(f, self.sigs.load, &[env, addr])[0];
        self.or_step(failed, i);
        let raw = self.b.ins().load(I64, host(), self.env, env_field!(scratch));
        let v = match (n, signed) {
            (1, true) => self.sext(raw, I8),
            (2, true) => self.sext(raw, I16),
            (4, true) => self.sext(raw, I32),
            _ => raw,
        };
        self.b.ins().jump(join, &[v.into()]);
        self.b.switch_to_block(join);
        self.b.block_params(join)[0]
    }

    /// Goes on in a new block if `cond`, else in a cold one: the cold
    /// block and the block both join at (with a value parameter if
    /// `with_value`).
    fn fast_or_cold(&mut self, cond: Value, with_value: bool) -> (Block, Block) {
        let fast = self.b.create_block();
        let cold = self.b.create_block();
        self.b.set_cold_block(cold);
        let join = self.b.create_block();
        if with_value {
            self.b.append_block_param(join, I64);
        }
        self.b.ins().brif(cond, fast, &[], cold, &[]);
        self.b.switch_to_block(fast);
        (cold, join)
    }

    /// `n` bytes of the program's memory at host address `at`, sign- or zero-extended.
    fn load_at(&mut self, at: Value, n: u8, signed: bool) -> Value {
        match (n, signed) {
            (1, false) => self.b.ins().uload8(I64, guest(), at, 0),
            (1, true) => self.b.ins().sload8(I64, guest(), at, 0),
            (2, false) => self.b.ins().uload16(I64, guest(), at, 0),
            (2, true) => self.b.ins().sload16(I64, guest(), at, 0),
            (4, false) => self.b.ins().uload32(guest(), at, 0),
            (4, true) => self.b.ins().sload32(guest(), at, 0),
            _ => self.b.ins().load(I64, guest(), at, 0),
        }
    }

    /// The low `n` bytes of `value` to the program's memory at host address `at`.
    fn store_at(&mut self, at: Value, value: Value, n: u8) {
        match n {
            1 => self.b.ins().istore8(guest(), value, at, 0),
            2 => self.b.ins().istore16(guest(), value, at, 0),
            4 => self.b.ins().istore32(guest(), value, at, 0),
            _ => self.b.ins().store(guest(), value, at, 0),
        };
    }

    fn sext(&mut self, v: Value, ty: Type) -> Value {
        let v = self.b.ins().ireduce(ty, v);
        self.b.ins().sextend(I64, v)
    }

    /// A store of the low `n` bytes of `value` at `addr`, as [`load`](Self::load).
    fn store(&mut self, i: u32, addr: Value, value: Value, n: u8) {
        let ways = self.field(Field::WriteWays);
        let way = self.way(ways, addr);
        let hit = self.hit(way, addr, n);
        let (slow, join) = self.fast_or_cold(hit, false);
        let delta = self.b.ins().load(I64, host(), way, (2 * TLB_SETS * 8) as i32);
        let at = self.b.ins().iadd(addr, delta);
        self.store_at(at, value, n);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(slow);
        let f = match n {
            1 => helpers::store::<1> as *const () as usize,
            2 => helpers::store::<2> as *const () as usize,
            4 => helpers::store::<4> as *const () as usize,
            _ => helpers::store::<8> as *const () as usize,
        };
        let env = self.env;
        let failed = self.call(f, self.sigs.store, &[env, addr, value])[0];
        self.or_step(failed, i);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
    }

    /// The address of `addr`'s set in `ways`.
    fn way(&mut self, ways: Value, addr: Value) -> Value {
        let set = self.b.ins().ushr_imm_s(addr, i64::from(PAGE_BITS));
        let set = self.b.ins().band_imm_s(set, (TLB_SETS - 1) as i64);
        let offset = self.scaled(set, 8);
        self.b.ins().iadd(ways, offset)
    }

    /// True if the entry at `way` translates `n` bytes at `addr`.
    fn hit(&mut self, way: Value, addr: Value, n: u8) -> Value {
        let start = self.b.ins().load(I64, host(), way, 0);
        let len = self.b.ins().load(I64, host(), way, (TLB_SETS * 8) as i32);
        let from = self.b.ins().isub(addr, start);
        let room = self.b.ins().iadd_imm_s(len, -i64::from(n));
        self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, from, room)
    }

    fn ld(&mut self, i: u32, rd: u8, mem: M, n: u8, signed: bool) {
        let base = self.r(mem.base);
        let at = self.b.ins().iadd_imm_s(base, i64::from(mem.off));
        let v = self.load(i, at, n, signed);
        self.set(rd, v);
    }

    fn st(&mut self, i: u32, rs: u8, mem: M, n: u8) {
        let base = self.r(mem.base);
        let at = self.b.ins().iadd_imm_s(base, i64::from(mem.off));
        let v = self.r(rs);
        self.store(i, at, v, n);
    }

    /// A heap access of `n` bytes at the low 32 bits of `ra` + `off`: the
    /// offset, the flat heap's base, and whether the access lies inside
    /// the flat heap (see [`Flat`]). The fields are read here, before the
    /// caller branches: a field is read once per line, where it dominates
    /// the rest.
    fn flat_access(&mut self, ra: u8, off: u32, n: u8) -> (Value, Value, Value) {
        let low = self.low32(ra);
        let offset = self.b.ins().uextend(I64, low);
        let offset = self.b.ins().iadd_imm_s(offset, i64::from(off));
        let len = self.field(Field::FlatLen);
        let base = self.field(Field::FlatBase);
        let end = self.b.ins().iadd_imm_s(offset, i64::from(n));
        let inside = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, len);
        (offset, base, inside)
    }

    /// The guest address of heap offset `offset`, for the translations.
    fn heap_addr(&mut self, offset: Value) -> Value {
        let base = self.field(Field::HeapBase);
        self.b.ins().iadd(base, offset)
    }

    /// A heap load: from the flat heap where it holds the bytes (see
    /// [`Flat`]), else through the translations.
    fn hld(&mut self, i: u32, rd: u8, ra: u8, off: u32, n: u8, signed: bool) {
        let (offset, base, inside) = self.flat_access(ra, off, n);
        let (slow, join) = self.fast_or_cold(inside, true);
        let at = self.b.ins().iadd(base, offset);
        let v = self.load_at(at, n, signed);
        self.b.ins().jump(join, &[v.into()]);
        self.b.switch_to_block(slow);
        let at = self.heap_addr(offset);
        let v = self.load(i, at, n, signed);
        self.b.ins().jump(join, &[v.into()]);
        self.b.switch_to_block(join);
        let v = self.b.block_params(join)[0];
        self.set(rd, v);
    }

    /// A heap store: in place in a flat heap's page that exists (see
    /// [`Flat::writable`]), else through the translations.
    fn hst(&mut self, i: u32, rs: u8, ra: u8, off: u32, n: u8) {
        let v = self.r(rs);
        let (offset, base, inside) = self.flat_access(ra, off, n);
        let present = self.field(Field::FlatPresent);
        let (slow, join) = self.fast_or_cold(inside, false);
        // Its page exists (the map's byte) and the store stays in it.
        let at = self.b.ins().iadd(base, offset);
        let page = self.b.ins().ushr_imm_s(at, i64::from(PAGE_BITS));
        let last = self.b.ins().iadd_imm_s(at, i64::from(n) - 1);
        let last = self.b.ins().ushr_imm_s(last, i64::from(PAGE_BITS));
        let one_page = self.b.ins().icmp(IntCC::Equal, page, last);
        let byte = self.b.ins().iadd(present, page);
        let exists = self.b.ins().uload8(I32, host(), byte, 0);
        let exists = self.b.ins().icmp_imm_s(IntCC::NotEqual, exists, 0);
        let ok = self.b.ins().band(exists, one_page);
        let fast = self.b.create_block();
        self.b.ins().brif(ok, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        self.store_at(at, v, n);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(slow);
        let at = self.heap_addr(offset);
        self.store(i, at, v, n);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
    }
}
