//! # Mova
//!
//! A stack virtual machine whose running programs can be interrupted at any
//! instruction boundary, written down and continued elsewhere.
//!
//! The crate is the library behind the `mova` command:
//!
//! - [`isa`] — the instruction set, one table from which everything else is derived;
//! - [`bytecode`] — the binary file format and the validated [`Program`];
//! - [`asm`] — the `.masm` text assembler and the disassembler;
//! - [`pseudo`] — the compiler for the seed's pseudo language (`.mv`);
//! - [`diag`] — located source diagnostics shared by both compilers;
//! - [`vm`] — the machine: step, run, interrupt, and its readable/settable state;
//! - [`state`] — the state serializer: IP, stack, owed sleep, bound to one program;
//! - [`control`] — the VM as a [`vm_core::Machine`], so `hv` can interrupt, save, restore and migrate it.
//!
//! ```
//! use mova::{compile, SourceKind, Vm, Exit};
//!
//! let source = "var i = 0;\nloop:\n    i++;\n    print(i);\n";
//! let (program, _warnings) = compile(source, SourceKind::Pseudo).unwrap();
//! let mut vm = Vm::new(program, Vec::new());
//! vm.set_step_limit(Some(7)); // PUT, then (ADD, PRINT, GOTO) twice
//! assert_eq!(vm.run(), Ok(Exit::StepLimit));
//! assert_eq!(vm.stack(), &[2]);
//! assert_eq!(vm.ip(), 1);
//! assert_eq!(vm.into_output(), b"1\n2\n");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod asm;
pub mod bytecode;
pub mod control;
pub use diagnostics as diag;
pub mod isa;
pub mod pseudo;
pub mod state;
pub mod vm;

pub use bytecode::{LoadError, Program};
pub use diag::{CompileError, Diagnostic};
pub use isa::{Instr, Opcode};
pub use state::{State, StateError};
pub use vm::{Exit, Trap, TrapKind, Vm};
pub use vm_core::Interrupt;

use std::path::Path;

/// The two source languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Bytecode text, `.masm`.
    Masm,
    /// The seed's pseudo language, `.mv`.
    Pseudo,
}

/// What a file holds, as `mova run` decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Binary bytecode (starts with the `MOVA` magic).
    Bytecode,
    /// Source text in one of the languages.
    Source(SourceKind),
}

impl FileKind {
    /// Detects a file's kind: bytecode by its magic, else source by the
    /// extension (`.masm`, `.mv`); `None` if neither tells.
    pub fn detect(path: &Path, bytes: &[u8]) -> Option<FileKind> {
        if Program::is_bytecode(bytes) {
            return Some(FileKind::Bytecode);
        }
        match path.extension()?.to_str()? {
            "masm" => Some(FileKind::Source(SourceKind::Masm)),
            "mv" => Some(FileKind::Source(SourceKind::Pseudo)),
            "mova" => Some(FileKind::Bytecode),
            _ => None,
        }
    }
}

/// Compiles source text; `Ok` carries the program and any warnings.
pub fn compile(source: &str, kind: SourceKind) -> Result<(Program, Vec<Diagnostic>), CompileError> {
    match kind {
        SourceKind::Masm => asm::assemble(source),
        SourceKind::Pseudo => pseudo::compile(source),
    }
}
