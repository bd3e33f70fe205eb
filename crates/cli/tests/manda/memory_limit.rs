//! What the host holds stays within `--max-memory` plus a small constant,
//! whatever the program does. Each resource a program can make more of —
//! contexts, ports, queued messages, call frames, pages — is made by a real
//! `manda run` until the memory limit stops it, and the process's peak
//! resident set, as the kernel counted it (`wait4`), is checked against the
//! limit: not the meter's own report.
//!
//! Nothing here may hold much memory itself: a child's peak as `wait4`
//! reports it includes its parent's resident set when it was spawned (the
//! kernel counts the memory the child had before `exec`), so a test holding
//! a 64 MiB state beside these would fail them. The saving tests, which
//! do, are in `saving.rs`.

mod common;

use std::io::Read;
use std::process::Stdio;

use common::{ABOVE_MIB, LIMIT_MIB};

/// Runs `manda run --max-memory 32M OPTIONS… tests/limits/PROGRAM` to its
/// end: (peak resident set in MiB, exit status, stderr).
fn peak(options: &[&str], program: &str) -> (u64, i32, String) {
    peak_of(options, &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manda/limits").join(program))
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

/// A 5 MB executable decodes into 35 MB of the machine's tables: it is
/// refused before they are made, by the loader or (as here, where the
/// loader's pass keeps only a map of boundaries) by the machine before it
/// decodes, and the process stays within the limit.
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
    let refused = format!("manda: {}: the program's decoded code needs ", exe.display());
    assert!(stderr.starts_with(&refused), "{stderr}");
    let limit = format!(" left of the limit of {} beside its image and stack\n", LIMIT_MIB << 20);
    assert!(stderr.ends_with(&limit), "{stderr}");
    assert_within(peak, "decoding");
}
