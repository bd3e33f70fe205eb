//! A fleet on a real three-member etcd cluster (loopback ports of each
//! test's own): `hv-counter` VMs of three "hosts" (processes started with
//! `--host-name`) register under leases; `hv ps --cluster` lists them all;
//! migrations are recorded in the cluster, and a controller killed after
//! each step is settled by `hv recover` (or by the next `hv migrate`); two
//! controllers never drive one VM; an etcd stopped mid-migration commits
//! nothing twice; `hv drain` empties a host while an etcd member dies. The
//! counters' outputs show each program ran exactly once, none lost.
//!
//! Without an `etcd` binary each test says it did not run (CI sets
//! `MOVA_REQUIRE_ETCD=1` and installs Debian's `etcd-server`, so there they run).

mod common;

use common::{assert_counts_up, private_dir, run, scratch, Vm};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_support::etcd::Etcd;

/// How long a controller killed while holding a record keeps it locked (vm-cluster's CONTROLLER_TTL).
const CONTROLLER_TTL: Duration = Duration::from_secs(5);

/// One test's fleet: its etcd cluster and its runtime directory.
struct Fleet {
    etcd: Etcd,
    runtime: PathBuf,
    /// This host's credentials (`--tls`), when the cluster is under TLS.
    tls: Option<PathBuf>,
}

impl Fleet {
    fn start(name: &str, test: &str) -> Option<Fleet> {
        let dir = scratch(&format!("fleet-{name}"));
        let runtime = dir.join("runtime");
        private_dir(&runtime);
        let etcd = Etcd::start_or_skip(&dir, test)?;
        Some(Fleet { etcd, runtime, tls: None })
    }

    /// [`Fleet::start`] with the cluster under TLS, client certificates
    /// required: `hv tls-init` makes one authority, the members'
    /// credentials (naming 127.0.0.1) and this host's, which its VMs and
    /// `hv` are given with `--tls`. Also the path of another authority's
    /// credentials, which the members must not accept.
    fn start_tls(name: &str, test: &str) -> Option<(Fleet, PathBuf)> {
        let dir = scratch(&format!("fleet-{name}"));
        let runtime = dir.join("runtime");
        private_dir(&runtime);
        let init = |creds: &str, ca: &str, name: &str| {
            let (creds, ca) = (dir.join(creds), dir.join(ca));
            let args = ["tls-init", creds.to_str().unwrap(), "--name", name, "--ca", ca.to_str().unwrap()];
            common::succeeds(common::hv_in(&runtime, &args), &args);
            creds
        };
        let members = init("etcd-tls", "ca", "127.0.0.1");
        let host = init("host-tls", "ca", "host-a");
        let stranger = init("stranger-tls", "other-ca", "host-x");
        let etcd = Etcd::start_tls_or_skip(&dir, test, &members)?;
        Some((Fleet { etcd, runtime, tls: Some(host) }, stranger))
    }

    /// An `hv-counter` of `host` in the fleet (`--period-ms 2`, a two-second
    /// entry lease), listed by `hv ps --cluster` before this returns.
    fn vm(&self, host: &str, args: &[&str]) -> Vm {
        let vm = self.vm_unlisted(host, args);
        let instance = vm.instance();
        self.wait_until(&format!("{instance} is listed"), |vms| vms.iter().any(|v| v["instance"] == instance.as_str()));
        vm
    }

    /// [`Fleet::vm`], without waiting for it to be listed (the cluster may be down).
    fn vm_unlisted(&self, host: &str, args: &[&str]) -> Vm {
        let mut command = common::counter_command(&self.runtime, args);
        command.args(["--host-name", host, "--cluster", &self.etcd.urls(), "--cluster-lease", "2", "--period-ms", "2"]);
        if let Some(tls) = &self.tls {
            command.arg("--tls").arg(tls);
        }
        Vm::spawn(command, self.runtime.clone())
    }

    /// `hv ARGS…` in the fleet, as controller host `ctl`.
    fn hv(&self, args: &[&str]) -> Command {
        let mut command = common::hv_in(&self.runtime, args);
        command.env("MOVA_CLUSTER", self.etcd.urls()).env("MOVA_HOST_NAME", "ctl");
        if let Some(tls) = &self.tls {
            command.env("MOVA_TLS_DIR", tls);
        }
        command
    }

    /// `hv ARGS…` must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        common::succeeds(self.hv(args), args)
    }

    /// `hv ARGS…` must fail with exit 1; its stderr.
    fn err(&self, args: &[&str]) -> String {
        common::fails(self.hv(args), args)
    }

    /// `hv ps --json` of the fleet.
    fn listed(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["ps", "--json"])).unwrap()
    }

    /// Waits (at most 20 s) until the fleet's listing satisfies `done`.
    fn wait_until(&self, what: &str, done: impl Fn(&[serde_json::Value]) -> bool) {
        let started = Instant::now();
        loop {
            let vms = self.listed();
            if done(&vms) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "never: {what}; listed: {vms:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The state the fleet lists VM `vm` in.
    fn state_of(&self, vm: &Vm) -> String {
        let instance = vm.instance();
        let vms = self.listed();
        let listed = vms.iter().find(|v| v["instance"] == instance.as_str());
        listed.map_or("gone".into(), |v| v["state"].as_str().unwrap().to_string())
    }

    /// `hv recover` until no record is left locked by a killed controller; its last stdout.
    fn recover(&self) -> String {
        let started = Instant::now();
        loop {
            let out = run(self.hv(&["recover"]));
            let said = String::from_utf8(out.stdout).unwrap();
            if !said.contains("in progress") {
                assert!(out.status.success(), "hv recover: {said}{}", String::from_utf8_lossy(&out.stderr));
                return said;
            }
            assert!(started.elapsed() < CONTROLLER_TTL * 3, "the killed controller's lock never lapsed: {said}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `hv migrate SOURCE --to TARGET` stopped (SIGSTOP) right after it recorded `step`.
    fn migrate_stopped_after(&self, step: &str, source: &Vm, target: &Vm) -> Child {
        let mut command = self.hv(&["migrate", &source.pid(), "--to", &target.pid()]);
        command.env("MOVA_CLUSTER_STOP_AFTER", step).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = command.spawn().unwrap();
        wait_stopped(&child);
        child
    }
}

/// Waits until `child` is stopped (state `T` in /proc).
fn wait_stopped(child: &Child) {
    let started = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
        if stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T')) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "hv never reached its stop: {stat}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lets a stopped `hv` go on; its exit code, stdout and stderr.
fn go_on(child: Child) -> (Option<i32>, String, String) {
    // SAFETY: kill(2) with a child's pid and SIGCONT; no memory is involved.
    unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// Lets a stopped `hv` go on each time it stops, to its end; its exit code,
/// stdout and stderr (a few lines: they fit in the pipes meanwhile).
fn go_on_to_the_end(mut child: Child) -> (Option<i32>, String, String) {
    use std::io::Read;
    let status = loop {
        // Reaped here, the moment it ends: never a signal to a PID that another process may reuse.
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // SAFETY: kill(2) with a live, unreaped child's pid and SIGCONT; no memory is involved.
        unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status.code(), stdout, stderr)
}

/// The program moved: every value the source printed until it exited, then
/// the target's next ones, count up by one — none lost, none twice.
fn moved_once(mut seen: Vec<u64>, source: &mut Vm, target: &mut Vm) {
    seen.extend(source.read_to_end());
    assert_eq!(source.wait(), Some(0), "the source exits 0 once moved");
    seen.extend(target.take(5));
    assert_counts_up(&seen);
}

/// The program stayed: the source counts on, and the target printed nothing.
fn stayed(mut seen: Vec<u64>, source: &mut Vm, target: &mut Vm) {
    seen.extend(source.drain());
    seen.extend(source.take(5));
    assert_counts_up(&seen);
    assert_eq!(target.drain(), Vec::<u64>::new(), "the target never ran the program");
}

#[test]
fn every_host_s_vms_are_listed_and_drop_out_when_they_end_or_die() {
    let Some(fleet) = Fleet::start("listed", "every_host_s_vms_are_listed") else { return };
    let a = fleet.vm("host-a", &[]);
    let mut b = fleet.vm("host-b", &["--wait"]);
    let mut c = fleet.vm("host-c", &[]);
    let table = fleet.ok(&["ps"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "HOST             PID  MACHINE STATE        ENDPOINT                UPTIME  DETAIL                         PROGRAM"
    );
    assert_eq!(lines.len(), 4, "{table}");
    for (line, (vm, host, state)) in
        lines[1..].iter().zip([(&a, "host-a", "running"), (&b, "host-b", "waiting"), (&c, "host-c", "running")])
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&words[..5], [host, &vm.pid(), "hv-counter", state, &vm.endpoint()], "{table}");
        assert_eq!(words.last(), Some(&"counter"), "{table}");
    }
    let listed = fleet.listed();
    assert_eq!(listed[1]["host"], "host-b");
    assert_eq!(listed[1]["instance"], b.instance().as_str());
    assert_eq!(listed[1]["detail"], "count=0");
    let mut keys: Vec<&str> = listed[1].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["detail", "endpoint", "host", "instance", "machine", "pid", "program", "program_hash", "state", "uptime_s"]
    );
    // Ended: its entry goes at once. Killed: when its two-second lease lapses.
    assert_eq!(fleet.ok(&["kill", &b.pid()]), "killed\n");
    assert_eq!(b.wait(), Some(0));
    fleet.wait_until("the ended VM is gone", |vms| vms.len() == 2);
    c.child.kill().unwrap();
    c.wait();
    fleet.wait_until("the killed VM's lease lapsed", |vms| vms.len() == 1);
    assert_eq!(fleet.state_of(&a), "running");
    // Without --cluster, `hv ps` lists this host's runtime directory as before.
    let local = run(common::hv_in(&fleet.runtime, &["ps"]));
    let local = String::from_utf8(local.stdout).unwrap();
    assert!(local.starts_with("    PID  MACHINE STATE"), "{local}");
    assert!(local.contains(&a.pid()), "{local}");
}

/// A counter of host-a moved to a waiting VM of host-b through the fleet:
/// it runs on there exactly once, and the fleet lists only the target.
fn a_counter_moves_once(fleet: &Fleet) {
    let mut a = fleet.vm("host-a", &[]);
    let mut b = fleet.vm("host-b", &["--wait"]);
    let seen = a.take(3);
    let said = fleet.ok(&["migrate", &a.pid(), "--to", &b.pid()]);
    assert_eq!(said, format!("migrated {} -> {}\n", a.pid(), b.pid()));
    moved_once(seen, &mut a, &mut b);
    fleet.wait_until("the target runs it, the source is gone", |vms| {
        vms.len() == 1 && vms[0]["instance"] == b.instance().as_str() && vms[0]["state"] == "running"
    });
}

#[test]
fn a_migration_recorded_in_the_cluster_moves_the_program_once_and_leaves_no_record() {
    let Some(fleet) = Fleet::start("migrate", "a_migration_recorded_in_the_cluster") else { return };
    a_counter_moves_once(&fleet);
    assert_eq!(fleet.ok(&["recover"]), "nothing to recover\n");
}

#[test]
fn a_fleet_on_etcd_under_tls_lists_its_vms_and_moves_them_and_refuses_a_stranger() {
    let test = "a_fleet_on_etcd_under_tls";
    let Some((fleet, stranger)) = Fleet::start_tls("tls", test) else { return };
    assert!(fleet.etcd.urls().starts_with("https://127.0.0.1:"));
    a_counter_moves_once(&fleet);
    assert_eq!(fleet.ok(&["recover"]), "nothing to recover\n");
    // Credentials of another authority: the members do not accept them, nor are they trusted.
    let ps_with = |name: &str, value: &std::ffi::OsStr| {
        let mut command = fleet.hv(&["ps"]);
        command.env(name, value);
        common::fails(command, &["ps"])
    };
    let urls = fleet.etcd.urls();
    let unreachable = format!("hv: the cluster (etcd at {urls}) cannot be reached: 127.0.0.1:");
    let err = ps_with("MOVA_TLS_DIR", stranger.as_os_str());
    assert!(err.starts_with(&unreachable) && err.ends_with(": invalid peer certificate: UnknownIssuer\n"), "{err}");
    // One that trusts the members, but whose own certificate they do not: they refuse it.
    let impostor = stranger.with_file_name("impostor-tls");
    std::fs::create_dir_all(&impostor).unwrap();
    for (file, from) in [("ca.pem", fleet.tls.as_ref().unwrap()), ("cert.pem", &stranger), ("key.pem", &stranger)] {
        std::fs::copy(from.join(file), impostor.join(file)).unwrap();
    }
    let err = ps_with("MOVA_TLS_DIR", impostor.as_os_str());
    assert!(err.starts_with(&unreachable), "{err}");
    // In clear, the members do not answer at all.
    let clear = urls.replace("https://", "http://");
    let err = ps_with("MOVA_CLUSTER", clear.as_ref());
    assert!(err.starts_with(&format!("hv: the cluster (etcd at {clear}) cannot be reached: ")), "{err}");
}

#[test]
fn a_controller_killed_after_any_step_is_settled_by_hv_recover_and_the_program_runs_once() {
    let Some(fleet) = Fleet::start("killed", "a_controller_killed_after_any_step") else { return };
    for (step, settled) in [
        ("begun", None),
        ("sending", Some("aborted: {A} -> {B} (the target never ran it; the source keeps the program and runs on)")),
        ("taken", Some("aborted: {A} -> {B} (the target never ran it; the source runs the program: it took it back, or someone resumed it)")),
        ("committing", Some("aborted: {A} -> {B} (the target never ran it; the source keeps the program and runs on)")),
        ("committed", Some("committed: {A} -> {B} (the target runs it; the source exited)")),
        // The target runs it and the source has exited; only the record is left.
        ("finishing", Some("committed: {A} -> {B} (the target runs it; the source: cannot connect to ")),
    ] {
        let mut a = fleet.vm("host-a", &[]);
        let mut b = fleet.vm("host-b", &["--wait"]);
        let seen = a.take(3);
        let mut hv = fleet.migrate_stopped_after(step, &a, &b);
        hv.kill().unwrap();
        hv.wait().unwrap();
        let said = fleet.recover();
        match settled {
            None => assert_eq!(said, "nothing to recover\n", "after {step}"),
            Some(line) => {
                let line = line.replace("{A}", &a.pid()).replace("{B}", &b.pid());
                match step {
                    "finishing" => assert!(said.starts_with(&line) && said.lines().count() == 1, "{said}"),
                    _ => assert_eq!(said, format!("{line}\n"), "after {step}"),
                }
            }
        }
        match step {
            "committed" | "finishing" => moved_once(seen, &mut a, &mut b),
            _ => stayed(seen, &mut a, &mut b),
        }
        assert_eq!(fleet.ok(&["recover"]), "nothing to recover\n", "after {step}: the record is gone");
        if step != "committed" && step != "finishing" {
            assert_eq!(fleet.ok(&["kill", &a.pid()]), "killed\n");
        }
        drop((a, b));
    }
}

#[test]
fn the_next_migration_of_a_vm_settles_what_a_killed_controller_left_of_it_first() {
    let Some(fleet) = Fleet::start("next", "the_next_migration_of_a_vm_settles") else { return };
    let mut a = fleet.vm("host-a", &[]);
    let mut b = fleet.vm("host-b", &["--wait"]);
    let mut c = fleet.vm("host-c", &["--wait"]);
    let seen = a.take(3);
    let mut hv = fleet.migrate_stopped_after("committing", &a, &b);
    hv.kill().unwrap();
    hv.wait().unwrap();
    // The source is `moving`; once the killed controller's lock lapses, the next `hv migrate` aborts the old
    // migration (the program goes back to the source) and moves the program on.
    std::thread::sleep(CONTROLLER_TTL + Duration::from_secs(1));
    let said = fleet.ok(&["migrate", &a.pid(), "--to", &c.pid()]);
    assert_eq!(said, format!("migrated {} -> {}\n", a.pid(), c.pid()));
    moved_once(seen, &mut a, &mut c);
    assert_eq!(b.drain(), Vec::<u64>::new());
    let instance = b.instance();
    fleet.wait_until("the first target waits again", |vms| {
        vms.iter().any(|v| v["instance"] == instance.as_str() && v["state"] == "waiting")
    });
}

#[test]
fn two_controllers_never_drive_one_vm() {
    let Some(fleet) = Fleet::start("two", "two_controllers_never_drive_one_vm") else { return };
    let mut a = fleet.vm("host-a", &[]);
    let mut b = fleet.vm("host-b", &["--wait"]);
    let c = fleet.vm("host-c", &["--wait"]);
    let seen = a.take(3);
    let first = fleet.migrate_stopped_after("taken", &a, &b);
    let err = fleet.err(&["migrate", &a.pid(), "--to", &c.pid()]);
    assert!(err.starts_with(&format!("hv: {}: busy: controller ctl pid {} (", a.pid(), first.id())), "{err}");
    assert!(
        err.ends_with("is migrating this VM or settling its migration (the cluster's record of it is the lock)\n"),
        "{err}"
    );
    assert!(fleet.ok(&["recover"]).starts_with("in progress: the migration of instance "));
    let (code, stdout, stderr) = go_on(first);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), format!("migrated {} -> {}\n", a.pid(), b.pid()).as_str()),
        "{stderr}"
    );
    moved_once(seen, &mut a, &mut b);
}

#[test]
fn with_etcd_stopped_mid_migration_programs_run_on_new_migrations_refuse_and_nothing_commits_twice() {
    let Some(mut fleet) = Fleet::start("stopped", "with_etcd_stopped_mid_migration") else { return };
    let mut bystander = fleet.vm("host-c", &[]);
    // Stopped before the commit: the commit cannot be recorded, so nothing commits; the source keeps the
    // program without running it until the record is read back.
    let mut a = fleet.vm("host-a", &[]);
    let mut b = fleet.vm("host-b", &["--wait"]);
    let seen = a.take(3);
    let hv = fleet.migrate_stopped_after("committing", &a, &b);
    fleet.etcd.stop();
    let (code, _, stderr) = go_on(hv);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(&format!(
            "hv: {}: migration outcome unknown: the ledger did not confirm the commit (the cluster (etcd at {}) cannot be reached: ",
            a.pid(),
            fleet.etcd.urls()
        )),
        "{stderr}"
    );
    assert!(stderr.ends_with("`hv recover` settles it from the record once the ledger answers\n"), "{stderr}");
    // Running programs keep running; a new migration refuses to start.
    let before = bystander.take(1)[0];
    std::thread::sleep(Duration::from_millis(300));
    assert!(bystander.drain().last().is_some_and(|&now| now > before + 10), "the bystander runs on");
    let c = fleet.vm_unlisted("host-c", &["--wait"]);
    let err = fleet.err(&["migrate", &bystander.pid(), "--to", &c.pid()]);
    assert!(err.starts_with(&format!("hv: the cluster (etcd at {}) cannot be reached: ", fleet.etcd.urls())), "{err}");
    assert!(err.ends_with("; no migration starts without its record in the cluster\n"), "{err}");
    fleet.etcd.restart();
    // A VM started while etcd was down registers once it is back; the bystander's entry is back too.
    fleet.wait_until("the VMs started or running while etcd was down are listed", |vms| {
        [&c, &bystander].iter().all(|vm| vms.iter().any(|v| v["instance"] == vm.instance().as_str()))
    });
    assert_eq!(
        fleet.recover(),
        format!(
            "aborted: {} -> {} (the target never ran it; the source keeps the program and runs on)\n",
            a.pid(),
            b.pid()
        )
    );
    stayed(seen, &mut a, &mut b);

    // Stopped after the commit: the migration completes without etcd, and its record, left committed, is
    // settled once etcd is back — the source is not given the program again.
    let mut d = fleet.vm("host-b", &["--wait"]);
    let seen: Vec<u64> = a.drain();
    let hv = fleet.migrate_stopped_after("committed", &a, &d);
    fleet.etcd.stop();
    let (code, stdout, stderr) = go_on(hv);
    assert_eq!((code, stdout), (Some(0), format!("migrated {} -> {}\n", a.pid(), d.pid())), "{stderr}");
    moved_once(seen, &mut a, &mut d);
    fleet.etcd.restart();
    let said = fleet.recover();
    let committed = format!("committed: {} -> {} (the target runs it; the source: ", a.pid(), d.pid());
    assert!(said.starts_with(&committed), "{said}");
    assert_eq!(fleet.ok(&["recover"]), "nothing to recover\n");
    let mut later = d.drain();
    later.extend(d.take(3));
    assert_counts_up(&later);
}

#[test]
fn drain_moves_every_vm_off_a_host_while_an_etcd_member_dies() {
    let Some(mut fleet) = Fleet::start("drain", "drain_moves_every_vm_off_a_host") else { return };
    let mut sources: Vec<Vm> = (0..3).map(|_| fleet.vm("host-a", &[])).collect();
    let _busy = fleet.vm("host-b", &[]);
    let targets: Vec<Vm> = [("host-b", 1), ("host-c", 2)]
        .iter()
        .flat_map(|&(host, n)| (0..n).map(move |_| host))
        .map(|h| fleet.vm(h, &["--wait"]))
        .collect();
    let mut seen: Vec<Vec<u64>> = sources.iter_mut().map(|vm| vm.take(2)).collect();
    // host-c holds no program and host-b one: the first goes to host-c; then both hold one, and host-b
    // sorts first; the third goes to host-c's last waiting VM.
    let name = |vm: &Vm, host: &str| format!("{host} pid {} ({})", vm.pid(), vm.endpoint());
    let plan = [
        format!("move {} counter -> {}", name(&sources[0], "host-a"), name(&targets[1], "host-c")),
        format!("move {} counter -> {}", name(&sources[1], "host-a"), name(&targets[0], "host-b")),
        format!("move {} counter -> {}", name(&sources[2], "host-a"), name(&targets[2], "host-c")),
    ];
    assert_eq!(fleet.ok(&["drain", "host-a", "--dry-run"]), plan.join("\n") + "\n");
    // The shell plans the same, in the fleet of `hv --cluster`.
    let (said, stderr, code) = test_support::vm::run_script(fleet.hv(&[]), "drain host-a --dry-run\n");
    assert_eq!((said, code), (plan.join("\n") + "\n", Some(0)), "{stderr}");
    // The drain stops itself after each commit; at the first, the cluster's leader is killed.
    let mut drain = fleet.hv(&["drain", "host-a", "--parallel", "2"]);
    let drain = drain.env("MOVA_CLUSTER_STOP_AFTER", "committed").stdout(Stdio::piped()).stderr(Stdio::piped());
    let drain = drain.spawn().unwrap();
    wait_stopped(&drain);
    let leader = fleet.etcd.leader();
    fleet.etcd.kill_member(leader);
    let (code, said, stderr) = go_on_to_the_end(drain);
    assert_eq!(code, Some(0), "{said}{stderr}");
    let mut lines: Vec<&str> = said.lines().collect();
    lines.sort();
    let mut wanted: Vec<String> =
        plan.iter().map(|p| p.replacen("move ", "moved ", 1).replace(" counter -> ", " -> ")).collect();
    wanted.sort();
    assert_eq!(lines, wanted);
    let mut targets = targets;
    for (i, j) in [(0, 1), (1, 0), (2, 2)] {
        let before = std::mem::take(&mut seen[i]);
        moved_once(before, &mut sources[i], &mut targets[j]);
    }
    fleet.wait_until("host-a is empty", |vms| vms.iter().all(|v| v["host"] != "host-a"));
    assert_eq!(fleet.ok(&["drain", "host-a"]), "nothing to move off host-a\n");
}

#[test]
fn a_parallel_manda_program_moves_through_the_fleet_live_and_runs_on_once() {
    let Some(fleet) = Fleet::start("manda", "a_parallel_manda_program_moves_through_the_fleet") else { return };
    let program = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/manda/pipeline.s");
    let manda = |host: &str, args: &[&str]| {
        let mut command =
            test_support::vm::vm_command(&[], std::path::Path::new(env!("CARGO_BIN_EXE_manda")), &fleet.runtime);
        command.args(["run", "--host-name", host, "--cluster", &fleet.etcd.urls()]).args(args).arg(&program);
        // A pipeline of four contexts printing 1, 3, 5, … (examples/manda/pipeline.s).
        command.arg("1000000");
        Vm::spawn(command, fleet.runtime.clone())
    };
    let mut a = manda("host-a", &[]);
    let mut b = manda("host-b", &["--wait"]);
    fleet.wait_until("both are listed", |vms| {
        vms.len() == 2 && vms.iter().all(|v| v["machine"] == "manda" && v["program_hash"].as_str().unwrap().len() == 64)
    });
    let mut seen = a.take(5);
    assert_eq!(fleet.ok(&["migrate", &a.pid(), "--to", &b.pid()]), format!("migrated {} -> {}\n", a.pid(), b.pid()));
    seen.extend(a.read_to_end());
    assert_eq!(a.wait(), Some(0));
    seen.extend(b.take(5));
    for pair in seen.windows(2) {
        assert_eq!(pair[1], pair[0] + 2, "a value was lost or repeated in {seen:?}");
    }
    fleet.wait_until("only the target is listed, running", |vms| {
        vms.len() == 1 && vms[0]["host"] == "host-b" && vms[0]["state"] == "running"
    });
}

#[test]
fn fleet_options_that_cannot_work_are_refused_with_their_reason() {
    // No etcd needed: these never reach one.
    let runtime = scratch("fleet-options").join("runtime");
    private_dir(&runtime);
    let refused = |command: &mut Command| {
        let out = command.stdin(Stdio::null()).output().unwrap();
        assert!(out.stdout.is_empty());
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    let counter = |args: &[&str]| refused(common::counter_command(&runtime, args).stdout(Stdio::piped()));
    assert_eq!(
        counter(&["--cluster", "https://10.0.0.1:2379"]),
        (
            Some(1),
            "hv-counter: --cluster \"https://10.0.0.1:2379\": https://10.0.0.1:2379: a member under TLS is reached \
             with this process's credentials: give --tls DIR\n"
                .into()
        )
    );
    assert_eq!(
        counter(&["--cluster", "10.0.0.1:2379"]),
        (
            Some(1),
            "hv-counter: --cluster \"10.0.0.1:2379\": http://10.0.0.1:2379: clear text to a member on another host \
             (the fleet's records hold its leases): give its https:// URL and --tls DIR, or --insecure\n"
                .into()
        )
    );
    assert_eq!(
        counter(&["--cluster", "10.0.0.1"]),
        (
            Some(1),
            "hv-counter: --cluster \"10.0.0.1\": \"10.0.0.1\" is not a member URL (http://HOST:PORT or \
             https://HOST:PORT)\n"
                .into()
        )
    );
    let hv = |args: &[&str]| refused(&mut common::hv_in(&runtime, args));
    assert_eq!(
        hv(&["--cluster", "a:1,,b:2", "ps"]),
        (
            Some(1),
            "hv: --cluster \"a:1,,b:2\": \"\" is not a member URL (http://HOST:PORT or https://HOST:PORT)\n".into()
        )
    );
    assert_eq!(
        hv(&["--cluster", "https://127.0.0.1:1", "ps"]),
        (
            Some(1),
            "hv: --cluster \"https://127.0.0.1:1\": https://127.0.0.1:1: a member under TLS is reached with this \
             process's credentials: give --tls DIR\n"
                .into()
        )
    );
    assert_eq!(
        hv(&["drain", "host-a"]),
        (Some(1), "hv: drain needs the fleet: --cluster URLS (or MOVA_CLUSTER)\n".into())
    );
    // A cluster nobody answers at: an error within seconds, naming the member and why.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, stderr) = hv(&["--cluster", &format!("127.0.0.1:{port}"), "ps"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        format!(
            "hv: the cluster (etcd at 127.0.0.1:{port}) cannot be reached: 127.0.0.1:{port}: tcp connect error: \
             Connection refused (os error 111)\n"
        )
    );
}

#[test]
fn the_fleet_example_drains_a_host_on_screen() {
    if test_support::etcd::binary_or_skip("the_fleet_example_drains_a_host_on_screen").is_none() {
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet.sh");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_hv")).parent().unwrap().to_path_buf();
    let out = Command::new("bash")
        .arg(script)
        .env("MOVA_BIN", &bin)
        .env_remove("MOVA_CLUSTER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let values = |name: &str| -> Vec<u64> {
        let prefix = format!("  {name} (host-");
        stdout.lines().filter_map(|l| l.strip_prefix(&prefix)).map(|l| l[3..].trim().parse().unwrap()).collect()
    };
    let (a1, a2, b, c) = (values("A1"), values("A2"), values("B"), values("C"));
    for counted in [&a1, &a2, &b, &c] {
        assert!(!counted.is_empty(), "{stdout}");
        assert_counts_up(counted);
    }
    assert_eq!((a1[0], a2[0]), (1, 1), "{stdout}");
    // Each counter went on where it stopped, on another host.
    let mut went_on = [b[0], c[0]];
    let mut stopped = [a1.last().unwrap() + 1, a2.last().unwrap() + 1];
    went_on.sort();
    stopped.sort();
    assert_eq!(went_on, stopped, "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("moved host-a pid ")).count(), 2, "{stdout}");
    let last_listing = stdout.rsplit("HOST             PID").next().unwrap();
    assert!(!last_listing.contains("host-a"), "{stdout}");
}
