//! A program moves with its open files: `wasm_c/stream.c` streams a 100 MB
//! input file through a compressor into an output file, and is moved
//! mid-run — process to process with `migrate`, and saved to a file with
//! `sstate`'s save and restored later by `manda run --restore`. The output
//! file is byte for byte an uninterrupted run's. A target where a file is
//! missing or not the same file refuses before anything runs, and the source
//! goes on.

mod common;

use common::Vm;
use std::path::{Path, PathBuf};
use vm_host::{migrate, Client};

const MIB: usize = 1 << 20;

/// `mib` MiB of runs of pseudo-random bytes (lengths 1–40): compressible, and the same every time.
fn input(mib: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(mib * MIB);
    let mut x = 12345u64;
    while out.len() < mib * MIB {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let byte = (x >> 56) as u8;
        let run = [1, 1, 2, 3, 7, 40][(x >> 20) as usize % 6];
        out.extend(std::iter::repeat_n(byte, run));
    }
    out.truncate(mib * MIB);
    out
}

/// What `stream.c` writes for `input`, and the checksum it prints last.
fn expected(input: &[u8]) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let (mut run_byte, mut run) = (None::<u8>, 0u8);
    let mut sum = 0u64;
    for &b in input {
        sum = sum.wrapping_mul(31).wrapping_add(u64::from(b));
        if Some(b) == run_byte && run < 255 {
            run += 1;
            continue;
        }
        if let Some(r) = run_byte {
            out.extend([run, r]);
        }
        (run_byte, run) = (Some(b), 1);
    }
    if let Some(r) = run_byte {
        out.extend([run, r]);
    }
    (out, sum % 1_000_000_007)
}

/// A fresh directory holding `in.bin`.
fn workdir(name: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("moving-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("in.bin"), input).unwrap();
    dir
}

fn grant(dir: &Path) -> String {
    format!("{}::.", dir.display())
}

/// The progress lines of `mib` MiB (MiB done, every 4) and the checksum.
fn printed(mib: u64, sum: u64) -> Vec<u64> {
    (1..=mib / 4).map(|i| i * 4).chain([sum]).collect()
}

#[test]
fn a_program_streaming_a_file_moves_mid_run_and_writes_what_an_uninterrupted_run_writes() {
    let data = input(100);
    let (compressed, sum) = expected(&data);

    // Process to process.
    let dir = workdir("migrate", &data);
    let mut a = Vm::start(&["--dir", &grant(&dir)], "wasm_c/stream.wasm", &[]);
    let mut b = Vm::start(&["--wait", "--dir", &grant(&dir)], "wasm_c/stream.wasm", &[]);
    let (seen, moved_at) = common::move_mid_run(&mut a, &mut b, 2);
    assert_eq!(b.wait(), Some(0));
    assert!(moved_at < 26, "it moved mid-run, after {moved_at} lines");
    assert_eq!(seen, printed(100, sum), "every line once, in order");
    assert!(std::fs::read(dir.join("out.bin")).unwrap() == compressed, "the output file is an uninterrupted run's");

    // Saved to a file, and continued by a new process later.
    let dir = workdir("restore", &data);
    let mut a = Vm::start(&["--dir", &grant(&dir)], "wasm_c/stream.wasm", &[]);
    let mut seen = a.take(3);
    let mut src = Client::connect(&a.endpoint(), None).unwrap();
    let (lease, _) = src.interrupt(None).unwrap();
    let snapshot = src.save(&lease).unwrap();
    src.kill(Some(&lease)).unwrap();
    seen.extend(a.read_to_end());
    let file = dir.join("stream.snapshot");
    std::fs::write(&file, &snapshot).unwrap();
    let mut b = Vm::start(&["--restore", file.to_str().unwrap(), "--dir", &grant(&dir)], "wasm_c/stream.wasm", &[]);
    seen.extend(b.read_to_end());
    assert_eq!(b.wait(), Some(0));
    assert_eq!(seen, printed(100, sum));
    assert!(std::fs::read(dir.join("out.bin")).unwrap() == compressed, "the output file is an uninterrupted run's");
}

/// `manda run --restore SNAPSHOT [--dir …] stream.wasm`'s stderr and exit status.
fn restore(snapshot: &Path, dirs: &[&str]) -> (String, Option<i32>) {
    let mut command = common::manda_command();
    command.arg("run").arg("--restore").arg(snapshot);
    for d in dirs {
        command.args(["--dir", d]);
    }
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manda/wasm_c/stream.wasm");
    let out = command.arg(module).output().unwrap();
    (String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code())
}

#[test]
fn a_target_without_the_same_files_refuses_before_anything_runs_and_the_source_goes_on() {
    let data = input(16);
    let (compressed, sum) = expected(&data);
    let dir = workdir("refused", &data);
    let mut a = Vm::start(&["--dir", &grant(&dir)], "wasm_c/stream.wasm", &[]);
    let mut seen = a.take(1);

    // A target granted another directory under the same name: its files are not there.
    let elsewhere = workdir("elsewhere", b"");
    std::fs::remove_file(elsewhere.join("in.bin")).unwrap();
    let b = Vm::start(&["--wait", "--dir", &grant(&elsewhere)], "wasm_c/stream.wasm", &[]);
    let refused = migrate(&a.endpoint(), &b.endpoint(), None).unwrap_err().to_string();
    assert!(refused.contains("descriptor 4 (`in.bin` under `.`): cannot be re-opened here under --dir"), "{refused}");
    drop(b);

    // Saved: a file changed since, or a directory not granted, is refused with a clear reason.
    let mut src = Client::connect(&a.endpoint(), None).unwrap();
    let (lease, _) = src.interrupt(None).unwrap();
    let snapshot = dir.join("stream.snapshot");
    std::fs::write(&snapshot, src.save(&lease).unwrap()).unwrap();
    src.call(&vm_host::protocol::Command::Resume(lease)).unwrap();
    let (said, status) = restore(&snapshot, &[]);
    assert!(
        said.contains("descriptor 3 is under the directory `.`, which is not granted here (--dir HOST::.)"),
        "{said}"
    );
    assert_eq!(status, Some(1));

    // The source went on, untouched by the refusals, and finishes as an uninterrupted run.
    seen.extend(a.read_to_end());
    assert_eq!(a.wait(), Some(0));
    assert_eq!(seen, printed(16, sum));
    assert!(std::fs::read(dir.join("out.bin")).unwrap() == compressed);

    // Now the files have changed (the run went on after the save): refused.
    let (said, status) = restore(&snapshot, &[&grant(&dir)]);
    assert!(
        said.contains("(`in.bin` under `.`): is not the same file here")
            || said.contains("(`out.bin` under `.`): is not the same file here"),
        "{said}"
    );
    assert_eq!(status, Some(1));
}
