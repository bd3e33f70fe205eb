//! `manda run --preload`, `manda link` and the translation cache, through
//! the real `manda` binary.

mod common;

use common::wasm;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("linking-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn file(name: &str, text: &str) -> PathBuf {
    let path = scratch(name);
    std::fs::write(&path, wasm(text)).unwrap();
    path
}

fn text(out: &Output) -> (Option<i32>, String, String) {
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A library of functions: `twice`, calling a helper of its own, and `greet`.
const LIBRARY: &str = r#"(module
  (func $helper (param i32) (result i32) (i32.add (local.get 0) (local.get 0)))
  (func (export "twice") (param i32) (result i32) (call $helper (local.get 0)))
  (func (export "seven") (result i64) (i64.const 7)))"#;

/// A program importing from it (and from WASI), with functions of its own after the imports.
const PROGRAM: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "lib" "twice" (func $twice (param i32) (result i32)))
  (import "lib" "seven" (func $seven (result i64)))
  (func $plus_one (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "compute") (param i32) (result i32 i64)
    (call $plus_one (call $twice (local.get 0))) (call $seven))
  (func (export "_start") (call $exit (call $twice (i32.const 21)))))"#;

#[test]
fn a_preloaded_modules_functions_are_the_imports_of_its_name() {
    let (lib, prog) = (file("lib.wasm", LIBRARY), file("prog.wasm", PROGRAM));
    let preload = format!("lib={}", lib.display());
    let out = common::manda_command()
        .args(["run", "--preload", &preload, "--invoke", "compute"])
        .arg(&prog)
        .arg("20")
        .output()
        .unwrap();
    assert_eq!(text(&out), (Some(0), "41\n7\n".into(), String::new()));
    let out = common::manda_command().args(["run", "--preload", &preload]).arg(&prog).output().unwrap();
    assert_eq!(out.status.code(), Some(42), "_start exits with twice(21)");
    // `manda link` writes the same program as one module, for any runtime.
    let linked = scratch("linked.wasm");
    let out = common::manda_command()
        .args(["link", "--preload", &preload])
        .arg(&prog)
        .arg("-o")
        .arg(&linked)
        .output()
        .unwrap();
    assert_eq!(text(&out), (Some(0), String::new(), String::new()));
    let out = common::manda_command().args(["run", "--invoke", "compute"]).arg(&linked).arg("5").output().unwrap();
    assert_eq!(text(&out), (Some(0), "11\n7\n".into(), String::new()));
}

#[test]
fn what_cannot_be_linked_is_refused_with_its_reason() {
    let prog = file("prog2.wasm", PROGRAM);
    let cases = [
        (r#"(module (func (export "twice") (param i32) (result i32) (local.get 0)))"#,
         "import `lib.seven`: the preloaded module `lib` exports no function `seven`"),
        (r#"(module (func (export "twice") (param i64) (result i32) (i32.const 0)) (func (export "seven") (result i64) (i64.const 7)))"#,
         "import `lib.twice` has the type (func (param i32) (result i32)); the preloaded module's function has (func (param i64) (result i32))"),
        (r#"(module (import "env" "m" (memory 1)) (func (export "twice") (param i32) (result i32) (local.get 0)))"#,
         "prog2.wasm: preloaded module `lib`, offset 19 (0x13): it imports a memory `env.m`; a preloaded module may import only functions (which become the program's imports)"),
    ];
    for (i, (library, message)) in cases.iter().enumerate() {
        let lib = file(&format!("bad{i}.wasm"), library);
        let out = common::manda_command()
            .args(["run", "--preload"])
            .arg(format!("lib={}", lib.display()))
            .arg(&prog)
            .output()
            .unwrap();
        let (status, stdout, stderr) = text(&out);
        assert_eq!((status, stdout.as_str()), (Some(1), ""), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    let out = common::manda_command().args(["run", "--preload", "nonsense"]).arg(&prog).output().unwrap();
    assert_eq!(text(&out), (Some(1), String::new(), "manda: --preload nonsense: expected NAME=MODULE.wasm\n".into()));
}

/// A library that owns the memory, a global, a table, data and element
/// segments and a start function.
const STATEFUL_LIBRARY: &str = r#"(module
  (memory (export "memory") 1)
  (global $counter (export "counter") (mut i32) (i32.const 0))
  (table (export "table") 2 funcref)
  (elem (i32.const 0) $forty)
  (data (i32.const 16) "from the library\n")
  (func $forty (result i32) (i32.const 40))
  (func $init (global.set $counter (i32.const 100)))
  (start $init)
  (func (export "bump") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter)))"#;

/// A program that imports them all and adds its own element segment and start.
const STATEFUL_PROGRAM: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "lib" "memory" (memory 1))
  (import "lib" "counter" (global $counter (mut i32)))
  (import "lib" "table" (table 2 funcref))
  (import "lib" "bump" (func $bump (result i32)))
  (type $number (func (result i32)))
  (elem (i32.const 1) $two)
  (func $two (result i32) (i32.const 2))
  (func $start (global.set $counter (i32.add (global.get $counter) (i32.const 5))))
  (start $start)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 17))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "compute") (result i32 i32 i32)
    (call $bump)
    (global.get $counter)
    (i32.add (call_indirect (type $number) (i32.const 0)) (call_indirect (type $number) (i32.const 1)))))"#;

/// A library's memory, globals and table are the program's imports of
/// them: one memory (the library's data in it), one global both change
/// (the library's start first, then the program's), one table both fill.
#[test]
fn a_preloaded_modules_memory_globals_and_table_are_shared() {
    let (lib, prog) = (file("stateful-lib.wasm", STATEFUL_LIBRARY), file("stateful.wasm", STATEFUL_PROGRAM));
    let preload = format!("lib={}", lib.display());
    let out = common::manda_command().args(["run", "--preload", &preload]).arg(&prog).output().unwrap();
    assert_eq!(text(&out), (Some(0), "from the library\n".into(), String::new()));
    let out = common::manda_command()
        .args(["run", "--preload", &preload, "--invoke", "compute"])
        .arg(&prog)
        .output()
        .unwrap();
    assert_eq!(text(&out), (Some(0), "106\n106\n42\n".into(), String::new()));
    // Two memories are one too many; a limit the library's memory does not meet is refused.
    let cases = [
        (STATEFUL_PROGRAM.replace(r#"(import "lib" "memory" (memory 1))"#, "").replacen("(type $number", "(memory 1) (type $number", 1),
         "the main module and the preloaded module `lib` each have a memory; a program has one (import the library's memory instead of defining another)"),
        (STATEFUL_PROGRAM.replace(r#"(import "lib" "memory" (memory 1))"#, r#"(import "lib" "memory" (memory 2))"#),
         "import `lib.memory` has the type (memory 2); the preloaded module's memory has (memory 1)"),
        (STATEFUL_PROGRAM.replace("(mut i32)", "i32").replace("(global.set $counter (i32.add (global.get $counter) (i32.const 5)))", ""),
         "import `lib.counter` has the type (global i32); the preloaded module's global has (global (mut i32))"),
        (STATEFUL_PROGRAM.replace(r#"(import "lib" "table" (table 2 funcref))"#, r#"(import "lib" "table" (table 3 funcref))"#),
         "import `lib.table` has the type (table 3 funcref); the preloaded module's table has (table 2 funcref)"),
    ];
    for (i, (program, message)) in cases.iter().enumerate() {
        let prog = file(&format!("stateful-bad{i}.wasm"), program);
        let out = common::manda_command().args(["run", "--preload", &preload]).arg(&prog).output().unwrap();
        let (status, stdout, stderr) = text(&out);
        assert_eq!((status, stdout.as_str()), (Some(1), ""), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        if i == 0 {
            // Two modules' memories are no place in either: no offset (it said `offset 0 (0x0)`).
            assert_eq!(stderr, format!("manda: {}: {message}\n", prog.display()));
        }
    }
}

/// A global of the main module may be initialised from one it imports; once
/// linked, that one is defined, which a constant expression may not read,
/// so its initializer takes the library's global's own (found by the
/// `wasm_link` fuzz target: the linked module did not validate).
#[test]
fn a_global_initialised_from_an_imported_one_links() {
    let lib = file(
        "globals-lib.wasm",
        r#"(module (global (export "base") i32 (i32.const 40)) (global (export "step") (mut i32) (i32.const 1)))"#,
    );
    let prog = file(
        "globals.wasm",
        r#"(module
          (import "lib" "base" (global $base i32))
          (import "lib" "step" (global $step (mut i32)))
          (global $answer i32 (i32.add (global.get $base) (i32.const 2)))
          (func (export "answer") (result i32 i32) (global.get $answer) (global.get $step)))"#,
    );
    let out = common::manda_command()
        .args(["run", "--preload", &format!("lib={}", lib.display()), "--invoke", "answer"])
        .arg(&prog)
        .output()
        .unwrap();
    assert_eq!(text(&out), (Some(0), "42\n1\n".into(), String::new()));
}

/// A library may call the host: the functions it imports (WASI here, one
/// of them exported again) become imports of the linked program, and a
/// later `--preload` may give the ones it imports from another library.
#[test]
fn a_preloaded_modules_own_imports_become_the_programs() {
    let printer = file(
        "printer.wasm",
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
          (import "numbers" "next" (func $next (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "line 0\n")
          (export "write" (func $write))
          (func (export "line")
            (i32.store8 (i32.const 21) (i32.add (i32.const 48) (call $next)))
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 7))
            (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    );
    let numbers = file(
        "numbers.wasm",
        r#"(module (global $n (mut i32) (i32.const 0))
          (func (export "next") (result i32) (global.set $n (i32.add (global.get $n) (i32.const 1))) (global.get $n)))"#,
    );
    let prog = file(
        "printing.wasm",
        r#"(module
          (import "printer" "line" (func $line))
          (import "printer" "write" (func $write (param i32 i32 i32 i32) (result i32)))
          (import "printer" "memory" (memory 1))
          (func (export "_start")
            (call $line) (call $line)
            (i32.store (i32.const 8) (i32.const 16))
            (i32.store (i32.const 12) (i32.const 5))
            (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 8)))))"#,
    );
    let out = common::manda_command()
        .args(["run", "--preload", &format!("printer={}", printer.display())])
        .args(["--preload", &format!("numbers={}", numbers.display())])
        .arg(&prog)
        .output()
        .unwrap();
    assert_eq!(text(&out), (Some(0), "line 1\nline 2\nline ".into(), String::new()));
}

/// `manda run` of a module with the translation cache in `cache`.
fn run_cached(cache: &Path, module: &Path) -> (Option<i32>, String, String) {
    text(
        &common::manda_command()
            .env("MANDA_CACHE_DIR", cache)
            .args(["run", "--invoke", "compute"])
            .arg(module)
            .arg("1")
            .output()
            .unwrap(),
    )
}

const ALONE: &str =
    r#"(module (func (export "compute") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))"#;

#[test]
fn a_module_is_translated_once_and_a_bad_or_unsafe_cache_is_not_trusted() {
    let module = file("alone.wasm", ALONE);
    let cache = scratch("cache");
    let _ = std::fs::remove_dir_all(&cache);
    assert_eq!(run_cached(&cache, &module), (Some(0), "3\n".into(), String::new()));
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "one entry: {entries:?}");
    let entry = &entries[0];
    assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(entry).unwrap().permissions().mode() & 0o777, 0o600);
    let translated = std::fs::read(entry).unwrap();
    // The second run takes the entry: a different (valid) program planted there is what runs, which is why
    // the directory must be this user's alone.
    let other = file("other.wasm", r#"(module (func (export "compute") (param i32) (result i32) (i32.const 99)))"#);
    let other_cache = scratch("other-cache");
    run_cached(&other_cache, &other);
    let planted = std::fs::read_dir(&other_cache).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&planted, entry).unwrap();
    assert_eq!(run_cached(&cache, &module).1, "99\n", "the entry is used");
    // An entry that does not decode is translated again and replaced.
    std::fs::write(entry, b"not an executable").unwrap();
    assert_eq!(run_cached(&cache, &module), (Some(0), "3\n".into(), String::new()));
    assert_eq!(std::fs::read(entry).unwrap(), translated);
    // A directory others may write is not used at all.
    std::fs::copy(&planted, entry).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(run_cached(&cache, &module).1, "3\n", "a world-writable cache is ignored");
    // And an empty MANDA_CACHE_DIR turns the cache off.
    let out = common::manda_command()
        .env("MANDA_CACHE_DIR", "")
        .args(["run", "--invoke", "compute"])
        .arg(&module)
        .arg("2")
        .output()
        .unwrap();
    assert_eq!(text(&out).1, "6\n");
}

/// The cache is looked up by the module's contents, hashed as the file is
/// read: the same path with other contents is another entry, and a module
/// that comes through a pipe is read once, by the run (hashing it first would
/// have consumed it), and still finds its entry.
#[test]
fn the_cache_follows_the_contents_and_a_piped_module_is_read_once() {
    let cache = scratch("cache-contents");
    let _ = std::fs::remove_dir_all(&cache);
    let module = scratch("changing.wasm");
    std::fs::write(&module, wasm(ALONE)).unwrap();
    assert_eq!(run_cached(&cache, &module).1, "3\n");
    std::fs::write(&module, wasm(&ALONE.replace("i32.const 3", "i32.const 5"))).unwrap();
    assert_eq!(run_cached(&cache, &module).1, "5\n");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2, "one entry per contents");
    // A FIFO named .wasm: its writer gives the module once.
    let fifo = scratch("piped.wasm");
    let _ = std::fs::remove_file(&fifo);
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `path` is a NUL-terminated path this test owns.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    for _ in 0..2 {
        let writer = {
            let (fifo, bytes) = (fifo.clone(), wasm(ALONE));
            std::thread::spawn(move || std::fs::write(fifo, bytes))
        };
        let mut child = common::manda_command()
            .env("MANDA_CACHE_DIR", &cache)
            .args(["run", "--invoke", "compute"])
            .arg(&fifo)
            .arg("1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Had the module been consumed before the run read it, the run would wait for ever: fail instead.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the run did not end: the FIFO's module was consumed before the run read it");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(text(&out), (Some(0), "3\n".into(), String::new()));
        writer.join().unwrap().unwrap();
    }
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2, "the piped module found the entry of its contents");
}

/// `bench/sightglass/bench.wasm`, which the README and `bench/sightglass.py`
/// preload, is its text `bench.wat` encoded (`BLESS=1` re-records it), and
/// gives a Sightglass-style program its `bench.start` and `bench.end`.
#[test]
fn the_committed_sightglass_bench_module_is_its_text_encoded_and_links() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/sightglass");
    let encoded = wasm(&std::fs::read_to_string(dir.join("bench.wat")).unwrap());
    let module = dir.join("bench.wasm");
    if test_support::bless() {
        std::fs::write(&module, &encoded).unwrap();
    }
    assert!(std::fs::read(&module).unwrap() == encoded, "{} differs from bench.wat (BLESS=1)", module.display());
    let program = file(
        "sightglass_style.wasm",
        r#"(module
          (import "bench" "start" (func $start))
          (import "bench" "end" (func $end))
          (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "measured\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 9))
            (call $start)
            (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (call $end)))"#,
    );
    let out = common::manda_command()
        .args(["run", "--preload"])
        .arg(format!("bench={}", module.display()))
        .arg(&program)
        .output()
        .unwrap();
    assert_eq!(text(&out), (Some(0), "measured\n".into(), String::new()));
}

/// Found by the `wasm_link` fuzz target: a custom section between the
/// function and code sections made the linker write the library's code
/// before the main module's, and the linked module did not validate.
#[test]
fn a_custom_section_between_the_function_and_code_sections_links() {
    // (module (import "lib" "start" (func)) (func (export "_start") (call 0))), with a custom section
    // `f` between its function and code sections, as bytes: the text format cannot place one there.
    let mut main = b"\0asm\x01\0\0\0".to_vec();
    main.extend([1, 4, 1, 0x60, 0, 0]); // types: () -> ()
    main.extend([2, 13, 1, 3, b'l', b'i', b'b', 5, b's', b't', b'a', b'r', b't', 0, 0]); // import lib.start
    main.extend([3, 2, 1, 0]); // one function
    main.extend([7, 10, 1, 6, b'_', b's', b't', b'a', b'r', b't', 0, 1]); // export _start
    main.extend([0, 5, 1, b'f', 0, 1, 2]); // custom section `f`
    main.extend([10, 6, 1, 4, 0, 0x10, 0, 0x0B]); // code: call 0
    let prog = scratch("custom_section.wasm");
    std::fs::write(&prog, main).unwrap();
    let lib = file("custom_lib.wasm", r#"(module (func (export "start")))"#);
    let linked = scratch("custom_linked.wasm");
    let out = common::manda_command()
        .args(["link", "--preload"])
        .arg(format!("lib={}", lib.display()))
        .arg(&prog)
        .arg("-o")
        .arg(&linked)
        .output()
        .unwrap();
    assert_eq!(text(&out), (Some(0), String::new(), String::new()));
    // It validates (translation validates first) and runs.
    let out = common::manda_command().arg("run").arg(&linked).output().unwrap();
    assert_eq!(text(&out), (Some(0), String::new(), String::new()));
}
