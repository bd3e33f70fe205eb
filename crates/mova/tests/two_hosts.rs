//! Two hosts on one machine: network namespaces joined by a veth pair.
//! VM A runs in host A; VM B waits in host B on its non-loopback address
//! with a token; `hv`, run in host A, migrates the counter across.
//!
//! Needs root and `ip` (iproute2). Without them the test says so loudly and
//! passes, unless `MOVA_REQUIRE_NETNS=1` (set by `.ci/run`) makes it fail.

mod common;

use common::{assert_counts_up, hv_path, runtime_dir, Vm};
use std::process::{Command, Stdio};

const ADDR_A: &str = "10.231.0.1";
const ADDR_B: &str = "10.231.0.2";

/// Two namespaces and their veth pair; removed on drop.
struct Hosts {
    a: String,
    b: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().map_err(|e| format!("ip: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())),
    }
}

impl Hosts {
    fn create() -> Result<Hosts, String> {
        let id = std::process::id();
        let hosts = Hosts { a: format!("mova-a-{id}"), b: format!("mova-b-{id}") };
        let (veth_a, veth_b) = (format!("mva{}", id % 100_000), format!("mvb{}", id % 100_000));
        ip(&["netns", "add", &hosts.a])?;
        ip(&["netns", "add", &hosts.b])?;
        ip(&["link", "add", &veth_a, "netns", &hosts.a, "type", "veth", "peer", "name", &veth_b, "netns", &hosts.b])?;
        for (ns, dev, addr) in [(&hosts.a, &veth_a, ADDR_A), (&hosts.b, &veth_b, ADDR_B)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(hosts)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// `hv ARGS` run inside namespace `ns`; (stdout, stderr, success).
fn hv_in(ns: &str, args: &[&str]) -> (String, String, bool) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(hv_path())
        .args(args)
        .env("MOVA_RUNTIME_DIR", runtime_dir())
        .env_remove("MOVA_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into(), out.status.success())
}

#[test]
fn migrate_between_two_hosts_with_a_token() {
    let hosts = match Hosts::create() {
        Ok(hosts) => hosts,
        Err(why) => {
            let message = format!("two-host test NOT RUN: cannot create network namespaces ({why}); run as root");
            eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
            assert!(std::env::var_os("MOVA_REQUIRE_NETNS").is_none(), "{message}");
            return;
        }
    };
    let listen_b = format!("{ADDR_B}:34567");
    let mut a = Vm::start_in(&["ip", "netns", "exec", &hosts.a], "vms/counter_sleep1.mv", &[]);
    let mut b = Vm::start_in(
        &["ip", "netns", "exec", &hosts.b],
        "vms/counter_sleep1.mv",
        &["--wait", "--listen", &listen_b, "--token", "two-host-secret"],
    );
    let mut seen = a.take(3);
    // Host B's address is not loopback: without the token hv is refused and A runs on.
    let (_, err, ok) = hv_in(&hosts.a, &["migrate", &a.pid(), "--to", &listen_b]);
    assert!(!ok);
    assert_eq!(err, format!("hv: {listen_b}: unauthorized: send `auth TOKEN` first\n"));
    let (status, _, _) = hv_in(&hosts.a, &["status", &a.pid()]);
    assert!(status.starts_with("running"), "{status}");
    // With it, the counter crosses.
    let (out, err, ok) = hv_in(&hosts.a, &["migrate", &a.pid(), "--to", &listen_b, "--token", "two-host-secret"]);
    assert!(ok, "{err}");
    assert_eq!(out, format!("migrated {} -> {listen_b}\n", a.pid()));
    seen.extend(a.read_to_end());
    seen.extend(b.take(3));
    assert_counts_up(&seen);
    // B is in the other host: its listener is not on host A's loopback.
    let (_, err, ok) = hv_in(&hosts.a, &["status", "127.0.0.1:34567"]);
    assert!(!ok && err.contains("Connection refused"), "{err}");
    drop(b);
    drop(hosts);
}
