//! The Manda machine as a machine the hypervisor hosts: `manda run` runs
//! under the same host as `mova run` (control port, leases, registry,
//! signals, exit status). Saving and restoring wait for Manda's snapshot
//! format; until then both are refused with a clear `ERR`.

use crate::machine::{Machine, Outcome};
use hypervisor::{Interrupt, Stopped};
use std::sync::Arc;

/// Why `save` and `restore` are refused.
pub const NO_SNAPSHOTS: &str = "this version of Manda cannot save or restore a machine's state (snapshots are not \
                                 implemented yet); interrupt, resume and kill work";

impl hypervisor::Machine for Machine {
    fn kind(&self) -> &'static str {
        "manda"
    }

    fn interrupt_line(&self) -> Arc<Interrupt> {
        self.interrupt()
    }

    fn run(&mut self) -> Result<Stopped, String> {
        match Machine::run(self) {
            Ok(Outcome::Exited(status)) => Ok(Stopped::Exited(status)),
            Ok(Outcome::Interrupted) => Ok(Stopped::Interrupted),
            Err(trap) => Err(format!("trap: {trap}")),
        }
    }

    fn save(&self) -> Result<Vec<u8>, String> {
        Err(NO_SNAPSHOTS.into())
    }

    fn restore(&mut self, _state: &[u8]) -> Result<(), String> {
        Err(NO_SNAPSHOTS.into())
    }

    fn max_state_len(&self) -> usize {
        0
    }

    fn position(&self) -> String {
        format!("pc={:#x} steps={} contexts={}", self.pc(), self.steps(), self.contexts().count())
    }
}

/// Hex SHA-256 of an executable's bytes: the program's identity in the registry.
pub fn hash_hex(executable: &[u8]) -> String {
    use sha2::Digest;
    hypervisor::hex(&sha2::Sha256::digest(executable))
}
