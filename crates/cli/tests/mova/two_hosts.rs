//! Two hosts on one machine: network namespaces joined by a veth pair.
//! VM A runs in host A; VM B waits in host B on its non-loopback address
//! with a token; `hv`, run in host A, migrates the counter across.
//!
//! Needs root and `ip` (iproute2). Without them the test says so loudly and
//! passes, unless `MOVA_REQUIRE_NETNS=1` (set by `.ci/run`) makes it fail.

mod common;

use common::{assert_counts_up, hv_path, runtime_dir, Vm};
use std::process::{Command, Stdio};
use test_support::netns::{Hosts, ADDR_B};

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
    let Some(hosts) = Hosts::create_or_skip("mova", "two-host test") else { return };
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
