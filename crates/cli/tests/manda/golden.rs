//! Golden files, run through the real `manda` binary.
//!
//! - `tests/asm/NAME.s`: `manda asm` — the exit status and stderr, and on
//!   success the exact bytes (hex) and `manda disasm` of them, which must
//!   also assemble back to the same bytes.
//! - `tests/malformed/NAME.hex`: hex text (`#` comments) turned into a file
//!   and given to `manda disasm` — the located error and exit status.
//!
//! Each case's expectation is `NAME.expected` beside it. Re-record with
//! `BLESS=1 cargo test -p cli --test manda-golden`.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manda").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("golden");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `manda ARGS` in `cwd`: (exit code, stdout, stderr).
fn manda(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = common::manda_command().current_dir(cwd).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "{:04x}: {}", i * 16, hex.join(" "));
    }
    out
}

/// Parses hex text: pairs of hex digits, whitespace and `#` comments ignored.
fn parse_hex(text: &str) -> Vec<u8> {
    let digits: String =
        text.lines().map(|l| l.split('#').next().unwrap_or("")).collect::<String>().split_whitespace().collect();
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex")).collect()
}

fn run_asm_case(name: &str) -> String {
    let out_file = scratch(&format!("{name}.mx"));
    let _ = std::fs::remove_file(&out_file);
    let (code, stdout, stderr) = manda(&dir("asm"), &["asm", &format!("{name}.s"), "-o", out_file.to_str().unwrap()]);
    let mut record = format!("exit: {code}\n--- stderr\n{stderr}");
    assert_eq!(stdout, "", "{name}: asm prints nothing on stdout");
    if code == 0 {
        let bytes = std::fs::read(&out_file).unwrap();
        let (dcode, disasm, derr) = manda(&dir("asm"), &["disasm", out_file.to_str().unwrap()]);
        assert_eq!((dcode, derr.as_str()), (0, ""), "{name}: disasm fails");
        // The disassembly assembles back to the identical bytes.
        let again_src = scratch(&format!("{name}.dis.s"));
        let again = scratch(&format!("{name}.again.mx"));
        std::fs::write(&again_src, &disasm).unwrap();
        let (acode, _, aerr) = manda(&dir("asm"), &["asm", again_src.to_str().unwrap(), "-o", again.to_str().unwrap()]);
        assert_eq!(acode, 0, "{name}: the disassembly does not assemble:\n{aerr}");
        assert_eq!(std::fs::read(&again).unwrap(), bytes, "{name}: disasm -> asm changed the bytes");
        let _ = write!(record, "--- bytes\n{}--- disasm\n{disasm}", hex_dump(&bytes));
    }
    record
}

fn run_malformed_case(name: &str) -> String {
    let bytes = parse_hex(&std::fs::read_to_string(dir("malformed").join(format!("{name}.hex"))).unwrap());
    let file = scratch(&format!("{name}.mx"));
    std::fs::write(&file, &bytes).unwrap();
    let (code, stdout, stderr) = manda(file.parent().unwrap(), &["disasm", &format!("{name}.mx")]);
    format!("exit: {code}\n--- stderr\n{stderr}--- stdout\n{stdout}")
}

fn check_all(folder: &str, ext: &str, run: fn(&str) -> String) {
    common::check_cases(&dir(folder), ext, &dir(folder), run);
}

#[test]
fn assembler_cases() {
    check_all("asm", ".s", run_asm_case);
}

#[test]
fn malformed_executables_get_located_errors() {
    check_all("malformed", ".hex", run_malformed_case);
}
