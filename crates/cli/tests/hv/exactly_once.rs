//! A moved program runs on exactly once — never both, never neither — when
//! clients race, interfere, or target the source itself; and a randomized
//! run of several `hv` clients against several VMs loses and repeats nothing.

mod common;

use common::{assert_counts_up, hv, hv_err, hv_in, hv_ok, lease_of, private_dir, run, scratch, Raw, Vm};
use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn a_vm_cannot_be_its_own_migration_target() {
    let mut a = Vm::start(&["--period-ms", "1"]);
    let (pid, endpoint, instance) = (a.pid(), a.endpoint(), a.instance());
    let mut seen = a.take(3);
    assert!(hv_ok(&["interrupt", &pid]).starts_with("interrupted count="));
    let refusal = format!("hv: {pid}: it is the source itself (instance {instance}): a VM cannot be its own target\n");
    assert_eq!(hv_err(&["migrate", &pid, "--to", &pid]), refusal);
    let refusal =
        format!("hv: {endpoint}: it is the source itself (instance {instance}): a VM cannot be its own target\n");
    assert_eq!(hv_err(&["migrate", &pid, "--to", &endpoint]), refusal);
    // The program is still there and goes on from where it stopped.
    assert_eq!(hv_ok(&["resume", &pid]), "running\n");
    seen.extend(a.take(3));
    assert_counts_up(&seen);
    // The VM refuses it too, whatever the client.
    let mut raw = Raw::connect(&endpoint);
    let lease = lease_of(&raw.call("interrupt"));
    assert_eq!(
        raw.call(&format!("handoff {lease} {instance}")),
        "ERR this VM is the target itself: a VM cannot hand its program to itself"
    );
    assert_eq!(raw.call(&format!("release {lease}")), "OK released interrupted");
}

/// Runs `hv migrate SOURCE --to TARGET` in the background.
fn spawn_migrate(source: &str, target: &str) -> std::process::Child {
    hv(&["migrate", source, "--to", target]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

#[test]
fn two_migrations_of_one_source_started_together_move_it_once() {
    for round in 0..8 {
        let mut a = Vm::start(&["--period-ms", "1"]);
        let mut b = Vm::start(&["--wait"]);
        let mut c = Vm::start(&["--wait"]);
        let mut seen = a.take(2);
        let to_b = spawn_migrate(&a.pid(), &b.pid());
        let to_c = spawn_migrate(&a.pid(), &c.pid());
        let (ob, oc) = (to_b.wait_with_output().unwrap(), to_c.wait_with_output().unwrap());
        let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            ob.status.success() != oc.status.success(),
            "round {round}: exactly one migration succeeds: {:?} / {:?} {}",
            said(&ob),
            said(&oc),
            String::from_utf8_lossy(&oc.stderr)
        );
        let (winner, loser) = if ob.status.success() { (&mut b, &mut c) } else { (&mut c, &mut b) };
        let (won, lost) = if ob.status.success() { (&ob, &oc) } else { (&oc, &ob) };
        assert!(said(won).starts_with(&format!("migrated {} -> ", a.pid())), "{}", said(won));
        let why = String::from_utf8_lossy(&lost.stderr);
        // It found the source held, moving, or gone (its connection reset or refused): never half-done.
        assert!(why.starts_with("hv: ") && !why.contains("migrated"), "round {round}: {why}");
        assert!(!why.contains("failed too"), "round {round}: {why}");
        assert_eq!(a.wait(), Some(0), "the source exits once moved");
        seen.extend(a.read_to_end());
        seen.extend(winner.take(3));
        assert_counts_up(&seen);
        // The loser never ran: it is still waiting, and printed nothing.
        assert!(hv_ok(&["status", &loser.pid()]).starts_with("waiting hv-counter"));
        assert_eq!(loser.drain(), Vec::<u64>::new());
    }
}

#[test]
fn another_clients_resume_is_refused_at_once_and_never_applied_later() {
    let mut a = Vm::start(&["--period-ms", "1"]);
    let endpoint = a.endpoint();
    let mut holder = Raw::connect(&endpoint);
    let mut other = Raw::connect(&endpoint);
    let lease = lease_of(&holder.call("interrupt"));
    std::thread::sleep(Duration::from_millis(50));
    let mut seen = a.drain();
    let started = Instant::now();
    for attempt in ["resume 0123456789abcdef0123456789abcdef", "interrupt", "claim", "kill"] {
        let reply = other.call(attempt);
        assert!(reply.starts_with("ERR busy: held by lease "), "{attempt}: {reply}");
        assert!(reply.ends_with("(idle 0 s; another client may take it over after 60 s idle)"), "{reply}");
    }
    assert_eq!(other.call("resume"), "ERR usage: resume LEASE");
    assert!(started.elapsed() < Duration::from_secs(2), "refused at once, not queued");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(a.drain(), Vec::<u64>::new(), "the refused resume was not applied");
    // The holder's next commands are not disturbed by what was refused.
    assert_eq!(holder.call(&format!("resume {lease}")), "OK running");
    seen.extend(a.take(5));
    let started = Instant::now();
    let lease = lease_of(&holder.call("interrupt"));
    assert!(started.elapsed() < Duration::from_secs(2), "the next interrupt works at once");
    std::thread::sleep(Duration::from_millis(50));
    seen.extend(a.drain());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(a.drain(), Vec::<u64>::new(), "interrupted means stopped");
    assert_eq!(holder.call(&format!("kill {lease}")), "OK killed");
    seen.extend(a.read_to_end());
    assert_counts_up(&seen);
}

#[test]
fn a_target_that_ends_right_after_resume_completes_the_migration() {
    for _ in 0..10 {
        let mut a = Vm::start(&["--period-ms", "1"]);
        // The target ends as soon as it has printed one value: it can exit within microseconds of `resume`.
        let mut b = Vm::start(&["--wait", "--limit", "1", "--exit-status", "7"]);
        let mut seen = a.take(3);
        assert_eq!(hv_ok(&["migrate", &a.pid(), "--to", &b.pid()]), format!("migrated {} -> {}\n", a.pid(), b.pid()));
        assert_eq!(b.wait(), Some(7), "the target ran the program to its end");
        assert_eq!(a.wait(), Some(0), "the source exits, moved");
        seen.extend(a.read_to_end());
        let from_b = b.read_to_end();
        assert_eq!(from_b.len(), 1);
        seen.extend(from_b);
        assert_counts_up(&seen);
    }
}

#[test]
fn a_lease_whose_holder_vanished_can_be_taken_over_after_its_timeout() {
    let mut a = Vm::start(&["--period-ms", "1", "--lease-timeout", "1"]);
    let endpoint = a.endpoint();
    let mut seen = a.take(2);
    let lease = {
        let mut gone = Raw::connect(&endpoint);
        lease_of(&gone.call("interrupt"))
    };
    let mut other = Raw::connect(&endpoint);
    assert!(other.call("claim").starts_with("ERR busy: held by lease "));
    std::thread::sleep(Duration::from_millis(1100));
    assert!(other.call("status").contains(" lease=expired "));
    let taken = lease_of(&other.call("claim"));
    assert_ne!(taken, lease);
    assert!(other.call(&format!("resume {lease}")).starts_with("ERR busy: held by lease "), "the old lease is void");
    assert_eq!(other.call(&format!("resume {taken}")), "OK running");
    seen.extend(a.take(3));
    assert_counts_up(&seen);
}

/// A small xorshift generator: the randomized test prints its seed, and a
/// failing seed can be replayed with `HV_RANDOM_SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const LINEAGE: u64 = 1_000_000;

#[test]
fn random_clients_against_random_vms_lose_and_repeat_nothing() {
    let seed: Option<u64> = std::env::var("HV_RANDOM_SEED").ok().and_then(|s| s.parse().ok());
    let rounds = if seed.is_some() { 1 } else { 4 };
    let mut total = 0;
    for _ in 0..rounds {
        let seed = seed.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
        });
        eprintln!("HV_RANDOM_SEED={seed}");
        total += random_round(seed);
    }
    assert!(total > 0, "no round moved anything: the test tested too little");
}

/// One round; the number of migrations that succeeded.
fn random_round(seed: u64) -> usize {
    // Three programs (lineages), each counting in its own range, and nine waiting VMs to move them to.
    let lineage =
        |l: u64| Vm::start(&["--period-ms", "1", "--lease-timeout", "1", "--start", &(l * LINEAGE).to_string()]);
    let mut vms: Vec<Vm> = (0..3).map(lineage).collect();
    vms.extend((0..9).map(|_| Vm::start(&["--wait", "--lease-timeout", "1"])));
    let endpoints: Vec<String> = vms.iter().map(|vm| vm.endpoint()).collect();
    let deadline = Instant::now() + Duration::from_secs(6);
    // Four clients, each a different user of hv as far as leases go: their own runtime directory.
    let claims: Vec<Vec<(String, String)>> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4u64)
            .map(|client| {
                let endpoints = &endpoints;
                scope.spawn(move || {
                    let runtime = scratch(&format!("random-client-{client}"));
                    private_dir(&runtime);
                    let mut rng = Rng(seed.wrapping_mul(client * 2 + 1) | 1);
                    let mut migrated = Vec::new();
                    let hv = |args: &[&str]| run(hv_in(&runtime, args));
                    for _ in 0..100 {
                        if Instant::now() > deadline {
                            break;
                        }
                        let vm = &endpoints[rng.below(endpoints.len())];
                        // Mostly into the VMs started waiting; sometimes anywhere, to be refused.
                        let to = match rng.below(4) {
                            0 => &endpoints[rng.below(endpoints.len())],
                            _ => &endpoints[3 + rng.below(endpoints.len() - 3)],
                        };
                        match rng.below(10) {
                            // A pause: interrupt, maybe save, resume.
                            0..=2 => {
                                if hv(&["interrupt", vm]).status.success() {
                                    std::thread::sleep(Duration::from_millis(rng.below(10) as u64));
                                    if rng.below(2) == 0 {
                                        hv(&["sstate", vm, "-o", runtime.join("state").to_str().unwrap()]);
                                    }
                                    hv(&["resume", vm]);
                                }
                            }
                            // Interference: someone else's resume, release or status.
                            3 => drop(hv(&["resume", vm])),
                            4 => drop(hv(&["release", vm])),
                            5 => drop(hv(&["status", vm])),
                            // A client that interrupts and walks away: its lease times out.
                            6 if rng.below(4) == 0 => drop(hv(&["interrupt", vm])),
                            _ => {
                                let out = hv(&["migrate", vm, "--to", to]);
                                if out.status.success() {
                                    let said = String::from_utf8_lossy(&out.stdout).to_string();
                                    assert!(said.starts_with("migrated "), "{said}");
                                    migrated.push((vm.clone(), to.clone()));
                                }
                            }
                        }
                    }
                    migrated
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    // Let every VM run on, then stop them all and read everything they printed.
    std::thread::sleep(Duration::from_millis(100));
    let mut outputs: HashMap<String, Vec<u64>> = HashMap::new();
    for vm in &mut vms {
        let _ = vm.child.kill();
        let _ = vm.child.wait();
    }
    for (vm, endpoint) in vms.iter_mut().zip(&endpoints) {
        outputs.insert(endpoint.clone(), vm.read_to_end());
    }
    // Every value once, across all processes; each lineage without a gap.
    let mut lineages: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for values in outputs.values() {
        assert_counts_up_in_runs(values);
        for &v in values {
            lineages.entry(v / LINEAGE).or_default().push(v);
        }
    }
    for (lineage, mut values) in lineages {
        values.sort_unstable();
        let before = values.len();
        values.dedup();
        assert_eq!(values.len(), before, "seed {seed}: lineage {lineage} printed a value twice");
        assert_eq!(values[0], lineage * LINEAGE + 1, "seed {seed}: lineage {lineage} starts at its first value");
        assert_counts_up(&values);
    }
    let claims: Vec<(String, String)> = claims.into_iter().flatten().collect();
    let printed: usize = outputs.values().map(Vec::len).sum();
    eprintln!("{} migrations, {printed} values", claims.len());
    let moved = claims.len();
    // Every `migrated` was true: the target printed (if anything) what followed the source.
    for (source, target) in claims {
        let (from, to) = (&outputs[&source], &outputs[&target]);
        if let (Some(&last), Some(&first)) = (from.last(), to.first()) {
            assert!(first / LINEAGE == last / LINEAGE, "seed {seed}: {source} -> {target} moved another program");
        }
    }
    moved
}

/// One process runs one program: its values count up by one.
fn assert_counts_up_in_runs(values: &[u64]) {
    assert_counts_up(values);
}
