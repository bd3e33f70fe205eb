//! The Mova VM as a machine the hypervisor controls.

use crate::vm::{Exit, Vm};
use hypervisor::{Machine, Stopped};
use std::io::Write;
use std::sync::Arc;

impl<W: Write> Machine for Vm<W> {
    fn kind(&self) -> &'static str {
        "mova"
    }

    fn interrupter(&self) -> Arc<dyn Fn() + Send + Sync> {
        let handle = self.interrupt_handle();
        Arc::new(move || handle.interrupt())
    }

    fn clear_interrupt(&mut self) {
        self.interrupt_handle().clear();
    }

    fn run(&mut self) -> Result<Stopped, String> {
        match Vm::run(self) {
            Ok(Exit::Halted) => Ok(Stopped::Halted),
            Ok(Exit::StepLimit) => Ok(Stopped::StepLimit),
            Ok(Exit::Interrupted) => Ok(Stopped::Interrupted),
            Err(trap) => Err(trap.to_string()),
        }
    }

    fn save(&self) -> Vec<u8> {
        self.save_state().encode()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        self.restore_state(state).map_err(|e| e.to_string())
    }

    fn position(&self) -> String {
        let top = self.stack().last().map_or_else(|| "empty".to_string(), i64::to_string);
        format!("ip={} top={top}", self.ip())
    }
}

/// Hex SHA-256 of a VM's program, as the registry records it.
pub fn hash_hex<W: Write>(vm: &Vm<W>) -> String {
    vm.program_hash().iter().map(|b| format!("{b:02x}")).collect()
}
