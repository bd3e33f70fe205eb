//! The smallest machine a host can run: it counts. Each step adds
//! one to the count, prints it on a line, and ends the program with a chosen
//! status once the count reaches the limit, or else sleeps for the period. The `hv-counter` binary
//! runs it under the host, so the hypervisor's own tests need no other
//! machine, and it shows what implementing [`Machine`] takes.
//!
//! Its state is 20 bytes: `CNT1`, the count (u64) and the sleep still owed
//! in microseconds (u64), little-endian.

use crate::{Interrupt, Machine, MachineError, Stopped};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const MAGIC: &[u8; 4] = b"CNT1";
/// The size of a counter state.
pub const STATE_LEN: usize = 20;

/// A counter printing to `W`.
pub struct Counter<W: Write> {
    count: u64,
    limit: Option<u64>,
    period: Duration,
    owed: Duration,
    exit_status: u8,
    max_state: usize,
    line: Arc<Interrupt>,
    out: W,
}

impl<W: Write> Counter<W> {
    /// A counter at `start` that prints `start + 1` first.
    pub fn new(start: u64, period: Duration, limit: Option<u64>, exit_status: u8, out: W) -> Self {
        let line = Arc::default();
        Counter { count: start, limit, period, owed: Duration::ZERO, exit_status, max_state: STATE_LEN, line, out }
    }

    /// Declares a larger largest state than the counter's 20 bytes: the
    /// control port then reads payloads up to `max` bytes (and the counter
    /// refuses them), which is how the tests exercise the port's payload limits.
    pub fn with_max_state(mut self, max: usize) -> Self {
        self.max_state = max.max(STATE_LEN);
        self
    }

    /// The last value printed.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<W: Write> Machine for Counter<W> {
    fn kind(&self) -> &'static str {
        "hv-counter"
    }

    fn interrupt_line(&self) -> Arc<Interrupt> {
        Arc::clone(&self.line)
    }

    fn run(&mut self) -> Result<Stopped, MachineError> {
        loop {
            // The instruction boundaries: before a step, and anywhere in a sleep.
            if self.line.is_raised() {
                return Ok(Stopped::Interrupted);
            }
            if !self.owed.is_zero() {
                self.owed = self.line.sleep(self.owed);
                if !self.owed.is_zero() {
                    return Ok(Stopped::Interrupted);
                }
                continue;
            }
            self.count += 1;
            writeln!(self.out, "{}", self.count)
                .and_then(|()| self.out.flush())
                .map_err(|e| MachineError::Trap(format!("counter: output failed: {e}")))?;
            if self.limit.is_some_and(|limit| self.count >= limit) {
                return Ok(Stopped::Exited(self.exit_status));
            }
            self.owed = self.period;
        }
    }

    fn save(&mut self) -> Result<crate::StateBytes, MachineError> {
        let mut state = Vec::with_capacity(STATE_LEN);
        state.extend_from_slice(MAGIC);
        state.extend_from_slice(&self.count.to_le_bytes());
        state.extend_from_slice(&(self.owed.as_micros() as u64).to_le_bytes());
        Ok(state.into())
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), MachineError> {
        if state.len() != STATE_LEN {
            return Err(MachineError::BadState(format!(
                "state byte 0: a counter state is {STATE_LEN} bytes, not {}",
                state.len()
            )));
        }
        if &state[..4] != MAGIC {
            return Err(MachineError::BadState("state byte 0: not a counter state (no CNT1 magic)".into()));
        }
        let word = |at: usize| u64::from_le_bytes(state[at..at + 8].try_into().expect("8 bytes"));
        self.count = word(4);
        self.owed = Duration::from_micros(word(12));
        Ok(())
    }

    fn max_state_len(&self) -> usize {
        self.max_state
    }

    fn position(&self) -> String {
        format!("count={}", self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_to_its_limit_and_round_trips_its_state() {
        let mut counter = Counter::new(5, Duration::ZERO, Some(8), 7, Vec::new());
        assert_eq!(counter.run(), Ok(Stopped::Exited(7)));
        assert_eq!(String::from_utf8(counter.out.clone()).unwrap(), "6\n7\n8\n");
        let state = counter.save().unwrap().to_vec();
        assert_eq!(state, b"CNT1\x08\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        let mut other = Counter::new(0, Duration::ZERO, None, 0, Vec::new());
        other.restore(&state).unwrap();
        assert_eq!(other.count(), 8);
        assert_eq!(
            other.restore(&state[..19]),
            Err(MachineError::BadState("state byte 0: a counter state is 20 bytes, not 19".into()))
        );
    }
}
