//! Message ports: queues of byte messages, machine-wide, each behind its
//! own lock. A context whose `precv` finds its port empty parks *in the
//! port* (`waiters`), owning nothing else; the system instructions
//! (`system.rs`) send, receive, close and wake.

use super::memory::Meter;
use super::trap::TrapKind;
use super::{Context, MESSAGE_OVERHEAD};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// A message port.
#[derive(Default)]
pub(super) struct Port {
    pub(super) queue: VecDeque<Vec<u8>>,
    pub(super) closed: bool,
    pub(super) waiters: VecDeque<Box<Context>>,
}

/// Ports by id, in chunks of doubling size that never move, so that
/// finding a port takes no lock: only `pnew` takes one, to append.
pub(super) struct Ports {
    chunks: [OnceLock<Box<[Mutex<Port>]>>; CHUNKS],
    len: AtomicU64,
    append: Mutex<()>,
    /// Bytes queued, [`MESSAGE_OVERHEAD`] more for each message, against `max_port_bytes`.
    pub(super) queued: AtomicU64,
}

const CHUNKS: usize = 32;
const FIRST_CHUNK_BITS: u32 = 6;

impl Default for Ports {
    fn default() -> Ports {
        Ports {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            len: AtomicU64::new(0),
            append: Mutex::new(()),
            queued: AtomicU64::new(0),
        }
    }
}

/// The chunk and the index in it of port `id`: chunk k holds 64 << k ports.
fn locate(id: u64) -> (usize, usize) {
    let n = id + (1 << FIRST_CHUNK_BITS);
    let chunk = n.ilog2() - FIRST_CHUNK_BITS;
    (chunk as usize, (n - (1 << (chunk + FIRST_CHUNK_BITS))) as usize)
}

impl Ports {
    /// Port `id`, if `pnew` made it.
    pub(super) fn get(&self, id: u64) -> Result<&Mutex<Port>, TrapKind> {
        if id >= self.len.load(Ordering::Acquire) {
            return Err(TrapKind::BadPort(id as i64));
        }
        let (chunk, index) = locate(id);
        Ok(&self.chunks[chunk].get().expect("made before `len` counted it")[index])
    }

    /// A new port's id, unless there are `max` already. A chunk of ports is
    /// charged to `meter` as a whole when it is made (its ports are made
    /// ahead of `pnew`, and kept for the machine's life).
    pub(super) fn push(&self, max: u32, meter: &Meter) -> Result<u64, TrapKind> {
        let _append = self.append.lock().unwrap_or_else(PoisonError::into_inner);
        let id = self.len.load(Ordering::Relaxed);
        if id >= u64::from(max) {
            return Err(TrapKind::TooManyPorts(max));
        }
        let (chunk, _) = locate(id);
        if self.chunks[chunk].get().is_none() {
            let ports = 1usize << (chunk as u32 + FIRST_CHUNK_BITS);
            meter.charge((ports * std::mem::size_of::<Mutex<Port>>()) as u64)?;
            self.chunks[chunk].get_or_init(|| (0..ports).map(|_| Mutex::default()).collect());
        }
        self.len.store(id + 1, Ordering::Release);
        Ok(id)
    }

    /// Every port made so far.
    pub(super) fn all(&self) -> impl Iterator<Item = &Mutex<Port>> {
        (0..self.len.load(Ordering::Acquire)).filter_map(|id| self.get(id).ok())
    }

    /// Runs `f` on port `id` under its lock.
    pub(super) fn with<T>(&self, id: u64, f: impl FnOnce(&mut Port) -> T) -> Result<T, TrapKind> {
        let mut port = self.get(id)?.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(f(&mut port))
    }

    /// Parks `ctx` on port `id`, unless a message or the close arrived
    /// since its `precv` looked: then it comes back, to run the `precv` again.
    pub(super) fn park(&self, id: u64, mut ctx: Box<Context>) -> Option<Box<Context>> {
        let Ok(port) = self.get(id) else { return Some(ctx) };
        let mut port = port.lock().unwrap_or_else(PoisonError::into_inner);
        if !port.queue.is_empty() || port.closed {
            return Some(ctx);
        }
        ctx.waiting_on = Some(id);
        port.waiters.push_back(ctx);
        None
    }

    /// Every port's state and queued messages, by id (for a snapshot).
    pub(super) fn snapshot(&self) -> Vec<(bool, Vec<Vec<u8>>)> {
        self.all()
            .map(|port| {
                let port = port.lock().unwrap_or_else(PoisonError::into_inner);
                (port.closed, port.queue.iter().cloned().collect())
            })
            .collect()
    }

    /// Ports holding `ports` (closed flags and queued messages), the
    /// messages charged to `meter`.
    pub(super) fn restored(ports: Vec<(bool, Vec<Vec<u8>>)>, meter: &Meter, max: u32) -> Result<Ports, TrapKind> {
        let table = Ports::default();
        for (closed, messages) in ports {
            let id = table.push(max, meter)?;
            let cost: u64 = messages.iter().map(|m| m.len() as u64 + MESSAGE_OVERHEAD).sum();
            meter.charge(cost)?;
            table.queued.fetch_add(cost, Ordering::Relaxed);
            let mut port = table.get(id)?.lock().unwrap_or_else(PoisonError::into_inner);
            port.closed = closed;
            port.queue = messages.into();
        }
        Ok(table)
    }

    /// Takes every parked context out (for a stop or a deadlock report).
    #[allow(clippy::vec_box)] // contexts move between queues, ports and workers: a pointer each
    pub(super) fn take_waiters(&self) -> Vec<Box<Context>> {
        let mut all = Vec::new();
        for port in self.all() {
            all.extend(port.lock().unwrap_or_else(PoisonError::into_inner).waiters.drain(..));
        }
        all
    }
}
