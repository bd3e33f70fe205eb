//! # The hypervisor
//!
//! The seed's hypervisor, written once for every machine:
//!
//! - the **host** ([`host::run`], [`host::serve`]) runs a [`Machine`] in a VM
//!   process beside its control port (`listener.rs`, one event-loop thread),
//!   registers the process in the runtime directory ([`registry`]), grants
//!   the lease that makes one client at a time the VM's controller, ends
//!   gracefully on signals, and maps how the program ended to an exit status;
//! - the **IPC component** ([`Client`], [`protocol`]) and the **CLI
//!   executor** (the `hv` binary) interrupt, save, restore, resume, kill and
//!   [`migrate`] VMs named by PID or `HOST:PORT`, and [`recover`] settles
//!   the migrations a crashed controller left behind ([`migration`]).
//!
//! A machine plugs in by implementing [`Machine`]: stop at an instruction
//! boundary when its [`Interrupt`] line rises, write its state as bytes, and
//! continue from such bytes. [`counter::Counter`] is the smallest one.

#![warn(missing_docs)]

#[cfg(feature = "args")]
pub mod cli;
mod client;
pub mod counter;
pub mod fakes;
pub mod host;
mod interrupt;
mod listener;
pub mod migration;
pub mod netns;
pub mod protocol;
pub mod registry;

pub use client::{resolve, Client, HvError, Progress};
pub use interrupt::Interrupt;
pub use migration::{migrate, migrate_with_progress, recover};
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
    /// message, printed as is.
    fn run(&mut self) -> Result<Stopped, String>;
    /// The current state, serialized; `Err` if this machine cannot save
    /// (yet). `&mut`: a machine that hands out pieces it holds rather than
    /// copies ([`StateBytes::push`]) may need to mark them shared first.
    fn save(&mut self) -> Result<StateBytes, String>;
    /// Replaces the state with `state` (untrusted bytes); unchanged on error.
    fn restore(&mut self, state: &[u8]) -> Result<(), String>;
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
pub(crate) type StatePart = Box<dyn AsRef<[u8]> + Send>;

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
    pub(crate) fn into_parts(self) -> std::collections::VecDeque<StatePart> {
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

/// Lower-case hex of `bytes`: program hashes in the registry, instance ids, leases.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `bytes` random bytes from the OS, as hex: instance ids and leases.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let mut filled = 0;
    while filled < bytes {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), bytes - filled, 0) };
        match n {
            n if n > 0 => filled += n as usize,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            // getrandom(2) fails only before the kernel's pool is ready at boot; an instance id
            // must still be unique, so fall back to time and pid rather than fail.
            _ => {
                let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                let mix = seed.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32);
                for (i, b) in buf[filled..].iter_mut().enumerate() {
                    *b = (mix.rotate_left(i as u32 * 8) as u8) ^ (i as u8).wrapping_mul(151);
                }
                filled = bytes;
            }
        }
    }
    hex(&buf)
}
