//! The scheduler: a machine's contexts multiplexed on a pool of OS threads.
//!
//! Every live context is in exactly one place: run by a worker thread, in
//! a worker's *next* slot or local queue, in the shared run queue, among
//! the sleepers, or parked in a port (`system.rs`).
//!
//! - A context runs until it blocks, sleeps, ends, or has made [`SLICE`]
//!   transfers of control; then the next one runs (the shared queue's
//!   head first, so that what waits there is not starved).
//! - A `psend` that wakes a parked receiver puts it in the sender's *next*
//!   slot: a ping-pong or a ring hands off on one thread without waking
//!   another.
//! - A forked child goes to its parent's worker's local queue, which that
//!   worker runs without a lock; when another worker has nothing to do,
//!   half of it moves to the shared queue. An idle worker looks for work
//!   for [`SPIN`] before it sleeps on the condition variable.
//!
//! The machine stops at the first `exit` or trap, when every context has
//! halted, or when the interrupt line rises: `attention` goes up, each
//! worker's interpreter sees it at its next transfer of control, no
//! worker starts another context, and every context is handed back to the
//! [`Machine`] as plain data. When no worker holds a context (a worker
//! only goes idle with its next slot and local queue empty), the shared
//! queue is empty, none sleeps and some still live, they all wait on ports
//! nobody can send to: a deadlock, reported with every waiter.
//!
//! With one thread the order of everything is fixed: same output, same
//! trace, every run.

use super::interp::Flow;
use super::trap::{Trap, TrapKind, Waiter};
use super::workers::{Core, Local, Sleeper, State, Workers};
pub(super) use super::workers::{End, Mode};
use super::{Context, Io, Machine, CONTEXT_BYTES};
use crate::isa::ValueKind;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Transfers of control (taken branches, jumps, calls, returns) a context
/// makes before it lets another run: a few microseconds of work.
pub(super) const SLICE: u32 = 2048;
/// Every this many switches a worker looks at the shared queue before its own.
const FAIRNESS: u32 = 61;
/// How long an idle worker looks for work before it sleeps.
const SPIN: Duration = Duration::from_micros(50);
/// The longest the program's output waits in its buffer while it runs.
const FLUSH_EVERY: Duration = Duration::from_millis(10);
/// Steps a worker takes from the machine's step budget at a time.
const FUEL_CHUNK: u64 = 1 << 20;

/// Runs `machine`'s contexts until it ends or stops.
pub(super) fn run(machine: &mut Machine, mode: Mode) -> End {
    let threads = match (mode, machine.config.threads) {
        (Mode::Step, _) => 1,
        // One context and no `fork`: a second worker would never have work,
        // and starting it and stopping it again is most of a short run.
        (_, 0) if machine.contexts.len() <= 1 && !machine.code.forks => 1,
        (_, 0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        (_, n) => n,
    };
    let now = Instant::now();
    let mut state = State {
        queue: VecDeque::new(),
        sleepers: BinaryHeap::new(),
        sleep_seq: 0,
        busy: threads,
        idle: 0,
        spinning: 0,
        stopping: false,
        end: None,
        parked: Vec::new(),
        fuel: machine.fuel,
        fuel_holders: 0,
        fuel_waiters: 0,
    };
    for mut ctx in machine.contexts.drain(..) {
        ctx.waiting_on = None;
        match std::mem::take(&mut ctx.sleep_owed) {
            owed if owed.is_zero() => state.queue.push_back(ctx),
            owed => state.push_sleeper(ctx, now + owed),
        }
    }
    machine.gauges.live.store((state.queue.len() + state.sleepers.len()) as u32, Ordering::Relaxed);
    let core = Arc::new(Core {
        attention: AtomicBool::new(false),
        queued: AtomicUsize::new(state.queue.len()),
        gauges: machine.gauges.clone(),
        hungry: AtomicUsize::new(0),
        sleeping: AtomicUsize::new(state.sleepers.len()),
        fuel_wanted: AtomicBool::new(false),
        state: Mutex::new(state),
        wake: Condvar::new(),
    });
    let waker_core = Arc::downgrade(&core);
    machine.interrupt.set_waker(Some(Arc::new(move || {
        if let Some(core) = waker_core.upgrade() {
            let mut state = core.lock();
            core.stop(&mut state, None);
        }
    })));
    if machine.interrupt.is_raised() {
        let mut state = core.lock();
        core.stop(&mut state, None);
    }
    let tracing = machine.io.trace.is_some();
    let compiled = machine.config.tier != super::Tier::Interpreted
        && machine.config.max_steps.is_none()
        && !tracing
        && mode == Mode::Run;
    let jit = match compiled {
        true => machine
            .jit
            .get_or_init(|| super::jit::Jit::new(&machine.code, machine.config.tier, &machine.meter))
            .as_ref(),
        false => None,
    };
    let run = Workers {
        code: &machine.code,
        config: &machine.config,
        meter: &machine.meter,
        tracing,
        io: Mutex::new(&mut machine.io),
        args: &machine.args,
        wasi: &machine.wasi,
        ports: &machine.ports,
        core: core.clone(),
        next_id: AtomicU64::new(machine.next_id),
        started: machine.started,
        mode,
        hand_off: machine.config.max_steps.is_none() && !tracing && mode == Mode::Run,
        jit,
    };
    let finished = (Mutex::new(false), Condvar::new());
    std::thread::scope(|scope| {
        if mode == Mode::Run {
            scope.spawn(|| run.flush_while_running(&finished));
        }
        for _ in 1..threads {
            scope.spawn(|| run.worker());
        }
        run.worker();
        *finished.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
        finished.1.notify_all();
    });
    machine.interrupt.set_waker(None);
    machine.next_id = run.next_id.load(Ordering::Relaxed);
    drop(run);
    let mut state = core.lock();
    machine.fuel = state.fuel;
    let now = Instant::now();
    let mut contexts = std::mem::take(&mut state.parked);
    contexts.extend(state.queue.drain(..));
    for Sleeper { deadline, mut ctx, .. } in std::mem::take(&mut state.sleepers).into_vec() {
        // A sleep cut short: the rest is part of the state (at least 1 ns, so it is still owed).
        ctx.sleep_owed = deadline.saturating_duration_since(now).max(Duration::from_nanos(1));
        contexts.push(ctx);
    }
    contexts.extend(machine.ports.take_waiters());
    contexts.sort_by_key(|c| c.id);
    machine.contexts = contexts;
    state.end.take().unwrap_or(End::Stopped)
}

impl<'m> Workers<'m> {
    /// Flushes the program's buffered output every [`FLUSH_EVERY`] until
    /// `finished`: what `printi`, `putc` and the like write reaches its reader
    /// within that time even while the program computes on without a pause
    /// (a sleep, a wait or the end flush it too). A worker holding the
    /// output is left alone; the next tick flushes.
    fn flush_while_running(&self, finished: &(Mutex<bool>, Condvar)) {
        let (done, wake) = finished;
        let mut done = done.lock().unwrap_or_else(PoisonError::into_inner);
        while !*done {
            done = wake.wait_timeout(done, FLUSH_EVERY).unwrap_or_else(PoisonError::into_inner).0;
            if let Ok(mut io) = self.io.try_lock() {
                let _ = io.out.flush();
            }
        }
    }

    /// The standard streams, under their lock.
    pub(super) fn io(&self) -> MutexGuard<'_, &'m mut Io> {
        self.io.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One worker thread: runs contexts until the machine stops.
    fn worker(&self) {
        /// Stops the machine if this worker unwinds, so the others do not
        /// wait for it for ever and the panic reaches the caller.
        struct StopOnPanic<'a>(&'a Core);
        impl Drop for StopOnPanic<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut state = self.0.lock();
                    self.0.stop(&mut state, None);
                }
            }
        }
        let _stop_on_panic = StopOnPanic(&self.core);
        let mut local =
            Local { next: None, queue: VecDeque::new(), switches: 0, fuel: 0, holds_fuel: false, slice: SLICE };
        loop {
            if self.core.attention.load(Ordering::Relaxed) {
                // Stopping: nothing more runs here, not even one instruction.
                let mut state = self.core.lock();
                state.parked.extend(local.take_all());
                if state.stopping {
                    break;
                }
            }
            self.share(&mut local);
            local.switches += 1;
            // Now and then the shared queue first, so that what waits there is not starved.
            let shared_first = local.switches % FAIRNESS == 0 && self.core.queued.load(Ordering::Relaxed) > 0;
            let local_ctx = match local.next.take() {
                Some(ctx) => Some(ctx),
                None if shared_first => None,
                None => local.queue.pop_front(),
            };
            let ctx = match local_ctx.or_else(|| self.take_shared(&mut local)).or_else(|| self.pick(&mut local)) {
                Some(ctx) => ctx,
                None => break,
            };
            self.run_context(ctx, &mut local);
        }
        let mut state = self.core.lock();
        self.give_back_fuel(&mut state, &mut local);
    }

    /// The next context from the queue, waiting for one; `None` once the machine stops.
    fn pick(&self, local: &mut Local) -> Option<Box<Context>> {
        let mut state = self.core.lock();
        state.busy -= 1;
        // A worker without a context holds no steps: another may need them.
        self.give_back_fuel(&mut state, local);
        let mut spun = false;
        loop {
            if state.stopping {
                return None;
            }
            self.wake_sleepers(&mut state);
            if let Some(ctx) = state.queue.pop_front() {
                self.core.queued.store(state.queue.len(), Ordering::Relaxed);
                state.busy += 1;
                return Some(ctx);
            }
            if state.busy == 0 && state.sleepers.is_empty() {
                let trap = self.deadlock(&mut state);
                self.core.stop(&mut state, Some(End::Trap(trap)));
                return None;
            }
            // While others run, new work is likely soon (a fork, a wake-up):
            // look for it a little before sleeping, which costs two system calls.
            if state.busy > 0 && !spun {
                spun = true;
                state.spinning += 1;
                self.core.hungry.fetch_add(1, Ordering::Relaxed);
                drop(state);
                let until = Instant::now() + SPIN;
                while self.core.queued.load(Ordering::Relaxed) == 0 && !self.core.attention.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        std::hint::spin_loop();
                    }
                    if Instant::now() >= until {
                        break;
                    }
                }
                state = self.core.lock();
                state.spinning -= 1;
                self.core.hungry.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            // Going idle: what the program wrote so far becomes visible.
            if state.busy == 0 {
                let _ = self.io().out.flush();
            }
            state.idle += 1;
            self.core.hungry.fetch_add(1, Ordering::Relaxed);
            state = match state.sleepers.peek().map(|s| s.deadline) {
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    self.core.wake.wait_timeout(state, wait).unwrap_or_else(PoisonError::into_inner).0
                }
                None => self.core.wake.wait(state).unwrap_or_else(PoisonError::into_inner),
            };
            state.idle -= 1;
            self.core.hungry.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Moves the sleepers whose time has come to the queue.
    fn wake_sleepers(&self, state: &mut State) {
        if state.sleepers.is_empty() {
            return;
        }
        let now = Instant::now();
        while state.sleepers.peek().is_some_and(|s| s.deadline <= now) {
            let sleeper = state.sleepers.pop().expect("peeked");
            state.queue.push_back(sleeper.ctx);
        }
        self.core.sleeping.store(state.sleepers.len(), Ordering::Relaxed);
        self.core.queued.store(state.queue.len(), Ordering::Relaxed);
    }

    /// The head of the shared queue without waiting (the local queue's head
    /// goes back if it was passed over for fairness).
    fn take_shared(&self, local: &mut Local) -> Option<Box<Context>> {
        let mut state = self.core.lock();
        self.wake_sleepers(&mut state);
        let ctx = state.queue.pop_front();
        self.core.queued.store(state.queue.len(), Ordering::Relaxed);
        ctx.or_else(|| local.queue.pop_front())
    }

    /// Moves half of this worker's local queue to the shared one when
    /// another worker looks for work.
    fn share(&self, local: &mut Local) {
        if local.queue.is_empty() || self.core.hungry.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut state = self.core.lock();
        let keep = local.queue.len() / 2;
        state.queue.extend(local.queue.drain(keep..));
        self.queued(&state);
    }

    /// Queues a runnable context, waking an idle worker for it.
    fn enqueue(&self, state: &mut State, ctx: Box<Context>) {
        state.queue.push_back(ctx);
        self.queued(state);
    }

    /// The shared queue grew: its length for the workers that look without
    /// the lock, and an idle worker woken unless one is already looking.
    fn queued(&self, state: &State) {
        self.core.queued.store(state.queue.len(), Ordering::Relaxed);
        if state.idle > 0 && state.spinning == 0 {
            self.core.wake.notify_one();
        }
    }

    /// A receiver woken by this worker's context: it runs next on this
    /// thread (the one it displaces goes to the queue).
    pub(super) fn wake(&self, local: &mut Local, mut ctx: Box<Context>) {
        ctx.waiting_on = None;
        if let Some(displaced) = local.next.replace(ctx) {
            local.queue.push_back(displaced);
        }
    }

    /// Gives this worker's runnable contexts to the shared queue (before
    /// the thread blocks outside the machine).
    pub(super) fn release_next(&self, local: &mut Local) {
        if local.next.is_none() && local.queue.is_empty() {
            return;
        }
        let mut state = self.core.lock();
        for ctx in local.take_all() {
            self.enqueue(&mut state, ctx);
        }
    }

    /// Starts a forked context; its id.
    pub(super) fn fork(
        &self,
        local: &mut Local,
        regs: Box<[u64; 256]>,
        pc: u32,
        mem: super::Memory,
    ) -> Result<u64, TrapKind> {
        let limit = self.config.max_contexts;
        let live = &self.core.gauges.live;
        if live.fetch_add(1, Ordering::Relaxed) >= limit {
            live.fetch_sub(1, Ordering::Relaxed);
            return Err(TrapKind::TooManyContexts(limit));
        }
        // Ids are never reused, and 64 bits wide so that no program forks through them;
        // the last one, u64::MAX, is never handed out.
        let id = self.next_id.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| id.checked_add(1));
        let made = id.map_err(|_| TrapKind::ContextIdsExhausted).and_then(|id| {
            Context::new(id, regs, pc, mem)
                .map_err(|_| TrapKind::OutOfMemory { requested: CONTEXT_BYTES, limit: self.meter.limit() })
        });
        let ctx = match made {
            Ok(ctx) => ctx,
            Err(trap) => {
                live.fetch_sub(1, Ordering::Relaxed);
                return Err(trap);
            }
        };
        let id = ctx.id;
        local.queue.push_back(ctx);
        self.share(local);
        Ok(id)
    }

    /// The deadlock trap: every context parked in a port, listed by id
    /// (and handed back to the machine).
    fn deadlock(&self, state: &mut State) -> Trap {
        let mut parked = self.ports.take_waiters();
        parked.sort_by_key(|c| c.id);
        let waiters: Vec<Waiter> = parked
            .iter()
            .map(|c| {
                let addr = self.code.addr_of(c.pc as usize);
                Waiter {
                    context: c.id,
                    port: c.waiting_on.unwrap_or(u64::MAX),
                    addr,
                    instr: self.code.instr(c.pc as usize).map(|i| i.to_string()).unwrap_or_default(),
                    label: self.code.label_near(addr),
                }
            })
            .collect();
        let first = parked.first().expect("a deadlock has a waiting context");
        let trap = Machine::trap_at(self.code, first, TrapKind::Deadlock(waiters));
        state.parked.extend(parked);
        trap
    }

    /// Runs `ctx` until it leaves this worker: blocks, sleeps, ends, yields
    /// or the machine stops.
    fn run_context(&self, mut ctx: Box<Context>, local: &mut Local) {
        local.slice = SLICE;
        loop {
            if self.core.attention.load(Ordering::Relaxed) {
                return self.park(ctx, local);
            }
            let flow = self.exec_some(&mut ctx, local);
            if self.mode == Mode::Step && matches!(flow, Flow::Halt | Flow::Sleep(_)) {
                // One instruction ran: stop after putting the context where it belongs.
                self.stop_after_step();
            }
            match flow {
                Flow::Stepped if self.mode == Mode::Step => return self.park(ctx, local),
                Flow::Stepped => {
                    local.slice -= 1;
                    if local.slice == 0 {
                        self.yield_now(&mut ctx, local);
                    }
                }
                Flow::Boundary => {}
                Flow::Yield => self.yield_now(&mut ctx, local),
                Flow::Interrupted => return self.park(ctx, local),
                Flow::Block(port) => match self.ports.park(port, ctx) {
                    None => return,
                    Some(again) => ctx = again,
                },
                Flow::Sleep(duration) => {
                    let _ = self.io().out.flush();
                    let mut state = self.core.lock();
                    state.push_sleeper(ctx, Instant::now() + duration);
                    self.core.sleeping.store(state.sleepers.len(), Ordering::Relaxed);
                    // A worker waiting with no deadline must now wake for this one.
                    if state.idle > 0 {
                        self.core.wake.notify_one();
                    }
                    return;
                }
                Flow::Halt => {
                    if self.core.gauges.live.fetch_sub(1, Ordering::Relaxed) == 1 {
                        // The last context stays, for inspection of the ended machine.
                        self.end(ctx, End::Exit(0));
                    }
                    return;
                }
                Flow::Exit(status) => return self.end(ctx, End::Exit(status)),
                Flow::Trap(kind) => {
                    let trap = Machine::trap_at(self.code, &ctx, kind);
                    return self.end(ctx, End::Trap(trap));
                }
            }
        }
    }

    /// At the end of a slice: if another context waits to run (the one
    /// this worker woke, else the head of the queue), `ctx` becomes it and
    /// the yielding one goes to the back of the queue.
    fn yield_now(&self, ctx: &mut Box<Context>, local: &mut Local) {
        local.slice = SLICE;
        self.share(local);
        if let Some(next) = local.next.take() {
            let this = std::mem::replace(ctx, next);
            local.queue.push_back(this);
            return;
        }
        // The shared queue (and the sleepers due) before the local one: a
        // context that never blocks must not starve what waits there.
        if self.core.queued.load(Ordering::Relaxed) > 0 || self.core.sleeping.load(Ordering::Relaxed) > 0 {
            let mut state = self.core.lock();
            self.wake_sleepers(&mut state);
            if let Some(next) = state.queue.pop_front() {
                let this = std::mem::replace(ctx, next);
                self.enqueue(&mut state, this);
                return;
            }
        }
        if let Some(next) = local.queue.pop_front() {
            let this = std::mem::replace(ctx, next);
            local.queue.push_back(this);
        }
    }

    /// The machine ends (unless it already has) with `ctx` handed back to it.
    fn end(&self, ctx: Box<Context>, end: End) {
        let mut state = self.core.lock();
        self.core.stop(&mut state, Some(end));
        state.parked.push(ctx);
    }

    /// Stops the machine once the step in progress has put its context away.
    fn stop_after_step(&self) {
        let mut state = self.core.lock();
        self.core.stop(&mut state, None);
    }

    /// Hands `ctx` (and the next one) back to the machine: it is stopping.
    fn park(&self, ctx: Box<Context>, local: &mut Local) {
        let mut state = self.core.lock();
        state.parked.push(ctx);
        state.parked.extend(local.take_all());
        if self.mode == Mode::Step {
            self.core.stop(&mut state, None);
        }
    }

    /// Runs some instructions of `ctx`: a fast run, or one step when
    /// tracing, single-stepping or near the end of the step budget.
    fn exec_some(&self, ctx: &mut Context, local: &mut Local) -> Flow {
        let single = self.tracing || self.mode == Mode::Step;
        let Some(limit) = self.config.max_steps else {
            return match single {
                true => self.step(ctx, local),
                false => match self.jit {
                    Some(jit) => ctx.exec_compiled(self, local, jit),
                    None => ctx.exec::<false, false>(self, local),
                },
            };
        };
        let need = u64::from(self.code.run_len[ctx.pc as usize]);
        if (local.fuel < need.max(1) || self.core.fuel_wanted.load(Ordering::Relaxed))
            && !self.refuel(local, need.max(1))
        {
            return Flow::Interrupted;
        }
        if single || local.fuel < need {
            if local.fuel == 0 {
                return Flow::Trap(TrapKind::StepLimit(limit));
            }
            local.fuel -= 1;
            let flow = self.step(ctx, local);
            if matches!(flow, Flow::Trap(_) | Flow::Block(_)) {
                local.fuel += 1;
            }
            return flow;
        }
        local.fuel -= need;
        let flow = ctx.exec::<false, true>(self, local);
        // Steps charged for the rest of the current run, not executed.
        let unrun = u64::from(self.code.run_len[ctx.pc as usize]);
        match flow {
            Flow::Trap(_) | Flow::Block(_) | Flow::Sleep(_) => local.fuel += unrun,
            Flow::Exit(_) | Flow::Halt => local.fuel += unrun.saturating_sub(1),
            _ => {}
        }
        flow
    }

    /// Takes steps from the machine's budget for a run of `need`: a chunk
    /// of [`FUEL_CHUNK`], or just `need` while another worker waits for
    /// steps. Short of `need` while other workers hold steps, it asks them
    /// to return theirs and waits, so that the step limit traps only once
    /// every step of the budget has run, however many threads share it.
    /// Then `local.fuel` holds what is left to take (0: the budget is
    /// spent). False if the machine is stopping.
    fn refuel(&self, local: &mut Local, need: u64) -> bool {
        let mut state = self.core.lock();
        loop {
            if state.stopping {
                return false;
            }
            self.give_back_fuel(&mut state, local);
            let chunk = match state.fuel_waiters {
                0 => FUEL_CHUNK.max(need),
                _ => need,
            };
            let take = state.fuel.min(chunk);
            if take >= need || state.fuel_holders == 0 {
                state.fuel -= take;
                local.fuel = take;
                if take > 0 {
                    state.fuel_holders += 1;
                    local.holds_fuel = true;
                }
                return true;
            }
            // Short while others hold steps: wait holding none (two waiters
            // each holding a few would wait for each other for ever).
            state.fuel_waiters += 1;
            self.core.fuel_wanted.store(true, Ordering::Relaxed);
            state = self.core.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.fuel_waiters -= 1;
            self.core.fuel_wanted.store(state.fuel_waiters > 0, Ordering::Relaxed);
        }
    }

    /// Returns the steps this worker holds to the machine's budget, waking
    /// a worker that waits for them.
    fn give_back_fuel(&self, state: &mut State, local: &mut Local) {
        if !local.holds_fuel {
            return;
        }
        local.holds_fuel = false;
        state.fuel_holders -= 1;
        state.fuel += std::mem::take(&mut local.fuel);
        if state.fuel_waiters > 0 {
            self.core.wake.notify_all();
        }
    }

    /// One instruction, traced if tracing.
    fn step(&self, ctx: &mut Context, local: &mut Local) -> Flow {
        let at = ctx.pc as usize;
        let before_sp = ctx.sp;
        let flow = ctx.exec::<true, true>(self, local);
        if self.tracing && !matches!(flow, Flow::Trap(_) | Flow::Block(_)) {
            self.trace_line(ctx, at, before_sp);
        }
        flow
    }

    /// One trace line for the instruction at index `at`, just executed by `ctx`.
    fn trace_line(&self, ctx: &Context, at: usize, before_sp: u64) {
        use std::fmt::Write as _;
        let Some(instr) = self.code.instr(at) else { return };
        let mut line = format!("[{}] 0x{:06x}  {:<28}", ctx.id, self.code.addr_of(at), instr.to_string());
        let kind = instr.opcode().result_kind();
        for ((name, _), operand) in instr.opcode().operands().iter().zip(instr.operands()) {
            if let (&"rd", crate::isa::Operand::Reg(r)) = (name, operand) {
                let v = ctx.regs[usize::from(r.0)];
                let _ = match kind {
                    ValueKind::F64 => write!(line, " {r}={:?}", f64::from_bits(v)),
                    ValueKind::F32 => write!(line, " {r}={:?}", f32::from_bits(v as u32)),
                    ValueKind::Int => write!(line, " {r}={}", v as i64),
                };
            }
        }
        if ctx.sp != before_sp {
            let _ = write!(line, " sp=0x{:x}", ctx.sp);
        }
        let mut io = self.io();
        if let Some(trace) = &mut io.trace {
            let _ = writeln!(trace, "{}", line.trim_end());
        }
    }
}
