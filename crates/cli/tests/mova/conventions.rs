//! docs/conventions.md holds for both machines: the same limit is the same
//! trap and exit status, a program that cannot start exits 1, and so on.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn binary(name: &str) -> PathBuf {
    common::hv_path().with_file_name(name)
}

/// (exit status, stdout, stderr) of `NAME ARGS…` run from the repository root.
fn run(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(binary(name))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env("MOVA_LISTEN", "127.0.0.1:0")
        .env("MOVA_RUNTIME_DIR", common::runtime_dir())
        .env_remove("MOVA_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn a_step_limit_is_a_trap_in_both_machines() {
    let (code, stdout, stderr) = run("mova", &["run", "--max-steps", "21", "examples/counter.masm"]);
    assert_eq!((code, stdout.as_str()), (Some(3), "1\n2\n3\n4\n5\n"));
    assert_eq!(stderr, "trap at instruction 1 (ADD): step limit reached: 21 instructions executed\n");
    let (code, stdout, stderr) = run("manda", &["run", "--max-steps", "1000", "examples/manda/loop.s"]);
    assert_eq!((code, stdout.as_str()), (Some(3), ""));
    assert_eq!(
        stderr,
        "trap: step limit reached: 1000 instructions executed at 0xa1 <main+0x43> (addi t0, t0, 1) in context 0\n"
    );
}

#[test]
fn a_program_that_cannot_start_exits_1_in_both_machines() {
    let (code, _, stderr) = run("manda", &["run", "--max-memory", "1M", "examples/manda/hello.s"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "manda: examples/manda/hello.s: the program needs 1060864 bytes of memory (image, guards and stack), more \
         than the limit of 1048576\n"
    );
    for name in ["mova", "manda"] {
        let (code, _, stderr) = run(name, &["run", "no-such-file.s"]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.starts_with(&format!("{name}: ")), "{stderr}");
        // A control port that cannot be set up: a non-loopback address without a token.
        let file = if name == "mova" { "examples/counter.masm" } else { "examples/manda/hello.s" };
        let (code, _, stderr) = run(name, &["run", "--listen", "0.0.0.0:0", file]);
        assert_eq!(code, Some(1), "{name}");
        assert_eq!(
            stderr,
            format!(
                "{name}: listening on non-loopback address 0.0.0.0:0 requires TLS credentials (--tls DIR; `hv \
                 tls-init` makes them), or --insecure and a token (--token, --token-file or MOVA_TOKEN)\n"
            )
        );
    }
}

#[test]
fn a_bad_command_line_exits_2_everywhere() {
    for name in ["mova", "manda", "hv"] {
        let (code, _, stderr) = run(name, &["--no-such-option"]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
    }
}
