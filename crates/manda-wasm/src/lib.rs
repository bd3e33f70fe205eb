//! WebAssembly to Manda: a module becomes an ordinary Manda executable.
//!
//! [`translate`] validates a module with `wasmparser` (WebAssembly 2.0:
//! sign extension, non-trapping float-to-int, multi-value, mutable
//! globals, bulk memory, reference types, SIMD; and relaxed SIMD, tail
//! calls and extended constants) and writes an executable whose code runs it. The result
//! needs nothing else at run time: it has W^X, limits, `fork`, ports,
//! snapshots and migration like any Manda program.
//!
//! How wasm maps onto the machine (`docs/manda/wasm.md` has the details):
//!
//! - **Linear memory is the heap.** It is grown to the module's initial
//!   size at start; loads and stores are the `hld`/`hst` instructions,
//!   bounds-checked exactly at the heap's (the memory's) size; `memory.grow`
//!   is `hgrow` within the module's maximum and `--max-memory`.
//! - **Values live in registers.** An i32 is held sign-extended to 64 bits
//!   (so every comparison and branch works on it unchanged), an f32 as its
//!   32 bits. Each function has a **window** of registers: its locals, then
//!   one register per operand stack position ([`func`]). Windows are placed
//!   so that a caller and its callees differ where they fit in the 189
//!   registers of the window area; a call saves (pushes) only the caller's
//!   live registers that the callee, or anything it calls, may write.
//! - **Vectors** (`v128`) are two registers each, low and high half: two
//!   entries of the operand stack, two locals, two parameters; each SIMD
//!   operator is one of the machine's vector instructions (`func::simd`).
//! - **References** are one register each: 0 for null, a function's type
//!   id and thunk address for a `funcref`. **Tables** are in a data
//!   section, with room to grow ([`TABLE_GROWTH`]).
//! - **Traps** are Manda traps named as wasm names them, and the nearest
//!   label in the message is the wasm function (`$name`).
//! - **Globals** that change live in registers `a1`–`a40` (the rest in a
//!   data section); those that do not are constants in the code.
//! - **Imports** are host functions written in Manda code ([`host`]).
//!
//! The translation's phases, each in its own place: the sections are read
//! (`parse.rs`), data and globals laid out and the bodies translated
//! (here, [`translate`]; one body by `func/`: its operand stack, control
//! frames and labels, and the operators by kind, each a module), the
//! windows placed along the call graph, and the code emitted (`emit.rs`).

mod emit;
mod func;
mod host;
mod ir;
mod link;
mod live;
mod parse;

pub use host::HOSTS;
pub use link::{link, Preload};

use ir::{CallSite, Item, RegSet, Src, S1, S2, S3, WINDOW, WINDOW_BASE, ZERO};
use parse::ElementMode;
use std::collections::HashMap;
use std::fmt;
use wasmparser::{FuncType, Operator, ValType, Validator, WasmFeatures};

/// How to translate.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Exported functions to call, in order, printing their results; none
    /// means the WASI command's `_start`.
    pub invokes: Vec<Invoke>,
    /// Print float results as their bits (`printi`), for exact comparison.
    pub raw_results: bool,
    /// Allow the `spectest` imports the spec testsuite uses.
    pub spectest: bool,
    /// With no invokes and no `_start`: only instantiate (memory, data, the start function), then exit.
    pub instantiate_only: bool,
    /// The most bytes the translation may hold at once (the module, the
    /// translated bodies and the code emitted so far): a machine's
    /// `--max-memory`, so that a small module cannot make the host hold
    /// gigabytes before the machine's own limit is checked. `None`: no limit.
    pub memory_limit: Option<u64>,
}

/// One call of an exported function, or one read of an exported global.
#[derive(Debug, Clone)]
pub struct Invoke {
    /// The export's name: a function to call, or a global to read (with no arguments).
    pub name: String,
    /// The arguments.
    pub args: Vec<Arg>,
}

/// An argument of an [`Invoke`].
#[derive(Debug, Clone)]
pub enum Arg {
    /// Text to parse as the parameter's type: an integer (`-1`, `4294967295`) or a float (`1.5`, `-inf`, `nan`).
    Text(String),
    /// The value's bits (an i32 sign-extended, an f32 as its 32 bits).
    Bits(u64),
    /// A `v128`'s bits.
    V128(u128),
}

impl Arg {
    /// The registers' worth of bits of an argument of type `ty`: one, or a
    /// `v128`'s two halves (low first).
    fn words(&self, ty: ValType) -> Result<Vec<u64>, String> {
        let v = match (self, ty) {
            (Arg::V128(v), _) => *v,
            (Arg::Bits(b), _) => u128::from(*b),
            (Arg::Text(text), ValType::V128) => {
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => u128::from_str_radix(hex, 16).ok(),
                    None => text.parse::<u128>().ok().or_else(|| text.parse::<i128>().ok().map(|v| v as u128)),
                };
                parsed.ok_or_else(|| {
                    format!("`{text}` is not a v128 (a 128-bit integer, or 0x and up to 32 hex digits)")
                })?
            }
            (Arg::Text(text), _) => u128::from(scalar_bits(text, ty)?),
        };
        Ok(match ty {
            ValType::V128 => vec![v as u64, (v >> 64) as u64],
            _ => vec![v as u64],
        })
    }
}

/// The bits of `text` read as a scalar of type `ty`: an integer (`-1`,
/// `4294967295`) or a float (`1.5`, `-inf`, `nan`).
fn scalar_bits(text: &str, ty: ValType) -> Result<u64, String> {
    let bad = || format!("`{text}` is not an {ty}");
    match ty {
        ValType::I32 => text
            .parse::<i32>()
            .map(|v| v as i64 as u64)
            .or_else(|_| text.parse::<u32>().map(|v| v as i32 as i64 as u64))
            .map_err(|_| bad()),
        ValType::I64 => text.parse::<i64>().map(|v| v as u64).or_else(|_| text.parse::<u64>()).map_err(|_| bad()),
        ValType::F32 => text.parse::<f32>().map(|v| u64::from(v.to_bits())).map_err(|_| bad()),
        ValType::F64 => text.parse::<f64>().map(f64::to_bits).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Why a module cannot be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateError {
    /// Byte offset in the module, when there is one.
    pub offset: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(at) => write!(f, "offset {at} (0x{at:x}): {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TranslateError {}

fn err(offset: u64, message: impl Into<String>) -> TranslateError {
    TranslateError { offset: Some(offset), message: message.into() }
}

impl From<wasmparser::BinaryReaderError> for TranslateError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        err(e.offset(), e.message().to_string())
    }
}

/// Most table entries a module may have in all its tables, and grow them to
/// (each is 8 bytes of the executable's data section).
pub const MAX_TABLE: u64 = 1 << 20;
/// How far a table with room to grow can: up to its maximum, or this many
/// entries past its initial size, whichever is less. A table's entries are
/// laid out in the data section when the module is translated, so the room
/// is reserved then; `table.grow` past it returns -1, as wasm allows.
pub const TABLE_GROWTH: u64 = 1024;
/// Most locals a module may declare in all its functions together (each is
/// an instruction that zeroes it when its function is called).
pub const MAX_LOCALS: u64 = 1 << 22;

/// The features accepted: WebAssembly 2.0 (what clang emits by default,
/// bulk memory, reference types, SIMD), relaxed SIMD, tail calls and
/// extended constants.
pub fn features() -> WasmFeatures {
    WasmFeatures::LIME1
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::SIMD
        | WasmFeatures::RELAXED_SIMD
}

/// Value types as the translator places them: a `v128` takes two
/// registers, so it is two entries (low half, high half), each `V128`.
pub(crate) fn lowered(types: &[ValType]) -> Vec<ValType> {
    let mut out = Vec::with_capacity(types.len());
    for &t in types {
        out.push(t);
        if t == ValType::V128 {
            out.push(t);
        }
    }
    out
}

/// A function type with its `v128`s [`lowered`].
fn lowered_type(t: &FuncType) -> FuncType {
    FuncType::new(lowered(t.params()), lowered(t.results()))
}

/// A constant expression's value: bits, or a reference to a function, whose
/// bits (its type id and thunk address) are known once the code is emitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ConstValue {
    /// A number, or a null reference (0).
    Bits(u64),
    /// `ref.func`.
    Func(u32),
    /// A `v128`.
    V128(u128),
}

impl ConstValue {
    /// The bits of a number (an offset); a function reference has none yet.
    fn bits(self) -> u64 {
        match self {
            ConstValue::Bits(b) => b,
            ConstValue::Func(_) => 0,
            ConstValue::V128(v) => v as u64,
        }
    }
}

/// Where a global lives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum GlobalHome {
    /// Immutable: its value, folded into the code.
    Const(u64),
    /// Mutable, in this (IR) register.
    Reg(u8),
    /// Mutable (or a `v128`), 8 bytes (16 for a `v128`) at this address of the data section.
    Mem(u64),
}

pub(crate) struct Global {
    ty: ValType,
    home: GlobalHome,
    init: ConstValue,
}

/// What the function translator needs of the module.
pub(crate) struct Module {
    /// The function types, [`lowered`].
    types: Vec<FuncType>,
    /// The function types as the module declares them.
    wasm_types: Vec<FuncType>,
    /// Canonical id (≥ 1) of each type: equal signatures share one.
    canon: Vec<u32>,
    /// Type index of each function, imports first.
    funcs: Vec<u32>,
    globals: Vec<Global>,
    /// Initial and maximum pages.
    memory: Option<(u64, u64)>,
    tables: Vec<Table>,
    /// Each data segment's bytes and the word of its length left, when the
    /// module has a data count section (empty otherwise).
    data_segments: Vec<Segment>,
    /// Each element segment's references and the word of how many are left.
    elem_segments: Vec<Segment>,
}

/// A table, in the data section: a word holding its length, then its
/// entries, 8 bytes each (a reference: 0 for null, a function's type id and
/// thunk address, or an `externref`'s bits), with room for `capacity`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    /// Address of the length word.
    len_addr: u64,
    /// The length it starts with.
    initial: u32,
    /// How many entries it can grow to.
    capacity: u32,
    /// What its entries are.
    ty: wasmparser::RefType,
}

impl Table {
    /// Address of entry 0.
    fn entries(&self) -> u64 {
        self.len_addr + 8
    }

    /// Whether its length never changes (and can be an immediate).
    fn fixed(&self) -> bool {
        self.initial == self.capacity
    }
}

/// Where a data or element segment is for `memory.init`/`table.init` and
/// `data.drop`/`elem.drop`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    /// Address of its contents in rodata: bytes, or references (8 bytes
    /// each; a passive element segment's only).
    addr: u64,
    /// Address of the word holding how many of them are left (0 once dropped).
    left: u64,
}

/// Whether a definition's limits `has` (initial, maximum) satisfy an import
/// asking for `wants`: at least its initial size, and a maximum at most the
/// import's if the import names one.
fn limits_fit(has: (u64, Option<u64>), wants: (u64, Option<u64>)) -> bool {
    has.0 >= wants.0 && wants.1.is_none_or(|w| has.1.is_some_and(|h| h <= w))
}

impl Module {
    /// Function `f`'s type, [`lowered`].
    fn func_type(&self, f: u32) -> &FuncType {
        &self.types[self.funcs[f as usize] as usize]
    }

    /// Function `f`'s type as the module declares it.
    fn wasm_func_type(&self, f: u32) -> &FuncType {
        &self.wasm_types[self.funcs[f as usize] as usize]
    }

    /// Function `f`'s canonical type id.
    fn canon_of(&self, f: u32) -> u32 {
        self.canon[self.funcs[f as usize] as usize]
    }
}

/// A translated (or host) function, ready to be placed and emitted.
struct Function {
    name: String,
    items: Vec<Item>,
    labels: u32,
    size: u8,
    frame: u32,
    callees: Vec<u32>,
    indirect: Vec<u32>,
    /// Whether it writes a table (`table.set`, `table.init` …): what a call
    /// through a table may reach is then any function a reference names.
    writes_tables: bool,
    /// Functions it tail-calls, and the types it tail-calls through a table.
    tail_callees: Vec<u32>,
    tail_indirect: Vec<u32>,
    base: u8,
}

impl Function {
    /// Bytes its translated body holds on the heap.
    fn heap_bytes(&self) -> u64 {
        let calls: usize = self
            .items
            .iter()
            .map(|item| match item {
                Item::Call(call) => {
                    std::mem::size_of::<CallSite>()
                        + call.args.capacity() * std::mem::size_of::<Src>()
                        + call.dsts.capacity()
                }
                _ => 0,
            })
            .sum();
        (self.items.capacity() * std::mem::size_of::<Item>() + calls) as u64
    }
}

/// Refuses to go on when the translation holds more than `options.memory_limit`.
fn within_limit(options: &Options, held: u64, function: &str) -> Result<(), TranslateError> {
    match options.memory_limit {
        Some(limit) if held > limit => Err(TranslateError {
            offset: None,
            message: format!(
                "translating the module needs more than the memory limit of {limit} bytes (it held {held} at function `{function}`)"
            ),
        }),
        _ => Ok(()),
    }
}

/// Evaluates a constant expression (`i32.const` …, `ref.null`, `ref.func`,
/// `global.get` of an immutable global, and the extended-const arithmetic).
fn const_expr(expr: &wasmparser::ConstExpr<'_>, globals: &[Global]) -> Result<ConstValue, TranslateError> {
    let mut stack: Vec<ConstValue> = Vec::new();
    let mut reader = expr.get_operators_reader();
    while !reader.eof() {
        let at = reader.original_position();
        let op = reader.read()?;
        let mut bin = |f: fn(u64, u64) -> u64, wide: bool| {
            let b = stack.pop().map_or(0, ConstValue::bits);
            let a = stack.pop().map_or(0, ConstValue::bits);
            let v = f(a, b);
            stack.push(ConstValue::Bits(if wide { v } else { v as i32 as i64 as u64 }));
        };
        let bits = ConstValue::Bits;
        match op {
            Operator::I32Const { value } => stack.push(bits(value as i64 as u64)),
            Operator::I64Const { value } => stack.push(bits(value as u64)),
            Operator::F32Const { value } => stack.push(bits(u64::from(value.bits()))),
            Operator::F64Const { value } => stack.push(bits(value.bits())),
            Operator::V128Const { value } => stack.push(ConstValue::V128(value.i128() as u128)),
            Operator::RefNull { .. } => stack.push(bits(0)),
            Operator::RefFunc { function_index } => stack.push(ConstValue::Func(function_index)),
            Operator::GlobalGet { global_index } => match globals.get(global_index as usize) {
                Some(g) => stack.push(g.init),
                None => return Err(err(at, "global.get of a global not yet defined")),
            },
            Operator::I32Add => bin(u64::wrapping_add, false),
            Operator::I32Sub => bin(u64::wrapping_sub, false),
            Operator::I32Mul => bin(u64::wrapping_mul, false),
            Operator::I64Add => bin(u64::wrapping_add, true),
            Operator::I64Sub => bin(u64::wrapping_sub, true),
            Operator::I64Mul => bin(u64::wrapping_mul, true),
            Operator::End => break,
            other => return Err(err(at, format!("unsupported constant expression {other:?}"))),
        }
    }
    Ok(stack.pop().unwrap_or(ConstValue::Bits(0)))
}

/// The register numbers of function `base`'s window in real terms.
fn real(x: u8, base: u8) -> u8 {
    if x < WINDOW {
        base + x
    } else if x >= S3 {
        x
    } else if x == ZERO {
        0
    } else if (ir::GLOBAL_REGS..ir::GLOBAL_REGS + ir::GLOBALS_IN_REGS).contains(&x) {
        1 + (x - ir::GLOBAL_REGS)
    } else if x == host::FORK_FN {
        host::REAL_FORK_FN
    } else if x == host::FORK_ARG {
        host::REAL_FORK_ARG
    } else {
        unreachable!("IR register {x} has no real register")
    }
}

/// Standard registers of an indirect call's arguments and results (the thunks move them).
const STD: u8 = WINDOW_BASE;

/// Translates a module into the bytes of a Manda executable.
pub fn translate(wasm: &[u8], options: &Options) -> Result<Vec<u8>, TranslateError> {
    Validator::new_with_features(features()).validate_all(wasm)?;

    let parse::Sections {
        types,
        funcs,
        imports,
        mut globals,
        mut mem_globals,
        memory,
        tables: table_decls,
        exports,
        global_exports,
        start,
        elements,
        data,
        data_count,
        bodies,
        names,
    } = parse::sections(wasm, options)?;

    // Canonical type ids: equal signatures share one, so call_indirect compares ids.
    let mut canon = Vec::with_capacity(types.len());
    let mut first_of: HashMap<&FuncType, u32> = HashMap::new();
    for (i, t) in types.iter().enumerate() {
        canon.push(*first_of.entry(t).or_insert(i as u32 + 1));
    }

    // The functions a reference can name: those in element segments, in
    // globals' initializers and the exported ones (what wasm lets `ref.func` name).
    let mut referenced = vec![false; funcs.len()];
    let values = elements.iter().flat_map(|e| &e.items).chain(globals.iter().map(|g| &g.init));
    for v in values {
        if let ConstValue::Func(f) = *v {
            referenced[f as usize] = true;
        }
    }
    for &(_, f) in &exports {
        referenced[f as usize] = true;
    }

    // A function reference is its canonical type id (high half) and its
    // thunk's address (low half), known once the code is emitted: where one
    // is stored before then, the place is noted (`ref_sites`) and the
    // emission writes it. An immutable global holding one is kept in memory
    // rather than folded into the code.
    let mut ref_sites: Vec<(u64, u32)> = Vec::new();
    for g in &mut globals {
        if let GlobalHome::Const(_) = g.home {
            g.home = match g.init {
                ConstValue::Bits(b) => GlobalHome::Const(b),
                ConstValue::Func(_) => {
                    mem_globals += 1;
                    GlobalHome::Mem(mem_globals - 1)
                }
                // `parse` homes every v128 global in memory.
                ConstValue::V128(_) => g.home,
            };
        }
    }

    // Layout: rodata (passive element segments, data segments, program
    // name), data (globals in memory, the segments' words, tables), code.
    let mut rodata: Vec<u8> = Vec::new();
    let rodata_base = 9u64;
    let place = |v: ConstValue, at: u64, sites: &mut Vec<(u64, u32)>| match v {
        ConstValue::Bits(b) => b,
        ConstValue::V128(v) => v as u64,
        ConstValue::Func(f) => {
            sites.push((at, f));
            0
        }
    };
    // A passive element segment's references, for `table.init`.
    let mut elem_addrs = Vec::with_capacity(elements.len());
    for e in &elements {
        let addr = rodata_base + rodata.len() as u64;
        if e.mode == ElementMode::Passive {
            for &v in &e.items {
                let bits = place(v, rodata_base + rodata.len() as u64, &mut ref_sites);
                rodata.extend_from_slice(&bits.to_le_bytes());
            }
        }
        elem_addrs.push(addr);
    }
    let mut segments = Vec::new();
    let mut segment_addrs = Vec::with_capacity(data.len());
    for &(at, offset, bytes) in &data {
        let addr = rodata_base + rodata.len() as u64;
        segment_addrs.push(addr);
        if let Some(offset) = offset {
            segments.push((at, offset, addr, bytes.len() as u64));
        }
        rodata.extend_from_slice(bytes);
    }
    let data_base = rodata_base + rodata.len() as u64 + 9;
    let mut data_section = vec![0u8; mem_globals as usize * 8];
    for g in &mut globals {
        if let GlobalHome::Mem(index) = g.home {
            let init = place(g.init, data_base + index * 8, &mut ref_sites);
            data_section[index as usize * 8..][..8].copy_from_slice(&init.to_le_bytes());
            if let ConstValue::V128(v) = g.init {
                data_section[index as usize * 8 + 8..][..8].copy_from_slice(&((v >> 64) as u64).to_le_bytes());
            }
            g.home = GlobalHome::Mem(data_base + index * 8);
        }
    }
    // With a data count section the code may use `memory.init` and `data.drop`:
    // each segment gets a word in the data section holding the length it has
    // left — its own for a passive segment, 0 for an active one (dropped once
    // instantiation has copied it) and for one `data.drop` dropped. A word of
    // memory, so a snapshot carries which segments were dropped.
    let segment = |data_section: &mut Vec<u8>, addr: u64, left: u64| {
        let word = data_base + data_section.len() as u64;
        data_section.extend_from_slice(&left.to_le_bytes());
        Segment { addr, left: word }
    };
    let mut data_segments = Vec::new();
    if data_count.is_some() {
        for (&(_, offset, bytes), &addr) in data.iter().zip(&segment_addrs) {
            let left = if offset.is_some() { 0 } else { bytes.len() as u64 };
            data_segments.push(segment(&mut data_section, addr, left));
        }
    }
    // The same for element segments: only a passive one starts with any left.
    let mut elem_segments = Vec::with_capacity(elements.len());
    for (e, &addr) in elements.iter().zip(&elem_addrs) {
        let left = if e.mode == ElementMode::Passive { e.items.len() as u64 } else { 0 };
        elem_segments.push(segment(&mut data_section, addr, left));
    }
    // The tables, each with its room to grow, filled by the active element
    // segments in order (wasm fills them when instantiating; the first that
    // does not fit ends instantiation with a trap).
    let mut tables = Vec::with_capacity(table_decls.len());
    for t in &table_decls {
        let capacity = t.maximum.unwrap_or(u64::MAX).min(t.initial + TABLE_GROWTH).min(MAX_TABLE).max(t.initial);
        let len_addr = data_base + data_section.len() as u64;
        tables.push(Table { len_addr, initial: t.initial as u32, capacity: capacity as u32, ty: t.ty });
        data_section.extend_from_slice(&t.initial.to_le_bytes());
        data_section.resize(data_section.len() + capacity as usize * 8, 0);
    }
    let mut init_trap: Option<u8> = None;
    let mut table_funcs: Vec<u32> = Vec::new();
    for e in &elements {
        let ElementMode::Active { table, offset } = e.mode else { continue };
        let t = tables[table as usize];
        if offset + e.items.len() as u64 > u64::from(t.initial) {
            init_trap = Some(8);
            break;
        }
        for (k, &v) in e.items.iter().enumerate() {
            let addr = t.entries() + (offset + k as u64) * 8;
            let at = (addr - data_base) as usize;
            data_section[at..at + 8].copy_from_slice(&place(v, addr, &mut ref_sites).to_le_bytes());
            if let ConstValue::Func(f) = v {
                table_funcs.push(f);
            }
        }
    }
    if init_trap.is_none() {
        let pages = memory.map_or(0, |m| m.0);
        if segments.iter().any(|s| s.1 + s.3 > pages * 65536) {
            init_trap = Some(4);
        }
    }
    // The code section's header: after rodata, or after the data section if there is one.
    let code_base = if data_section.is_empty() { data_base - 9 } else { data_base + data_section.len() as u64 };
    if code_base > i32::MAX as u64 {
        return Err(TranslateError { offset: None, message: "the module's data passes 2 GiB".into() });
    }

    let wasm_types = types;
    let types = wasm_types.iter().map(lowered_type).collect();
    let module = Module { types, wasm_types, canon, funcs, globals, memory, tables, data_segments, elem_segments };

    let (mut functions, forks, held) = function_bodies(wasm, &module, &imports, &bodies, names, &exports, options)?;

    // What a call through a table may reach: what the tables start with,
    // unless some code writes a table — then any function a reference names.
    let referenced: Vec<u32> = (0..module.funcs.len() as u32).filter(|&f| referenced[f as usize]).collect();
    let indirect_targets = if functions.iter().any(|f| f.writes_tables) {
        referenced.clone()
    } else {
        table_funcs.sort_unstable();
        table_funcs.dedup();
        table_funcs
    };

    // Invocations, resolved against the exports.
    let mut invokes = Vec::new();
    for inv in &options.invokes {
        let Some(&(_, f)) = exports.iter().find(|(n, _)| *n == inv.name) else {
            match global_exports.iter().find(|(n, _)| *n == inv.name) {
                Some(&(_, g)) if inv.args.is_empty() => {
                    invokes.push(emit::Invocation::Read(g));
                    continue;
                }
                Some(_) => {
                    return Err(TranslateError {
                        offset: None,
                        message: format!("`{}` is a global: it takes no arguments", inv.name),
                    })
                }
                None => {
                    return Err(TranslateError {
                        offset: None,
                        message: format!("no exported function or global `{}`", inv.name),
                    })
                }
            }
        };
        let ty = module.wasm_func_type(f);
        if ty.params().len() != inv.args.len() {
            return Err(TranslateError {
                offset: None,
                message: format!("`{}` takes {} arguments ({ty}), not {}", inv.name, ty.params().len(), inv.args.len()),
            });
        }
        let args = inv
            .args
            .iter()
            .zip(ty.params())
            .map(|(a, &t)| a.words(t))
            .collect::<Result<Vec<Vec<u64>>, String>>()
            .map_err(|m| TranslateError { offset: None, message: format!("`{}`: {m}", inv.name) })?
            .concat();
        invokes.push(emit::Invocation::Call(f, args));
    }
    let entry = if invokes.is_empty() {
        match exports.iter().find(|(n, _)| n == "_start") {
            Some(&(_, f)) => Some(f),
            None if options.instantiate_only => None,
            None => {
                return Err(TranslateError {
                    offset: None,
                    message: "the module exports no `_start` function: name one to call with --invoke".into(),
                })
            }
        }
    } else {
        None
    };

    let called = invokes.iter().filter_map(|i| match i {
        emit::Invocation::Call(f, _) => Some(*f),
        emit::Invocation::Read(_) => None,
    });
    let roots = start.into_iter().chain(entry).chain(called);
    let classes = tail_classes(&functions, &module, &indirect_targets);
    place_windows(&mut functions, &indirect_targets, &classes, roots);
    let program = emit::Program {
        module: &module,
        functions: &functions,
        indirect_targets: &indirect_targets,
        referenced: &referenced,
        segments: &segments,
        init_trap,
        start,
        invokes: &invokes,
        entry,
        forks,
        code_base,
        rodata_base,
        data_base,
        ref_sites: &ref_sites,
    };
    let mut code = emit::code(program, options, held, &mut rodata, &mut data_section)?;
    drop(functions);

    // The sections before the code go in front of it in place: a large
    // code section is never held twice.
    let mut head = Vec::with_capacity(rodata.len() + data_section.len() + 27);
    let mut section = |kind: u8, bytes: &[u8], len: usize| {
        head.push(kind);
        head.extend_from_slice(&(len as u64).to_le_bytes());
        head.extend_from_slice(bytes);
    };
    section(2, &rodata, rodata.len());
    if !data_section.is_empty() {
        section(0, &data_section, data_section.len());
    }
    section(1, &[], code.len());
    code.reserve_exact(head.len());
    code.splice(0..0, head);
    Ok(code)
}

/// Every function's body, translated: the host functions' (for the
/// imports), then the module's own. A function's name comes from the name
/// section, else its export's. Also whether `manda.fork` is imported, and
/// the bytes the translation holds so far (the module and the bodies),
/// which stay within `options.memory_limit`.
#[allow(clippy::too_many_arguments)] // the module's parts, as `translate` read them
fn function_bodies(
    wasm: &[u8],
    module: &Module,
    imports: &[&'static host::Host],
    bodies: &[wasmparser::FunctionBody<'_>],
    names: Vec<(u32, String)>,
    exports: &[(String, u32)],
    options: &Options,
) -> Result<(Vec<Function>, bool, u64), TranslateError> {
    let mut name_map: HashMap<u32, String> = HashMap::new();
    for (index, name) in exports.iter().map(|(n, i)| (*i, n.clone())).chain(names) {
        name_map.insert(index, name);
    }
    let name_of = |i: u32| name_map.get(&i).cloned();
    let mut functions: Vec<Function> = Vec::new();
    let mut forks = false;
    for h in imports {
        let (items, labels, size, f) = h.body();
        forks |= f;
        functions.push(Function {
            name: format!("{}.{}", h.module, h.name),
            items,
            labels,
            size,
            frame: 0,
            callees: vec![],
            indirect: vec![],
            writes_tables: false,
            tail_callees: vec![],
            tail_indirect: vec![],
            base: WINDOW_BASE,
        });
    }
    let mut all_locals = 0u64;
    let mut held = wasm.len() as u64;
    for (k, body) in bodies.iter().enumerate() {
        let index = (imports.len() + k) as u32;
        let mut locals: Vec<ValType> = module.wasm_func_type(index).params().to_vec();
        let mut reader = body.get_locals_reader()?;
        for _ in 0..reader.get_count() {
            let at = reader.original_position();
            let (n, ty) = reader.read()?;
            if locals.len() + n as usize > 50_000 {
                return Err(err(at, "more than 50000 locals in one function"));
            }
            all_locals += u64::from(n);
            if all_locals > MAX_LOCALS {
                return Err(err(at, format!("more than {MAX_LOCALS} locals in all the module's functions together")));
            }
            locals.extend(std::iter::repeat_n(ty, n as usize));
        }
        let at = body.range().start;
        let name = name_of(index).unwrap_or_else(|| format!("func{index}"));
        let mut t = func::FuncTranslator::new(module, index, locals).map_err(|m| err(at, m))?;
        let mut ops = body.get_operators_reader()?;
        while !ops.eof() {
            let at = ops.original_position();
            let op = ops.read()?;
            t.op(&op).map_err(|m| err(at, m))?;
            within_limit(options, held + t.bytes_to_finish(), &name)?;
        }
        within_limit(options, held + t.bytes_to_finish(), &name)?;
        let b = t.finish();
        let function = Function {
            name,
            items: b.items,
            labels: b.labels,
            size: b.size,
            frame: b.frame,
            callees: b.callees,
            indirect: b.indirect,
            writes_tables: b.writes_tables,
            tail_callees: b.tail_callees,
            tail_indirect: b.tail_indirect,
            base: WINDOW_BASE,
        };
        held += function.heap_bytes();
        within_limit(options, held, &function.name)?;
        functions.push(function);
    }

    Ok((functions, forks, held))
}

/// Registers a thunk for a function of type `ty` writes: the function's and the standard ones.
fn thunk_clobber(function: &RegSet, ty: &FuncType) -> RegSet {
    let mut set = *function;
    for k in 0..ty.params().len().max(ty.results().len()) as u8 {
        set.insert(STD + k);
    }
    set.insert(S3);
    set
}

/// Places each function's window after its callers' where it fits, so
/// that a call need not save the caller's registers. `targets` are the
/// functions a call through a table may reach.
fn place_windows(functions: &mut [Function], targets: &[u32], classes: &[u32], roots: impl Iterator<Item = u32>) {
    let n = functions.len();
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    let mut stack: Vec<u32> = roots.chain(targets.iter().copied()).collect();
    stack.reverse();
    while let Some(f) = stack.pop() {
        if std::mem::replace(&mut seen[f as usize], true) {
            continue;
        }
        order.push(f);
        for &g in functions[f as usize].callees.iter().rev() {
            if !seen[g as usize] {
                stack.push(g);
            }
        }
    }
    let mut callers: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (f, func) in functions.iter().enumerate() {
        for &g in &func.callees {
            callers[g as usize].push(f as u32);
        }
    }
    // A class of functions that tail-call each other shares one window, as
    // large as its largest member's: a tail call leaves its arguments, and
    // the callee its results, where the first caller's caller expects them.
    let mut class_size = vec![0u8; n];
    for (f, func) in functions.iter().enumerate() {
        let c = classes[f] as usize;
        class_size[c] = class_size[c].max(func.size);
    }
    for (f, func) in functions.iter_mut().enumerate() {
        func.size = class_size[classes[f] as usize];
    }
    let mut class_base: Vec<Option<u8>> = vec![None; n];
    for f in order {
        let class = classes[f as usize] as usize;
        if class_base[class].is_none() {
            let size = functions[f as usize].size;
            let mut base = u32::from(WINDOW_BASE);
            for &c in &callers[f as usize] {
                if classes[c as usize] as usize != class {
                    if let Some(b) = class_base[classes[c as usize] as usize] {
                        base = base.max(u32::from(b) + u32::from(functions[c as usize].size));
                    }
                }
            }
            if base + u32::from(size) > u32::from(WINDOW_BASE) + u32::from(WINDOW) {
                base = u32::from(WINDOW_BASE);
            }
            class_base[class] = Some(base as u8);
        }
    }
    for (f, func) in functions.iter_mut().enumerate() {
        func.base = class_base[classes[f] as usize].unwrap_or(WINDOW_BASE);
    }
}

/// The class of each function (a representative's index): functions that
/// tail-call one another, directly or through a table (every function of
/// the type a call through a table may reach, `targets`), are one class.
fn tail_classes(functions: &[Function], module: &Module, targets: &[u32]) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..functions.len() as u32).collect();
    fn find(parent: &mut [u32], mut f: u32) -> u32 {
        while parent[f as usize] != f {
            parent[f as usize] = parent[parent[f as usize] as usize];
            f = parent[f as usize];
        }
        f
    }
    let union = |parent: &mut Vec<u32>, a: u32, b: u32| {
        let (a, b) = (find(parent, a), find(parent, b));
        parent[a.max(b) as usize] = a.min(b);
    };
    // The targets of each type, one class per type tail-called through a
    // table (joined once, so the work is linear in the module, not in
    // callers times targets).
    let mut by_type: HashMap<u32, u32> = HashMap::new();
    let tail_types: std::collections::HashSet<u32> =
        functions.iter().flat_map(|f| f.tail_indirect.iter().copied()).collect();
    for &g in targets {
        let ty = module.canon_of(g);
        if tail_types.contains(&ty) {
            let first = *by_type.entry(ty).or_insert(g);
            union(&mut parent, first, g);
        }
    }
    for (f, func) in functions.iter().enumerate() {
        for &g in &func.tail_callees {
            union(&mut parent, f as u32, g);
        }
        for ty in &func.tail_indirect {
            if let Some(&g) = by_type.get(ty) {
                union(&mut parent, f as u32, g);
            }
        }
    }
    (0..functions.len() as u32).map(|f| find(&mut parent, f)).collect()
}

/// The registers each function may write, itself or through its callees
/// (`targets`: what a call through a table may reach).
fn clobber_sets(functions: &[Function], module: &Module, targets: &[u32]) -> Vec<RegSet> {
    let mut sets: Vec<RegSet> = functions
        .iter()
        .map(|f| {
            let mut set = RegSet::default();
            for k in 0..f.size {
                set.insert(f.base + k);
            }
            for x in [S1, S2, S3] {
                set.insert(x);
            }
            set
        })
        .collect();
    // Callees before their callers (a depth-first post-order), so that one
    // pass settles a call graph without cycles, however deep.
    let n = functions.len();
    let mut order = Vec::with_capacity(n);
    let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (f, ref mut next)) = stack.last_mut() {
            match functions[f].callees.get(*next) {
                Some(&g) => {
                    *next += 1;
                    if state[g as usize] == 0 {
                        state[g as usize] = 1;
                        stack.push((g as usize, 0));
                    }
                }
                None => {
                    state[f] = 2;
                    order.push(f);
                    stack.pop();
                }
            }
        }
    }
    // Writes to the globals' registers are the point of a global.set, never saved: left out.
    loop {
        let by_type = indirect_sets(&sets, module, targets);
        let mut changed = false;
        for &f in &order {
            let func = &functions[f];
            let mut set = sets[f];
            for &g in &func.callees {
                set.union_with(&sets[g as usize]);
            }
            for ty in &func.indirect {
                if let Some(s) = by_type.get(ty) {
                    set.union_with(s);
                }
            }
            changed |= sets[f].union_with(&set);
        }
        if !changed {
            return sets;
        }
    }
}

/// For each canonical type, what a call through a table with that type may
/// write (`targets`, distinct: what such a call may reach).
fn indirect_sets(sets: &[RegSet], module: &Module, targets: &[u32]) -> HashMap<u32, RegSet> {
    let mut by_type: HashMap<u32, RegSet> = HashMap::new();
    for &h in targets {
        let ty = module.canon_of(h);
        by_type.entry(ty).or_default().union_with(&thunk_clobber(&sets[h as usize], module.func_type(h)));
    }
    by_type
}
