//! The Manda machine as a machine the hypervisor hosts: `manda run` runs
//! under the same host as `mova run` (control port, leases, registry,
//! signals, exit status), and saves and restores snapshots
//! (`docs/manda/snapshot.md`) for `hv sstate`, `hv rstate` and `hv migrate`.

use crate::machine::{Machine, Outcome};
use hypervisor::{Interrupt, Stopped};
use std::sync::Arc;

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

    fn save(&mut self) -> Result<hypervisor::StateBytes, String> {
        Machine::save_state(self)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        Machine::restore(self, state).map_err(|e| e.to_string())
    }

    /// What the largest snapshot within this machine's limits could be:
    /// every byte of memory it may hold twice over (a page's bytes, or a
    /// context's registers and frames, which the meter counts at about
    /// their size), the queued messages, and the fixed parts.
    fn max_state_len(&self) -> usize {
        let config = self.config();
        let max = config.max_memory.saturating_mul(2).saturating_add(config.max_port_bytes).saturating_add(1 << 20);
        usize::try_from(max).unwrap_or(usize::MAX)
    }

    fn gauge(&self) -> Option<hypervisor::Gauge> {
        let gauges = self.gauges.clone();
        Some(Arc::new(move || gauges.show()))
    }

    fn position(&self) -> String {
        format!("pc={:#x} steps={} contexts={}", self.pc(), self.steps(), self.contexts().count())
    }
}
