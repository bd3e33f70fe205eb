//! The `manda` binary's commands, help and errors, as a user sees them.

mod common;

fn manda(args: &[&str]) -> (i32, String, String) {
    let out = common::manda_command().args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["run", "asm", "disasm", "opcodes", "wasm"] {
        let (code, out, _) = manda(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub}");
        assert!(out.contains("Usage: manda"), "{sub}: {out}");
    }
    let (code, out, _) = manda(&["--help"]);
    assert_eq!(code, 0);
    for sub in ["run", "asm", "disasm", "opcodes", "wasm"] {
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

fn scratch(name: &str, bytes: &[u8]) -> String {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn run_refuses_what_it_cannot_load() {
    let (code, out, err) = manda(&["run", "/nonexistent.mx"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "manda: cannot read /nonexistent.mx: No such file or directory (os error 2)\n");
    let bad = scratch("bad.mx", &[1, 1, 0, 0, 0, 0, 0, 0, 0, 250]);
    let (code, _, err) = manda(&["run", &bad]);
    assert_eq!(code, 1);
    assert_eq!(err, format!("manda: {bad}: offset 9 (0x9): unknown opcode 250 (0xfa)\n"));
    let src = scratch("broken.s", b".code\nmain:\n    frob t0\n");
    let (code, _, err) = manda(&["run", &src]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown instruction `frob`") || err.contains("frob"), "{err}");
    assert!(err.ends_with("1 error(s); nothing written\n"), "{err}");
    let (code, _, err) = manda(&["run", "--max-memory", "12X", &src]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown unit `X` (use K, M or G)"), "{err}");
}

#[test]
fn trace_prints_each_instruction_and_what_it_wrote() {
    let src = scratch(
        "trace.s",
        b".code\nmain:\n    li t0, 2\n    fli t1, 0.5\n    push t0\n    call f\n    halt\nf:\n    ret\n",
    );
    let (code, out, err) = manda(&["run", "--trace", &src]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(
        err,
        "[0] 0x000016  li t0, 2                     t0=2\n\
         [0] 0x000020  fli t1, 0.5                  t1=0.5\n\
         [0] 0x00002a  push t0                      sp=0x101ff8\n\
         [0] 0x00002c  call 0x36\n\
         [0] 0x000040  ret\n\
         [0] 0x000035  halt\n"
    );
}

/// Found in review: the trace kept its own list of float instructions, and
/// printed f32 results and `fceil`, `fcopysign`, `fpromote`… as integers.
/// The instruction table says what each result register receives.
#[test]
fn trace_prints_every_float_result_as_a_float() {
    let src = scratch(
        "trace_floats.s",
        b".code\nmain:\n    fli t0, 2.5\n    fceil t1, t0\n    fdemote t2, t0\n    fadd32 t3, t2, t2\n    fpromote t4, t3\n    feq32 t5, t2, t2\n    halt\n",
    );
    let (code, out, err) = manda(&["run", "--trace", &src]);
    assert_eq!((code, out.as_str()), (0, ""));
    let written: Vec<&str> = err.lines().filter_map(|l| l.split_whitespace().last()).collect();
    assert_eq!(written, ["t0=2.5", "t1=3.0", "t2=2.5", "t3=5.0", "t4=5.0", "t5=1", "halt"], "{err}");
}

#[test]
fn the_exit_status_is_the_programs() {
    let src = scratch("exit.s", b".code\nmain:\n    li t0, 7\n    exit t0\n");
    assert_eq!(manda(&["run", &src]).0, 7);
    let src = scratch("args.s", b".code\nmain:\n    argc t0\n    printi t0\n    halt\n");
    let (code, out, _) = manda(&["run", &src, "-x", "--y", "z"]);
    assert_eq!((code, out.as_str()), (0, "3\n"), "options after FILE are the program's");
}

#[test]
fn assembly_under_another_name_is_recognised_as_text() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-text");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hello.asm");
    std::fs::write(&file, ".code\nmain:\n    halt\n").unwrap();
    let (code, stdout, stderr) = manda(&["run", file.to_str().unwrap()]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        format!(
            "manda: {}: this is text, not an executable (it would be read as one: offset 0 (0x0): unknown section \
             type 46 (0 data, 1 code, 2 rodata)); assemble it with `manda asm`, or name it .s\n",
            file.display()
        )
    );
}

/// Writes `source` to a scratch file and runs `manda asm` on it: (exit code, stderr).
fn assemble_generated(name: &str, source: &str) -> (i32, String) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, source).unwrap();
    let out = dir.join(format!("{name}.mx"));
    let (code, _, stderr) = manda(&["asm", file.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    (code, stderr)
}

#[test]
fn hostile_expressions_are_refused_not_a_stack_overflow() {
    let program = |expr: String| format!(".equ A, {expr}\n.code\nmain:\n    halt\n");
    let cases = [
        (
            "parens.s",
            program(format!("{}1{}", "(".repeat(3000), ")".repeat(3000))),
            "expression nested too deeply: more than 256 levels",
        ),
        ("minus.s", program(format!("{}1", "-".repeat(30_000))), "expression nested too deeply: more than 256 levels"),
        ("sum.s", program(vec!["1"; 100_000].join("+")), "expression too long: more than 1024 operators"),
    ];
    for (name, source, message) in cases {
        let (code, stderr) = assemble_generated(name, &source);
        assert_eq!(code, 1, "{name}");
        assert!(stderr.starts_with(&format!("error: {message}\n")), "{name}: {}", &stderr[..stderr.len().min(300)]);
    }
    // Within the limits, deep and long expressions still assemble.
    let (code, stderr) = assemble_generated(
        "ok.s",
        &program(format!("{}1{} + {}", "(".repeat(200), ")".repeat(200), vec!["1"; 1000].join("+"))),
    );
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn huge_sizes_are_refused_before_anything_is_allocated() {
    for (name, zeros) in
        [("zero4g.s", "    .zero 4000000000\n"), ("zero2x.s", "    .zero 1500000000\n    .zero 1500000000\n")]
    {
        let (code, stderr) = assemble_generated(name, &format!(".data\n{zeros}.code\nmain:\n    halt\n"));
        assert_eq!(code, 1, "{name}");
        assert!(stderr.starts_with("error: the executable would pass 1024 MiB here (at byte "), "{name}: {stderr}");
    }
    // An executable larger than --max-memory is refused before it is read.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-hostile");
    let big = dir.join("big.mx");
    std::fs::File::create(&big).unwrap().set_len(3 << 20).unwrap();
    let (code, _, stderr) = manda(&["run", "--max-memory", "1M", big.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "manda: {}: the program needs at least 3145728 bytes of memory (its image alone), more than the limit of \
             1048576\n",
            big.display()
        )
    );
}

#[test]
fn one_thread_gives_the_same_trace_every_run_with_each_line_naming_its_context() {
    let src = scratch(
        "trace_fork.s",
        b".code\nmain:\n    pnew a1\n    fork t0, child\n    li t1, 8\n    precv t2, a1, t1, t1\n    halt\nchild:\n    li t1, 0\n    psend a1, t1, t1\n    halt\n",
    );
    let first = manda(&["run", "--threads", "1", "--trace", &src]);
    assert_eq!((first.0, first.1.as_str()), (0, ""));
    assert_eq!(
        first.2,
        "[0] 0x000016  pnew a1                      a1=0\n\
         [0] 0x000018  fork t0, 0x32                t0=1\n\
         [0] 0x000022  li t1, 8                     t1=8\n\
         [1] 0x000040  li t1, 0                     t1=0\n\
         [1] 0x00004a  psend a1, t1, t1\n\
         [1] 0x00004e  halt\n\
         [0] 0x00002c  precv t2, a1, t1, t1         t2=0\n\
         [0] 0x000031  halt\n",
        "the first context waits on the port (its precv not yet run), the child runs, sends and ends, the first goes on"
    );
    for _ in 0..5 {
        assert_eq!(manda(&["run", "--threads", "1", "--trace", &src]), first);
    }
}

/// `manda disasm big.mx | head`: the reader goes away after a line, and
/// the rest of the output is simply not written — no panic, no abort,
/// exit 0 — as with any Unix tool. (It aborted with "failed printing to
/// stdout: Broken pipe" once the output passed the pipe's 64 KiB.)
#[test]
fn output_to_a_reader_that_stops_early_ends_quietly() {
    let mut source = String::from(".code\nmain:\n");
    source.push_str(&"    addi t0, t0, 1\n".repeat(20_000));
    source.push_str("    halt\n");
    let file = scratch("long.s", source.as_bytes());
    let mut child = common::manda_command()
        .args(["disasm", &file])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"; manda disassem");
    drop(child.stdout.take()); // `head` has what it wanted
    let out = child.wait_with_output().unwrap();
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stderr).as_ref()), (Some(0), ""));
}

/// Regression: input files were read whole with no bound, so a file with no
/// end took all of memory before anything was checked.
#[test]
fn an_input_file_without_end_is_refused_after_a_bounded_read() {
    for (args, what) in
        [(&["asm", "/dev/zero", "-o", "/dev/null"][..], "a source file"), (&["disasm", "/dev/zero"], "an executable")]
    {
        let (code, stdout, stderr) = manda(args);
        assert_eq!((code, stdout.as_str()), (1, ""), "{args:?}");
        assert_eq!(stderr, format!("manda: /dev/zero is larger than 1073741824 bytes, the most {what} can be\n"));
    }
}

/// Regression: the stack size was rounded up to 16 with an overflow, so
/// `--stack-size 18446744073709551615` wrapped to a stack of 0 bytes and the
/// program ran (a panic in a debug build) instead of being refused; with
/// `--max-memory` as large, the layout overflowed. Sizes now stop at 256 TiB.
#[test]
fn sizes_near_two_to_the_64_are_refused_not_wrapped() {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/manda/hello.s");
    for option in ["--stack-size", "--max-memory", "--max-port-bytes"] {
        let (code, stdout, stderr) = manda(&["run", option, "18446744073709551615", hello]);
        assert_eq!((code, stdout.as_str()), (2, ""), "{option}");
        let value = option.trim_start_matches("--");
        assert!(
            stderr.starts_with(&format!(
                "error: invalid value '18446744073709551615' for '--{value} <BYTES>': `18446744073709551615` is \
                 more than 256 TiB (262144G), the largest size manda takes\n"
            )),
            "{stderr}"
        );
    }
    let (code, _, stderr) = manda(&["run", "--stack-size", "262144G", "--max-memory", "262144G", hello]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "manda: {hello}: the program needs 281474976722944 bytes of memory (image, guards and stack), more than \
             the limit of 281474976710656\n"
        )
    );
}

/// A limit of 0 contexts would forbid the one every program starts with:
/// refused as a bad command line, not run as if it were 1.
#[test]
fn a_context_limit_of_zero_is_refused() {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/manda/hello.s");
    let (code, stdout, stderr) = manda(&["run", "--max-contexts", "0", hello]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(stderr.starts_with("error: invalid value '0' for '--max-contexts <N>': 0 is not in 1..=4294967295\n"));
}

/// Regression: decoding costs some 90 bytes an instruction and parsing a
/// few hundred a source line, whatever the file's size: 100 MB of `nop`s
/// took 11 GB to load and 80 MB of `nop` lines 3.2 GB to assemble. Both are
/// refused past their limits, where they pass them, before the cost.
#[test]
fn too_many_lines_or_instructions_are_refused_where_they_pass_the_limit() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("lines.s");
    std::fs::write(&source, "\n".repeat(manda::asm::MAX_LINES + 1)).unwrap();
    let (code, _, stderr) = manda(&["asm", source.to_str().unwrap(), "-o", "/dev/null"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: more than 8388608 lines\n"), "{stderr}");
    assert!(stderr.contains(&format!("{}:8388609:1", source.display())), "{stderr}");

    let nops = manda::exe::MAX_CODE_ITEMS + 1;
    let mut exe = vec![1u8];
    exe.extend_from_slice(&(nops as u64).to_le_bytes());
    exe.resize(9 + nops, 10); // `nop`
    let file = dir.join("nops.mx");
    std::fs::write(&file, &exe).unwrap();
    let (code, _, stderr) = manda(&["run", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "manda: {}: offset 8388617 (0x800009): too many instructions and labels: an executable has at most \
             8388608\n",
            file.display()
        )
    );
}

/// Regression: every diagnostic was kept and rendered, so a source of many
/// bad lines made a report of gigabytes (2 million of them: 1.1 GB and 12
/// million lines of stderr). The first 100 are shown, and one more says how
/// many were not.
#[test]
fn a_flood_of_errors_stops_at_a_hundred_and_says_how_many_more() {
    let (code, stderr) = assemble_generated("flood.s", &format!(".code\nmain:\n{}", "    frob\n".repeat(100_000)));
    assert_eq!(code, 1);
    assert_eq!(stderr.matches("error: ").count(), 101);
    assert!(stderr.contains("error: 99900 more error(s) and 0 more warning(s) not shown: the first 100 are above\n"));
    assert!(stderr.ends_with("flood.s: 101 error(s); nothing written\n"), "{stderr}");
}

/// Regression: the loader summed the instructions of every earlier section
/// at each code section, so a 1.8 MB file of 200,000 empty code sections
/// took 44 s to load (and any section costs some 70 bytes as loaded for
/// its 9). Sections stop at 2^16, in the loader and the assembler,
/// and the count is kept as it goes.
#[test]
fn too_many_sections_are_refused_where_they_pass_the_limit() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let halt = [1u8, 1, 0, 0, 0, 0, 0, 0, 0, 175];
    let empty_code = [1u8, 0, 0, 0, 0, 0, 0, 0, 0];
    let file = dir.join("sections.mx");
    // The most sections there may be, all but the first empty, load.
    std::fs::write(&file, [halt.to_vec(), empty_code.repeat(manda::exe::MAX_SECTIONS - 1)].concat()).unwrap();
    assert_eq!(manda(&["run", file.to_str().unwrap()]), (0, String::new(), String::new()));
    // One more is refused where it starts.
    std::fs::write(&file, [halt.to_vec(), empty_code.repeat(manda::exe::MAX_SECTIONS)].concat()).unwrap();
    let (code, _, stderr) = manda(&["run", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "manda: {}: offset 589825 (0x90001): too many sections: an executable has at most 65536\n",
            file.display()
        )
    );
    let (code, stderr) =
        assemble_generated("sections.s", &format!("{}.code\nmain:\n    halt\n", ".data\n".repeat(65536)));
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: more than 65536 sections\n"), "{stderr}");
    assert!(stderr.contains("sections.s:65537:1"), "{stderr}");
}
