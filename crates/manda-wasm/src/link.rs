//! Modules that import from modules (`manda run --preload NAME=MODULE.wasm`):
//! what a preloaded module exports — functions, globals, tables, its memory
//! — becomes the imports named NAME of the module being run.
//!
//! The two are linked into one module before translation: the preloaded
//! module's types, functions, tables, memory, globals, element and data
//! segments are appended, each import it satisfies is removed, and every
//! index of both is renumbered (with wasm-encoder's re-encoder, which
//! visits every index a module holds); its start function runs before the
//! main module's. The functions a preloaded module imports become imports
//! of the linked program (a library may call WASI; a later `--preload` may
//! give them); it may import nothing else. The linked program has at most
//! one memory (the translator has no multi-memory): the main module
//! imports the library's, or one of the two has none.

use crate::{err, features, limits_fit, TranslateError};
use std::collections::HashMap;
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::Encode;
use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, Validator};

/// A preloaded module: the import module name it satisfies, and its bytes.
#[derive(Debug, Clone)]
pub struct Preload {
    /// The name the importing module uses (`NAME` of `--preload NAME=…`).
    pub name: String,
    /// The module's bytes.
    pub wasm: Vec<u8>,
}

/// Renumbers one module's indices into the linked module's.
#[derive(Default)]
struct Remap {
    funcs: Vec<u32>,
    globals: Vec<u32>,
    tables: Vec<u32>,
    memories: Vec<u32>,
    types: u32,
    elements: u32,
    data: u32,
    /// Imported globals (by their index in this module) that the library
    /// defines, and the instructions of the definition's initializer: a
    /// constant expression reads an imported global, never a defined one,
    /// so `global.get` of one becomes its (immutable) value's expression.
    inlined: HashMap<u32, Vec<u8>>,
}

impl Reencode for Remap {
    type Error = std::convert::Infallible;
    fn function_index(&mut self, f: u32) -> Result<u32, reencode::Error> {
        Ok(self.funcs.get(f as usize).copied().unwrap_or(f))
    }
    fn global_index(&mut self, g: u32) -> Result<u32, reencode::Error> {
        Ok(self.globals.get(g as usize).copied().unwrap_or(g))
    }
    fn table_index(&mut self, t: u32) -> Result<u32, reencode::Error> {
        Ok(self.tables.get(t as usize).copied().unwrap_or(t))
    }
    fn memory_index(&mut self, m: u32) -> Result<u32, reencode::Error> {
        Ok(self.memories.get(m as usize).copied().unwrap_or(m))
    }
    fn type_index(&mut self, t: u32) -> Result<u32, reencode::Error> {
        Ok(t + self.types)
    }
    fn element_index(&mut self, e: u32) -> Result<u32, reencode::Error> {
        Ok(e + self.elements)
    }
    fn data_index(&mut self, d: u32) -> Result<u32, reencode::Error> {
        Ok(d + self.data)
    }
    fn const_expr(&mut self, expr: wasmparser::ConstExpr) -> Result<wasm_encoder::ConstExpr, reencode::Error> {
        let mut ops = expr.get_operators_reader();
        let mut bytes = Vec::new();
        while !ops.is_end_then_eof() {
            let at = ops.clone();
            match ops.read()? {
                wasmparser::Operator::GlobalGet { global_index } if self.inlined.contains_key(&global_index) => {
                    bytes.extend_from_slice(&self.inlined[&global_index]);
                }
                _ => {
                    let mut again = at;
                    self.parse_instruction(&mut again)?.encode(&mut bytes);
                }
            }
        }
        Ok(wasm_encoder::ConstExpr::raw(bytes))
    }
}

fn encode_err(e: reencode::Error) -> TranslateError {
    // The re-encoder says what, not where: no offset rather than a wrong one.
    TranslateError { offset: None, message: format!("linking: {e}") }
}

/// One module's sections, as linking needs them.
#[derive(Default)]
struct Parts<'a> {
    types: Vec<FuncType>,
    type_section: Option<wasmparser::TypeSectionReader<'a>>,
    imports: Vec<(u64, wasmparser::Import<'a>)>,
    /// Type of each defined function.
    funcs: Vec<u32>,
    function_section: Option<wasmparser::FunctionSectionReader<'a>>,
    tables: Option<wasmparser::TableSectionReader<'a>>,
    table_types: Vec<wasmparser::TableType>,
    memories: Option<wasmparser::MemorySectionReader<'a>>,
    memory_types: Vec<wasmparser::MemoryType>,
    globals: Option<wasmparser::GlobalSectionReader<'a>>,
    global_types: Vec<wasmparser::GlobalType>,
    global_inits: Vec<wasmparser::ConstExpr<'a>>,
    exports: Option<wasmparser::ExportSectionReader<'a>>,
    /// Exported: name → (kind, index).
    exported: HashMap<&'a str, (ExternalKind, u32)>,
    start: Option<u32>,
    elements: Option<wasmparser::ElementSectionReader<'a>>,
    element_count: u32,
    data_count: Option<u32>,
    bodies: Vec<wasmparser::FunctionBody<'a>>,
    data: Option<wasmparser::DataSectionReader<'a>>,
    data_segments: u32,
    customs: Vec<wasmparser::CustomSectionReader<'a>>,
}

fn parts(wasm: &[u8]) -> Result<Parts<'_>, TranslateError> {
    let mut m = Parts::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.clone().into_iter_err_on_gc_types() {
                    m.types.push(ty?);
                }
                m.type_section = Some(reader);
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports_with_offsets() {
                    m.imports.push(import?);
                }
            }
            Payload::FunctionSection(reader) => {
                m.funcs = reader.clone().into_iter().collect::<Result<_, _>>()?;
                m.function_section = Some(reader);
            }
            Payload::TableSection(reader) => {
                m.table_types = reader.clone().into_iter().map(|t| t.map(|t| t.ty)).collect::<Result<_, _>>()?;
                m.tables = Some(reader);
            }
            Payload::MemorySection(reader) => {
                m.memory_types = reader.clone().into_iter().collect::<Result<_, _>>()?;
                m.memories = Some(reader);
            }
            Payload::GlobalSection(reader) => {
                for g in reader.clone() {
                    let g = g?;
                    m.global_types.push(g.ty);
                    m.global_inits.push(g.init_expr);
                }
                m.globals = Some(reader);
            }
            Payload::ExportSection(reader) => {
                for e in reader.clone() {
                    let e = e?;
                    m.exported.insert(e.name, (e.kind, e.index));
                }
                m.exports = Some(reader);
            }
            Payload::StartSection { func, .. } => m.start = Some(func),
            Payload::ElementSection(reader) => {
                m.element_count = reader.count();
                m.elements = Some(reader);
            }
            Payload::DataCountSection { count, .. } => m.data_count = Some(count),
            Payload::CodeSectionEntry(body) => m.bodies.push(body),
            Payload::DataSection(reader) => {
                m.data_segments = reader.count();
                m.data = Some(reader);
            }
            Payload::CustomSection(c) => m.customs.push(c),
            _ => {}
        }
    }
    Ok(m)
}

/// The preloaded module, validated, with its errors located in it.
fn library(p: &Preload) -> Result<Parts<'_>, TranslateError> {
    let named = |e: TranslateError| TranslateError {
        offset: None,
        message: match e.offset {
            Some(at) => format!("preloaded module `{}`, offset {at} (0x{at:x}): {}", p.name, e.message),
            None => format!("preloaded module `{}`: {}", p.name, e.message),
        },
    };
    Validator::new_with_features(features()).validate_all(&p.wasm).map_err(|e| named(e.into()))?;
    let lib = parts(&p.wasm).map_err(named)?;
    if let Some((at, i)) = lib.imports.iter().find(|(_, i)| !matches!(i.ty, TypeRef::Func(_))) {
        return Err(named(err(
            *at,
            format!(
                "it imports a {} `{}.{}`; a preloaded module may import only functions (which become the \
                 program's imports)",
                kind_name(&i.ty),
                i.module,
                i.name
            ),
        )));
    }
    Ok(lib)
}

/// Links `preloads` into `main`, one after another: the module to translate.
pub fn link(main: &[u8], preloads: &[Preload]) -> Result<Vec<u8>, TranslateError> {
    let mut linked = main.to_vec();
    for p in preloads {
        linked = link_one(&linked, p)?;
    }
    Ok(linked)
}

/// What a kind of import is called in messages.
fn kind_name(ty: &TypeRef) -> &'static str {
    match ty {
        TypeRef::Func(_) => "function",
        TypeRef::Global(_) => "global",
        TypeRef::Table(_) => "table",
        TypeRef::Memory(_) => "memory",
        _ => "tag",
    }
}

/// Limits as the text format writes them: `1`, `1 8`.
fn limits_text(initial: u64, maximum: Option<u64>) -> String {
    match maximum {
        Some(max) => format!("{initial} {max}"),
        None => initial.to_string(),
    }
}

/// A global's type as the text format writes it: `(global i32)`, `(global (mut i64))`.
fn global_text(g: wasmparser::GlobalType) -> String {
    if g.mutable {
        format!("(global (mut {}))", g.content_type)
    } else {
        format!("(global {})", g.content_type)
    }
}

/// Which of the library's definitions the main module's import at `i` is
/// (its index in the library's space of that kind), or why it cannot be.
fn resolve(main: &Parts<'_>, lib: &Parts<'_>, p: &Preload, i: usize) -> Result<u32, TranslateError> {
    let (at, import) = &main.imports[i];
    let what = format!("import `{}.{}`", import.module, import.name);
    let kind = kind_name(&import.ty);
    let wanted = match import.ty {
        TypeRef::Func(_) => ExternalKind::Func,
        TypeRef::Global(_) => ExternalKind::Global,
        TypeRef::Table(_) => ExternalKind::Table,
        TypeRef::Memory(_) => ExternalKind::Memory,
        _ => return Err(err(*at, format!("{what}: tags are not linked"))),
    };
    let index = match lib.exported.get(import.name) {
        Some(&(k, index)) if k == wanted => index,
        _ => {
            return Err(err(
                *at,
                format!("{what}: the preloaded module `{}` exports no {kind} `{}`", p.name, import.name),
            ))
        }
    };
    let mismatch = |ours: String, theirs: String| {
        Err(err(*at, format!("{what} has the type {ours}; the preloaded module's {kind} has {theirs}")))
    };
    match import.ty {
        TypeRef::Func(ty) => {
            // The library's function space: its imports (functions only), then its own.
            let imported = lib.imports.len();
            let theirs = match lib.imports.get(index as usize) {
                Some((_, wasmparser::Import { ty: TypeRef::Func(t), .. })) => *t,
                _ => lib.funcs[index as usize - imported],
            };
            let (ours, theirs) = (&main.types[ty as usize], &lib.types[theirs as usize]);
            if ours != theirs {
                return mismatch(ours.to_string(), theirs.to_string());
            }
        }
        TypeRef::Global(ours) => {
            let theirs = lib.global_types[index as usize];
            if ours != theirs {
                return mismatch(global_text(ours), global_text(theirs));
            }
        }
        TypeRef::Table(ours) => {
            let theirs = lib.table_types[index as usize];
            let fits = ours.element_type == theirs.element_type
                && ours.table64 == theirs.table64
                && limits_fit((theirs.initial, theirs.maximum), (ours.initial, ours.maximum));
            if !fits {
                let text = |t: wasmparser::TableType| {
                    format!(
                        "(table {} {})",
                        limits_text(t.initial, t.maximum),
                        wasmparser::ValType::Ref(t.element_type)
                    )
                };
                return mismatch(text(ours), text(theirs));
            }
        }
        TypeRef::Memory(ours) => {
            let theirs = lib.memory_types[index as usize];
            let fits = ours.memory64 == theirs.memory64
                && ours.shared == theirs.shared
                && limits_fit((theirs.initial, theirs.maximum), (ours.initial, ours.maximum));
            if !fits {
                let text = |m: wasmparser::MemoryType| {
                    let shared = if m.shared { " shared" } else { "" };
                    let address = if m.memory64 { "i64 " } else { "" };
                    format!("(memory {address}{}{shared})", limits_text(m.initial, m.maximum))
                };
                return mismatch(text(ours), text(theirs));
            }
        }
        _ => unreachable!("tags are refused above"),
    }
    Ok(index)
}

/// Both modules' renumberings of one index space, and how many the linked
/// module has in all. The linked space is the main module's kept imports
/// (each of its imports is kept, in order, or resolved to an index in the
/// library's space), the library's imports (`lib_imported`: functions
/// only), the main module's definitions (`defined`), the library's
/// (`lib_defined`).
fn index_space(
    resolved: &[Option<u32>],
    defined: usize,
    lib_imported: usize,
    lib_defined: usize,
) -> (Vec<u32>, Vec<u32>, u32) {
    let kept = resolved.iter().filter(|r| r.is_none()).count() as u32;
    let lib_imported = lib_imported as u32;
    let main_base = kept + lib_imported;
    let lib_base = main_base + defined as u32;
    // An index in the library's space: one of its imports, or one of its own.
    let theirs_of = |i: u32| if i < lib_imported { kept + i } else { lib_base + i - lib_imported };
    let mut ours = Vec::with_capacity(resolved.len() + defined);
    let mut next = 0;
    for r in resolved {
        ours.push(match r {
            Some(index) => theirs_of(*index),
            None => {
                next += 1;
                next - 1
            }
        });
    }
    ours.extend((0..defined as u32).map(|j| main_base + j));
    let theirs = (0..lib_imported + lib_defined as u32).map(theirs_of).collect();
    (ours, theirs, lib_base + lib_defined as u32)
}

/// Writes one section with both modules' entries in the order given (each
/// renumbered by its remap), if there are any.
fn write_both<S: wasm_encoder::Section + Default, R>(
    module: &mut wasm_encoder::Module,
    parts: [(&mut Remap, Option<R>); 2],
    parse: impl Fn(&mut Remap, &mut S, R) -> Result<(), reencode::Error>,
    len: fn(&S) -> u32,
) -> Result<(), TranslateError> {
    let mut section = S::default();
    for (remap, reader) in parts {
        if let Some(reader) = reader {
            parse(remap, &mut section, reader).map_err(encode_err)?;
        }
    }
    if len(&section) > 0 {
        module.section(&section);
    }
    Ok(())
}

fn link_one(main: &[u8], p: &Preload) -> Result<Vec<u8>, TranslateError> {
    let lib = library(p)?;
    Validator::new_with_features(features()).validate_all(main)?;
    let ours_parts = parts(main)?;
    let m = &ours_parts;
    // What each import from `p.name` is in the library.
    let mut resolved: Vec<Option<u32>> = Vec::with_capacity(m.imports.len());
    for (i, (_, import)) in m.imports.iter().enumerate() {
        resolved.push(if import.module == p.name { Some(resolve(m, &lib, p, i)?) } else { None });
    }
    if resolved.iter().all(Option::is_none) {
        return Ok(main.to_vec());
    }
    let of_kind = |kind: fn(&TypeRef) -> bool| -> Vec<Option<u32>> {
        m.imports.iter().zip(&resolved).filter(|((_, i), _)| kind(&i.ty)).map(|(_, r)| *r).collect()
    };
    let is_func = |t: &TypeRef| matches!(t, TypeRef::Func(_));
    let is_global = |t: &TypeRef| matches!(t, TypeRef::Global(_));
    let is_table = |t: &TypeRef| matches!(t, TypeRef::Table(_));
    let is_memory = |t: &TypeRef| matches!(t, TypeRef::Memory(_));
    let (funcs, lib_funcs, func_count) =
        index_space(&of_kind(is_func), m.funcs.len(), lib.imports.len(), lib.funcs.len());
    let (globals, lib_globals, _) = index_space(&of_kind(is_global), m.global_types.len(), 0, lib.global_types.len());
    let (tables, lib_tables, _) = index_space(&of_kind(is_table), m.table_types.len(), 0, lib.table_types.len());
    let (memories, lib_memories, memory_count) =
        index_space(&of_kind(is_memory), m.memory_types.len(), 0, lib.memory_types.len());
    if memory_count > 1 {
        return Err(TranslateError {
            offset: None,
            message: format!(
                "the main module and the preloaded module `{}` each have a memory; a program has one (import \
                 the library's memory instead of defining another)",
                p.name
            ),
        });
    }
    let mut theirs = Remap {
        funcs: lib_funcs,
        globals: lib_globals,
        tables: lib_tables,
        memories: lib_memories,
        types: m.types.len() as u32,
        elements: m.element_count,
        data: m.data_segments,
        inlined: HashMap::new(),
    };
    let mut inlined = HashMap::new();
    for (g, r) in of_kind(is_global).iter().enumerate() {
        if let Some(index) = r {
            let init = theirs.const_expr(lib.global_inits[*index as usize].clone()).map_err(encode_err)?;
            let mut bytes = Vec::new();
            init.encode(&mut bytes);
            bytes.pop(); // its `end`
            inlined.insert(g as u32, bytes);
        }
    }
    let mut ours = Remap { funcs, globals, tables, memories, inlined, ..Remap::default() };
    // Both start functions, the library's first: one new function calls them.
    let starts: Vec<u32> = [lib.start.map(|f| theirs.funcs[f as usize]), m.start.map(|f| ours.funcs[f as usize])]
        .into_iter()
        .flatten()
        .collect();
    let start_type = m.types.len() as u32 + lib.types.len() as u32;
    let (start, start_body) = match starts.as_slice() {
        [] => (None, false),
        [one] => (Some(*one), false),
        _ => (Some(func_count), true),
    };

    let mut module = wasm_encoder::Module::new();
    let e = encode_err;
    let mut types = wasm_encoder::TypeSection::new();
    if let Some(r) = m.type_section.clone() {
        reencode::utils::parse_type_section(&mut ours, &mut types, r).map_err(e)?;
    }
    if let Some(r) = lib.type_section.clone() {
        reencode::utils::parse_type_section(&mut theirs, &mut types, r).map_err(e)?;
    }
    if start_body {
        types.ty().function([], []);
    }
    module.section(&types);
    let mut imports = wasm_encoder::ImportSection::new();
    for ((_, import), r) in m.imports.iter().zip(&resolved) {
        if r.is_none() {
            reencode::utils::parse_import(&mut ours, &mut imports, *import).map_err(e)?;
        }
    }
    for (_, import) in &lib.imports {
        reencode::utils::parse_import(&mut theirs, &mut imports, *import).map_err(e)?;
    }
    if !imports.is_empty() {
        module.section(&imports);
    }
    let mut functions = wasm_encoder::FunctionSection::new();
    if let Some(r) = m.function_section.clone() {
        reencode::utils::parse_function_section(&mut ours, &mut functions, r).map_err(e)?;
    }
    for &t in &lib.funcs {
        functions.function(t + theirs.types);
    }
    if start_body {
        functions.function(start_type);
    }
    module.section(&functions);
    write_both(
        &mut module,
        [(&mut ours, m.tables.clone()), (&mut theirs, lib.tables.clone())],
        |remap, section: &mut wasm_encoder::TableSection, r| remap.parse_table_section(section, r),
        wasm_encoder::TableSection::len,
    )?;
    write_both(
        &mut module,
        [(&mut ours, m.memories.clone()), (&mut theirs, lib.memories.clone())],
        |remap, section: &mut wasm_encoder::MemorySection, r| remap.parse_memory_section(section, r),
        wasm_encoder::MemorySection::len,
    )?;
    write_both(
        &mut module,
        [(&mut ours, m.globals.clone()), (&mut theirs, lib.globals.clone())],
        |remap, section: &mut wasm_encoder::GlobalSection, r| remap.parse_global_section(section, r),
        wasm_encoder::GlobalSection::len,
    )?;
    if let Some(r) = m.exports.clone() {
        let mut exports = wasm_encoder::ExportSection::new();
        ours.parse_export_section(&mut exports, r).map_err(e)?;
        module.section(&exports);
    }
    if let Some(function_index) = start {
        module.section(&wasm_encoder::StartSection { function_index });
    }
    write_both(
        &mut module,
        [(&mut ours, m.elements.clone()), (&mut theirs, lib.elements.clone())],
        |remap, section: &mut wasm_encoder::ElementSection, r| remap.parse_element_section(section, r),
        wasm_encoder::ElementSection::len,
    )?;
    if m.data_count.is_some() || lib.data_count.is_some() {
        module.section(&wasm_encoder::DataCountSection { count: m.data_segments + lib.data_segments });
    }
    let mut code = wasm_encoder::CodeSection::new();
    for body in &m.bodies {
        ours.parse_function_body(&mut code, body.clone()).map_err(e)?;
    }
    for body in &lib.bodies {
        theirs.parse_function_body(&mut code, body.clone()).map_err(e)?;
    }
    if start_body {
        let mut f = wasm_encoder::Function::new([]);
        for &s in &starts {
            f.instruction(&wasm_encoder::Instruction::Call(s));
        }
        f.instruction(&wasm_encoder::Instruction::End);
        code.function(&f);
    }
    module.section(&code);
    write_both(
        &mut module,
        [(&mut ours, m.data.clone()), (&mut theirs, lib.data.clone())],
        |remap, section: &mut wasm_encoder::DataSection, r| remap.parse_data_section(section, r),
        wasm_encoder::DataSection::len,
    )?;
    // Custom sections (the name section among them, renumbered) go last.
    for c in &m.customs {
        ours.parse_custom_section(&mut module, c.clone()).map_err(e)?;
    }
    Ok(module.finish())
}
