//! Output reaches its reader while the program runs: through a pipe, what
//! a program writes arrives within milliseconds, not when 64 KiB have
//! piled up or the program ends. Found as a user would: a program that
//! printed a line every millisecond (and called `fflush`) showed nothing
//! through `| reader` until it had written 64 KiB or exited.
//!
//! Each program writes one line, then computes forever: the test reads the
//! line while the process still runs, then kills it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

/// Runs `manda run FILE` with stdout piped; its first line, read while it still runs.
fn first_line_while_running(file: &std::path::Path) -> String {
    let mut child =
        common::manda_command().arg("run").arg(file).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    // The program never ends: without the output reaching the pipe, this waits in vain.
    let line = rx.recv_timeout(Duration::from_secs(30));
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("the line reached the pipe while the program ran");
    assert!(running, "the program ended before its line arrived: {line:?}");
    line
}

fn file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("output");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn printed_numbers_reach_a_pipe_while_the_program_computes() {
    let program = file("printi.s", b".code\nmain:\n    li t0, 7\n    printi t0\nspin:\n    jmp spin\n");
    assert_eq!(first_line_while_running(&program), "7\n");
}

#[test]
fn a_write_reaches_a_pipe_while_the_program_computes() {
    let source =
        ".rodata\nline: .ascii \"written\\n\"\n.code\nmain:\n    li t0, 1\n    la t1, line\n    li t2, 8\n    \
                  write t0, t1, t2\nspin:\n    jmp spin\n";
    let program = file("write.s", source.as_bytes());
    assert_eq!(first_line_while_running(&program), "written\n");
}

#[test]
fn a_modules_fd_write_reaches_a_pipe_while_it_computes() {
    let module = common::wasm(
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 16) "from wasm\n")
            (func (export "_start")
              (i32.store (i32.const 0) (i32.const 16))
              (i32.store (i32.const 4) (i32.const 10))
              (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
              (loop $spin (br $spin))))"#,
    );
    assert_eq!(first_line_while_running(&file("fd_write.wasm", &module)), "from wasm\n");
}
