//! Every fault leaves a way back: a source left `moving` by a target that
//! vanished is given back by `hv resume` as the error says; a restored state
//! never runs by a takeover and is dropped when its lease lapses; `hv
//! recover` settles what a killed `hv migrate` left behind, committing what
//! committed and aborting the rest; a command that fails leaves the VM as it
//! found it; a state too large for a VM is refused before it is sent.
//! Real `hv` and `hv-counter` processes, a fake target or a proxy where a
//! fault must land at one exact step.

mod common;

use common::{assert_counts_up, lease_of, run, scratch, Raw, Vm};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A runtime directory of one test's own: `hv recover` settles everything
/// in it, so tests running side by side must not share one.
struct Place(PathBuf);

impl Place {
    fn new(name: &str) -> Place {
        let dir = scratch(&format!("recovery-{name}")).join("runtime");
        common::private_dir(&dir);
        Place(dir)
    }

    fn vm(&self, args: &[&str]) -> Vm {
        Vm::spawn(common::counter_command(&self.0, args), self.0.clone())
    }

    fn hv(&self, args: &[&str]) -> Command {
        common::hv_in(&self.0, args)
    }

    /// `hv ARGS…` must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        common::succeeds(self.hv(args), args)
    }

    /// `hv ARGS…` must fail with exit 1; its stderr.
    fn err(&self, args: &[&str]) -> String {
        common::fails(self.hv(args), args)
    }

    /// The record `hv migrate` keeps of a migration of VM `instance`.
    fn record_of(&self, instance: &str) -> PathBuf {
        self.0.join(format!("migration-{instance}"))
    }
}

#[test]
fn a_source_left_moving_by_a_target_that_vanished_at_resume_is_given_back_by_hv_resume() {
    let place = Place::new("a_source_left_moving_by_a_target_that_va");
    let mut a = place.vm(&["--period-ms", "2"]);
    let pid = a.pid();
    let mut seen = a.take(3);
    let fake = test_support::fakes::target_vanishing_at_resume("hv-counter");
    let err = place.err(&["migrate", &pid, "--to", &fake]);
    assert!(err.starts_with(&format!("hv: {pid}: migration outcome unknown: {fake} did not confirm (")), "{err}");
    assert!(
        err.ends_with(&format!(
            "the source keeps the program but will not run it (status `moving`). `hv recover` settles it once {fake} \
             answers; if {fake} is gone for good: `hv resume {pid}` if it never ran the program, else `hv kill {pid}`\n"
        )),
        "{err}"
    );
    assert!(place.ok(&["status", &pid]).starts_with("moving hv-counter "));
    assert!(place.record_of(&a.instance()).exists(), "the record stays for hv recover");
    // hv recover cannot know whether the vanished target ran it, and says so.
    let out = run(place.hv(&["recover"]));
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.starts_with(&format!("undecided: {pid} -> {fake}: the target was being resumed and cannot be asked ("))
    );
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "hv: 1 left undecided (above)\n");
    std::thread::sleep(Duration::from_millis(50));
    seen.extend(a.drain());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(a.drain(), Vec::<u64>::new(), "moving: the source does not run it");
    // The fake never ran it: the documented recovery gives the program back.
    assert_eq!(place.ok(&["resume", &pid]), "running\n");
    seen.extend(a.take(5));
    assert_counts_up(&seen);
    // Decided by hand: hv recover sees that and clears the record.
    assert_eq!(place.ok(&["recover"]), format!("settled by hand: {pid} -> {fake}: the source is running\n"));
    assert!(!place.record_of(&a.instance()).exists());
    assert_eq!(place.ok(&["recover"]), "nothing to recover\n");
}

#[test]
fn hv_release_takes_a_moving_source_back_to_interrupted() {
    let place = Place::new("hv_release_takes_a_moving_source_back_to");
    let mut a = place.vm(&["--period-ms", "2"]);
    let pid = a.pid();
    let mut seen = a.take(3);
    let fake = test_support::fakes::target_vanishing_at_resume("hv-counter");
    place.err(&["migrate", &pid, "--to", &fake]);
    assert_eq!(place.ok(&["release", &pid]), "released interrupted\n");
    assert_eq!(place.ok(&["resume", &pid]), "running\n");
    seen.extend(a.take(3));
    assert_counts_up(&seen);
}

#[test]
fn a_restored_state_never_runs_by_a_takeover_and_is_dropped_when_its_lease_lapses() {
    let place = Place::new("a_restored_state_never_runs_by_a_takeove");
    let mut a = place.vm(&["--period-ms", "2"]);
    let mut command = common::counter_command(&place.0, &["--wait", "--lease-timeout", "1"]);
    command.stderr(Stdio::piped());
    let mut b = Vm::spawn(command, place.0.clone());
    a.take(2);
    let mut source = Raw::connect(&a.endpoint());
    let a_lease = lease_of(&source.call("interrupt"));
    source.send(format!("save {a_lease}\n").as_bytes());
    let len: usize = source.line().strip_prefix("OK ").unwrap().parse().unwrap();
    let mut state = vec![0u8; len];
    std::io::Read::read_exact(&mut source.reader, &mut state).unwrap();
    let b_lease = {
        // A controller restores the copy into B, then vanishes.
        let mut controller = Raw::connect(&b.endpoint());
        let lease = lease_of(&controller.call("claim"));
        controller.send(format!("restore {lease} {len}\n").as_bytes());
        controller.send(&state);
        assert!(controller.line().starts_with("OK restored count="));
        assert_eq!(controller.call(&format!("outcome {lease}")), "OK held");
        lease
    };
    let mut other = Raw::connect(&b.endpoint());
    let refusal = other.call("claim");
    assert!(refusal.starts_with("ERR busy: a restored state held by lease "), "{refusal}");
    assert!(refusal.ends_with("it is dropped if its holder does not resume it within 1 s idle)"), "{refusal}");
    std::thread::sleep(Duration::from_millis(1300));
    // Lapsed: the copy is gone, never run; B waits again.
    let status = other.call("status");
    assert!(status.starts_with("OK waiting hv-counter ") && status.contains(" lease=none "), "{status}");
    let lease = lease_of(&other.call("claim"));
    assert_eq!(other.call(&format!("resume {lease}")), "ERR waiting: restore a state first");
    assert_eq!(other.call(&format!("outcome {b_lease}")), "OK dropped");
    assert_eq!(other.call("outcome 0123"), "ERR unknown lease: no state was restored under it here");
    assert_eq!(b.drain(), Vec::<u64>::new(), "the copy never ran");
    assert_eq!(source.call(&format!("resume {a_lease}")), "OK running");
    a.take(2);
    assert_eq!(other.call(&format!("kill {lease}")), "OK killed");
    assert_eq!(b.wait(), Some(0));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut b.child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(
        stderr,
        "hv-counter: the restored state was dropped: its holder did not resume it within 1 s; waiting for a state\n"
    );
}

/// Starts `hv migrate SOURCE --to PROXY`, the proxy in front of the target
/// holding its reply that starts with `at`; returns once it is held, with
/// the running `hv` and the proxy's address.
fn migrate_held_at(place: &Place, source: &str, target_endpoint: String, at: &'static str) -> (Child, String) {
    let (proxy, held) = test_support::fakes::proxy_holding_reply(target_endpoint, at);
    let migrate =
        place.hv(&["migrate", source, "--to", &proxy]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    held.recv_timeout(Duration::from_secs(30)).expect("the migration reaches the step");
    (migrate, proxy)
}

/// Starts `hv migrate PROXY --to TARGET`, the proxy in front of the source
/// holding its reply that starts with `at`; returns once it is held, with
/// the running `hv` and the proxy's address.
fn migrate_held_at_source(place: &Place, source_endpoint: String, target: &str, at: &'static str) -> (Child, String) {
    let (proxy, held) = test_support::fakes::proxy_holding_reply(source_endpoint, at);
    let migrate =
        place.hv(&["migrate", &proxy, "--to", target]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    held.recv_timeout(Duration::from_secs(30)).expect("the migration reaches the step");
    (migrate, proxy)
}

/// [`migrate_held_at`], then the `hv` is killed (-9) there.
fn migrate_killed_at(place: &Place, source: &str, target_endpoint: String, at: &'static str) -> String {
    let (mut migrate, proxy) = migrate_held_at(place, source, target_endpoint, at);
    migrate.kill().unwrap();
    migrate.wait().unwrap();
    proxy
}

#[test]
fn hv_recover_aborts_a_migration_whose_controller_died_before_the_hand_off() {
    let place = Place::new("hv_recover_aborts_a_migration_whose_cont");
    let mut a = place.vm(&["--period-ms", "2"]);
    let mut b = place.vm(&["--wait"]);
    let instance = a.instance();
    let mut seen = a.take(3);
    // Killed when the source has stopped and the target holds the state (the source's `OK sent`).
    let (mut migrate, proxy) = migrate_held_at_source(&place, a.endpoint(), &b.pid(), "OK sent");
    assert!(place.ok(&["status", &b.pid()]).starts_with("interrupted hv-counter "));
    migrate.kill().unwrap();
    migrate.wait().unwrap();
    // Its controller gone before the hand-off, the source takes its program back by itself;
    // the target keeps a provisional copy that nobody else may run.
    seen.extend(a.take(3));
    assert!(place.ok(&["status", &a.pid()]).starts_with("running hv-counter "));
    assert!(place.err(&["resume", &b.pid()]).contains("busy: a restored state held by lease "));
    assert!(place.record_of(&instance).exists());
    let b_pid = b.pid();
    assert_eq!(
        place.ok(&["recover"]),
        format!("aborted: {proxy} -> {b_pid} (the target never ran it; the source keeps the program and runs on)\n")
    );
    assert!(!place.record_of(&instance).exists());
    seen.extend(a.take(5));
    assert_counts_up(&seen);
    assert!(place.ok(&["status", &b.pid()]).starts_with("waiting hv-counter "), "the copy was dropped");
    assert_eq!(b.drain(), Vec::<u64>::new());
    assert_eq!(place.ok(&["recover"]), "nothing to recover\n");
}

#[test]
fn a_file_planted_where_a_migration_keeps_its_record_stops_it_and_the_program_runs_on() {
    let place = Place::new("a_file_planted_where_a_migration_keeps_i");
    let mut a = place.vm(&["--period-ms", "2"]);
    let b = place.vm(&["--wait"]);
    let (pid, record) = (a.pid(), place.record_of(&a.instance()));
    let mut seen = a.take(3);
    let target = scratch("recovery-planted-target").join("target");
    std::fs::write(&target, "not to be written through").unwrap();
    std::os::unix::fs::symlink(&target, &record).unwrap();
    assert_eq!(
        place.err(&["migrate", &pid, "--to", &b.pid()]),
        format!(
            "hv: {}: not a migration record this user wrote (a link, not a regular file, or another user's); \
             remove it\n",
            record.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "not to be written through");
    seen.extend(a.take(3));
    assert_counts_up(&seen);
    assert!(place.ok(&["status", &b.pid()]).starts_with("waiting hv-counter "));
    // Once it is removed, the migration goes.
    std::fs::remove_file(&record).unwrap();
    place.ok(&["migrate", &pid, "--to", &b.pid()]);
    assert_eq!(a.wait(), Some(0), "the source exits as moved");
}

#[test]
fn hv_recover_commits_a_migration_whose_controller_died_after_the_target_ran() {
    let place = Place::new("hv_recover_commits_a_migration_whose_con");
    let mut a = place.vm(&["--period-ms", "2"]);
    let mut b = place.vm(&["--wait"]);
    let (pid, instance) = (a.pid(), a.instance());
    let mut seen = a.take(3);
    let proxy = migrate_killed_at(&place, &pid, b.endpoint(), "OK running");
    // B runs the program; A is `moving` and stays so until someone decides.
    let from_b = b.take(3);
    assert!(place.ok(&["status", &pid]).starts_with("moving hv-counter "));
    assert_eq!(
        place.ok(&["recover"]),
        format!("committed: {pid} -> {proxy} (the target runs it; the source exited)\n")
    );
    assert_eq!(a.wait(), Some(0), "the source exits as moved");
    assert!(!place.record_of(&instance).exists());
    seen.extend(a.read_to_end());
    seen.extend(from_b);
    seen.extend(b.take(3));
    assert_counts_up(&seen);
}

#[test]
fn hv_recover_leaves_a_live_migration_alone() {
    let place = Place::new("hv_recover_leaves_a_live_migration_alone");
    let mut a = place.vm(&["--period-ms", "2"]);
    let b = place.vm(&["--wait"]);
    let instance = a.instance();
    a.take(1);
    // A controller that is alive but stuck after the source sent its state: its record is locked.
    let (mut migrate, _) = migrate_held_at_source(&place, a.endpoint(), &b.pid(), "OK sent");
    assert_eq!(
        place.ok(&["recover"]),
        format!("in progress: the migration of instance {instance} is held by a running hv; left alone\n")
    );
    assert!(place.ok(&["status", &a.pid()]).starts_with("interrupted "), "untouched");
    migrate.kill().unwrap();
    migrate.wait().unwrap();
    assert!(place.ok(&["recover"]).starts_with("aborted: "));
}

/// `hv ARGS…` as a process whose writes fail as on a full disk: no file may
/// grow (RLIMIT_FSIZE 0, SIGXFSZ ignored, so a write fails with EFBIG).
fn hv_on_a_full_disk(place: &Place, args: &[&str]) -> std::process::Output {
    let mut command = place.hv(args);
    // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit).
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            match libc::setrlimit(libc::RLIMIT_FSIZE, &none) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    run(command)
}

#[test]
fn hv_interrupt_that_cannot_keep_its_lease_leaves_the_vm_running() {
    let place = Place::new("hv_interrupt_that_cannot_keep_its_lease_");
    let mut a = place.vm(&["--period-ms", "2"]);
    let pid = a.pid();
    let mut seen = a.take(3);
    let out = hv_on_a_full_disk(&place, &["interrupt", &pid]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "hv: runtime directory {}: File too large (os error 27); the lease could not be kept, so the VM was \
             resumed, as it was\n",
            place.0.display()
        )
    );
    let status = place.ok(&["status", &pid]);
    assert!(status.starts_with("running hv-counter ") && status.contains(" lease=none "), "{status}");
    seen.extend(a.take(5));
    assert_counts_up(&seen);
    // A stopped, free VM that `hv sstate` claims but cannot keep is left free.
    let mut raw = Raw::connect(&a.endpoint());
    let lease = lease_of(&raw.call("interrupt"));
    assert_eq!(raw.call(&format!("release {lease}")), "OK released interrupted");
    let out = hv_on_a_full_disk(&place, &["sstate", &pid, "-o", scratch("full-disk").join("s").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.ends_with("File too large (os error 27); the lease could not be kept, so it was given back\n"),
        "{err}"
    );
    assert!(
        place.ok(&["status", &pid]).starts_with("interrupted hv-counter ")
            && place.ok(&["status", &pid]).contains(" lease=none ")
    );
    assert_eq!(place.ok(&["resume", &pid]), "running\n");
}

#[test]
fn a_state_larger_than_the_vm_accepts_is_refused_before_it_is_sent() {
    let place = Place::new("a_state_larger_than_the_vm_accepts_is_re");
    let b = place.vm(&["--wait"]);
    let file = scratch("too-large").join("s.state");
    std::fs::write(&file, vec![0u8; 21]).unwrap();
    let err = place.err(&["rstate", &b.pid(), "-i", file.to_str().unwrap()]);
    assert_eq!(
        err,
        format!(
            "hv: {}: the state is 21 bytes, more than this VM accepts (max-state 20 bytes); nothing was sent\n",
            b.pid()
        )
    );
    // Nothing changed: B waits, free.
    let status = place.ok(&["status", &b.pid()]);
    assert!(status.starts_with("waiting hv-counter ") && status.contains(" lease=none "), "{status}");
}
