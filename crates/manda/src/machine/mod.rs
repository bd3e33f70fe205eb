//! The machine: runs a loaded executable as one or more parallel contexts.
//!
//! A [`Machine`] holds its [`Context`]s — each with 256 registers, a
//! program counter, a stack pointer, a call stack and its own copy-on-write
//! [`Memory`] — and the message ports between them, all plain data between
//! runs. [`Machine::run`] multiplexes the contexts on a pool of OS threads
//! ([`Config::threads`]) until every context has halted or one calls `exit`
//! ([`Stopped::Exited`]), an interrupt stops every context at an
//! instruction boundary ([`Stopped::Interrupted`]), or a [`Trap`] stops the
//! machine. Limits ([`Config`]) are traps too, never aborts.
//!
//! ```
//! use manda::machine::{Config, Machine, Stopped};
//! use manda::isa::Reg;
//!
//! let source = ".code\nmain:\n    li a0, 6\n    li a1, 7\n    mul v0, a0, a1\n    printi v0\n    halt\n";
//! let exe = manda::exe::Executable::load(&manda::asm::assemble(source).unwrap().0).unwrap();
//! let config = Config { max_steps: Some(1_000), ..Config::default() };
//! let mut machine = Machine::new(&exe, config).unwrap();
//! let output = manda::machine::SharedBuf::default();
//! machine.set_output(Box::new(output.clone()));
//! assert_eq!(machine.run(), Ok(Stopped::Exited(0)));
//! assert_eq!(output.contents(), b"42\n");
//! assert_eq!(machine.steps(), 5); // counted because a step limit is set
//! ```
//!
//! The scheduler is in `sched.rs`, the interpreter loop in `interp.rs`,
//! system and port instructions in `system.rs`, the decoded code in
//! `code.rs`, memory and its permissions in `memory.rs`, traps in `trap.rs`,
//! snapshots in `snapshot.rs`, live migration's pre-copy in `transfer.rs`
//! and its post-copy (pages owed to a machine that already runs) in
//! `postcopy.rs`.

mod arena;
mod calls;
mod code;
mod interp;
mod jit;
mod memory;
mod ports;
mod postcopy;
mod sched;
mod snapshot;
mod system;
mod transfer;
mod trap;
mod vector;
mod workers;

pub use code::{Code, BYTES_PER_INDEX};
pub use jit::{CompileStats, Tier};
pub use memory::{Memory, Meter, GUARD, MAX_SPACE, PAGE, TABLE_BYTES};
pub use postcopy::{OwedPages, Pager, Postcopy};
pub use snapshot::{
    SnapshotError, HEADER_LEN as SNAPSHOT_HEADER_LEN, MAGIC as SNAPSHOT_MAGIC, VERSION as SNAPSHOT_VERSION,
};
pub use transfer::{Received, Round};
pub use trap::{Access, Place, Trap, TrapKind, Waiter};

use crate::exe::Executable;
use crate::isa::Reg;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one queued message costs against `--max-memory` and
/// `--max-port-bytes` beyond its bytes: its slot in the queue (24 bytes,
/// twice that while the queue grows) and its allocation's header. So a loop
/// of empty messages reaches a limit instead of the host's memory.
pub const MESSAGE_OVERHEAD: u64 = 64;
/// What one call frame costs against `--max-memory`: its return index.
pub const CALL_FRAME_BYTES: u64 = 4;
/// What one context costs against `--max-memory` besides its pages and
/// call stack: its 2 KiB of registers and its bookkeeping (the translation
/// cache is most of it) as the allocator rounds them, and 256 bytes for the
/// scheduler's queues and the allocator's own share — what the host really
/// holds (4 KiB), so that a machine of many contexts stays within its limit.
pub const CONTEXT_BYTES: u64 =
    (std::mem::size_of::<Context>().next_multiple_of(256) + std::mem::size_of::<[u64; 256]>() + 256) as u64;

/// Limits of a machine. Passing one is a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Stack bytes per context (rounded up to 16). Default 1 MiB.
    pub stack_size: u64,
    /// Bytes the machine holds at most — pages written, page tables,
    /// contexts, call stacks, queued messages — and the most any context's
    /// address space may span. Default 1 GiB.
    pub max_memory: u64,
    /// Instructions to execute at most, in all contexts together; `None`
    /// for no limit (the default).
    pub max_steps: Option<u64>,
    /// Nested calls at most, per context. Default 262144.
    pub max_call_depth: u32,
    /// Ports `pnew` may create. Default 4096.
    pub max_ports: u32,
    /// Contexts alive at once. Default 1048576.
    pub max_contexts: u32,
    /// Bytes queued in all ports together (each message counting
    /// [`MESSAGE_OVERHEAD`] more than its length). Default 256 MiB.
    pub max_port_bytes: u64,
    /// OS threads that run contexts; 0 for one per core (the default).
    /// With 1 the machine is deterministic: same output, same trace.
    pub threads: usize,
    /// Which engine runs the code: compiled (the default) or interpreted.
    /// Runs with a step limit, single steps and tracing are interpreted
    /// whatever this says.
    pub tier: Tier,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            stack_size: 1 << 20,
            max_memory: 1 << 30,
            max_steps: None,
            max_call_depth: 1 << 18,
            max_ports: 4096,
            max_contexts: 1 << 20,
            max_port_bytes: 256 << 20,
            threads: 0,
            tier: Tier::default(),
        }
    }
}

/// How a run ended without a trap: the program ended (every context
/// halted, status 0, or one ran `exit`), or an interrupt stopped every
/// context at an instruction boundary (`run` continues them). The same
/// type every machine's host sees.
pub use vm_core::Stopped;

/// Why a machine could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The image and stack alone pass the memory limit.
    #[error("the program needs {needed} bytes of memory (image, guards and stack), more than the limit of {limit}")]
    TooBig {
        /// Bytes needed.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// The decoded code, with the image and stack, passes the memory limit.
    #[error("the program's decoded code needs {code} bytes of memory, more than the {left} left of the limit of {limit} beside its image and stack")]
    CodeTooBig {
        /// Bytes the decoded code holds: the machine's, and the executable's
        /// file and decoded form while the machine is built from it.
        code: u64,
        /// What the limit leaves after the image and stack.
        left: u64,
        /// The limit.
        limit: u64,
    },
}

/// The interrupt line (the hypervisor's): raising it from any thread stops
/// [`Machine::run`] with every context at an instruction boundary — busy
/// ones at a branch, call or return within microseconds (when their time
/// slice ends), sleeping and waiting ones at once.
pub use vm_core::Interrupt;

/// An in-memory output, cloneable, for tests and embedding: what the
/// program wrote, from any clone.
#[derive(Debug, Clone, Default)]
pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One context: its registers, control state and memory, all plain data.
pub struct Context {
    id: u64,
    /// The 256 registers.
    pub regs: Box<[u64; 256]>,
    /// Index of the next instruction.
    pc: u32,
    /// The stack pointer.
    pub sp: u64,
    /// Return indices.
    calls: calls::CallStack,
    mem: Memory,
    /// Time of an unfinished `sleep` still to sleep before the next instruction.
    sleep_owed: Duration,
    /// The port this context waits on (its `precv` runs again when woken).
    waiting_on: Option<u64>,
}

impl Context {
    /// A context at code index `pc` with registers `regs`, an empty stack and
    /// call stack, charged to `mem`'s meter.
    fn new(id: u64, regs: Box<[u64; 256]>, pc: u32, mem: Memory) -> Result<Box<Context>, TrapKind> {
        mem.meter().charge(CONTEXT_BYTES)?;
        let sp = mem.stack_top();
        Ok(Box::new(Context {
            id,
            regs,
            pc,
            sp,
            calls: calls::CallStack::default(),
            mem,
            sleep_owed: Duration::ZERO,
            waiting_on: None,
        }))
    }

    /// The context's id: 0 for the first, then as `fork` numbered them.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A register's value.
    pub fn reg(&self, reg: Reg) -> u64 {
        self.regs[usize::from(reg.0)]
    }

    /// Sets a register.
    pub fn set_reg(&mut self, reg: Reg, value: u64) {
        self.regs[usize::from(reg.0)] = value;
    }

    /// The context's memory.
    pub fn memory(&self) -> &Memory {
        &self.mem
    }

    /// The context's memory, to change.
    pub fn memory_mut(&mut self) -> &mut Memory {
        &mut self.mem
    }

    /// The port the context waits on, if it is blocked in `precv`.
    pub fn waiting_on(&self) -> Option<u64> {
        self.waiting_on
    }

    /// Sleep still owed by an interrupted `sleep`.
    pub fn sleep_owed(&self) -> Duration {
        self.sleep_owed
    }

    /// Bytes this context holds against the meter, besides its pages.
    fn charged(&self) -> u64 {
        CONTEXT_BYTES + self.calls.charged()
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.mem.meter().release(self.charged());
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.id)
            .field("pc", &self.pc)
            .field("sp", &self.sp)
            .field("calls", &self.calls.depth())
            .field("waiting_on", &self.waiting_on)
            .finish_non_exhaustive()
    }
}

/// What the machine talks to: standard streams and the trace.
pub(crate) struct Io {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    input: Box<dyn Read + Send>,
    trace: Option<Box<dyn Write + Send>>,
}

impl Io {
    /// Standard output (`fd` 1) or error (any other), for `write` and
    /// WASI's `fd_write`. Before error, output is flushed, so that the two
    /// interleave as they were written; a failure there is output's own and
    /// does not stop a write to error.
    pub(crate) fn output(&mut self, fd: u64) -> &mut (dyn Write + Send) {
        if fd == 1 {
            return &mut *self.out;
        }
        let _ = self.out.flush();
        &mut *self.err
    }

    /// Reads standard input, for `read` and WASI's `fd_read`: output is
    /// flushed first (a prompt is seen before the program waits), and an
    /// interrupted read is tried again.
    pub(crate) fn read_input(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let _ = self.out.flush();
        loop {
            match self.input.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

/// A running (or runnable) Manda program.
pub struct Machine {
    code: Arc<Code>,
    config: Config,
    meter: Arc<Meter>,
    io: Io,
    args: Vec<Vec<u8>>,
    /// What the program sees through WASI: its descriptors, arguments and environment.
    wasi: Mutex<manda_wasi::Wasi>,
    ports: ports::Ports,
    /// Every context not halted, by id, while the machine is not running.
    #[allow(clippy::vec_box)] // contexts move between queues, ports and workers: a pointer each
    contexts: Vec<Box<Context>>,
    next_id: u64,
    started: Instant,
    interrupt: Arc<Interrupt>,
    /// Steps still allowed; `u64::MAX` with no limit.
    fuel: u64,
    ended: Option<Result<u8, Trap>>,
    /// The memory as loaded, never written: what a snapshot leaves out and
    /// a restored context starts from.
    base: Memory,
    /// SHA-256 of the executable: a snapshot's program identity.
    program: [u8; 32],
    /// Live figures another thread may read while the machine runs.
    pub(crate) gauges: Arc<Gauges>,
    /// A live migration's record of what its target holds (`transfer.rs`).
    tracker: Option<Box<transfer::Tracker>>,
    /// A post-copy's pages still to arrive, after a restore (`postcopy.rs`).
    pager: Option<Arc<postcopy::Pager>>,
    /// The compiled code, made at the first run that uses it (`None` in it
    /// where Cranelift has no backend for this host).
    jit: std::sync::OnceLock<Option<jit::Jit>>,
}

/// What a machine shows while it runs: its live contexts (the scheduler
/// counts them here) and its memory meter.
pub(crate) struct Gauges {
    pub(crate) live: std::sync::atomic::AtomicU32,
    pub(crate) meter: Mutex<Arc<Meter>>,
}

impl Gauges {
    /// `contexts=N memory=SIZE`, for status lines and `hv ps`.
    pub(crate) fn show(&self) -> String {
        let used = self.meter.lock().unwrap_or_else(|e| e.into_inner()).used() as f64;
        let (value, unit) = match used {
            u if u >= (1u64 << 30) as f64 => (u / (1u64 << 30) as f64, "GiB"),
            u if u >= (1u64 << 20) as f64 => (u / (1u64 << 20) as f64, "MiB"),
            u => (u / 1024.0, "KiB"),
        };
        let live = self.live.load(std::sync::atomic::Ordering::Relaxed);
        format!("contexts={live} memory={value:.1}{unit}")
    }
}

impl Machine {
    /// Loads `exe` into a fresh memory with the limits of `config`, ready
    /// to run context 0 from the entry point. Output goes to the process's
    /// standard output and error, input comes from its standard input.
    pub fn new(exe: &Executable, config: Config) -> Result<Machine, SetupError> {
        let meter = Arc::new(Meter::new(config.max_memory));
        let too_big = |needed| SetupError::TooBig { needed, limit: config.max_memory };
        let mut mem = Memory::new(exe, config.stack_size, meter.clone()).map_err(too_big)?;
        let left = config.max_memory.saturating_sub(meter.used());
        let code_too_big = |code| SetupError::CodeTooBig { code, left, limit: config.max_memory };
        // The executable is held beside the machine's decoded code while it is built.
        let code_bytes = Code::bytes_for(exe).saturating_add(exe.heap_bytes());
        if code_bytes > left {
            return Err(code_too_big(code_bytes));
        }
        let code = Arc::new(Code::new(exe));
        meter.charge(code.heap_bytes()).map_err(|_| code_too_big(code.heap_bytes()))?;
        let base = mem.fork();
        let program = exe.sha256();
        let needed = mem.heap_base().saturating_add(CONTEXT_BYTES);
        let main = Context::new(0, Box::new([0; 256]), code.entry, mem).map_err(|_| too_big(needed))?;
        Ok(Machine {
            code,
            config,
            meter: meter.clone(),
            io: Io {
                out: Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())),
                err: Box::new(std::io::stderr()),
                input: Box::new(std::io::stdin()),
                trace: None,
            },
            args: Vec::new(),
            wasi: Mutex::new(manda_wasi::Wasi::default()),
            ports: ports::Ports::default(),
            contexts: vec![main],
            next_id: 1,
            started: Instant::now(),
            interrupt: Arc::new(Interrupt::default()),
            fuel: config.max_steps.unwrap_or(u64::MAX),
            ended: None,
            base,
            program,
            gauges: Arc::new(Gauges { live: 1.into(), meter: Mutex::new(meter.clone()) }),
            tracker: None,
            pager: None,
            jit: std::sync::OnceLock::new(),
        })
    }

    /// What the program sees through the `wasi` instruction: its granted
    /// directories, arguments and environment (by default standard streams only).
    pub fn set_wasi(&mut self, wasi: manda_wasi::Wasi) {
        *self.wasi.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner) = wasi;
    }

    /// The program's arguments (what `argc` counts and `arg` copies).
    pub fn set_args<I: IntoIterator<Item = S>, S: Into<Vec<u8>>>(&mut self, args: I) {
        self.args = args.into_iter().map(Into::into).collect();
    }

    /// Where `write 1`, `printi`, `printf`, `putc` go, from every context.
    pub fn set_output(&mut self, out: Box<dyn Write + Send>) {
        self.io.out = out;
    }

    /// Where `write 2` goes.
    pub fn set_error_output(&mut self, err: Box<dyn Write + Send>) {
        self.io.err = err;
    }

    /// Where `read` reads from.
    pub fn set_input(&mut self, input: Box<dyn Read + Send>) {
        self.io.input = input;
    }

    /// Writes a line per executed instruction to `trace` (context id,
    /// address, instruction, registers written); `None` stops tracing.
    pub fn set_trace(&mut self, trace: Option<Box<dyn Write + Send>>) {
        self.io.trace = trace;
    }

    /// Runs without superinstructions: every op as the plain form of its
    /// instruction. Output, traps and state are the same either way; this
    /// exists so that tests and benchmarks can show it.
    pub fn disable_fusion(&mut self) {
        self.code = Arc::new(self.code.without_fusion());
    }

    /// The interrupt line, to raise from another thread.
    pub fn interrupt(&self) -> Arc<Interrupt> {
        self.interrupt.clone()
    }

    /// The limits.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The machine-wide memory meter: bytes held now against the limit.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Every context not halted, by id (while the machine is not running).
    pub fn contexts(&self) -> impl Iterator<Item = &Context> {
        self.contexts.iter().map(|c| &**c)
    }

    /// The context `id`, to inspect or change, if it lives.
    pub fn context_mut(&mut self, id: u64) -> Option<&mut Context> {
        self.contexts.iter_mut().find(|c| c.id == id).map(|c| &mut **c)
    }

    /// The context the single-context accessors below read: the
    /// lowest-numbered one alive (context 0 while it lives).
    fn first(&self) -> Option<&Context> {
        self.contexts.first().map(|c| &**c)
    }

    /// A register of the first context (0 once every context has ended).
    pub fn reg(&self, reg: Reg) -> u64 {
        self.first().map_or(0, |c| c.reg(reg))
    }

    /// Sets a register of the first context.
    pub fn set_reg(&mut self, reg: Reg, value: u64) {
        if let Some(c) = self.contexts.first_mut() {
            c.set_reg(reg, value);
        }
    }

    /// The address of the first context's next instruction.
    pub fn pc(&self) -> u64 {
        self.first().map_or(0, |c| self.pc_of(c))
    }

    /// The address of a context's next instruction.
    pub fn pc_of(&self, context: &Context) -> u64 {
        self.code.addr_of(context.pc as usize)
    }

    /// Continues the first context at `addr`, which must be an instruction or label in code.
    pub fn set_pc(&mut self, addr: u64) -> Result<(), TrapKind> {
        let index =
            self.code.index_of(addr).ok_or(TrapKind::BadJump { target: addr, why: self.code.why_not_target(addr) })?;
        if let Some(c) = self.contexts.first_mut() {
            c.pc = index;
            c.waiting_on = None;
        }
        Ok(())
    }

    /// The first context's stack pointer.
    pub fn sp(&self) -> u64 {
        self.first().map_or(0, |c| c.sp)
    }

    /// A context's call stack as return addresses, outermost first.
    pub fn call_stack_of(&self, context: &Context) -> Vec<u64> {
        context.calls.iter().map(|i| self.code.addr_of(i as usize)).collect()
    }

    /// The first context's call stack as return addresses, outermost first.
    pub fn call_stack(&self) -> Vec<u64> {
        self.first().map(|c| self.call_stack_of(c)).unwrap_or_default()
    }

    /// The first context's memory.
    ///
    /// # Panics
    /// Once every context has ended.
    pub fn memory(&self) -> &Memory {
        &self.first().expect("a live context").mem
    }

    /// The first context's memory, to change.
    ///
    /// # Panics
    /// Once every context has ended.
    pub fn memory_mut(&mut self) -> &mut Memory {
        self.contexts.first_mut().expect("a live context").memory_mut()
    }

    /// What the compiling tier has compiled for this machine so far; `None`
    /// before a compiled run (or where Cranelift has no backend). Regions
    /// still being compiled in the background are not counted.
    pub fn compile_stats(&self) -> Option<CompileStats> {
        self.jit.get()?.as_ref().map(jit::Jit::stats)
    }

    /// Instructions executed so far, in all contexts. Counted only under a
    /// step limit ([`Config::max_steps`]): without one, the fast loop does
    /// not count.
    pub fn steps(&self) -> u64 {
        self.config.max_steps.unwrap_or(u64::MAX) - self.fuel
    }

    /// How the program ended, once it has.
    pub fn ended(&self) -> Option<&Result<u8, Trap>> {
        self.ended.as_ref()
    }

    /// Runs until the program ends, traps, or is interrupted.
    pub fn run(&mut self) -> Result<Stopped, Trap> {
        self.run_with(sched::Mode::Run)
    }

    /// Runs one instruction of the next context in turn: `Ok(None)` if the
    /// program goes on. (A `precv` that has to wait is not an instruction
    /// run: the next context's instruction runs instead.)
    pub fn step(&mut self) -> Result<Option<Stopped>, Trap> {
        match self.run_with(sched::Mode::Step)? {
            Stopped::Interrupted if !self.interrupt.is_raised() => Ok(None),
            outcome => Ok(Some(outcome)),
        }
    }

    fn run_with(&mut self, mode: sched::Mode) -> Result<Stopped, Trap> {
        if let Some(ended) = &self.ended {
            return ended.clone().map(Stopped::Exited);
        }
        if let Some(tracker) = &mut self.tracker {
            tracker.fresh = false;
        }
        self.settle_pager();
        let outcome = sched::run(self, mode);
        let _ = self.io.out.flush();
        if let Some(trace) = &mut self.io.trace {
            let _ = trace.flush();
        }
        match outcome {
            sched::End::Stopped => Ok(Stopped::Interrupted),
            sched::End::Exit(status) => {
                self.finish(Ok(status));
                Ok(Stopped::Exited(status))
            }
            sched::End::Trap(trap) => {
                self.finish(Err(trap.clone()));
                Err(trap)
            }
        }
    }

    /// The program ended. The contexts alive at the end (or the last to
    /// halt) stay for inspection.
    fn finish(&mut self, how: Result<u8, Trap>) {
        self.ended = Some(how);
    }

    /// A trap at context `ctx`'s current instruction.
    fn trap_at(code: &Code, ctx: &Context, kind: TrapKind) -> Trap {
        let index = ctx.pc as usize;
        let addr = code.addr_of(index);
        Trap {
            kind,
            addr,
            instr: code.instr(index).map(|i| i.to_string()).unwrap_or_default(),
            label: code.label_near(addr),
            context: ctx.id,
        }
    }
}
