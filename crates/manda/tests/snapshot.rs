//! Snapshots through the library: a machine stopped anywhere, saved,
//! restored into a fresh machine of the same executable, finishes with
//! exactly the output of an uninterrupted run; hostile snapshots are
//! refused with the offset and the reason, and leave the machine as it was.

use manda::exe::Executable;
use manda::machine::{Config, Machine, SharedBuf, Stopped, Tier};
use std::path::Path;
use std::time::Duration;

fn load(rel: &str) -> Executable {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    Executable::load(&manda::asm::assemble(&std::fs::read_to_string(path).unwrap()).unwrap().0).unwrap()
}

fn machine(exe: &Executable, config: Config, args: &[&str]) -> (Machine, SharedBuf) {
    let mut m = Machine::new(exe, config).unwrap();
    let out = SharedBuf::default();
    m.set_output(Box::new(out.clone()));
    m.set_args(args.iter().map(|a| a.to_string()));
    (m, out)
}

/// Runs `m` until `after` has passed, then stops it.
fn run_for(m: &mut Machine, after: Duration) -> Stopped {
    let line = m.interrupt();
    let raiser = std::thread::spawn(move || {
        std::thread::sleep(after);
        line.raise();
    });
    let outcome = m.run().unwrap();
    raiser.join().unwrap();
    m.interrupt().clear();
    outcome
}

fn expected_pipeline(n: u64) -> String {
    (0..n).map(|i| format!("{}\n", 2 * i + 1)).collect()
}

/// Runs the machine in short bursts, moving it to a fresh machine of the
/// same executable after each, until it ends: what all of them printed, in
/// order, and how many moves it took.
fn move_until_done(exe: &Executable, config: Config, args: &[&str]) -> (String, u64) {
    let (mut m, mut out) = machine(exe, config, args);
    let mut printed = Vec::new();
    let mut hops = 0;
    loop {
        let outcome = run_for(&mut m, Duration::from_micros(300 + hops * 731 % 2000));
        printed.extend(out.contents());
        if outcome == Stopped::Exited(0) {
            return (String::from_utf8(printed).unwrap(), hops);
        }
        let snapshot = m.save().unwrap();
        // Arguments are the target's own, as its streams are: the same ones, as `hv migrate` users give.
        let (next, next_out) = machine(exe, config, args);
        (m, out) = (next, next_out);
        m.restore(&snapshot).unwrap();
        assert_eq!(m.save().unwrap().len(), snapshot.len(), "a restored machine saves the same state");
        hops += 1;
    }
}

#[test]
fn a_pipeline_moved_machine_to_machine_prints_what_an_uninterrupted_run_does() {
    let exe = load("../../examples/manda/pipeline.s");
    for threads in [1, 2] {
        let (printed, hops) = move_until_done(&exe, Config { threads, ..Config::default() }, &["60"]);
        assert_eq!(printed, expected_pipeline(60), "{threads} threads, {hops} moves");
        assert!(hops >= 5, "moved {hops} times");
    }
}

/// The walk-through machine of docs/manda/snapshot.md, stopped for real
/// with one context waiting and one asleep; the two fields that depend on
/// timing (the clock, the sleep owed) set to the documented values.
/// A program that owns its heap runs it flat; saving its state shares its
/// pages and ends that, for good; the machine it is restored into owns
/// the restored pages and runs flat again, with the same bytes.
#[test]
fn a_restored_program_owns_its_heap_and_runs_it_flat() {
    let exe = assembled(
        ".code\nmain:\n    li t0, 65536\n    hgrow t1, t0\n    li t2, 0\n.L:\n    hst64 t2, t2, 0\n    addi t2, t2, 8\n    \
         andi t2, t2, 65528\n    jmp .L\n",
    );
    for tier in [Tier::Interpreted, Tier::CompileAll] {
        let config = Config { threads: 1, tier, ..Config::default() };
        let (mut m, _) = machine(&exe, config, &[]);
        assert_eq!(run_for(&mut m, Duration::from_millis(20)), Stopped::Interrupted);
        assert!(m.memory().is_flat(), "{tier:?}: the first context holds its heap alone");
        let snapshot = m.save_state().unwrap().to_vec();
        assert!(!m.memory().is_flat(), "{tier:?}: a saved state shares the pages");
        let (mut restored, _) = machine(&exe, config, &[]);
        restored.restore(&snapshot).unwrap();
        assert!(restored.memory().is_flat(), "{tier:?}");
        assert_eq!(restored.memory().peek(0, 0), Some(Vec::new()));
        let heap = restored.memory().heap_base();
        assert_eq!(restored.memory().peek(heap, 65536), m.memory().peek(heap, 65536), "{tier:?}");
        // The same state but for the time it has run (bytes 58..66) and so the checksum (the last 4).
        let again = restored.save().unwrap();
        let len = snapshot.len();
        let differ =
            (0..again.len().min(len)).find(|&i| again[i] != snapshot[i] && !(58..66).contains(&i) && i < len - 4);
        assert_eq!((again.len(), differ), (len, None), "{tier:?}: the same state");
        assert_eq!(run_for(&mut restored, Duration::from_millis(5)), Stopped::Interrupted);
        assert!(restored.memory().is_flat(), "{tier:?}");
    }
}

fn example_snapshot() -> (Executable, Vec<u8>) {
    let exe = load("tests/snapshot/example.s");
    let (mut m, _) = machine(&exe, Config { threads: 1, ..Config::default() }, &[]);
    assert_eq!(run_for(&mut m, Duration::from_millis(30)), Stopped::Interrupted);
    let mut bytes = m.save().unwrap();
    bytes[58..66].copy_from_slice(&25_000_000u64.to_le_bytes()); // clock: 25 ms
    let owed = contexts_at(&bytes)[1] + 25; // id, pc, sp, state
    bytes[owed..owed + 8].copy_from_slice(&59_975_000_000u64.to_le_bytes()); // 59.975 s still to sleep
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    (exe, bytes)
}

/// Where each context of a (good) snapshot starts.
fn contexts_at(bytes: &[u8]) -> Vec<usize> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let (contexts, pages) = (u32_at(74), u32_at(82));
    let mut at = manda::machine::SNAPSHOT_HEADER_LEN + pages * 4096;
    let mut starts = Vec::new();
    for _ in 0..contexts {
        starts.push(at);
        at += 49;
        let regs = u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap()) as usize;
        at += 2 + 9 * regs;
        at += 4 + 8 * u32_at(at);
        at += 4 + 12 * u32_at(at);
    }
    starts
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

fn documented_bytes() -> Vec<u8> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/manda/snapshot.md")).unwrap();
    let block = doc.split("## A real snapshot").nth(1).unwrap().split("```text\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    block
        .lines()
        .filter(|l| l.starts_with("0x"))
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .take_while(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_hexdigit()))
                .map(|w| u8::from_str_radix(w, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_real_snapshot_has_the_documented_bytes() {
    let (_, bytes) = example_snapshot();
    if std::env::var_os("SNAPSHOT_DUMP").is_some() {
        for (i, row) in bytes.chunks(16).enumerate() {
            println!("0x{:03x}  {}", i * 16, hex(row));
        }
    }
    assert_eq!(hex(&documented_bytes()), hex(&bytes), "docs/manda/snapshot.md's walk-through is these bytes");
}

#[test]
fn the_example_continues_where_it_stopped() {
    let (exe, bytes) = example_snapshot();
    let (mut m, _) = machine(&exe, Config::default(), &[]);
    m.restore(&bytes).unwrap();
    let states: Vec<_> = m.contexts().map(|c| (c.id(), c.waiting_on(), c.sleep_owed())).collect();
    assert_eq!(states, [(0, Some(0), Duration::ZERO), (1, None, Duration::from_nanos(59_975_000_000))]);
    // It goes on: the sleeper keeps sleeping what it owed, the waiter waits.
    assert_eq!(run_for(&mut m, Duration::from_millis(50)), Stopped::Interrupted);
    let owed = m.contexts().nth(1).unwrap().sleep_owed();
    assert!(owed < Duration::from_millis(59_950) && owed > Duration::from_secs(59), "{owed:?}");
    assert_eq!(m.contexts().next().unwrap().waiting_on(), Some(0));
}

#[test]
fn every_single_flipped_byte_and_every_truncation_is_refused() {
    let (exe, bytes) = example_snapshot();
    let (mut m, _) = machine(&exe, Config::default(), &[]);
    let before = m.save().unwrap();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = bytes.clone();
            bad[i] ^= flip;
            assert!(m.restore(&bad).is_err(), "byte {i} ^ {flip:#x} accepted");
        }
    }
    for len in 0..bytes.len() {
        assert!(m.restore(&bytes[..len]).is_err(), "a snapshot cut to {len} bytes accepted");
    }
    assert_eq!(m.save().unwrap().len(), before.len(), "refusals leave the machine as it was");
    assert_eq!(m.contexts().count(), 1);
}

#[test]
fn another_executables_snapshot_is_refused() {
    let (_, bytes) = example_snapshot();
    let other = load("../../examples/manda/pipeline.s");
    let (mut m, _) = machine(&other, Config::default(), &[]);
    let err = m.restore(&bytes).unwrap_err().to_string();
    assert_eq!(err, "snapshot byte 10 (0xa): the snapshot is of another executable (its program identity differs)");
}

/// Changes the field at `at` of a snapshot and seals it with a good checksum,
/// to reach the checks behind the checksum.
fn edited(bytes: &[u8], at: usize, new: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at..at + new.len()].copy_from_slice(new);
    let body = out.len() - 4;
    let crc = crc32fast::hash(&out[..body]);
    out[body..].copy_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn every_invariant_is_checked_before_anything_changes() {
    let (exe, bytes) = example_snapshot();
    let (mut m, _) = machine(&exe, Config::default(), &[]);
    let refuse = |m: &mut Machine, bad: Vec<u8>| m.restore(&bad).unwrap_err().to_string();
    let ctx0 = contexts_at(&bytes)[0];
    let pc = u64::from_le_bytes(bytes[ctx0 + 8..ctx0 + 16].try_into().unwrap());
    assert_eq!(
        refuse(&mut m, edited(&bytes, ctx0 + 8, &(pc + 1).to_le_bytes())),
        format!(
            "snapshot byte {} (0x{:x}): program counter 0x{:x} is not an instruction in code",
            ctx0 + 8,
            ctx0 + 8,
            pc + 1
        )
    );
    assert_eq!(
        refuse(&mut m, edited(&bytes, ctx0 + 16, &8u64.to_le_bytes())),
        format!("snapshot byte {} (0x{:x}): stack pointer 0x8 is outside the stack", ctx0 + 16, ctx0 + 16)
    );
    // Waiting on port 7, of 2.
    assert_eq!(
        refuse(&mut m, edited(&bytes, ctx0 + 33, &7u64.to_le_bytes())),
        format!("snapshot byte {ctx0} (0x{ctx0:x}): context 0 waits on port 7, which does not exist")
    );
    // Waiting, but at the psend before the precv.
    let psend = pc - 4;
    assert_eq!(
        refuse(&mut m, edited(&bytes, ctx0 + 8, &psend.to_le_bytes())),
        format!("snapshot byte {} (0x{:x}): waiting on a port, but not at a precv", ctx0 + 24, ctx0 + 24)
    );
    assert_eq!(
        refuse(&mut m, edited(&bytes, 42, &(2u64 << 20).to_le_bytes())),
        "snapshot byte 42 (0x2a): saved with a stack of 2097152 bytes; this machine's is 1048576"
    );
    assert_eq!(m.contexts().count(), 1, "nothing changed");
}

fn assembled(source: &str) -> Executable {
    Executable::load(&manda::asm::assemble(source).unwrap().0).unwrap()
}

#[test]
fn a_page_shared_after_a_fork_is_stored_once_and_code_cannot_be_changed_through_one() {
    let exe = assembled(
        ".data\nx: .i64 0\n.code\nmain:\n    la t0, x\n    li t1, 5\n    st64 t1, [t0]\n    li t2, 4096\n    grow a0, t2\n    \
         st64 t1, [a0]\n    fork t3, nap\n    fork t3, nap\n    fork t3, nap\nnap:\n    li t2, 60000\n    sleep t2\n    halt\n",
    );
    let (mut m, _) = machine(&exe, Config { threads: 1, ..Config::default() }, &[]);
    assert_eq!(run_for(&mut m, Duration::from_millis(30)), Stopped::Interrupted);
    let bytes = m.save().unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(
        (u32_at(74), u32_at(82)),
        (4, 2),
        "four contexts, two pages: the data page and the heap page, once each"
    );
    // Each context lists both pages.
    for at in contexts_at(&bytes) {
        let regs = u16::from_le_bytes(bytes[at + 49..at + 51].try_into().unwrap()) as usize;
        let pages = at + 51 + 9 * regs + 4;
        assert_eq!(u32_at(pages), 2);
    }
    let (mut other, _) = machine(&exe, Config::default(), &[]);
    other.restore(&bytes).unwrap();
    assert_eq!(other.save().unwrap().len(), bytes.len());
    // The data page also holds code: a snapshot may not change a byte of it.
    let main = exe.label("main").unwrap() as usize + 13;
    let pool = manda::machine::SNAPSHOT_HEADER_LEN;
    let page0 = (0..2).map(|i| pool + i * 4096).find(|&p| bytes[p + main] != 0).unwrap();
    let bad = edited(&bytes, page0 + main, &[bytes[page0 + main] ^ 0xff]);
    assert_eq!(
        other.restore(&bad).unwrap_err().to_string(),
        format!(
            "snapshot byte {page0} (0x{page0:x}): page 0x0 of context 0: a change to bytes no store may write (code, rodata, a header or a guard)"
        )
    );
}

#[test]
fn a_return_address_outside_code_is_refused() {
    let exe = assembled(".code\nmain:\n    call f\n    halt\nf:\n    li t0, 60000\n    sleep t0\n    ret\n");
    let (mut m, _) = machine(&exe, Config { threads: 1, ..Config::default() }, &[]);
    assert_eq!(run_for(&mut m, Duration::from_millis(20)), Stopped::Interrupted);
    let bytes = m.save().unwrap();
    let at = contexts_at(&bytes)[0];
    let regs = u16::from_le_bytes(bytes[at + 49..at + 51].try_into().unwrap()) as usize;
    let ret = at + 51 + 9 * regs + 4;
    let bad = edited(&bytes, ret, &3u64.to_le_bytes());
    assert_eq!(
        m.restore(&bad).unwrap_err().to_string(),
        format!("snapshot byte {ret} (0x{ret:x}): return address 0x3 is not an instruction in code")
    );
}

#[test]
fn steps_left_travel_with_the_program_and_a_limit_needs_a_limit() {
    let exe = assembled(
        ".code\nmain:\n    li t0, 0\n.Lloop:\n    addi t0, t0, 1\n    li t1, 50\n    sleep t1\n    jmp .Lloop\n",
    );
    let limited = Config { max_steps: Some(1000), threads: 1, ..Config::default() };
    let (mut m, _) = machine(&exe, limited, &[]);
    assert_eq!(run_for(&mut m, Duration::from_millis(120)), Stopped::Interrupted);
    let used = m.steps();
    assert!(used > 0 && used < 1000, "{used}");
    let bytes = m.save().unwrap();
    let (mut same, _) = machine(&exe, limited, &[]);
    same.restore(&bytes).unwrap();
    assert_eq!(same.steps(), used, "the steps left came along");
    let (mut unlimited, _) = machine(&exe, Config::default(), &[]);
    assert_eq!(
        unlimited.restore(&bytes).unwrap_err().to_string(),
        "snapshot byte 50 (0x32): steps left, but this machine has no such step limit"
    );
    // Saved without a limit: a target with one starts it afresh.
    let (mut free, _) = machine(&exe, Config { threads: 1, ..Config::default() }, &[]);
    assert_eq!(run_for(&mut free, Duration::from_millis(30)), Stopped::Interrupted);
    let (mut target, _) = machine(&exe, limited, &[]);
    target.restore(&free.save().unwrap()).unwrap();
    assert_eq!(target.steps(), 0);
}

/// A machine saved mid-sleep, before it forks twice and prints both child
/// ids, restored with its next context id set to `next`: what it prints, or its trap.
fn forks_after_restoring_next_id(next: u64) -> Result<String, String> {
    let exe = assembled(
        ".code\nmain:\n    li t0, 40\n    sleep t0\n    fork t1, child\n    printi t1\n    fork t2, child\n    \
         printi t2\n    halt\nchild:\n    halt\n",
    );
    let config = Config { threads: 1, ..Config::default() };
    let (mut m, _) = machine(&exe, config, &[]);
    assert_eq!(run_for(&mut m, Duration::from_millis(10)), Stopped::Interrupted);
    let bytes = edited(&m.save().unwrap(), 66, &next.to_le_bytes());
    let (mut again, out) = machine(&exe, config, &[]);
    again.restore(&bytes).unwrap();
    let ended = again.run();
    let printed = String::from_utf8(out.contents()).unwrap();
    match ended {
        Ok(Stopped::Exited(0)) => Ok(printed),
        Ok(other) => Err(format!("{printed}{other:?}")),
        Err(trap) => Err(format!("{printed}{trap}")),
    }
}

#[test]
fn context_ids_are_wide_enough_that_a_program_never_runs_out() {
    // Past 2^32 forks (a long-running server forking short-lived workers): ids go on.
    assert_eq!(forks_after_restoring_next_id(0xFFFF_FFFF), Ok("4294967295\n4294967296\n".to_string()));
    // Only a snapshot can bring the counter to its end, and the trap says what happened.
    let trap = forks_after_restoring_next_id(u64::MAX - 1).unwrap_err();
    assert!(trap.starts_with("-2\ncontext ids exhausted: every id below 2^64 - 1 has been handed out at 0x"), "{trap}");
}

/// A snapshot with its clock field and checksum blanked: the parts two
/// machines in the same state write alike.
fn timeless(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes[58..66].fill(0);
    let end = bytes.len();
    bytes[end - 4..].fill(0);
    bytes
}

/// Moves `m` to a fresh machine of `exe` by pre-copy: `rounds` rounds of
/// pages sent while it runs between chunks, then its final snapshot.
/// Returns the new machine, its output, and whether the program ended
/// first (then nothing moved).
fn precopied(m: &mut Machine, exe: &Executable, config: Config, rounds: u32) -> Option<(Machine, SharedBuf)> {
    let (mut target, out) = machine(exe, config, &[]);
    let mut received = target.receiver().unwrap();
    for _ in 0..rounds {
        m.precopy_round();
        while let Some(chunk) = m.precopy_chunk(16 << 10) {
            received.apply(&chunk).unwrap();
            if run_for(m, Duration::from_micros(200)) != Stopped::Interrupted {
                return None;
            }
        }
        if run_for(m, Duration::from_millis(1)) != Stopped::Interrupted {
            return None;
        }
    }
    let last = m.precopy_finish().unwrap().to_vec();
    let whole = m.save().unwrap();
    if rounds > 0 {
        assert!(
            last.len() <= whole.len(),
            "the final snapshot leaves out what was sent: {} of {}",
            last.len(),
            whole.len()
        );
    }
    target.restore_received(&last, received).unwrap();
    assert_eq!(
        timeless(target.save().unwrap()),
        timeless(whole),
        "the target holds what a stop-and-copy would give it"
    );
    Some((target, out))
}

/// Passes forever (until interrupted): pass N fills heap page N % 300 with
/// N, zeroes page (N + 7) % 300, prints N and sleeps 1 ms; pages once
/// written stay mostly unchanged between rounds.
const WRITER: &str = ".code\nmain:\n    li t2, 1228800\n    grow s0, t2\n    li s1, 0\n.Lpass:\n    li t5, 300\n    \
    remu t0, s1, t5\n    shli t3, t0, 12\n    add t3, t3, s0\n    li t6, 512\n.Lfill:\n    st64 s1, [t3]\n    addi t3, t3, 8\n    \
    addi t6, t6, -1\n    bnez t6, .Lfill\n    addi t0, s1, 7\n    remu t0, t0, t5\n    shli t3, t0, 12\n    add t3, t3, s0\n    \
    li t4, 0\n    li t6, 512\n.Lzero:\n    st64 t4, [t3]\n    addi t3, t3, 8\n    addi t6, t6, -1\n    bnez t6, .Lzero\n    \
    printi s1\n    addi s1, s1, 1\n    li t2, 1\n    sleep t2\n    jmp .Lpass\n";

#[test]
fn pre_copy_rounds_while_the_program_runs_leave_the_target_with_a_stop_and_copys_state() {
    let exe = assembled(WRITER);
    let config = Config { threads: 1, ..Config::default() };
    for rounds in [0, 1, 4] {
        let (mut m, source_out) = machine(&exe, config, &[]);
        assert_eq!(run_for(&mut m, Duration::from_millis(2)), Stopped::Interrupted);
        let (mut target, out) = precopied(&mut m, &exe, config, rounds).expect("the writer never ends");
        // Its pages, received ahead or in the final snapshot, are the target's own: its heap is flat.
        assert!(target.memory().is_flat(), "{rounds} rounds");
        // It goes on from where the source stopped: the pass after the source's last.
        let source_printed = String::from_utf8(source_out.contents()).unwrap();
        let last: u64 = source_printed.lines().last().unwrap().parse().unwrap();
        assert_eq!(run_for(&mut target, Duration::from_millis(5)), Stopped::Interrupted);
        let printed = String::from_utf8(out.contents()).unwrap();
        let first: u64 = printed.lines().next().expect("a pass printed").parse().unwrap();
        assert_eq!(first, last + 1, "{rounds} rounds");
    }
}

#[test]
fn pre_copy_of_forked_contexts_keeps_their_shared_pages_shared() {
    let exe = load("../../examples/manda/pipeline.s");
    for threads in [1, 2] {
        let config = Config { threads, ..Config::default() };
        let (mut m, out) = machine(&exe, config, &["400"]);
        assert_eq!(run_for(&mut m, Duration::from_millis(3)), Stopped::Interrupted);
        let Some((mut target, target_out)) = precopied(&mut m, &exe, config, 3) else { continue };
        assert_eq!(target.run().unwrap(), Stopped::Exited(0));
        let printed = [out.contents(), target_out.contents()].concat();
        assert_eq!(String::from_utf8(printed).unwrap(), expected_pipeline(400), "{threads} threads");
    }
}

#[test]
fn pages_sent_ahead_are_checked_as_a_snapshots_are() {
    let exe = assembled(WRITER);
    let (m, _) = machine(&exe, Config::default(), &[]);
    let record = |kind: u8, ctx: u64, page: u64, rest: &[u8]| {
        [&[kind][..], &ctx.to_le_bytes(), &page.to_le_bytes(), rest].concat()
    };
    let refused = |chunk: &[u8]| m.receiver().unwrap().apply(chunk).unwrap_err().to_string();
    assert_eq!(
        refused(&record(9, 0, 0, &[])),
        "snapshot byte 0 (0x0): record kind 9 (1 page, 2 zeros, 3 same as another, 4 owed, 5 void)"
    );
    assert_eq!(refused(&record(1, 0, 0, &[1; 100])), "snapshot byte 17 (0x11): page needs 4096 bytes, 100 left");
    assert_eq!(
        refused(&record(1, 0, 0, &[0xff; 4096])),
        "snapshot byte 0 (0x0): page 0x0 of context 0: a change to bytes no store may write (code, rodata, a header or a guard)"
    );
    assert_eq!(
        refused(&record(3, 5, 900, &[&7u64.to_le_bytes()[..], &900u64.to_le_bytes()].concat())),
        "snapshot byte 0 (0x0): page 0x384 of context 5 is said to be page 0x384 of context 7, which was not received"
    );
    // A memory limit holds against pages sent ahead.
    let (small, _) = machine(&exe, Config { max_memory: 2 << 20, stack_size: 64 << 10, ..Config::default() }, &[]);
    let mut received = small.receiver().unwrap();
    let heap = (2u64 << 20) / 4096 - 1;
    let error = (0..600).find_map(|i| received.apply(&record(1, i, heap, &[0; 4096])).err()).unwrap();
    assert!(error.to_string().contains("more memory than this machine's limit"), "{error}");
}

/// Sends a post-copy's owed pages to `pager` as a source's stream does: a
/// page waited for first, the rest last to first (so the program meets
/// pages that have not come yet), a few at a time.
fn serve_pages(pager: std::sync::Arc<manda::machine::Pager>, pages: manda::machine::OwedPages) {
    let mut sent = vec![false; pages.count() as usize];
    let mut next = pages.count();
    let put = |index: u64, chunk: &mut Vec<u8>, sent: &mut [bool]| {
        if !std::mem::replace(&mut sent[index as usize], true) {
            let at = chunk.len();
            chunk.extend_from_slice(&index.to_le_bytes());
            if !pages.append(index, chunk).unwrap() {
                chunk.truncate(at); // voided
            }
        }
    };
    loop {
        let mut chunk = Vec::new();
        for index in pager.wanted() {
            put(index, &mut chunk, &mut sent);
        }
        while chunk.len() < 4 * 4104 && next > 0 {
            next -= 1;
            put(next, &mut chunk, &mut sent);
        }
        if chunk.is_empty() && next == 0 {
            return;
        }
        pager.fill(&chunk).unwrap();
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Moves `m` to a fresh machine of `exe` by post-copy: `rounds` rounds
/// listing its pages as owed while it runs between chunks, then the rest
/// of the directory and the final snapshot, restored before any page's
/// bytes. Returns the target, its output and the owed pages.
fn postcopied(
    m: &mut Machine,
    exe: &Executable,
    config: Config,
    rounds: u32,
) -> (Machine, SharedBuf, manda::machine::OwedPages) {
    let (mut target, out) = machine(exe, config, &[]);
    let mut received = target.receiver().unwrap();
    if rounds > 0 {
        m.precopy_owe();
    }
    for _ in 0..rounds {
        m.precopy_round();
        while let Some(chunk) = m.precopy_chunk(2 << 10) {
            received.apply(&chunk).unwrap();
            assert_eq!(run_for(m, Duration::from_micros(300)), Stopped::Interrupted);
        }
        assert_eq!(run_for(m, Duration::from_millis(2)), Stopped::Interrupted);
    }
    let stop = m.postcopy_finish(16 << 10).unwrap();
    for chunk in &stop.directory {
        received.apply(chunk).unwrap();
    }
    target.restore_received(&stop.state.to_vec(), received).unwrap();
    (target, out, stop.pages)
}

#[test]
fn post_copy_gives_the_target_a_stop_and_copys_state_once_its_pages_arrive() {
    let exe = assembled(WRITER);
    let config = Config { threads: 1, ..Config::default() };
    for rounds in [0, 1, 3] {
        let (mut m, _) = machine(&exe, config, &[]);
        assert_eq!(run_for(&mut m, Duration::from_millis(40)), Stopped::Interrupted);
        let (target, _, pages) = postcopied(&mut m, &exe, config, rounds);
        let whole = m.save().unwrap();
        let pager = target.pages_owed().unwrap().clone();
        let left = pager.left();
        assert!(left > 10, "the written heap pages are owed: {left}");
        if rounds > 0 {
            // Pages listed while it ran and written since were listed again: the first listing is void.
            assert!(pages.count() > left, "{} indices, {left} owed", pages.count());
        }
        assert_eq!(
            target.save().unwrap_err(),
            format!(
                "{left} pages of the post-copy migration that brought this program here have not arrived yet: its \
                 state can be saved once they have"
            )
        );
        serve_pages(pager.clone(), pages);
        assert_eq!(pager.left(), 0);
        assert_eq!(
            timeless(target.save().unwrap()),
            timeless(whole),
            "{rounds} rounds: the target holds what a stop-and-copy gives it"
        );
    }
}

#[test]
fn a_post_copied_program_runs_on_while_its_pages_arrive_and_waits_for_those_it_touches() {
    let exe = assembled(WRITER);
    let config = Config { threads: 1, ..Config::default() };
    let (mut m, source_out) = machine(&exe, config, &[]);
    assert_eq!(run_for(&mut m, Duration::from_millis(3)), Stopped::Interrupted);
    let (mut target, out, pages) = postcopied(&mut m, &exe, config, 2);
    let pager = target.pages_owed().unwrap().clone();
    let server = std::thread::spawn(move || serve_pages(pager, pages));
    assert_eq!(run_for(&mut target, Duration::from_millis(20)), Stopped::Interrupted);
    server.join().unwrap();
    let last: u64 = String::from_utf8(source_out.contents()).unwrap().lines().last().unwrap().parse().unwrap();
    let printed = String::from_utf8(out.contents()).unwrap();
    let first: u64 = printed.lines().next().expect("a pass printed").parse().unwrap();
    assert_eq!(first, last + 1);
    // Forked contexts that share pages: the pipeline ends as an uninterrupted run does.
    let exe = load("../../examples/manda/pipeline.s");
    for threads in [1, 2] {
        let config = Config { threads, ..Config::default() };
        let (mut m, out) = machine(&exe, config, &["400"]);
        if run_for(&mut m, Duration::from_millis(3)) != Stopped::Interrupted {
            continue;
        }
        let (mut target, target_out, pages) = postcopied(&mut m, &exe, config, 1);
        let server = target.pages_owed().cloned().map(|pager| std::thread::spawn(move || serve_pages(pager, pages)));
        assert_eq!(target.run().unwrap(), Stopped::Exited(0));
        if let Some(server) = server {
            server.join().unwrap();
        }
        let printed = [out.contents(), target_out.contents()].concat();
        assert_eq!(String::from_utf8(printed).unwrap(), expected_pipeline(400), "{threads} threads");
    }
}

#[test]
fn a_page_that_can_no_longer_arrive_ends_the_program_as_lost_never_as_zeros() {
    let exe = assembled(WRITER);
    let config = Config { threads: 1, ..Config::default() };
    let (mut m, _) = machine(&exe, config, &[]);
    assert_eq!(run_for(&mut m, Duration::from_millis(3)), Stopped::Interrupted);
    let (mut target, out, _pages) = postcopied(&mut m, &exe, config, 0);
    target.pages_owed().unwrap().lose("the source went away");
    let trap = target.run().unwrap_err().to_string();
    assert!(
        trap.contains("never arrived from the migration's source (the source went away): the program is lost"),
        "{trap}"
    );
    // It ran while it touched only pages it had (it writes pages the source never wrote), and
    // stopped at the first owed one: every pass it printed follows the one before.
    let printed = String::from_utf8(out.contents()).unwrap();
    let passes: Vec<u64> = printed.lines().map(|l| l.parse().unwrap()).collect();
    assert!(passes.windows(2).all(|w| w[1] == w[0] + 1), "{printed}");
}

#[test]
fn owed_pages_are_checked_as_a_snapshots_are() {
    let exe = assembled(WRITER);
    let config = Config { threads: 1, ..Config::default() };
    let (mut m, _) = machine(&exe, config, &[]);
    assert_eq!(run_for(&mut m, Duration::from_millis(3)), Stopped::Interrupted);
    let (target, _, pages) = postcopied(&mut m, &exe, config, 0);
    let pager = target.pages_owed().unwrap();
    let record = |index: u64, bytes: &[u8]| [&index.to_le_bytes()[..], bytes].concat();
    let refused = |chunk: &[u8]| pager.fill(chunk).unwrap_err().to_string();
    let n = pages.count();
    assert_eq!(refused(&record(n, &[0; 4096])), format!("snapshot byte 0 (0x0): page #{n}, but only {n} are owed"));
    assert_eq!(refused(&record(0, &[0; 10])), "snapshot byte 8 (0x8): page needs 4096 bytes, 10 left");
    let mut first = Vec::new();
    assert!(pages.append(0, &mut first).unwrap());
    pager.fill(&record(0, &first)).unwrap();
    assert_eq!(refused(&record(0, &first)), "snapshot byte 0 (0x0): page #0 arrived twice");
    // A void for a page a context still holds, or for one never owed.
    let (fresh, _) = machine(&exe, config, &[]);
    let mut received = fresh.receiver().unwrap();
    let heap = fresh.memory().heap_base() / 4096;
    received.apply(&[&[4u8][..], &0u64.to_le_bytes(), &heap.to_le_bytes()].concat()).unwrap();
    let void = |index: u64| [&[5u8][..], &0u64.to_le_bytes(), &index.to_le_bytes()].concat();
    assert_eq!(
        received.apply(&void(0)).unwrap_err().to_string(),
        "snapshot byte 0 (0x0): a void for owed page #0, which a context still holds"
    );
    assert_eq!(
        received.apply(&void(1)).unwrap_err().to_string(),
        "snapshot byte 0 (0x0): a void for owed page #1, which is not owed"
    );
    // A directory entry outside the memory a snapshot may fill.
    let (fresh, _) = machine(&exe, config, &[]);
    let owed = [&[4u8][..], &0u64.to_le_bytes(), &(1u64 << 40).to_le_bytes()].concat();
    assert_eq!(
        fresh.receiver().unwrap().apply(&owed).unwrap_err().to_string(),
        "snapshot byte 0 (0x0): page 0x10000000000 of context 0: a page past the end of the heap"
    );
}
