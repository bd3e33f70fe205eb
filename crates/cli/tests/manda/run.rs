//! Golden conformance programs, run through the real `manda run`.
//!
//! Each `tests/run/NAME.s` is run as `manda run [OPTIONS] NAME.s [ARGS]`; its
//! exit status, stdout and stderr are compared with `NAME.expected`. Leading
//! comment lines set up the run:
//!
//! - `; run: --max-steps 10 {file} a b` — the command line after `manda run`
//!   (default `{file}`);
//! - `; stdin: text` — standard input (`\n` for a newline);
//! - `; threads: 1 2 4` — run once per thread count (`--threads N` first);
//!   every run must print exactly the same.
//!
//! Every case also runs in the interpreter's other execution modes — with
//! a step budget too large to reach (`--max-steps`, the metered loop), one
//! instruction at a time (`--exec steps`, the tracing path) and without
//! superinstructions (`--exec plain`) — and must print exactly the same,
//! exit status and trap text included. `; steps: skipped (why)` leaves out
//! the one-at-a-time run for a program of too many millions of instructions.
//!
//! The examples in `examples/manda/` are run the same way by
//! `examples_print_what_they_should`. Re-record after a reviewed change with
//! `BLESS=1 cargo test -p cli --test manda-run`.

mod common;

use manda::exe::{Executable, Item};
use manda::isa::Opcode;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manda/run")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/manda")
}

/// Runs `manda ARGS` in `cwd` with `stdin`: (exit code, stdout, stderr).
/// A run past a minute is killed and reported: a hang fails the test, it
/// does not stall it.
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
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(std::time::Duration::from_secs(60)).is_err() {
            // SAFETY: kill(2) on our own child's pid, which it still is: it has not been waited for.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    watchdog.join().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    match out.status.code() {
        Some(code) => (code, text(out.stdout), text(out.stderr)),
        None => (-1, text(out.stdout), format!("{}(killed: no end within 60 s)\n", text(out.stderr))),
    }
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
    let stdin = header(&text, "stdin:").unwrap_or_default().replace("\\n", "\n").replace("\\t", "\t");
    let run = |threads: Option<&str>, mode: &[&str]| {
        let mut args = vec!["run".to_string()];
        if let Some(n) = threads {
            args.extend(["--threads".to_string(), n.to_string()]);
        }
        args.extend(mode.iter().map(|a| a.to_string()));
        args.extend(command.split_whitespace().map(|a| a.replace("{file}", &file)));
        let (code, stdout, stderr) = manda(dir, &args, stdin.as_bytes());
        format!("exit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}")
    };
    let threads = header(&text, "threads:");
    let mut counts = threads.as_deref().map(|t| t.split_whitespace().map(Some).collect()).unwrap_or(vec![None]);
    let first = counts.remove(0);
    let record = run(first, &[]);
    let mut others: Vec<(Option<&str>, Vec<&str>)> = counts.into_iter().map(|n| (n, vec![])).collect();
    // The other execution modes, on the first thread count. A command with
    // its own step limit is already metered (the option cannot be repeated).
    if !command.contains("--max-steps") {
        others.push((first, vec!["--max-steps", "1000000000000"]));
    }
    if header(&text, "steps:").is_none() {
        others.push((first, vec!["--exec", "steps"]));
    }
    others.push((first, vec!["--exec", "plain"]));
    others.push((first, vec!["--exec", "fused"]));
    // Compiled code is charged to the memory limit, so where a program
    // that runs out of memory runs out depends on how much was compiled.
    if !record.contains("trap: out of memory") {
        others.push((first, vec!["--exec", "compile-all"]));
    }
    for (threads, mode) in others {
        let other = run(threads, &mode);
        if other != record {
            let how = match threads {
                Some(n) => format!("--threads {n} {}", mode.join(" ")),
                None => mode.join(" "),
            };
            return format!("{record}=== but with `{}` instead:\n{other}", how.trim());
        }
    }
    record
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
        for item in exe.sections.iter().flat_map(|s| s.items()) {
            if let Item::Instr { instr, .. } = item {
                used.insert(instr.opcode());
            }
        }
    }
    let missing: Vec<&str> = Opcode::ALL.iter().filter(|op| !used.contains(op)).map(|op| op.mnemonic()).collect();
    assert!(missing.is_empty(), "no conformance program uses: {}", missing.join(", "));
}

/// Found by the `manda_exe` fuzz target: an executable whose first code
/// section is empty, with no `main`, starts at that section's end and falls
/// off it at once — and describing that trap aborted `manda` (the machine
/// looked for an instruction in a section that holds none).
#[test]
fn falling_off_an_empty_first_code_section_is_a_trap_not_an_abort() {
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-first-code.mx");
    let mut bytes = vec![1, 0, 0, 0, 0, 0, 0, 0, 0];
    bytes.extend([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    std::fs::write(&file, bytes).unwrap();
    let (code, out, err) = manda(&dir(), &["run".into(), file.display().to_string()], b"");
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (3, "", "trap: ran past the end of its code section at 0x9 in context 0\n")
    );
}
