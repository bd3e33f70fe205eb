//! The Manda machine as a [`vm_core::Machine`]: `manda run` runs under the
//! same host as `mova run` (control port, leases, registry, signals, exit
//! status), and saves and restores snapshots (`docs/manda/snapshot.md`) for
//! `hv sstate`, `hv rstate` and `hv migrate`.

use crate::machine::{Machine, OwedPages, Pager, Received};
use std::sync::Arc;
use vm_core::{Interrupt, MachineError, Stopped};

impl vm_core::Machine for Machine {
    fn kind(&self) -> &'static str {
        "manda"
    }

    fn interrupt_line(&self) -> Arc<Interrupt> {
        self.interrupt()
    }

    fn run(&mut self) -> Result<Stopped, MachineError> {
        Machine::run(self).map_err(|trap| MachineError::Trap(format!("trap: {trap}")))
    }

    fn save(&mut self) -> Result<vm_core::StateBytes, MachineError> {
        Machine::save_state(self).map_err(MachineError::CannotSave)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), MachineError> {
        Machine::restore(self, state).map_err(|e| MachineError::BadState(e.to_string()))
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

    fn gauge(&self) -> Option<vm_core::Gauge> {
        let gauges = self.gauges.clone();
        Some(Arc::new(move || gauges.show()))
    }

    fn precopy_round(&mut self) -> Option<u64> {
        // Pages still arriving: nothing to send ahead, and the state as a whole says why it cannot go.
        if self.pages_owed().is_some() {
            return None;
        }
        Some(Machine::precopy_round(self).bytes)
    }

    fn precopy_chunk(&mut self, budget: usize) -> Option<Vec<u8>> {
        Machine::precopy_chunk(self, budget)
    }

    fn precopy_finish(&mut self) -> Result<vm_core::StateBytes, MachineError> {
        Machine::precopy_finish(self).map_err(MachineError::CannotSave)
    }

    fn precopy_abandon(&mut self) {
        Machine::precopy_abandon(self)
    }

    fn postcopy_finish(&mut self, budget: usize) -> Option<Result<vm_core::Postcopy, MachineError>> {
        let stop = Machine::postcopy_finish(self, budget).map_err(MachineError::CannotSave);
        Some(stop.map(|stop| vm_core::Postcopy {
            directory: stop.directory,
            state: stop.state,
            pages: Box::new(stop.pages),
        }))
    }

    fn owed_pages(&self) -> Option<Arc<dyn vm_core::PageSink>> {
        self.pages_owed().map(|pager| pager.clone() as Arc<dyn vm_core::PageSink>)
    }

    fn precopy_owe(&mut self) -> bool {
        Machine::precopy_owe(self);
        true
    }

    fn receiver(&self) -> Result<Option<Box<dyn vm_core::Receiver>>, MachineError> {
        let received = Machine::receiver(self).map_err(|e| MachineError::BadState(e.reason))?;
        Ok(Some(Box::new(received)))
    }

    fn restore_received(
        &mut self,
        state: &[u8],
        received: Option<Box<dyn vm_core::Receiver>>,
    ) -> Result<(), MachineError> {
        let bad = |e: crate::machine::SnapshotError| MachineError::BadState(e.to_string());
        match received.map(|r| r.into_any().downcast::<Received>()) {
            None => Machine::restore(self, state).map_err(bad),
            Some(Ok(received)) => Machine::restore_received(self, state, *received).map_err(bad),
            Some(Err(_)) => Err(MachineError::BadState("pages received for another kind of machine".into())),
        }
    }

    fn position(&self) -> String {
        format!("pc={:#x} steps={} contexts={}", self.pc(), self.steps(), self.contexts().count())
    }
}

impl vm_core::Receiver for Received {
    fn apply(&mut self, chunk: &[u8]) -> Result<(), MachineError> {
        Received::apply(self, chunk)
            .map_err(|e| MachineError::BadState(format!("pages byte {}: {}", e.offset, e.reason)))
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl vm_core::PageSource for OwedPages {
    fn count(&self) -> u64 {
        OwedPages::count(self)
    }

    fn owed(&self) -> u64 {
        OwedPages::owed(self)
    }

    fn append(&self, index: u64, out: &mut Vec<u8>) -> Result<bool, String> {
        OwedPages::append(self, index, out)
    }
}

impl vm_core::PageSink for Pager {
    fn left(&self) -> u64 {
        Pager::left(self)
    }

    fn fill(&self, chunk: &[u8]) -> Result<(), MachineError> {
        Pager::fill(self, chunk)
            .map_err(|e| MachineError::BadState(format!("owed pages byte {}: {}", e.offset, e.reason)))
    }

    fn wanted(&self) -> Vec<u64> {
        Pager::wanted(self)
    }

    fn lose(&self, why: &str) {
        Pager::lose(self, why)
    }

    fn lost(&self) -> Option<String> {
        Pager::lost(self)
    }
}
