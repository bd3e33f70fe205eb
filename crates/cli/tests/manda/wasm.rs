//! The WebAssembly translator through the real `manda` binary: `--invoke`
//! and its output, what is refused and how (located messages, exit
//! statuses), the limits on what a module may cost, traps named as wasm
//! names them, and `memory.grow` under `--max-memory`. Modules are written
//! as WebAssembly text and encoded with the `wast` crate.

mod common;

use manda_wasm::{translate, Options};
use std::path::PathBuf;

use common::wasm;

fn file(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, wasm(text)).unwrap();
    path
}

fn manda(args: &[&str]) -> (i32, String, String) {
    let out = common::manda_command().args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

const CALC: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "wide") (param i64) (result i64 f64 f32)
    (local.get 0) (f64.convert_i64_s (local.get 0)) (f32.const 0.1))
  (func $deep (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (memory 1 4)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))"#;

#[test]
fn invoke_prints_each_result_on_a_line() {
    let m = file("calc.wasm", CALC);
    let m = m.to_str().unwrap();
    assert_eq!(manda(&["run", "--invoke", "add", m, "2147483647", "1"]), (0, "-2147483648\n".into(), "".into()));
    assert_eq!(manda(&["run", "--invoke", "add", m, "4294967295", "-1"]), (0, "-2\n".into(), "".into()));
    assert_eq!(
        manda(&["run", "--invoke", "wide", m, "-9007199254740993"]),
        (0, "-9007199254740993\n-9007199254740992.0\n0.1\n".into(), "".into())
    );
    // The module on its own: `manda wasm` writes the same executable every time.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm");
    let (a, b) = (dir.join("a.mx"), dir.join("b.mx"));
    for out in [&a, &b] {
        let (code, _, err) = manda(&["wasm", m, "-o", out.to_str().unwrap(), "--invoke", "add", "--", "40", "2"]);
        assert_eq!((code, err.as_str()), (0, ""));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(manda(&["run", a.to_str().unwrap()]), (0, "42\n".into(), "".into()));
}

#[test]
fn bad_invocations_are_refused_with_their_reason() {
    let m = file("calc2.wasm", CALC);
    let m = m.to_str().unwrap();
    let (code, _, err) = manda(&["run", "--invoke", "nope", m]);
    assert_eq!((code, err), (1, format!("manda: {m}: no exported function or global `nope`\n")));
    let (code, _, err) = manda(&["run", "--invoke", "add", m, "1"]);
    assert_eq!(
        (code, err),
        (1, format!("manda: {m}: `add` takes 2 arguments ((func (param i32 i32) (result i32))), not 1\n"))
    );
    let (code, _, err) = manda(&["run", "--invoke", "add", m, "1", "x"]);
    assert_eq!((code, err), (1, format!("manda: {m}: `add`: `x` is not an i32\n")));
    let (code, _, err) = manda(&["run", m]);
    assert_eq!(
        (code, err),
        (1, format!("manda: {m}: the module exports no `_start` function: name one to call with --invoke\n"))
    );
    let (code, _, err) = manda(&["run", "--invoke", "add", "../../examples/manda/hello.s"]);
    assert_eq!((code, err.as_str()), (2, "manda: ../../examples/manda/hello.s: --invoke needs a WebAssembly module\n"));
}

#[test]
fn traps_name_the_wasm_trap_and_the_function() {
    let m = file("calc3.wasm", CALC);
    let m = m.to_str().unwrap();
    let (code, out, err) = manda(&["run", "--invoke", "div", m, "1", "0"]);
    assert_eq!((code, out.as_str()), (3, ""));
    assert!(err.starts_with("trap: integer divide by zero at 0x"), "{err}");
    // The name section's name (`$deep`) comes before the export's.
    assert!(err.contains(" <$deep+0x") && err.ends_with("(trap 1) in context 0\n"), "{err}");
    let (code, _, err) = manda(&["run", "--invoke", "div", m, "-2147483648", "-1"]);
    assert_eq!(code, 3);
    assert!(err.starts_with("trap: integer overflow at 0x"), "{err}");
    let (code, _, err) = manda(&["run", "--invoke", "peek", m, "65533"]);
    assert_eq!(code, 3);
    assert!(
        err.starts_with(
            "trap: out of bounds memory access: 4 bytes at heap offset 0xfffd pass the heap's size of 0x10000 at"
        ),
        "{err}"
    );
    assert_eq!(manda(&["run", "--invoke", "peek", m, "65532"]).1, "0\n");
}

#[test]
fn memory_grow_follows_the_module_maximum_and_the_memory_limit() {
    let m = file("calc4.wasm", CALC);
    let m = m.to_str().unwrap();
    assert_eq!(manda(&["run", "--invoke", "grow", m, "3"]).1, "1\n");
    assert_eq!(manda(&["run", "--invoke", "grow", m, "4"]).1, "-1\n", "past the module's maximum of 4 pages");
    // 3 more pages (192 KiB) pass a limit that the image, the stack and one page fit in.
    assert_eq!(manda(&["run", "--max-memory", "1200K", "--invoke", "grow", m, "3"]).1, "-1\n");
    assert_eq!(manda(&["run", "--max-memory", "1200K", "--invoke", "grow", m, "1"]).1, "1\n");
}

fn refused(text: &str) -> String {
    translate(&wasm(text), &Options::default()).expect_err("refused").to_string()
}

#[test]
fn unsupported_features_and_imports_are_refused_where_they_are() {
    assert_eq!(
        refused(r#"(module (memory 1 1 shared))"#),
        "offset 11 (0xb): threads must be enabled for shared memories"
    );
    assert_eq!(refused(r#"(module (tag))"#), "offset 16 (0x10): exceptions proposal not enabled");
    assert_eq!(
        refused(r#"(module (import "env" "f" (func)))"#),
        "offset 17 (0x11): import `env.f` is not supported (see docs/manda/wasm.md for the wasi_snapshot_preview1 and \
         manda functions there are)"
    );
    assert_eq!(
        refused(r#"(module (import "env" "memory" (memory 1)))"#),
        "offset 11 (0xb): import `env.memory`: only functions can be imported"
    );
    assert_eq!(
        refused(r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))))"#),
        "offset 18 (0x12): import `wasi_snapshot_preview1.fd_write` has the type (func (param i32)); the host function's \
         is (func (param i32 i32 i32 i32) (result i32))"
    );
}

/// Reference types and the table half of bulk memory, through the CLI:
/// tables of functions and of `externref`, grown, written, filled, copied
/// and initialised from a passive segment, and the calls through them.
#[test]
fn tables_are_grown_written_copied_and_called_through() {
    let module = r#"(module
      (type $number (func (result i32)))
      (table $a 2 funcref)
      (table $b 0 10 funcref)
      (table $ext 1 externref)
      (elem $passive func $one $two $three)
      (elem (table $a) (i32.const 0) func $three)
      (elem declare func $four)
      (func $one (result i32) (i32.const 1))
      (func $two (result i32) (i32.const 2))
      (func $three (result i32) (i32.const 3))
      (func $four (result i32) (i32.const 4))
      (func (export "run") (result i32 i32 i32 i32 i32 i32 i32 i32)
        (table.grow $b (ref.func $two) (i32.const 4))
        (call_indirect $b (type $number) (i32.const 3))
        (table.init $b $passive (i32.const 1) (i32.const 0) (i32.const 2))
        (call_indirect $b (type $number) (i32.const 1))
        (table.copy $b $a (i32.const 2) (i32.const 0) (i32.const 1))
        (call_indirect $b (type $number) (i32.const 2))
        (table.fill $b (i32.const 0) (ref.func $four) (i32.const 1))
        (call_indirect $b (type $number) (i32.const 0))
        (table.size $b)
        (ref.is_null (table.get $ext (i32.const 0)))
        (table.grow $b (ref.null func) (i32.const 7)))
      (func (export "dropped") (result i32)
        (elem.drop $passive)
        (table.init $b $passive (i32.const 0) (i32.const 0) (i32.const 0))
        (table.init $b $passive (i32.const 0) (i32.const 0) (i32.const 1))
        (i32.const 0))
      (func (export "null") (result i32)
        (call_indirect $a (type $number) (i32.const 1))))"#;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tables.wasm");
    std::fs::write(&path, wasm(module)).unwrap();
    let path = path.to_str().unwrap();
    let (code, out, err) = manda(&["run", "--invoke", "run", path]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "0\n2\n1\n3\n4\n4\n1\n-1\n", ""));
    let (code, out, err) = manda(&["run", "--invoke", "dropped", path]);
    assert_eq!((code, out.as_str()), (3, ""));
    assert!(err.starts_with("trap: out of bounds table access at "), "{err}");
    let (code, out, err) = manda(&["run", "--invoke", "null", path]);
    assert_eq!((code, out.as_str()), (3, ""));
    assert!(err.starts_with("trap: uninitialized element at "), "{err}");
}

/// Tail calls reuse the caller's frame: ten million of them, direct and
/// through a table, run under a call depth of 8, and the results come back
/// to the first caller's caller.
#[test]
fn tail_calls_run_in_constant_stack() {
    let module = r#"(module
      (type $step (func (param i64 i64) (result i64)))
      (table 2 funcref)
      (elem (i32.const 0) $even $odd)
      (func $count (param $n i64) (param $acc i64) (result i64)
        (if (result i64) (i64.eqz (local.get $n))
          (then (local.get $acc))
          (else (return_call $count (i64.sub (local.get $n) (i64.const 1)) (i64.add (local.get $acc) (i64.const 3))))))
      (func $even (param $n i64) (param $evens i64) (result i64)
        (if (result i64) (i64.eqz (local.get $n))
          (then (local.get $evens))
          (else (return_call_indirect (type $step)
            (i64.sub (local.get $n) (i64.const 1)) (i64.add (local.get $evens) (i64.const 1)) (i32.const 1)))))
      (func $odd (param $n i64) (param $evens i64) (result i64)
        (if (result i64) (i64.eqz (local.get $n))
          (then (local.get $evens))
          (else (return_call_indirect (type $step)
            (i64.sub (local.get $n) (i64.const 1)) (local.get $evens) (i32.const 0)))))
      (func (export "count") (param i64) (result i64) (call $count (local.get 0) (i64.const 0)))
      (func (export "evens") (param i64) (result i64 i64)
        (call $even (local.get 0) (i64.const 0))
        (call $count (i64.const 2) (i64.const 1))))"#;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tail.wasm");
    std::fs::write(&path, wasm(module)).unwrap();
    let path = path.to_str().unwrap();
    let depth = ["run", "--max-call-depth", "8", "--invoke"];
    assert_eq!(manda(&[&depth[..], &["count", path, "10000000"]].concat()), (0, "30000000\n".into(), String::new()));
    assert_eq!(manda(&[&depth[..], &["evens", path, "1000001"]].concat()), (0, "500001\n7\n".into(), String::new()));
}

/// `--invoke` of an exported global prints its value.
#[test]
fn an_exported_global_is_read_by_invoke() {
    let module = r#"(module
      (global $count (export "count") (mut i32) (i32.const 7))
      (global (export "half") f64 (f64.const 2.5))
      (func (export "_start") (global.set $count (i32.const 8))))"#;
    let m = file("globals.wasm", module);
    let m = m.to_str().unwrap();
    assert_eq!(manda(&["run", "--invoke", "count", m]), (0, "7\n".into(), String::new()));
    assert_eq!(manda(&["run", "--invoke", "half", m]), (0, "2.5\n".into(), String::new()));
    let (code, _, err) = manda(&["run", "--invoke", "count", m, "1"]);
    assert_eq!((code, err), (1, format!("manda: {m}: `count` is a global: it takes no arguments\n")));
}

#[test]
fn vectors_are_passed_and_printed_as_hex() {
    let module = r#"(module
      (global (export "lanes") v128 (v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15))
      (func (export "add") (param v128 v128) (result v128 i32)
        (i32x4.add (local.get 0) (local.get 1))
        (i32x4.extract_lane 3 (local.get 0))))"#;
    let m = file("vectors.wasm", module);
    let m = m.to_str().unwrap();
    // Most significant digit first, as a 128-bit number reads: lane 3 (1) is the top.
    assert_eq!(
        manda(&["run", "--invoke", "add", m, "0x00000001000000020000000300000004", "16"]),
        (0, "0x00000001000000020000000300000014\n1\n".into(), String::new())
    );
    assert_eq!(manda(&["run", "--invoke", "lanes", m]).1, "0x0f0e0d0c0b0a09080706050403020100\n");
    let (code, _, err) = manda(&["run", "--invoke", "add", m, "0x1g", "0"]);
    assert_eq!(
        (code, err),
        (1, format!("manda: {m}: `add`: `0x1g` is not a v128 (a 128-bit integer, or 0x and up to 32 hex digits)\n"))
    );
}

#[test]
fn what_a_module_may_cost_is_bounded() {
    // A table of 2^21 entries is a few bytes of module and 16 MiB of executable; so are two of 2^20.
    assert_eq!(
        refused(r#"(module (table 2097152 funcref))"#),
        "offset 11 (0xb): tables of 2097152 entries in all: at most 1048576 are supported"
    );
    assert_eq!(
        refused(r#"(module (table 1048576 funcref) (table 1 externref))"#),
        "offset 16 (0x10): tables of 1048577 entries in all: at most 1048576 are supported"
    );
    // 100 functions of 50,000 locals each: 5,000,000 zeroing instructions from a module of 800 bytes.
    let message = translate(&common::many_locals(100, 50_000), &Options::default()).unwrap_err().to_string();
    assert!(message.ends_with("more than 4194304 locals in all the module's functions together"), "{message}");
    // One function past 50,000 locals: the validator's own limit.
    let message = translate(&common::many_locals(1, 50_001), &Options::default()).unwrap_err().to_string();
    assert_eq!(message, "offset 31 (0x1f): too many locals: locals exceed maximum");
}

/// `bench/peers/wasm/hand.wasm`, which the README runs and the benchmarks
/// time, is its text `hand.wat` encoded (`BLESS=1` re-records it).
#[test]
fn the_committed_hand_wasm_is_its_text_encoded_and_invokes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/peers/wasm");
    let encoded = wasm(&std::fs::read_to_string(dir.join("hand.wat")).unwrap());
    let module = dir.join("hand.wasm");
    if test_support::bless() {
        std::fs::write(&module, &encoded).unwrap();
    }
    assert!(std::fs::read(&module).unwrap() == encoded, "{} differs from hand.wat (BLESS=1)", module.display());
    let module = module.to_str().unwrap();
    assert_eq!(manda(&["run", "--invoke", "fib", module, "25"]), (0, "75025\n".into(), "".into()));
    assert_eq!(manda(&["run", "--invoke", "loop", module, "1000"]), (0, "499500\n".into(), "".into()));
}

/// Found by an adversary: 973 bytes of module (85 functions of 49,000
/// locals) made 300 MB of decoded code, outside `--max-memory`; a 64M VM
/// held 655 MB. The decoded code is charged now, and refused before it is
/// made when it cannot fit: by the loader, where the file and what it
/// decodes into pass the limit, or by the machine, where they fit but not
/// beside the image and stack.
#[test]
fn decoded_code_counts_against_the_memory_limit() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm");
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("many_locals.wasm");
    std::fs::write(&module, common::many_locals(5, 49_000)).unwrap();
    let exe = dir.join("many_locals.mx");
    let (e, m) = (exe.to_str().unwrap(), module.to_str().unwrap());
    assert_eq!(manda(&["wasm", "--invoke", "f0", "-o", e, m]), (0, "".into(), "".into()));
    let (code, out, err) = manda(&["run", "--max-memory", "4M", e]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.starts_with(&format!("manda: {e}: offset ")), "{err}");
    assert!(
        err.ends_with(": the file and its decoded code need more than the memory limit of 4194304 bytes\n"),
        "{err}"
    );
    let (code, out, err) = manda(&["run", "--max-memory", "8M", e]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.starts_with(&format!("manda: {e}: the program's decoded code needs ")), "{err}");
    assert!(err.ends_with(" left of the limit of 8388608 beside its image and stack\n"), "{err}");
    assert_eq!(manda(&["run", "--max-memory", "256M", e]), (0, "".into(), "".into()));
    assert_eq!(manda(&["run", "--max-memory", "256M", "--invoke", "f0", m]), (0, "".into(), "".into()));
}

/// The memory half of bulk memory: a passive segment copied in with
/// `memory.init`, an active one copied at start and dropped by it, and a
/// dropped segment that still takes a copy of nothing but traps on one byte,
/// before writing it, as wasm says.
#[test]
fn passive_data_segments_are_copied_by_memory_init_until_dropped() {
    let module = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data $greeting "hello, passive\n")
      (data $active (i32.const 200) "active\n")
      (func $print (param $at i32) (param $len i32)
        (i32.store (i32.const 0) (local.get $at))
        (i32.store (i32.const 4) (local.get $len))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
      (func (export "_start")
        (memory.init $greeting (i32.const 100) (i32.const 7) (i32.const 8))
        (call $print (i32.const 100) (i32.const 8))
        (memory.init $greeting (i32.const 100) (i32.const 0) (i32.const 15))
        (call $print (i32.const 100) (i32.const 15))
        (call $print (i32.const 200) (i32.const 7))
        ;; Active segments are dropped once instantiation has copied them.
        (memory.init $active (i32.const 300) (i32.const 0) (i32.const 0))
        (data.drop $greeting)
        (memory.init $greeting (i32.const 100) (i32.const 0) (i32.const 0))
        (memory.init $greeting (i32.const 100) (i32.const 0) (i32.const 1))))"#;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("passive.wasm");
    std::fs::write(&path, wasm(module)).unwrap();
    let (code, out, err) = manda(&["run", path.to_str().unwrap()]);
    assert_eq!(out, "passive\nhello, passive\nactive\n");
    assert!(err.starts_with("trap: out of bounds memory access at "), "{err}");
    assert_eq!(code, 3);
    // Past the segment's end, and past the memory's: both trap before a byte is written.
    for (d, s, n) in [(100, 10, 6), (65530, 0, 7), (65537, 0, 0)] {
        let module = format!(
            r#"(module (memory 1) (data $d "0123456789abcde")
              (func (export "f") (result i32)
                (memory.init $d (i32.const {d}) (i32.const {s}) (i32.const {n})) (i32.const 1)))"#
        );
        std::fs::write(&path, wasm(&module)).unwrap();
        let (code, out, err) = manda(&["run", "--invoke", "f", path.to_str().unwrap()]);
        assert_eq!((code, out.as_str()), (3, ""), "memory.init {d} {s} {n}: {err}");
        // The segment's bound is the translator's check, the memory's `hput`'s (which says more).
        let trap =
            if d + n > 65536 { "trap: out of bounds memory access: " } else { "trap: out of bounds memory access at " };
        assert!(err.starts_with(trap), "memory.init {d} {s} {n}: {err}");
    }
}
