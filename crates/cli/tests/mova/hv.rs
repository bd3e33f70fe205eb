//! End to end through the `hv` binary: real VMs named by PID, one-shot
//! commands, the interactive shell driven by a script, tokens.

mod common;

use common::{assert_counts_up, hv, hv_err, hv_ok, scratch, Vm};
use std::io::Write;
use std::process::Stdio;

/// Runs the `hv` shell with `script` on stdin; (stdout, stderr, exit code).
fn shell(script: &str) -> (String, String, Option<i32>) {
    test_support::vm::run_script(hv(&[]), script)
}

#[test]
fn the_seeds_session_in_the_shell_moves_the_counter() {
    let mut a = Vm::start("vms/counter_sleep1.mv", &[]);
    let mut b = Vm::start("vms/counter_sleep1.mv", &["--wait"]);
    let (pa, pb) = (a.pid(), b.pid());
    let mut seen = a.take(3);
    let (out, err, code) = shell(&format!("interrupt {pa}\nsstate\nrstate {pb}\nkill {pa}\n"));
    assert_eq!(err, "");
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("interrupted ip="), "{out}");
    assert_eq!(lines[1], format!("kept 72 bytes of state from {pa}"));
    assert!(lines[2].starts_with("restored ip=") && lines[2].ends_with(", running"), "{out}");
    assert_eq!(lines[3], "killed");
    seen.extend(a.read_to_end());
    let last = *seen.last().unwrap();
    assert_eq!(b.take(2), [last + 1, last + 2], "B continues from A's last value");
    assert_counts_up(&seen);
}

#[test]
fn hv_migrate_moves_the_counter() {
    let mut a = Vm::start("vms/counter_sleep0.mv", &[]);
    let mut b = Vm::start("vms/counter_sleep0.mv", &["--wait"]);
    let mut seen = a.take(2);
    assert_eq!(hv_ok(&["migrate", &a.pid(), "--to", &b.pid()]), format!("migrated {} -> {}\n", a.pid(), b.pid()));
    seen.extend(a.read_to_end());
    seen.extend(b.take(3));
    assert_counts_up(&seen);
}

#[test]
fn sstate_to_a_file_then_rstate_paused_then_resume() {
    let mut a = Vm::start("vms/counter_sleep1.mv", &[]);
    let mut b = Vm::start("vms/counter_sleep1.mv", &["--wait"]);
    let (pa, pb) = (a.pid(), b.pid());
    let mut seen = a.take(2);
    assert!(hv_ok(&["interrupt", &pa]).starts_with("interrupted ip="));
    let file = scratch(&format!("state-{pa}.bin"));
    assert_eq!(hv_ok(&["sstate", &pa, "-o", file.to_str().unwrap()]), "");
    let saved = std::fs::read(&file).unwrap();
    assert_eq!(saved.len(), 72);
    assert_eq!(&saved[..2], [0x5A, 0x1D], "the identity segment comes first");
    // To a pipe: the same bytes.
    let piped = hv(&["sstate", &pa]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(piped.stdout, saved);
    assert_eq!(hv_ok(&["kill", &pa]), "killed\n");
    seen.extend(a.read_to_end());
    let said = hv_ok(&["rstate", &pb, "-i", file.to_str().unwrap(), "--paused"]);
    assert!(said.starts_with("restored ip=") && said.ends_with(" (paused)\n"), "{said}");
    assert!(hv_ok(&["status", &pb]).starts_with(&format!("interrupted mova pid={pb} ")));
    assert_eq!(hv_ok(&["resume", &pb]), "running\n");
    seen.extend(b.take(3));
    assert_counts_up(&seen);
}

#[test]
fn rstate_from_stdin_and_refusals() {
    let a = Vm::start("vms/counter_sleep1.mv", &[]);
    let mut b = Vm::start("vms/counter_sleep1.mv", &["--wait"]);
    let (pa, pb) = (a.pid(), b.pid());
    assert_eq!(hv_err(&["sstate", &pa]), format!("hv: {pa}: running: interrupt it first\n"));
    hv_ok(&["interrupt", &pa]);
    let state = hv(&["sstate", &pa]).stdin(Stdio::null()).output().unwrap().stdout;
    // Truncated: refused, B still waiting.
    let truncated = scratch(&format!("truncated-{pa}.bin"));
    std::fs::write(&truncated, &state[..40]).unwrap();
    assert_eq!(
        hv_err(&["rstate", &pb, "-i", truncated.to_str().unwrap()]),
        format!("hv: {pb}: state byte 34: no checksum segment at the end (expected header 0xC4C5, found 0x101E)\n")
    );
    let status = hv_ok(&["status", &pb]);
    assert!(status.starts_with("waiting") && status.contains(" lease=none "), "left as it was: {status}");
    // Larger than a Mova VM accepts: refused with the sizes before a byte is sent (it was
    // `Broken pipe` when the VM closed the connection on the announced length).
    let huge = scratch(&format!("huge-{pa}.bin"));
    std::fs::write(&huge, vec![0u8; 600_000]).unwrap();
    assert_eq!(
        hv_err(&["rstate", &pb, "-i", huge.to_str().unwrap()]),
        format!("hv: {pb}: the state is 600000 bytes, more than this VM accepts (max-state 524344 bytes); nothing was sent\n")
    );
    let status = hv_ok(&["status", &pb]);
    assert!(status.starts_with("waiting") && status.contains(" lease=none "), "left as it was: {status}");
    // From stdin.
    let mut child = hv(&["rstate", &pb]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(&state).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(", running\n"));
    let first = b.take(1)[0];
    assert!(first > 1, "B continued from A's state, not from the start");
}

#[test]
fn ps_lists_the_vms_with_their_states() {
    let a = Vm::start("vms/counter_sleep1.mv", &[]);
    let b = Vm::start("vms/counter_sleep1.mv", &["--wait"]);
    let table = hv_ok(&["ps"]);
    let row = |pid: String| table.lines().find(|l| l.trim_start().starts_with(&format!("{pid} "))).unwrap().to_string();
    let (ra, rb) = (row(a.pid()), row(b.pid()));
    assert!(ra.contains(" mova ") && ra.contains(" running ") && ra.ends_with("counter_sleep1.mv"), "{ra}");
    assert!(rb.contains(" waiting "), "{rb}");
    let json: serde_json::Value = serde_json::from_str(&hv_ok(&["ps", "--json"])).unwrap();
    let entry = json.as_array().unwrap().iter().find(|e| e["pid"].as_u64() == Some(u64::from(a.child.id()))).unwrap();
    assert_eq!(entry["machine"], "mova");
    assert_eq!(entry["state"], "running");
    assert!(entry["endpoint"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(entry["program_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn a_token_protected_vm_refuses_a_missing_or_wrong_token() {
    let mut a = Vm::start("vms/counter_sleep0.mv", &[]);
    let mut b = Vm::start("vms/counter_sleep0.mv", &["--wait", "--token", "s3cret"]);
    let (pa, pb) = (a.pid(), b.pid());
    let refused = format!("hv: {pb}: unauthorized: send `auth TOKEN` first\n");
    assert_eq!(hv_err(&["status", &pb]), refused);
    assert_eq!(hv_err(&["migrate", &pa, "--to", &pb]), refused);
    assert_eq!(hv_err(&["migrate", &pa, "--to", &pb, "--token", "guess"]), refused);
    assert!(hv_ok(&["status", &pa]).starts_with("running"), "the source was never stopped");
    let mut seen = a.take(2);
    // The right token, from the environment as a user would set it.
    let out = hv(&["migrate", &pa, "--to", &pb]).env("MOVA_TOKEN", "s3cret").stdin(Stdio::null()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("migrated {pa} -> {pb}\n"));
    seen.extend(a.read_to_end());
    seen.extend(b.take(3));
    assert_counts_up(&seen);
}

#[test]
fn the_main_job_script_moves_its_own_vms_even_beside_a_lookalike() {
    // A process whose command line looks like the script's VM: a host-wide `pgrep -f` would pick it.
    let mut decoy = std::process::Command::new("bash")
        .args(["-c", "exec -a 'mova run examples/counter.mv' sleep 60"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let script = common::test_file("../../../../examples/migrate.sh");
    let bin = common::hv_path().parent().unwrap().to_path_buf();
    let out = std::process::Command::new("bash")
        .arg(script)
        .env("MOVA_BIN", &bin)
        .env("MOVA_RUNTIME_DIR", common::scratch("migrate-sh-runtime"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let said = stdout.lines().find(|l| l.starts_with("migrated ")).unwrap_or_else(|| panic!("{stdout}"));
    let pids: Vec<u32> = said.split(' ').filter_map(|w| w.parse().ok()).collect();
    assert_eq!(pids.len(), 2, "{said}");
    assert!(!pids.contains(&decoy.id()), "the script moved a process it did not start");
    // A ran to B, and B printed what followed A's last value.
    let a_last: i64 = stdout.lines().filter_map(|l| l.strip_prefix("  VM A: ")).next_back().unwrap().parse().unwrap();
    let b_first: i64 = stdout.lines().find_map(|l| l.strip_prefix("  VM B: ")).unwrap().parse().unwrap();
    assert_eq!(b_first, a_last + 1);
    for pid in pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "VM {pid} outlived the script");
    }
    assert!(decoy.try_wait().unwrap().is_none(), "the lookalike was left alone");
    let _ = decoy.kill();
    let _ = decoy.wait();
}
