//! The module's sections, read into what the translation needs: types,
//! functions (imports first), globals and their homes, memory, tables,
//! exports, start, element and data segments, bodies, and names.

use crate::{
    const_expr, err, host, ir, limits_fit, ConstValue, Global, GlobalHome, Options, TranslateError, MAX_TABLE,
};
use wasmparser::{
    DataKind, ElementItems, ElementKind, ExternalKind, FuncType, Name, Parser, Payload, RefType, TableInit, TypeRef,
    ValType,
};

/// A table as declared.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableDecl {
    /// Entries it starts with.
    pub(crate) initial: u64,
    /// Entries it may grow to (wasm's limit, before the translator's own).
    pub(crate) maximum: Option<u64>,
    /// What its entries are.
    pub(crate) ty: RefType,
}

/// Where an element segment goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ElementMode {
    /// Copied into `table` at `offset` when the module starts, then dropped.
    Active { table: u32, offset: u64 },
    /// Copied only by `table.init`.
    Passive,
    /// Only declares functions that `ref.func` may name; dropped at start.
    Declared,
}

/// An element segment: its references, each a function or null (or the
/// value of a global holding one).
pub(crate) struct Element {
    pub(crate) mode: ElementMode,
    pub(crate) items: Vec<ConstValue>,
}

/// A module's sections, validated and read.
pub(crate) struct Sections<'a> {
    pub(crate) types: Vec<FuncType>,
    /// Type index of each function, imports first.
    pub(crate) funcs: Vec<u32>,
    /// The host function of each import.
    pub(crate) imports: Vec<&'static host::Host>,
    pub(crate) globals: Vec<Global>,
    /// Globals kept in the data section (their homes are indexes until it is placed).
    pub(crate) mem_globals: u64,
    /// Initial and maximum pages.
    pub(crate) memory: Option<(u64, u64)>,
    pub(crate) tables: Vec<TableDecl>,
    /// Exported functions: (name, function index).
    pub(crate) exports: Vec<(String, u32)>,
    /// Exported globals: (name, global index).
    pub(crate) global_exports: Vec<(String, u32)>,
    pub(crate) start: Option<u32>,
    pub(crate) elements: Vec<Element>,
    /// Data segments: (offset in the module, memory offset — `None` for a
    /// passive segment, which only `memory.init` copies — bytes).
    pub(crate) data: Vec<(u64, Option<u64>, &'a [u8])>,
    /// The data count section's count: present when the code may use
    /// `memory.init` or `data.drop`.
    pub(crate) data_count: Option<u32>,
    pub(crate) bodies: Vec<wasmparser::FunctionBody<'a>>,
    /// Function names from the name section.
    pub(crate) names: Vec<(u32, String)>,
}

/// What the spec testsuite's `spectest` module gives besides functions.
enum SpectestItem {
    Memory((u64, u64)),
    Table(TableDecl),
    Global(Global),
}

/// The `spectest` module's memory (1 page, at most 2), table (10
/// `funcref`s, at most 20) and immutable globals (`global_i32` … 666 or
/// 666.6), as an import of type `ty` names them; `None` if the import's
/// type does not fit what is there. Only for the spec testsuite
/// (`Options::spectest`): each module that imports one gets its own.
fn spectest_import(name: &str, ty: TypeRef) -> Option<SpectestItem> {
    Some(match (name, ty) {
        ("memory", TypeRef::Memory(m))
            if !m.memory64 && !m.shared && limits_fit((1, Some(2)), (m.initial, m.maximum)) =>
        {
            SpectestItem::Memory((1, 2))
        }
        ("table", TypeRef::Table(t))
            if t.element_type == RefType::FUNCREF && limits_fit((10, Some(20)), (t.initial, t.maximum)) =>
        {
            SpectestItem::Table(TableDecl { initial: 10, maximum: Some(20), ty: RefType::FUNCREF })
        }
        (_, TypeRef::Global(g)) if !g.mutable => {
            let bits = match (name, g.content_type) {
                ("global_i32", ValType::I32) => 666,
                ("global_i64", ValType::I64) => 666,
                ("global_f32", ValType::F32) => u64::from(666.6f32.to_bits()),
                ("global_f64", ValType::F64) => 666.6f64.to_bits(),
                _ => return None,
            };
            SpectestItem::Global(Global {
                ty: g.content_type,
                home: GlobalHome::Const(bits),
                init: ConstValue::Bits(bits),
            })
        }
        _ => return None,
    })
}

/// Reads `wasm`'s sections (already validated).
pub(crate) fn sections<'a>(wasm: &'a [u8], options: &Options) -> Result<Sections<'a>, TranslateError> {
    let mut types: Vec<FuncType> = Vec::new();
    let mut funcs: Vec<u32> = Vec::new();
    let mut imports: Vec<&'static host::Host> = Vec::new();
    let mut globals: Vec<Global> = Vec::new();
    let mut memory: Option<(u64, u64)> = None;
    let mut tables: Vec<TableDecl> = Vec::new();
    let mut exports: Vec<(String, u32)> = Vec::new();
    let mut global_exports: Vec<(String, u32)> = Vec::new();
    let mut start: Option<u32> = None;
    let mut elements: Vec<Element> = Vec::new();
    let mut data: Vec<(u64, Option<u64>, &[u8])> = Vec::new();
    let mut data_count = None;
    let mut bodies: Vec<wasmparser::FunctionBody<'_>> = Vec::new();
    let mut names: Vec<(u32, String)> = Vec::new();
    let mut mem_globals = 0u64;
    let mut reg_globals = 0u8;

    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty?);
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports_with_offsets() {
                    let (at, import) = import?;
                    let what = format!("`{}.{}`", import.module, import.name);
                    let ty = match import.ty {
                        TypeRef::Func(ty) => ty,
                        ty if options.spectest && import.module == "spectest" => {
                            match spectest_import(import.name, ty) {
                                Some(SpectestItem::Memory(m)) => memory = Some(m),
                                Some(SpectestItem::Table(t)) => tables.push(t),
                                Some(SpectestItem::Global(g)) => globals.push(g),
                                None => return Err(err(at, format!("import {what}: incompatible import type"))),
                            }
                            continue;
                        }
                        _ => return Err(err(at, format!("import {what}: only functions can be imported"))),
                    };
                    let Some(h) = host::lookup(import.module, import.name, options.spectest) else {
                        return Err(err(
                            at,
                            format!(
                                "import {what} is not supported (see docs/manda/wasm.md for the \
                                 wasi_snapshot_preview1 and manda functions there are)"
                            ),
                        ));
                    };
                    let t = &types[ty as usize];
                    if t.params() != h.params || t.results() != h.results {
                        let host = FuncType::new(h.params.iter().copied(), h.results.iter().copied());
                        return Err(err(at, format!("import {what} has the type {t}; the host function's is {host}")));
                    }
                    imports.push(h);
                    funcs.push(ty);
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    funcs.push(ty?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader.into_iter_with_offsets() {
                    let (at, table) = table?;
                    let all: u64 = tables.iter().map(|t| t.initial).sum::<u64>() + table.ty.initial;
                    if all > MAX_TABLE {
                        return Err(err(
                            at,
                            format!("tables of {all} entries in all: at most {MAX_TABLE} are supported"),
                        ));
                    }
                    if let TableInit::Expr(_) = table.init {
                        return Err(err(at, "a table with an initializer expression is not supported"));
                    }
                    tables.push(TableDecl {
                        initial: table.ty.initial,
                        maximum: table.ty.maximum,
                        ty: table.ty.element_type,
                    });
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    let m = m?;
                    memory = Some((m.initial, m.maximum.unwrap_or(65536).min(65536)));
                }
            }
            Payload::GlobalSection(reader) => {
                for g in reader {
                    let g = g?;
                    let init = const_expr(&g.init_expr, &globals)?;
                    let home = if g.ty.content_type == ValType::V128 {
                        // Two words of memory, whether or not it is mutable.
                        mem_globals += 2;
                        GlobalHome::Mem(mem_globals - 2)
                    } else if !g.ty.mutable {
                        // Its value once references are placed (`translate` sets it).
                        GlobalHome::Const(0)
                    } else if reg_globals < ir::GLOBALS_IN_REGS {
                        reg_globals += 1;
                        GlobalHome::Reg(ir::GLOBAL_REGS + reg_globals - 1)
                    } else {
                        mem_globals += 1;
                        GlobalHome::Mem(mem_globals - 1) // an index until the data section is placed
                    };
                    globals.push(Global { ty: g.ty.content_type, home, init });
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e?;
                    match e.kind {
                        ExternalKind::Func => exports.push((e.name.to_string(), e.index)),
                        ExternalKind::Global => global_exports.push((e.name.to_string(), e.index)),
                        _ => {}
                    }
                }
            }
            Payload::StartSection { func, .. } => start = Some(func),
            Payload::ElementSection(reader) => {
                for e in reader.into_iter_with_offsets() {
                    let (_, e) = e?;
                    let mode = match e.kind {
                        ElementKind::Active { table_index, offset_expr } => ElementMode::Active {
                            table: table_index.unwrap_or(0),
                            offset: const_expr(&offset_expr, &globals)?.bits() as u32 as u64,
                        },
                        ElementKind::Passive => ElementMode::Passive,
                        ElementKind::Declared => ElementMode::Declared,
                    };
                    let items: Vec<ConstValue> = match e.items {
                        ElementItems::Functions(items) => {
                            items.into_iter().map(|f| f.map(ConstValue::Func)).collect::<Result<_, _>>()?
                        }
                        ElementItems::Expressions(_, items) => {
                            let mut values = Vec::new();
                            for item in items {
                                values.push(const_expr(&item?, &globals)?);
                            }
                            values
                        }
                    };
                    elements.push(Element { mode, items });
                }
            }
            Payload::DataSection(reader) => {
                for d in reader.into_iter_with_offsets() {
                    let (at, d) = d?;
                    let offset = match d.kind {
                        DataKind::Active { offset_expr, .. } => {
                            Some(const_expr(&offset_expr, &globals)?.bits() as u32 as u64)
                        }
                        DataKind::Passive => None,
                    };
                    data.push((at, offset, d.data));
                }
            }
            Payload::DataCountSection { count, .. } => data_count = Some(count),
            Payload::CodeSectionEntry(body) => bodies.push(body),
            Payload::CustomSection(c) if c.name() == "name" => {
                if let wasmparser::KnownCustom::Name(reader) = c.as_known() {
                    for name in reader.into_iter().flatten() {
                        if let Name::Function(map) = name {
                            names.extend(map.into_iter().flatten().map(|n| (n.index, n.name.to_string())));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    Ok(Sections {
        types,
        funcs,
        imports,
        globals,
        mem_globals,
        memory,
        tables,
        exports,
        global_exports,
        start,
        elements,
        data,
        data_count,
        bodies,
        names,
    })
}
