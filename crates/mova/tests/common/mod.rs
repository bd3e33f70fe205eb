//! Shared by the end-to-end tests: real `mova run` processes and the real
//! `hv` binary, each VM with its own ephemeral control port.

#![allow(dead_code)] // Each test file uses a different part.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(rel)
}

/// A running `mova run` process. A thread drains its stdout as it comes,
/// so a fast printer never blocks on a full pipe while the test talks to it.
pub struct Vm {
    pub child: Child,
    pub values: Receiver<i64>,
    /// When it was spawned: its registry entry is no older.
    pub spawned: u64,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Vm {
    /// Starts `mova run PROGRAM EXTRA…` (program relative to `tests/`).
    pub fn start(program: &str, extra: &[&str]) -> Vm {
        Vm::start_in(&[], program, extra)
    }

    /// Starts it through `prefix` (e.g. `ip netns exec NS`), which must exec `mova` in place.
    pub fn start_in(prefix: &[&str], program: &str, extra: &[&str]) -> Vm {
        let mova = env!("CARGO_BIN_EXE_mova");
        let mut command = match prefix.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(mova);
                command
            }
            None => Command::new(mova),
        };
        let spawned = hypervisor::registry::now_secs();
        let mut child = command
            .arg("run")
            .arg(test_file(program))
            .args(extra)
            .env("MOVA_LISTEN", "127.0.0.1:0")
            .env("MOVA_RUNTIME_DIR", runtime_dir())
            .stdout(Stdio::piped())
            .spawn()
            .expect("mova starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, values) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let line = line.expect("stdout is text");
                let value = line.parse().unwrap_or_else(|_| panic!("not a number: {line:?}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let vm = Vm { child, values, spawned };
        vm.wait_registered();
        vm
    }

    /// The control endpoint, `127.0.0.1:PORT`, from the VM's registry entry.
    pub fn endpoint(&self) -> String {
        let path = runtime_dir().join(format!("{}.json", self.child.id()));
        hypervisor::registry::read_entry(&path).expect("a registry entry").endpoint
    }

    /// The PID, as `hv` names the VM.
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn wait_registered(&self) {
        let pid = self.child.id();
        let entry = runtime_dir().join(format!("{pid}.json"));
        let fresh = hypervisor::registry::wait_for_entry(&entry, self.spawned, Duration::from_secs(10));
        assert!(fresh.is_some(), "VM {pid} never registered");
    }

    /// The next `n` printed values.
    pub fn take(&mut self, n: usize) -> Vec<i64> {
        (0..n).map(|_| self.values.recv_timeout(Duration::from_secs(30)).expect("the VM prints")).collect()
    }

    /// Every value printed until stdout closes.
    pub fn read_to_end(&mut self) -> Vec<i64> {
        self.values.iter().collect()
    }

    /// Waits for the process to end; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }
}

/// The `hv` binary, built beside `mova` by `cargo test --workspace`.
pub fn hv_path() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_mova")).with_file_name(format!("hv{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is missing: run the tests with `cargo test --workspace`", path.display());
    path
}

/// `hv ARGS…` against the test registry, without a token from the environment.
pub fn hv(args: &[&str]) -> Command {
    let mut command = Command::new(hv_path());
    command.args(args).env("MOVA_RUNTIME_DIR", runtime_dir()).env_remove("MOVA_TOKEN");
    command
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
