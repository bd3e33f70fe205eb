//! `manda run` under the hypervisor's host, as `mova run` is: a control
//! port, a registry entry, leases, interrupt/resume/kill, signals. Saving
//! is refused with a clear reason until Manda has a snapshot format.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;
use vm_host::protocol::Command;
use vm_host::Client;

fn runtime() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("manda-runtime")
}

struct Run {
    child: Child,
    values: Receiver<u64>,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> (Run, Client) {
    start_program("counter.s")
}

/// Runs `tests/hosted/NAME` under `manda run` and connects to it.
fn start_program(name: &str) -> (Run, Client) {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manda/hosted").join(name);
    let spawned = vm_host::registry::now_secs();
    let mut child = common::manda_command()
        .arg("run")
        .arg(program)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, values) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line.parse().unwrap()).is_err() {
                break;
            }
        }
    });
    let entry = common::wait_registered(child.id(), spawned);
    let client = Client::connect(&entry.endpoint, None).unwrap();
    assert_eq!(entry.machine, "manda");
    assert_eq!(entry.program_hash.len(), 64);
    (Run { child, values }, client)
}

#[test]
fn manda_is_interrupted_resumed_and_killed_like_mova() {
    let (mut run, mut client) = start();
    assert!(client.status().mode == "running" && client.status().machine == "manda");
    let (lease, said) = client.interrupt(None).unwrap();
    assert!(said.starts_with("interrupted pc=0x") && said.contains(" steps="), "{said}");
    // Interrupted output is flushed: what it printed is all there, and nothing more comes.
    std::thread::sleep(Duration::from_millis(50));
    let mut seen: Vec<u64> = run.values.try_iter().collect();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(run.values.try_iter().count(), 0, "interrupted means stopped");
    let snapshot = client.save(&lease).unwrap();
    assert_eq!(&snapshot[..8], b"MANDASNP");
    assert_eq!(client.call(&Command::Resume(lease.to_string())).unwrap(), "running");
    seen.extend((0..3).map(|_| run.values.recv_timeout(Duration::from_secs(10)).unwrap()));
    assert_eq!(client.kill(Some(&lease)).unwrap(), "killed");
    seen.extend(run.values.iter());
    for pair in seen.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{seen:?}");
    }
    assert_eq!(run.child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_signal_ends_manda_and_removes_its_entry() {
    let (mut run, _client) = start();
    run.values.recv_timeout(Duration::from_secs(10)).unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(run.child.id() as i32, libc::SIGTERM) };
    assert_eq!(run.child.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    assert!(!runtime().join(format!("{}.json", run.child.id())).exists());
    let stderr = std::io::read_to_string(run.child.stderr.take().unwrap()).unwrap();
    assert_eq!(stderr, "manda: ended by signal 15\n");
}

#[test]
fn an_interrupt_stops_every_context_of_a_parallel_program() {
    let (mut run, mut client) = start_program("parallel_counter.s");
    run.values.recv_timeout(Duration::from_secs(10)).unwrap();
    let (lease, said) = client.interrupt(None).unwrap();
    assert!(said.starts_with("interrupted pc=0x") && said.ends_with(" contexts=4"), "{said}");
    // The counter (sleeping most of the time), the spinner (busy) and the
    // waiters (blocked) are all stopped: nothing more is printed.
    std::thread::sleep(Duration::from_millis(50));
    let mut seen: Vec<u64> = run.values.try_iter().collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(run.values.try_iter().count(), 0, "interrupted means every context stopped");
    let status = client.call(&Command::Status).unwrap();
    assert!(status.starts_with("interrupted manda "), "{status}");
    assert_eq!(client.call(&Command::Resume(lease.to_string())).unwrap(), "running");
    seen.extend((0..3).map(|_| run.values.recv_timeout(Duration::from_secs(10)).unwrap()));
    assert_eq!(client.kill(Some(&lease)).unwrap(), "killed");
    seen.extend(run.values.iter());
    for pair in seen.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "counted on from where it stopped: {seen:?}");
    }
    assert_eq!(run.child.wait().unwrap().code(), Some(0));
}
