//! Golden conformance programs, run through the real `manda run`.
//!
//! Each `tests/run/NAME.s` is run as `manda run [OPTIONS] NAME.s [ARGS]`; its
//! exit status, stdout and stderr are compared with `NAME.expected`. Leading
//! comment lines set up the run:
//!
//! - `; run: --max-steps 10 {file} a b` — the command line after `manda run`
//!   (default `{file}`);
//! - `; stdin: text` — standard input (`\n` for a newline).
//!
//! The examples in `examples/manda/` are run the same way by
//! `examples_print_what_they_should`. Re-record after a reviewed change with
//! `MANDA_BLESS=1 cargo test -p manda --test run`.

mod common;

use manda::exe::{Executable, Item};
use manda::isa::Opcode;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/manda")
}

/// Runs `manda ARGS` in `cwd` with `stdin`: (exit code, stdout, stderr).
fn manda(cwd: &Path, args: &[String], stdin: &[u8]) -> (i32, String, String) {
    let mut child = common::manda_command()
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with(';'))
        .find_map(|l| l.trim_start_matches(';').trim().strip_prefix(key).map(|v| v.trim().to_string()))
}

fn run_case(dir: &Path, name: &str) -> String {
    let file = format!("{name}.s");
    let text = std::fs::read_to_string(dir.join(&file)).unwrap();
    let command = header(&text, "run:").unwrap_or_else(|| "{file}".into());
    let mut args = vec!["run".to_string()];
    args.extend(command.split_whitespace().map(|a| a.replace("{file}", &file)));
    let stdin = header(&text, "stdin:").unwrap_or_default().replace("\\n", "\n").replace("\\t", "\t");
    let (code, stdout, stderr) = manda(dir, &args, stdin.as_bytes());
    format!("exit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}")
}

fn check_folder(folder: &Path, expected_dir: &Path) {
    common::check_cases(folder, ".s", expected_dir, |name| run_case(folder, name));
}

#[test]
fn conformance_programs() {
    check_folder(&dir(), &dir());
}

#[test]
fn examples_print_what_they_should() {
    check_folder(&examples(), &dir().join("examples"));
}

/// Every instruction of the table is executed by some conformance program.
#[test]
fn every_instruction_is_exercised() {
    let mut used = BTreeSet::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "s") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let Ok((bytes, _)) = manda::asm::assemble(&source) else { continue };
        let exe = Executable::load(&bytes).unwrap();
        for item in exe.sections.iter().flat_map(|s| &s.items) {
            if let Item::Instr { instr, .. } = item {
                used.insert(instr.opcode());
            }
        }
    }
    let missing: Vec<&str> = Opcode::ALL.iter().filter(|op| !used.contains(op)).map(|op| op.mnemonic()).collect();
    assert!(missing.is_empty(), "no conformance program uses: {}", missing.join(", "));
}
