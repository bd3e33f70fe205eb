//! Shared by the hypervisor's end-to-end tests: real `hv-counter` VM
//! processes (the crate's reference machine) and the real `hv` binary,
//! talking over real sockets.

#![allow(dead_code)] // Each test file uses a different part.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use test_support::vm::{hv_command, vm_command, VmProcess};

/// A runtime directory of the tests' own (mode 0700, as the VMs require).
pub fn runtime_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hv-e2e-runtime");
    private_dir(&dir);
    dir
}

/// Creates `dir` (and parents) with mode 0700.
pub fn private_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hv-e2e-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

test_support::vm_process!(
    /// A running `hv-counter` (the harness is `test_support::vm::VmProcess`).
    Vm,
    u64
);

/// `hv-counter ARGS…` as a command, with an ephemeral port and the registry `runtime`.
pub fn counter_command(runtime: &Path, args: &[&str]) -> Command {
    let mut command = vm_command(&[], Path::new(env!("CARGO_BIN_EXE_hv-counter")), runtime);
    command.args(args);
    command
}

impl Vm {
    /// Starts `hv-counter ARGS…` registered in the tests' runtime directory.
    pub fn start(args: &[&str]) -> Vm {
        Vm::spawn(counter_command(&runtime_dir(), args), runtime_dir())
    }

    /// Spawns `command` (an `hv-counter` command) and waits until it registered in `runtime`.
    pub fn spawn(command: Command, runtime: PathBuf) -> Vm {
        Vm(VmProcess::spawn(command, &runtime))
    }

    /// Spawns `command` without waiting for its registry entry.
    pub fn spawn_unregistered(command: Command, runtime: PathBuf) -> Vm {
        Vm(VmProcess::spawn_unregistered(command, &runtime))
    }
}

/// `hv ARGS…` against the tests' registry, without a token from the environment.
pub fn hv(args: &[&str]) -> Command {
    hv_in(&runtime_dir(), args)
}

/// `hv ARGS…` with its own runtime directory (for its leases).
pub fn hv_in(runtime: &Path, args: &[&str]) -> Command {
    hv_command(Path::new(env!("CARGO_BIN_EXE_hv")), runtime, args)
}

pub fn run(mut command: Command) -> Output {
    command.output().unwrap()
}

/// `hv ARGS…` must succeed; its stdout.
pub fn hv_ok(args: &[&str]) -> String {
    succeeds(hv(args), args)
}

/// `hv ARGS…` must fail with exit 1; its stderr.
pub fn hv_err(args: &[&str]) -> String {
    fails(hv(args), args)
}

/// `command`, an `hv ARGS…`, must succeed; its stdout.
pub fn succeeds(command: Command, args: &[&str]) -> String {
    let out = run(command);
    assert!(
        out.status.success(),
        "hv {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `command`, an `hv ARGS…`, must fail with exit 1; its stderr.
pub fn fails(command: Command, args: &[&str]) -> String {
    let out = run(command);
    assert_eq!(out.status.code(), Some(1), "hv {args:?}: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

/// A raw protocol client, as `nc` would be.
pub struct Raw {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Raw {
    pub fn connect(endpoint: &str) -> Raw {
        let stream = TcpStream::connect(endpoint).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Raw { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream }
    }

    /// Sends a line; the reply line, without its newline ("" when closed).
    pub fn call(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes());
        self.line()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    pub fn line(&mut self) -> String {
        let mut reply = String::new();
        let _ = self.reader.read_line(&mut reply);
        reply.trim_end_matches('\n').to_string()
    }

    /// True once the VM has closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok()
    }
}

/// The lease in a reply such as `OK interrupted lease=… count=3`.
pub fn lease_of(reply: &str) -> String {
    vm_host::protocol::field(reply, "lease").unwrap_or_else(|| panic!("no lease in {reply:?}")).to_string()
}

/// Values must count up by one.
pub fn assert_counts_up(values: &[u64]) {
    for pair in values.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "a value was lost or repeated in {values:?}");
    }
}
