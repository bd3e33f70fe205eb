//! End to end through the hypervisor library: real `mova run` processes,
//! real sockets; the program leaves one process and continues in another.

mod common;

use common::{assert_counts_up, Vm};
use mova::state::State;
use std::time::{Duration, Instant};
use vm_host::protocol::Command;
use vm_host::{migrate, Client};

// The library tests name VMs by endpoint: naming by PID reads MOVA_RUNTIME_DIR,
// which tests running in parallel threads must not set (see hv.rs for PIDs).
fn client(vm: &Vm) -> Client {
    Client::connect(&vm.endpoint(), None).expect("the VM answers")
}

#[test]
fn migrate_continues_exactly_where_the_source_stopped() {
    let mut a = Vm::start("vms/counter_sleep0.mv", &[]);
    let mut b = Vm::start("vms/counter_sleep0.mv", &["--wait"]);
    let first = a.take(3);
    assert_eq!(first, [1, 2, 3]);
    let (ea, eb) = (a.endpoint(), b.endpoint());
    let said = migrate(&ea, &eb, None).expect("migration succeeds");
    assert_eq!(said, format!("migrated {ea} -> {eb}"));
    let mut from_a = first;
    from_a.extend(a.read_to_end()); // A was killed after B confirmed: its stdout ends.
    let last_a = *from_a.last().unwrap();
    assert_eq!(b.take(3), [last_a + 1, last_a + 2, last_a + 3], "B's first PRINT is A's last + 1");
    assert_counts_up(&from_a);
    assert_eq!(a.wait(), Some(0), "a killed VM exits cleanly");
}

/// Hops the counter through `hops` processes; every value appears once, in order.
fn chain(program: &str, hops: usize) {
    let mut current = Vm::start(program, &[]);
    let mut seen = current.take(1);
    for _ in 0..hops {
        let next = Vm::start(program, &["--wait"]);
        seen.extend(current.take(2));
        migrate(&current.endpoint(), &next.endpoint(), None).expect("migration succeeds");
        seen.extend(current.read_to_end());
        current = next;
    }
    seen.extend(current.take(2));
    assert_counts_up(&seen);
}

#[test]
fn many_migrations_during_a_sleep_0_loop_lose_and_repeat_nothing() {
    chain("vms/counter_sleep0.mv", 15);
}

#[test]
fn many_migrations_during_sleeps_lose_and_repeat_nothing() {
    chain("vms/counter_sleep1.mv", 15);
}

#[test]
fn many_interrupts_and_resumes_lose_and_repeat_nothing() {
    for program in ["vms/counter_sleep0.mv", "vms/counter_sleep1.mv"] {
        let mut vm = Vm::start(program, &[]);
        let mut c = client(&vm);
        for round in 0..200u64 {
            let (lease, said) = c.interrupt(None).unwrap();
            assert!(said.starts_with("interrupted ip="), "{said}");
            if round % 3 == 0 {
                // Restoring its own state must change nothing either.
                let state = c.save(&lease).unwrap();
                c.restore(&lease, &state).unwrap();
            }
            assert_eq!(c.call(&Command::Resume(lease.to_string())).unwrap(), "running");
            std::thread::sleep(Duration::from_micros(round * 7 % 500));
        }
        c.call(&Command::Kill(None)).unwrap();
        let values = vm.read_to_end();
        assert!(values.len() > 10, "{program}: the counter ran ({} values)", values.len());
        assert_counts_up(&values);
    }
}

#[test]
fn an_interrupt_during_an_hour_long_sleep_is_prompt_and_the_rest_is_kept() {
    let mut a = Vm::start("vms/counter_sleep_hour.mv", &[]);
    let mut b = Vm::start("vms/counter_sleep_hour.mv", &["--wait"]);
    assert_eq!(a.take(1), [1]);
    let mut src = client(&a);
    let started = Instant::now();
    let (lease, _) = src.interrupt(None).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "interrupt waited for the sleep: {:?}", started.elapsed());
    let bytes = src.save(&lease).unwrap();
    let state = State::decode_unbound(&bytes).unwrap();
    assert!(state.sleep_remaining > Duration::from_secs(3590), "owed sleep {:?}", state.sleep_remaining);
    assert_eq!(state.stack, [1]);
    let mut dst = client(&b);
    let target_lease = dst.claim(None).unwrap().0;
    dst.restore(&target_lease, &bytes).unwrap();
    dst.call(&Command::Resume(target_lease.to_string())).unwrap();
    // B owes the rest of the hour: it must not print 2 now. Kill it, then read what it printed.
    std::thread::sleep(Duration::from_millis(200));
    dst.call(&Command::Kill(None)).unwrap();
    assert_eq!(b.read_to_end(), Vec::<i64>::new(), "B slept on instead of printing");
    src.call(&Command::Kill(Some(lease.to_string()))).unwrap();
    assert_eq!(a.read_to_end(), Vec::<i64>::new());
}

/// The program identity a VM running `program` puts in its states, hex.
fn hash_hex(program: &str) -> String {
    let source = std::fs::read_to_string(common::test_file(program)).unwrap();
    let (bytecode, _) = mova::compile(&source, mova::SourceKind::Pseudo).unwrap();
    mova::state::program_hash(&bytecode).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_bad_state_is_refused_and_both_vms_stay_usable() {
    let a = Vm::start("vms/counter_sleep0.mv", &[]);
    let b = Vm::start("vms/other_program.mv", &["--wait"]);
    let (pa, pb) = (a.endpoint(), b.endpoint());
    // Wrong program: the migration fails and the source resumes.
    let err = migrate(&pa, &pb, None).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "migration failed (the source runs on): {pa}: the target did not take the state: the state belongs to \
             another program (sha256 {}…, this program is {}…); the program runs on here",
            &hash_hex("vms/counter_sleep0.mv")[..12],
            &hash_hex("vms/other_program.mv")[..12],
        )
    );
    let mut src = client(&a);
    assert!(src.call(&Command::Status).unwrap().starts_with("running mova"));
    // A corrupted byte, a truncated state and an oversized length prefix.
    let (lease, _) = src.interrupt(None).unwrap();
    let mut state = src.save(&lease).unwrap();
    let len = state.len();
    assert_eq!(
        src.restore(&lease, &state[..len - 9]).unwrap_err().to_string(),
        format!("{pa}: state byte {}: no checksum segment at the end (expected header 0xC4C5, found 0x0051)", len - 15)
    );
    state[40] ^= 0x10;
    let err = src.restore(&lease, &state).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{pa}: state byte {}: checksum mismatch", len - 4)), "{err}");
    let err = src.call(&Command::Restore(lease.to_string(), 99999999999)).unwrap_err().to_string();
    assert_eq!(err, format!("{pa}: bad payload length `99999999999` (at most 524344 bytes)"));
    let mut src = client(&a);
    assert_eq!(src.call(&Command::Resume(lease.to_string())).unwrap(), "running");
    let mut dst = client(&b);
    assert!(dst.call(&Command::Status).unwrap().starts_with("waiting"));
    let target_lease = dst.claim(None).unwrap().0;
    assert_eq!(
        dst.call(&Command::Resume(target_lease.to_string())).unwrap_err().to_string(),
        format!("{pb}: waiting: restore a state first")
    );
}

#[test]
fn a_target_that_dies_mid_restore_leaves_the_source_running() {
    let mut a = Vm::start("vms/counter_sleep0.mv", &[]);
    let mut seen = a.take(2);
    let err = migrate(&a.endpoint(), &test_support::fakes::dying_target("mova"), None).unwrap_err().to_string();
    assert!(err.starts_with("migration failed (the source runs on): 127.0.0.1:"), "{err}");
    let mut src = client(&a);
    assert!(src.call(&Command::Status).unwrap().starts_with("running"), "the source runs on");
    seen.extend(a.take(50));
    src.kill(None).unwrap();
    seen.extend(a.read_to_end());
    assert_counts_up(&seen);
}

#[test]
fn a_source_interrupted_by_hand_stays_interrupted_when_the_migration_fails() {
    let a = Vm::start("vms/counter_sleep0.mv", &[]);
    let b = Vm::start("vms/other_program.mv", &["--wait"]);
    let mut src = client(&a);
    let (lease, _) = src.interrupt(None).unwrap();
    src.keep_lease(&lease).unwrap(); // As `hv interrupt` does: this user holds it.
    let err = migrate(&a.endpoint(), &b.endpoint(), None).unwrap_err().to_string();
    assert!(err.starts_with("migration failed (the source stays interrupted, as it was)"), "{err}");
    assert!(src.call(&Command::Status).unwrap().starts_with("interrupted"));
}

#[test]
fn a_running_target_is_refused_before_the_source_is_touched() {
    let a = Vm::start("vms/counter_sleep0.mv", &[]);
    let b = Vm::start("vms/counter_sleep0.mv", &[]);
    let err = migrate(&a.endpoint(), &b.endpoint(), None).unwrap_err().to_string();
    assert_eq!(err, format!("{}: the target is running; start it with --wait", b.endpoint()));
    assert!(client(&a).call(&Command::Status).unwrap().starts_with("running"));
    // Interrupted, B still holds a program of its own: migrate does not overwrite it.
    let mut held = client(&b);
    held.interrupt(None).unwrap();
    let err = migrate(&a.endpoint(), &b.endpoint(), None).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: the target is interrupted: it holds a program of its own; migrate moves only into a waiting VM \
             (start it with --wait)",
            b.endpoint()
        )
    );
    assert!(client(&a).call(&Command::Status).unwrap().starts_with("running"));
}

/// Post-copy asked of a Mova program: its state is small and moves whole, as
/// without it; nothing is owed after the target runs.
#[test]
fn post_copy_of_a_mova_program_moves_it_whole() {
    let mut a = Vm::start("vms/counter_sleep0.mv", &[]);
    let mut b = Vm::start("vms/counter_sleep0.mv", &["--wait"]);
    let mut seen = a.take(3);
    let options = vm_host::MigrateOptions { postcopy: true, max_rounds: 0, ..vm_host::MigrateOptions::default() };
    let moved = vm_host::migrate_with(&a.endpoint(), &b.endpoint(), None, &options, None).expect("it moves");
    assert_eq!(moved.postcopy, None, "nothing was owed");
    assert_eq!(moved.rounds.len(), 1, "the whole state, at the stop");
    seen.extend(a.read_to_end());
    seen.extend(b.take(3));
    assert_counts_up(&seen);
}
