//! `--preload` linking of hostile modules: the input split into a main
//! module and a preloaded one named `lib` — raw bytes (first byte even), or
//! (odd) a wasm-smith library exporting everything and a wasm-smith main
//! module importing any of it (functions, globals, tables, the memory).
//! Linking must refuse or give a module that validates and translates (or
//! is refused by the translator), never panic; generated modules that fit
//! together must link, unless both have a memory.

#![no_main]
use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use manda_wasm::{link, translate, Options, Preload};
use wasm_encoder::{EntityType, ImportSection, Module, TypeSection};
use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

/// A module that only imports, from `lib`, every export of `lib` with its
/// type: what wasm-smith may choose the main module's imports from.
fn imports_of(lib: &[u8]) -> Vec<u8> {
    let (mut types, mut globals, mut tables, mut memories, mut funcs) = (vec![], vec![], vec![], vec![], vec![]);
    let mut exports = vec![];
    for payload in Parser::new(0).parse_all(lib) {
        match payload.expect("wasm-smith's module parses") {
            Payload::TypeSection(r) => types.extend(r.into_iter_err_on_gc_types().map(|t| t.unwrap())),
            Payload::FunctionSection(r) => funcs.extend(r.into_iter().map(|f| f.unwrap())),
            Payload::TableSection(r) => tables.extend(r.into_iter().map(|t| t.unwrap().ty)),
            Payload::MemorySection(r) => memories.extend(r.into_iter().map(|m| m.unwrap())),
            Payload::GlobalSection(r) => globals.extend(r.into_iter().map(|g| g.unwrap().ty)),
            Payload::ExportSection(r) => exports.extend(r.into_iter().map(|e| e.unwrap())),
            _ => {}
        }
    }
    let mut type_section = TypeSection::new();
    for t in &types {
        type_section.ty().function(
            t.params().iter().map(|&p| wasm_encoder::ValType::try_from(p).unwrap()),
            t.results().iter().map(|&r| wasm_encoder::ValType::try_from(r).unwrap()),
        );
    }
    let mut imports = ImportSection::new();
    for e in exports {
        let i = e.index as usize;
        let ty: EntityType = match e.kind {
            ExternalKind::Func => EntityType::Function(funcs[i]),
            ExternalKind::Global => EntityType::Global(globals[i].try_into().unwrap()),
            ExternalKind::Table => EntityType::Table(tables[i].try_into().unwrap()),
            ExternalKind::Memory => EntityType::Memory(memories[i].into()),
            _ => continue,
        };
        imports.import("lib", e.name, ty);
    }
    let mut module = Module::new();
    module.section(&type_section);
    module.section(&imports);
    module.finish()
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let (main, lib) = if split & 1 == 0 {
        let at = (usize::from(split) * rest.len() / 255).min(rest.len());
        let (main, lib) = rest.split_at(at);
        (main.to_vec(), lib.to_vec())
    } else {
        let mut u = Unstructured::new(rest);
        let base = mova_manda_fuzz::translatable_modules();
        let lib_config = wasm_smith::Config { export_everything: true, ..base.clone() };
        let Ok(lib) = wasm_smith::Module::new(lib_config, &mut u) else { return };
        let lib = lib.to_bytes();
        let main_config = wasm_smith::Config { available_imports: Some(imports_of(&lib)), max_imports: 16, ..base };
        let Ok(main) = wasm_smith::Module::new(main_config, &mut u) else { return };
        (main.to_bytes(), lib)
    };
    let generated = split & 1 == 1;
    let preload = Preload { name: "lib".into(), wasm: lib.clone() };
    match link(&main, &[preload]) {
        Ok(linked) => {
            wasmparser::Validator::new_with_features(manda_wasm::features())
                .validate_all(&linked)
                .expect("a linked module validates");
            let _ = translate(&linked, &Options { instantiate_only: true, ..Default::default() });
        }
        Err(e) if generated => {
            let imports_memory = Parser::new(0).parse_all(&main).any(|p| match p {
                Ok(Payload::ImportSection(r)) => r.into_imports().flatten().any(|i| matches!(i.ty, TypeRef::Memory(_))),
                _ => false,
            });
            assert!(
                e.message.contains("each have a memory") && !imports_memory,
                "modules made to fit were not linked: {e}"
            );
        }
        Err(_) => {}
    }
});
