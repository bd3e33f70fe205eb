//! Two hosts on one machine, for tests that move a program between hosts:
//! two network namespaces joined by a veth pair, `10.231.0.1` and
//! `10.231.0.2`. Needs root and `ip` (iproute2); removed on drop.

use std::process::{Command, Stdio};

/// Host A's address.
pub const ADDR_A: &str = "10.231.0.1";
/// Host B's address.
pub const ADDR_B: &str = "10.231.0.2";

/// Two namespaces and their veth pair.
pub struct Hosts {
    /// Host A's namespace: run a command there with `ip netns exec A …`.
    pub a: String,
    /// Host B's namespace.
    pub b: String,
    /// Host A's end of the link.
    link_a: String,
}

/// Runs `ip ARGS`; its error output when it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().map_err(|e| format!("ip: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())),
    }
}

impl Hosts {
    /// Creates both hosts, named after `tag` and this process so that
    /// concurrent tests do not collide.
    pub fn create(tag: &str) -> Result<Hosts, String> {
        // Link names are short (15 bytes): a count of this process's hosts, not the tag,
        // tells two tests of one process apart.
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = std::process::id();
        let suffix = format!("{}x{}", MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed), id % 100_000);
        let (veth_a, veth_b) = (format!("va{suffix}"), format!("vb{suffix}"));
        let hosts = Hosts { a: format!("{tag}-a-{id}"), b: format!("{tag}-b-{id}"), link_a: veth_a.clone() };
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

    /// The hosts, or `None` when they cannot be made here (not root, no
    /// `ip`): said loudly on stderr, and a panic instead when
    /// `MOVA_REQUIRE_NETNS` is set (as CI sets it), so the test really runs there.
    pub fn create_or_skip(tag: &str, test: &str) -> Option<Hosts> {
        match Hosts::create(tag) {
            Ok(hosts) => Some(hosts),
            Err(why) => {
                let message = format!("{test} NOT RUN: cannot create network namespaces ({why}); run as root");
                eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
                assert!(std::env::var_os("MOVA_REQUIRE_NETNS").is_none(), "{message}");
                None
            }
        }
    }
}

impl Hosts {
    /// Cuts the link between the hosts (host A's end goes down): packets
    /// are lost, connections stall, nothing is refused.
    pub fn cut(&self) {
        ip(&["-n", &self.a, "link", "set", &self.link_a, "down"]).expect("the link goes down");
    }
}

impl Hosts {
    /// Limits what host A sends to host B to `rate` (as `tc` reads it, e.g.
    /// `20mbit`): a slow link between hosts, so that a transfer takes seconds.
    pub fn limit(&self, rate: &str) {
        let out = Command::new("tc")
            .args(["-n", &self.a, "qdisc", "add", "dev", &self.link_a, "root", "tbf", "rate", rate])
            .args(["burst", "32kb", "latency", "10s"])
            .stdin(Stdio::null())
            .output()
            .expect("tc (iproute2) runs");
        assert!(out.status.success(), "tc: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// TLS credentials for the two hosts, made by the real `hv tls-init`: one
/// authority for both; `other` is a certificate of another authority, and
/// `mixed` trusts the hosts' authority but holds `other`'s certificate.
pub struct Credentials {
    /// Host A's (for 10.231.0.1): its VMs and the `hv` run there use it.
    pub a: std::path::PathBuf,
    /// Host B's (for 10.231.0.2).
    pub b: std::path::PathBuf,
    /// Of another authority: trusts nothing of the hosts', and nothing trusts it.
    pub other: std::path::PathBuf,
    /// Trusts the hosts' authority, but its certificate is `other`'s.
    pub mixed: std::path::PathBuf,
}

impl Credentials {
    /// Makes them under `dir` (emptied first) with the `hv` binary at `hv`.
    pub fn make(dir: &std::path::Path, hv: &std::path::Path) -> Credentials {
        let _ = std::fs::remove_dir_all(dir);
        let run = |args: &[&str]| {
            let out = Command::new(hv).args(args).env_remove("MOVA_TLS_DIR").output().expect("hv runs");
            assert!(out.status.success(), "hv {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let at = |name: &str| dir.join(name);
        let path = |p: &std::path::PathBuf| p.to_str().expect("a UTF-8 path").to_string();
        let (ca, a, b, other, mixed) = (at("ca"), at("a"), at("b"), at("other"), at("mixed"));
        run(&["tls-init", &path(&a), "--name", ADDR_A, "--ca", &path(&ca)]);
        run(&["tls-init", &path(&b), "--name", ADDR_B, "--ca", &path(&ca)]);
        run(&["tls-init", &path(&other), "--name", ADDR_A]);
        std::fs::create_dir_all(&mixed).expect("a directory");
        for (from, name) in [(&ca, "ca.pem"), (&other, "cert.pem"), (&other, "key.pem")] {
            std::fs::copy(from.join(name), mixed.join(name)).expect("a copy");
        }
        Credentials { a, b, other, mixed }
    }
}
