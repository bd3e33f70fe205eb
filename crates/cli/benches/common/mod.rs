//! What the benchmarks that start real VM processes share: the repository's
//! files, a registry of their own, and a VM process started and waited for.

#![allow(dead_code)] // Each benchmark uses a different part.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vm_host::registry;

/// A file of the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// The registry the benchmark's VMs use, apart from the user's (removed at the end).
pub fn runtime_dir() -> PathBuf {
    std::env::temp_dir().join(format!("vm-bench-{}", std::process::id()))
}

/// A VM process, killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` (a VM program and its arguments) on an ephemeral port
/// in [`runtime_dir`], its output discarded; the process and its control
/// endpoint once it has registered.
pub fn start(mut command: Command) -> (Proc, String) {
    let vm = Proc(
        command
            .env("MOVA_LISTEN", "127.0.0.1:0")
            .env("MOVA_RUNTIME_DIR", runtime_dir())
            .stdout(Stdio::null())
            .spawn()
            .expect("the VM starts"),
    );
    let entry = runtime_dir().join(format!("{}.json", vm.0.id()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(entry) = registry::read_entry(&entry) {
            return (vm, entry.endpoint);
        }
        assert!(Instant::now() < deadline, "the VM never registered");
        std::thread::sleep(Duration::from_millis(1));
    }
}
