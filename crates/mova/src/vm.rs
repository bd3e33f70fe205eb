//! The Mova virtual machine.
//!
//! A [`Vm`] runs a validated [`Program`]. Its whole execution state is the
//! instruction pointer, the stack and the part of an interrupted SLEEP not
//! yet slept — all readable and settable, so that a state can be written
//! down and continued elsewhere.
//!
//! [`Vm::run`] executes a compact internal form decoded once from the
//! program: GOTO targets are absolute, and an `ADD k` followed by a `GOTO`
//! runs as one fused dispatch (a self-loop `L: ADD k / GOTO L` runs in a
//! tight inner loop). Every GOTO and SLEEP checks the interrupt line
//! ([`Interrupt`], the hypervisor's), so an interrupt stops the machine at the next backward jump —
//! always at an instruction boundary. Fuel (`--max-steps`) is counted per
//! original instruction, fused or not, so a step limit stops after exactly
//! that many instructions.

use crate::bytecode::Program;
use crate::isa::{Instr, Opcode};
pub use crate::state::MAX_STACK;
use crate::state::{program_hash, ProgramHash, State, StateError};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use vm_core::Interrupt;

/// How a call to [`Vm::run`] ended without a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Execution fell off the end of the program.
    Halted,
    /// The step limit was reached; the IP names the next instruction.
    StepLimit,
    /// An interrupt stopped the machine at an instruction boundary.
    Interrupted,
}

/// A runtime fault: where it happened and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("trap at instruction {ip} ({}): {kind}", .opcode.mnemonic())]
pub struct Trap {
    /// Index of the faulting instruction (the IP is left pointing at it).
    pub ip: u32,
    /// Its opcode.
    pub opcode: Opcode,
    /// The reason.
    pub kind: TrapKind,
}

/// The reasons an instruction traps.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrapKind {
    /// ADD or PRINT on an empty stack.
    #[error("stack underflow")]
    StackUnderflow,
    /// PUT on a full stack.
    #[error("stack overflow: the stack already holds 65535 values, the most a state can hold")]
    StackOverflow,
    /// PRINT could not write its output.
    #[error("output failed: {0}")]
    OutputFailed(String),
    /// `--max-steps`: the limit stopped the program before this instruction. [`Vm::run`]
    /// returns [`Exit::StepLimit`] (the program can go on); the hypervisor's host, which
    /// ends the process there, reports it as this trap, as Manda does.
    #[error("step limit reached: {0} instruction{s} executed", s = if *.0 == 1 { "" } else { "s" })]
    StepLimit(u64),
}

/// The internal form [`Vm::run`] dispatches on, decoded once per program.
#[derive(Debug, Clone, Copy)]
enum Op {
    Put(i64),
    Add(i64),
    /// Absolute target.
    Goto(u32),
    Print,
    Sleep(u32),
    /// `ADD k` then `GOTO target`: two instructions, one dispatch.
    AddGoto(i64, u32),
    /// Sentinel after the last instruction, so falling off the end needs no bounds test.
    Halt,
}

fn lower(program: &Program, fuse: bool) -> Box<[Op]> {
    let instrs = program.instrs();
    let mut code: Vec<Op> = instrs
        .iter()
        .enumerate()
        .map(|(i, ins)| match *ins {
            Instr::Put(v) => Op::Put(v),
            Instr::Add(k) => match instrs.get(i + 1) {
                Some(&Instr::Goto(off)) if fuse => Op::AddGoto(k, (i + 1 - off as usize) as u32),
                _ => Op::Add(k),
            },
            Instr::Goto(off) => Op::Goto((i - off as usize) as u32),
            Instr::Print => Op::Print,
            Instr::Sleep(ms) => Op::Sleep(ms),
        })
        .collect();
    code.push(Op::Halt);
    code.into_boxed_slice()
}

/// Writes `value` and a newline, then flushes, so a pipe sees each line when it happens.
fn print_line(out: &mut impl Write, value: i64) -> Result<(), TrapKind> {
    let mut buf = itoa::Buffer::new();
    let text = buf.format(value);
    let mut line = [0u8; 21];
    line[..text.len()].copy_from_slice(text.as_bytes());
    line[text.len()] = b'\n';
    out.write_all(&line[..=text.len()]).and_then(|()| out.flush()).map_err(|e| TrapKind::OutputFailed(e.to_string()))
}

/// A Mova virtual machine running one program, printing to `W`.
pub struct Vm<W: Write> {
    program: Program,
    hash: ProgramHash,
    code: Box<[Op]>,
    ip: u32,
    stack: Vec<i64>,
    sleep_remaining: Duration,
    out: W,
    interrupt: Arc<Interrupt>,
    /// Instructions left before [`Exit::StepLimit`]; `u64::MAX` means unlimited.
    fuel: u64,
    steps: u64,
    trace: Option<Box<dyn Write + Send>>,
}

impl<W: Write> Vm<W> {
    /// A VM at the start of `program` (IP 0, empty stack), printing to `out`.
    pub fn new(program: Program, out: W) -> Self {
        let code = lower(&program, true);
        Vm {
            hash: program_hash(&program),
            program,
            code,
            ip: 0,
            stack: Vec::new(),
            sleep_remaining: Duration::ZERO,
            out,
            interrupt: Arc::default(),
            fuel: u64::MAX,
            steps: 0,
            trace: None,
        }
    }

    /// The program being run.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Index of the next instruction to run (equal to the program length when halted).
    pub fn ip(&self) -> u32 {
        self.ip
    }

    /// Moves the IP; `Err` if `ip` is past the end of the program.
    pub fn set_ip(&mut self, ip: u32) -> Result<(), u32> {
        if ip as usize > self.program.len() {
            return Err(ip);
        }
        self.ip = ip;
        Ok(())
    }

    /// The stack, bottom first.
    pub fn stack(&self) -> &[i64] {
        &self.stack
    }

    /// Replaces the stack (bottom first); `Err` gives it back if it holds more than [`MAX_STACK`] values.
    pub fn set_stack(&mut self, stack: Vec<i64>) -> Result<(), Vec<i64>> {
        if stack.len() > MAX_STACK {
            return Err(stack);
        }
        self.stack = stack;
        Ok(())
    }

    /// The part of an interrupted SLEEP still to be slept when running resumes.
    pub fn sleep_remaining(&self) -> Duration {
        self.sleep_remaining
    }

    /// Sets the sleep still owed before the next instruction.
    pub fn set_sleep_remaining(&mut self, remaining: Duration) {
        self.sleep_remaining = remaining;
    }

    /// The SHA-256 of the program's bytecode, which binds saved states to it.
    pub fn program_hash(&self) -> &ProgramHash {
        &self.hash
    }

    /// The state to save: IP, stack, owed sleep and the program's identity.
    pub fn save_state(&self) -> State {
        State { program: self.hash, ip: self.ip, stack: self.stack.clone(), sleep_remaining: self.sleep_remaining }
    }

    /// Decodes `bytes` (hostile input) and, if it is a valid state of this
    /// program, continues from it; otherwise the VM is left unchanged.
    pub fn restore_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let state = State::decode(bytes, &self.program)?;
        self.ip = state.ip;
        self.stack = state.stack;
        self.sleep_remaining = state.sleep_remaining;
        Ok(())
    }

    /// The interrupt line: raised from another thread, it stops [`run`](Self::run)
    /// at the next GOTO or SLEEP (at once mid-SLEEP).
    pub fn interrupt_line(&self) -> Arc<Interrupt> {
        Arc::clone(&self.interrupt)
    }

    /// Limits how many more instructions may run (`None`: no limit).
    pub fn set_step_limit(&mut self, limit: Option<u64>) {
        self.fuel = limit.unwrap_or(u64::MAX);
    }

    /// Instructions executed so far by this VM.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Prints each executed instruction, its IP and the stack top after it to `sink`.
    /// Tracing runs the single-step path.
    pub fn set_trace(&mut self, sink: Option<Box<dyn Write + Send>>) {
        self.trace = sink;
    }

    /// Turns the fusion of `ADD`+`GOTO` pairs on (the default) or off;
    /// results are identical, only speed differs.
    pub fn set_fusion(&mut self, fuse: bool) {
        self.code = lower(&self.program, fuse);
    }

    /// The output sink.
    pub fn output(&mut self) -> &mut W {
        &mut self.out
    }

    /// Consumes the VM, returning its output sink.
    pub fn into_output(self) -> W {
        self.out
    }

    /// Sleeps the remainder of an interrupted SLEEP; false if interrupted again.
    fn finish_sleep(&mut self) -> bool {
        if !self.sleep_remaining.is_zero() {
            self.sleep_remaining = self.interrupt.sleep(self.sleep_remaining);
        }
        self.sleep_remaining.is_zero() && !self.interrupt.is_raised()
    }

    /// Executes exactly one instruction (after finishing an owed sleep),
    /// ignoring the step limit and pending interrupts. Returns `None` when
    /// there is more to run, `Some(Halted)` at the end of the program and
    /// `Some(Interrupted)` if an interrupt cut a sleep short.
    pub fn step(&mut self) -> Result<Option<Exit>, Trap> {
        if !self.sleep_remaining.is_zero() {
            self.sleep_remaining = self.interrupt.sleep(self.sleep_remaining);
            if !self.sleep_remaining.is_zero() {
                return Ok(Some(Exit::Interrupted));
            }
        }
        let ip = self.ip;
        let Some(&ins) = self.program.instrs().get(ip as usize) else {
            return Ok(Some(Exit::Halted));
        };
        let trap = |kind| Trap { ip, opcode: ins.opcode(), kind };
        let mut next = ip + 1;
        let mut exit = None;
        match ins {
            Instr::Put(v) => {
                if self.stack.len() >= MAX_STACK {
                    return Err(trap(TrapKind::StackOverflow));
                }
                self.stack.push(v);
            }
            Instr::Add(k) => {
                let top = self.stack.last_mut().ok_or_else(|| trap(TrapKind::StackUnderflow))?;
                *top = top.wrapping_add(k);
            }
            Instr::Goto(off) => next = ip - off,
            Instr::Print => {
                let top = *self.stack.last().ok_or_else(|| trap(TrapKind::StackUnderflow))?;
                print_line(&mut self.out, top).map_err(trap)?;
            }
            Instr::Sleep(ms) => {
                self.sleep_remaining = self.interrupt.sleep(Duration::from_millis(ms.into()));
                if !self.sleep_remaining.is_zero() {
                    exit = Some(Exit::Interrupted);
                }
            }
        }
        self.ip = next;
        self.steps += 1;
        if let Some(sink) = &mut self.trace {
            let top = self.stack.last().map_or_else(|| "empty".to_string(), i64::to_string);
            // Tracing is best-effort diagnostics; a failing trace sink must not change the run.
            let _ = writeln!(sink, "[{ip:>5}] {:<20} top={top} depth={}", ins.to_string(), self.stack.len());
        }
        Ok(exit.or((next as usize >= self.program.len()).then_some(Exit::Halted)))
    }

    /// Runs until the program halts, the step limit is reached, an
    /// interrupt is pending at a GOTO or SLEEP, or an instruction traps.
    ///
    /// A pending interrupt is not cleared: call
    /// [`Interrupt::clear`] before running again.
    pub fn run(&mut self) -> Result<Exit, Trap> {
        if self.interrupt.is_raised() {
            return Ok(Exit::Interrupted);
        }
        if !self.finish_sleep() {
            return Ok(Exit::Interrupted);
        }
        if self.trace.is_some() {
            return self.run_stepwise();
        }
        let start_fuel = self.fuel;
        let (result, ip, fuel) = self.run_fast();
        self.ip = ip;
        self.fuel = fuel;
        self.steps += start_fuel - fuel;
        result
    }

    fn run_stepwise(&mut self) -> Result<Exit, Trap> {
        loop {
            if self.ip as usize >= self.program.len() {
                return Ok(Exit::Halted);
            }
            if self.fuel == 0 {
                return Ok(Exit::StepLimit);
            }
            let ins = self.program.instrs()[self.ip as usize];
            let outcome = self.step()?;
            self.fuel -= 1;
            if outcome == Some(Exit::Interrupted) {
                return Ok(Exit::Interrupted);
            }
            if matches!(ins, Instr::Goto(_) | Instr::Sleep(_)) && self.interrupt.is_raised() {
                return Ok(Exit::Interrupted);
            }
        }
    }

    /// The hot loop: IP, fuel and the interrupt flag in locals.
    fn run_fast(&mut self) -> (Result<Exit, Trap>, u32, u64) {
        let Vm { code, stack, out, interrupt, sleep_remaining, program, .. } = self;
        let pending = &**interrupt;
        let mut ip = self.ip as usize;
        let mut fuel = self.fuel;
        macro_rules! trap {
            ($kind:expr) => {{
                let opcode = program.instrs()[ip].opcode();
                break Err(Trap { ip: ip as u32, opcode, kind: $kind });
            }};
        }
        // Stop before an instruction the fuel cannot pay for.
        macro_rules! need {
            ($n:expr) => {
                if fuel < $n {
                    break Ok(Exit::StepLimit);
                }
            };
        }
        let result = loop {
            match code[ip] {
                Op::Put(v) => {
                    need!(1);
                    if stack.len() >= MAX_STACK {
                        trap!(TrapKind::StackOverflow);
                    }
                    stack.push(v);
                    fuel -= 1;
                    ip += 1;
                }
                Op::Add(k) => {
                    need!(1);
                    let Some(top) = stack.last_mut() else { trap!(TrapKind::StackUnderflow) };
                    *top = top.wrapping_add(k);
                    fuel -= 1;
                    ip += 1;
                }
                Op::Goto(target) => {
                    need!(1);
                    fuel -= 1;
                    ip = target as usize;
                    if pending.is_raised() {
                        break Ok(Exit::Interrupted);
                    }
                }
                Op::AddGoto(k, target) => {
                    need!(1);
                    let Some(top) = stack.last_mut() else { trap!(TrapKind::StackUnderflow) };
                    if fuel < 2 {
                        // Fuel for the ADD only: run it alone and stop before the GOTO.
                        *top = top.wrapping_add(k);
                        fuel -= 1;
                        ip += 1;
                        continue;
                    }
                    let target = target as usize;
                    if target == ip {
                        // `L: ADD k / GOTO L`: iterate here, still checking the flag every pass.
                        let mut value = *top;
                        loop {
                            value = value.wrapping_add(k);
                            fuel -= 2;
                            if pending.is_raised() || fuel < 2 {
                                break;
                            }
                        }
                        *top = value;
                    } else {
                        *top = top.wrapping_add(k);
                        fuel -= 2;
                        ip = target;
                    }
                    if pending.is_raised() {
                        break Ok(Exit::Interrupted);
                    }
                }
                Op::Print => {
                    need!(1);
                    let Some(&top) = stack.last() else { trap!(TrapKind::StackUnderflow) };
                    if let Err(kind) = print_line(out, top) {
                        trap!(kind);
                    }
                    fuel -= 1;
                    ip += 1;
                }
                Op::Sleep(ms) => {
                    need!(1);
                    fuel -= 1;
                    ip += 1;
                    if ms > 0 {
                        *sleep_remaining = interrupt.sleep(Duration::from_millis(ms.into()));
                    }
                    if pending.is_raised() {
                        break Ok(Exit::Interrupted);
                    }
                }
                Op::Halt => break Ok(Exit::Halted),
            }
        };
        (result, ip as u32, fuel)
    }
}
