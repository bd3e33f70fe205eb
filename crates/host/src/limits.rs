//! The control port's time limits and sizes, which the VM thread and the
//! listener both keep to.

use std::time::Duration;

/// Time limits and sizes of the control port.
#[derive(Debug, Clone)]
pub struct Limits {
    /// For `auth` after connecting, for the rest of a started line or payload,
    /// and for a client to read its reply.
    pub io_timeout: Duration,
    /// How long an authenticated connection may sit between requests.
    pub idle_timeout: Duration,
    /// How long a request waits for the machine to reach an instruction
    /// boundary; only a machine blocked outside the interpreter (writing
    /// to a full pipe) takes long.
    pub stop_timeout: Duration,
    /// Idle time after which another client may take a lease over.
    pub lease_timeout: Duration,
    /// Open control connections at once; more are refused with `ERR busy`.
    pub max_connections: usize,
    /// Payload bytes being received at once, over all connections (at
    /// least the machine's largest state).
    pub payload_budget: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            io_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(10),
            lease_timeout: Duration::from_secs(60),
            max_connections: 512,
            payload_budget: 4 << 20,
        }
    }
}
