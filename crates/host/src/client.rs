//! The client side of the control protocol: connecting to a VM (checking it
//! is the VM asked for), taking and presenting leases, moving states.

use crate::protocol::{
    parse_reply, read_line, read_payload, write_message, Command, ProtocolError, Response, Status, CLIENT_MAX_PAYLOAD,
    PROTOCOL_VERSION,
};
use crate::registry::{self, leases, RegistryError};
use std::io::{BufReader, Write};
use std::time::Duration;

/// Why an `hv` operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HvError {
    /// A PID with no registered, live VM.
    #[error("no VM with PID {0} (hv ps lists them)")]
    NoSuchPid(u32),
    /// A target that is neither a PID nor HOST:PORT.
    #[error("`{0}` is neither a PID nor HOST:PORT")]
    BadTarget(String),
    /// An empty token.
    #[error("the token is empty: give a non-empty token, or none")]
    EmptyToken,
    /// The runtime directory cannot be trusted or read.
    #[error("{0}")]
    Registry(#[from] RegistryError),
    /// Could not connect.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// Writing a state where it was to go failed.
    #[error("cannot write the state: {0}")]
    Output(std::io::Error),
    /// The ledger that records migrations (a fleet's etcd) failed or refused; why.
    #[error("{0}")]
    Ledger(String),
    /// The exchange failed or the VM refused.
    #[error("{target}: {source}")]
    Protocol {
        /// Which VM.
        target: String,
        /// What happened.
        source: ProtocolError,
    },
}

impl HvError {
    /// True if the VM answered, rather than the connection failing.
    pub(crate) fn is_answer(&self) -> bool {
        matches!(self, HvError::Protocol { source, .. } if source.is_answer())
    }
}

/// The VM `target` refused, saying `why`.
pub(crate) fn refused(target: &str, why: impl Into<String>) -> HvError {
    HvError::Protocol { target: target.to_string(), source: ProtocolError::Refused(why.into()) }
}

/// Resolves a VM name — a local PID or `HOST:PORT` — to a control address,
/// with the registry entry when named by PID.
pub fn resolve(target: &str) -> Result<(String, Option<registry::Entry>), HvError> {
    if let Ok(pid) = target.parse::<u32>() {
        let entry = registry::find(pid)?.ok_or(HvError::NoSuchPid(pid))?;
        return Ok((entry.endpoint.clone(), Some(entry)));
    }
    match target.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok((target.to_string(), None)),
        _ => Err(HvError::BadTarget(target.to_string())),
    }
}

/// How long a client waits for a reply, unless told otherwise.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to one VM's control port.
pub struct Client {
    name: String,
    /// The control address it was reached at.
    pub(crate) endpoint: String,
    /// The connection (in clear, or under TLS off this host): read through
    /// the buffer, written through `get_mut`.
    reader: BufReader<Box<dyn crate::tls::Duplex>>,
    /// The VM's status when connected: its instance names its leases.
    pub(crate) status: Status,
    /// Told how a state transfer goes, if set.
    progress: Option<Progress>,
}

/// Told of a state transfer's progress: `save` or `restore`, the bytes
/// done, the bytes in all (first with 0 done, last with all of them).
pub type Progress = std::sync::Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// The piece a transfer reports progress by.
const PROGRESS_CHUNK: usize = 1 << 20;

impl Client {
    /// Connects to the VM named `target`, authenticating with `token` if
    /// given, and checks it: a VM named by PID must report the PID and
    /// instance its registry entry has, and every VM must speak this protocol.
    pub fn connect(target: &str, token: Option<&str>) -> Result<Client, HvError> {
        Client::connect_within(target, token, Duration::from_secs(5), REPLY_TIMEOUT)
    }

    /// [`connect`](Self::connect) with a connect timeout and a reply timeout.
    pub fn connect_within(
        target: &str,
        token: Option<&str>,
        connect_timeout: Duration,
        reply_timeout: Duration,
    ) -> Result<Client, HvError> {
        if token == Some("") {
            return Err(HvError::EmptyToken);
        }
        let (addr, entry) = resolve(target)?;
        let conn = crate::tls::connect(&addr, connect_timeout, reply_timeout).map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => refused(target, e.to_string()),
            _ => HvError::Connect { addr: addr.clone(), source: e },
        })?;
        let mut client = Client {
            name: target.to_string(),
            endpoint: addr.clone(),
            reader: BufReader::new(conn),
            status: Status::default(),
            progress: None,
        };
        if let Some(token) = token {
            client.call(&Command::Auth(token.to_string()))?;
        }
        let said = client.call(&Command::Status)?;
        client.status = Status::parse(&said).map_err(|e| client.fail(e))?;
        if client.status.protocol != PROTOCOL_VERSION {
            let theirs = client.status.protocol;
            return Err(refused(
                target,
                format!("speaks control protocol {theirs}; this hv speaks {PROTOCOL_VERSION}"),
            ));
        }
        if let Some(entry) = entry {
            if client.status.pid != entry.pid || client.status.instance != entry.instance {
                return Err(refused(
                    target,
                    format!(
                        "the VM at {addr} is not the one registered (it is pid {} instance {}, the entry says \
                         pid {} instance {}); refusing to control it",
                        client.status.pid, client.status.instance, entry.pid, entry.instance
                    ),
                ));
            }
        }
        Ok(client)
    }

    /// The VM's status as of connecting.
    pub fn status(&self) -> &Status {
        &self.status
    }

    fn fail(&self, source: ProtocolError) -> HvError {
        HvError::Protocol { target: self.name.clone(), source }
    }

    /// Sends `command` and reads the reply: the text after `OK `, or the
    /// VM's refusal as an error.
    pub fn call(&mut self, command: &Command) -> Result<String, HvError> {
        self.exchange(&command.to_string(), None)
    }

    /// Sends `command` and reads the reply, typed; the VM's refusal is an error.
    pub fn request(&mut self, command: &Command) -> Result<Response, HvError> {
        let line = self.send(&command.to_string(), None)?;
        match Response::parse(command, &line).map_err(|e| self.fail(e))? {
            Response::Refused(why) => Err(self.fail(ProtocolError::Refused(why))),
            response => Ok(response),
        }
    }

    /// Sends a request line (and a payload) and reads the reply.
    fn exchange(&mut self, line: &str, payload: Option<&[u8]>) -> Result<String, HvError> {
        let reply = self.send(line, payload)?;
        parse_reply(&reply).map(str::to_string).map_err(|e| self.fail(e))
    }

    /// Sends a request line (and a payload); the reply line as it came.
    fn send(&mut self, line: &str, payload: Option<&[u8]>) -> Result<String, HvError> {
        write_message(self.reader.get_mut(), line, payload).map_err(|e| self.fail(e.into()))?;
        read_line(&mut self.reader).map_err(|e| self.fail(e))
    }

    /// A fresh status line.
    pub fn fresh_status(&mut self) -> Result<Status, HvError> {
        let said = self.call(&Command::Status)?;
        Status::parse(&said).map_err(|e| self.fail(e))
    }

    /// How long to wait for a reply from now on (`None`: as long as it takes).
    pub(crate) fn set_reply_timeout(&mut self, timeout: Option<Duration>) {
        let _ = self.reader.get_ref().tcp().set_read_timeout(timeout);
    }

    /// The lease this user's `hv` keeps for this VM in the runtime directory, if any.
    pub fn kept_lease(&self) -> Option<String> {
        leases::load(&self.status.instance)
    }

    /// Keeps `lease` for this VM in the runtime directory, for the next `hv` command.
    pub fn keep_lease(&self, lease: &str) -> Result<(), HvError> {
        Ok(leases::store(&self.status.instance, lease)?)
    }

    /// Forgets the lease kept for this VM (after `resume`, `kill`, `release`).
    pub fn forget_lease(&self) {
        leases::forget(&self.status.instance);
    }

    /// Sends `interrupt` or `claim` (which takes the lease to present, if
    /// any); (lease, reply without it).
    fn take(
        &mut self,
        command: fn(Option<String>) -> Command,
        lease: Option<&str>,
    ) -> Result<(String, String), HvError> {
        let response = self.request(&command(lease.map(str::to_string)))?;
        match &response {
            Response::Granted { lease, .. } => Ok((lease.clone(), response.shown())),
            other => Err(self.fail(ProtocolError::Unexpected(other.to_string()))),
        }
    }

    /// Stops the VM (if running) and takes its lease — or renews `lease` if
    /// it is the VM's; (lease, the rest of the reply, e.g. `interrupted ip=3 top=17`).
    pub fn interrupt(&mut self, lease: Option<&str>) -> Result<(String, String), HvError> {
        self.take(Command::Interrupt, lease)
    }

    /// Takes the lease of a stopped VM (or renews `lease`); refused on a running VM.
    /// The rest of the reply starts with the mode: `waiting` or `interrupted`.
    pub fn claim(&mut self, lease: Option<&str>) -> Result<(String, String), HvError> {
        self.take(Command::Claim, lease)
    }

    /// Reports the progress of later `save`s and `restore`s to `progress`.
    pub fn set_progress(&mut self, progress: Option<Progress>) {
        self.progress = progress;
    }

    /// `save`: the state bytes.
    pub fn save(&mut self, lease: &str) -> Result<Vec<u8>, HvError> {
        let len = self.begin_save(lease)?;
        let mut state = Vec::new();
        self.read_state_into(len, &mut state)?;
        Ok(state)
    }

    /// Sends `save`: the length of the state that follows, for
    /// [`read_state_into`](Self::read_state_into) to read.
    pub fn begin_save(&mut self, lease: &str) -> Result<usize, HvError> {
        match self.request(&Command::Save(lease.to_string()))? {
            Response::Saved(len) if len <= CLIENT_MAX_PAYLOAD => Ok(len),
            Response::Saved(len) => {
                Err(self.fail(ProtocolError::BadLength { text: len.to_string(), max: CLIENT_MAX_PAYLOAD }))
            }
            other => Err(self.fail(ProtocolError::Unexpected(other.to_string()))),
        }
    }

    /// Copies the `len` state bytes that follow `save`'s reply to `out` a
    /// piece at a time, never holding the whole state (a gigabyte heap makes
    /// a gigabyte state).
    pub fn read_state_into(&mut self, len: usize, out: &mut impl Write) -> Result<(), HvError> {
        let progress = self.progress.clone();
        if let Some(progress) = &progress {
            progress("save", 0, len as u64);
        }
        let mut done = 0;
        while done < len {
            let piece = (len - done).min(PROGRESS_CHUNK);
            let bytes = read_payload(&mut self.reader, piece).map_err(|e| self.fail(e))?;
            out.write_all(&bytes).map_err(HvError::Output)?;
            done += piece;
            if let Some(progress) = &progress {
                progress("save", done as u64, len as u64);
            }
        }
        Ok(())
    }

    /// `Ok` if the VM accepts a state of `len` bytes (its `max-state`).
    pub fn accepts(&self, len: usize) -> Result<(), HvError> {
        match len <= self.status.max_state {
            true => Ok(()),
            false => Err(self.fail(ProtocolError::Refused(format!(
                "the state is {len} bytes, more than this VM accepts (max-state {} bytes); nothing was sent",
                self.status.max_state
            )))),
        }
    }

    /// `restore`: sends a state — refused here, before a byte is sent, if it
    /// is larger than the VM said it accepts (`max-state`).
    pub fn restore(&mut self, lease: &str, state: &[u8]) -> Result<String, HvError> {
        self.accepts(state.len())?;
        let line = Command::Restore(lease.to_string(), state.len()).to_string();
        let Some(progress) = self.progress.clone() else {
            return self.exchange(&line, Some(state));
        };
        let total = state.len() as u64;
        progress("restore", 0, total);
        let sent = write_message(self.reader.get_mut(), &line, None).and_then(|()| {
            for (i, piece) in state.chunks(PROGRESS_CHUNK).enumerate() {
                self.reader.get_mut().write_all(piece)?;
                self.reader.get_mut().flush()?;
                progress("restore", (i * PROGRESS_CHUNK + piece.len()) as u64, total);
            }
            Ok(())
        });
        sent.map_err(|e| self.fail(e.into()))?;
        let reply = read_line(&mut self.reader).map_err(|e| self.fail(e))?;
        parse_reply(&reply).map(str::to_string).map_err(|e| self.fail(e))
    }

    /// `kill`, presenting `lease` if given (needed when the VM is held).
    pub fn kill(&mut self, lease: Option<&str>) -> Result<String, HvError> {
        self.call(&Command::Kill(lease.map(str::to_string)))
    }
}
