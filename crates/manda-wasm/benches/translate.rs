//! Translation speed: `manda_wasm::translate` on each module named in
//! `WASM_MODULES` (paths separated by `:`), in process, repeated for about a
//! second each; prints MB of wasm translated per second. `bench/wasm.py`
//! builds the modules and runs this (benchmarks only, never CI).

use manda_wasm::{translate, Options};
use std::time::{Duration, Instant};

fn main() {
    let list = std::env::var("WASM_MODULES").unwrap_or_default();
    println!("| module | size (KB) | translated (ms) | MB/s |");
    println!("|---|---|---|---|");
    for path in list.split(':').filter(|p| !p.is_empty()) {
        let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let options = Options { instantiate_only: true, ..Default::default() };
        translate(&wasm, &options).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (mut runs, start) = (0u32, Instant::now());
        while runs < 3 || start.elapsed() < Duration::from_secs(1) {
            std::hint::black_box(translate(&wasm, &options).unwrap());
            runs += 1;
        }
        let each = start.elapsed().as_secs_f64() / f64::from(runs);
        let name = std::path::Path::new(path).file_name().unwrap().to_string_lossy();
        println!(
            "| {name} | {:.0} | {:.2} | {:.0} |",
            wasm.len() as f64 / 1e3,
            each * 1e3,
            wasm.len() as f64 / 1e6 / each
        );
    }
}
