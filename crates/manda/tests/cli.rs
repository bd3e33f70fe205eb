//! The `manda` binary's commands, help and errors, as a user sees them.

use std::process::Command;

fn manda(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_manda")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["asm", "disasm", "opcodes"] {
        let (code, out, _) = manda(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub}");
        assert!(out.contains("Usage: manda"), "{sub}: {out}");
    }
    let (code, out, _) = manda(&["--help"]);
    assert_eq!(code, 0);
    for sub in ["asm", "disasm", "opcodes"] {
        assert!(out.contains(sub));
    }
}

#[test]
fn missing_files_and_usage_errors() {
    let (code, out, err) = manda(&["asm", "/nonexistent.s", "-o", "/tmp/x.mx"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "manda: cannot read /nonexistent.s: No such file or directory (os error 2)\n");
    let (code, _, err) = manda(&["disasm", "/nonexistent.mx"]);
    assert_eq!(code, 1);
    assert_eq!(err, "manda: cannot read /nonexistent.mx: No such file or directory (os error 2)\n");
    let (code, _, _) = manda(&["asm"]);
    assert_eq!(code, 2, "a usage error exits 2");
}

#[test]
fn disasm_assembles_a_source_first() {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/manda/hello.s");
    let (code, out, err) = manda(&["disasm", hello]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.contains("main:") && out.contains("write a0, a1, a2"), "{out}");
}

#[test]
fn opcodes_prints_the_reference() {
    let (code, out, _) = manda(&["opcodes"]);
    assert_eq!(code, 0);
    assert_eq!(out, manda::isa::opcodes_markdown());
}
