//! What a machine's worker threads share while they run its contexts, and
//! what each keeps to itself: the scheduler's data. The scheduling itself
//! (`sched.rs`) and the instructions that ask it for something (a fork, a
//! wake-up; `interp.rs`, `system.rs`) all build on these types, so none of
//! them depends on another for them.

use super::code::Code;
use super::memory::Meter;
use super::ports::Ports;
use super::trap::Trap;
use super::{Config, Context, Io};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// What the scheduler's `run` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Run until the machine ends or is interrupted.
    Run,
    /// Run one instruction of the lowest-numbered context that can run.
    Step,
}

/// How the scheduler's `run` ended.
pub(super) enum End {
    /// Interrupted, or one step done: every context is back in the machine.
    Stopped,
    /// Every context halted (0), or one ran `exit`.
    Exit(u8),
    /// A trap, or a deadlock.
    Trap(Trap),
}

/// The scheduler's state, under one lock.
pub(super) struct State {
    pub(super) queue: VecDeque<Box<Context>>,
    pub(super) sleepers: BinaryHeap<Sleeper>,
    /// Orders sleepers with the same deadline by when they slept.
    pub(super) sleep_seq: u64,
    /// Workers holding a context (running one, or with one in their next slot).
    pub(super) busy: usize,
    /// Workers waiting for work on `wake`.
    pub(super) idle: usize,
    /// Workers looking for work without the lock, before they wait.
    pub(super) spinning: usize,
    pub(super) stopping: bool,
    pub(super) end: Option<End>,
    /// Contexts handed back by workers that stopped.
    #[allow(clippy::vec_box)] // contexts move between queues, ports and workers: a pointer each
    pub(super) parked: Vec<Box<Context>>,
    /// Steps not yet handed to a worker.
    pub(super) fuel: u64,
    /// Workers holding steps taken from `fuel` (`Local::fuel` above 0 when
    /// last they took the lock).
    pub(super) fuel_holders: usize,
    /// Workers waiting in `Workers::refuel` for the others to return theirs.
    pub(super) fuel_waiters: usize,
}

impl State {
    /// Puts `ctx` to sleep until `deadline`, after those due sooner or as soon.
    pub(super) fn push_sleeper(&mut self, ctx: Box<Context>, deadline: Instant) {
        self.sleep_seq += 1;
        self.sleepers.push(Sleeper { deadline, seq: self.sleep_seq, ctx });
    }
}

pub(super) struct Sleeper {
    pub(super) deadline: Instant,
    pub(super) seq: u64,
    pub(super) ctx: Box<Context>,
}

impl PartialEq for Sleeper {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Sleeper {}
impl PartialOrd for Sleeper {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Sleeper {
    /// The earliest deadline is the greatest: `BinaryHeap` pops it first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

/// What the interrupt line's waker reaches.
pub(super) struct Core {
    /// Up while the machine is stopping: read by the interpreter when a
    /// time slice ends, and by the workers between contexts.
    pub(super) attention: AtomicBool,
    /// The run queue's length, for workers that look without the lock.
    pub(super) queued: AtomicUsize,
    /// Contexts not halted: the machine's gauge, which another thread may read.
    pub(super) gauges: Arc<super::Gauges>,
    /// Workers idle or spinning: a worker with contexts to spare shares them.
    pub(super) hungry: AtomicUsize,
    /// Contexts among the sleepers.
    pub(super) sleeping: AtomicUsize,
    /// A worker ran out of steps while others hold some: each returns what
    /// it holds before its next run (read where runs are charged).
    pub(super) fuel_wanted: AtomicBool,
    pub(super) state: Mutex<State>,
    pub(super) wake: Condvar,
}

impl Core {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the machine (first caller's `end` wins).
    pub(super) fn stop(&self, state: &mut State, end: Option<End>) {
        if state.end.is_none() {
            state.end = end;
        }
        state.stopping = true;
        self.attention.store(true, Ordering::Relaxed);
        self.wake.notify_all();
    }
}

/// What one worker thread keeps to itself.
pub(super) struct Local {
    /// The context to run when the current one stops (a receiver it woke).
    pub(super) next: Option<Box<Context>>,
    /// Runnable contexts this worker made (forks, displaced wake-ups): run
    /// here without a lock, and shared with the queue when another worker
    /// has nothing to do.
    pub(super) queue: VecDeque<Box<Context>>,
    /// Switches since the shared queue was looked at first.
    pub(super) switches: u32,
    /// Steps taken from the budget, not yet executed.
    pub(super) fuel: u64,
    /// Counted in `State::fuel_holders` (always, while `fuel` is above 0).
    pub(super) holds_fuel: bool,
    /// Transfers of control left in the current context's slice.
    pub(super) slice: u32,
}

impl Local {
    /// Every context this worker holds besides the one it runs.
    pub(super) fn take_all(&mut self) -> impl Iterator<Item = Box<Context>> + '_ {
        self.next.take().into_iter().chain(self.queue.drain(..))
    }
}

/// Everything the workers share during one run.
pub(super) struct Workers<'m> {
    pub(super) code: &'m Code,
    pub(super) config: &'m Config,
    pub(super) meter: &'m Arc<Meter>,
    pub(super) io: Mutex<&'m mut Io>,
    pub(super) args: &'m [Vec<u8>],
    pub(super) wasi: &'m Mutex<manda_wasi::Wasi>,
    pub(super) ports: &'m Ports,
    pub(super) core: Arc<Core>,
    pub(super) next_id: AtomicU64,
    pub(super) started: Instant,
    pub(super) mode: Mode,
    pub(super) tracing: bool,
    /// A `psend` may complete a parked receiver's `precv` itself: not while
    /// steps are counted or traced, where every instruction must run in its own context.
    pub(super) hand_off: bool,
    /// The compiled tier, when this run uses it (not metered, not traced,
    /// not single steps, and Cranelift has a backend here).
    pub(super) jit: Option<&'m super::jit::Jit>,
}
