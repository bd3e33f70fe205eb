//! # vm-host: the hypervisor's library
//!
//! The seed's hypervisor, written once for every machine (`vm_core::Machine`):
//!
//! - the **host** ([`host::run`], [`host::serve`]) runs a machine in a VM
//!   process beside its control port (`listener.rs`, one event-loop thread),
//!   registers the process in the runtime directory ([`registry`]), grants
//!   the lease that makes one client at a time the VM's controller, ends
//!   gracefully on signals, and maps how the program ended to an exit status;
//! - the **IPC component** ([`Client`], [`protocol`]), on which the `hv`
//!   program is built, interrupts, saves, restores, resumes, kills and
//!   [`migrate`]s VMs named by PID or `HOST:PORT`, and [`recover`] settles
//!   the migrations a crashed controller left behind ([`migration`]);
//! - the **state stream** (`transfer.rs`): a source VM sends its state
//!   straight to the target — pre-copy rounds while the program runs, then
//!   the rest at the stop — over a connection `hv` authorises and never
//!   carries;
//! - **TLS** ([`tls`]): connections that leave the host run under TLS 1.3
//!   with certificates both ways;
//! - **where a fleet plugs in**: a VM keeps an entry in a fleet's registry
//!   through [`host::Fleet`], and a migration is recorded in a
//!   [`migration::Ledger`] — the runtime directory by default, a fleet's
//!   etcd in the `vm-cluster` crate, which this one does not depend on.
//!
//! A machine plugs in by implementing [`vm_core::Machine`]: stop at an
//! instruction boundary when its interrupt line rises, write its state as
//! bytes, and continue from such bytes (and, to move live, send its pages
//! ahead in rounds and take them ahead of its state). Nothing here knows a machine's
//! instructions or formats, and no machine depends on this crate: the
//! command-line programs (the `cli` crate) put the two together.

#![warn(missing_docs)]

mod client;
mod exchange;
pub mod files;
pub mod host;
mod lease;
mod limits;
mod listener;
pub mod migration;
pub mod protocol;
pub mod registry;
pub mod tls;
mod transfer;

pub use client::{resolve, Client, HvError, Progress};
pub use migration::{migrate, migrate_in, migrate_with, recover, recover_in, MigrateOptions, Moved, Watch};
use vm_core::hex;

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
