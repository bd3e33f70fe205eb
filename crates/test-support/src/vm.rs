//! A VM as a real process, for end-to-end tests: started with its own
//! ephemeral control port in a test registry, its stdout drained by a
//! thread as values (so a fast printer never blocks on a full pipe while
//! the test talks to it), killed when dropped. Every VM program (`mova
//! run`, `manda run`, `hv-counter`) is started through it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// How long a VM may take to register, and to print its next value.
const REGISTER_WITHIN: Duration = Duration::from_secs(20);
const PRINT_WITHIN: Duration = Duration::from_secs(60);

/// `binary` as a VM of the registry `runtime`, run through `prefix` if
/// given (e.g. `ip netns exec NS`, which must exec it in place): an
/// ephemeral loopback control port, no token from the environment, a
/// translation cache beside the registry (not the user's), stdin empty and
/// stdout piped. Add its arguments, then [`VmProcess::spawn`].
pub fn vm_command(prefix: &[&str], binary: &Path, runtime: &Path) -> Command {
    let mut command = through(prefix, binary);
    command
        .env("MOVA_LISTEN", "127.0.0.1:0")
        .env("MOVA_RUNTIME_DIR", runtime)
        .env("MANDA_CACHE_DIR", runtime.with_extension("cache"))
        .env_remove("MOVA_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    command
}

/// `binary`, run through `prefix` if given (which must exec it in place).
fn through(prefix: &[&str], binary: &Path) -> Command {
    match prefix.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// `hv ARGS…` against the registry `runtime`, without a token or TLS
/// credentials from the environment.
pub fn hv_command(hv: &Path, runtime: &Path, args: &[&str]) -> Command {
    hv_command_in(&[], hv, runtime, args)
}

/// [`hv_command`] run through `prefix` (e.g. `ip netns exec NS`: `hv` on another host).
pub fn hv_command_in(prefix: &[&str], hv: &Path, runtime: &Path, args: &[&str]) -> Command {
    let mut command = through(prefix, hv);
    command
        .args(args)
        .env("MOVA_RUNTIME_DIR", runtime)
        .env_remove("MOVA_TOKEN")
        .env_remove("MOVA_TLS_DIR")
        .stdin(Stdio::null());
    command
}

/// A running VM process whose stdout is one value (`T`) a line.
pub struct VmProcess<T> {
    /// The process.
    pub child: Child,
    /// The values it printed, as they come.
    pub values: Receiver<T>,
    /// The registry it registers in.
    pub runtime: PathBuf,
    /// When it was spawned: its registry entry is no older.
    pub spawned: u64,
}

impl<T> Drop for VmProcess<T> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl<T: FromStr + Send + 'static> VmProcess<T> {
    /// Spawns `command` (see [`vm_command`]) and waits until it registered in `runtime`.
    pub fn spawn(command: Command, runtime: &Path) -> VmProcess<T> {
        let vm = VmProcess::spawn_unregistered(command, runtime);
        let entry = vm_host::registry::wait_for_entry(&vm.entry_path(), vm.spawned, REGISTER_WITHIN);
        assert!(entry.is_some(), "VM {} never registered", vm.child.id());
        vm
    }

    /// Spawns `command` without waiting for its registry entry (for one
    /// that is expected not to start).
    pub fn spawn_unregistered(mut command: Command, runtime: &Path) -> VmProcess<T> {
        let spawned = vm_host::registry::now_secs();
        let mut child = command.spawn().expect("the VM starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped (vm_command)"));
        let (tx, values) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let value = line.parse().unwrap_or_else(|_| panic!("not a value: {line:?}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        VmProcess { child, values, runtime: runtime.to_path_buf(), spawned }
    }

    /// Its registry entry's path.
    pub fn entry_path(&self) -> PathBuf {
        self.runtime.join(format!("{}.json", self.child.id()))
    }

    /// The control endpoint, `127.0.0.1:PORT`, from its registry entry.
    pub fn endpoint(&self) -> String {
        vm_host::registry::read_entry(&self.entry_path()).expect("a registry entry").endpoint
    }

    /// Its instance id, from its registry entry.
    pub fn instance(&self) -> String {
        vm_host::registry::read_entry(&self.entry_path()).expect("a registry entry").instance
    }

    /// The PID, as `hv` names the VM.
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// The next `n` printed values.
    pub fn take(&mut self, n: usize) -> Vec<T> {
        (0..n).map(|_| self.values.recv_timeout(PRINT_WITHIN).expect("the VM prints")).collect()
    }

    /// Every value printed until stdout closes.
    pub fn read_to_end(&mut self) -> Vec<T> {
        self.values.iter().collect()
    }

    /// The values printed so far and not yet taken.
    pub fn drain(&mut self) -> Vec<T> {
        self.values.try_iter().collect()
    }

    /// Waits for the process to end; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }

    /// A number field of `/proc/PID/status` (e.g. `VmRSS`, in kB).
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

/// Runs `command` (an `hv` with no subcommand: its shell) with `script` on
/// stdin, to its end: (stdout, stderr, exit code).
pub fn run_script(mut command: Command, script: &str) -> (String, String, Option<i32>) {
    use std::io::Write;
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap(), out.status.code())
}

/// Declares `pub struct $name(VmProcess<$value>)`, which derefs to the
/// [`VmProcess`], so a test's common module adds only its own way to start
/// its binary (`impl $name { pub fn start(…) }`).
#[macro_export]
macro_rules! vm_process {
    ($(#[$doc:meta])* $name:ident, $value:ty) => {
        $(#[$doc])*
        pub struct $name($crate::vm::VmProcess<$value>);

        impl std::ops::Deref for $name {
            type Target = $crate::vm::VmProcess<$value>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
}
