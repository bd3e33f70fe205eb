//! The Hypervisor Listener: runs beside a VM in its process and carries out
//! control commands at instruction boundaries.
//!
//! The VM runs on the calling thread; a thread accepts connections and one
//! thread per connection parses commands. Commands that touch the machine
//! are handed to the VM thread, which serves them only while the machine is
//! stopped (interrupted or waiting), so a state is never read or replaced
//! mid-instruction.

use crate::protocol::{parse_length, read_line, read_payload, write_message, ProtocolError};
use crate::registry::{self, Entry};
use crate::{Machine, Stopped};
use std::io::{BufReader, BufWriter};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// The seed's control port.
pub const DEFAULT_PORT: u16 = 34567;

/// How long a command waits for the machine to stop at an instruction boundary.
/// Only an instruction that blocks outside the VM (a write to a full pipe) takes long.
pub const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to bind; `None` means `127.0.0.1:34567`, or an ephemeral port if that is taken.
    pub listen: Option<SocketAddr>,
    /// Required from clients (`auth TOKEN`); mandatory for a non-loopback address.
    pub token: Option<String>,
    /// Start in waiting mode: no state yet, run only after a restore.
    pub wait: bool,
    /// Program path, for the registry and `status`.
    pub program: String,
    /// Program hash (hex), for the registry.
    pub program_hash: String,
}

/// How [`serve`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The program halted or reached its step limit.
    Finished(Stopped),
    /// A `kill` command stopped it.
    Killed,
}

/// What the machine is doing, as `status` and `hv ps` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Executing instructions.
    Running,
    /// Stopped at an instruction boundary, listening.
    Interrupted,
    /// Loaded, waiting for a state (`--wait`).
    Waiting,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Running => "running",
            Mode::Interrupted => "interrupted",
            Mode::Waiting => "waiting",
        }
    }
}

/// A command for the VM thread, with where to send the reply line and payload.
enum Request {
    Interrupt,
    Save,
    Restore(Vec<u8>),
    Resume,
    /// Carries a channel the connection signals once `OK killed` is written,
    /// so the process does not exit before the client has its reply.
    Kill(Receiver<()>),
}

type Reply = (String, Option<Vec<u8>>);

struct Shared {
    mode: Mutex<(Mode, String)>,
    requests: Mutex<Sender<(Request, Sender<Reply>)>>,
    token: Option<String>,
    describe: String,
}

/// Errors before the machine starts: the listener cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A non-loopback address without a token.
    #[error("listening on non-loopback address {0} requires a token (--token or MOVA_TOKEN)")]
    TokenRequired(SocketAddr),
    /// The machine trapped.
    #[error("{0}")]
    Trap(String),
}

fn bind(options: &Options) -> Result<TcpListener, ServeError> {
    match options.listen {
        Some(addr) => {
            if !addr.ip().is_loopback() && options.token.is_none() {
                return Err(ServeError::TokenRequired(addr));
            }
            TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })
        }
        None => {
            let default = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT));
            TcpListener::bind(default).or_else(|_| {
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                let listener = TcpListener::bind(any).map_err(|source| ServeError::Bind { addr: any, source })?;
                if let Ok(addr) = listener.local_addr() {
                    eprintln!("mova: port {DEFAULT_PORT} is taken; control listener on {addr}");
                }
                Ok(listener)
            })
        }
    }
}

/// Runs `machine` under a control listener until it finishes or is killed.
pub fn serve<M: Machine>(machine: &mut M, options: Options) -> Result<Outcome, ServeError> {
    let listener = bind(&options)?;
    let endpoint = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let pid = std::process::id();
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let _registration = registry::register(&Entry {
        pid,
        machine: machine.kind().to_string(),
        program: options.program.clone(),
        program_hash: options.program_hash.clone(),
        endpoint,
        started,
    })
    .map_err(|e| eprintln!("mova: cannot register in {}: {e}", registry::runtime_dir().display()))
    .ok();
    let mut mode = if options.wait { Mode::Waiting } else { Mode::Running };
    let (tx, rx) = mpsc::channel();
    let shared = Arc::new(Shared {
        mode: Mutex::new((mode, machine.position())),
        requests: Mutex::new(tx),
        token: options.token.clone(),
        describe: format!("{} {pid} {}", machine.kind(), options.program),
    });
    let interrupter = machine.interrupter();
    {
        let shared = Arc::clone(&shared);
        let interrupter = Arc::clone(&interrupter);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                let interrupter = Arc::clone(&interrupter);
                std::thread::spawn(move || {
                    let _ = handle_connection(stream, &shared, &*interrupter);
                });
            }
        });
    }
    // `Shared` starts with the initial mode; from here on, each change is published where it happens.
    loop {
        if mode == Mode::Running {
            match machine.run() {
                Ok(Stopped::Interrupted) => {
                    mode = Mode::Interrupted;
                    set_mode(&shared, mode, machine);
                }
                Ok(done) => return Ok(Outcome::Finished(done)),
                Err(trap) => return Err(ServeError::Trap(trap)),
            }
            continue;
        }
        let Some(outcome) = serve_request(&rx, &shared, machine, &mut mode) else { continue };
        return Ok(outcome);
    }
}

fn set_mode<M: Machine>(shared: &Shared, mode: Mode, machine: &M) {
    *shared.mode.lock().unwrap_or_else(PoisonError::into_inner) = (mode, machine.position());
}

/// Serves one request while the machine is stopped; `Some` ends the process.
fn serve_request<M: Machine>(
    rx: &Receiver<(Request, Sender<Reply>)>,
    shared: &Shared,
    machine: &mut M,
    mode: &mut Mode,
) -> Option<Outcome> {
    // The sender lives in `Shared`, held by this thread too, so this only fails if that is gone.
    let (request, reply) = rx.recv().ok()?;
    let answer: Reply = match request {
        Request::Interrupt => (format!("OK {} {}", mode.name(), machine.position()), None),
        Request::Save if *mode == Mode::Waiting => ("ERR waiting: there is no state to save yet".into(), None),
        Request::Save => {
            let state = machine.save();
            (format!("OK {}", state.len()), Some(state))
        }
        Request::Restore(bytes) => match machine.restore(&bytes) {
            Ok(()) => {
                *mode = Mode::Interrupted;
                (format!("OK restored {}", machine.position()), None)
            }
            Err(e) => (format!("ERR {e}"), None),
        },
        Request::Resume if *mode == Mode::Waiting => ("ERR waiting: restore a state first".into(), None),
        Request::Resume => {
            machine.clear_interrupt();
            *mode = Mode::Running;
            ("OK running".into(), None)
        }
        Request::Kill(written) => {
            let _ = reply.send(("OK killed".into(), None));
            let _ = written.recv_timeout(std::time::Duration::from_secs(1));
            return Some(Outcome::Killed);
        }
    };
    // Published before the reply, so a client's next command sees the new mode.
    set_mode(shared, *mode, machine);
    let _ = reply.send(answer);
    None
}

fn handle_connection(
    stream: TcpStream,
    shared: &Shared,
    interrupt: &(dyn Fn() + Send + Sync),
) -> Result<(), ProtocolError> {
    // Replies are single small writes; without this, Nagle can hold one back for a delayed ACK.
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    let mut authenticated = shared.token.is_none();
    let mut killed: Option<Sender<()>> = None;
    loop {
        let line = match read_line(&mut reader) {
            Ok(line) => line,
            Err(ProtocolError::Closed) => return Ok(()),
            Err(e) => {
                write_message(&mut writer, &format!("ERR {e}"), None)?;
                return Err(e);
            }
        };
        let (command, arg) = line.split_once(' ').map_or((line.as_str(), ""), |(c, a)| (c, a.trim()));
        if !authenticated {
            if command == "auth" && Some(arg) == shared.token.as_deref() {
                authenticated = true;
                write_message(&mut writer, "OK authenticated", None)?;
                continue;
            }
            write_message(&mut writer, "ERR unauthorized: send `auth TOKEN` first", None)?;
            return Ok(());
        }
        let (mode, position) = shared.mode.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let request = match command {
            "auth" => {
                write_message(&mut writer, "OK authenticated", None)?;
                continue;
            }
            "status" => {
                write_message(&mut writer, &format!("OK {} {} {position}", mode.name(), shared.describe), None)?;
                continue;
            }
            "interrupt" => {
                interrupt();
                Request::Interrupt
            }
            "kill" => {
                interrupt();
                let (written_tx, written_rx) = mpsc::channel();
                killed = Some(written_tx);
                Request::Kill(written_rx)
            }
            "save" | "restore" | "resume" if mode == Mode::Running => {
                write_message(&mut writer, "ERR running: interrupt it first", None)?;
                continue;
            }
            "save" => Request::Save,
            "resume" => Request::Resume,
            "restore" => {
                let len = match parse_length(arg) {
                    Ok(len) => len,
                    Err(e) => {
                        // The payload cannot be skipped safely: refuse and close.
                        write_message(&mut writer, &format!("ERR {e}"), None)?;
                        return Err(e);
                    }
                };
                Request::Restore(read_payload(&mut reader, len)?)
            }
            other => {
                let other: String = other.chars().take(40).collect();
                write_message(
                    &mut writer,
                    &format!("ERR unknown command `{other}` (commands: auth, status, interrupt, save, restore, resume, kill)"),
                    None,
                )?;
                continue;
            }
        };
        let (reply_tx, reply_rx) = mpsc::channel();
        let sent = shared.requests.lock().unwrap_or_else(PoisonError::into_inner).send((request, reply_tx));
        let (line, payload) = match sent.map(|()| reply_rx.recv_timeout(STOP_TIMEOUT)) {
            Ok(Ok(reply)) => reply,
            // The interrupt stays pending: the machine stops once the write that holds it returns.
            Ok(Err(RecvTimeoutError::Timeout)) => (
                format!(
                    "ERR the machine did not reach an instruction boundary within {} s \
                     (is it blocked writing its output?)",
                    STOP_TIMEOUT.as_secs()
                ),
                None,
            ),
            _ => ("ERR the machine has stopped".into(), None),
        };
        write_message(&mut writer, &line, payload.as_deref())?;
        if let Some(written) = killed.take() {
            let _ = written.send(());
            return Ok(());
        }
    }
}
