//! The Mova VM as a [`vm_core::Machine`]: what a host (the `vm-host` crate's
//! control port, or a program embedding Mova) drives.

use crate::state::MAX_STATE_LEN;
use crate::vm::{Exit, Trap, TrapKind, Vm};
use std::io::Write;
use std::sync::Arc;
use vm_core::{Interrupt, Machine, MachineError, Stopped};

impl<W: Write> Machine for Vm<W> {
    fn kind(&self) -> &'static str {
        "mova"
    }

    fn interrupt_line(&self) -> Arc<Interrupt> {
        Vm::interrupt_line(self)
    }

    fn run(&mut self) -> Result<Stopped, MachineError> {
        match Vm::run(self) {
            // Mova has no exit status: falling off the end is a clean end.
            Ok(Exit::Halted) => Ok(Stopped::Exited(0)),
            // A limit reached is a trap in both machines: the program did not end by itself.
            Ok(Exit::StepLimit) => {
                let ip = self.ip();
                let opcode = self.program().instrs()[ip as usize].opcode();
                Err(MachineError::Trap(Trap { ip, opcode, kind: TrapKind::StepLimit(self.steps()) }.to_string()))
            }
            Ok(Exit::Interrupted) => Ok(Stopped::Interrupted),
            Err(trap) => Err(MachineError::Trap(trap.to_string())),
        }
    }

    fn save(&mut self) -> Result<vm_core::StateBytes, MachineError> {
        Ok(self.save_state().encode().into())
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), MachineError> {
        self.restore_state(state).map_err(|e| MachineError::BadState(e.to_string()))
    }

    fn max_state_len(&self) -> usize {
        MAX_STATE_LEN
    }

    fn position(&self) -> String {
        let top = self.stack().last().map_or_else(|| "empty".to_string(), i64::to_string);
        format!("ip={} top={top}", self.ip())
    }
}

/// Hex SHA-256 of a VM's program, as the registry records it.
pub fn hash_hex<W: Write>(vm: &Vm<W>) -> String {
    vm_core::hex(vm.program_hash())
}
