//! # vm-core
//!
//! What every machine and every host share, and nothing else (no
//! dependencies): a machine (`mova`, `manda`) implements [`Machine`]; a
//! host (the `vm-host` crate's control port, or a program embedding a
//! machine) drives it through that trait alone.
//!
//! - [`Machine`]: run until the program ends or the [`Interrupt`] line
//!   rises ([`Stopped`]), write the state as [`StateBytes`], continue from
//!   such bytes; every failure is a [`MachineError`]. A machine with much
//!   memory may also move live: pre-copy rounds ([`Receiver`]) and
//!   post-copy's owed pages ([`PageSource`] on the source, [`PageSink`] on
//!   the target).
//! - [`Interrupt`]: the line any thread raises to stop a machine at its next
//!   instruction boundary, promptly even mid-sleep.
//! - [`untrusted::ByteReader`]: fields read from saved states, each checked
//!   against what is left (every machine's state decoder uses it).
//! - [`counter::Counter`]: the smallest machine, which shows what
//!   implementing [`Machine`] takes; hosts are tested with it (the
//!   `hv-counter` program).
//!
//! The dependencies of the whole system point one way: this crate ← the
//! machines ← the WebAssembly translator ← the host library ← the
//! command-line programs (`docs/architecture.md`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod counter;
mod interrupt;
pub mod untrusted;

pub use interrupt::{Interrupt, Waker};
use std::sync::Arc;

/// Why [`Machine::run`] returned without a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The program ended with this exit status (`halt`: 0, `exit N`: N, Mova's end or step limit: 0).
    Exited(u8),
    /// The interrupt line stopped it at an instruction boundary; `run` continues it.
    Interrupted,
}

/// A virtual machine the hypervisor can host.
pub trait Machine {
    /// The machine's name in `hv ps` and in messages: `mova`, `manda`.
    fn kind(&self) -> &'static str;
    /// The line that, raised from any thread, makes [`run`](Machine::run)
    /// return `Interrupted` at the next instruction boundary (promptly, even
    /// mid-sleep). The host lowers it before running again.
    fn interrupt_line(&self) -> Arc<Interrupt>;
    /// Runs until the program ends or an interrupt; `Err` is the trap
    /// ([`MachineError::Trap`]), whose message the host prints as is.
    fn run(&mut self) -> Result<Stopped, MachineError>;
    /// The current state, serialized; [`MachineError::CannotSave`] if this
    /// machine cannot save (yet). `&mut`: a machine that hands out pieces it holds rather than
    /// copies ([`StateBytes::push`]) may need to mark them shared first.
    fn save(&mut self) -> Result<StateBytes, MachineError>;
    /// Replaces the state with `state` (untrusted bytes); unchanged on
    /// error ([`MachineError::BadState`]).
    fn restore(&mut self, state: &[u8]) -> Result<(), MachineError>;
    /// The largest state [`restore`](Machine::restore) accepts: the control
    /// port refuses longer payloads before reading them.
    fn max_state_len(&self) -> usize;
    /// Where the machine is, for status lines (e.g. `ip=3 top=17`).
    fn position(&self) -> String;
    /// Live figures for status lines and `hv ps` while the machine runs
    /// (e.g. `contexts=4 memory=1.2MiB`), read from the control port's
    /// thread; `None` (the default) for none.
    fn gauge(&self) -> Option<Gauge> {
        None
    }

    /// Live migration, the source's side: starts a pre-copy round (the
    /// machine stopped) and returns the bytes it has to send — every page
    /// the target does not hold as it is now; `None` (the default) for a
    /// machine whose state is small enough to move whole at the stop.
    fn precopy_round(&mut self) -> Option<u64> {
        None
    }

    /// The next chunk of this round's pages, about `budget` bytes (the
    /// machine stopped), for the target's [`Receiver::apply`]; `None` when
    /// the round has sent them all.
    fn precopy_chunk(&mut self, _budget: usize) -> Option<Vec<u8>> {
        None
    }

    /// The state, for a target that received this pre-copy's chunks: what
    /// they do not already give it (the machine stopped for good). The
    /// default is the whole state.
    fn precopy_finish(&mut self) -> Result<StateBytes, MachineError> {
        self.save()
    }

    /// Ends a pre-copy that will not finish: the machine runs on as before it.
    fn precopy_abandon(&mut self) {}

    /// Post-copy from now on: the next rounds' chunks list pages the target
    /// is owed, without their bytes, and [`postcopy_finish`](Machine::postcopy_finish)
    /// ends them; `false` (the default) for a machine without post-copy.
    fn precopy_owe(&mut self) -> bool {
        false
    }

    /// Live migration, post-copy, the source's side (the machine stopped
    /// for good): the directory of what the target lacks, the state over
    /// it, and the pages to send after the target runs; `None` (the
    /// default) for a machine whose state moves whole.
    fn postcopy_finish(&mut self, _budget: usize) -> Option<Result<Postcopy, MachineError>> {
        None
    }

    /// Live migration, post-copy, the target's side: the pages still owed
    /// after [`restore_received`](Machine::restore_received); `None` when
    /// none are (the default).
    fn owed_pages(&self) -> Option<Arc<dyn PageSink>> {
        None
    }

    /// Live migration, the target's side: somewhere to put the chunks a
    /// source sends ahead of its state; `None` (the default) if this
    /// machine takes whole states only.
    fn receiver(&self) -> Result<Option<Box<dyn Receiver>>, MachineError> {
        Ok(None)
    }

    /// [`restore`](Machine::restore)s `state`, a pre-copy's final state
    /// over the chunks `received` (if any), unchanged on error.
    fn restore_received(&mut self, state: &[u8], received: Option<Box<dyn Receiver>>) -> Result<(), MachineError> {
        match received {
            None => self.restore(state),
            Some(_) => Err(MachineError::BadState("this machine takes no pages ahead of its state".into())),
        }
    }
}

/// A post-copy's stop, the source's side ([`Machine::postcopy_finish`]).
pub struct Postcopy {
    /// What the target needs before it can run, in chunks for its [`Receiver::apply`]:
    /// which pages are owed, which are zeros or shared.
    pub directory: Vec<Vec<u8>>,
    /// The state over the directory (for [`Machine::restore_received`]).
    pub state: StateBytes,
    /// The owed pages' bytes, sent after the target runs.
    pub pages: Box<dyn PageSource>,
}

/// The pages a post-copy's source owes its target, by index in its directory.
pub trait PageSource: Send {
    /// How many indices (pages owed, and any voided since they were listed).
    fn count(&self) -> u64;
    /// How many pages are owed.
    fn owed(&self) -> u64;
    /// Appends the bytes of page `index` ([`PAGE_BYTES`] of them) to `out`:
    /// `Ok(false)` if it is not owed after all (nothing appended); `Err` if
    /// it can no longer be sent (the machine ran again).
    fn append(&self, index: u64, out: &mut Vec<u8>) -> Result<bool, String>;
}

/// The size of a page a post-copy moves.
pub const PAGE_BYTES: usize = 4096;

/// The pages a post-copy's target is still owed ([`Machine::owed_pages`]):
/// filled from the stream on a thread of the host's while the machine runs.
pub trait PageSink: Send + Sync {
    /// Pages still to arrive.
    fn left(&self) -> u64;
    /// Puts arriving pages in place: records of an index (8 bytes,
    /// little-endian) and the page (untrusted bytes).
    fn fill(&self, chunk: &[u8]) -> Result<(), MachineError>;
    /// The pages the program waits for that were not asked for yet.
    fn wanted(&self) -> Vec<u64>;
    /// The rest can no longer arrive: the program, waiting for one, is lost.
    fn lose(&self, why: &str);
    /// Why the rest can no longer arrive, if so.
    fn lost(&self) -> Option<String>;
}

/// Where a target puts the chunks a pre-copying source sends
/// ([`Machine::receiver`]); filled on a thread of its own while the
/// machine waits.
pub trait Receiver: Send {
    /// Applies one chunk (untrusted bytes); [`MachineError::BadState`] says what is wrong with it.
    fn apply(&mut self, chunk: &[u8]) -> Result<(), MachineError>;
    /// The receiver as `Any`, for the machine that made it to take it back.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

/// What [`Machine::gauge`] returns: called from another thread at any time.
pub type Gauge = Arc<dyn Fn() -> String + Send + Sync>;

/// A saved state's bytes, in parts: a machine whose state is mostly memory
/// it already holds (pages) hands those out instead of copying them, so a
/// save costs the host a little bookkeeping, not a second copy of the
/// machine. The parts are sent one after the other.
#[derive(Default)]
pub struct StateBytes {
    parts: Vec<StatePart>,
    len: usize,
}

/// One part of a [`StateBytes`].
pub type StatePart = Box<dyn AsRef<[u8]> + Send>;

impl StateBytes {
    /// No bytes yet.
    pub fn new() -> StateBytes {
        StateBytes::default()
    }

    /// Appends `part` (an owned buffer, or a handle on bytes that stay unchanged while it lives).
    pub fn push(&mut self, part: impl AsRef<[u8]> + Send + 'static) {
        self.len += part.as_ref().len();
        self.parts.push(Box::new(part));
    }

    /// The bytes in all.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The parts, in order.
    pub fn parts(&self) -> impl Iterator<Item = &[u8]> {
        self.parts.iter().map(|p| p.as_ref().as_ref())
    }

    /// The parts, to send one after the other.
    pub fn into_parts(self) -> std::collections::VecDeque<StatePart> {
        self.parts.into()
    }

    /// The bytes as one buffer (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len);
        self.parts().for_each(|p| all.extend_from_slice(p));
        all
    }
}

impl From<Vec<u8>> for StateBytes {
    fn from(bytes: Vec<u8>) -> StateBytes {
        let mut state = StateBytes::new();
        state.push(bytes);
        state
    }
}

/// Why a [`Machine`] call failed. The message is the machine's own,
/// complete sentence (the host prints it as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineError {
    /// The program stopped on a trap (`trap: integer divide by zero at …`).
    Trap(String),
    /// The machine cannot save its state now (it ended, say).
    CannotSave(String),
    /// A state given to [`Machine::restore`] was refused: what is wrong, and where.
    BadState(String),
}

impl MachineError {
    /// The message, without its kind.
    pub fn message(&self) -> &str {
        match self {
            MachineError::Trap(m) | MachineError::CannotSave(m) | MachineError::BadState(m) => m,
        }
    }
}

impl std::fmt::Display for MachineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for MachineError {}

/// Lower-case hex of `bytes`: program hashes, instance ids, leases.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
