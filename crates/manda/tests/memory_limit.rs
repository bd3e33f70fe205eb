//! What the host holds stays within `--max-memory` plus a small constant,
//! whatever the program does. Each resource a program can make more of —
//! contexts, ports, queued messages, call frames, pages — is made by a real
//! `manda run` until the memory limit stops it, and the process's peak
//! resident set, as the kernel counted it (`wait4`), is checked against the
//! limit: not the meter's own report.

mod common;

use std::io::Read;
use std::process::Stdio;

/// The limit the programs run under.
const LIMIT_MIB: u64 = 32;
/// What the runtime itself may hold beyond the limit (its code, threads,
/// allocator and buffers): the constant docs/manda/running.md documents.
const ABOVE_MIB: u64 = 22;

/// Runs `manda run --max-memory 32M OPTIONS… tests/limits/PROGRAM` to its
/// end: (peak resident set in MiB, exit status, stderr).
fn peak(options: &[&str], program: &str) -> (u64, i32, String) {
    peak_of(options, &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/limits").join(program))
}

/// Runs `manda run --max-memory 32M OPTIONS… PATH` to its end: (peak
/// resident set in MiB, exit status, stderr).
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives the peak resident set
fn peak_of(options: &[&str], path: &std::path::Path) -> (u64, i32, String) {
    let mut child = common::manda_command()
        .args(["run", "--max-memory", &format!("{LIMIT_MIB}M")])
        .args(options)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for the child this test spawned, writing into the two locals.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(waited, child.id() as libc::pid_t, "wait4");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    (usage.ru_maxrss as u64 / 1024, code, stderr)
}

/// The program ran into the memory limit, and the host held at most the limit and the constant.
fn within_the_limit(options: &[&str], program: &str) {
    let (peak, code, stderr) = peak(options, program);
    assert_eq!(code, 3, "{program}: {stderr}");
    assert!(stderr.starts_with("trap: out of memory: "), "{program} must reach the memory limit: {stderr}");
    assert!(stderr.contains(&format!("would pass the limit of {}", LIMIT_MIB << 20)), "{stderr}");
    assert_within(peak, program);
}

#[test]
fn contexts_forked_until_the_limit_stay_within_it() {
    within_the_limit(&[], "contexts.s");
}

#[test]
fn ports_made_until_the_limit_stay_within_it() {
    // A port limit far above what the memory holds: memory must stop it first.
    within_the_limit(&["--max-ports", "2000000"], "ports.s");
}

#[test]
fn messages_queued_until_the_limit_stay_within_it() {
    within_the_limit(&["--max-port-bytes", "17179869184"], "messages.s");
}

#[test]
fn call_frames_pushed_until_the_limit_stay_within_it() {
    within_the_limit(&["--max-call-depth", "4294967295"], "calls.s");
}

#[test]
fn pages_written_until_the_limit_stay_within_it() {
    within_the_limit(&[], "pages.s");
}

/// The process held at most the limit and the constant.
fn assert_within(peak: u64, what: &str) {
    assert!(
        peak <= LIMIT_MIB + ABOVE_MIB,
        "{what}: the process held {peak} MiB under --max-memory {LIMIT_MIB}M (at most {} allowed)",
        LIMIT_MIB + ABOVE_MIB
    );
}

/// Found by an adversary: 973 bytes of module (85 functions of 49,000
/// locals each, one instruction to zero each local) made the translator
/// hold 200 MB before the machine's limit was looked at; a 64M VM held
/// 655 MB. The translation now stops at the limit.
#[test]
fn translating_a_module_until_the_limit_stays_within_it() {
    let module = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("limit-locals.wasm");
    std::fs::write(&module, common::many_locals(85, 49_000)).unwrap();
    let (peak, code, stderr) = peak_of(&["--invoke", "f0"], &module);
    assert_eq!(code, 1, "{stderr}");
    let refused = format!(
        "manda: {}: translating the module needs more than the memory limit of {} bytes (it held ",
        module.display(),
        LIMIT_MIB << 20
    );
    assert!(stderr.starts_with(&refused), "{stderr}");
    assert_within(peak, "translating");
}

/// A 5 MB executable decodes into 30 MB of instructions: the decoding stops
/// at the limit, before the machine is built.
#[test]
fn decoding_an_executable_until_the_limit_stays_within_it() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let module = dir.join("limit-decode.wasm");
    std::fs::write(&module, common::many_locals(20, 49_000)).unwrap();
    let exe = dir.join("limit-decode.mx");
    let made = common::manda_command().args(["wasm", "--invoke", "f0", "-o"]).arg(&exe).arg(&module).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (peak, code, stderr) = peak_of(&[], &exe);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with(&format!("manda: {}: offset ", exe.display())), "{stderr}");
    let refused =
        format!(": the file and its decoded code need more than the memory limit of {} bytes\n", LIMIT_MIB << 20);
    assert!(stderr.ends_with(&refused), "{stderr}");
    assert_within(peak, "decoding");
}

#[test]
fn saving_a_machine_does_not_copy_its_memory() {
    // 48 MiB of heap under a 64 MiB limit: a save that copied it would hold 96.
    let mut vm = common::Vm::start(&["--max-memory", &format!("{}M", 2 * LIMIT_MIB)], "limits/heap.s", &[]);
    assert_eq!(vm.take(1), [1]);
    let mut client = hypervisor::Client::connect(&vm.endpoint(), None).unwrap();
    let (lease, _) = client.interrupt(None).unwrap();
    let state = client.save(&lease).unwrap();
    assert!(state.len() > 48 << 20, "{} bytes", state.len());
    let status = std::fs::read_to_string(format!("/proc/{}/status", vm.child.id())).unwrap();
    let peak: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    assert!(
        peak / 1024 <= 2 * LIMIT_MIB + ABOVE_MIB,
        "saving held {} MiB under --max-memory {}M",
        peak / 1024,
        2 * LIMIT_MIB
    );
    assert_eq!(client.call(&format!("resume {lease}"), None).unwrap(), "running");
}

/// The pages a save hands out are the machine's own: if the machine runs
/// again while they are on their way (its lease holder resumed it over
/// another connection), what it writes goes to copies, and the state sent
/// is the one saved — its checksum holds and it restores.
#[test]
fn a_machine_resumed_while_its_state_is_sent_writes_copies_not_the_state() {
    use std::io::{BufRead, Read, Write};
    let mut vm = common::Vm::start(&[], "limits/rewrite.s", &[]);
    assert_eq!(vm.take(1), [1]);
    let stream = std::net::TcpStream::connect(vm.endpoint()).unwrap();
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    writer.write_all(b"interrupt\n").unwrap();
    reader.read_line(&mut line).unwrap();
    let lease = hypervisor::protocol::field(line.trim_end(), "lease").unwrap().to_string();
    line.clear();
    writer.write_all(format!("save {lease}\n").as_bytes()).unwrap();
    reader.read_line(&mut line).unwrap();
    let len: usize = line.trim_end().strip_prefix("OK ").unwrap().parse().unwrap();
    // The payload waits in the VM while the program runs on and rewrites every page.
    let mut other = hypervisor::Client::connect(&vm.endpoint(), None).unwrap();
    assert_eq!(other.call(&format!("resume {lease}"), None).unwrap(), "running");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut state = vec![0u8; len];
    reader.read_exact(&mut state).unwrap();
    let mut target = common::Vm::start(&["--wait"], "limits/rewrite.s", &[]);
    let mut client = hypervisor::Client::connect(&target.endpoint(), None).unwrap();
    let (lease, _) = client.claim(None).unwrap();
    let restored = client.restore(&lease, &state).unwrap();
    assert!(restored.starts_with("restored "), "{restored}");
    // The program checks every page it rewrites: one from a later pass
    // than the state's (written while the state was sent) makes it exit 7.
    assert_eq!(client.call(&format!("resume {lease}"), None).unwrap(), "running");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(target.child.try_wait().unwrap().map(|s| s.code()), None, "the restored state was torn");
}
