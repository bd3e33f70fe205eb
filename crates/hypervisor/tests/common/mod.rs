//! Shared by the hypervisor's end-to-end tests: real `hv-counter` VM
//! processes (the crate's reference machine) and the real `hv` binary,
//! talking over real sockets.

#![allow(dead_code)] // Each test file uses a different part.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

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

/// A running `hv-counter`. A thread drains its stdout as it comes.
pub struct Vm {
    pub child: Child,
    pub values: Receiver<u64>,
    pub runtime: PathBuf,
    /// When it was spawned: its registry entry is no older.
    pub spawned: u64,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hv-counter ARGS…` as a command, with an ephemeral port and the test registry.
pub fn counter_command(runtime: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hv-counter"));
    command
        .args(args)
        .env("MOVA_LISTEN", "127.0.0.1:0")
        .env("MOVA_RUNTIME_DIR", runtime)
        .env_remove("MOVA_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    command
}

impl Vm {
    /// Starts `hv-counter ARGS…` registered in the tests' runtime directory.
    pub fn start(args: &[&str]) -> Vm {
        Vm::spawn(counter_command(&runtime_dir(), args), runtime_dir())
    }

    /// Starts a prepared command (stdout piped) and waits until it registered.
    pub fn spawn(command: Command, runtime: PathBuf) -> Vm {
        let vm = Vm::spawn_unregistered(command, runtime);
        vm.wait_registered();
        vm
    }

    /// Starts a prepared command (stdout piped) without waiting for its registration.
    pub fn spawn_unregistered(mut command: Command, runtime: PathBuf) -> Vm {
        let spawned = hypervisor::registry::now_secs();
        let mut child = command.spawn().expect("hv-counter starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, values) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                let value = line.parse().unwrap_or_else(|_| panic!("not a number: {line:?}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Vm { child, values, runtime, spawned }
    }

    pub fn entry_path(&self) -> PathBuf {
        self.runtime.join(format!("{}.json", self.child.id()))
    }

    fn wait_registered(&self) {
        let entry = hypervisor::registry::wait_for_entry(&self.entry_path(), self.spawned, Duration::from_secs(10));
        assert!(entry.is_some(), "VM {} never registered", self.child.id());
    }

    /// The control endpoint, `127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        hypervisor::registry::read_entry(&self.entry_path()).expect("a registry entry").endpoint
    }

    /// The instance id.
    pub fn instance(&self) -> String {
        hypervisor::registry::read_entry(&self.entry_path()).expect("a registry entry").instance
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// The next `n` printed values.
    pub fn take(&mut self, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.values.recv_timeout(Duration::from_secs(30)).expect("the VM prints")).collect()
    }

    /// Every value printed until stdout closes.
    pub fn read_to_end(&mut self) -> Vec<u64> {
        self.values.iter().collect()
    }

    /// What was printed so far, without waiting.
    pub fn drain(&mut self) -> Vec<u64> {
        self.values.try_iter().collect()
    }

    /// Waits for the process to end; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }

    /// A field of /proc/PID/status, e.g. `Threads` or `VmRSS` (the number).
    pub fn proc_status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// CPU time used so far (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

/// `hv ARGS…` against the tests' registry, without a token from the environment.
pub fn hv(args: &[&str]) -> Command {
    hv_in(&runtime_dir(), args)
}

/// `hv ARGS…` with its own runtime directory (for its leases).
pub fn hv_in(runtime: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hv"));
    command.args(args).env("MOVA_RUNTIME_DIR", runtime).env_remove("MOVA_TOKEN").stdin(Stdio::null());
    command
}

pub fn run(mut command: Command) -> Output {
    command.output().unwrap()
}

/// `hv ARGS…` must succeed; its stdout.
pub fn hv_ok(args: &[&str]) -> String {
    let out = run(hv(args));
    assert!(
        out.status.success(),
        "hv {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `hv ARGS…` must fail with exit 1; its stderr.
pub fn hv_err(args: &[&str]) -> String {
    let out = run(hv(args));
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
    hypervisor::protocol::field(reply, "lease").unwrap_or_else(|| panic!("no lease in {reply:?}")).to_string()
}

/// Values must count up by one.
pub fn assert_counts_up(values: &[u64]) {
    for pair in values.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "a value was lost or repeated in {values:?}");
    }
}
