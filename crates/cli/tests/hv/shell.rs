//! The `hv` shell driven by a script, against a real VM.

mod common;

use common::{hv, Vm};

/// Runs the `hv` shell with `script` on stdin; (stdout, stderr, exit code).
fn shell(script: &str) -> (String, String, Option<i32>) {
    test_support::vm::run_script(hv(&[]), script)
}

#[test]
fn a_failed_command_does_not_change_the_current_vm() {
    let vm = Vm::start(&[]);
    let pid = vm.pid();
    let (out, err, code) = shell(&format!("status {pid}\nstatus 4000000\nstatus\n"));
    assert_eq!(err, "error: no VM with PID 4000000 (hv ps lists them)\n");
    assert_eq!(code, Some(1));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().all(|l| l.starts_with(&format!("running hv-counter pid={pid} "))), "{out}");
}

#[test]
fn the_shell_holds_the_lease_between_lines() {
    let mut vm = Vm::start(&["--period-ms", "1"]);
    let pid = vm.pid();
    let (out, err, code) = shell(&format!("interrupt {pid}\nsstate\nresume\n"));
    assert_eq!((err.as_str(), code), ("", Some(0)), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("interrupted count="), "{out}");
    assert_eq!(lines[1], format!("kept 20 bytes of state from {pid}"));
    assert_eq!(lines[2], "running");
    vm.take(2);
}
