//! The control port: one event-loop thread (mio) that accepts connections,
//! authenticates them, parses requests and payloads, and writes replies.
//!
//! It never blocks and never spawns: a connection costs a socket and a few
//! hundred bytes until it sends a payload, whose memory is committed as the
//! bytes arrive and counted against one budget for the whole VM. Every phase
//! of a connection has a deadline (authenticate, finish a line, finish a
//! payload, read a reply, or stay idle); past the connection limit, and at
//! the file-descriptor limit, clients are refused at once with `ERR busy`,
//! and accept errors pause accepting instead of spinning.
//!
//! Requests that touch the machine go to the VM thread (`host.rs`) with a
//! ticket; if the machine does not stop in time the ticket is withdrawn
//! before the reply says so, so a refused request is never applied later.

use crate::exchange::{Envelope, Reply, Request, Shared, Ticket};
use crate::limits::Limits;
use crate::protocol::{same_secret, Command, Response, MAX_LINE};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
/// Woken by the VM thread when it has a reply, and to stop the loop.
pub(crate) const WAKER: Token = Token(1);
/// How long accepting pauses after an accept error other than the fd limit.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Who may use the port: the token clients must present, and the TLS policy.
pub(crate) struct Access {
    pub(crate) token: Option<String>,
    pub(crate) policy: crate::tls::Policy,
}

/// What a connection is doing.
enum Phase {
    /// Reading a request line; `started` is when its first byte came.
    Line { started: Option<Instant> },
    /// Reading `restore`'s payload.
    Payload { lease: String, len: usize, bytes: Vec<u8>, started: Instant },
    /// Waiting for the VM thread's reply.
    Vm { ticket: Ticket, deadline: Option<Instant> },
}

struct Conn {
    /// The socket, in clear or under TLS (decided by its first byte: `sniff`).
    io: crate::tls::Io,
    /// Its first byte was seen and the connection is in clear or under TLS for good.
    sniffed: bool,
    /// The peer is on this host's loopback: clear text is always fine.
    local: bool,
    phase: Phase,
    /// Received bytes not yet consumed (at most one line and what followed it in the same read).
    input: Vec<u8>,
    output: Vec<u8>,
    /// A reply's payload, written after `output` (the reply's line), part by
    /// part from the machine's own buffers: never copied.
    tail: std::collections::VecDeque<vm_core::StatePart>,
    /// Bytes of the first part of `tail` written so far.
    tail_written: usize,
    written: usize,
    /// Since when the connection has been idle, or writing made progress.
    since: Instant,
    authenticated: bool,
    close_when_flushed: bool,
    /// It sent a `send`: the VM thread is told when it closes (`Request::Hangup`).
    watched: bool,
    /// Told once the output is flushed (or the connection is gone).
    flushed: Option<std::sync::mpsc::SyncSender<()>>,
    /// Payload bytes in `output` (a state being sent), counted in the budget.
    payload_out: usize,
}

impl Conn {
    /// A reply (its line or its payload) is not all out yet.
    fn writing(&self) -> bool {
        self.written < self.output.len() || !self.tail.is_empty()
    }
}

/// The event loop's state.
pub(crate) struct EventLoop {
    poll: Poll,
    listener: TcpListener,
    conns: HashMap<usize, Conn>,
    next_id: usize,
    shared: Arc<Shared>,
    to_vm: Sender<Envelope>,
    replies: Receiver<(usize, Reply)>,
    limits: Limits,
    token: Option<Vec<u8>>,
    /// TLS credentials, and whether clear text from other hosts is allowed.
    policy: crate::tls::Policy,
    /// Payload bytes announced by connections now reading one, and being sent
    /// to connections: both count against one budget.
    payload_in_flight: usize,
    /// A spare descriptor, given up at the fd limit to tell one client `ERR busy`.
    reserve: Option<std::fs::File>,
    accept_paused_until: Option<Instant>,
}

fn open_reserve() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

fn is_fd_limit(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

impl EventLoop {
    pub(crate) fn new(
        poll: Poll,
        mut listener: TcpListener,
        shared: Arc<Shared>,
        to_vm: Sender<Envelope>,
        replies: Receiver<(usize, Reply)>,
        limits: Limits,
        access: Access,
    ) -> io::Result<EventLoop> {
        let Access { token, policy } = access;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(EventLoop {
            poll,
            listener,
            conns: HashMap::new(),
            next_id: 2,
            shared,
            to_vm,
            replies,
            limits,
            token: token.map(String::into_bytes),
            policy,
            payload_in_flight: 0,
            reserve: open_reserve(),
            accept_paused_until: None,
        })
    }

    /// Makes a waker for this loop's poll.
    pub(crate) fn waker(poll: &Poll) -> io::Result<Waker> {
        Waker::new(poll.registry(), WAKER)
    }

    /// Runs until the host sets `shared.stopping` and wakes the loop.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = self.next_deadline().map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    // Nothing sensible is left to do on this thread; the VM runs on without control.
                    eprintln!("{}: control listener stopped: {e}", self.shared.kind);
                    return;
                }
            }
            if self.shared.stopping.load(Ordering::Acquire) {
                return;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    Token(id) => self.drive(id),
                }
            }
            self.deliver_replies();
            self.expire(Instant::now());
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.values().filter_map(|c| self.deadline(c));
        conns.chain(self.accept_paused_until).min()
    }

    /// When the connection's current phase runs out of time.
    fn deadline(&self, conn: &Conn) -> Option<Instant> {
        let limits = &self.limits;
        if conn.writing() {
            return Some(conn.since + limits.io_timeout);
        }
        match &conn.phase {
            Phase::Vm { deadline, .. } => *deadline,
            Phase::Payload { started, .. } => Some(*started + limits.io_timeout),
            Phase::Line { started: Some(started) } => Some(*started + limits.io_timeout),
            Phase::Line { started: None } if !conn.authenticated => Some(conn.since + limits.io_timeout),
            Phase::Line { started: None } => Some(conn.since + limits.idle_timeout),
        }
    }

    fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) if is_fd_limit(&e) && self.reserve.is_some() => {
                    // Free the spare descriptor to take the client and tell it why, rather than
                    // leave it to time out; then take the spare back. (Linux reports EMFILE
                    // before it looks at the queue, so the queue may well be empty.)
                    self.reserve = None;
                    let taken = self.listener.accept().map(|(mut stream, _)| {
                        let _ = stream.write(b"ERR busy: the VM has run out of file descriptors\n");
                    });
                    self.reserve = open_reserve();
                    match taken {
                        Ok(_) if self.reserve.is_some() => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        _ => {
                            self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                            return;
                        }
                    }
                }
                Err(_) => {
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: TcpStream) {
        if self.conns.len() >= self.limits.max_connections {
            let refusal = format!("ERR busy: too many control connections (at most {})\n", self.limits.max_connections);
            let _ = stream.write(refusal.as_bytes());
            return;
        }
        // Replies are single small writes; without this, Nagle can hold one back for a delayed ACK.
        let _ = stream.set_nodelay(true);
        let id = self.next_id;
        self.next_id += 1;
        if self.poll.registry().register(&mut stream, Token(id), Interest::READABLE | Interest::WRITABLE).is_err() {
            return;
        }
        let local = stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
        let conn = Conn {
            io: crate::tls::Io { sock: stream, tls: None },
            sniffed: false,
            local,
            phase: Phase::Line { started: None },
            input: Vec::new(),
            output: Vec::new(),
            tail: Default::default(),
            tail_written: 0,
            written: 0,
            since: Instant::now(),
            authenticated: self.token.is_none(),
            close_when_flushed: false,
            watched: false,
            flushed: None,
            payload_out: 0,
        };
        self.conns.insert(id, conn);
        self.drive(id);
    }

    fn close(&mut self, id: usize) {
        let Some(mut conn) = self.conns.remove(&id) else { return };
        let _ = self.poll.registry().deregister(&mut conn.io.sock);
        self.payload_in_flight -= conn.payload_out;
        match conn.phase {
            Phase::Payload { len, .. } => self.payload_in_flight -= len,
            // A request whose client is gone is withdrawn if the VM has not taken it yet.
            Phase::Vm { ticket, .. } => {
                ticket.withdraw();
            }
            Phase::Line { .. } => {}
        }
        if conn.watched {
            let hangup = Envelope { conn: id, request: Request::Hangup, payload: None, ticket: Ticket::default() };
            let _ = self.to_vm.send(hangup);
        }
    }

    /// Hands a `stream TICKET` connection to the VM thread, which gives it
    /// to a receiving thread of its own: a state's frames are not the
    /// control port's to read.
    fn hand_over(&mut self, id: usize, ticket: String, program: String) {
        let Some(mut conn) = self.conns.remove(&id) else { return };
        let _ = self.poll.registry().deregister(&mut conn.io.sock);
        let Ok(mut socket) = conn.io.into_blocking() else { return };
        if self.shared.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner).running {
            // Only a waiting VM accepts a stream; a running one would not read it until it stops.
            let _ = socket.write_all(b"ERR running: a running VM accepts no stream\n");
            return;
        }
        let request = Request::Stream { socket, ticket, program, buffered: std::mem::take(&mut conn.input) };
        let _ = self.to_vm.send(Envelope { conn: id, request, payload: None, ticket: Ticket::default() });
    }

    fn deliver_replies(&mut self) {
        while let Ok((id, reply)) = self.replies.try_recv() {
            let Some(conn) = self.conns.get_mut(&id) else { continue };
            if !matches!(conn.phase, Phase::Vm { .. }) {
                continue;
            }
            conn.phase = Phase::Line { started: None };
            queue(conn, &reply.line, None);
            conn.payload_out = reply.payload.as_ref().map_or(0, vm_core::StateBytes::len);
            conn.tail = reply.payload.map(vm_core::StateBytes::into_parts).unwrap_or_default();
            conn.tail_written = 0;
            self.payload_in_flight += conn.payload_out;
            conn.close_when_flushed |= reply.close;
            conn.flushed = reply.flushed;
            self.drive(id);
        }
    }

    fn expire(&mut self, now: Instant) {
        let expired: Vec<usize> =
            self.conns.iter().filter(|(_, c)| self.deadline(c).is_some_and(|d| d <= now)).map(|(id, _)| *id).collect();
        for id in expired {
            let Some(conn) = self.conns.get_mut(&id) else { continue };
            let writing = conn.writing();
            let why = match &conn.phase {
                _ if writing => None, // A client that does not read its reply is not told anything more.
                Phase::Vm { ticket, .. } => {
                    if ticket.withdraw() {
                        let line = format!(
                            "ERR the machine did not reach an instruction boundary within {} s \
                             (is it blocked writing its output?); the request was withdrawn",
                            self.limits.stop_timeout.as_secs()
                        );
                        conn.phase = Phase::Line { started: None };
                        queue(conn, &line, None);
                    } else {
                        // The VM took it after all: its reply is coming.
                        conn.phase = Phase::Vm { ticket: ticket.clone(), deadline: None };
                    }
                    self.drive(id);
                    continue;
                }
                Phase::Payload { .. } => Some("the payload did not arrive"),
                Phase::Line { started: Some(_) } => Some("the request line did not end"),
                Phase::Line { started: None } if !conn.authenticated => Some("no `auth TOKEN`"),
                Phase::Line { started: None } => Some("idle"),
            };
            if let Some(why) = why {
                let line = match why {
                    "idle" => format!("ERR timeout: idle for {} s; closing\n", self.limits.idle_timeout.as_secs()),
                    _ => format!("ERR timeout: {why} within {} s; closing\n", self.limits.io_timeout.as_secs()),
                };
                let _ = conn.io.write(line.as_bytes());
            }
            self.close(id);
        }
        if self.accept_paused_until.is_some_and(|t| t <= now) {
            self.accept_paused_until = None;
            self.accept_all();
        }
    }

    /// Makes all the progress the connection allows without blocking.
    fn drive(&mut self, id: usize) {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else { return };
            // 1. Output first: a connection reads its next request only once its reply is out:
            //    the line, then the payload's parts.
            let pending = match conn.tail.front() {
                _ if conn.written < conn.output.len() => Some(&conn.output[conn.written..]),
                Some(part) => match (**part).as_ref().get(conn.tail_written..) {
                    Some(rest) if !rest.is_empty() => Some(rest),
                    _ => {
                        conn.tail.pop_front();
                        conn.tail_written = 0;
                        continue;
                    }
                },
                None => None,
            };
            if let Some(pending) = pending {
                match conn.io.write(pending) {
                    Ok(0) => return self.close(id),
                    Ok(n) => {
                        match conn.written < conn.output.len() {
                            true => conn.written += n,
                            false => conn.tail_written += n,
                        }
                        conn.since = Instant::now();
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return self.close(id),
                }
            }
            if !conn.output.is_empty() {
                conn.output = Vec::new();
                conn.written = 0;
                self.payload_in_flight -= std::mem::take(&mut conn.payload_out);
                conn.since = Instant::now();
                if let Some(flushed) = conn.flushed.take() {
                    let _ = flushed.try_send(());
                }
                if conn.close_when_flushed {
                    return self.close(id);
                }
            }
            match self.step(id) {
                Progress::Again => continue,
                Progress::Blocked => return,
                Progress::Close => return self.close(id),
            }
        }
    }

    /// Decides by its first byte whether a connection is under TLS (a
    /// handshake record) or in clear, and whether that is allowed.
    fn sniff(&mut self, id: usize) -> Progress {
        let Some(conn) = self.conns.get_mut(&id) else { return Progress::Blocked };
        let mut first = [0u8; 1];
        match conn.io.sock.peek(&mut first) {
            Ok(0) => return Progress::Close,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Progress::Again,
            Err(_) => return Progress::Close,
        }
        conn.sniffed = true;
        match (first[0] == crate::tls::HANDSHAKE, &self.policy.tls) {
            (true, Some(tls)) => match tls.accept() {
                Ok(session) => conn.io.tls = Some(Box::new(session)),
                Err(_) => return Progress::Close,
            },
            // TLS, asked of a VM without credentials: nothing can be said that it would read.
            (true, None) => return Progress::Close,
            (false, Some(_)) if !conn.local && !self.policy.insecure => {
                refuse_and_close(
                    conn,
                    "ERR this VM takes connections from other hosts under TLS only (hv --tls DIR; docs/hypervisor.md)",
                );
            }
            (false, _) => {}
        }
        Progress::Again
    }

    /// One step of reading or parsing.
    fn step(&mut self, id: usize) -> Progress {
        let Some(conn) = self.conns.get_mut(&id) else { return Progress::Blocked };
        if !conn.sniffed {
            return self.sniff(id);
        }
        match &mut conn.phase {
            // Waiting for the VM: read on only to notice the client going away (a `send` is
            // abandoned then); a pipelined request waits in `input`.
            Phase::Vm { .. } if conn.input.len() < MAX_LINE => read_input(&mut conn.io, &mut conn.input),
            Phase::Vm { .. } => Progress::Blocked,
            Phase::Payload { len, bytes, .. } => {
                let want = *len - bytes.len();
                if want > 0 {
                    let from_input = want.min(conn.input.len());
                    bytes.extend(conn.input.drain(..from_input));
                    if from_input < want {
                        // Memory grows with what arrives, a chunk at a time,
                        // read straight into the payload.
                        let room = (want - from_input).min(256 * 1024);
                        let start = bytes.len();
                        bytes.resize(start + room, 0);
                        let read = conn.io.read(&mut bytes[start..]);
                        bytes.truncate(start + *read.as_ref().unwrap_or(&0));
                        return match read {
                            Ok(0) => Progress::Close,
                            Ok(_) => Progress::Again,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Progress::Blocked,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => Progress::Again,
                            Err(_) => Progress::Close,
                        };
                    }
                }
                let Phase::Payload { lease, len, bytes, .. } =
                    std::mem::replace(&mut conn.phase, Phase::Line { started: None })
                else {
                    unreachable!("matched above")
                };
                self.payload_in_flight -= len;
                self.forward(id, Command::Restore(lease, len), Some(bytes));
                Progress::Again
            }
            Phase::Line { started } => {
                if let Some(end) = conn.input.iter().position(|&b| b == b'\n') {
                    let mut line: Vec<u8> = conn.input.drain(..=end).collect();
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    conn.phase = Phase::Line { started: (!conn.input.is_empty()).then(Instant::now) };
                    conn.since = Instant::now();
                    return self.request(id, line);
                }
                if conn.input.len() >= MAX_LINE {
                    refuse_and_close(conn, &format!("ERR line longer than {MAX_LINE} bytes"));
                    return Progress::Again;
                }
                let had = conn.input.len();
                let progress = read_input(&mut conn.io, &mut conn.input);
                if conn.input.len() > had {
                    started.get_or_insert_with(Instant::now);
                }
                progress
            }
        }
    }

    /// Handles one request line.
    fn request(&mut self, id: usize, line: Vec<u8>) -> Progress {
        let max_payload = self.shared.max_state;
        let Some(conn) = self.conns.get_mut(&id) else { return Progress::Blocked };
        let Ok(line) = String::from_utf8(line) else {
            refuse_and_close(conn, "ERR line is not UTF-8 text");
            return Progress::Again;
        };
        let command = Command::parse(&line, max_payload);
        if let Ok(Command::Stream { ticket, program }) = command {
            // The ticket is the credential: `accept`'s holder gave it to the source.
            self.hand_over(id, ticket, program);
            return Progress::Blocked;
        }
        if !conn.authenticated {
            match (&command, &self.token) {
                (Ok(Command::Auth(given)), Some(token)) if same_secret(given.as_bytes(), token) => {
                    conn.authenticated = true;
                    queue(conn, &Response::Authenticated.to_string(), None);
                }
                _ => refuse_and_close(conn, "ERR unauthorized: send `auth TOKEN` first"),
            }
            return Progress::Again;
        }
        match command {
            Ok(Command::Auth(_)) => queue(conn, &Response::Authenticated.to_string(), None),
            Ok(Command::Status) => {
                let status = self.shared.status(self.limits.lease_timeout);
                queue(conn, &Response::Status(status).to_string(), None);
            }
            Ok(Command::Restore(lease, len)) => {
                let budget = self.limits.payload_budget.max(max_payload);
                if self.payload_in_flight + len > budget {
                    // The payload that follows cannot be skipped safely: refuse and close.
                    refuse_and_close(conn, &budget_busy(self.payload_in_flight, budget));
                    return Progress::Again;
                }
                self.payload_in_flight += len;
                let bytes = Vec::with_capacity(len.min(64 * 1024));
                conn.phase = Phase::Payload { lease, len, bytes, started: Instant::now() };
            }
            Ok(command) => self.forward(id, command, None),
            Err(why) if line.starts_with("restore") => {
                // A bad length: the payload that follows cannot be skipped safely.
                refuse_and_close(conn, &Response::Refused(why).to_string());
            }
            Err(why) => queue(conn, &Response::Refused(why).to_string(), None),
        }
        Progress::Again
    }

    /// Hands a command to the VM thread, or answers it here when the VM is
    /// running and the command needs a stopped VM.
    fn forward(&mut self, id: usize, command: Command, payload: Option<Vec<u8>>) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        let budget = self.limits.payload_budget.max(self.shared.max_state);
        if matches!(command, Command::Save(_)) && self.payload_in_flight + self.shared.max_state > budget {
            // A state may be as large as the machine's largest: make sure it fits before asking for it.
            queue(conn, &budget_busy(self.payload_in_flight, budget), None);
            return;
        }
        let stops_it = matches!(command, Command::Interrupt(_) | Command::Kill(_) | Command::Send(_));
        conn.watched |= matches!(command, Command::Send(_));
        // Decided and sent under the lock the VM thread publishes its mode under, so a command
        // is either refused as `running` or is in the queue before the VM starts running (the
        // VM drains the queue right after it publishes `running`).
        let published = self.shared.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if published.mode == crate::host::MOVED {
            drop(published);
            let why =
                "ERR moved: the program runs on another VM now; this one sends it the pages it still lacks, then exits";
            queue(conn, why, None);
            return;
        }
        if published.running && !stops_it {
            let line = match &command {
                // Running means every `resume` that was taken has settled its fate.
                Command::Outcome(lease) => self.shared.outcome(lease),
                _ => "ERR running: interrupt it first".into(),
            };
            drop(published);
            queue(conn, &line, None);
            return;
        }
        let ticket = Ticket::default();
        let envelope = Envelope { conn: id, request: Request::Command(command), payload, ticket: ticket.clone() };
        if self.to_vm.send(envelope).is_err() {
            drop(published);
            refuse_and_close(conn, "ERR the machine has stopped");
            return;
        }
        if stops_it && published.running {
            self.shared.line.raise();
        }
        drop(published);
        conn.phase = Phase::Vm { ticket, deadline: Some(Instant::now() + self.limits.stop_timeout) };
    }
}

/// Reads what has arrived onto `input`: `Again` if bytes came (or the read
/// was interrupted), `Blocked` if none are there yet, `Close` at the end or an error.
fn read_input(io: &mut crate::tls::Io, input: &mut Vec<u8>) -> Progress {
    let mut chunk = [0u8; 4096];
    match io.read(&mut chunk) {
        Ok(0) => Progress::Close,
        Ok(n) => {
            input.extend_from_slice(&chunk[..n]);
            Progress::Again
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Progress::Blocked,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Progress::Again,
        Err(_) => Progress::Close,
    }
}

enum Progress {
    Again,
    Blocked,
    Close,
}

/// The refusal when `in_flight` state bytes leave no room in `budget`.
fn budget_busy(in_flight: usize, budget: usize) -> String {
    format!("ERR busy: {in_flight} bytes of state are already on their way on other connections (at most {budget} at once); try again")
}

fn queue(conn: &mut Conn, line: &str, payload: Option<&[u8]>) {
    conn.output.extend_from_slice(line.as_bytes());
    conn.output.push(b'\n');
    if let Some(payload) = payload {
        conn.output.extend_from_slice(payload);
    }
}

fn refuse_and_close(conn: &mut Conn, line: &str) {
    queue(conn, line, None);
    conn.close_when_flushed = true;
    conn.phase = Phase::Line { started: None };
    conn.input.clear();
}
