//! `--preload` linking of hostile modules: the input split into a main
//! module and a preloaded one (raw bytes, or wasm-smith modules that
//! import from `lib`). Linking must refuse or give a module that validates
//! and translates (or is refused by the translator), never panic.

#![no_main]
use libfuzzer_sys::fuzz_target;
use manda_wasm::{link, translate, Options, Preload};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let at = (usize::from(split) * rest.len() / 255).min(rest.len());
    let (main, lib) = rest.split_at(at);
    let preload = Preload { name: "lib".into(), wasm: lib.to_vec() };
    if let Ok(linked) = link(main, &[preload]) {
        wasmparser::Validator::new_with_features(manda_wasm::features())
            .validate_all(&linked)
            .expect("a linked module validates");
        let _ = translate(&linked, &Options { instantiate_only: true, ..Default::default() });
    }
});
