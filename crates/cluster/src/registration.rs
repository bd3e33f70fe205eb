//! Each VM's entry in the fleet: `/mova/vms/INSTANCE`, a JSON
//! [`Registration`] written under an etcd lease the VM keeps alive
//! ([`Registrar`]), so that a VM that dies drops out when its lease lapses
//! and one that ends takes its entry out at once; and the listing that
//! `hv ps --cluster` and `hv drain` read ([`list`]).

use crate::etcd::{Cluster, ClusterError};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use vm_host::host::{Fleet, Presence};
use vm_host::registry::Entry;
use vm_host::tls::Policy;

/// Where the VMs' entries live: one key per instance under this prefix.
pub const VMS: &str = "/mova/vms/";

/// The largest entry [`list`] reads; a bigger value is not a VM's.
const MAX_ENTRY: usize = 4096;

/// One VM of the fleet as it registered itself: its runtime-directory
/// entry, its host, and what it was doing (one flat JSON object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The host it runs on (`--host-name`, else the system's host name).
    pub host: String,
    /// Its process, instance, machine, program (path and SHA-256), endpoint and start time.
    #[serde(flatten)]
    pub vm: Entry,
    /// Its mode when it last wrote the entry: running, interrupted, waiting, migrating, moving.
    pub state: String,
    /// Its position or live figures then (`hv ps`'s detail).
    pub detail: String,
}

impl Registration {
    /// Whether it can be a VM's entry: a hex instance id, and text fields of
    /// at most 512 bytes with no control characters (`hv ps` prints them to
    /// a terminal, and what etcd holds is anyone's to write).
    fn check(&self) -> bool {
        let short = |s: &str| s.len() <= 512 && !s.chars().any(char::is_control);
        let vm = &self.vm;
        vm_host::registry::is_hex_id(&vm.instance)
            && [&self.host, &vm.machine, &vm.program, &vm.program_hash, &vm.endpoint, &self.state, &self.detail]
                .iter()
                .all(|s| short(s))
    }
}

/// Every VM registered in the cluster, by host, then PID; entries that are
/// not a VM's (too long, not JSON, not matching their key) are left out.
pub fn list(cluster: &Cluster) -> Result<Vec<Registration>, ClusterError> {
    let options = etcd_client::GetOptions::new().with_prefix();
    let response = cluster.call(|mut c| {
        let options = options.clone();
        async move { c.get(VMS, Some(options)).await }
    })?;
    let mut vms: Vec<Registration> = response
        .kvs()
        .iter()
        .filter(|kv| kv.value().len() <= MAX_ENTRY)
        .filter_map(|kv| {
            let vm: Registration = serde_json::from_slice(kv.value()).ok()?;
            let key = std::str::from_utf8(kv.key()).ok()?;
            (vm.check() && key.strip_prefix(VMS) == Some(vm.vm.instance.as_str())).then_some(vm)
        })
        .collect();
    vms.sort_by(|a, b| (&a.host, a.vm.pid, &a.vm.instance).cmp(&(&b.host, b.vm.pid, &b.vm.instance)));
    Ok(vms)
}

/// The name this host goes by in the fleet when none is given: the system's host name.
pub fn system_host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match ok {
        true => String::from_utf8_lossy(&buf[..len]).into_owned(),
        false => "localhost".into(),
    }
}

/// Keeps a VM's [`Registration`] in the cluster while it runs (the host's
/// [`Fleet`]): writes it under a lease of `ttl`, renews the lease every
/// third of it, rewrites the entry when the VM's mode changes (its detail
/// too, at most once a renewal), and revokes the lease when the VM ends.
/// A cluster that cannot be reached never stops the program: it is said
/// once on stderr and retried every second; a lease that lapsed meanwhile
/// is granted anew.
#[derive(Debug)]
pub struct Registrar {
    urls: String,
    policy: Policy,
    host: String,
    ttl: Duration,
}

impl Registrar {
    /// A registrar for the cluster `urls`, reached as `policy` says
    /// (checked: [`crate::check_urls`]), naming this host `host`.
    pub fn new(urls: &str, policy: Policy, host: String, ttl: Duration) -> Result<Registrar, ClusterError> {
        crate::etcd::check_urls(urls, &policy)?;
        Ok(Registrar { urls: urls.to_string(), policy, host, ttl: ttl.max(Duration::from_secs(2)) })
    }
}

/// A lease this VM holds, and when it was last renewed.
struct Held {
    id: i64,
    renewed: Instant,
    /// What the entry says now.
    written: Registration,
}

impl Registrar {
    /// The entry for `vm` as it is now.
    fn registration(&self, vm: &Presence) -> Registration {
        let status = vm.status();
        Registration { host: self.host.clone(), vm: vm.entry().clone(), state: status.mode, detail: status.position }
    }

    /// One turn: register if not registered, renew the lease when due,
    /// rewrite the entry if it changed.
    fn turn(&self, cluster: &Cluster, held: &mut Option<Held>, vm: &Presence) -> Result<(), ClusterError> {
        let now = self.registration(vm);
        // Written (and so serialized) only when new or changed: a turn is every 50 ms.
        let put = |id: i64, entry: &Registration| {
            let key = format!("{VMS}{}", entry.vm.instance);
            let value = serde_json::to_string(entry).map_err(|e| cluster.unreachable(e.to_string()))?;
            let options = etcd_client::PutOptions::new().with_lease(id);
            cluster.call(|mut c| {
                let (key, value, options) = (key.clone(), value.clone(), options.clone());
                async move { c.put(key, value, Some(options)).await }
            })
        };
        let Some(lease) = held else {
            let ttl = self.ttl.as_secs() as i64;
            // Tried again elsewhere if its answer is lost: the lease granted then lapses unused.
            let id = cluster.call(|mut c| async move { c.lease_grant(ttl, None).await })?.id();
            put(id, &now)?;
            *held = Some(Held { id, renewed: Instant::now(), written: now });
            return Ok(());
        };
        let due = lease.renewed.elapsed() >= self.ttl / 3;
        if due {
            let id = lease.id;
            // A stream of its own each time, on whichever member answers.
            let answer = cluster.call(|mut c| async move {
                let (mut keeper, mut stream) = c.lease_keep_alive(id).await?;
                keeper.keep_alive().await?;
                stream.message().await
            })?;
            if answer.is_none_or(|a| a.ttl() <= 0) {
                *held = None;
                return Err(cluster.unreachable("the VM's lease lapsed while the cluster could not be reached".into()));
            }
            lease.renewed = Instant::now();
        }
        let changed = now.state != lease.written.state || (due && now.detail != lease.written.detail);
        if changed {
            put(lease.id, &now)?;
            lease.written = now;
        }
        Ok(())
    }
}

impl Fleet for Registrar {
    fn keep(&self, vm: Presence) {
        let kind = vm.entry().machine.clone();
        let mut cluster = None;
        let mut held = None;
        let mut failing = false;
        while !vm.ended() {
            let turn = match &cluster {
                Some(cluster) => self.turn(cluster, &mut held, &vm),
                None => Cluster::connect(&self.urls, &self.policy).map(|c| cluster = Some(c)),
            };
            match turn {
                Ok(()) if failing => {
                    eprintln!("{kind}: registered in the cluster again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) => {
                    if !failing {
                        eprintln!("{kind}: not registered in the cluster ({e}); the program runs on, and registering is retried");
                    }
                    failing = true;
                    held = None;
                    for _ in 0..10 {
                        if vm.ended() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let (Some(cluster), Some(lease)) = (&cluster, held) {
            let id = lease.id;
            cluster.tidy(|mut c| async move { c.lease_revoke(id).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::etcd::Etcd;

    #[test]
    fn the_listing_leaves_out_entries_that_are_not_a_vm_s() {
        let Some(etcd) = Etcd::start_in_temp_or_skip("the_listing_leaves_out_entries") else { return };
        let cluster = Cluster::connect(&etcd.urls(), &Policy::default()).unwrap();
        let vm = |host: &str, pid: u32, instance: &str| Registration {
            host: host.into(),
            vm: Entry {
                pid,
                instance: instance.into(),
                machine: "manda".into(),
                program: "p.mx".into(),
                program_hash: "00".into(),
                endpoint: "127.0.0.1:1".into(),
                started: 0,
            },
            state: "running".into(),
            detail: String::new(),
        };
        let json = |r: &Registration| serde_json::to_vec(r).unwrap();
        let mut long = vm("b", 3, "0c");
        long.detail = "x".repeat(513);
        let mut escaping = vm("b", 4, "11");
        escaping.vm.program = "p.mx\u{1b}[2J".into();
        for (key, value) in [
            ("0a", json(&vm("b", 2, "0a"))),
            ("0b", json(&vm("a", 9, "0b"))),
            ("0c", json(&long)),
            ("0d", json(&vm("a", 1, "0e"))),
            ("0f", b"{\"host\":".to_vec()),
            ("../x", json(&vm("a", 1, "../x"))),
            ("10", vec![b' '; MAX_ENTRY + 1]),
            ("11", json(&escaping)),
        ] {
            let key = format!("{VMS}{key}");
            cluster
                .call(|mut c| {
                    let (key, value) = (key.clone(), value.clone());
                    async move { c.put(key, value, None).await }
                })
                .unwrap();
        }
        let listed: Vec<(String, u32)> = list(&cluster).unwrap().into_iter().map(|r| (r.host, r.vm.pid)).collect();
        assert_eq!(listed, [("a".to_string(), 9), ("b".to_string(), 2)]);
    }
}
