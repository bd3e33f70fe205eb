//! Modules that import from modules (`manda run --preload NAME=MODULE.wasm`):
//! the functions a preloaded module exports become the imports named NAME
//! of the module being run.
//!
//! The two are linked into one module before translation: the preloaded
//! module's types and functions are appended, each import it satisfies is
//! removed, and every function index of both is renumbered (with
//! wasm-encoder's re-encoder, which visits every index a module holds).
//! A preloaded module has functions only — no imports, memory, table,
//! globals or segments: memories, tables and globals shared between
//! modules are not linked yet.

use crate::{err, features, TranslateError};
use std::collections::HashMap;
use wasm_encoder::reencode::{self, Reencode};
use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, Validator};

/// A preloaded module: the import module name it satisfies, and its bytes.
#[derive(Debug, Clone)]
pub struct Preload {
    /// The name the importing module uses (`NAME` of `--preload NAME=…`).
    pub name: String,
    /// The module's bytes.
    pub wasm: Vec<u8>,
}

/// Renumbers one module's functions and types into the linked module's.
struct Remap {
    funcs: Vec<u32>,
    types: u32,
}

impl Reencode for Remap {
    type Error = std::convert::Infallible;
    fn function_index(&mut self, f: u32) -> Result<u32, reencode::Error> {
        Ok(self.funcs.get(f as usize).copied().unwrap_or(f))
    }
    fn type_index(&mut self, t: u32) -> Result<u32, reencode::Error> {
        Ok(t + self.types)
    }
}

fn encode_err(e: reencode::Error) -> TranslateError {
    err(0, format!("linking: {e}"))
}

/// What linking needs of the preloaded module.
struct Library<'a> {
    types: Vec<FuncType>,
    type_section: Option<wasmparser::TypeSectionReader<'a>>,
    /// Type of each function.
    funcs: Vec<u32>,
    bodies: Vec<wasmparser::FunctionBody<'a>>,
    exports: HashMap<&'a str, u32>,
}

fn library<'a>(p: &'a Preload) -> Result<Library<'a>, TranslateError> {
    // Located in the preloaded module, not in the one that imports from it.
    let named = |e: TranslateError| TranslateError {
        offset: None,
        message: match e.offset {
            Some(at) => format!("preloaded module `{}`, offset {at} (0x{at:x}): {}", p.name, e.message),
            None => format!("preloaded module `{}`: {}", p.name, e.message),
        },
    };
    Validator::new_with_features(features()).validate_all(&p.wasm).map_err(|e| named(e.into()))?;
    let mut lib = Library {
        types: Vec::new(),
        type_section: None,
        funcs: Vec::new(),
        bodies: Vec::new(),
        exports: HashMap::new(),
    };
    for payload in Parser::new(0).parse_all(&p.wasm) {
        let payload = payload.map_err(|e| named(e.into()))?;
        let only_functions = |what: &str, at: u64| {
            Err(named(err(
                at,
                format!("it has {what}; a preloaded module may hold only functions (memories, tables and globals are not linked across modules yet)"),
            )))
        };
        match payload {
            Payload::TypeSection(reader) => {
                for ty in reader.clone().into_iter_err_on_gc_types() {
                    lib.types.push(ty.map_err(|e| named(e.into()))?);
                }
                lib.type_section = Some(reader);
            }
            Payload::FunctionSection(reader) => {
                for f in reader {
                    lib.funcs.push(f.map_err(|e| named(e.into()))?);
                }
            }
            Payload::CodeSectionEntry(body) => lib.bodies.push(body),
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e.map_err(|e| named(e.into()))?;
                    if e.kind == ExternalKind::Func {
                        lib.exports.insert(e.name, e.index);
                    }
                }
            }
            Payload::ImportSection(r) => return only_functions("imports", r.range().start),
            Payload::MemorySection(r) => return only_functions("a memory", r.range().start),
            Payload::TableSection(r) => return only_functions("a table", r.range().start),
            Payload::GlobalSection(r) => return only_functions("globals", r.range().start),
            Payload::DataSection(r) => return only_functions("data segments", r.range().start),
            Payload::ElementSection(r) => return only_functions("element segments", r.range().start),
            Payload::StartSection { range, .. } => return only_functions("a start function", range.start),
            _ => {}
        }
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

fn link_one(main: &[u8], p: &Preload) -> Result<Vec<u8>, TranslateError> {
    let lib = library(p)?;
    Validator::new_with_features(features()).validate_all(main)?;
    // The main module's types and function imports, to number everything first.
    let mut types: Vec<FuncType> = Vec::new();
    let mut imports = Vec::new();
    let mut defined = 0u32;
    for payload in Parser::new(0).parse_all(main) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty?);
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports_with_offsets() {
                    imports.push(import?);
                }
            }
            Payload::FunctionSection(reader) => defined = reader.count(),
            _ => {}
        }
    }
    // Which library function each import from `p.name` is.
    let mut resolved: Vec<Option<u32>> = Vec::new();
    for (at, import) in &imports {
        let TypeRef::Func(ty) = import.ty else {
            if import.module == p.name {
                return Err(err(
                    *at,
                    format!(
                        "import `{}.{}`: only functions can be imported from a preloaded module",
                        import.module, import.name
                    ),
                ));
            }
            continue;
        };
        if import.module != p.name {
            resolved.push(None);
            continue;
        }
        let Some(&f) = lib.exports.get(import.name) else {
            return Err(err(
                *at,
                format!(
                    "import `{}.{}`: the preloaded module `{}` exports no function `{}`",
                    import.module, import.name, p.name, import.name
                ),
            ));
        };
        let theirs = &lib.types[lib.funcs[f as usize] as usize];
        let ours = &types[ty as usize];
        if theirs != ours {
            return Err(err(
                *at,
                format!(
                    "import `{}.{}` has the type {ours}; the preloaded module's function has {theirs}",
                    import.module, import.name
                ),
            ));
        }
        resolved.push(Some(f));
    }
    if resolved.iter().all(Option::is_none) {
        return Ok(main.to_vec());
    }
    let kept = resolved.iter().filter(|r| r.is_none()).count() as u32;
    let lib_base = kept + defined;
    let mut ours = Remap { funcs: Vec::new(), types: 0 };
    let mut next_kept = 0;
    for r in &resolved {
        ours.funcs.push(match r {
            Some(f) => lib_base + f,
            None => {
                next_kept += 1;
                next_kept - 1
            }
        });
    }
    ours.funcs.extend((0..defined).map(|j| kept + j));
    let mut theirs =
        Remap { funcs: (0..lib.funcs.len() as u32).map(|f| lib_base + f).collect(), types: types.len() as u32 };

    let mut module = wasm_encoder::Module::new();
    // Sections are written in order; the type, function and code sections
    // carry the library's part, written even if the main module has none.
    let (mut types_done, mut funcs_done, mut code_done) = (false, false, false);
    let mut code = wasm_encoder::CodeSection::new();
    let lib_types = |module: &mut wasm_encoder::Module,
                     main: Option<wasmparser::TypeSectionReader>,
                     ours: &mut Remap,
                     theirs: &mut Remap|
     -> Result<(), TranslateError> {
        let mut section = wasm_encoder::TypeSection::new();
        if let Some(main) = main {
            reencode::utils::parse_type_section(ours, &mut section, main).map_err(encode_err)?;
        }
        if let Some(lib) = lib.type_section.clone() {
            reencode::utils::parse_type_section(theirs, &mut section, lib).map_err(encode_err)?;
        }
        module.section(&section);
        Ok(())
    };
    let lib_funcs = |module: &mut wasm_encoder::Module,
                     main: Option<wasmparser::FunctionSectionReader>,
                     ours: &mut Remap|
     -> Result<(), TranslateError> {
        let mut section = wasm_encoder::FunctionSection::new();
        if let Some(main) = main {
            reencode::utils::parse_function_section(ours, &mut section, main).map_err(encode_err)?;
        }
        for &t in &lib.funcs {
            section.function(t + types.len() as u32);
        }
        module.section(&section);
        Ok(())
    };
    let mut imported = wasm_encoder::ImportSection::new();
    for payload in Parser::new(0).parse_all(main) {
        let payload = payload?;
        // The library's sections go in before the first section that follows them. A custom
        // section may stand anywhere, between the function and code sections too: it is
        // written where it is and moves nothing (it once made the library's code go out
        // before the main module's, and the linked module's function and code counts differ).
        let order = match &payload {
            Payload::Version { .. } | Payload::CustomSection(_) => 0,
            Payload::TypeSection(_) => 1,
            Payload::ImportSection(_) => 2,
            Payload::FunctionSection(_) => 3,
            Payload::CodeSectionStart { .. } | Payload::CodeSectionEntry(_) => 10,
            Payload::DataSection(_) => 11,
            Payload::End(_) => 12,
            _ => 4,
        };
        if order > 1 && !types_done {
            lib_types(&mut module, None, &mut ours, &mut theirs)?;
            types_done = true;
        }
        if order > 3 && !funcs_done {
            lib_funcs(&mut module, None, &mut ours)?;
            funcs_done = true;
        }
        if order > 10 && !code_done {
            for body in &lib.bodies {
                theirs.parse_function_body(&mut code, body.clone()).map_err(encode_err)?;
            }
            module.section(&code);
            code_done = true;
        }
        match payload {
            Payload::Version { .. } | Payload::End(_) => {}
            Payload::TypeSection(reader) => {
                lib_types(&mut module, Some(reader), &mut ours, &mut theirs)?;
                types_done = true;
            }
            Payload::ImportSection(reader) => {
                let mut i = 0;
                for import in reader.into_imports() {
                    let import = import?;
                    let is_func = matches!(import.ty, TypeRef::Func(_));
                    if !(is_func && resolved[i].is_some()) {
                        reencode::utils::parse_import(&mut ours, &mut imported, import).map_err(encode_err)?;
                    }
                    i += usize::from(is_func);
                }
                module.section(&imported);
            }
            Payload::FunctionSection(reader) => {
                lib_funcs(&mut module, Some(reader), &mut ours)?;
                funcs_done = true;
            }
            Payload::TableSection(r) => {
                let mut s = wasm_encoder::TableSection::new();
                ours.parse_table_section(&mut s, r).map_err(encode_err)?;
                module.section(&s);
            }
            Payload::MemorySection(r) => {
                let mut s = wasm_encoder::MemorySection::new();
                ours.parse_memory_section(&mut s, r).map_err(encode_err)?;
                module.section(&s);
            }
            Payload::GlobalSection(r) => {
                let mut s = wasm_encoder::GlobalSection::new();
                ours.parse_global_section(&mut s, r).map_err(encode_err)?;
                module.section(&s);
            }
            Payload::ExportSection(r) => {
                let mut s = wasm_encoder::ExportSection::new();
                ours.parse_export_section(&mut s, r).map_err(encode_err)?;
                module.section(&s);
            }
            Payload::StartSection { func, .. } => {
                module.section(&wasm_encoder::StartSection {
                    function_index: ours.function_index(func).map_err(encode_err)?,
                });
            }
            Payload::ElementSection(r) => {
                let mut s = wasm_encoder::ElementSection::new();
                ours.parse_element_section(&mut s, r).map_err(encode_err)?;
                module.section(&s);
            }
            Payload::DataCountSection { count, .. } => {
                module.section(&wasm_encoder::DataCountSection { count });
            }
            Payload::CodeSectionStart { .. } => {}
            Payload::CodeSectionEntry(body) => {
                ours.parse_function_body(&mut code, body).map_err(encode_err)?;
            }
            Payload::DataSection(r) => {
                let mut s = wasm_encoder::DataSection::new();
                ours.parse_data_section(&mut s, r).map_err(encode_err)?;
                module.section(&s);
            }
            Payload::CustomSection(c) => ours.parse_custom_section(&mut module, c).map_err(encode_err)?,
            other => {
                let at = other.as_section().map_or(0, |(_, r)| r.start);
                return Err(err(at, "linking: a section this linker does not know"));
            }
        }
    }
    if !code_done {
        for body in &lib.bodies {
            theirs.parse_function_body(&mut code, body.clone()).map_err(encode_err)?;
        }
        module.section(&code);
    }
    Ok(module.finish())
}
