//! The `hv` binary's errors when there is no VM to talk to (the tests with
//! real VMs are in the `mova` crate, which has the `mova` binary).

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

fn hv(args: &[&str]) -> Output {
    let runtime = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hv-cli-runtime");
    Command::new(env!("CARGO_BIN_EXE_hv"))
        .args(args)
        .env("MOVA_RUNTIME_DIR", runtime)
        .env_remove("MOVA_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `hv ARGS` fails with exit 1 and exactly `stderr`.
fn fails(args: &[&str], stderr: &str) {
    let out = hv(args);
    assert_eq!(String::from_utf8_lossy(&out.stderr), stderr, "hv {args:?}");
    assert_eq!(out.status.code(), Some(1), "hv {args:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_pid_with_no_vm_is_a_clear_error() {
    fails(&["status", "4000000"], "hv: no VM with PID 4000000 (hv ps lists them)\n");
    fails(&["migrate", "4000000", "--to", "4000001"], "hv: no VM with PID 4000000 (hv ps lists them)\n");
}

#[test]
fn a_closed_port_is_a_clear_error() {
    // A free port below the ephemeral range (32768 and up on Linux), where
    // the other tests' VMs, which bind port 0, never land: nothing can start
    // listening on it between the check and `hv`'s connect (a port from
    // `bind 0` was once taken by a test VM in that moment).
    let port = (20000..32000)
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port below the ephemeral range");
    // The listener is dropped: nothing listens on the port now.
    let target = format!("127.0.0.1:{port}");
    for command in ["status", "interrupt", "resume", "kill"] {
        fails(&[command, &target], &format!("hv: cannot connect to {target}: Connection refused (os error 111)\n"));
    }
    fails(&["sstate", &target], &format!("hv: cannot connect to {target}: Connection refused (os error 111)\n"));
}

#[test]
fn a_malformed_target_is_a_clear_error() {
    for target in ["nowhere", "host:", ":80", "host:99999"] {
        fails(&["status", target], &format!("hv: `{target}` is neither a PID nor HOST:PORT\n"));
    }
}

#[test]
fn an_unknown_host_is_a_clear_error() {
    let out = hv(&["status", "no-such-host.invalid:34567"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("hv: cannot connect to no-such-host.invalid:34567: "), "{stderr}");
}

#[test]
fn rstate_names_a_missing_file() {
    fails(
        &["rstate", "127.0.0.1:1", "-i", "/nonexistent/state"],
        "hv: cannot read /nonexistent/state: No such file or directory (os error 2)\n",
    );
}

#[test]
fn ps_with_no_vms_prints_the_header_only() {
    let out = hv(&["ps"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "    PID  MACHINE STATE        ENDPOINT                UPTIME  DETAIL                         PROGRAM\n"
    );
    assert_eq!(String::from_utf8_lossy(&hv(&["ps", "--json"]).stdout), "[]\n");
}

#[test]
fn the_shell_reads_a_script_and_reports_failures_in_its_exit_status() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hv"))
        .env("MOVA_RUNTIME_DIR", std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hv-cli-runtime"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"# a comment\n\ntoken abc\nsstate\nrstate 1\nstatus\nfrobnicate\nexit\nstatus\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "token set\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: no current VM: name one (hv ps lists them)\n\
         error: no state kept: run sstate first, or give -i FILE\n\
         error: no current VM: name one (hv ps lists them)\n\
         error: unrecognized subcommand 'frobnicate'\n\nUsage: <COMMAND>\n\nFor more information, try 'help'.\n"
    );
    assert_eq!(out.status.code(), Some(1));
}
