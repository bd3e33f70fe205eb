//! Traps: why a running program was stopped by the machine.
//!
//! A trap is never partial: the faulting instruction has no effect, and the
//! context's program counter still names it. [`TrapKind`] is the reason;
//! [`Trap`] adds where (address, instruction, nearest label, context) and
//! renders the one line `manda run` prints.

use std::fmt;

/// Kinds of memory access, for fault messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A load (or bytes read by `write`, `psend`).
    Read,
    /// A store (or bytes filled by `read`, `precv`, `arg`).
    Write,
}

impl Access {
    fn noun(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// What a faulting address lies in, for fault and bad-jump messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A code section (execute only).
    Code,
    /// A data section (read and write).
    Data,
    /// A rodata section (read only).
    Rodata,
    /// The 9 header bytes of a section.
    SectionHeader,
    /// A guard gap around the stack.
    Guard,
    /// The stack.
    Stack,
    /// The heap.
    Heap,
    /// Past the end of memory (or wrapping around the address space).
    Outside,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Place::Code => "code, which is execute-only",
            Place::Data => "a data section",
            Place::Rodata => "rodata, which is read-only",
            Place::SectionHeader => "a section header, which nobody may touch",
            Place::Guard => "a guard gap",
            Place::Stack => "the stack",
            Place::Heap => "the heap",
            Place::Outside => "no memory",
        })
    }
}

/// Why the machine stopped a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapKind {
    /// `div`, `divu`, `rem`, `remu` by zero.
    DivisionByZero,
    /// `div` or `rem` of -2^63 by -1.
    DivisionOverflow,
    /// A load or store (or a system instruction's buffer) touching bytes it may not.
    MemoryFault {
        /// First byte of the access.
        addr: u64,
        /// Its length in bytes.
        len: u64,
        /// Read or write.
        access: Access,
        /// Where the first forbidden byte is.
        place: Place,
    },
    /// `jr`/`callr` to an address that is not an instruction or label in code.
    BadJump {
        /// The target.
        target: u64,
        /// What the target is instead.
        why: &'static str,
    },
    /// Execution ran past the last instruction of a code section.
    FellOffCode,
    /// `push` or `salloc` past the stack's base.
    StackOverflow,
    /// `pop` or `sfree` past the stack's top.
    StackUnderflow,
    /// `call`/`callr` deeper than the call depth limit.
    CallStackOverflow(u32),
    /// `ret` with an empty call stack.
    ReturnWithoutCall,
    /// `grow` (or queued port messages) past the memory limit.
    OutOfMemory {
        /// Bytes asked for.
        requested: u64,
        /// The limit.
        limit: u64,
    },
    /// The step limit (`--max-steps`) was used up before this instruction.
    StepLimit(u64),
    /// `write` to a descriptor other than 1 and 2.
    BadFileDescriptor(i64),
    /// Standard output or error could not be written.
    OutputFailed(String),
    /// Standard input could not be read.
    InputFailed(String),
    /// `wasi` with a function number past the table, or arguments past the last register.
    BadSystemCall(String),
    /// `arg` with an index not below `argc`.
    BadArgumentIndex(i64),
    /// A port id that `pnew` never returned.
    BadPort(i64),
    /// `psend` to a closed port.
    PortClosed(i64),
    /// `pnew` past the port limit.
    TooManyPorts(u32),
    /// Every live context waits in `precv` on an empty port, none sleeps
    /// and none runs: nobody can ever send. Every waiting context, by id.
    Deadlock(Vec<Waiter>),
    /// `fork` past the live-context limit.
    TooManyContexts(u32),
    /// `fork` when every 64-bit context id has been handed out: only a
    /// snapshot that says so gets here (2^64 forks take centuries).
    ContextIdsExhausted,
    /// A heap instruction (`hld*`, `hst*`, `hcopy`, `hfill`, `hput`) touching bytes past the heap's end.
    OutOfBounds {
        /// Heap offset of the first byte of the access.
        offset: u64,
        /// Its length in bytes.
        len: u64,
        /// The heap's size.
        size: u64,
    },
    /// A trapping float-to-integer conversion (`truncs32` …) of a value out of the target's range.
    IntegerOverflow,
    /// A trapping float-to-integer conversion of NaN.
    InvalidConversion,
    /// `trap code`: the named traps of WebAssembly (`raised_name`).
    Raised(u8),
    /// A page a post-copy migration's source still owed cannot arrive any
    /// more (the source or the link went away): the program is lost.
    PageLost {
        /// The page's first address.
        addr: u64,
        /// Why it cannot arrive.
        why: String,
    },
    /// `psend` past the bytes all ports may hold together.
    PortsFull {
        /// What the message would add (its length and its bookkeeping).
        requested: u64,
        /// The limit.
        limit: u64,
    },
}

/// The name of `trap code`'s trap: WebAssembly's wording, so a translated
/// module's trap reads as the spec names it.
pub fn raised_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "unreachable",
        1 => "integer divide by zero",
        2 => "integer overflow",
        3 => "invalid conversion to integer",
        4 => "out of bounds memory access",
        5 => "undefined element",
        6 => "uninitialized element",
        7 => "indirect call type mismatch",
        8 => "out of bounds table access",
        _ => return None,
    })
}

/// A context blocked in `precv`, as a deadlock lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    /// Its id.
    pub context: u64,
    /// The port it waits on.
    pub port: u64,
    /// Address of its `precv`.
    pub addr: u64,
    /// The `precv`, as the disassembler writes it.
    pub instr: String,
    /// The nearest named label at or before `addr`, and the distance from it.
    pub label: Option<(String, u64)>,
}

/// ` <label+0xOFF>` or nothing.
fn write_label(f: &mut fmt::Formatter<'_>, label: &Option<(String, u64)>) -> fmt::Result {
    match label {
        Some((name, 0)) => write!(f, " <{name}>"),
        Some((name, off)) => write!(f, " <{name}+0x{off:x}>"),
        None => Ok(()),
    }
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrapKind::DivisionByZero => f.write_str("division by zero"),
            TrapKind::DivisionOverflow => f.write_str("division overflow (-2^63 / -1)"),
            TrapKind::MemoryFault { addr, len, access, place } => {
                let bytes = if *len == 1 { "byte" } else { "bytes" };
                write!(f, "memory fault: {} of {len} {bytes} at 0x{addr:x} touches {place}", access.noun())
            }
            TrapKind::BadJump { target, why } => write!(f, "bad jump: 0x{target:x} {why}"),
            TrapKind::FellOffCode => f.write_str("ran past the end of its code section"),
            TrapKind::StackOverflow => f.write_str("stack overflow"),
            TrapKind::StackUnderflow => f.write_str("stack underflow"),
            TrapKind::CallStackOverflow(limit) => write!(f, "call stack overflow: more than {limit} nested calls"),
            TrapKind::ReturnWithoutCall => f.write_str("return with an empty call stack"),
            TrapKind::OutOfMemory { requested, limit } => {
                write!(f, "out of memory: {requested} more bytes would pass the limit of {limit}")
            }
            TrapKind::StepLimit(limit) => {
                let plural = if *limit == 1 { "" } else { "s" };
                write!(f, "step limit reached: {limit} instruction{plural} executed")
            }
            TrapKind::BadFileDescriptor(fd) => {
                write!(f, "bad file descriptor {fd} (1 is standard output, 2 standard error)")
            }
            TrapKind::OutputFailed(why) => write!(f, "output failed: {why}"),
            TrapKind::InputFailed(why) => write!(f, "input failed: {why}"),
            TrapKind::BadSystemCall(why) => write!(f, "bad system call: {why}"),
            TrapKind::BadArgumentIndex(i) => write!(f, "bad argument index {i}"),
            TrapKind::BadPort(p) => write!(f, "bad port {p}"),
            TrapKind::PortClosed(p) => write!(f, "port {p} is closed"),
            TrapKind::TooManyPorts(limit) => write!(f, "too many ports: the limit is {limit}"),
            TrapKind::Deadlock(waiters) => {
                let n = waiters.len();
                let s = if n == 1 { "" } else { "s" };
                write!(f, "deadlock: every context left waits on an empty port ({n} context{s})")?;
                for w in waiters {
                    write!(f, "\n  context {} waits on port {} at 0x{:x}", w.context, w.port as i64, w.addr)?;
                    write_label(f, &w.label)?;
                    write!(f, " ({})", w.instr)?;
                }
                Ok(())
            }
            TrapKind::TooManyContexts(limit) => write!(f, "too many contexts: the limit is {limit} alive at once"),
            TrapKind::ContextIdsExhausted => {
                f.write_str("context ids exhausted: every id below 2^64 - 1 has been handed out")
            }
            TrapKind::OutOfBounds { offset, len, size } => {
                let bytes = if *len == 1 { "byte" } else { "bytes" };
                write!(f, "out of bounds memory access: {len} {bytes} at heap offset 0x{offset:x} pass the heap's size of 0x{size:x}")
            }
            TrapKind::IntegerOverflow => f.write_str("integer overflow"),
            TrapKind::InvalidConversion => f.write_str("invalid conversion to integer"),
            TrapKind::Raised(code) => match raised_name(*code) {
                Some(name) => f.write_str(name),
                None => write!(f, "trap {code}"),
            },
            TrapKind::PageLost { addr, why } => {
                write!(
                    f,
                    "the page at 0x{addr:x} never arrived from the migration's source ({why}): the program is lost"
                )
            }
            TrapKind::PortsFull { requested, limit } => write!(
                f,
                "ports full: {requested} more bytes would pass the limit of {limit} queued in all ports together"
            ),
        }
    }
}

/// A trap with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    /// Why.
    pub kind: TrapKind,
    /// Address of the instruction that trapped (it did not execute).
    pub addr: u64,
    /// The instruction, as the disassembler writes it (empty past the end of code).
    pub instr: String,
    /// The nearest named label at or before `addr`, and the distance from it.
    pub label: Option<(String, u64)>,
    /// The context that trapped.
    pub context: u64,
}

impl fmt::Display for Trap {
    /// `REASON at 0xADDR <label+off> (INSTRUCTION) in context N`; a
    /// deadlock lists every waiting context on lines of its own instead.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let TrapKind::Deadlock(_) = self.kind {
            return write!(f, "{}", self.kind);
        }
        write!(f, "{} at 0x{:x}", self.kind, self.addr)?;
        write_label(f, &self.label)?;
        if !self.instr.is_empty() {
            write!(f, " ({})", self.instr)?;
        }
        write!(f, " in context {}", self.context)
    }
}

impl std::error::Error for Trap {}
