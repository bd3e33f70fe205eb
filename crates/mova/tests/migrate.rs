//! End to end: two real `mova run` processes, the hypervisor client over
//! real sockets; the program leaves one process and continues in the other.

use hypervisor::{migrate, registry, Client};
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

fn runtime_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("migrate-runtime")
}

struct Vm {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(program: &str, extra: &[&str]) -> Vm {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mova"))
        .arg("run")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(program))
        .args(extra)
        .env("MOVA_LISTEN", "127.0.0.1:0")
        .env("MOVA_RUNTIME_DIR", runtime_dir())
        .stdout(Stdio::piped())
        .spawn()
        .expect("mova starts");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    Vm { child, lines }
}

/// Waits until the VM has registered, so `hv` can name it by PID.
fn pid_of(vm: &Vm) -> String {
    std::env::set_var("MOVA_RUNTIME_DIR", runtime_dir());
    let pid = vm.child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry::find(pid).is_none() {
        assert!(Instant::now() < deadline, "VM {pid} never registered");
        std::thread::sleep(Duration::from_millis(5));
    }
    pid.to_string()
}

fn read_all(vm: &mut Vm) -> Vec<i64> {
    vm.lines.by_ref().map(|l| l.unwrap().parse().unwrap()).collect()
}

#[test]
fn migrate_continues_exactly_where_the_source_stopped() {
    // SLEEP 0 in the loop: interrupts land both in the loop and at SLEEPs, many times a second.
    let program = "tests/programs/seed_counter.mv";
    let mut a = start(program, &[]);
    let b = start(program, &["--wait"]);
    let (pa, pb) = (pid_of(&a), pid_of(&b));
    // Let A print a few values first.
    let first: Vec<i64> = a.lines.by_ref().take(3).map(|l| l.unwrap().parse().unwrap()).collect();
    assert_eq!(first, [1, 2, 3]);
    let said = migrate(&pa, &pb, None).expect("migration succeeds");
    assert_eq!(said, format!("migrated {pa} -> {pb}"));
    let mut a_rest = read_all(&mut a); // A was killed after B confirmed: its stdout ends.
    let last_a = *a_rest.last().unwrap_or(&3);
    a_rest.splice(0..0, first);
    let mut b = b;
    let b_first: Vec<i64> = b.lines.by_ref().take(3).map(|l| l.unwrap().parse().unwrap()).collect();
    assert_eq!(b_first, [last_a + 1, last_a + 2, last_a + 3], "B's first PRINT is A's last + 1");
    assert_eq!(a_rest, (1..=last_a).collect::<Vec<_>>(), "A printed every value once, in order");
}

#[test]
fn a_bad_state_is_refused_and_both_vms_stay_usable() {
    let a = start("tests/programs/seed_counter.mv", &[]);
    let b = start("tests/programs/mv_arith.mv", &["--wait"]);
    let (pa, pb) = (pid_of(&a), pid_of(&b));
    // Wrong program: the migration fails and the source resumes.
    let err = migrate(&pa, &pb, None).unwrap_err().to_string();
    assert!(err.contains("the state belongs to another program") && err.contains("the source was resumed"), "{err}");
    let mut src = Client::connect(&pa, None).unwrap();
    assert!(src.call("status", None).unwrap().starts_with("running mova"));
    // A corrupted byte and an oversized length prefix.
    src.call("interrupt", None).unwrap();
    let mut state = src.save().unwrap();
    state[40] ^= 0x10;
    let err = src.restore(&state).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
    let err = src.call("restore 99999999999", None).unwrap_err().to_string();
    assert!(err.contains("bad payload length `99999999999`"), "{err}");
    let mut src = Client::connect(&pa, None).unwrap();
    assert_eq!(src.call("resume", None).unwrap(), "running");
    let mut dst = Client::connect(&pb, None).unwrap();
    assert!(dst.call("status", None).unwrap().starts_with("waiting"));
    assert_eq!(dst.call("resume", None).unwrap_err().to_string(), format!("{pb}: waiting: restore a state first"));
}
