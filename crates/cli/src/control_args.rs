//! The control options every VM program takes, as clap arguments, and the
//! host options they make.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;
use vm_host::host::{Limits, Options};

/// The control options every VM binary takes (`mova run`, `manda run`, `hv-counter`).
#[derive(Debug, Clone, clap::Args)]
pub struct ControlArgs {
    /// Control listener address [default: 127.0.0.1:34567, or an ephemeral port if taken].
    #[arg(long, value_name = "ADDR", env = "MOVA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Token clients must send first (required for a non-loopback --listen in clear).
    #[arg(long, env = "MOVA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// TLS credentials (DIR/ca.pem, cert.pem, key.pem; `hv tls-init` makes them): other hosts connect under TLS, and so does this VM's state stream to another host.
    #[arg(long, value_name = "DIR", env = "MOVA_TLS_DIR")]
    pub tls: Option<PathBuf>,
    /// Allow clear text to and from other hosts, etcd members included (a token is then required).
    #[arg(long)]
    pub insecure: bool,
    /// Read the token from FILE's first line (wins over --token; FILE must not be readable by others).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Load the program and wait, with no state, for one (hv rstate / hv migrate).
    #[arg(long, conflicts_with = "restore")]
    pub wait: bool,
    /// Start from a saved state file instead of the program's start.
    #[arg(long, value_name = "FILE")]
    pub restore: Option<PathBuf>,
    /// Seconds a control client has to authenticate, to finish a request or a payload, and to read a reply.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub control_timeout: u64,
    /// Seconds of silence after which another client may take over a lease (a restored state not resumed yet is dropped instead).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub lease_timeout: u64,
    /// Seconds a VM's entry in the fleet outlives the VM if it dies without taking it out (its etcd lease).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub cluster_lease: u64,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// The fleet options, the same for every program: the etcd cluster a VM
/// registers in (`mova run`, `manda run`, `hv-counter`), and `hv` lists,
/// records migrations and drains hosts in; and this host's name there.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// The fleet's etcd members, URL[,URL…] (http://HOST:PORT on loopback; https://HOST:PORT with --tls DIR; http:// elsewhere only with --insecure): VMs register there (beside this host's runtime directory); `hv` lists every host's VMs, records migrations, recovers and drains there.
    #[arg(long, global = true, value_name = "URLS", env = "MOVA_CLUSTER")]
    pub cluster: Option<String>,
    /// The name of this host in the fleet (it names its VMs and controllers there) [default: the system's host name].
    #[arg(long, global = true, value_name = "NAME", env = "MOVA_HOST_NAME")]
    pub host_name: Option<String>,
}

impl FleetArgs {
    /// The name this host goes by in the fleet.
    pub fn host_name(&self) -> String {
        self.host_name.clone().unwrap_or_else(vm_cluster::registration::system_host_name)
    }
}

impl ControlArgs {
    /// The host options for `program` (path and hex hash); reads the token file.
    pub fn options(&self, program: String, program_hash: String) -> Result<Options, String> {
        let token = match &self.token_file {
            Some(path) => Some(read_token_file(path)?),
            None => self.token.clone(),
        };
        let io_timeout = Duration::from_secs(self.control_timeout);
        let tls = self.tls.as_deref().map(vm_host::tls::Tls::load).transpose()?;
        Ok(Options {
            listen: self.listen,
            token,
            tls: tls.clone(),
            insecure: self.insecure,
            wait: self.wait,
            program,
            program_hash,
            limits: Limits {
                io_timeout,
                stop_timeout: io_timeout,
                idle_timeout: io_timeout * 6,
                lease_timeout: Duration::from_secs(self.lease_timeout),
                ..Limits::default()
            },
            handle_signals: true,
            fleet: match &self.fleet.cluster {
                Some(urls) => {
                    let ttl = Duration::from_secs(self.cluster_lease);
                    let policy = vm_host::tls::Policy { tls: tls.clone(), insecure: self.insecure };
                    let registrar = vm_cluster::Registrar::new(urls, policy, self.fleet.host_name(), ttl)
                        .map_err(|e| e.to_string())?;
                    Some(std::sync::Arc::new(registrar))
                }
                None => None,
            },
        })
    }
}

/// Reads a token from FILE's first line, refusing a file others may read.
pub fn read_token_file(path: &std::path::Path) -> Result<String, String> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the token file {name}: {e}"))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "the token file {name} is readable by others (mode {:04o}); chmod 600 it",
            meta.permissions().mode() & 0o7777
        ));
    }
    let bytes = crate::read_at_most(path, 4096, "a token file").map_err(|e| format!("the token file: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("the token file {name} is not UTF-8 text"))?;
    Ok(text.lines().next().unwrap_or("").trim_end().to_string())
}
