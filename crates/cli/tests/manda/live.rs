//! Live migration of Manda programs between real `manda run` processes,
//! driven by the real `hv`: the memory goes in rounds over the direct
//! stream while the program runs, the program stops only for the rest,
//! and a fault at each phase — the target killed, `hv` killed, the source
//! killed, a program that writes faster than the rounds — leaves it
//! running exactly once: its ticks, printed by whichever process runs it,
//! are every number once, in order.

mod common;

use common::{runtime_dir, Vm};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `hv ARGS…` against the test VMs' registry.
fn hv(args: &[&str]) -> Command {
    test_support::vm::hv_command(std::path::Path::new(env!("CARGO_BIN_EXE_hv")), &runtime_dir(), args)
}

/// Runs `hv ARGS…`: exit code, stdout, stderr.
fn run_hv(args: &[&str]) -> (Option<i32>, String, String) {
    let out = hv(args).output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// `hv recover`'s lines about `pid` (other tests' migrations run beside these).
fn recovered(pid: &str) -> Vec<String> {
    let (_, out, _) = run_hv(&["recover"]);
    out.lines()
        .filter(|l| l.contains(&format!(" {pid} ")) || l.contains(&format!(": {pid} ")))
        .map(String::from)
        .collect()
}

/// Asserts `ticks` are consecutive numbers: nothing lost, nothing run twice.
fn assert_ticks(ticks: &[u64]) {
    for pair in ticks.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "ticks {} then {}", pair[0], pair[1]);
    }
}

/// The source exited as moved (status 0): the ticks it printed, then the
/// target's next `n`, follow `ticks`, every one once and in order.
fn assert_moved(a: &mut Vm, b: &mut Vm, mut ticks: Vec<u64>, n: usize) {
    assert_eq!(a.wait(), Some(0), "the source exits as moved");
    ticks.extend(a.read_to_end());
    ticks.extend(b.take(n));
    assert_ticks(&ticks);
}

/// Waits until `hv status VM` starts with `mode`.
fn wait_for_mode(vm: &str, mode: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, out, _) = run_hv(&["status", vm]);
        if out.starts_with(mode) {
            return;
        }
        assert!(Instant::now() < deadline, "{vm} never became {mode}: {out}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the record of `vm`'s migration is gone: settled by this
/// test's `hv recover`, or by another test's (they share the registry),
/// which may still hold it when this one's has finished.
fn wait_settled(vm: &Vm) {
    let record = runtime_dir().join(format!("migration-{}", vm.instance()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while record.exists() {
        assert!(Instant::now() < deadline, "{} was never settled", record.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A migration that cannot converge (it waits for a round with nothing
/// written, and the ticker, started with [`CHURN`], writes all its memory
/// every millisecond): it stays in its pre-copy rounds until something ends it.
fn endless_migration(a: &Vm, b: &Vm) -> Child {
    let args = ["migrate", &a.pid(), "--to", &b.pid(), "--max-downtime", "0", "--max-rounds", "4000000000"];
    hv(&[&args[..], &["--no-throttle"]].concat()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// The ticker's arguments for a program that writes all of its 8 MiB every millisecond.
const CHURN: [&str; 2] = ["2048", "2048"];

#[test]
fn a_program_writing_its_memory_moves_live_exactly_once() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &["4096"]);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let ticks = a.take(20);
    let (code, out, err) = run_hv(&["migrate", &a.pid(), "--to", &b.pid(), "--stats"]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("migrated {} -> {}", a.pid(), b.pid()));
    assert!(lines[1].starts_with("round 1: 16.0 MiB to send (while running)"), "{out}");
    let rounds: usize = out.lines().find_map(|l| l.strip_prefix("rounds: ")).unwrap().parse().unwrap();
    assert!(rounds >= 2, "the memory went while the program ran, the rest at the stop: {out}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("downtime: ") && l.ends_with(" ms (the source stopped until the target ran)")));
    assert_moved(&mut a, &mut b, ticks, 20);
}

#[test]
fn a_migration_killed_with_its_target_mid_pre_copy_leaves_the_source_running() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &CHURN);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let mut ticks = a.take(5);
    let migration = endless_migration(&a, &b);
    wait_for_mode(&a.pid(), "migrating manda ");
    b.child.kill().unwrap();
    b.wait();
    let out = migration.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.starts_with(&format!("hv: migration failed (the source runs on): {}: the stream to the target", a.pid())),
        "{err}"
    );
    assert!(err.ends_with("; the program runs on here\n"), "{err}");
    wait_for_mode(&a.pid(), "running manda ");
    ticks.extend(a.take(10));
    assert_ticks(&ticks);
    assert_eq!(recovered(&a.pid()), Vec::<String>::new());
}

#[test]
fn a_migration_whose_hv_is_killed_mid_pre_copy_is_abandoned_by_both_sides() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &CHURN);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let mut ticks = a.take(5);
    let mut migration = endless_migration(&a, &b);
    wait_for_mode(&a.pid(), "migrating manda ");
    migration.kill().unwrap();
    migration.wait().unwrap();
    // The source notices its controller gone and runs on; the target drops what it received.
    wait_for_mode(&a.pid(), "running manda ");
    let (pa, pb) = (a.pid(), b.pid());
    let said = recovered(&pa);
    // Another test's `hv recover` (they share the registry) may have settled it first.
    let aborted = format!("aborted: {pa} -> {pb} (the target never ran it; the source keeps the program and runs on)");
    assert!(said.is_empty() || said == [aborted], "{said:?}");
    wait_settled(&a);
    assert!(run_hv(&["status", &b.pid()]).1.starts_with("waiting manda "));
    ticks.extend(a.take(10));
    assert_ticks(&ticks);
    assert_eq!(b.drain(), Vec::<u64>::new(), "the target never ran it");
}

#[test]
fn a_migration_whose_source_is_killed_mid_pre_copy_fails_and_the_target_waits_again() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &CHURN);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    a.take(5);
    let migration = endless_migration(&a, &b);
    wait_for_mode(&a.pid(), "migrating manda ");
    a.child.kill().unwrap();
    a.wait();
    let out = migration.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("hv: migration failed (the source has ended): "), "{err}");
    assert!(run_hv(&["status", &b.pid()]).1.starts_with("waiting manda "), "the target dropped what it had");
    assert_eq!(b.drain(), Vec::<u64>::new());
    assert_eq!(recovered(&a.pid()), Vec::<String>::new());
}

#[test]
fn rounds_that_never_converge_end_in_a_clear_report_and_the_program_runs_on() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &CHURN);
    let b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let mut ticks = a.take(5);
    let (pa, pb) = (a.pid(), b.pid());
    let args = ["migrate", &pa, "--to", &pb, "--max-downtime", "0", "--max-rounds", "3", "--no-throttle"];
    let (code, out, err) = run_hv(&args);
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert!(
        err.starts_with(&format!(
            "hv: migration failed (the source runs on): {pa}: the program writes memory faster than the link \
             carries it: after 3 rounds "
        )),
        "{err}"
    );
    assert!(err.ends_with("; --max-downtime 0 ms leaves 0 ms for them (allow slowing it down: leave out --no-throttle); the program runs on here\n"), "{err}");
    ticks.extend(a.take(10));
    assert_ticks(&ticks);
    assert!(run_hv(&["status", &pb]).1.starts_with("waiting manda "));
}

#[test]
fn a_stop_and_copy_still_moves_it_whole_over_the_stream() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &["1024"]);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let ticks = a.take(5);
    let (code, out, err) = run_hv(&["migrate", &a.pid(), "--to", &b.pid(), "--max-rounds", "0", "--stats"]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    assert!(out.contains("\nround 1: 4.0 MiB to send (at the stop)\nrounds: 1\n"), "{out}");
    assert_moved(&mut a, &mut b, ticks, 5);
}

#[test]
fn pages_compressed_on_the_wire_arrive_as_they_left() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &["4096", "12"]);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let ticks = a.take(5);
    let (code, out, err) = run_hv(&["migrate", &a.pid(), "--to", &b.pid(), "--compress", "on", "--stats"]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    let compression = out.lines().find(|l| l.starts_with("compression: ")).unwrap();
    assert!(compression.starts_with("compression: lz4 on "), "{out}");
    let ratio: f64 = compression.rsplit(", ").next().unwrap().trim_end_matches(":1").parse().unwrap();
    assert!(ratio > 10.0, "a page holding one number compresses well: {out}");
    assert_moved(&mut a, &mut b, ticks, 20);
}

#[test]
fn a_program_moves_by_post_copy_exactly_once_and_its_pages_follow() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &["4096"]);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let ticks = a.take(20);
    let (code, out, err) = run_hv(&["migrate", &a.pid(), "--to", &b.pid(), "--postcopy", "--stats"]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("migrated {} -> {}", a.pid(), b.pid()));
    // Every written page went after the target ran (its heap, and the stack and data it wrote).
    let postcopy = lines.iter().find_map(|l| l.strip_prefix("post-copy: ")).expect("a post-copy line");
    let pages: u64 = postcopy.split(' ').next().unwrap().parse().unwrap();
    assert!((4096..4200).contains(&pages), "{out}");
    assert!(postcopy.contains(" pages (16.0 MiB) after the target ran; the last arrived "), "{out}");
    // The source exits once the target has every page.
    assert_moved(&mut a, &mut b, ticks, 20);
    let (_, status, _) = run_hv(&["status", &b.pid()]);
    assert!(status.contains(&format!(" postcopy=complete pages={pages} ")), "{status}");
}

#[test]
fn rounds_that_never_converge_switch_to_post_copy_when_it_is_allowed() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &CHURN);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let ticks = a.take(5);
    let (pa, pb) = (a.pid(), b.pid());
    let args = ["migrate", &pa, "--to", &pb, "--max-downtime", "0", "--max-rounds", "3", "--no-throttle"];
    let (code, out, err) = run_hv(&[&args[..], &["--postcopy", "--stats"]].concat());
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    let rounds: usize = out.lines().find_map(|l| l.strip_prefix("rounds: ")).unwrap().parse().unwrap();
    assert!(rounds >= 4, "three rounds of pages, then rounds listing what is owed: {out}");
    assert!(out.lines().any(|l| l.starts_with("post-copy: ")), "{out}");
    assert_moved(&mut a, &mut b, ticks, 20);
}

/// Starts `hv migrate A --to B --postcopy` with a proxy in front of
/// `proxied` (A or B, by its endpoint) that holds back its reply starting
/// with `at`; returns once it is held, with the running `hv` and the
/// proxy's address (which names that VM in the migration).
fn postcopy_held(a: &Vm, b: &Vm, proxy_source: bool, at: &'static str) -> (Child, String) {
    let proxied = if proxy_source { a.endpoint() } else { b.endpoint() };
    let (proxy, held) = test_support::fakes::proxy_holding_reply(proxied, at);
    let (source, target) = if proxy_source { (proxy.clone(), b.pid()) } else { (a.pid(), proxy.clone()) };
    let migrate = hv(&["migrate", &source, "--to", &target, "--postcopy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    held.recv_timeout(Duration::from_secs(30)).expect("the migration reaches the step");
    (migrate, proxy)
}

#[test]
fn hv_killed_once_the_post_copy_target_holds_the_state_leaves_the_program_with_the_source() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &["4096"]);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let mut ticks = a.take(5);
    let (mut migrate, proxy) = postcopy_held(&a, &b, true, "OK sent");
    migrate.kill().unwrap();
    migrate.wait().unwrap();
    // Its controller gone before the hand-off, the source takes its program back (and stops
    // sending pages); the target never ran it, and drops it when `hv recover` releases it.
    wait_for_mode(&a.pid(), "running manda ");
    let said = recovered(&proxy);
    let aborted =
        format!("aborted: {proxy} -> {} (the target never ran it; the source keeps the program and runs on)", b.pid());
    assert!(said.is_empty() || said == [aborted], "{said:?}");
    wait_settled(&a);
    wait_for_mode(&b.pid(), "waiting manda ");
    ticks.extend(a.take(20));
    // B, whose copy lost its pages before it ran, takes the program as any waiting VM.
    let (code, out, err) = run_hv(&["migrate", &a.pid(), "--to", &b.pid(), "--postcopy"]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    assert_moved(&mut a, &mut b, ticks, 10);
}

#[test]
fn hv_killed_once_the_post_copy_target_runs_is_committed_by_hv_recover_and_the_pages_follow() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &["4096"]);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let mut ticks = a.take(5);
    let (mut migrate, proxy) = postcopy_held(&a, &b, false, "OK running");
    migrate.kill().unwrap();
    migrate.wait().unwrap();
    let from_b = b.take(5);
    let said = recovered(&a.pid());
    let committed = format!("committed: {} -> {proxy} (the target runs it; the source exited)", a.pid());
    assert!(said.is_empty() || said == [committed], "{said:?}");
    assert_eq!(a.wait(), Some(0), "the source exits as moved, once every page has gone");
    let (_, status, _) = run_hv(&["status", &b.pid()]);
    assert!(status.contains(" postcopy=complete pages="), "{status}");
    ticks.extend(a.read_to_end());
    ticks.extend(from_b);
    ticks.extend(b.take(5));
    assert_ticks(&ticks);
}

#[test]
fn an_interrupted_program_moves_by_post_copy_and_runs_on_the_target() {
    let mut a = Vm::start(&[], "hosted/ticker.s", &["4096", "4"]);
    let mut b = Vm::start(&["--wait"], "hosted/ticker.s", &[]);
    let ticks = a.take(5);
    let (code, out, err) = run_hv(&["interrupt", &a.pid()]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    let (code, out, err) = run_hv(&["migrate", &a.pid(), "--to", &b.pid(), "--postcopy", "--stats"]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    assert!(out.contains("\nrounds: 1\n"), "listed at once, the program being stopped: {out}");
    assert!(out.lines().any(|l| l.starts_with("post-copy: ")), "{out}");
    assert_moved(&mut a, &mut b, ticks, 10);
}
