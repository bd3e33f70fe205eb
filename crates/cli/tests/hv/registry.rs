//! The runtime directory is checked, not trusted: unsafe directories are
//! refused, planted files are neither followed nor waited on, `hv` checks
//! that the VM it reaches is the one registered, and signals leave no entry.

mod common;

use common::{counter_command, hv_in, private_dir, run, runtime_dir, scratch, Vm};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn stderr_of(command: Command) -> (Option<i32>, String) {
    let out = run(command);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn unsafe_dir_message(dir: &std::path::Path, why: &str) -> String {
    format!(
        "hv: runtime directory {} is not safe to use: {why} (remove it, or set MOVA_RUNTIME_DIR to a private directory)\n",
        dir.display()
    )
}

#[test]
fn a_runtime_directory_others_can_write_is_refused() {
    let dir = scratch("world-writable");
    chmod(&dir, 0o777);
    let (code, stderr) = stderr_of(hv_in(&dir, &["ps"]));
    assert_eq!(stderr, unsafe_dir_message(&dir, "it is writable by others (mode 0777)"));
    assert_eq!(code, Some(1));
    // A planted entry there, naming a live process, would have received the token: hv reads nothing.
    let planter = TcpListener::bind("127.0.0.1:0").unwrap();
    planter.set_nonblocking(true).unwrap();
    let me = std::process::id();
    let entry = format!(
        r#"{{"pid":{me},"instance":"00","machine":"mova","program":"x","program_hash":"","endpoint":"{}","started":0}}"#,
        planter.local_addr().unwrap()
    );
    std::fs::write(dir.join(format!("{me}.json")), entry).unwrap();
    let (code, stderr) = stderr_of(hv_in(&dir, &["--token", "secret", "kill", &me.to_string()]));
    assert_eq!((code, stderr), (Some(1), unsafe_dir_message(&dir, "it is writable by others (mode 0777)")));
    // A VM named by HOST:PORT needs no registry, but its lease would be kept there: checked before it is stopped.
    let mut vm = Vm::start(&["--period-ms", "1"]);
    let (code, stderr) = stderr_of(hv_in(&dir, &["interrupt", &vm.endpoint()]));
    assert_eq!((code, stderr), (Some(1), unsafe_dir_message(&dir, "it is writable by others (mode 0777)")));
    let before = vm.take(1)[0];
    assert!(vm.take(1)[0] > before, "the VM was not stopped");
    assert!(planter.accept().is_err(), "nothing connected to the planted endpoint");
    // A VM does not register there either, and says so; it runs all the same.
    let mut command = counter_command(&dir, &[]);
    command.stderr(Stdio::piped());
    let mut vm = Vm::spawn_unregistered(command, dir.clone());
    std::thread::sleep(Duration::from_millis(300));
    assert!(!dir.join(format!("{}.json", vm.pid())).exists());
    vm.take(1);
    let _ = vm.child.kill();
    let stderr = std::io::read_to_string(vm.child.stderr.take().unwrap()).unwrap();
    assert!(
        stderr.starts_with("hv-counter: not registered, so `hv ps` will not list this VM: runtime directory "),
        "{stderr}"
    );
}

#[test]
fn a_runtime_directory_owned_by_another_user_or_a_symlink_is_refused() {
    let base = scratch("foreign");
    let real = base.join("real");
    private_dir(&real);
    let link = base.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let (_, stderr) = stderr_of(hv_in(&link, &["ps"]));
    assert_eq!(stderr, unsafe_dir_message(&link, "it is a symbolic link"));
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        let path = std::ffi::CString::new(real.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string path.
        assert_eq!(unsafe { libc::chown(path.as_ptr(), 65534, 65534) }, 0);
        let (_, stderr) = stderr_of(hv_in(&real, &["ps"]));
        assert_eq!(stderr, unsafe_dir_message(&real, "it is owned by uid 65534, not by you (uid 0)"));
    }
    // The default directory in the temp dir is checked the same way.
    let tmp = base.join("tmp");
    let default = tmp.join(format!("mova-{euid}"));
    std::fs::create_dir_all(&default).unwrap();
    chmod(&default, 0o773);
    let mut command = hv_in(&real, &["ps"]);
    command.env_remove("MOVA_RUNTIME_DIR").env_remove("XDG_RUNTIME_DIR").env("TMPDIR", &tmp);
    let (_, stderr) = stderr_of(command);
    assert_eq!(stderr, unsafe_dir_message(&default, "it is writable by others (mode 0773)"));
    // Created fresh, it is private.
    std::fs::remove_dir(&default).unwrap();
    let mut command = counter_command(&default, &[]);
    command.env_remove("MOVA_RUNTIME_DIR").env_remove("XDG_RUNTIME_DIR").env("TMPDIR", &tmp);
    let mut vm = Vm::spawn(command, default.clone());
    vm.take(1);
    assert_eq!(std::fs::metadata(&default).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn planted_fifos_symlinks_and_big_files_are_skipped_not_waited_on() {
    let dir = scratch("planted");
    private_dir(&dir);
    let vm = Vm::spawn(counter_command(&dir, &[]), dir.clone());
    let fifo = std::ffi::CString::new(dir.join("4000000.json").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/dev/zero", dir.join("4000001.json")).unwrap();
    std::fs::write(dir.join("4000002.json"), vec![b' '; 10_000]).unwrap();
    // A live process whose planted entry points at a listener that never answers.
    let sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let entry = format!(
        r#"{{"pid":{},"instance":"00","machine":"mova","program":"x","program_hash":"","endpoint":"{}","started":0}}"#,
        sleeper.id(),
        silent.local_addr().unwrap()
    );
    std::fs::write(dir.join(format!("{}.json", sleeper.id())), entry).unwrap();
    let started = Instant::now();
    let out = run(hv_in(&dir, &["ps"]));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(started.elapsed() < Duration::from_secs(4), "hv ps took {:?}", started.elapsed());
    assert!(out.status.success());
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.lines().any(|l| l.trim_start().starts_with(&vm.pid()) && l.contains(" running ")), "{table}");
    assert!(table
        .lines()
        .any(|l| l.trim_start().starts_with(&sleeper.id().to_string()) && l.contains(" unreachable ")));
    for pid in ["4000000", "4000001", "4000002"] {
        let (code, stderr) = stderr_of(hv_in(&dir, &["status", pid]));
        assert_eq!((code, stderr), (Some(1), format!("hv: no VM with PID {pid} (hv ps lists them)\n")));
    }
    let mut sleeper = sleeper;
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn a_planted_lease_symlink_is_replaced_not_followed() {
    let mut vm = Vm::start(&[]);
    let victim = scratch("lease-victim").join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let lease_file = runtime_dir().join(format!("lease-{}", vm.instance()));
    std::os::unix::fs::symlink(&victim, &lease_file).unwrap();
    let out = run(hv_in(&runtime_dir(), &["interrupt", &vm.pid()]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&lease_file).unwrap();
    assert!(meta.is_file(), "the lease is a regular file now");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The lease kept there works: `hv resume` runs the VM on. (Waiting for
    // the lease to lapse instead raced the 60 s lease against the 60 s wait
    // for a print, and lost under load.)
    let out = run(hv_in(&runtime_dir(), &["resume", &vm.pid()]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    vm.take(1);
}

#[test]
fn hv_refuses_a_vm_that_is_not_the_one_registered() {
    let a = Vm::start(&[]);
    let mut b = Vm::start(&[]);
    // A's entry now names B's port: a reused PID, or a planted entry.
    let path = a.entry_path();
    let mut entry = vm_host::registry::read_entry(&path).unwrap();
    let a_instance = entry.instance.clone();
    entry.endpoint = b.endpoint();
    std::fs::write(&path, serde_json::to_vec(&entry).unwrap()).unwrap();
    let (code, stderr) = stderr_of(hv_in(&runtime_dir(), &["kill", &a.pid()]));
    assert_eq!(
        stderr,
        format!(
            "hv: {}: the VM at {} is not the one registered (it is pid {} instance {}, the entry says pid {} instance \
             {a_instance}); refusing to control it\n",
            a.pid(),
            b.endpoint(),
            b.pid(),
            b.instance(),
            a.pid()
        )
    );
    assert_eq!(code, Some(1));
    let table = String::from_utf8_lossy(&run(hv_in(&runtime_dir(), &["ps"])).stdout).to_string();
    assert!(table.lines().any(|l| l.trim_start().starts_with(&a.pid()) && l.contains(" impostor ")), "{table}");
    b.take(2);
}

#[test]
fn signals_end_the_vm_gracefully_and_remove_its_entry() {
    for (signal, name) in [(libc::SIGTERM, "TERM"), (libc::SIGINT, "INT"), (libc::SIGHUP, "HUP")] {
        let mut command = counter_command(&runtime_dir(), &[]);
        command.stderr(Stdio::piped());
        let mut vm = Vm::spawn(command, runtime_dir());
        vm.take(2);
        let entry = vm.entry_path();
        assert!(entry.exists());
        // SAFETY: signalling our own child.
        unsafe { libc::kill(vm.child.id() as i32, signal) };
        assert_eq!(vm.wait(), Some(128 + signal), "SIG{name}");
        assert!(!entry.exists(), "SIG{name} left the registry entry");
        let stderr = std::io::read_to_string(vm.child.stderr.take().unwrap()).unwrap();
        assert_eq!(stderr, format!("hv-counter: ended by signal {signal}\n"));
    }
    // A VM blocked writing to a full pipe cannot reach a boundary: it still goes, and cleans up.
    let mut command = counter_command(&runtime_dir(), &["--period-ms", "0"]);
    let spawned = vm_host::registry::now_secs();
    let mut blocked = command.spawn().unwrap();
    let entry = runtime_dir().join(format!("{}.json", blocked.id()));
    assert!(vm_host::registry::wait_for_entry(&entry, spawned, Duration::from_secs(10)).is_some());
    std::thread::sleep(Duration::from_millis(200)); // Long enough to fill the pipe.
    let started = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(blocked.id() as i32, libc::SIGTERM) };
    assert_eq!(blocked.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(!entry.exists());
}

#[test]
fn status_shows_no_stale_position_while_running() {
    let mut vm = Vm::start(&["--period-ms", "1"]);
    let (pid, instance) = (vm.pid(), vm.instance());
    let status = String::from_utf8_lossy(&run(hv_in(&runtime_dir(), &["status", &pid])).stdout).to_string();
    assert_eq!(
        status,
        format!(
            "running hv-counter pid={pid} instance={instance} protocol=5 lease=none max-state=20 program=counter\n"
        )
    );
    run(hv_in(&runtime_dir(), &["interrupt", &pid]));
    std::thread::sleep(Duration::from_millis(50));
    let last = *vm.drain().last().unwrap();
    let status = String::from_utf8_lossy(&run(hv_in(&runtime_dir(), &["status", &pid])).stdout).to_string();
    assert_eq!(
        status,
        format!(
            "interrupted hv-counter pid={pid} instance={instance} protocol=5 lease=held max-state=20 count={last} \
             program=counter\n"
        )
    );
}

/// PIDs come round again (within minutes where `pid_max` is 32768): an entry
/// a killed VM left under the PID a new VM now has is not the new VM's. Test
/// harnesses took such a stale entry for a new VM's and connected to a dead
/// endpoint, now and then, under a full test run.
#[test]
fn waiting_for_an_entry_skips_one_left_by_an_earlier_process() {
    let dir = scratch("stale-entry");
    private_dir(&dir);
    let path = dir.join("4000010.json");
    let entry = |started: u64| {
        format!(
            r#"{{"pid":4000010,"instance":"00","machine":"mova","program":"x","program_hash":"","endpoint":"127.0.0.1:1","started":{started}}}"#
        )
    };
    let now = vm_host::registry::now_secs();
    std::fs::write(&path, entry(now - 100)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(vm_host::registry::wait_for_entry(&path, now, Duration::from_millis(50)).is_none());
    std::fs::write(&path, entry(now)).unwrap();
    let fresh = vm_host::registry::wait_for_entry(&path, now, Duration::from_millis(50)).expect("the new entry");
    assert_eq!(fresh.started, now);
}

/// Regression: `hv sstate -o FILE` wrote through a temp file with a name
/// anyone could predict (`.FILE.tmpPID`), created through a symlink: one
/// planted beside FILE in a shared directory made `hv` overwrite the file it
/// pointed to. The temp file now has a random name and is created new,
/// never through a symlink.
#[test]
fn a_state_file_is_written_past_planted_symlinks_not_through_them() {
    let mut vm = Vm::start(&["--period-ms", "5"]);
    let dir = scratch("planted-state-dir");
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    // Every name the old scheme could pick for this machine's PIDs.
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max").map_or(32768, |s| s.trim().parse().unwrap());
    for pid in 1..=pid_max.min(1 << 16) {
        std::os::unix::fs::symlink(&victim, dir.join(format!(".state.tmp{pid}"))).unwrap();
    }
    let state = dir.join("state");
    assert!(run(common::hv(&["interrupt", &vm.pid()])).status.success());
    let out = run(common::hv(&["sstate", &vm.pid(), "-o", state.to_str().unwrap()]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let saved = std::fs::read(&state).unwrap();
    assert_eq!((saved.len(), &saved[..4]), (20, &b"CNT1"[..]));
    assert!(std::fs::symlink_metadata(&state).unwrap().file_type().is_file());
    let _ = run(common::hv(&["resume", &vm.pid()]));
    vm.drain();
    let _ = std::fs::remove_dir_all(&dir);
}
