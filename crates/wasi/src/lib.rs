//! WASI preview 1 for Manda: the system a WebAssembly program sees.
//!
//! The translator turns each import of `wasi_snapshot_preview1` into one
//! Manda `wasi` instruction naming the function by its number in
//! [`abi::FUNCTIONS`]; the machine runs it by calling [`Wasi::call`] with
//! the arguments and a [`Guest`] — the program's linear memory, standard
//! input and output, and the machine's clock.
//!
//! Nothing of the host is reachable unless granted ([`Grants`]): the
//! directories given with `--dir` are opened when the machine starts and
//! every path a program names is resolved under one of them by cap-std,
//! component by component with `openat` (never by string checks), so
//! `..` past the root, an absolute path or a symbolic link that leads out
//! is refused with `notcapable`, and a rename racing the resolution cannot
//! widen it. The environment is the variables given with `--env`.
//!
//! What a program was granted and what it has open is part of its state:
//! [`Wasi::save`] writes the descriptor table (each file's directory,
//! path, offset, flags, rights and identity), the arguments and the
//! environment, and [`Wasi::restore`] re-opens every file under the
//! target's own grants — or refuses before anything runs.

pub mod abi;
mod calls;
mod fds;
mod state;

pub use abi::{Call, Errno, Function, Ty, FUNCTIONS, MAX_PARAMS};
pub use fds::Wasi;
pub use state::RestoreError;

use std::path::PathBuf;
use std::time::Duration;

/// One directory a program may reach: `--dir HOST[::GUEST]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on this host.
    pub host: PathBuf,
    /// The name the program sees it by (`HOST` itself when not given).
    pub guest: String,
}

impl Preopen {
    /// Parses `HOST[::GUEST]`, as wasmtime spells it.
    pub fn parse(spec: &str) -> Preopen {
        match spec.split_once("::") {
            Some((host, guest)) => Preopen { host: PathBuf::from(host), guest: guest.to_string() },
            None => Preopen { host: PathBuf::from(spec), guest: spec.to_string() },
        }
    }
}

/// What a program is granted: its arguments (the program name first),
/// its environment, and the directories it may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// `argv`, the program name first.
    pub args: Vec<Vec<u8>>,
    /// `NAME=VALUE` strings.
    pub env: Vec<Vec<u8>>,
    /// The preopened directories, given descriptors 3, 4, … in this order.
    pub dirs: Vec<Preopen>,
}

/// Why the grants could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A `--dir` could not be opened.
    #[error("--dir {path}: {source}")]
    Dir {
        /// The directory as given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An `--env` without `=`.
    #[error("--env {0}: expected NAME=VALUE")]
    Env(String),
}

/// What a WASI call gives the machine back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// It returned this errno.
    Return(Errno),
    /// `proc_exit`: the machine ends with this status.
    Exit(u32),
    /// `poll_oneoff` waits this long for a clock (its events are already
    /// written), then returns success: the machine parks the context.
    Sleep(Duration),
}

/// A call the machine cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadCall {
    /// No function has this number.
    #[error("no WASI function has number {0}")]
    Number(u8),
    /// Fewer argument values than the function takes.
    #[error("WASI {name} takes {needs} arguments")]
    Arguments {
        /// The function.
        name: &'static str,
        /// How many it takes.
        needs: usize,
    },
}

/// What the machine lends a call: the program's linear memory (offsets
/// are the program's pointers), its standard streams and its clock.
pub trait Guest {
    /// The linear memory's size in bytes.
    fn memory_size(&self) -> u64;
    /// Copies the bytes at `offset` into `buf`; `false` if they are not all in the memory.
    fn read_memory(&mut self, offset: u64, buf: &mut [u8]) -> bool;
    /// Copies `bytes` to `offset`; `false` (nothing written) if they do not all fit.
    fn write_memory(&mut self, offset: u64, bytes: &[u8]) -> bool;
    /// Writes to standard output (`fd` 1) or error (2), as a write: the bytes reach the reader now.
    fn write_output(&mut self, fd: u32, bytes: &[u8]) -> std::io::Result<()>;
    /// Reads from standard input (0 at its end).
    fn read_input(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
    /// Nanoseconds on the machine's monotonic clock (which a migration carries on).
    fn monotonic_ns(&self) -> u64;
}
