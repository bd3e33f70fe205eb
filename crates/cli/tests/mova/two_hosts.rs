//! Two hosts on one machine: network namespaces joined by a veth pair.
//! VM A runs in host A; VM B waits in host B on its non-loopback address
//! under TLS (or, asked for, in clear with a token); `hv`, run in host A,
//! migrates the counter across, and A's state goes straight to B.
//!
//! Needs root and `ip` (iproute2). Without them the test says so loudly and
//! passes, unless `MOVA_REQUIRE_NETNS=1` (set by `.ci/run`) makes it fail.

mod common;

use common::{assert_counts_up, hv_path, runtime_dir, Vm};
use test_support::netns::{Credentials, Hosts, ADDR_B};

/// `hv ARGS` run inside namespace `ns`; (stdout, stderr, success).
fn hv_in(ns: &str, args: &[&str]) -> (String, String, bool) {
    let out = test_support::vm::hv_command_in(&["ip", "netns", "exec", ns], &hv_path(), &runtime_dir(), args)
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into(), out.status.success())
}

#[test]
fn migrate_between_two_hosts_under_tls() {
    let Some(hosts) = Hosts::create_or_skip("mova", "two-host test") else { return };
    let tls =
        Credentials::make(&std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("mova-two-host-tls"), &hv_path());
    let dir = |p: &std::path::PathBuf| p.to_str().unwrap().to_string();
    let listen_b = format!("{ADDR_B}:34567");
    let mut a = Vm::start_in(&["ip", "netns", "exec", &hosts.a], "vms/counter_sleep1.mv", &["--tls", &dir(&tls.a)]);
    let mut b = Vm::start_in(
        &["ip", "netns", "exec", &hosts.b],
        "vms/counter_sleep1.mv",
        &["--wait", "--listen", &listen_b, "--tls", &dir(&tls.b)],
    );
    let mut seen = a.take(3);
    // Host B's address is not loopback: hv goes there under TLS only, and with the right credentials.
    let (_, err, ok) = hv_in(&hosts.a, &["migrate", &a.pid(), "--to", &listen_b]);
    assert!(!ok);
    assert_eq!(
        err,
        format!(
            "hv: {listen_b}: {listen_b} is not on this host: connections to it are made under TLS, and no \
             credentials were given (--tls DIR or MOVA_TLS_DIR; `hv tls-init` makes them), or --insecure for clear text\n"
        )
    );
    let (_, err, _) = hv_in(&hosts.a, &["status", &listen_b, "--insecure"]);
    assert_eq!(
        err,
        format!("hv: {listen_b}: this VM takes connections from other hosts under TLS only (hv --tls DIR; docs/hypervisor.md)\n")
    );
    // Refused before anything is said: B's certificate is not of the authority hv trusts …
    let (_, err, _) = hv_in(&hosts.a, &["status", &listen_b, "--tls", &dir(&tls.other)]);
    assert_eq!(err, format!("hv: cannot connect to {listen_b}: invalid peer certificate: UnknownIssuer\n"));
    // … or hv's is not of the authority B trusts (B's alert ends the handshake: no request is read).
    let (_, err, _) = hv_in(&hosts.a, &["status", &listen_b, "--tls", &dir(&tls.mixed)]);
    assert!(err.starts_with(&format!("hv: {listen_b}: received fatal alert: ")), "{err}");
    let (status, _, _) = hv_in(&hosts.a, &["status", &a.pid()]);
    assert!(status.starts_with("running"), "{status}");
    // With them, the counter crosses: hv to both VMs, and A's state straight to B, under TLS.
    let (out, err, ok) = hv_in(&hosts.a, &["migrate", &a.pid(), "--to", &listen_b, "--tls", &dir(&tls.a)]);
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

#[test]
fn migrate_between_two_hosts_in_clear_with_a_token_when_asked() {
    let Some(hosts) = Hosts::create_or_skip("movc", "two-host test in clear") else { return };
    let listen_b = format!("{ADDR_B}:34567");
    let mut a = Vm::start_in(&["ip", "netns", "exec", &hosts.a], "vms/counter_sleep1.mv", &["--insecure"]);
    let mut b = Vm::start_in(
        &["ip", "netns", "exec", &hosts.b],
        "vms/counter_sleep1.mv",
        &["--wait", "--listen", &listen_b, "--insecure", "--token", "two-host-secret"],
    );
    let mut seen = a.take(3);
    // Without the token hv is refused and A runs on.
    let (_, err, ok) = hv_in(&hosts.a, &["migrate", &a.pid(), "--to", &listen_b, "--insecure"]);
    assert!(!ok);
    assert_eq!(err, format!("hv: {listen_b}: unauthorized: send `auth TOKEN` first\n"));
    let (out, err, ok) =
        hv_in(&hosts.a, &["migrate", &a.pid(), "--to", &listen_b, "--insecure", "--token", "two-host-secret"]);
    assert!(ok, "{err}");
    assert_eq!(out, format!("migrated {} -> {listen_b}\n", a.pid()));
    seen.extend(a.read_to_end());
    seen.extend(b.take(3));
    assert_counts_up(&seen);
    drop(b);
    drop(hosts);
}
