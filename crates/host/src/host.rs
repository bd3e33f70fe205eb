//! The host every machine runs under: the VM thread that runs the machine
//! and owns its lease, the control port beside it (`listener.rs`), the
//! registry entry, signals, and the exit status — written once, used by
//! `mova run`, `manda run` and `hv-counter`.
//!
//! ## Who may do what (the lease state machine; docs/protocol.md draws it)
//!
//! The VM thread is the only owner of the machine, its mode and its lease,
//! and handles one request at a time, so no two clients' commands interleave.
//! A client that stops the VM (`interrupt`) or takes a stopped one (`claim`)
//! gets a random lease; `save`, `restore`, `resume`, `release`, `handoff`
//! and `commit` must present it; other clients are refused at once with
//! `ERR busy`. A lease left idle past the lease timeout may be taken over
//! by another `interrupt`/`claim`, except while `moving`: then the state
//! has been handed to a target, and only the holder may decide (commit or
//! abort), so the program can never run in both places.
//!
//! A restored state is **provisional** until its holder resumes it: it may
//! be a copy of a program that still lives in its source, so it never runs
//! by a takeover. When its lease lapses it is dropped (the VM waits again),
//! and `outcome LEASE` tells a controller that lost track what became of it
//! (`held`, `ran`, `dropped`): the answer `hv recover` settles a crashed
//! migration by.

use crate::exchange::{Envelope, Fates, Published, Reply, Request, Shared, Ticket};
use crate::lease::{Leases, Mode, Step};
pub use crate::limits::Limits;
use crate::listener::EventLoop;
use crate::protocol::{same_secret, SendOrder};
use crate::protocol::{Command, Fate, Response};
use crate::registry::{self, Entry};
use crate::transfer::{Decision, Incoming, NotQueued, Outgoing, Precopy};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use vm_core::{Interrupt, Machine, Stopped};

/// The seed's control port.
pub const DEFAULT_PORT: u16 = 34567;

/// Exit status when the VM cannot start: a bad option, file or state, or no control port.
pub const EXIT_CANNOT_START: u8 = 1;
/// Exit status of a program stopped by a trap.
pub const EXIT_TRAP: u8 = 3;
/// Exit status of a VM whose program was lost in a post-copy migration:
/// pages it needed stopped coming after it ran on the target.
pub const EXIT_LOST: u8 = 4;

/// How a VM is controlled.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Address to bind; `None` means `127.0.0.1:34567`, or an ephemeral port if that is taken.
    pub listen: Option<SocketAddr>,
    /// Required from clients (`auth TOKEN`); mandatory for a non-loopback address in clear; never empty.
    pub token: Option<String>,
    /// TLS credentials: connections from other hosts (and this VM's own state
    /// stream to another host) are made under TLS with them.
    pub tls: Option<crate::tls::Tls>,
    /// Clear text to and from other hosts is allowed (with a token).
    pub insecure: bool,
    /// Start in waiting mode: no state yet, run only after a restore.
    pub wait: bool,
    /// Program path, for the registry and `status`.
    pub program: String,
    /// Program hash (hex), for the registry.
    pub program_hash: String,
    /// Time limits and sizes.
    pub limits: Limits,
    /// End gracefully on SIGTERM, SIGINT and SIGHUP (removing the registry entry).
    pub handle_signals: bool,
    /// A fleet's registry (etcd, in the `vm-cluster` crate) this VM keeps an
    /// entry in while it runs, beside the runtime directory's.
    pub fleet: Option<Arc<dyn Fleet>>,
}

/// A registry beyond this host's runtime directory — a fleet's, kept in
/// etcd by the `vm-cluster` crate — in which a VM keeps its entry while it
/// runs. The host knows nothing of how; it only shows the VM ([`Presence`]).
pub trait Fleet: Send + Sync + std::fmt::Debug {
    /// Keeps `vm`'s entry up to date until [`Presence::ended`], then takes it
    /// out. Called on a thread of its own once the control port is up; the
    /// host waits for it at most [`FLEET_GRACE`] when the VM ends. It must
    /// never stop the program: a registry that cannot be reached is retried.
    fn keep(&self, vm: Presence);
}

/// How long a VM that ends waits for its [`Fleet`] to take its entry out.
pub const FLEET_GRACE: Duration = Duration::from_secs(2);

/// What a VM shows of itself to a [`Fleet`]: who it is and what it does now.
#[derive(Clone)]
pub struct Presence {
    shared: Arc<Shared>,
    entry: Entry,
    lease_timeout: Duration,
}

impl Presence {
    /// Who the VM is: its process, instance, machine, program and endpoint.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// Its status, as `status` answers it now.
    pub fn status(&self) -> crate::protocol::Status {
        self.shared.status(self.lease_timeout)
    }

    /// Whether the VM has ended (its entry goes now).
    pub fn ended(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire)
    }
}

/// How [`serve`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The program ended with this status.
    Exited(u8),
    /// A `kill` command ended it.
    Killed,
    /// Its state was handed to another VM, which confirmed; it must not run here again.
    Moved,
    /// A signal ended it.
    Signalled(i32),
    /// The machine trapped; the machine's message.
    Trapped(String),
    /// A post-copy's pages stopped coming after the program ran on the
    /// target: it is lost, here (the target) and there (the source). Why.
    Lost(String),
}

impl Ended {
    /// The process exit status: the program's own, 0 when killed or moved,
    /// [`EXIT_TRAP`] on a trap, 128 + the signal number on a signal.
    pub fn exit_status(&self) -> u8 {
        match self {
            Ended::Exited(status) => *status,
            Ended::Killed | Ended::Moved => 0,
            Ended::Signalled(signal) => 128u8.wrapping_add(*signal as u8),
            Ended::Trapped(_) => EXIT_TRAP,
            Ended::Lost(_) => EXIT_LOST,
        }
    }
}

/// Why the control port could not be set up; nothing has run.
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
    /// A non-loopback address without TLS credentials, or in clear without a token.
    #[error(
        "listening on non-loopback address {0} requires TLS credentials (--tls DIR; `hv tls-init` makes them), or \
         --insecure and a token (--token, --token-file or MOVA_TOKEN)"
    )]
    TokenRequired(SocketAddr),
    /// An empty token would let a bare `auth` line in.
    #[error("the token is empty: give a non-empty token, or none")]
    EmptyToken,
    /// A thread or the event loop could not be started.
    #[error("cannot start the control listener: {0}")]
    Setup(std::io::Error),
}

/// The reply to one request, sent once the VM thread has published its new mode.
struct Answer {
    line: String,
    payload: Option<vm_core::StateBytes>,
    close: bool,
}

impl Answer {
    fn new(line: String, payload: Option<vm_core::StateBytes>) -> Answer {
        Answer { line, payload, close: false }
    }

    fn of(response: Response) -> Answer {
        Answer::new(response.to_string(), None)
    }

    fn closing(response: Response) -> Answer {
        Answer { line: response.to_string(), payload: None, close: true }
    }

    fn err(why: String) -> Answer {
        Answer::of(Response::Refused(why))
    }
}

/// What one request does to the VM thread's loop.
enum Next {
    Stay,
    Run,
    End(Ended),
}

/// The VM thread's side: machine, mode, lease.
struct Vm<'m, M: Machine> {
    machine: &'m mut M,
    /// The mode and lease, and what each command may do to them.
    leases: Leases,
    shared: Arc<Shared>,
    replies: Sender<(usize, Reply)>,
    waker: Arc<mio::Waker>,
    /// Requests served with `OK` so far.
    served: u64,
    /// For the threads that receive streams.
    to_vm: Sender<Envelope>,
    /// The ticket `accept` gave, and the lease it was given under.
    accepting: Option<(String, String)>,
    /// Raised to make the thread receiving a stream drop what it has.
    receiving: Option<Arc<AtomicBool>>,
    /// A `send` whose program runs while its pages go (pre-copy).
    sending: Option<Sending>,
    /// How long a state stream may stall before it is given up.
    stall: Duration,
    /// The connection, lease and former mode (running?) of a `send` that
    /// stopped the program, until its hand-off: if that connection closes
    /// first, the program is given back.
    sent_by: Option<(usize, String, bool)>,
    /// A post-copy's owed pages still being sent to the target (the source's side).
    serving: Option<crate::transfer::Serving>,
    /// A post-copy's owed pages still coming (the target's side), and the thread receiving them.
    owed: Option<Arc<dyn vm_core::PageSink>>,
    receiving_owed: Option<crate::transfer::Receiving>,
}

/// A pre-copy under way on the source.
struct Sending {
    /// The connection whose `send` this is: answered at the end.
    conn: usize,
    lease: String,
    outgoing: Outgoing,
    precopy: Precopy,
    /// A chunk the queue had no room for yet.
    held: Option<Vec<u8>>,
    /// The thread that paces the rounds, while this lives.
    _pacer: Pacer,
    /// Page bytes the current round still has to send, as it began.
    round_bytes: u64,
    /// Switch to post-copy when the rounds are used up, rather than give up.
    postcopy: bool,
    /// The rounds list pages the target is owed (post-copy) rather than send them.
    owing: bool,
}

impl Sending {
    /// The size of the chunks to queue: pages, or (post-copy) records of
    /// owed pages — small, as the target takes longer to place a record's
    /// page than to read its 17 bytes, and what is queued when the program
    /// stops must be placed before it runs.
    fn chunk(&self) -> usize {
        match self.owing {
            true => crate::transfer::CHUNK / 16,
            false => crate::transfer::CHUNK,
        }
    }
}

/// How the state goes at a `send`'s stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// Whole: no pre-copy (a machine without one).
    Whole,
    /// What the pages sent ahead do not give the target.
    Last,
    /// The directory of owed pages and the state: the pages follow once the target runs.
    Postcopy,
}

/// The mode a source shows once a post-copy committed, while it sends the
/// pages the target still lacks: its program runs there, never here again.
pub(crate) const MOVED: &str = "moved";

/// Rounds listing owed pages at most, once post-copy takes over from
/// pre-copy rounds that did not converge (records are small: they converge
/// in one or two).
const POSTCOPY_ROUNDS: u32 = 8;

/// How often a pre-copy stops the program to hand the sending thread more pages.
const SLICE: Duration = Duration::from_millis(1);

/// A thread that raises the interrupt line every [`SLICE`], so that the VM
/// thread gets to the pre-copy's work between slices of the program; it
/// stops when this is dropped.
struct Pacer(Arc<AtomicBool>);

impl Pacer {
    fn start(line: Arc<Interrupt>) -> Pacer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let _ = std::thread::Builder::new().name("pace".into()).spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                std::thread::sleep(SLICE);
                line.raise();
            }
        });
        Pacer(stop)
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl<M: Machine> Vm<'_, M> {
    fn publish(&self) {
        let stopped = !matches!(self.leases.mode, Mode::Running | Mode::Sending);
        let mut published = self.shared.published.lock().unwrap_or_else(PoisonError::into_inner);
        *published = Published {
            running: !stopped,
            mode: self.leases.mode.name(),
            lease: self.leases.lease.as_ref().map(|l| l.used),
            lease_binding: self.leases.binding(),
            moving_to: match &self.leases.mode {
                Mode::Moving { to } => Some(to.clone()),
                _ => None,
            },
            position: if stopped { self.machine.position() } else { String::new() },
            progress: match &self.sending {
                Some(sending) => {
                    let p = &sending.precopy;
                    format!(
                        "round={} sent={} to-send={} throttle={}%",
                        p.rounds.len(),
                        sending.outgoing.counters.bytes.load(Ordering::Relaxed),
                        sending.round_bytes,
                        p.throttle
                    )
                }
                None => String::new(),
            },
        };
    }

    fn send(&self, conn: usize, reply: Reply) {
        let _ = self.replies.send((conn, reply));
        let _ = self.waker.wake();
    }

    /// Replies, then waits (briefly) until the reply is on the wire: a VM
    /// that starts running, or exits, after `OK` is never mistaken for one
    /// that failed because its reply came too late.
    fn reply_and_wait(&self, conn: usize, mut reply: Reply) {
        let (flushed, written) = mpsc::sync_channel(1);
        reply.flushed = Some(flushed);
        self.send(conn, reply);
        let _ = written.recv_timeout(Duration::from_secs(2));
    }

    fn handle(&mut self, envelope: Envelope) -> Next {
        let Envelope { conn, request, payload, ticket } = envelope;
        if !ticket.take() {
            return Next::Stay; // Its client gave up waiting and was told so.
        }
        self.drop_lapsed();
        let command = match request {
            Request::Command(command) => command,
            Request::Signal(signal) => return Next::End(Ended::Signalled(signal)),
            Request::Stream { socket, ticket, program, buffered } => {
                return self.stream(socket, &ticket, &program, buffered)
            }
            Request::Received(received) => return self.received(*received),
            Request::Hangup => return self.hangup(conn),
        };
        let (next, answer) = match self.apply(conn, command, payload) {
            Ok((next, None)) => {
                self.served += 1;
                return next; // answered when the `send` ends
            }
            Ok((next, Some(answer))) => {
                self.served += 1;
                (next, answer)
            }
            Err(why) => (Next::Stay, Answer::err(why)),
        };
        // Published before the reply, so the client's next command meets the new mode.
        self.publish();
        let reply = Reply { line: answer.line, payload: answer.payload, close: answer.close, flushed: None };
        match next {
            // Running again, or exiting: only once the reply is on the wire, so that a VM that
            // runs (or ends) after `OK` is never taken for one whose reply never came.
            Next::Run | Next::End(_) => self.reply_and_wait(conn, reply),
            Next::Stay => self.send(conn, reply),
        }
        next
    }

    fn apply(
        &mut self,
        conn: usize,
        command: Command,
        payload: Option<Vec<u8>>,
    ) -> Result<(Next, Option<Answer>), String> {
        if let Command::Outcome(lease) = &command {
            // Answered here, in order with the `resume` and `release` that settle a fate.
            let line = self.shared.outcome(lease);
            return match line.strip_prefix("ERR ") {
                Some(why) => Err(why.to_string()),
                None => Ok((Next::Stay, Some(Answer::new(line, None)))),
            };
        }
        let order = match &command {
            Command::Send(order) => Some(order.clone()),
            _ => None,
        };
        if let (Command::Resume(_), Some(why)) = (&command, self.owed.as_ref().and_then(|o| o.lost())) {
            return Err(format!("the restored state cannot run: its pages stopped coming ({why})"));
        }
        let step = self.leases.apply(&command, Instant::now(), || crate::random_hex(16))?;
        if let Step::Send { lease, running } = step {
            return Ok(self.start_send(conn, order.expect("a send"), lease, running));
        }
        if matches!(step, Step::Released { .. } | Step::Moving(_) | Step::Killed | Step::Run { .. }) {
            self.stop_receiving();
            self.sent_by = None;
        }
        if matches!(step, Step::Aborted | Step::Run { .. } | Step::Released { .. }) {
            // The program is back here (or the state is dropped there): the target gets no more pages.
            self.serving = None;
        }
        if matches!(step, Step::Released { .. }) {
            // The state a post-copy brought is dropped or replaced: its pages no longer matter.
            self.forget_owed();
        }
        let done = match step {
            Step::Granted(lease) => {
                let to = match &self.leases.mode {
                    Mode::Moving { to } => Some(to.clone()),
                    _ => None,
                };
                let mode = self.leases.mode.name().to_string();
                (Next::Stay, Answer::of(Response::Granted { mode, lease, to, position: self.machine.position() }))
            }
            Step::Save => {
                let state = self.machine.save().map_err(|e| e.to_string())?;
                (Next::Stay, Answer::new(Response::Saved(state.len()).to_string(), Some(state)))
            }
            Step::Restore(lease) => {
                self.machine.restore(payload.as_deref().unwrap_or_default()).map_err(|e| e.to_string())?;
                self.forget_owed();
                self.leases.restored();
                self.hold_provisionally(&lease);
                (Next::Stay, Answer::of(Response::Restored { position: self.machine.position() }))
            }
            Step::Run { settled } => {
                self.settle(settled, Fate::Ran);
                (Next::Run, Answer::of(Response::Running))
            }
            Step::Released { dropped } => {
                self.settle(dropped, Fate::Dropped);
                (Next::Stay, Answer::of(Response::Released { mode: self.leases.mode.name().into() }))
            }
            Step::Moving(to) => (Next::Stay, Answer::of(Response::Moving { to })),
            Step::Aborted => (Next::Stay, Answer::of(Response::Interrupted)),
            Step::Committed => (Next::End(Ended::Moved), Answer::closing(Response::Moved)),
            Step::Killed => (Next::End(Ended::Killed), Answer::closing(Response::Killed)),
            Step::Accept(lease) => {
                let ticket = crate::random_hex(16);
                self.stop_receiving();
                self.accepting = Some((ticket.clone(), lease));
                (Next::Stay, Answer::of(Response::Accepting { ticket }))
            }
            Step::Send { .. } => unreachable!("handled above"),
        };
        Ok((done.0, Some(done.1)))
    }

    /// Gives up a stream accepted or being received here: the ticket is
    /// void and whatever arrived is dropped.
    fn stop_receiving(&mut self) {
        self.accepting = None;
        if let Some(cancelled) = self.receiving.take() {
            cancelled.store(true, Ordering::Release);
        }
    }

    /// `send`: starts the stream to the target; a running program runs on
    /// while its pages go (answered when it ends), an interrupted one, or a
    /// machine that moves its state whole, is sent at once.
    fn start_send(&mut self, conn: usize, order: SendOrder, lease: String, running: bool) -> (Next, Option<Answer>) {
        let outgoing = match Outgoing::start(
            &order.endpoint,
            &order.ticket,
            &self.shared.program_hash,
            order.compress,
            self.stall,
        ) {
            Ok(outgoing) => outgoing,
            Err(e) => {
                self.leases.send_failed(running);
                return (Next::Stay, Some(Answer::err(format!("cannot start sending: {e}"))));
            }
        };
        let mut precopy = Precopy {
            max_downtime: Duration::from_millis(order.max_downtime_ms),
            max_rounds: order.max_rounds,
            may_throttle: order.throttle,
            rounds: Vec::new(),
            throttle: 0,
            started: Instant::now(),
        };
        // Post-copy at once, of a running program: its pages are listed as owed while it runs
        // (records, no bytes), so that the stop has only the last few to list.
        let owing = order.postcopy && running && order.max_rounds == 0 && self.machine.precopy_owe();
        let first = self.machine.precopy_round();
        let next = |vm: &Self| if vm.leases.mode == Mode::Running { Next::Run } else { Next::Stay };
        let Some(first) = first else {
            // A machine without pre-copy: its state goes whole, now.
            let answer = self.finish_send(conn, outgoing, &precopy, lease, running, Finish::Whole);
            return (next(self), Some(answer));
        };
        // A state whose first round already fits the downtime (at the rate assumed before one is
        // measured) goes at the stop: rounds would only add slices.
        let fits = precopy.after_round(first, None) == Decision::Stop;
        if order.postcopy && (!running || (owing && fits)) {
            // Post-copy of a stopped program, or of one whose pages are listed in no time: the
            // target runs before any page's bytes.
            let answer = self.finish_send(conn, outgoing, &precopy, lease, running, Finish::Postcopy);
            return (next(self), Some(answer));
        }
        if !owing && (!running || order.max_rounds == 0 || fits) {
            // Stop and copy, streamed: the pages go in chunks the target puts in place as they
            // come (no state held whole on either side), then the rest.
            while let Some(chunk) = self.machine.precopy_chunk(crate::transfer::CHUNK) {
                if let Err(why) = outgoing.push(chunk) {
                    self.machine.precopy_abandon();
                    self.leases.send_failed(running);
                    let given_back = if running { "runs on" } else { "stays interrupted" };
                    let why = format!("the stream to the target failed: {why}; the program {given_back} here");
                    return (next(self), Some(Answer::err(why)));
                }
            }
            // One round, all of it at the stop: the machine has not run since it began.
            let answer = self.finish_send(conn, outgoing, &precopy, lease, running, Finish::Last);
            return (next(self), Some(answer));
        }
        let pacer = Pacer::start(Arc::clone(&self.shared.line));
        self.sending = Some(Sending {
            conn,
            lease,
            outgoing,
            precopy,
            held: None,
            _pacer: pacer,
            round_bytes: first,
            postcopy: order.postcopy,
            owing,
        });
        (Next::Run, None)
    }

    /// Between two slices of a pre-copy (the program stopped): hands the
    /// sending thread the pages it has room for, and at the end of a round
    /// decides what comes next. Returns how long to hold the program back.
    fn pump(&mut self) -> Duration {
        let Some(mut sending) = self.sending.take() else { return Duration::ZERO };
        if let Some(why) = sending.outgoing.failure() {
            return self.send_failed(sending, format!("the stream to the target failed: {why}"));
        }
        // A slice's worth of work at most: the program runs between slices, so a round takes
        // the time its pages take to go, and the next round sees what it wrote meanwhile.
        let until = Instant::now() + SLICE / 2;
        loop {
            if Instant::now() >= until {
                let pause = sending.precopy.pause_after(SLICE);
                self.sending = Some(sending);
                return pause;
            }
            let chunk = match sending.held.take() {
                Some(chunk) => chunk,
                None => match self.machine.precopy_chunk(sending.chunk()) {
                    Some(chunk) => chunk,
                    None => break,
                },
            };
            match sending.outgoing.offer(chunk) {
                Ok(()) => {}
                Err(NotQueued::Full(chunk)) => {
                    sending.held = Some(chunk);
                    let pause = sending.precopy.pause_after(SLICE);
                    self.sending = Some(sending);
                    return pause;
                }
                Err(NotQueued::Failed(why)) => {
                    return self.send_failed(sending, format!("the stream to the target failed: {why}"));
                }
            }
        }
        // The round is all on its way: what would the next one send?
        let dirty = self.machine.precopy_round().unwrap_or(0);
        sending.round_bytes = dirty;
        match sending.precopy.after_round(dirty, sending.outgoing.counters.rate()) {
            Decision::Another => {
                let pause = sending.precopy.pause_after(SLICE);
                self.sending = Some(sending);
                pause
            }
            Decision::GiveUp(why) if !sending.postcopy => self.send_failed(sending, why),
            Decision::GiveUp(_) if !sending.owing => {
                // The rounds are used up: post-copy takes over, its rounds listing what is left.
                sending.owing = self.machine.precopy_owe();
                sending.precopy.max_rounds = sending.precopy.max_rounds.saturating_add(POSTCOPY_ROUNDS);
                sending.precopy.throttle = 0;
                sending.precopy.may_throttle = false;
                self.sending = Some(sending);
                Duration::ZERO
            }
            Decision::Stop | Decision::GiveUp(_) => {
                // What is left fits the downtime (its bytes, or in post-copy its records); or the
                // rounds listing owed pages are used up too: the stop lists the rest.
                let finish = if sending.owing { Finish::Postcopy } else { Finish::Last };
                let Sending { conn, lease, outgoing, precopy, _pacer: pacer, .. } = sending;
                drop(pacer);
                let answer = self.finish_send(conn, outgoing, &precopy, lease, true, finish);
                self.served += 1;
                self.publish();
                self.send(conn, Reply::line(answer.line));
                Duration::ZERO
            }
        }
    }

    /// The program ended during a pre-copy: the `send` is answered so
    /// (before the process exits), and there is nothing to move.
    fn ended_while_sending(&mut self, how: &str) {
        if let Some(sending) = self.sending.take() {
            let line = Response::Refused(format!("{how} while its state was being sent: there is nothing to move"));
            self.reply_and_wait(sending.conn, Reply::line(line.to_string()));
        }
    }

    /// Ends a pre-copy that will not finish (its `Sending` already taken):
    /// the program runs on as if none had begun.
    fn abandon_precopy(&mut self) {
        self.machine.precopy_abandon();
        self.leases.send_failed(true);
        self.publish();
    }

    /// A pre-copy that cannot go on: the program runs on here, and the `send` is answered why.
    fn send_failed(&mut self, sending: Sending, why: String) -> Duration {
        self.abandon_precopy();
        let line = Response::Refused(format!("{why}; the program runs on here")).to_string();
        self.send(sending.conn, Reply::line(line));
        Duration::ZERO
    }

    /// The last part of a `send` (the program stopped for good): the state
    /// the target lacks, and its answer; in a post-copy, the pages it is
    /// owed then go on being sent while it runs.
    fn finish_send(
        &mut self,
        conn: usize,
        outgoing: Outgoing,
        precopy: &Precopy,
        lease: String,
        running: bool,
        finish: Finish,
    ) -> Answer {
        let stopped = Instant::now();
        let given_back = if running { "the program runs on here" } else { "the program stays interrupted here" };
        let fail = |vm: &mut Self, why: String| {
            vm.machine.precopy_abandon();
            vm.leases.send_failed(running);
            Answer::err(format!("{why}; {given_back}"))
        };
        let (state, owed) = match finish {
            Finish::Whole => (self.machine.save(), None),
            Finish::Last => (self.machine.precopy_finish(), None),
            Finish::Postcopy => match self.machine.postcopy_finish(crate::transfer::CHUNK) {
                None => (self.machine.save(), None),
                Some(Err(e)) => (Err(e), None),
                Some(Ok(stop)) => {
                    let owed = stop.pages.owed();
                    // The directory first, as pages frames: the target places every owed page.
                    for chunk in stop.directory {
                        if let Err(why) = outgoing.push(chunk) {
                            return fail(self, format!("the stream to the target failed: {why}"));
                        }
                    }
                    (Ok(stop.state), Some((stop.pages, owed)))
                }
            },
        };
        let state = match state {
            Ok(state) => state,
            Err(e) => return fail(self, format!("cannot save the state: {e}")),
        };
        let last = state.len();
        let counters = Arc::clone(&outgoing.counters);
        let (said, owed_pages) = match owed {
            Some((pages, count)) => match outgoing.finish_owing(state, pages) {
                Ok((said, serving)) => {
                    self.serving = Some(serving);
                    (Ok(said), count)
                }
                Err(why) => (Err(why), 0),
            },
            None => (outgoing.finish(state, finish == Finish::Whole), 0),
        };
        match said {
            Ok(said) => {
                self.leases.sent();
                self.sent_by = Some((conn, lease.clone(), running));
                // Stop and copy is one round: the whole state, at the stop.
                let rounds: Vec<u64> = match finish {
                    Finish::Whole => vec![last as u64],
                    _ => precopy.rounds.clone(),
                };
                let report = format!(
                    "rounds={} round-bytes={} bytes={} lz4-in={} lz4-out={} last={} stopped-us={} total-ms={} \
                     postcopy={} owed-pages={owed_pages} {}",
                    rounds.len(),
                    rounds.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
                    counters.bytes.load(Ordering::Relaxed),
                    counters.lz4_in.load(Ordering::Relaxed),
                    counters.lz4_out.load(Ordering::Relaxed),
                    last,
                    stopped.elapsed().as_micros(),
                    precopy.started.elapsed().as_millis(),
                    u8::from(finish == Finish::Postcopy),
                    said.trim_start_matches("OK ")
                );
                Answer::of(Response::Sent { lease, report })
            }
            Err(why) => {
                self.serving = None;
                self.leases.send_failed(running);
                Answer::err(format!("the target did not take the state: {why}; {given_back}"))
            }
        }
    }

    /// A source's stream: taken if it presents the ticket `accept` gave
    /// (once), and received on a thread of its own.
    fn stream(
        &mut self,
        mut socket: Box<dyn crate::tls::Duplex>,
        ticket: &str,
        program: &str,
        buffered: Vec<u8>,
    ) -> Next {
        let refuse = |socket: &mut Box<dyn crate::tls::Duplex>, why: &str| {
            let _ = socket.write_all(format!("ERR {why}\n").as_bytes());
        };
        let accepted = match &self.accepting {
            Some((t, lease)) if same_secret(t.as_bytes(), ticket.as_bytes()) => lease.clone(),
            _ => {
                refuse(&mut socket, "unauthorized: no stream was accepted with this ticket");
                return Next::Stay;
            }
        };
        self.accepting = None;
        let own = crate::transfer::program_word(&self.shared.program_hash);
        if program != own {
            let short = |h: &str| h.chars().take(12).collect::<String>();
            refuse(
                &mut socket,
                &format!(
                    "the state belongs to another program (sha256 {}…, this program is {}…)",
                    short(program),
                    short(own)
                ),
            );
            return Next::Stay;
        }
        if !self.leases.held_by(&accepted) || self.leases.mode != Mode::Waiting {
            refuse(&mut socket, "the lease that accepted this stream was given up");
            return Next::Stay;
        }
        let receiver = match self.machine.receiver() {
            Ok(receiver) => receiver,
            Err(e) => {
                refuse(&mut socket, &e.to_string());
                return Next::Stay;
            }
        };
        let cancelled = Arc::new(AtomicBool::new(false));
        self.receiving = Some(Arc::clone(&cancelled));
        let incoming = Incoming {
            socket,
            buffered,
            receiver,
            lease: accepted,
            max_state: self.machine.max_state_len(),
            cancelled,
            stall: self.stall,
        };
        crate::transfer::receive(incoming, self.to_vm.clone());
        Next::Stay
    }

    /// A stream's state has arrived: restored (provisionally, as by
    /// `restore`) if the lease that accepted it still holds this VM; the
    /// source is answered on the stream.
    fn received(&mut self, received: crate::transfer::Received) -> Next {
        let crate::transfer::Received { mut socket, receiver, state, lease } = received;
        let held = self.leases.held_by(&lease);
        let cancelled = self.receiving.take().is_none_or(|c| c.load(Ordering::Acquire));
        let answer = if !held || cancelled || self.leases.mode != Mode::Waiting {
            Response::Refused("the lease that accepted this stream was given up".into())
        } else {
            match self.machine.restore_received(&state, receiver) {
                Ok(()) => {
                    self.leases.restored();
                    self.hold_provisionally(&lease);
                    self.served += 1;
                    self.publish();
                    Response::Restored { position: self.machine.position() }
                }
                Err(e) => Response::Refused(e.to_string()),
            }
        };
        let _ = socket.write_all(format!("{answer}\n").as_bytes());
        let _ = socket.flush();
        self.forget_owed();
        if let (Response::Restored { .. }, Some(sink)) = (&answer, self.machine.owed_pages()) {
            // Post-copy: the owed pages come on this stream while the program runs.
            let (line, arriving) = (Arc::clone(&self.shared.line), Arc::clone(&self.shared.arriving));
            self.receiving_owed =
                Some(crate::transfer::receive_owed(socket, Arc::clone(&sink), line, arriving, self.stall));
            self.owed = Some(sink);
        }
        Next::Stay
    }

    /// A connection that sent a `send` has closed: a pre-copy it started is
    /// abandoned, and a program it stopped and has not handed off is given
    /// back — the target cannot run it, as only the hand-off lets `hv` resume it there.
    fn hangup(&mut self, conn: usize) -> Next {
        if self.sending.as_ref().is_some_and(|s| s.conn == conn) {
            self.sending = None;
            self.abandon_precopy();
            return Next::Run;
        }
        match self.sent_by.take() {
            Some((by, lease, running))
                if by == conn && self.leases.mode == Mode::Interrupted && self.leases.held_by(&lease) =>
            {
                self.serving = None;
                self.leases.send_failed(running);
                self.publish();
                if running {
                    Next::Run
                } else {
                    Next::Stay
                }
            }
            other => {
                self.sent_by = other;
                Next::Stay
            }
        }
    }

    /// A state restored under `lease` is provisional until its holder resumes it.
    fn hold_provisionally(&mut self, lease: &str) {
        let mut fates = self.shared.fates.lock().unwrap_or_else(PoisonError::into_inner);
        if fates.held.as_deref() != Some(lease) {
            fates.settle(Fate::Dropped); // Replaced before it ran.
            fates.held = Some(lease.to_string());
        }
    }

    /// A provisional state that was settled (`settled`) had `fate`.
    fn settle(&mut self, settled: bool, fate: Fate) {
        if settled {
            self.shared.fates.lock().unwrap_or_else(PoisonError::into_inner).settle(fate);
        }
    }

    /// Forgets the pages a post-copy still owes the state here (dropped or replaced).
    fn forget_owed(&mut self) {
        self.owed = None;
        if self.receiving_owed.take().is_some() {
            // Its thread shows nothing after this (see `Receiving`).
            self.shared.arriving.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    /// Drops a provisional state whose lease has lapsed: the VM waits again.
    fn drop_lapsed(&mut self) {
        if self.leases.drop_lapsed(Instant::now()) {
            self.stop_receiving();
            self.forget_owed();
            eprintln!(
                "{}: the restored state was dropped: its holder did not resume it within {} s; waiting for a state",
                self.shared.kind,
                self.leases.timeout.as_secs()
            );
            self.settle(true, Fate::Dropped);
            self.publish();
        }
    }

    /// The next request; meanwhile a provisional state whose lease lapses is
    /// dropped. `None` once nothing can send one.
    fn next_request(&mut self, requests: &Receiver<Envelope>) -> Option<Envelope> {
        loop {
            let Some(due) = self.leases.lapse_due() else { return requests.recv().ok() };
            match requests.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(envelope) => return Some(envelope),
                Err(mpsc::RecvTimeoutError::Timeout) => self.drop_lapsed(),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

impl<M: Machine> Vm<'_, M> {
    /// Runs the machine and serves requests until the process is to end;
    /// then sees to a post-copy's pages, whichever side this is.
    fn serve(&mut self, requests: &Receiver<Envelope>) -> Ended {
        let outcome = self.serve_until_end(requests);
        self.ending(outcome)
    }

    fn serve_until_end(&mut self, requests: &Receiver<Envelope>) -> Ended {
        let mut next = if self.leases.mode == Mode::Running { Next::Run } else { Next::Stay };
        loop {
            next = match next {
                Next::End(outcome) => return outcome,
                Next::Stay => match self.next_request(requests) {
                    Some(envelope) => self.handle(envelope),
                    // Every sender is gone: nothing can control this VM any more.
                    None => return Ended::Killed,
                },
                Next::Run => {
                    let served = self.served;
                    // Lower the line, publish `running`, then take what was queued before
                    // the listener could see `running` (see listener::forward).
                    self.shared.line.clear();
                    if self.leases.mode != Mode::Sending {
                        self.leases.mode = Mode::Running;
                    }
                    self.publish();
                    if let Some(outcome) = self.serve_queued(requests) {
                        return outcome;
                    }
                    if matches!(self.leases.mode, Mode::Running | Mode::Sending) {
                        let ran = self.machine.run();
                        if let Some(why) = self.owed.as_ref().and_then(|o| o.lost()) {
                            return Ended::Lost(why);
                        }
                        match ran {
                            Ok(Stopped::Exited(status)) => {
                                self.ended_while_sending(&format!("the program ended (status {status})"));
                                return Ended::Exited(status);
                            }
                            Err(trap) => {
                                self.ended_while_sending("the program stopped on a trap");
                                return Ended::Trapped(trap.to_string());
                            }
                            Ok(Stopped::Interrupted) => {
                                if self.leases.mode != Mode::Sending {
                                    self.leases.mode = Mode::Interrupted;
                                }
                                self.publish();
                                self.leases.serving_while_running = true;
                                let outcome = self.serve_queued(requests);
                                self.leases.serving_while_running = false;
                                if let Some(outcome) = outcome {
                                    return outcome;
                                }
                            }
                        }
                    }
                    if self.leases.mode == Mode::Sending {
                        let pause = self.pump();
                        if !pause.is_zero() {
                            // Auto-converge: the program is held back while its pages catch up.
                            std::thread::sleep(pause);
                        }
                        self.publish();
                    }
                    match (&self.leases.mode, &self.leases.lease) {
                        (Mode::Running | Mode::Sending, _) => Next::Run,
                        // Stopped, but every request that stopped it was withdrawn by its
                        // client (and told so): nobody holds the VM, so it runs on. Not when
                        // one was served: a `release` right behind its `interrupt` (served
                        // in the same drain of the queue) leaves the VM stopped, as it says.
                        (Mode::Interrupted, None) if self.served == served => Next::Run,
                        _ => Next::Stay,
                    }
                }
            };
        }
    }

    /// The process is to end so: a source moved by post-copy first sends
    /// the target every page it owes (the program is gone from here, but
    /// runs there on these pages); a target whose program ended before its
    /// pages all came tells the source it needs no more.
    fn ending(&mut self, outcome: Ended) -> Ended {
        if let Some(receiving) = self.receiving_owed.take() {
            if !matches!(outcome, Ended::Lost(_)) && self.owed.as_ref().is_some_and(|o| o.left() > 0) {
                receiving.program_ended();
            }
        }
        match (outcome, self.serving.take()) {
            (Ended::Moved, Some(serving)) => {
                // Committed: the control port says so (`moved`) and refuses commands until the end.
                let mut published = self.shared.published.lock().unwrap_or_else(PoisonError::into_inner);
                (published.mode, published.running, published.progress) = (MOVED, false, "sending-pages".into());
                drop(published);
                self.finish_serving(serving)
            }
            (outcome, _) => outcome,
        }
    }

    /// Waits for a committed post-copy's last pages to go.
    fn finish_serving(&mut self, serving: crate::transfer::Serving) -> Ended {
        match serving.wait() {
            Ok(_) => Ended::Moved,
            Err(why) => Ended::Lost(format!("the pages it still owed the target stopped going: {why}")),
        }
    }

    /// Serves the requests already queued; `Some` if one ends the process.
    fn serve_queued(&mut self, requests: &Receiver<Envelope>) -> Option<Ended> {
        for envelope in requests.try_iter() {
            match self.handle(envelope) {
                Next::End(outcome) => return Some(outcome),
                Next::Run if self.leases.mode != Mode::Sending => self.leases.mode = Mode::Running,
                Next::Run | Next::Stay => {}
            }
        }
        None
    }
}

fn bind(options: &Options, kind: &str) -> Result<std::net::TcpListener, ServeError> {
    match options.listen {
        Some(addr) => {
            let in_clear_with_token = options.insecure && options.token.is_some();
            if !addr.ip().is_loopback() && options.tls.is_none() && !in_clear_with_token {
                return Err(ServeError::TokenRequired(addr));
            }
            std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })
        }
        None => {
            let default = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT));
            std::net::TcpListener::bind(default).or_else(|_| {
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                let listener =
                    std::net::TcpListener::bind(any).map_err(|source| ServeError::Bind { addr: any, source })?;
                if let Ok(addr) = listener.local_addr() {
                    eprintln!("{kind}: port {DEFAULT_PORT} is taken; control listener on {addr}");
                }
                Ok(listener)
            })
        }
    }
}

/// How long a signalled VM has to stop at an instruction boundary before the
/// process removes its registry entry and exits anyway.
const SIGNAL_GRACE: Duration = Duration::from_secs(2);

/// Runs `machine` under the control port until the program ends, is killed,
/// is moved, or a signal ends the process.
pub fn serve<M: Machine>(machine: &mut M, options: Options) -> Result<Ended, ServeError> {
    if options.token.as_deref() == Some("") {
        return Err(ServeError::EmptyToken);
    }
    let kind = machine.kind();
    let listener = bind(&options, kind)?;
    // The same credentials for the port and for this VM's own state stream to another host.
    let policy = crate::tls::Policy { tls: options.tls.clone(), insecure: options.insecure };
    crate::tls::set_policy(policy.clone());
    let endpoint = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    listener.set_nonblocking(true).map_err(ServeError::Setup)?;
    let listener = mio::net::TcpListener::from_std(listener);
    let pid = std::process::id();
    let line = machine.interrupt_line();
    let mode = if options.wait { Mode::Waiting } else { Mode::Running };
    let shared = Arc::new(Shared {
        kind,
        pid,
        instance: crate::random_hex(8),
        program: options.program.clone(),
        program_hash: options.program_hash.clone(),
        max_state: machine.max_state_len(),
        line: Arc::clone(&line),
        published: Mutex::new(Published {
            running: mode == Mode::Running,
            mode: mode.name(),
            lease: None,
            lease_binding: false,
            moving_to: None,
            position: String::new(),
            progress: String::new(),
        }),
        stopping: AtomicBool::new(false),
        gauge: machine.gauge(),
        fates: Mutex::new(Fates::default()),
        arriving: Arc::default(),
    });
    let poll = mio::Poll::new().map_err(ServeError::Setup)?;
    let waker = Arc::new(EventLoop::waker(&poll).map_err(ServeError::Setup)?);
    let (to_vm, requests) = mpsc::channel();
    let to_vm_for_streams = to_vm.clone();
    let (replies, from_vm) = mpsc::channel();
    let event_loop = EventLoop::new(
        poll,
        listener,
        Arc::clone(&shared),
        to_vm.clone(),
        from_vm,
        options.limits.clone(),
        crate::listener::Access { token: options.token.clone(), policy: policy.clone() },
    )
    .map_err(ServeError::Setup)?;
    let listener_thread = std::thread::Builder::new()
        .name("control".into())
        .spawn(move || event_loop.run())
        .map_err(ServeError::Setup)?;
    let started = crate::registry::now_secs();
    let entry = Entry {
        pid,
        instance: shared.instance.clone(),
        machine: kind.to_string(),
        program: options.program.clone(),
        program_hash: options.program_hash.clone(),
        endpoint,
        started,
    };
    let registration = registry::register(&entry)
        .map_err(|e| eprintln!("{kind}: not registered, so `hv ps` will not list this VM: {e}"))
        .ok();
    let fleet = match &options.fleet {
        Some(fleet) => {
            let (fleet, (kept, left)) = (Arc::clone(fleet), mpsc::channel::<()>());
            let vm = Presence { shared: Arc::clone(&shared), entry, lease_timeout: options.limits.lease_timeout };
            std::thread::Builder::new()
                .name("fleet".into())
                .spawn(move || {
                    fleet.keep(vm);
                    drop(kept);
                })
                .map_err(ServeError::Setup)?;
            Some(left)
        }
        None => None,
    };
    let (done, finished) = mpsc::channel::<()>();
    let signals = match options.handle_signals {
        true => {
            Some(watch_signals(to_vm, Arc::clone(&line), registration.as_ref().map(|r| r.path().to_owned()), finished)?)
        }
        false => None,
    };
    let mut vm = Vm {
        machine,
        leases: Leases::new(mode, options.limits.lease_timeout, shared.instance.clone()),
        shared: Arc::clone(&shared),
        replies,
        waker: Arc::clone(&waker),
        served: 0,
        to_vm: to_vm_for_streams,
        accepting: None,
        receiving: None,
        sending: None,
        sent_by: None,
        serving: None,
        owed: None,
        receiving_owed: None,
        stall: options.limits.io_timeout * crate::transfer::STALL_TIMEOUTS,
    };
    vm.publish();
    let outcome = vm.serve(&requests);
    shared.stopping.store(true, Ordering::Release);
    let _ = waker.wake();
    let _ = listener_thread.join();
    drop(done);
    if let Some(signals) = signals {
        signals.close();
    }
    drop(registration);
    if let Some(left) = fleet {
        // Its entry goes before the process does, unless the fleet's registry does not answer.
        let _ = left.recv_timeout(FLEET_GRACE);
    }
    Ok(outcome)
}

/// Ends the process gracefully on SIGTERM, SIGINT or SIGHUP: the VM thread is
/// asked to stop at a boundary (so the registry entry is removed as the
/// process returns); if it cannot within [`SIGNAL_GRACE`], the entry is
/// removed here and the process exits.
fn watch_signals(
    to_vm: Sender<Envelope>,
    line: Arc<Interrupt>,
    entry: Option<std::path::PathBuf>,
    finished: Receiver<()>,
) -> Result<signal_hook::iterator::Handle, ServeError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(ServeError::Setup)?;
    let handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Some(signal) = signals.forever().next() else { return };
            let request = Request::Signal(signal);
            let _ = to_vm.send(Envelope { conn: usize::MAX, request, payload: None, ticket: Ticket::default() });
            line.raise();
            if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(SIGNAL_GRACE) {
                if let Some(entry) = entry {
                    let _ = std::fs::remove_file(entry);
                }
                std::process::exit(128 + signal);
            }
        })
        .map_err(ServeError::Setup)?;
    Ok(handle)
}

/// Runs `machine` under the hypervisor as a VM process does, and returns the
/// process exit status: the program's own; 0 when killed or moved;
/// [`EXIT_TRAP`] after a trap (its message on stderr); 128 + N after signal
/// N; [`EXIT_CANNOT_START`] if the state file or the control port fails.
pub fn run<M: Machine>(machine: &mut M, options: Options, restore: Option<&std::path::Path>) -> u8 {
    let kind = machine.kind();
    if let Some(path) = restore {
        if let Err(why) = read_state_file(path, machine.max_state_len())
            .and_then(|bytes| machine.restore(&bytes).map_err(|e| e.to_string()))
        {
            eprintln!("{kind}: {}: {why}", path.display());
            return EXIT_CANNOT_START;
        }
    }
    match serve(machine, options) {
        Ok(Ended::Trapped(trap)) => {
            eprintln!("{trap}");
            EXIT_TRAP
        }
        Ok(Ended::Lost(why)) => {
            eprintln!("{kind}: the program was lost in a post-copy migration: {why}");
            EXIT_LOST
        }
        Ok(outcome @ Ended::Signalled(signal)) => {
            eprintln!("{kind}: ended by signal {signal}");
            outcome.exit_status()
        }
        Ok(outcome) => outcome.exit_status(),
        Err(e) => {
            eprintln!("{kind}: {e}");
            EXIT_CANNOT_START
        }
    }
}

/// Reads a state file, refusing one larger than the machine accepts
/// without reading more than one byte past that.
pub fn read_state_file(path: &std::path::Path, max: usize) -> Result<Vec<u8>, String> {
    crate::files::read_bounded(path, max as u64).map_err(|e| match e {
        crate::files::ReadError::Io(e) => format!("cannot read it: {e}"),
        crate::files::ReadError::TooLarge => {
            format!("larger than the largest state this machine accepts ({max} bytes)")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::field;
    use std::cell::{Cell, RefCell};

    /// A machine that plays the client from inside the VM thread, so that
    /// requests land in the queue exactly while the VM drains it: its first
    /// run stops as if a client's `interrupt` had stopped it, with a
    /// `status` right behind; as soon as the interrupt's reply is out (seen
    /// when the VM publishes the next request's outcome) it sends `release
    /// LEASE` and hangs up. A second run means the VM ran a program whose
    /// client had just released it stopped.
    struct Scripted {
        line: Arc<Interrupt>,
        runs: Cell<u32>,
        to_vm: RefCell<Option<Sender<Envelope>>>,
        replies: Receiver<(usize, Reply)>,
    }

    fn envelope(command: Command) -> Envelope {
        Envelope { conn: 1, request: Request::Command(command), payload: None, ticket: Ticket::default() }
    }

    impl Machine for Scripted {
        fn kind(&self) -> &'static str {
            "scripted"
        }
        fn interrupt_line(&self) -> Arc<Interrupt> {
            Arc::clone(&self.line)
        }
        fn run(&mut self) -> Result<Stopped, vm_core::MachineError> {
            self.runs.set(self.runs.get() + 1);
            if self.runs.get() > 1 {
                return Ok(Stopped::Exited(0));
            }
            let to_vm = self.to_vm.borrow();
            let to_vm = to_vm.as_ref().expect("the first run");
            to_vm.send(envelope(Command::Interrupt(None))).unwrap();
            to_vm.send(envelope(Command::Status)).unwrap();
            Ok(Stopped::Interrupted)
        }
        fn save(&mut self) -> Result<vm_core::StateBytes, vm_core::MachineError> {
            Err(vm_core::MachineError::CannotSave("nothing to save".into()))
        }
        fn restore(&mut self, _: &[u8]) -> Result<(), vm_core::MachineError> {
            Err(vm_core::MachineError::BadState("nothing to restore".into()))
        }
        fn max_state_len(&self) -> usize {
            0
        }
        fn position(&self) -> String {
            while let Ok((_, reply)) = self.replies.try_recv() {
                if let (Some(lease), Some(to_vm)) = (field(&reply.line, "lease"), self.to_vm.borrow_mut().take()) {
                    to_vm.send(envelope(Command::Release(lease.to_string()))).unwrap();
                }
            }
            String::new()
        }
    }

    /// Regression (found by the control_session fuzz target under load): a
    /// `release` served in the same drain of the queue as its `interrupt`
    /// left the VM stopped with no lease, which the VM took for "every
    /// request that stopped me was withdrawn" and ran on.
    #[test]
    fn a_release_right_behind_its_interrupt_leaves_the_vm_stopped() {
        let (to_vm, requests) = mpsc::channel();
        let (replies, from_vm) = mpsc::channel();
        let mut machine =
            Scripted { line: Arc::default(), runs: Cell::new(0), to_vm: RefCell::new(Some(to_vm)), replies: from_vm };
        let poll = mio::Poll::new().unwrap();
        let shared = Arc::new(Shared {
            kind: "scripted",
            pid: 1,
            instance: "0123456789abcdef".into(),
            program: "scripted".into(),
            program_hash: String::new(),
            max_state: 0,
            line: machine.interrupt_line(),
            published: Mutex::new(Published {
                running: true,
                mode: "running",
                lease: None,
                lease_binding: false,
                moving_to: None,
                position: String::new(),
                progress: String::new(),
            }),
            stopping: AtomicBool::new(false),
            gauge: None,
            fates: Mutex::default(),
            arriving: Arc::default(),
        });
        let mut vm = Vm {
            leases: Leases::new(Mode::Running, Duration::from_secs(60), shared.instance.clone()),
            machine: &mut machine,
            shared,
            replies,
            waker: Arc::new(EventLoop::waker(&poll).unwrap()),
            served: 0,
            to_vm: mpsc::channel().0,
            accepting: None,
            receiving: None,
            sending: None,
            sent_by: None,
            serving: None,
            owed: None,
            receiving_owed: None,
            stall: Duration::from_secs(30),
        };
        // Released and stopped, the VM waits for requests until every
        // client is gone: it ends as killed, never running again.
        assert_eq!(vm.serve(&requests), Ended::Killed);
        assert_eq!(vm.leases.mode, Mode::Interrupted);
        assert_eq!(machine.runs.get(), 1);
    }
}
