//! End-to-end tests of the `mova` binary as a separate process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mova() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mova"));
    command.env("MOVA_LISTEN", "127.0.0.1:0").env("MOVA_RUNTIME_DIR", tmp("runtime"));
    command
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The seed's bytecode listing: PUT 0, ADD 1, PRINT, SLEEP 100, GOTO 3.
const SEED_BYTECODE: &str = "4d4f56410100 010000000000000000 020100000000000000 04 0564000000 0303000000";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn both_example_forms_compile_to_the_seed_bytecode() {
    for source in ["examples/counter.masm", "examples/counter.mv"] {
        let out = tmp(&format!("{}.mova", source.replace('/', "_")));
        let status = mova().arg("compile").arg(repo_file(source)).arg("-o").arg(&out).status().unwrap();
        assert!(status.success(), "{source}");
        assert_eq!(hex(&std::fs::read(&out).unwrap()), SEED_BYTECODE.replace(' ', ""), "{source}");
    }
}

#[test]
fn disassembly_of_the_example_compiles_back_to_identical_bytes() {
    let bytes = tmp("roundtrip.mova");
    assert!(mova()
        .args(["compile"])
        .arg(repo_file("examples/counter.mv"))
        .arg("-o")
        .arg(&bytes)
        .status()
        .unwrap()
        .success());
    let text = mova().arg("disasm").arg(&bytes).output().unwrap();
    assert!(text.status.success());
    let masm = tmp("roundtrip.masm");
    std::fs::write(&masm, &text.stdout).unwrap();
    let again = tmp("roundtrip2.mova");
    assert!(mova().arg("compile").arg(&masm).arg("-o").arg(&again).status().unwrap().success());
    assert_eq!(std::fs::read(&bytes).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn the_counter_prints_each_value_when_it_happens() {
    let mut child =
        mova().arg("run").arg(repo_file("examples/counter.mv")).stdout(Stdio::piped()).spawn().expect("mova starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut arrivals = Vec::new();
    for expected in 1..=4 {
        let line = lines.next().expect("a line").expect("utf-8");
        arrivals.push(Instant::now());
        assert_eq!(line, expected.to_string());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Each line reaches the pipe on its own, a SLEEP 100 after the previous one.
    for pair in arrivals.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(80), "lines arrived {:?} apart", pair[1] - pair[0]);
    }
}

#[test]
fn a_source_that_is_not_utf8_is_rejected_with_its_offset() {
    let path = tmp("latin1.masm");
    std::fs::write(&path, b"PUT 1\n; caf\xe9\n").unwrap();
    let out = mova().arg("run").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.ends_with("latin1.masm: not UTF-8 text: invalid byte at offset 11\n"), "{stderr}");
}

#[test]
fn compile_refuses_bytecode_input_and_reports_unwritable_output() {
    let bytes = tmp("already.mova");
    std::fs::write(&bytes, b"MOVA\x01\x00\x04").unwrap();
    let out = mova().arg("compile").arg(&bytes).arg("-o").arg(tmp("x.mova")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already bytecode; compile takes .masm or .mv source"));

    let out = mova()
        .arg("compile")
        .arg(repo_file("examples/counter.masm"))
        .arg("-o")
        .arg(tmp("no/such/dir/out.mova"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn usage_errors_exit_with_status_2() {
    let out = mova().args(["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = mova().args(["run", "x.masm", "--max-steps", "-1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_opcodes_command_prints_the_committed_reference() {
    let out = mova().arg("opcodes").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(repo_file("docs/mova/opcodes.md")).unwrap()
    );
}

#[test]
fn deeply_nested_labels_are_refused_not_a_stack_overflow() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nested.mv");
    let labels: Vec<String> = (0..1_000).map(|k| format!("{}l{k}:", " ".repeat(k))).collect();
    std::fs::write(&file, format!("var i = 0;\n{}\n{}print(i);\n", labels.join("\n"), " ".repeat(1_000))).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mova"))
        .args(["compile", file.to_str().unwrap(), "-o", dir.join("nested.mova").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: labels nested too deeply: more than 256 levels\n"),
        "{}",
        &stderr[..300.min(stderr.len())]
    );
}

/// Regression: input files were read whole with no bound, so a file with no
/// end took all of memory before anything was checked.
#[test]
fn an_input_file_without_end_is_refused_after_a_bounded_read() {
    for args in [&["run", "/dev/zero"][..], &["compile", "/dev/zero", "-o", "/dev/null"]] {
        let out = mova().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let what = if args[0] == "run" { "a program" } else { "a source file" };
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("mova: /dev/zero is larger than 1073741824 bytes, the most {what} can be\n")
        );
    }
}

/// Regression: a bytecode file of one-byte `PRINT`s was loaded whatever its
/// length, at 16 bytes an instruction plus the vector's doubling: 200 MB
/// took 6.4 GB and 27 s before the program ran. Programs stop at 2^24
/// instructions, refused at the first one past it.
#[test]
fn a_program_past_the_instruction_limit_is_refused_where_it_passes() {
    let file = tmp("too-many.mova");
    let mut bytes = b"MOVA\x01\x00".to_vec();
    bytes.resize(6 + (1 << 24) + 1, 0x04);
    std::fs::write(&file, &bytes).unwrap();
    let out = mova().args(["run", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("mova: {}: byte 16777222: too many instructions: a program has at most 16777216\n", file.display())
    );
    // One fewer loads (and runs: its first PRINT finds the stack empty).
    bytes.pop();
    std::fs::write(&file, &bytes).unwrap();
    let out = mova().args(["run", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Regression: every diagnostic was kept and rendered, so a source of many
/// bad lines made a report of gigabytes (18 MB of them took 1.3 GB). The
/// first 100 are shown, and one more says how many were not.
#[test]
fn a_flood_of_errors_stops_at_a_hundred_and_says_how_many_more() {
    let file = tmp("flood.masm");
    std::fs::write(&file, "    FROB\n".repeat(100_000)).unwrap();
    let out = mova().args(["compile", file.to_str().unwrap(), "-o", "/dev/null"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("\nerror: ").count() + usize::from(stderr.starts_with("error: ")), 101);
    assert!(stderr.contains("error: 99900 more error(s) and 0 more warning(s) not shown: the first 100 are above\n"));
    assert!(stderr.ends_with(&format!("mova: could not compile {}: 101 errors\n", file.display())), "{stderr}");
}
