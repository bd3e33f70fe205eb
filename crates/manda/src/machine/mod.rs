//! The machine: runs a loaded executable.
//!
//! A [`Machine`] holds one context — 256 registers, a program counter, a
//! stack pointer, a call stack — and its [`Memory`], all plain data. It
//! runs until the program halts or exits ([`Outcome::Exited`]), an
//! interrupt arrives ([`Outcome::Interrupted`], at an instruction
//! boundary), or a [`Trap`] stops it. Limits ([`Config`]) are traps too,
//! never aborts.
//!
//! ```
//! use manda::machine::{Config, Machine, Outcome};
//! use manda::isa::Reg;
//!
//! let source = ".code\nmain:\n    li a0, 6\n    li a1, 7\n    mul v0, a0, a1\n    printi v0\n    halt\n";
//! let exe = manda::exe::Executable::load(&manda::asm::assemble(source).unwrap().0).unwrap();
//! let config = Config { max_steps: Some(1_000), ..Config::default() };
//! let mut machine = Machine::new(&exe, config).unwrap();
//! let output = manda::machine::SharedBuf::default();
//! machine.set_output(Box::new(output.clone()));
//! assert_eq!(machine.run(), Ok(Outcome::Exited(0)));
//! assert_eq!(output.contents(), b"42\n");
//! assert_eq!(machine.reg(Reg::parse("v0").unwrap()), 42);
//! assert_eq!(machine.steps(), 5); // counted because a step limit is set
//! ```
//!
//! The interpreter loop is in `interp.rs`, the decoded code in `code.rs`,
//! memory and its permissions in `memory.rs`, traps in `trap.rs`.

mod code;
mod interp;
mod memory;
mod trap;

pub use code::Code;
pub use memory::{Memory, GUARD};
pub use trap::{Access, Place, Trap, TrapKind};

use crate::exe::Executable;
use crate::isa::{Instr, Reg};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one queued message costs against `--max-memory` beyond its bytes:
/// its slot in the queue and its allocation. So a loop of empty messages
/// reaches the limit instead of the host's memory.
pub const MESSAGE_OVERHEAD: u64 = 32;
/// What one call frame costs against `--max-memory`: its return index.
pub const CALL_FRAME_BYTES: u64 = 4;

/// Limits of a machine. Passing one is a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Stack bytes (rounded up to 16). Default 1 MiB.
    pub stack_size: u64,
    /// The whole memory — image, guards, stack, heap, queued port messages — in bytes. Default 1 GiB.
    pub max_memory: u64,
    /// Instructions to execute at most; `None` for no limit (the default).
    pub max_steps: Option<u64>,
    /// Nested calls at most. Default 262144.
    pub max_call_depth: u32,
    /// Ports `pnew` may create. Default 4096.
    pub max_ports: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config { stack_size: 1 << 20, max_memory: 1 << 30, max_steps: None, max_call_depth: 1 << 18, max_ports: 4096 }
    }
}

/// How a run ended without a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The program ended: `halt` (status 0) or `exit` (its status).
    Exited(u8),
    /// An interrupt stopped it at an instruction boundary; `run` continues it.
    Interrupted,
}

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
}

/// The interrupt line (the hypervisor's): raising it from any thread stops
/// [`Machine::run`] at the next backward branch, call or return (or at once,
/// mid-sleep).
pub use hypervisor::Interrupt;

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

/// One context's registers and control state: plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The 256 registers.
    pub regs: Box<[u64; 256]>,
    /// Index of the next instruction.
    pc: u32,
    /// The stack pointer.
    pub sp: u64,
    /// Return indices, innermost last.
    calls: Vec<u32>,
    /// Milliseconds of an interrupted `sleep` still to sleep.
    sleep_owed: Duration,
}

/// A message port.
#[derive(Debug, Default)]
struct Port {
    queue: VecDeque<Vec<u8>>,
    closed: bool,
}

/// What the machine talks to: standard streams, arguments, ports, clocks.
struct Host {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    input: Box<dyn Read + Send>,
    args: Vec<Vec<u8>>,
    ports: Vec<Port>,
    /// Bytes queued in ports, with [`MESSAGE_OVERHEAD`] for each message,
    /// counted against the memory limit.
    port_bytes: u64,
    started: Instant,
    interrupt: Arc<Interrupt>,
    max_ports: u32,
}

/// What a system instruction did, when it did not trap.
enum Effect {
    Next,
    Exit(u8),
    /// A sleep cut short by an interrupt; the rest is owed.
    SleepInterrupted(Duration),
}

/// A running (or runnable) Manda program.
pub struct Machine {
    code: Arc<Code>,
    ctx: Context,
    mem: Memory,
    host: Host,
    config: Config,
    /// The call depth `call` traps at: the depth limit, or fewer frames if
    /// the memory limit leaves room for fewer beside the image and stack
    /// (a frame is [`CALL_FRAME_BYTES`]). Heap growth and queued messages
    /// count the call stack's frames at the time.
    call_depth_cap: u32,
    /// Steps still allowed; `u64::MAX` with no limit.
    fuel: u64,
    /// Single-step from here on (the budget ends inside the current run).
    exact: bool,
    ended: Option<Result<u8, Trap>>,
    trace: Option<Box<dyn Write + Send>>,
}

impl Machine {
    /// Loads `exe` into a fresh memory with the limits of `config`, ready
    /// to run from the entry point. Output goes to the process's standard
    /// output and error, input comes from its standard input.
    pub fn new(exe: &Executable, config: Config) -> Result<Machine, SetupError> {
        let mem = Memory::new(exe, config.stack_size, config.max_memory)
            .map_err(|needed| SetupError::TooBig { needed, limit: config.max_memory })?;
        let code = Arc::new(Code::new(exe));
        let ctx = Context {
            regs: Box::new([0; 256]),
            pc: code.entry,
            sp: mem.stack_top(),
            calls: Vec::new(),
            sleep_owed: Duration::ZERO,
        };
        let host = Host {
            out: Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())),
            err: Box::new(std::io::stderr()),
            input: Box::new(std::io::stdin()),
            args: Vec::new(),
            ports: Vec::new(),
            port_bytes: 0,
            started: Instant::now(),
            interrupt: Arc::new(Interrupt::default()),
            max_ports: config.max_ports,
        };
        let room = config.max_memory.saturating_sub(mem.end()) / CALL_FRAME_BYTES;
        let call_depth_cap = u64::from(config.max_call_depth).min(room) as u32;
        Ok(Machine {
            code,
            ctx,
            mem,
            host,
            config,
            call_depth_cap,
            fuel: config.max_steps.unwrap_or(u64::MAX),
            exact: false,
            ended: None,
            trace: None,
        })
    }

    /// The program's arguments (what `argc` counts and `arg` copies).
    pub fn set_args<I: IntoIterator<Item = S>, S: Into<Vec<u8>>>(&mut self, args: I) {
        self.host.args = args.into_iter().map(Into::into).collect();
    }

    /// Where `write 1`, `printi`, `printf`, `putc` go.
    pub fn set_output(&mut self, out: Box<dyn Write + Send>) {
        self.host.out = out;
    }

    /// Where `write 2` goes.
    pub fn set_error_output(&mut self, err: Box<dyn Write + Send>) {
        self.host.err = err;
    }

    /// Where `read` reads from.
    pub fn set_input(&mut self, input: Box<dyn Read + Send>) {
        self.host.input = input;
    }

    /// Writes a line per executed instruction to `trace` (address,
    /// instruction, registers written); `None` stops tracing.
    pub fn set_trace(&mut self, trace: Option<Box<dyn Write + Send>>) {
        self.trace = trace;
    }

    /// The interrupt line, to raise from another thread.
    pub fn interrupt(&self) -> Arc<Interrupt> {
        self.host.interrupt.clone()
    }

    /// The limits.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A register's value.
    pub fn reg(&self, reg: Reg) -> u64 {
        self.ctx.regs[usize::from(reg.0)]
    }

    /// Sets a register.
    pub fn set_reg(&mut self, reg: Reg, value: u64) {
        self.ctx.regs[usize::from(reg.0)] = value;
    }

    /// The address of the next instruction to run.
    pub fn pc(&self) -> u64 {
        self.code.addrs[self.ctx.pc as usize]
    }

    /// Continues at `addr`, which must be an instruction or label in code.
    pub fn set_pc(&mut self, addr: u64) -> Result<(), TrapKind> {
        let index =
            self.code.index_of(addr).ok_or(TrapKind::BadJump { target: addr, why: self.code.why_not_target(addr) })?;
        self.ctx.pc = index;
        self.exact |= self.fuel < u64::from(self.code.run_len[index as usize]);
        Ok(())
    }

    /// The stack pointer.
    pub fn sp(&self) -> u64 {
        self.ctx.sp
    }

    /// The call stack's return addresses, outermost first.
    pub fn call_stack(&self) -> Vec<u64> {
        self.ctx.calls.iter().map(|&i| self.code.addrs[i as usize]).collect()
    }

    /// The memory.
    pub fn memory(&self) -> &Memory {
        &self.mem
    }

    /// The memory, to change.
    pub fn memory_mut(&mut self) -> &mut Memory {
        &mut self.mem
    }

    /// Instructions executed so far. Counted only under a step limit
    /// ([`Config::max_steps`]) or while single-stepping: without one, the
    /// fast loop does not count.
    pub fn steps(&self) -> u64 {
        self.config.max_steps.unwrap_or(u64::MAX) - self.fuel
    }

    /// How the program ended, once it has.
    pub fn ended(&self) -> Option<&Result<u8, Trap>> {
        self.ended.as_ref()
    }

    /// Runs until the program ends, traps, or is interrupted.
    pub fn run(&mut self) -> Result<Outcome, Trap> {
        let outcome = self.run_inner();
        self.flush();
        outcome
    }

    /// Runs one instruction: `Ok(None)` if the program goes on.
    pub fn step(&mut self) -> Result<Option<Outcome>, Trap> {
        let outcome = self.step_inner();
        self.flush();
        outcome
    }

    fn run_inner(&mut self) -> Result<Outcome, Trap> {
        if let Some(ended) = &self.ended {
            return ended.clone().map(Outcome::Exited);
        }
        loop {
            if self.trace.is_some() || self.exact {
                if let Some(outcome) = self.step_inner()? {
                    return Ok(outcome);
                }
                continue;
            }
            if self.host.interrupt.is_raised() {
                return Ok(Outcome::Interrupted);
            }
            if let Some(outcome) = self.owed_sleep() {
                return Ok(outcome);
            }
            let need = match self.config.max_steps {
                Some(_) => u64::from(self.code.run_len[self.ctx.pc as usize]),
                None => 0,
            };
            if self.fuel < need {
                self.exact = true;
                continue;
            }
            self.fuel -= need;
            let flow = match self.config.max_steps {
                Some(_) => self.exec::<false, true>(),
                None => self.exec::<false, false>(),
            };
            if let Some(result) = self.settle(flow, false) {
                return result;
            }
        }
    }

    fn step_inner(&mut self) -> Result<Option<Outcome>, Trap> {
        if let Some(ended) = &self.ended {
            return ended.clone().map(|s| Some(Outcome::Exited(s)));
        }
        if self.host.interrupt.is_raised() {
            return Ok(Some(Outcome::Interrupted));
        }
        if let Some(outcome) = self.owed_sleep() {
            return Ok(Some(outcome));
        }
        if self.fuel == 0 {
            let limit = self.config.max_steps.unwrap_or(u64::MAX);
            let trap = self.trap(TrapKind::StepLimit(limit));
            self.ended = Some(Err(trap.clone()));
            return Err(trap);
        }
        self.fuel -= 1;
        let at = self.ctx.pc as usize;
        let before_sp = self.ctx.sp;
        let flow = self.exec::<true, true>();
        if self.trace.is_some() && !matches!(flow, interp::Flow::Trap(_)) {
            self.trace_line(at, before_sp);
        }
        match self.settle(flow, true) {
            None => Ok(None),
            Some(result) => result.map(Some),
        }
    }

    /// Sleeps what an interrupted `sleep` still owes; `Some` if interrupted again.
    fn owed_sleep(&mut self) -> Option<Outcome> {
        if self.ctx.sleep_owed.is_zero() {
            return None;
        }
        let _ = self.host.out.flush();
        self.ctx.sleep_owed = self.host.interrupt.sleep(self.ctx.sleep_owed);
        (!self.ctx.sleep_owed.is_zero()).then_some(Outcome::Interrupted)
    }

    /// Turns the loop's exit into a result, refunding steps charged for
    /// instructions that did not run; `None` to keep going.
    /// `stepped`: the flow comes from a single step, which charged 1, not a
    /// whole run.
    fn settle(&mut self, flow: interp::Flow, stepped: bool) -> Option<Result<Outcome, Trap>> {
        use interp::Flow;
        // Steps charged for the rest of the current run, not executed.
        let unrun = |m: &Machine| match stepped || m.config.max_steps.is_none() {
            true => 0,
            false => u64::from(m.code.run_len[m.ctx.pc as usize]),
        };
        match flow {
            Flow::Stepped | Flow::Boundary => None,
            Flow::Interrupted => Some(Ok(Outcome::Interrupted)),
            Flow::SleepInterrupted => {
                self.fuel += unrun(self);
                Some(Ok(Outcome::Interrupted))
            }
            Flow::Exit(status) => {
                self.fuel += unrun(self).saturating_sub(1);
                self.ended = Some(Ok(status));
                Some(Ok(Outcome::Exited(status)))
            }
            Flow::Trap(kind) => {
                self.fuel += if stepped { 1 } else { unrun(self) };
                let trap = self.trap(kind);
                self.ended = Some(Err(trap.clone()));
                Some(Err(trap))
            }
        }
    }

    /// A trap at the current instruction.
    fn trap(&self, kind: TrapKind) -> Trap {
        let kind = match kind {
            // The memory limit, not the depth limit, stopped this call.
            TrapKind::CallStackOverflow(depth) if depth < self.config.max_call_depth => {
                TrapKind::OutOfMemory { requested: CALL_FRAME_BYTES, limit: self.config.max_memory }
            }
            kind => kind,
        };
        let index = self.ctx.pc as usize;
        let addr = self.code.addrs[index];
        Trap {
            kind,
            addr,
            instr: self.code.instrs[index].map(|i| i.to_string()).unwrap_or_default(),
            label: self.code.label_near(addr),
            context: 0,
        }
    }

    fn flush(&mut self) {
        let _ = self.host.out.flush();
        if let Some(trace) = &mut self.trace {
            let _ = trace.flush();
        }
    }

    /// One trace line for the instruction at index `at`, just executed.
    fn trace_line(&mut self, at: usize, before_sp: u64) {
        use std::fmt::Write as _;
        let Some(instr) = self.code.instrs[at] else { return };
        let mut line = format!("0x{:06x}  {:<28}", self.code.addrs[at], instr.to_string());
        let floats = matches!(
            instr,
            Instr::Fli { .. }
                | Instr::Fadd { .. }
                | Instr::Fsub { .. }
                | Instr::Fmul { .. }
                | Instr::Fdiv { .. }
                | Instr::Fmin { .. }
                | Instr::Fmax { .. }
                | Instr::Fsqrt { .. }
                | Instr::Fneg { .. }
                | Instr::Fabs { .. }
                | Instr::Itof { .. }
                | Instr::Utof { .. }
        );
        for ((name, _), operand) in instr.opcode().operands().iter().zip(instr.operands()) {
            if let (&"rd", crate::isa::Operand::Reg(r)) = (name, operand) {
                let v = self.ctx.regs[usize::from(r.0)];
                let _ = match floats {
                    true => write!(line, " {r}={:?}", f64::from_bits(v)),
                    false => write!(line, " {r}={}", v as i64),
                };
            }
        }
        if self.ctx.sp != before_sp {
            let _ = write!(line, " sp=0x{:x}", self.ctx.sp);
        }
        if let Some(trace) = &mut self.trace {
            let _ = writeln!(trace, "{}", line.trim_end());
        }
    }
}

impl Host {
    /// Runs a system or port instruction.
    ///
    /// `call_bytes` is what the context's call stack holds, which counts
    /// against the memory limit with the heap and the queued messages.
    fn system(
        &mut self,
        instr: Instr,
        regs: &mut [u64; 256],
        mem: &mut Memory,
        call_bytes: u64,
    ) -> Result<Effect, TrapKind> {
        let r = |x: Reg| regs[usize::from(x.0)];
        let out_err = |e: std::io::Error| TrapKind::OutputFailed(e.to_string());
        // The one register written, if any, and its value: set after the match.
        let mut result: Option<(Reg, u64)> = None;
        let mut set = |x: Reg, v: u64| result = Some((x, v));
        match instr {
            Instr::Write { fd, addr, len } => {
                let fd_value = r(fd) as i64;
                let bytes = mem.read_bytes(r(addr), r(len))?;
                match fd_value {
                    1 => self.out.write_all(bytes).map_err(out_err)?,
                    2 => {
                        let _ = self.out.flush();
                        self.err.write_all(bytes).and_then(|_| self.err.flush()).map_err(out_err)?
                    }
                    fd => return Err(TrapKind::BadFileDescriptor(fd)),
                }
            }
            Instr::Read { rd, addr, cap } => {
                let _ = self.out.flush();
                let buf = mem.write_bytes(r(addr), r(cap))?;
                let n = loop {
                    match self.input.read(buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other.map_err(|e| TrapKind::InputFailed(e.to_string()))?,
                    }
                };
                set(rd, n as u64);
            }
            Instr::Argc { rd } => set(rd, self.args.len() as u64),
            Instr::Arg { rd, index, addr, cap } => {
                let i = r(index);
                let arg = usize::try_from(i)
                    .ok()
                    .and_then(|i| self.args.get(i))
                    .ok_or(TrapKind::BadArgumentIndex(i as i64))?;
                let n = (arg.len() as u64).min(r(cap));
                mem.write_bytes(r(addr), n)?.copy_from_slice(&arg[..n as usize]);
                set(rd, arg.len() as u64);
            }
            Instr::Exit { rs } => return Ok(Effect::Exit(r(rs) as u8)),
            Instr::Clock { rd } => set(rd, self.started.elapsed().as_nanos() as u64),
            Instr::Sleep { rs } => {
                let ms = r(rs) as i64;
                if ms > 0 {
                    let _ = self.out.flush();
                    let left = self.interrupt.sleep(Duration::from_millis(ms as u64));
                    if !left.is_zero() {
                        return Ok(Effect::SleepInterrupted(left));
                    }
                }
            }
            Instr::Grow { rd, rs } => {
                let old = mem.grow(r(rs), self.port_bytes + call_bytes)?;
                set(rd, old);
            }
            Instr::Printi { rs } => {
                let mut buf = itoa::Buffer::new();
                let text = buf.format(r(rs) as i64);
                self.out.write_all(text.as_bytes()).and_then(|_| self.out.write_all(b"\n")).map_err(out_err)?;
            }
            Instr::Printf { rs, digits } => {
                let v = f64::from_bits(r(rs));
                let text = match digits {
                    0..=17 => format!("{v:.*}\n", usize::from(digits)),
                    _ => format!("{v:?}\n"),
                };
                self.out.write_all(text.as_bytes()).map_err(out_err)?;
            }
            Instr::Putc { rs } => self.out.write_all(&[r(rs) as u8]).map_err(out_err)?,
            Instr::Ctxid { rd } => set(rd, 0),
            Instr::Fork { .. } => {
                return Err(TrapKind::Unsupported("fork: this version of the machine runs one context"));
            }
            Instr::Pnew { rd } => {
                if self.ports.len() >= self.max_ports as usize {
                    return Err(TrapKind::TooManyPorts(self.max_ports));
                }
                self.ports.push(Port::default());
                set(rd, self.ports.len() as u64 - 1);
            }
            Instr::Psend { port, addr, len } => {
                let id = r(port);
                let bytes = mem.read_bytes(r(addr), r(len))?;
                let cost = bytes.len() as u64 + MESSAGE_OVERHEAD;
                let total = mem.end().saturating_add(self.port_bytes).saturating_add(call_bytes).saturating_add(cost);
                if total > mem.limit() {
                    return Err(TrapKind::OutOfMemory { requested: cost, limit: mem.limit() });
                }
                let message = bytes.to_vec();
                let p = self.port(id)?;
                if p.closed {
                    return Err(TrapKind::PortClosed(id as i64));
                }
                p.queue.push_back(message);
                self.port_bytes += cost;
            }
            Instr::Precv { rd, port, addr, cap } | Instr::Ptry { rd, port, addr, cap } => {
                let id = r(port);
                let wait = matches!(instr, Instr::Precv { .. });
                let p = self.port(id)?;
                match p.queue.pop_front() {
                    Some(message) => {
                        let n = (message.len() as u64).min(r(cap));
                        let written = mem.write_bytes(r(addr), n);
                        let p = self.port(id)?;
                        match written {
                            Ok(buf) => buf.copy_from_slice(&message[..n as usize]),
                            Err(fault) => {
                                // The instruction has no effect: the message stays first.
                                p.queue.push_front(message);
                                return Err(fault);
                            }
                        }
                        self.port_bytes -= message.len() as u64 + MESSAGE_OVERHEAD;
                        set(rd, message.len() as u64);
                    }
                    None if p.closed => set(rd, -1i64 as u64),
                    // One context: nobody else can ever send.
                    None if wait => return Err(TrapKind::Deadlock(id as i64)),
                    None => set(rd, -2i64 as u64),
                }
            }
            Instr::Pclose { port } => self.port(r(port))?.closed = true,
            other => unreachable!("`{other}` is not a system instruction"),
        }
        if let Some((x, v)) = result {
            regs[usize::from(x.0)] = v;
        }
        Ok(Effect::Next)
    }

    fn port(&mut self, id: u64) -> Result<&mut Port, TrapKind> {
        usize::try_from(id).ok().and_then(|i| self.ports.get_mut(i)).ok_or(TrapKind::BadPort(id as i64))
    }
}
