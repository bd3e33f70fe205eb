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
        let id = std::process::id();
        let hosts = Hosts { a: format!("{tag}-a-{id}"), b: format!("{tag}-b-{id}") };
        let suffix = format!("{}{}", &tag[..1], id % 100_000);
        let (veth_a, veth_b) = (format!("va{suffix}"), format!("vb{suffix}"));
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

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}
