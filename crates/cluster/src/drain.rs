//! `hv drain HOST`: every VM off a host, to the others.
//!
//! ## The rule ([`plan`])
//!
//! A migration moves a program into a *waiting* VM of the same machine and
//! program (started with `--wait`), so draining needs such VMs on other
//! hosts. Each VM of the drained host that holds a program (`running` or
//! `interrupted`) goes, in order of PID, to the host with the **fewest VMs
//! holding a program** — counting the ones this plan already sends there —
//! among the hosts with a waiting VM of its machine and program hash; ties
//! go to the host name that sorts first, and on that host to the waiting VM
//! with the lowest PID. Each waiting VM takes one program. A VM with
//! nowhere to go, or already moving, is reported and left where it is.
//!
//! ## Running it ([`run`])
//!
//! At most `parallel` migrations at once, each recorded in the cluster's
//! ledger like `hv migrate --cluster`; one line per VM as each ends.

use crate::registration::Registration;
use std::collections::BTreeMap;
use std::sync::Mutex;
use vm_host::migration::Ledger;
use vm_host::MigrateOptions;

/// One move of a plan: `vm` goes to the waiting VM `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The VM whose program moves.
    pub vm: Registration,
    /// The waiting VM it moves to, on another host.
    pub to: Registration,
}

/// What [`plan`] decided for a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The moves, in order of the source's PID.
    pub moves: Vec<Move>,
    /// VMs of the host left where they are, and why.
    pub stay: Vec<(Registration, String)>,
}

fn holds_program(vm: &Registration) -> bool {
    matches!(vm.state.as_str(), "running" | "interrupted")
}

/// The plan for draining `host`, by the rule in the module's doc.
pub fn plan(vms: &[Registration], host: &str) -> Plan {
    let mut load: BTreeMap<&str, usize> = BTreeMap::new();
    for vm in vms.iter().filter(|vm| holds_program(vm)) {
        *load.entry(vm.host.as_str()).or_default() += 1;
    }
    let mut waiting: Vec<&Registration> = vms.iter().filter(|vm| vm.host != host && vm.state == "waiting").collect();
    waiting.sort_by(|a, b| (&a.host, a.vm.pid).cmp(&(&b.host, b.vm.pid)));
    let mut sources: Vec<&Registration> = vms.iter().filter(|vm| vm.host == host).collect();
    sources.sort_by_key(|vm| vm.vm.pid);
    let mut plan = Plan::default();
    for vm in sources {
        if vm.state == "waiting" {
            continue; // Nothing to move: it holds no program.
        }
        if !holds_program(vm) {
            plan.stay.push((vm.clone(), format!("it is {}, not running or interrupted", vm.state)));
            continue;
        }
        let fits = |to: &&Registration| to.vm.machine == vm.vm.machine && to.vm.program_hash == vm.vm.program_hash;
        let best = waiting
            .iter()
            .enumerate()
            .filter(|(_, to)| fits(to))
            .min_by_key(|(_, to)| (load.get(to.host.as_str()).copied().unwrap_or(0), &to.host, to.vm.pid))
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                let to = waiting.remove(i);
                *load.entry(to.host.as_str()).or_default() += 1;
                plan.moves.push(Move { vm: vm.clone(), to: to.clone() });
            }
            None => plan.stay.push((
                vm.clone(),
                format!(
                    "no waiting {} VM of its program ({}) on another host",
                    vm.vm.machine,
                    short(&vm.vm.program_hash)
                ),
            )),
        }
    }
    plan
}

/// The first 12 hex digits of a hash, as `hv` shows them.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// How a VM is named in a drain's lines: host, PID and endpoint.
fn name(vm: &Registration) -> String {
    format!("{} pid {} ({})", vm.host, vm.vm.pid, vm.vm.endpoint)
}

impl Plan {
    /// The plan as `hv drain --dry-run` prints it, a line per VM.
    pub fn lines(&self) -> Vec<String> {
        let moves = self.moves.iter().map(|m| format!("move {} {} -> {}", name(&m.vm), m.vm.vm.program, name(&m.to)));
        moves.chain(self.stay_lines()).collect()
    }

    /// A line for each VM that stays, and why (`hv drain` prints them first).
    pub fn stay_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.stay.iter().map(|(vm, why)| format!("stay {} {}: {why}", name(vm), vm.vm.program))
    }
}

/// Runs `plan`'s moves, at most `parallel` at once (at least one), each
/// recorded in `ledger`; `said` gets a line as each ends. How many failed.
pub fn run(
    plan: &Plan,
    ledger: &dyn Ledger,
    token: Option<&str>,
    options: &MigrateOptions,
    parallel: usize,
    said: &(dyn Fn(String) + Sync),
) -> usize {
    let next = Mutex::new(plan.moves.iter());
    let failed = Mutex::new(0);
    std::thread::scope(|scope| {
        for _ in 0..parallel.clamp(1, plan.moves.len().max(1)) {
            scope.spawn(|| loop {
                let Some(m) = next.lock().unwrap_or_else(|e| e.into_inner()).next() else { return };
                match vm_host::migrate_in(ledger, &m.vm.vm.endpoint, &m.to.vm.endpoint, token, options, None) {
                    Ok(_) => said(format!("moved {} -> {}", name(&m.vm), name(&m.to))),
                    Err(e) => {
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                        said(format!("failed {} -> {}: {e}", name(&m.vm), name(&m.to)));
                    }
                }
            });
        }
    });
    let failed = *failed.lock().unwrap_or_else(|e| e.into_inner());
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(host: &str, pid: u32, state: &str, program: &str) -> Registration {
        Registration {
            host: host.into(),
            vm: vm_host::registry::Entry {
                pid,
                instance: format!("{pid:016x}"),
                machine: "manda".into(),
                program: format!("{program}.mx"),
                program_hash: format!("{program}000000000000"),
                endpoint: format!("127.0.0.1:{pid}"),
                started: 0,
            },
            state: state.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn each_vm_goes_to_the_host_with_fewest_programs_that_has_a_waiting_vm_of_its_program() {
        let vms = [
            vm("a", 10, "running", "p"),
            vm("a", 11, "interrupted", "p"),
            vm("a", 12, "running", "q"),
            vm("a", 13, "waiting", "p"),
            vm("a", 14, "moving", "p"),
            vm("a", 15, "running", "r"),
            vm("b", 20, "running", "x"),
            vm("b", 21, "waiting", "p"),
            vm("b", 22, "waiting", "q"),
            vm("c", 30, "waiting", "p"),
            vm("c", 31, "waiting", "p"),
        ];
        let plan = plan(&vms, "a");
        assert_eq!(
            plan.lines(),
            [
                // c holds no program, b one: c first; then b and c hold one each, b sorts first.
                "move a pid 10 (127.0.0.1:10) p.mx -> c pid 30 (127.0.0.1:30)",
                "move a pid 11 (127.0.0.1:11) p.mx -> b pid 21 (127.0.0.1:21)",
                "move a pid 12 (127.0.0.1:12) q.mx -> b pid 22 (127.0.0.1:22)",
                "stay a pid 14 (127.0.0.1:14) p.mx: it is moving, not running or interrupted",
                "stay a pid 15 (127.0.0.1:15) r.mx: no waiting manda VM of its program (r00000000000) on another host",
            ]
        );
        // A host with nothing on it, or nothing but waiting VMs, has an empty plan.
        assert_eq!(super::plan(&vms, "nowhere"), Plan::default());
        assert!(super::plan(&vms, "c").moves.is_empty());
    }

    proptest::proptest! {
        /// Whatever the fleet: every VM of the host that holds a program moves or
        /// stays (said once), each to a waiting VM of its program on another
        /// host, no waiting VM taken twice, and a VM stays only if none was left.
        #[test]
        fn every_plan_is_sound(
            fleet in proptest::collection::vec((0..4u8, 0..5u8, 0..3u8), 0..40),
            drained in 0..4u8,
        ) {
            let states = ["running", "interrupted", "waiting", "moving", "migrating"];
            let vms: Vec<Registration> = fleet
                .iter()
                .enumerate()
                .map(|(i, &(host, state, program))| {
                    vm(&format!("h{host}"), i as u32 + 1, states[state as usize], &format!("p{program}"))
                })
                .collect();
            let host = format!("h{drained}");
            let plan = plan(&vms, &host);
            let mut taken = std::collections::HashSet::new();
            for m in &plan.moves {
                proptest::prop_assert!(m.vm.host == host && holds_program(&m.vm));
                proptest::prop_assert!(m.to.host != host && m.to.state == "waiting");
                proptest::prop_assert!(m.to.vm.program_hash == m.vm.vm.program_hash);
                proptest::prop_assert!(taken.insert(m.to.vm.instance.clone()), "a waiting VM taken twice");
            }
            let said: Vec<u32> = plan.moves.iter().map(|m| m.vm.vm.pid).chain(plan.stay.iter().map(|(vm, _)| vm.vm.pid)).collect();
            let mut wanted: Vec<u32> =
                vms.iter().filter(|vm| vm.host == host && vm.state != "waiting").map(|vm| vm.vm.pid).collect();
            let mut said_sorted = said.clone();
            said_sorted.sort();
            wanted.sort();
            proptest::prop_assert_eq!(said_sorted, wanted);
            for (vm, why) in &plan.stay {
                let left = vms.iter().any(|to| {
                    to.host != host && to.state == "waiting" && to.vm.program_hash == vm.vm.program_hash
                        && !taken.contains(&to.vm.instance)
                });
                proptest::prop_assert!(!holds_program(vm) || !left, "{} stays ({why}) though a waiting VM is free", vm.vm.pid);
            }
        }
    }
}
