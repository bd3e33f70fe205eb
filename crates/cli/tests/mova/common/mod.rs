//! Shared by the end-to-end tests: real `mova run` processes and the real
//! `hv` binary, each VM with its own ephemeral control port.

#![allow(dead_code)] // Each test file uses a different part.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use test_support::vm::{hv_command, vm_command, VmProcess};

/// The registry every test VM uses, apart from the user's.
pub fn runtime_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-runtime")
}

/// A file in a per-test scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-scratch");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A file of this crate's tests.
pub fn test_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mova").join(rel)
}

test_support::vm_process!(
    /// A running `mova run` process (the harness is `test_support::vm::VmProcess`).
    Vm,
    i64
);

impl Vm {
    /// Starts `mova run PROGRAM EXTRA…` (program relative to `tests/mova/`).
    pub fn start(program: &str, extra: &[&str]) -> Vm {
        Vm::start_in(&[], program, extra)
    }

    /// Starts it through `prefix` (e.g. `ip netns exec NS`), which must exec `mova` in place.
    pub fn start_in(prefix: &[&str], program: &str, extra: &[&str]) -> Vm {
        let mut command = vm_command(prefix, Path::new(env!("CARGO_BIN_EXE_mova")), &runtime_dir());
        command.arg("run").arg(test_file(program)).args(extra);
        Vm(VmProcess::spawn(command, &runtime_dir()))
    }
}

/// The `hv` binary.
pub fn hv_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hv"))
}

/// `hv ARGS…` against the test registry, without a token from the environment.
pub fn hv(args: &[&str]) -> Command {
    hv_command(&hv_path(), &runtime_dir(), args)
}

/// Runs `hv ARGS…` to completion.
pub fn hv_output(args: &[&str]) -> Output {
    hv(args).stdin(Stdio::null()).output().unwrap()
}

/// `hv ARGS…` must succeed; its stdout.
pub fn hv_ok(args: &[&str]) -> String {
    let out = hv_output(args);
    assert!(out.status.success(), "hv {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `hv ARGS…` must fail with exit 1; its stderr.
pub fn hv_err(args: &[&str]) -> String {
    let out = hv_output(args);
    assert_eq!(out.status.code(), Some(1), "hv {args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

/// Asserts `values` is exactly `1..=n` for some n: nothing lost, nothing printed twice.
pub fn assert_counts_up(values: &[i64]) {
    for (i, v) in values.iter().enumerate() {
        assert_eq!(*v, i as i64 + 1, "value {} of {}: {:?}", i + 1, values.len(), &values[i.saturating_sub(3)..]);
    }
}
