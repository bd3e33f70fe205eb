//! Manda machines moved between real `manda run` processes over real
//! sockets with the hypervisor's `migrate`: many contexts mid-computation,
//! some asleep, some waiting on ports, messages in flight — and the output
//! of all the processes together is exactly an uninterrupted run's.

mod common;

use common::Vm;
use std::time::Duration;
use vm_host::protocol::Command;
use vm_host::{migrate, Client};

/// `hv ARGS…` run inside network namespace `ns` (on that host), against the test VMs' registry.
fn hv_in(ns: &str, args: &[&str]) -> std::process::Command {
    let hv = std::path::Path::new(env!("CARGO_BIN_EXE_manda")).with_file_name("hv");
    test_support::vm::hv_command_in(&["ip", "netns", "exec", ns], &hv, &common::runtime_dir(), args)
}

fn pipeline_output(n: u64) -> Vec<u64> {
    (0..n).map(|i| 2 * i + 1).collect()
}

#[test]
fn a_pipeline_migrated_fifty_times_prints_what_an_uninterrupted_run_does() {
    // Long enough (a millisecond a value) that fifty moves fit in it on a slow machine too.
    let n = 12_000;
    let mut current = Vm::start(&[], "../../../../examples/manda/pipeline.s", &[&n.to_string()]);
    let mut seen = current.take(1);
    let mut waiting = Vm::start(&["--wait"], "../../../../examples/manda/pipeline.s", &[]);
    let mut pause = 7u64;
    for hop in 0..50 {
        // A different moment each time: some stage mid-message, the source mid-sleep, …
        pause = (pause * 1103515245 + 12345) % 2_147_483_648;
        std::thread::sleep(Duration::from_micros(pause % 9000));
        let said = migrate(&current.endpoint(), &waiting.endpoint(), None).unwrap_or_else(|e| panic!("hop {hop}: {e}"));
        assert!(said.starts_with("migrated "), "{said}");
        seen.extend(current.read_to_end());
        assert_eq!(current.wait(), Some(0), "the source exits as moved");
        current = std::mem::replace(&mut waiting, Vm::start(&["--wait"], "../../../../examples/manda/pipeline.s", &[]));
    }
    seen.extend(current.read_to_end());
    assert_eq!(current.wait(), Some(0));
    assert_eq!(seen.len() as u64, n, "every value once");
    assert_eq!(seen, pipeline_output(n), "in order, as an uninterrupted run prints them");
}

#[test]
fn a_thousand_contexts_and_a_large_heap_move_whole() {
    // ring_slow: 1000 contexts pass a token around; the first prints it each round.
    let mut a = Vm::start(&[], "hosted/ring_slow.s", &["1000", "40"]);
    let b = Vm::start(&["--wait"], "hosted/ring_slow.s", &[]);
    let mut seen = a.take(3);
    // What `hv ps` shows of it while it runs.
    let status = Client::connect(&a.endpoint(), None).unwrap().status().clone();
    assert!(status.position.starts_with("contexts=1000 memory="), "{}", status.position);
    // Every round of the token touches all 1,000 stacks (3.9 MiB): the
    // default 20 ms leaves 5 ms for the last pages, which a loaded machine's
    // link (660 MB/s in one failed run) cannot carry them in. 100 ms can.
    let ring = vm_host::MigrateOptions { max_downtime: Duration::from_millis(100), ..Default::default() };
    vm_host::migrate_with(&a.endpoint(), &b.endpoint(), None, &ring, None).unwrap();
    seen.extend(a.read_to_end());
    let mut b = b;
    seen.extend(b.read_to_end());
    assert_eq!(seen, (1..=40).map(|r| r * 1000).collect::<Vec<u64>>());
    // big_heap: 256 MiB written, then counted down while it sleeps; the sum of it all at the end.
    let mut a = Vm::start(&[], "hosted/big_heap.s", &[]);
    let mut b = Vm::start(&["--wait"], "hosted/big_heap.s", &[]);
    let mut seen = a.take(2);
    // Whole: stopped at once (pre-copy rounds could outlast the second it has left to run).
    let whole = vm_host::MigrateOptions { max_rounds: 0, ..Default::default() };
    vm_host::migrate_with(&a.endpoint(), &b.endpoint(), None, &whole, None).unwrap();
    seen.extend(a.read_to_end());
    seen.extend(b.read_to_end());
    let mut expected: Vec<u64> = (0..20).rev().collect();
    expected.push((0..65536u64).map(|p| p % 251).sum::<u64>());
    assert_eq!(seen, expected);
}

#[test]
fn a_snapshot_saved_to_a_file_continues_in_a_new_process_later() {
    let mut a = Vm::start(&[], "../../../../examples/manda/pipeline.s", &["300"]);
    let mut seen = a.take(5);
    let mut src = Client::connect(&a.endpoint(), None).unwrap();
    let (lease, _) = src.interrupt(None).unwrap();
    let snapshot = src.save(&lease).unwrap();
    src.kill(Some(&lease)).unwrap();
    seen.extend(a.read_to_end());
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pipeline.snapshot");
    std::fs::write(&file, &snapshot).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut b = Vm::start(&["--restore", file.to_str().unwrap()], "../../../../examples/manda/pipeline.s", &[]);
    seen.extend(b.read_to_end());
    assert_eq!(b.wait(), Some(0));
    assert_eq!(seen, pipeline_output(300));
}

#[test]
fn another_programs_snapshot_is_refused_and_both_vms_stay_usable() {
    let mut a = Vm::start(&[], "../../../../examples/manda/pipeline.s", &["100000"]);
    let b = Vm::start(&["--wait"], "hosted/counter.s", &[]);
    a.take(2);
    let err = migrate(&a.endpoint(), &b.endpoint(), None).unwrap_err().to_string();
    assert!(err.contains("another"), "{err}");
    let mut src = Client::connect(&a.endpoint(), None).unwrap();
    assert!(src.call(&Command::Status).unwrap().starts_with("running"), "the source runs on");
    let before = a.take(1)[0];
    assert_eq!(a.take(1)[0], before + 2);
    let mut dst = Client::connect(&b.endpoint(), None).unwrap();
    assert!(dst.call(&Command::Status).unwrap().starts_with("waiting"));
    src.kill(None).unwrap();
}

#[test]
fn a_target_that_dies_mid_restore_leaves_the_source_running_every_context() {
    let mut a = Vm::start(&[], "../../../../examples/manda/pipeline.s", &["400"]);
    let mut seen = a.take(3);
    let err = migrate(&a.endpoint(), &test_support::fakes::dying_target("manda"), None).unwrap_err().to_string();
    assert!(err.starts_with("migration failed (the source runs on): 127.0.0.1:"), "{err}");
    let mut src = Client::connect(&a.endpoint(), None).unwrap();
    assert!(src.call(&Command::Status).unwrap().starts_with("running"), "the source runs on");
    seen.extend(a.read_to_end());
    assert_eq!(a.wait(), Some(0));
    assert_eq!(seen, pipeline_output(400), "nothing lost, nothing repeated");
}

#[test]
fn a_pipeline_crosses_to_another_host_under_tls() {
    use test_support::netns::{Credentials, Hosts, ADDR_B};
    let Some(hosts) = Hosts::create_or_skip("manda", "Manda two-host test") else { return };
    let hv = std::path::Path::new(env!("CARGO_BIN_EXE_manda")).with_file_name("hv");
    assert!(hv.exists(), "{} is missing: `cargo test --workspace` builds it", hv.display());
    let tls = Credentials::make(&std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("manda-two-host-tls"), &hv);
    let (dir_a, dir_b) = (tls.a.to_str().unwrap(), tls.b.to_str().unwrap());
    let listen_b = format!("{ADDR_B}:34567");
    let mut a = Vm::start_in(
        &["ip", "netns", "exec", &hosts.a],
        &["--tls", dir_a],
        "../../../../examples/manda/pipeline.s",
        &["4000"],
    );
    let mut b = Vm::start_in(
        &["ip", "netns", "exec", &hosts.b],
        &["--wait", "--listen", &listen_b, "--tls", dir_b],
        "../../../../examples/manda/pipeline.s",
        &[],
    );
    let mut seen = a.take(3);
    // From host A, as hv there would: B's address is not loopback, so TLS and credentials are required.
    let run_hv = |args: &[&str]| hv_in(&hosts.a, args).output().unwrap();
    let refused = run_hv(&["migrate", &a.pid(), "--to", &listen_b, "--insecure"]);
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        format!("hv: {listen_b}: this VM takes connections from other hosts under TLS only (hv --tls DIR; docs/hypervisor.md)\n")
    );
    // Pages sent ahead while it runs, then the rest, straight from A to B under TLS.
    let moved = run_hv(&["migrate", &a.pid(), "--to", &listen_b, "--tls", dir_a, "--stats"]);
    assert!(moved.status.success(), "{}", String::from_utf8_lossy(&moved.stderr));
    let out = String::from_utf8_lossy(&moved.stdout);
    assert!(out.starts_with(&format!("migrated {} -> {listen_b}\nround 1: ", a.pid())), "{out}");
    seen.extend(a.read_to_end());
    seen.extend(b.read_to_end());
    assert_eq!(seen, pipeline_output(4000), "the whole pipeline, once, across two hosts");
    drop(b);
    drop(hosts);
}

#[test]
fn the_readme_migration_script_moves_the_pipeline_mid_run() {
    let (a, b) = common::run_migration_script("examples/manda/migrate.sh", "migrate-sh-runtime");
    let mut all = a.clone();
    all.extend(&b);
    assert_eq!(
        all,
        pipeline_output(all.len() as u64),
        "B goes on from A's last value: {:?} then {:?}",
        a.last(),
        b.first()
    );
}

/// The `memory=` figure of a running Manda VM's status line.
fn memory_of(endpoint: &str) -> String {
    let status = Client::connect(endpoint, None).unwrap().fresh_status().unwrap();
    vm_host::protocol::field(&status.position, "memory").unwrap_or_else(|| panic!("{status:?}")).to_string()
}

#[test]
fn a_restored_machine_costs_what_it_cost_where_it_was_saved() {
    // 2000 contexts sharing the pages their parent wrote: 7.8 MiB, under a limit of 10 MiB
    // that a copy charged a table path per context and page (10.7 MiB) would not fit.
    let limit = ["--max-memory", "10M"];
    let mut a = Vm::start(&limit, "hosted/sleepers.s", &["2000"]);
    assert_eq!(a.take(1), [1], "every child exists");
    let before = memory_of(&a.endpoint());
    let b = Vm::start(&["--wait", "--max-memory", "10M"], "hosted/sleepers.s", &[]);
    let said = migrate(&a.endpoint(), &b.endpoint(), None).unwrap();
    assert!(said.starts_with("migrated "), "{said}");
    assert_eq!(memory_of(&b.endpoint()), before, "the same machine costs the same on both sides");
    assert_eq!(before, "7.8MiB");
}

/// Which data segments a WebAssembly program dropped is part of its state: a
/// program that dropped one and kept another, moved mid-run, can still copy
/// the kept one on the target and traps on the dropped one, as it would have
/// where it started.
#[test]
fn a_dropped_data_segment_stays_dropped_after_a_move() {
    let module = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "manda" "sleep_ms" (func $sleep (param i32)))
      (memory (export "memory") 1)
      (data $dropped "dropped")
      (data $kept "7\n")
      (func $write (param $at i32) (param $len i32)
        (i32.store (i32.const 0) (local.get $at))
        (i32.store (i32.const 4) (local.get $len))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
      (func (export "_start") (local $i i32)
        (data.drop $dropped)
        (loop $count
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (i32.store8 (i32.const 100) (i32.add (i32.const 48) (local.get $i)))
          (i32.store8 (i32.const 101) (i32.const 10))
          (call $write (i32.const 100) (i32.const 2))
          (call $sleep (i32.const 40))
          (br_if $count (i32.lt_u (local.get $i) (i32.const 6))))
        (memory.init $kept (i32.const 100) (i32.const 0) (i32.const 2))
        (call $write (i32.const 100) (i32.const 2))
        (memory.init $dropped (i32.const 100) (i32.const 0) (i32.const 1))))"#;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dropped-segment.wasm");
    std::fs::write(&path, common::wasm(module)).unwrap();
    let program = path.to_str().unwrap();
    let mut a = Vm::start(&[], program, &[]);
    let mut b = Vm::start(&["--wait"], program, &[]);
    let (seen, moved_at) = common::move_mid_run(&mut a, &mut b, 2);
    assert_eq!(b.wait(), Some(3), "the target traps on the dropped segment");
    assert!(moved_at < 6, "it moved mid-run, after {moved_at} lines");
    assert_eq!(seen, [1, 2, 3, 4, 5, 6, 7], "every line once, in order, the kept segment's last");
}

/// What the programs of the tests below share: WASI's `fd_write`, Manda's
/// `sleep_ms`, a memory, and `$print`, which prints one digit and a newline.
const PRINTS_DIGITS: &str = r#"
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "manda" "sleep_ms" (func $sleep (param i32)))
      (memory (export "memory") 1)
      (func $print (param $digit i32)
        (i32.store8 (i32.const 100) (i32.add (i32.const 48) (local.get $digit)))
        (i32.store8 (i32.const 101) (i32.const 10))
        (i32.store (i32.const 0) (i32.const 100))
        (i32.store (i32.const 4) (i32.const 2))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))"#;

/// The module of [`PRINTS_DIGITS`] and `rest`, written to `file` and run,
/// moved from one process to another after its second line, before its
/// sixth: the lines both printed, in order.
fn digits_moved_mid_run(file: &str, rest: &str) -> Vec<u64> {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
    std::fs::write(&path, common::wasm(&format!("(module {PRINTS_DIGITS}\n{rest})"))).unwrap();
    let program = path.to_str().unwrap();
    let mut a = Vm::start(&[], program, &[]);
    let mut b = Vm::start(&["--wait"], program, &[]);
    let (seen, moved_at) = common::move_mid_run(&mut a, &mut b, 2);
    assert_eq!(b.wait(), Some(0));
    assert!(moved_at < 6, "it moved mid-run, after {moved_at} lines");
    seen
}

/// Tables are memory of the machine: a table grown and written before the
/// move is the table the target calls through.
#[test]
fn a_table_written_before_a_move_is_the_table_after_it() {
    let rest = r#"
      (type $number (func (result i32)))
      (table $t 2 10 funcref)
      (elem (table $t) (i32.const 0) func $seven $seven)
      (elem declare func $eight $nine)
      (func $seven (result i32) (i32.const 7))
      (func $eight (result i32) (i32.const 8))
      (func $nine (result i32) (i32.const 9))
      (func (export "_start") (local $i i32)
        (drop (table.grow $t (ref.func $nine) (i32.const 1)))
        (table.set $t (i32.const 0) (ref.func $eight))
        (loop $count
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (call $print (local.get $i))
          (call $sleep (i32.const 40))
          (br_if $count (i32.lt_u (local.get $i) (i32.const 6))))
        (call $print (call_indirect $t (type $number) (i32.const 0)))
        (call $print (call_indirect $t (type $number) (i32.const 2)))
        (call $print (table.size $t)))"#;
    let seen = digits_moved_mid_run("written-table.wasm", rest);
    assert_eq!(seen, [1, 2, 3, 4, 5, 6, 8, 9, 3], "every line once; the table as the source left it");
}

/// A v128 is two registers: a vector local live across calls and a vector
/// global, both changed on every pass of a loop, are what the target goes
/// on with.
#[test]
fn vectors_held_before_a_move_are_the_vectors_after_it() {
    let rest = r#"
      (global $halves (mut v128) (v128.const f32x4 0 0 0 0))
      (func (export "_start") (local $acc v128)
        (loop $count
          (local.set $acc (i32x4.add (local.get $acc) (v128.const i32x4 1 10 100 1000)))
          (global.set $halves (f32x4.add (global.get $halves) (v128.const f32x4 0.5 0.5 0.5 0.5)))
          (call $print (i32x4.extract_lane 0 (local.get $acc)))
          (call $sleep (i32.const 40))
          (br_if $count (i32.lt_u (i32x4.extract_lane 0 (local.get $acc)) (i32.const 6))))
        (call $print (i32.div_u (i32x4.extract_lane 3 (local.get $acc)) (i32.const 1000)))
        (call $print (i32.trunc_f32_u (f32x4.extract_lane 2 (global.get $halves)))))"#;
    let seen = digits_moved_mid_run("held-vectors.wasm", rest);
    assert_eq!(seen, [1, 2, 3, 4, 5, 6, 6, 3], "every line once; the vectors as the source left them");
}

/// The link between two hosts cut in the middle of the pre-copy rounds:
/// neither side hears from the other again. The source gives the stream
/// up after three control timeouts and runs on; `hv` reports the failure;
/// the program ran once and is running.
#[test]
fn a_link_cut_mid_pre_copy_leaves_the_source_running() {
    use test_support::netns::{Credentials, Hosts, ADDR_B};
    let Some(hosts) = Hosts::create_or_skip("mandc", "Manda cut-link test") else { return };
    let hv = std::path::Path::new(env!("CARGO_BIN_EXE_manda")).with_file_name("hv");
    let tls = Credentials::make(&std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("manda-cut-tls"), &hv);
    let (dir_a, dir_b) = (tls.a.to_str().unwrap(), tls.b.to_str().unwrap());
    let listen_b = format!("{ADDR_B}:34567");
    // All of its 8 MiB written every millisecond: the rounds never converge by themselves.
    let mut a = Vm::start_in(
        &["ip", "netns", "exec", &hosts.a],
        &["--tls", dir_a, "--control-timeout", "1"],
        "hosted/ticker.s",
        &["2048", "2048"],
    );
    let b = Vm::start_in(
        &["ip", "netns", "exec", &hosts.b],
        &["--wait", "--listen", &listen_b, "--tls", dir_b, "--control-timeout", "1"],
        "hosted/ticker.s",
        &[],
    );
    let mut seen = a.take(3);
    let hv_in_a = |args: &[&str]| hv_in(&hosts.a, &[args, &["--tls", dir_a]].concat());
    let migration = hv_in_a(&[
        "migrate",
        &a.pid(),
        "--to",
        &listen_b,
        "--max-downtime",
        "0",
        "--max-rounds",
        "4000000000",
        "--no-throttle",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !String::from_utf8(hv_in_a(&["status", &a.pid()]).output().unwrap().stdout).unwrap().starts_with("migrating")
    {
        assert!(std::time::Instant::now() < deadline, "the pre-copy never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    hosts.cut();
    let out = migration.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "hv: migration failed (the source runs on): {}: the stream to the target failed: ",
            a.pid()
        )),
        "{err}"
    );
    assert!(String::from_utf8(hv_in_a(&["status", &a.pid()]).output().unwrap().stdout).unwrap().starts_with("running"));
    seen.extend(a.take(20));
    for pair in seen.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "every tick once, in order");
    }
    drop(b);
    drop(hosts);
}

/// What goes wrong in [`post_copy_fault`], once the program runs on the
/// target and its pages are still arriving.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// The link between the hosts goes down.
    Cut,
    /// The source is killed.
    KillSource,
    /// The target is killed.
    KillTarget,
    /// The program is killed where it runs (`hv kill` of the target): it
    /// ended there, so the source need send no more.
    EndOnTarget,
}

/// A process's exit code and error output.
type Ended = (Option<i32>, String);

/// What [`post_copy_fault`] saw: `hv`, the source, the target, and every tick either printed.
type Aftermath = (Option<i32>, String, [Ended; 2], Vec<u64>);

/// Moves a ticker from host A to host B by post-copy over a slow link (so
/// that its 16 MiB take seconds to follow it), then `fault`: the program,
/// which ran on B, is lost — never run twice, never run on missing pages.
/// Returns `hv`'s exit code and error output, the source's and the
/// target's exit codes and error outputs, and every tick either printed.
fn post_copy_fault(tag: &str, fault: Fault) -> Option<Aftermath> {
    use test_support::netns::{Credentials, Hosts, ADDR_B};
    let hosts = Hosts::create_or_skip(tag, "Manda post-copy fault test")?;
    hosts.limit("40mbit");
    let hv = std::path::Path::new(env!("CARGO_BIN_EXE_manda")).with_file_name("hv");
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("manda-{tag}"));
    let tls = Credentials::make(&tmp.join("tls"), &hv);
    let (dir_a, dir_b) = (tls.a.to_str().unwrap(), tls.b.to_str().unwrap());
    let listen_b = format!("{ADDR_B}:34567");
    let (log_a, log_b) = (tmp.join("a.err"), tmp.join("b.err"));
    let mut a = Vm::start_logged(
        &["ip", "netns", "exec", &hosts.a],
        &["--tls", dir_a, "--control-timeout", "1"],
        "hosted/ticker.s",
        &["4096"],
        Some(&log_a),
    );
    let mut b = Vm::start_logged(
        &["ip", "netns", "exec", &hosts.b],
        &["--wait", "--listen", &listen_b, "--tls", dir_b, "--control-timeout", "1"],
        "hosted/ticker.s",
        &[],
        Some(&log_b),
    );
    let mut ticks = a.take(3);
    // hv on either host, with that host's credentials.
    let hv_tls = |ns: &str, dir: &str, args: &[&str]| hv_in(ns, &[args, &["--tls", dir]].concat());
    let migration = hv_tls(&hosts.a, dir_a, &["migrate", &a.pid(), "--to", &listen_b, "--postcopy"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // B runs the program and its pages are on their way (asked from B's own host: not over the slow link).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status =
            String::from_utf8(hv_tls(&hosts.b, dir_b, &["status", &listen_b]).output().unwrap().stdout).unwrap();
        if status.starts_with("running") && status.contains(" pages-owed=") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the post-copy never started: {status}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The source, committed, only sends pages now: it says so, and takes no command.
    let status = String::from_utf8(hv_tls(&hosts.a, dir_a, &["status", &a.pid()]).output().unwrap().stdout).unwrap();
    assert!(status.starts_with("moved manda ") && status.contains(" sending-pages "), "{status}");
    let refusal = hv_tls(&hosts.a, dir_a, &["resume", &a.pid()]).output().unwrap().stderr;
    let refusal = String::from_utf8(refusal).unwrap();
    assert_eq!(
        refusal,
        format!(
            "hv: {}: moved: the program runs on another VM now; this one sends it the pages it still lacks, then \
             exits\n",
            a.pid()
        )
    );
    match fault {
        Fault::Cut => hosts.cut(),
        Fault::KillSource => a.child.kill().unwrap(),
        Fault::KillTarget => b.child.kill().unwrap(),
        Fault::EndOnTarget => {
            let out = hv_tls(&hosts.b, dir_b, &["kill", &listen_b]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let out = migration.wait_with_output().unwrap();
    let (code_a, code_b) = (a.wait(), b.wait());
    ticks.extend(a.read_to_end());
    ticks.extend(b.read_to_end());
    let log = |path: &std::path::Path| std::fs::read_to_string(path).unwrap();
    Some((
        out.status.code(),
        String::from_utf8(out.stderr).unwrap(),
        [(code_a, log(&log_a)), (code_b, log(&log_b))],
        ticks,
    ))
}

/// Every tick once, in order, whoever printed it.
fn assert_once(ticks: &[u64]) {
    for pair in ticks.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "every tick once, in order");
    }
}

/// The link cut while a post-copy's pages are on their way: the program
/// ran on the target and cannot go on there or here. Both sides give the
/// stream up after three control timeouts and say the program is lost;
/// `hv` says so too.
#[test]
fn a_link_cut_mid_post_copy_loses_the_program_on_both_sides_and_says_so() {
    let Some((hv, hv_err, [(a, a_err), (b, b_err)], ticks)) = post_copy_fault("pcut", Fault::Cut) else { return };
    assert_eq!(hv, Some(1), "{hv_err}");
    assert!(hv_err.contains(", but the program was lost: "), "{hv_err}");
    assert_eq!(b, Some(4), "{b_err}");
    assert!(b_err.starts_with("manda: the program was lost in a post-copy migration: "), "{b_err}");
    assert_eq!(a, Some(4), "{a_err}");
    assert!(
        a_err.starts_with(
            "manda: the program was lost in a post-copy migration: the pages it still owed the target stopped going: "
        ),
        "{a_err}"
    );
    assert_once(&ticks);
}

#[test]
fn a_source_killed_mid_post_copy_leaves_the_target_saying_its_program_is_lost() {
    let Some((hv, hv_err, [_, (b, b_err)], ticks)) = post_copy_fault("pkil", Fault::KillSource) else { return };
    assert_eq!(hv, Some(1), "{hv_err}");
    assert!(hv_err.contains(", but the program was lost: "), "{hv_err}");
    assert_eq!(b, Some(4), "{b_err}");
    assert!(
        b_err.starts_with("manda: the program was lost in a post-copy migration: the stream from the source failed: "),
        "{b_err}"
    );
    assert!(b_err.trim_end().ends_with(" pages had not arrived"), "how many pages never came: {b_err}");
    assert_once(&ticks);
}

#[test]
fn a_target_killed_mid_post_copy_leaves_the_source_saying_its_program_is_lost() {
    let Some((hv, hv_err, [(a, a_err), _], ticks)) = post_copy_fault("ptkl", Fault::KillTarget) else { return };
    assert_eq!(hv, Some(1), "{hv_err}");
    assert!(hv_err.contains(", but the program was lost: the target stopped answering"), "{hv_err}");
    assert_eq!(a, Some(4), "{a_err}");
    assert!(a_err.contains("the pages it still owed the target stopped going: "), "{a_err}");
    assert_once(&ticks);
}

#[test]
fn a_program_killed_where_it_runs_mid_post_copy_ends_the_source_as_moved() {
    let Some((_, _, [(a, a_err), (b, _)], ticks)) = post_copy_fault("pend", Fault::EndOnTarget) else { return };
    assert_eq!((b, a), (Some(0), Some(0)), "the target killed, the source moved: {a_err}");
    assert_eq!(a_err, "", "the source lost nothing: the program ended where it ran");
    assert_once(&ticks);
}
