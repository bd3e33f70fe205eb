//! What the control port's thread (the listener) and the VM thread pass
//! each other: requests in envelopes with their tickets, replies, and the
//! state the VM publishes for the listener to answer from (its status line,
//! the fates of restored states).

use crate::protocol::{same_secret, Command, Fate, Response, Status, PROTOCOL_VERSION};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use vm_core::Interrupt;

/// A request on its way to the VM thread. The ticket is taken by the VM
/// thread or withdrawn by the listener, never both.
pub(crate) struct Envelope {
    pub conn: usize,
    pub request: Request,
    pub payload: Option<Vec<u8>>,
    pub ticket: Ticket,
}

/// What the VM thread is asked.
pub(crate) enum Request {
    /// A client's command.
    Command(Command),
    /// A signal asks the process to end.
    Signal(i32),
    /// A source's `stream TICKET` connection, handed over by the listener
    /// with the bytes it had read past that line.
    Stream { socket: Box<dyn crate::tls::Duplex>, ticket: String, program: String, buffered: Vec<u8> },
    /// A stream's state has arrived (the receiving thread).
    Received(Box<crate::transfer::Received>),
    /// The connection that sent a `send` has closed.
    Hangup,
}

/// The VM thread's answer to one request.
pub(crate) struct Reply {
    pub line: String,
    pub payload: Option<vm_core::StateBytes>,
    /// Close the connection once the reply is written.
    pub close: bool,
    /// Told once the reply is written (or the connection is gone).
    pub flushed: Option<SyncSender<()>>,
}

impl Reply {
    /// A reply of one line, nothing after it.
    pub(crate) fn line(line: String) -> Reply {
        Reply { line, payload: None, close: false, flushed: None }
    }
}

/// Whether a request is still wanted: taken by the VM, or withdrawn by its client.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ticket(Arc<AtomicU8>);

const PENDING: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

impl Ticket {
    /// The VM takes the request; false if its client withdrew it.
    pub(crate) fn take(&self) -> bool {
        self.0.compare_exchange(PENDING, TAKEN, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The client withdraws it; false if the VM took it already.
    pub(crate) fn withdraw(&self) -> bool {
        self.0.compare_exchange(PENDING, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// What `status` shows, published by the VM thread.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub running: bool,
    pub mode: &'static str,
    pub lease: Option<Instant>,
    /// The lease never lapses into a takeover: `moving`, or a provisional state.
    pub lease_binding: bool,
    pub moving_to: Option<String>,
    pub position: String,
    /// While it sends its state: how far (`round=2 sent=… to-send=…`).
    pub progress: String,
}

/// How many settled fates a VM remembers for `outcome`.
const FATES_KEPT: usize = 64;

/// The fates of the states restored here, by the lease they were restored under.
#[derive(Debug, Default)]
pub(crate) struct Fates {
    pub(crate) held: Option<String>,
    /// Settled ones, oldest first, at most [`FATES_KEPT`].
    pub(crate) settled: VecDeque<(String, Fate)>,
}

impl Fates {
    pub(crate) fn of(&self, lease: &str) -> Option<Fate> {
        let same = |l: &String| same_secret(l.as_bytes(), lease.as_bytes());
        if self.held.as_ref().is_some_and(same) {
            return Some(Fate::Held);
        }
        self.settled.iter().rev().find(|(l, _)| same(l)).map(|(_, fate)| *fate)
    }

    /// The provisional state is settled as `fate`.
    pub(crate) fn settle(&mut self, fate: Fate) {
        if let Some(lease) = self.held.take() {
            if self.settled.len() == FATES_KEPT {
                self.settled.pop_front();
            }
            self.settled.push_back((lease, fate));
        }
    }
}

/// State shared by the VM thread, the listener and the signal thread.
pub(crate) struct Shared {
    pub kind: &'static str,
    pub pid: u32,
    pub instance: String,
    pub program: String,
    /// The program's SHA-256 (hex): a stream of another program's state is refused.
    pub program_hash: String,
    pub max_state: usize,
    pub line: Arc<Interrupt>,
    pub published: Mutex<Published>,
    pub stopping: AtomicBool,
    /// The machine's live figures, shown while it runs.
    pub gauge: Option<vm_core::Gauge>,
    /// Written by the VM thread only, read for `outcome`.
    pub fates: Mutex<Fates>,
    /// A post-copy's pages arriving here (`pages-owed=N`, then how it ended), for `status`.
    pub arriving: crate::transfer::Arriving,
}

impl Shared {
    /// The status line's contents.
    pub(crate) fn status(&self, lease_timeout: Duration) -> Status {
        let published = self.published.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let lease = match published.lease {
            None => "none",
            Some(used) if !published.lease_binding && used.elapsed() >= lease_timeout => "expired",
            Some(_) => "held",
        };
        Status {
            mode: published.mode.to_string(),
            machine: self.kind.to_string(),
            pid: self.pid,
            instance: self.instance.clone(),
            protocol: PROTOCOL_VERSION,
            lease: lease.to_string(),
            max_state: self.max_state,
            moving_to: published.moving_to,
            position: {
                let arriving = self.arriving.lock().unwrap_or_else(PoisonError::into_inner).clone();
                let progress = format!("{} {arriving}", published.progress);
                match (&self.gauge, published.position.is_empty() && published.running) {
                    (Some(gauge), true) => format!("{} {}", progress.trim(), gauge()).trim_start().to_string(),
                    _ => format!("{} {}", progress.trim(), published.position).trim().to_string(),
                }
            },
            program: self.program.clone(),
        }
    }

    /// The reply to `outcome LEASE`.
    pub(crate) fn outcome(&self, lease: &str) -> String {
        match self.fates.lock().unwrap_or_else(PoisonError::into_inner).of(lease) {
            Some(fate) => Response::Outcome(fate),
            None => Response::Refused("unknown lease: no state was restored under it here".into()),
        }
        .to_string()
    }
}
