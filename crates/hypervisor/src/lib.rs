//! # The hypervisor
//!
//! The seed's two hypervisor parts, written once for any machine:
//!
//! - the **Hypervisor Listener** ([`listener::serve`]) runs a [`Machine`] in
//!   a VM process beside a TCP control listener (default `127.0.0.1:34567`)
//!   and registers the process in the runtime directory ([`registry`]);
//! - the **IPC component** ([`Client`], [`protocol`]) and the **CLI
//!   executor** (the `hv` binary) interrupt, save, restore, resume, kill and
//!   migrate VMs named by PID or `HOST:PORT`.
//!
//! A machine plugs in by implementing [`Machine`]: stop at an instruction
//! boundary when interrupted, write its state as bytes, and continue from
//! such bytes.

#![warn(missing_docs)]

pub mod listener;
pub mod protocol;
pub mod registry;

use protocol::{parse_length, parse_reply, read_line, read_payload, write_message, ProtocolError};
use std::io::{BufReader, BufWriter};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Why [`Machine::run`] returned without a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The program ended.
    Halted,
    /// A step limit was reached.
    StepLimit,
    /// An interrupt stopped it at an instruction boundary.
    Interrupted,
}

/// A virtual machine the hypervisor can control.
pub trait Machine {
    /// The machine's name in `hv ps`: `mova` or `manda`.
    fn kind(&self) -> &'static str;
    /// A function that, from any thread, makes [`run`](Machine::run) return
    /// `Interrupted` at the next instruction boundary (promptly, even mid-sleep).
    fn interrupter(&self) -> Arc<dyn Fn() + Send + Sync>;
    /// Withdraws a pending interrupt before running again.
    fn clear_interrupt(&mut self);
    /// Runs until the program ends, a step limit, or an interrupt; `Err` is a trap message.
    fn run(&mut self) -> Result<Stopped, String>;
    /// The current state, serialized.
    fn save(&self) -> Vec<u8>;
    /// Replaces the state with `state` (untrusted bytes); unchanged on error.
    fn restore(&mut self, state: &[u8]) -> Result<(), String>;
    /// Where the machine is, for status lines (e.g. `ip=3`).
    fn position(&self) -> String;
}

/// Why an `hv` operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HvError {
    /// A PID with no registered, live VM.
    #[error("no Mova VM with PID {0} (hv ps lists them)")]
    NoSuchPid(u32),
    /// A target that is neither a PID nor HOST:PORT.
    #[error("`{0}` is neither a PID nor HOST:PORT")]
    BadTarget(String),
    /// Could not connect.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The exchange failed or the VM refused.
    #[error("{target}: {source}")]
    Protocol {
        /// Which VM.
        target: String,
        /// What happened.
        source: ProtocolError,
    },
}

/// Resolves a VM name — a local PID or `HOST:PORT` — to a control address.
pub fn resolve(target: &str) -> Result<String, HvError> {
    if let Ok(pid) = target.parse::<u32>() {
        return registry::find(pid).map(|e| e.endpoint).ok_or(HvError::NoSuchPid(pid));
    }
    match target.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(target.to_string()),
        _ => Err(HvError::BadTarget(target.to_string())),
    }
}

/// A connection to one VM's control listener.
pub struct Client {
    name: String,
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

impl Client {
    /// Connects to the VM named `target`, authenticating with `token` if given.
    pub fn connect(target: &str, token: Option<&str>) -> Result<Client, HvError> {
        let addr = resolve(target)?;
        let connect_err = |source| HvError::Connect { addr: addr.clone(), source };
        let sockaddr = addr
            .to_socket_addrs()
            .map_err(connect_err)?
            .next()
            .ok_or_else(|| connect_err(std::io::Error::other("no address")))?;
        let stream = TcpStream::connect_timeout(&sockaddr, Duration::from_secs(5)).map_err(connect_err)?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(connect_err)?;
        stream.set_nodelay(true).map_err(connect_err)?;
        let mut client = Client {
            name: target.to_string(),
            reader: BufReader::new(stream.try_clone().map_err(connect_err)?),
            writer: BufWriter::new(stream),
        };
        if let Some(token) = token {
            client.call(&format!("auth {token}"), None)?;
        }
        Ok(client)
    }

    fn fail(&self, source: ProtocolError) -> HvError {
        HvError::Protocol { target: self.name.clone(), source }
    }

    /// Sends a command (and payload) and returns the text after `OK`.
    pub fn call(&mut self, line: &str, payload: Option<&[u8]>) -> Result<String, HvError> {
        write_message(&mut self.writer, line, payload).map_err(|e| self.fail(e.into()))?;
        let reply = read_line(&mut self.reader).map_err(|e| self.fail(e))?;
        parse_reply(&reply).map(str::to_string).map_err(|e| self.fail(e))
    }

    /// `save`: the state bytes.
    pub fn save(&mut self) -> Result<Vec<u8>, HvError> {
        let len = self.call("save", None)?;
        let len = parse_length(&len).map_err(|e| self.fail(e))?;
        read_payload(&mut self.reader, len).map_err(|e| self.fail(e))
    }

    /// `restore`: sends a state.
    pub fn restore(&mut self, state: &[u8]) -> Result<String, HvError> {
        self.call(&format!("restore {}", state.len()), Some(state))
    }
}

/// Moves a running program from `source` to the waiting VM `target`:
/// interrupt and save the source, restore into the target and resume it,
/// and only then kill the source. If anything fails before the target
/// confirms, the source is resumed and the error returned.
pub fn migrate(source: &str, target: &str, token: Option<&str>) -> Result<String, HvError> {
    let mut src = Client::connect(source, token)?;
    let mut dst = Client::connect(target, token)?;
    let target_status = dst.call("status", None)?;
    if target_status.starts_with("running") {
        return Err(HvError::Protocol {
            target: target.to_string(),
            source: ProtocolError::Refused("the target is running; start it with --wait or interrupt it".into()),
        });
    }
    // A source the user had already interrupted is left interrupted if the migration fails.
    let was_running = src.call("status", None)?.starts_with("running");
    src.call("interrupt", None)?;
    let prepared = src.save().and_then(|state| dst.restore(&state)).and_then(|_| dst.call("resume", None));
    match prepared {
        Ok(_) => {
            // The target runs; the source is stopped at a boundary and stays so even if this kill fails.
            src.call("kill", None)?;
            Ok(format!("migrated {source} -> {target}"))
        }
        Err(e) => {
            let resumed = match was_running {
                true => src.call("resume", None).map(|_| "the source was resumed".to_string()),
                false => Ok("the source stays interrupted, as it was".to_string()),
            };
            let status = resumed.unwrap_or_else(|r| format!("and resuming the source failed too: {r}"));
            Err(HvError::Protocol {
                target: format!("migration failed ({status})"),
                source: ProtocolError::Refused(e.to_string()),
            })
        }
    }
}
